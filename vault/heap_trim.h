// Keeps the heap's resident size flat across long streams of chunk writes.
//
// RocksDB holds each 1 MiB chunk written in a memtable block of its own, freed when the
// memtable is flushed, and glibc's heap fragments around the small allocations made in
// between: adding 8 GiB, the memory in use stayed at 17 MiB while the resident size crept
// from 51 to 61 MiB, about 1 MiB per GiB. Handing free pages back every so often keeps it
// flat; not after every chunk, since each page handed back is faulted in again for the
// next memtable (the reason evault keeps freed heap at all, client/main.cc).
#pragma once

#include <cstddef>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace evault::vault {

class HeapTrimmer {
 public:
  static constexpr std::size_t kTrimEvery = std::size_t{1} << 30;

  // Counts `bytes` written; every kTrimEvery bytes, returns the heap's free pages.
  void Count(std::size_t bytes) {
    since_trim_ += bytes;
    if (since_trim_ < kTrimEvery) return;
    since_trim_ = 0;
    Trim();
  }

  static void Trim() {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
  }

 private:
  std::size_t since_trim_ = 0;
};

}  // namespace evault::vault
