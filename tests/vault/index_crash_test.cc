// A process killed (SIGKILL) while a large transaction writes its index blocks ahead
// of the commit (vault/index.h) leaves the vault as it was: the next Open reads the old
// index and deletes every block and marker written ahead. The import runs in a child,
// this binary executed afresh (a forked child of a process that used RocksDB would have
// no background threads), whose database Env kills it at a chosen point of the WAL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "tests/vault/test_util.h"
#include "vault/testing_env.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kRecords = 3000;  // their index entries: several MB, most written ahead

// Once armed, kills the process before the first append to a WAL file that comes after
// `kill_after` bytes went to WAL files: the crash can come mid-record, as a power cut's.
class KillingFs : public rocksdb::FileSystemWrapper {
 public:
  KillingFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "EvaultKillingFs"; }
  const char* Name() const override { return kClassName(); }

  void Arm(std::uint64_t kill_after) {
    kill_after_ = kill_after;
    armed_ = true;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(f, o, r, dbg);
    if (s.ok() && f.ends_with(".log")) r->reset(new File(std::move(*r), this));
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, KillingFs* fs) : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      fs_->Appending(d.size());
      return FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
      fs_->Appending(d.size());
      return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }

   private:
    KillingFs* fs_;
  };

  void Appending(std::size_t bytes) {
    if (!armed_) return;
    if (written_ >= kill_after_) ::kill(::getpid(), SIGKILL);
    written_ += bytes;
  }

  std::atomic<bool> armed_{false};
  std::uint64_t kill_after_ = 0;
  std::atomic<std::uint64_t> written_{0};
};

crypto::SecretBytes Passphrase() { return testing::Passphrase(testing::kPassphrase); }

std::vector<std::string> Records() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kRecords; ++i) {
    out.push_back(testing::SimpleRecord(
        fmt::format("imported {}", i),
        fmt::format("testimony w{} w{} w{} of the hearing held in the regional court, witness {} "
                    "described the detention and the search of the office on the morning of day {}",
                    i, i % 97, i % 13, i, i % 365)));
  }
  return out;
}

// Keys in the default column family of a closed vault (objects, index, root).
std::size_t CountKeys(const fs::path& vault_dir) { return testing::CountKeys(vault_dir, testing::Family::kDefault); }

// Runs the import in a child; returns its wait status. `acked` gets "ok" if AddRecords
// returned before the kill point.
int RunChild(const fs::path& vault, const std::string& case_id, std::uint64_t kill_after, const fs::path& acked) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    ::setenv("EVAULT_INDEX_CRASH_CHILD", "1", 1);
    ::setenv("EVAULT_INDEX_CRASH_VAULT", vault.c_str(), 1);
    ::setenv("EVAULT_INDEX_CRASH_CASE", case_id.c_str(), 1);
    ::setenv("EVAULT_INDEX_CRASH_KILL_AFTER", std::to_string(kill_after).c_str(), 1);
    ::setenv("EVAULT_INDEX_CRASH_ACKED", acked.c_str(), 1);
    ::execl("/proc/self/exe", "vault_index_crash_test", static_cast<char*>(nullptr));
    ::_exit(5);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -1;
  return status;
}

}  // namespace

// The child's side of RunChild.
[[noreturn]] void RunImportChild() {
  const std::uint64_t kill_after = std::stoull(std::getenv("EVAULT_INDEX_CRASH_KILL_AFTER"));
  auto killing = std::make_shared<KillingFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(killing);
  testing::SetDatabaseEnv(env.get());
  auto v = Vault::Open(std::getenv("EVAULT_INDEX_CRASH_VAULT"), Passphrase());
  if (!v) ::_exit(2);
  const auto records = Records();
  killing->Arm(kill_after);
  auto added = (*v)->AddRecords(std::getenv("EVAULT_INDEX_CRASH_CASE"), records);
  if (!added) ::_exit(3);
  std::ofstream(std::getenv("EVAULT_INDEX_CRASH_ACKED")) << "ok\n";
  ::kill(::getpid(), SIGKILL);  // no clean close either way
  ::_exit(4);
}

namespace {

class IndexCrashTest : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  void SetUp() override {
    vault_ = tmp_.path() / "vault";
    auto v = testing::CreateAndOpen(vault_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK_AND_ASSIGN(CaseInfo c, v->CreateCase("case", {}));
    case_id_ = c.id;
    ASSERT_OK(v->AddRecord(case_id_, testing::SimpleRecord("before the crash", "testimony")));
  }

  testing::ScopedTempDir tmp_;
  fs::path vault_;
  std::string case_id_;
};

// Killed after `GetParam()` bytes of the import's WAL writes (0: at its first; the
// index blocks written ahead come first, the commit last; UINT64_MAX: after the
// commit): the vault holds either every record or none, and no orphaned block.
TEST_P(IndexCrashTest, KilledImportLeavesOldOrNewIndexAndNoOrphans) {
  const std::size_t keys_before = CountKeys(vault_);
  const fs::path acked = tmp_.path() / "acked";
  const int status = RunChild(vault_, case_id_, GetParam(), acked);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  const bool committed = fs::exists(acked);
  EXPECT_EQ(committed, GetParam() == UINT64_MAX);
  const std::size_t keys_crashed = CountKeys(vault_);
  // By 4 MiB of WAL several batches written ahead are whole (at 1 MiB the first may
  // still be torn, which recovery drops).
  if (GetParam() >= (std::uint64_t{4} << 20) && !committed) {
    EXPECT_GT(keys_crashed, keys_before) << "nothing was written ahead";
  }

  {
    auto v = testing::OpenOrNull(vault_);  // sweeps what a crash left
    ASSERT_NE(v, nullptr);
    ASSERT_OK_AND_ASSIGN(auto listed, v->ListRecords(case_id_));
    EXPECT_EQ(listed.size(), committed ? kRecords + 1 : 1u);
    ASSERT_OK_AND_ASSIGN(auto found, v->Search("testimony"));
    EXPECT_EQ(found.size(), committed ? kRecords + 1 : 1u);
  }
  const std::size_t keys_swept = CountKeys(vault_);
  if (committed) {
    EXPECT_EQ(keys_swept, keys_crashed) << "the committed import left markers behind";
  } else {
    EXPECT_EQ(keys_swept, keys_before) << "blocks or markers written ahead were left behind";
  }

  // The vault takes the same import afterwards.
  auto v = testing::OpenOrNull(vault_);
  ASSERT_NE(v, nullptr);
  ASSERT_OK(v->AddRecords(case_id_, Records()));
  ASSERT_OK_AND_ASSIGN(auto found, v->Search("w2999"));
  EXPECT_EQ(found.size(), committed ? 2u : 1u);
}

// At the first WAL write, after a few of the blocks written ahead (1 and 4 MiB of
// about 9), and after the commit.
INSTANTIATE_TEST_SUITE_P(KillPoints, IndexCrashTest,
                         ::testing::Values(std::uint64_t{0}, std::uint64_t{1} << 20, std::uint64_t{4} << 20,
                                           UINT64_MAX));

}  // namespace
}  // namespace evault::vault

int main(int argc, char** argv) {
  if (std::getenv("EVAULT_INDEX_CRASH_CHILD") != nullptr) evault::vault::RunImportChild();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
