#include "tests/fault/fault_fs.h"

#include <fmt/core.h>

#include "vault/testing_env.h"

namespace evault::fault_test {

using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

const char* OpClassName(OpClass c) {
  switch (c) {
    case OpClass::kWrite: return "write";
    case OpClass::kSync: return "sync";
    case OpClass::kRead: return "read";
    case OpClass::kRename: return "rename";
    case OpClass::kCreate: return "create";
  }
  return "?";
}

const char* FaultKindName(FaultKind k) { return k == FaultKind::kNoSpace ? "ENOSPC" : "EIO"; }

namespace {

class FaultWritable : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritable(std::unique_ptr<rocksdb::FSWritableFile>&& t, FaultFs* fs, std::string name)
      : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = Fault(data, o, dbg); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  IODebugContext* dbg) override {
    if (auto s = Fault(data, o, dbg); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, v, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kWrite, "write to " + name_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kWrite, "write to " + name_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, v, dbg);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "sync of " + name_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(o, dbg);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "fsync of " + name_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(o, dbg);
  }
  IOStatus RangeSync(uint64_t offset, uint64_t n, const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "range sync of " + name_); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::RangeSync(offset, n, o, dbg);
  }

 private:
  // A full disk typically takes part of a write before refusing the rest, so an ENOSPC
  // append leaves a torn tail (the case a reopen must tolerate); EIO writes nothing.
  IOStatus Fault(const Slice& data, const IOOptions& o, IODebugContext* dbg) {
    auto s = fs_->Check(OpClass::kWrite, "append to " + name_);
    if (!s.ok() && s.IsNoSpace() && data.size() > 1) {
      (void)FSWritableFileOwnerWrapper::Append(Slice(data.data(), data.size() / 2), o, dbg);
    }
    return s;
  }

  FaultFs* fs_;
  std::string name_;
};

class FaultRandomAccess : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  FaultRandomAccess(std::unique_ptr<rocksdb::FSRandomAccessFile>&& t, FaultFs* fs, std::string name)
      : FSRandomAccessFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions& o, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    if (auto s = fs_->Check(OpClass::kRead, "read of " + name_); !s.ok()) return s;
    return FSRandomAccessFileOwnerWrapper::Read(offset, n, o, result, scratch, dbg);
  }
  IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num, const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kRead, "read of " + name_); !s.ok()) {
      for (size_t i = 0; i < num; ++i) reqs[i].status = s;
      return s;
    }
    return FSRandomAccessFileOwnerWrapper::MultiRead(reqs, num, o, dbg);
  }
  // Asynchronous reads would bypass the count; RocksDB falls back to Read.
  IOStatus ReadAsync(rocksdb::FSReadRequest&, const IOOptions&, std::function<void(const rocksdb::FSReadRequest&, void*)>,
                     void*, void**, rocksdb::IOHandleDeleter*, IODebugContext*) override {
    return IOStatus::NotSupported("no async reads under fault injection");
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

class FaultSequential : public rocksdb::FSSequentialFileOwnerWrapper {
 public:
  FaultSequential(std::unique_ptr<rocksdb::FSSequentialFile>&& t, FaultFs* fs, std::string name)
      : FSSequentialFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}

  IOStatus Read(size_t n, const IOOptions& o, Slice* result, char* scratch, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kRead, "read of " + name_); !s.ok()) return s;
    return FSSequentialFileOwnerWrapper::Read(n, o, result, scratch, dbg);
  }
  IOStatus PositionedRead(uint64_t offset, size_t n, const IOOptions& o, Slice* result, char* scratch,
                          IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kRead, "read of " + name_); !s.ok()) return s;
    return FSSequentialFileOwnerWrapper::PositionedRead(offset, n, o, result, scratch, dbg);
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

class FaultRandomRW : public rocksdb::FSRandomRWFileOwnerWrapper {
 public:
  FaultRandomRW(std::unique_ptr<rocksdb::FSRandomRWFile>&& t, FaultFs* fs, std::string name)
      : FSRandomRWFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}

  IOStatus Write(uint64_t offset, const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kWrite, "write to " + name_); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Write(offset, data, o, dbg);
  }
  IOStatus Read(uint64_t offset, size_t n, const IOOptions& o, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    if (auto s = fs_->Check(OpClass::kRead, "read of " + name_); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Read(offset, n, o, result, scratch, dbg);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "sync of " + name_); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Sync(o, dbg);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "fsync of " + name_); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Fsync(o, dbg);
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

class FaultDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  FaultDirectory(std::unique_ptr<rocksdb::FSDirectory>&& t, FaultFs* fs, std::string name)
      : FSDirectoryWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    if (auto s = fs_->Check(OpClass::kSync, "fsync of directory " + name_); !s.ok()) return s;
    return FSDirectoryWrapper::Fsync(o, dbg);
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& d) override {
    if (auto s = fs_->Check(OpClass::kSync, "fsync of directory " + name_); !s.ok()) return s;
    return FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, d);
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

}  // namespace

FaultFs::FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

void FaultFs::Reset() {
  std::lock_guard lock(mu_);
  counts_ = {};
  armed_ = false;
  first_fault_.clear();
}

void FaultFs::Arm(OpClass op, std::uint64_t nth, FaultKind kind, bool sticky) {
  std::lock_guard lock(mu_);
  counts_ = {};
  armed_ = true;
  sticky_ = sticky;
  armed_op_ = op;
  armed_at_ = nth;
  kind_ = kind;
  first_fault_.clear();
}

void FaultFs::Disarm() {
  std::lock_guard lock(mu_);
  armed_ = false;
}

OpCounts FaultFs::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

std::string FaultFs::first_fault() const {
  std::lock_guard lock(mu_);
  return first_fault_;
}

IOStatus FaultFs::Check(OpClass op, const std::string& what) {
  std::lock_guard lock(mu_);
  const std::uint64_t n = ++counts_[static_cast<int>(op)];
  if (!armed_ || op != armed_op_ || n < armed_at_ || (!sticky_ && n != armed_at_)) return IOStatus::OK();
  ++injected_;
  if (first_fault_.empty()) first_fault_ = what;
  if (kind_ == FaultKind::kNoSpace) return IOStatus::NoSpace("injected fault: no space left on device", what);
  return IOStatus::IOError("injected fault: input/output error", what);
}

IOStatus FaultFs::NewSequentialFile(const std::string& f, const FileOptions& o,
                                    std::unique_ptr<rocksdb::FSSequentialFile>* r, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  auto s = target()->NewSequentialFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultSequential(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::NewRandomAccessFile(const std::string& f, const FileOptions& o,
                                      std::unique_ptr<rocksdb::FSRandomAccessFile>* r, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSRandomAccessFile> file;
  auto s = target()->NewRandomAccessFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultRandomAccess(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::NewWritableFile(const std::string& f, const FileOptions& o,
                                  std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "create " + f); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target()->NewWritableFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultWritable(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::ReopenWritableFile(const std::string& f, const FileOptions& o,
                                     std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "reopen " + f); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target()->ReopenWritableFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultWritable(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::ReuseWritableFile(const std::string& f, const std::string& old, const FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "reuse " + old + " as " + f); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target()->ReuseWritableFile(f, old, o, &file, dbg);
  if (s.ok()) r->reset(new FaultWritable(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::NewRandomRWFile(const std::string& f, const FileOptions& o,
                                  std::unique_ptr<rocksdb::FSRandomRWFile>* r, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "create " + f); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  auto s = target()->NewRandomRWFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultRandomRW(std::move(file), this, f));
  return s;
}

IOStatus FaultFs::NewDirectory(const std::string& name, const IOOptions& o,
                               std::unique_ptr<rocksdb::FSDirectory>* r, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  auto s = target()->NewDirectory(name, o, &dir, dbg);
  if (s.ok()) r->reset(new FaultDirectory(std::move(dir), this, name));
  return s;
}

IOStatus FaultFs::CreateDir(const std::string& d, const IOOptions& o, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "create directory " + d); !s.ok()) return s;
  return target()->CreateDir(d, o, dbg);
}

IOStatus FaultFs::CreateDirIfMissing(const std::string& d, const IOOptions& o, IODebugContext* dbg) {
  if (auto s = Check(OpClass::kCreate, "create directory " + d); !s.ok()) return s;
  return target()->CreateDirIfMissing(d, o, dbg);
}

IOStatus FaultFs::RenameFile(const std::string& s, const std::string& t, const IOOptions& o, IODebugContext* dbg) {
  if (auto st = Check(OpClass::kRename, "rename " + s + " to " + t); !st.ok()) return st;
  return target()->RenameFile(s, t, o, dbg);
}

ScopedFaultEnv::ScopedFaultEnv() : fs_(std::make_shared<FaultFs>()), env_(rocksdb::NewCompositeEnv(fs_)) {
  vault::testing::SetDatabaseEnv(env_.get());
}

ScopedFaultEnv::~ScopedFaultEnv() { vault::testing::SetDatabaseEnv(nullptr); }

}  // namespace evault::fault_test
