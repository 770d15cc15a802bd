// HeapTrimmer: freed heap pages go back to the kernel once every kTrimEvery bytes counted,
// and not before. The heap is fragmented the way chunk writes fragment it: 1 MiB blocks
// (RocksDB's memtable blocks) between small allocations that stay, under evault's malloc
// settings (client/main.cc), so freeing the blocks leaves their pages resident.
#include "vault/heap_trim.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace evault::vault {
namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVAULT_TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EVAULT_TEST_UNDER_ASAN 1
#endif

std::size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(HeapTrimTest, FreedPagesGoBackOnlyOnceEnoughWasCounted) {
#if !defined(__GLIBC__) || defined(EVAULT_TEST_UNDER_ASAN)
  GTEST_SKIP() << "glibc's allocator only (AddressSanitizer brings its own)";
#else
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  constexpr int kBlocks = 48;
  std::vector<std::unique_ptr<char[]>> blocks, small;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kMiB]);
    std::memset(blocks.back().get(), i + 1, kMiB);  // resident
    small.emplace_back(new char[64]);  // stays: the freed blocks cannot merge into the top
  }
  blocks.clear();
  const std::size_t fragmented = ResidentBytes();

  HeapTrimmer trimmer;
  trimmer.Count(HeapTrimmer::kTrimEvery - 1);
  const std::size_t before_trim = ResidentBytes();
  EXPECT_LT(before_trim, fragmented + 4 * kMiB);
  EXPECT_GT(before_trim + 4 * kMiB, fragmented) << "pages were handed back before kTrimEvery bytes";

  trimmer.Count(1);
  const std::size_t after_trim = ResidentBytes();
  EXPECT_LT(after_trim + (kBlocks - 8) * kMiB, before_trim)
      << "resident " << before_trim / kMiB << " MiB before the trim, " << after_trim / kMiB << " after";

  // The count starts again: the next trim is kTrimEvery bytes later.
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kMiB]);
    std::memset(blocks.back().get(), i + 1, kMiB);
  }
  blocks.clear();
  const std::size_t refragmented = ResidentBytes();
  trimmer.Count(HeapTrimmer::kTrimEvery / 2);
  EXPECT_GT(ResidentBytes() + 4 * kMiB, refragmented);
  trimmer.Count(HeapTrimmer::kTrimEvery / 2);
  EXPECT_LT(ResidentBytes() + (kBlocks - 8) * kMiB, refragmented);
#endif
}

}  // namespace
}  // namespace evault::vault
