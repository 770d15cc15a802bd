#pragma once
// What the vault's and the server's RocksDB databases share in how they are opened.

#include <filesystem>
#include <memory>

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

// An Env over the default one whose file system opens blob files (RocksDB's `.blob`
// files: the attachment chunks) for reading with O_DIRECT, and every other file as
// RocksDB asks. A chunk is read once per download, so caching it only pushes the tables
// out of the page cache; and on this project's VMs a page cache that keeps growing is
// reclaimed at a high price: the server's CPU for a 1 GiB pull went from 1.2 to 2.8 s
// by the third gigabyte. Table files stay buffered (their blocks are read again and
// again). Only for a directory where DirectWritesWork holds. The Env must outlive the
// database.
std::unique_ptr<rocksdb::Env> NewDirectBlobReadsEnv();

}  // namespace evault::vault
