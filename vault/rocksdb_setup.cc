#include "vault/rocksdb_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace evault::vault {

bool DirectWritesWork(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  constexpr std::size_t kBlock = 4096;
  void* block = std::aligned_alloc(kBlock, kBlock);
  bool ok = block != nullptr;
  if (ok) {
    std::memset(block, 0, kBlock);
    ok = ::pwrite(fd, block, kBlock, 0) == static_cast<ssize_t>(kBlock);
  }
  std::free(block);
  ::close(fd);
  return ok;
}

}  // namespace evault::vault
