#pragma once
// What the vault's and the server's RocksDB databases share in how they are opened.

#include <filesystem>

#include <rocksdb/env.h>

namespace evault::vault {

// RocksDB's info log is a file in the database directory recording timestamps of
// activity, file names and sizes; a seized vault or server should not have one.
class SilentLogger : public rocksdb::Logger {
 public:
  SilentLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::FATAL_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// Whether files in `dir` can be written with O_DIRECT: not every file system takes it
// (older tmpfs, some FUSE and stacked file systems refuse the open or the write), and
// RocksDB would then fail every flush. An unnamed O_TMPFILE leaves nothing behind.
// Flushes written with O_DIRECT go from RocksDB's buffer to the disk without a copy into
// the page cache, and do not evict the page cache for data that is read back rarely.
bool DirectWritesWork(const std::filesystem::path& dir);

}  // namespace evault::vault
