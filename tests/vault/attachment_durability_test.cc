// How attachment chunks reach the disk: once, into blob files, without the write-ahead
// log (vault_impl.h, ChunkFamilyOptions), and durable before the attachment is visible.
// A FileSystem wrapper counts the bytes RocksDB writes per kind of file and can fail
// the blob files' writes with ENOSPC, as a full disk would during a flush. (Direct I/O
// writes whole aligned blocks, so a blob file's count rounds up to 4 KiB per flush.)
#include "vault/vault.h"

#include <sys/resource.h>

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "tests/vault/test_util.h"
#include "vault/testing_env.h"
#include "vault/vault_impl.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using crypto::Bytes;
using testing::CountChunks;
using testing::CreateAndOpen;
using testing::OpenOrNull;
using testing::ScopedTempDir;

constexpr std::uint64_t kMiB = 1 << 20;

// Counts appended bytes to WAL (*.log) and blob (*.blob) files; when `fail_blobs` is
// set, every append to a blob file fails with "no space".
class CountingFs : public rocksdb::FileSystemWrapper {
 public:
  CountingFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "EvaultCountingFs"; }
  const char* Name() const override { return kClassName(); }

  std::atomic<std::uint64_t> wal_bytes{0}, blob_bytes{0};
  std::atomic<bool> fail_blobs{false};

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(f, o, r, dbg);
    if (s.ok()) {
      if (f.ends_with(".log")) r->reset(new File(std::move(*r), this, &wal_bytes, false));
      if (f.ends_with(".blob")) r->reset(new File(std::move(*r), this, &blob_bytes, true));
    }
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, CountingFs* fs, std::atomic<std::uint64_t>* bytes, bool blob)
        : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs), bytes_(bytes), blob_(blob) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (blob_ && fs_->fail_blobs) return rocksdb::IOStatus::NoSpace("injected: no space for a blob file");
      *bytes_ += d.size();
      return FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
      if (blob_ && fs_->fail_blobs) return rocksdb::IOStatus::NoSpace("injected: no space for a blob file");
      *bytes_ += d.size();
      return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }

    // Direct I/O (flushes use it where the file system allows) appends this way.
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& d, uint64_t offset, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
      if (blob_ && fs_->fail_blobs) return rocksdb::IOStatus::NoSpace("injected: no space for a blob file");
      *bytes_ += d.size();
      return FSWritableFileOwnerWrapper::PositionedAppend(d, offset, o, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& d, uint64_t offset, const rocksdb::IOOptions& o,
                                       const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
      if (blob_ && fs_->fail_blobs) return rocksdb::IOStatus::NoSpace("injected: no space for a blob file");
      *bytes_ += d.size();
      return FSWritableFileOwnerWrapper::PositionedAppend(d, offset, o, v, dbg);
    }

   private:
    CountingFs* fs_;
    std::atomic<std::uint64_t>* bytes_;
    bool blob_;
  };
};

class AttachmentDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SetDatabaseEnv(env_.get());
    dir_ = tmp_.path() / "vault";
    vault_ = CreateAndOpen(dir_);
    ASSERT_NE(vault_, nullptr);
    ASSERT_OK_AND_ASSIGN(CaseInfo c, vault_->CreateCase("case", {}));
    ASSERT_OK_AND_ASSIGN(RecordRevision r, vault_->AddRecord(c.id, testing::SimpleRecord("record")));
    record_id_ = r.record_id;
  }
  void TearDown() override {
    vault_.reset();
    testing::SetDatabaseEnv(nullptr);
  }
  fs::path WriteFile(std::uint64_t bytes) {
    const fs::path file = tmp_.path() / "video.bin";
    testing::WriteFile(file, testing::Pattern(7, bytes));
    return file;
  }

  std::shared_ptr<CountingFs> fs_ = std::make_shared<CountingFs>();
  std::unique_ptr<rocksdb::Env> env_ = rocksdb::NewCompositeEnv(fs_);
  ScopedTempDir tmp_;
  fs::path dir_;
  std::unique_ptr<Vault> vault_;
  std::string record_id_;
};

