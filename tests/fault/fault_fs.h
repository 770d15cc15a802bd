// A RocksDB FileSystem that counts the I/O a database does and fails the Nth operation
// of one class (write, sync, read, rename, create) with an I/O error or "no space", so
// a test can sweep every injection point of a vault operation.
//
// ScopedFaultEnv installs it with vault::testing::SetDatabaseEnv: every vault database
// opened while it lives goes through it. Counting and arming are thread-safe: RocksDB
// calls it from its background threads too.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace evault::fault_test {

enum class OpClass : int {
  kWrite,   // Append / PositionedAppend / RandomRW Write
  kSync,    // Sync / Fsync / RangeSync of files, Fsync of directories
  kRead,    // Read / MultiRead / PositionedRead
  kRename,  // RenameFile
  kCreate,  // NewWritableFile / ReopenWritableFile / ReuseWritableFile / NewRandomRWFile / CreateDir
};
inline constexpr int kOpClasses = 5;
const char* OpClassName(OpClass c);

enum class FaultKind { kIoError, kNoSpace };
const char* FaultKindName(FaultKind k);

using OpCounts = std::array<std::uint64_t, kOpClasses>;

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs();
  static const char* kClassName() { return "EvaultFaultFs"; }
  const char* Name() const override { return kClassName(); }

  // Zeroes the counters and disarms.
  void Reset();
  // Fails the `nth` (1-based, counted from this call) operation of `op` with `kind`.
  // With `sticky`, every later operation of that class fails too (a disk that stays
  // broken); otherwise only the one.
  void Arm(OpClass op, std::uint64_t nth, FaultKind kind, bool sticky = false);
  void Disarm();
  OpCounts counts() const;
  std::uint64_t injected() const { return injected_.load(); }
  // What the first injected fault hit ("append to .../000004.log"), for reports.
  std::string first_fault() const;

  // Called by the wrapped files; returns the error to fail with, or OK.
  rocksdb::IOStatus Check(OpClass op, const std::string& what);

  // rocksdb::FileSystem
  rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& s, const std::string& t, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override;

 private:
  mutable std::mutex mu_;
  OpCounts counts_{};
  bool armed_ = false;
  bool sticky_ = false;
  OpClass armed_op_ = OpClass::kWrite;
  std::uint64_t armed_at_ = 0;
  FaultKind kind_ = FaultKind::kIoError;
  std::atomic<std::uint64_t> injected_{0};
  std::string first_fault_;
};

// A FaultFs behind an Env (RocksDB's default threads and clock), installed as the
// vault databases' Env for the lifetime of this object.
class ScopedFaultEnv {
 public:
  ScopedFaultEnv();
  ~ScopedFaultEnv();
  ScopedFaultEnv(const ScopedFaultEnv&) = delete;
  ScopedFaultEnv& operator=(const ScopedFaultEnv&) = delete;

  FaultFs& fs() { return *fs_; }
  rocksdb::Env* env() { return env_.get(); }

 private:
  std::shared_ptr<FaultFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace evault::fault_test
