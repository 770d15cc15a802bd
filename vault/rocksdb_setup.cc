#include "vault/rocksdb_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <rocksdb/file_system.h>

namespace evault::vault {
namespace {

class DirectBlobReads : public rocksdb::FileSystemWrapper {
 public:
  DirectBlobReads() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "EvaultDirectBlobReads"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* file,
                                        rocksdb::IODebugContext* debug) override {
    if (!IsBlobFile(name)) return target()->NewRandomAccessFile(name, options, file, debug);
    rocksdb::FileOptions direct = options;
    direct.use_direct_reads = true;  // RocksDB aligns the reads of a file that says it is direct
    return target()->NewRandomAccessFile(name, direct, file, debug);
  }

 private:
  static bool IsBlobFile(const std::string& name) {
    constexpr std::string_view kSuffix = ".blob";
    return name.size() > kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
  }
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewDirectBlobReadsEnv() {
  return rocksdb::NewCompositeEnv(std::make_shared<DirectBlobReads>());
}

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
