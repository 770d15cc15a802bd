// An attachment upload killed mid-way (SIGKILL, no chance to clean up) must leave no
// visible attachment, and the next Open must remove its orphaned chunks.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "tests/vault/test_util.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using testing::CountChunks;

const crypto::PassphraseKdfParams kFastKdf() { return crypto::PassphraseKdfParams::New(2, 64ull << 20); }
crypto::SecretBytes Passphrase() { return crypto::SecretBytes::CopyFrom(std::string_view("crash test passphrase")); }

constexpr char kRecord[] = R"({"kind":"detention","title":"crash test record"})";

// The upload runs in a child that is this test binary executed afresh (its main runs
// RunUploadChild when told to through the environment): a child merely forked
// from a process that has used RocksDB inherits its thread pools without their threads,
// so no background flush would ever run in it. `acked` empty: SIGKILL once `kill_after`
// bytes are written; else write the id and SHA-256 to `acked` when AddAttachment
// returns, then SIGKILL. Returns the child's wait status.
int RunChild(const fs::path& vault, const std::string& record_id, const fs::path& file, std::uint64_t kill_after,
             const fs::path& acked) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    ::setenv("EVAULT_ATTACH_CHILD", "1", 1);
    ::setenv("EVAULT_ATTACH_VAULT", vault.c_str(), 1);
    ::setenv("EVAULT_ATTACH_RECORD", record_id.c_str(), 1);
    ::setenv("EVAULT_ATTACH_FILE", file.c_str(), 1);
    ::setenv("EVAULT_ATTACH_KILL_AFTER", std::to_string(kill_after).c_str(), 1);
    ::setenv("EVAULT_ATTACH_ACKED", acked.c_str(), 1);
    ::execl("/proc/self/exe", "crash_test", static_cast<char*>(nullptr));
    ::_exit(5);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -1;
  return status;
}

}  // namespace

// The child's side of RunChild.
[[noreturn]] void RunUploadChild() {
  const std::uint64_t kill_after = std::stoull(std::getenv("EVAULT_ATTACH_KILL_AFTER"));
  const std::string acked = std::getenv("EVAULT_ATTACH_ACKED");
  auto v = Vault::Open(std::getenv("EVAULT_ATTACH_VAULT"), Passphrase());
  if (!v) ::_exit(2);
  auto added = (*v)->AddAttachment(std::getenv("EVAULT_ATTACH_RECORD"), std::getenv("EVAULT_ATTACH_FILE"),
                                   [&](std::uint64_t done, std::uint64_t) {
                                     if (acked.empty() && done >= kill_after) ::kill(::getpid(), SIGKILL);
                                   });
  if (!added || acked.empty()) ::_exit(3);  // failed, or finished before the kill point: a test bug
  {
    std::ofstream out(acked);
    out << added->id << "\n" << added->sha256 << "\n";
  }
  ::kill(::getpid(), SIGKILL);
  ::_exit(4);
}

namespace {

class InterruptedAttachTest : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("evault-crash-" + std::to_string(::getpid()) + "-" +
                                             std::to_string(GetParam()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    vault_ = dir_ / "vault";
    file_ = dir_ / "video.bin";
    std::ofstream out(file_, std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
    for (int i = 0; i < 24; ++i) {
      for (auto& w : block) w = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * sizeof(std::uint64_t));
    }
    out.close();
    ASSERT_TRUE(Vault::Create(vault_, Passphrase(), kFastKdf()));
    auto v = Vault::Open(vault_, Passphrase());
    ASSERT_TRUE(v);
    auto c = (*v)->CreateCase("crash case", {});
    ASSERT_TRUE(c);
    auto r = (*v)->AddRecord(c->id, kRecord);
    ASSERT_TRUE(r);
    record_id_ = r->record_id;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_, vault_, file_;
  std::string record_id_;
};

TEST_P(InterruptedAttachTest, KilledUploadLeavesNothingBehind) {
  const int status = RunChild(vault_, record_id_, file_, GetParam() << 20, "");
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  // Chunks that background flushes wrote before the kill (how many varies with timing).
  std::printf("killed after %llu MiB: %zu chunks on disk before the sweep\n",
              static_cast<unsigned long long>(GetParam()), CountChunks(vault_));

  {
    auto v = Vault::Open(vault_, Passphrase());  // sweeps the orphaned chunks
    ASSERT_TRUE(v) << v.error().message;
    auto list = (*v)->ListAttachments(record_id_);
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty()) << "a half-written attachment is visible";
    auto record = (*v)->GetRecord(record_id_, true);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->heads.at(0).data["title"], "crash test record");
  }
  EXPECT_EQ(CountChunks(vault_), 0u) << "orphaned chunks were not removed";

  // The vault still takes the same file afterwards, whole.
  auto v = Vault::Open(vault_, Passphrase());
  ASSERT_TRUE(v);
  auto added = (*v)->AddAttachment(record_id_, file_);
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->size, 24u << 20);
  EXPECT_EQ(added->chunks, 24u);
  v->reset();
  EXPECT_EQ(CountChunks(vault_), 24u);
}

// Kill after the first chunk, mid-way through the first memtable, after a background
// flush of the chunks (written without the WAL) has started, and after the last chunk
// was written but before the flush that makes the chunks durable and before the
// manifest commits.
INSTANTIATE_TEST_SUITE_P(KillPoints, InterruptedAttachTest, ::testing::Values(1, 5, 17, 24));

// Killed right after AddAttachment returned, before the vault is closed (closing would
// flush whatever the memtables still hold): the acknowledged attachment must be whole.
using AcknowledgedAttachTest = InterruptedAttachTest;

TEST_P(AcknowledgedAttachTest, KilledAfterAcknowledgementKeepsTheWholeAttachment) {
  const fs::path acked = dir_ / "acked";
  const int status = RunChild(vault_, record_id_, file_, 0, acked);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  std::string id, sha256;
  std::ifstream(acked) >> id >> sha256;
  ASSERT_EQ(id.size(), 32u);

  auto v = Vault::Open(vault_, Passphrase());
  ASSERT_TRUE(v) << v.error().message;
  auto list = (*v)->ListAttachments(record_id_);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u) << "the acknowledged attachment is gone";
  EXPECT_EQ(list->front().id, id);
  std::uint64_t bytes = 0;
  auto read = (*v)->ReadAttachment(id, [&](crypto::ByteView chunk) -> Status {
    bytes += chunk.size();
    return Ok();
  });
  ASSERT_TRUE(read) << read.error().message;  // checks every chunk and the SHA-256
  EXPECT_EQ(bytes, 24u << 20);
  EXPECT_EQ(list->front().sha256, sha256);
  v->reset();
  EXPECT_EQ(CountChunks(vault_), 24u);
}

INSTANTIATE_TEST_SUITE_P(Once, AcknowledgedAttachTest, ::testing::Values(0));

}  // namespace
}  // namespace evault::vault

int main(int argc, char** argv) {
  if (std::getenv("EVAULT_ATTACH_CHILD") != nullptr) evault::vault::RunUploadChild();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