// 40 MiB: more than two memtables, so background flushes run while chunks are written.
TEST_F(AttachmentDurabilityTest, EachChunkIsWrittenOnceIntoBlobFiles) {
  const fs::path file = WriteFile(40 * kMiB);
  const std::uint64_t wal_before = fs_->wal_bytes, blob_before = fs_->blob_bytes;
  ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, file));
  const std::uint64_t wal = fs_->wal_bytes - wal_before, blob = fs_->blob_bytes - blob_before;
  // Sealed chunks are 40 bytes longer than 1 MiB (nonce, tag), blob records a little more.
  EXPECT_GE(blob, 40 * kMiB);
  EXPECT_LT(blob, 40 * kMiB + 256 * 1024) << "chunks written to blob files more than once";
  EXPECT_LT(wal, kMiB) << "chunks went through the write-ahead log";

  // Durable when acknowledged: the blob files hold the data before the handle closes.
  vault_.reset();
  EXPECT_EQ(fs_->blob_bytes - blob_before, blob) << "closing the vault flushed chunks the add had not";
  vault_ = OpenOrNull(dir_);
  ASSERT_NE(vault_, nullptr);
  ASSERT_OK_AND_ASSIGN(Bytes back, testing::ReadAll(*vault_, a.id));
  EXPECT_EQ(testing::Sha256Hex(back), a.sha256);
}

// A full disk while the chunks are flushed: kNoSpace, nothing visible, and after a reopen
// no chunk is left and the same file attaches whole.
TEST_F(AttachmentDurabilityTest, FlushFailureIsNoSpaceAndLeavesNothing) {
  const fs::path file = WriteFile(20 * kMiB + 123);
  fs_->fail_blobs = true;
  auto added = vault_->AddAttachment(record_id_, file);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kNoSpace) << added.error().message;
  EXPECT_EQ(added.error().message.find('\n'), std::string::npos) << added.error().message;
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListAttachments(record_id_));
  EXPECT_TRUE(listed.empty()) << "a failed attachment is visible";
  vault_.reset();

  fs_->fail_blobs = false;
  vault_ = OpenOrNull(dir_);  // sweeps whatever chunks reached the disk
  ASSERT_NE(vault_, nullptr);
  ASSERT_OK_AND_ASSIGN(listed, vault_->ListAttachments(record_id_));
  EXPECT_TRUE(listed.empty()) << "a failed attachment is visible after reopening";
  vault_.reset();
  EXPECT_EQ(CountChunks(dir_), 0u) << "chunks of the failed attachment were left behind";

  vault_ = OpenOrNull(dir_);
  ASSERT_NE(vault_, nullptr);
  ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, file));
  EXPECT_EQ(a.chunks, 21u);
  ASSERT_OK_AND_ASSIGN(Bytes back, testing::ReadAll(*vault_, a.id));
  EXPECT_EQ(testing::Sha256Hex(back), a.sha256);
  vault_.reset();
  EXPECT_EQ(CountChunks(dir_), 21u);
}

// Every attachment flushes at least one blob file, and RocksDB would keep each file it
// reads open: a vault of more files than the process may open must still read back.
TEST_F(AttachmentDurabilityTest, ReadsBackWithFewerDescriptorsThanFiles) {
  const fs::path file = WriteFile(5000);  // one chunk, above min_blob_size
  constexpr std::size_t kAttachments = kMaxOpenDbFiles + 100;
  std::vector<AttachmentInfo> added;
  for (std::size_t i = 0; i < kAttachments; ++i) {
    ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, file));
    added.push_back(a);
  }
  vault_.reset();  // a fresh handle: nothing open yet
  std::size_t blob_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) blob_files += entry.path().extension() == ".blob";
  ASSERT_GE(blob_files, kAttachments);
  vault_ = OpenOrNull(dir_);
  ASSERT_NE(vault_, nullptr);

  std::size_t open_now = 0;
  for ([[maybe_unused]] const auto& fd : fs::directory_iterator("/proc/self/fd")) ++open_now;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = open_now + kMaxOpenDbFiles + 64;
  ASSERT_LT(tight.rlim_cur, open_now + blob_files);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::size_t intact = 0;
  for (const auto& a : added) {
    auto back = testing::ReadAll(*vault_, a.id);
    if (!back) {
      ADD_FAILURE() << back.error().message;
      break;
    }
    intact += testing::Sha256Hex(*back) == a.sha256;
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(intact, added.size());
}

}  // namespace
}  // namespace evault::vault
