// A sync with nothing new on either side must not grow with the vault (issue #7). The
// real client (RunSync, in process) against a real evault-server over TLS on loopback;
// the vault is reopened before each measured sync, as `evault sync` opens it, so the
// index blocks a sync decrypts can be counted: the encrypted index keeps each block it
// decrypts in its cache, and nothing here comes near the cache's bound.
#include <gtest/gtest.h>

#include "client/sync_client.h"
#include "tests/sync/server_process.h"
#include "tests/vault/impl_access.h"
#include "tests/vault/test_util.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::sync_test {
namespace {

namespace vt = vault::testing;
using vault::SyncState;
using vault::Vault;

class NoOpSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() / "server", std::vector<std::string>{"--log-level", "warn"});
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    config_.server = server_->address();
    config_.ca_pem = vt::ReadFileOrEmpty(server_->ca_file());
    vault_ = vt::CreateAndOpen(vault_dir());
    ASSERT_TRUE(vault_);
    auto enrolled = client::RunSync(*vault_, config_, server_->enroll_token(), {});
    ASSERT_TRUE(enrolled) << enrolled.error().message;
    auto created = vault_->CreateCase("Quiet case", {});
    ASSERT_TRUE(created) << created.error().message;
    case_id_ = created->id;
  }
  void TearDown() override {
    vault_.reset();
    server_.reset();
  }

  fs::path vault_dir() const { return dir_.path() / "a"; }

  // Each record also appends an entry to the case's custody log.
  void AddRecords(std::size_t count) {
    std::vector<std::string> records;
    for (std::size_t i = 0; i < count; ++i) {
      records.push_back(vt::SimpleRecord(fmt::format("record {}", records_ + i), "a quiet narrative"));
    }
    auto added = vault_->AddRecords(case_id_, records);
    ASSERT_TRUE(added) << added.error().message;
    records_ += count;
  }

  // Pushes everything and lets the follow-up sync write its checkpoints, then reopens
  // the vault, so the next sync starts with nothing decrypted.
  void SyncAndReopen() {
    for (int i = 0; i < 2; ++i) {
      auto synced = client::RunSync(*vault_, config_, std::nullopt, {});
      ASSERT_TRUE(synced) << synced.error().message;
    }
    vault_.reset();
    vault_ = vt::OpenOrNull(vault_dir());
    ASSERT_TRUE(vault_);
  }

  std::size_t DecryptedIndexBytes() {
    auto& impl = vault::TestOnlyImpl(*vault_);
    return impl.catalog->cached_bytes() + impl.search->cached_bytes();
  }

  // Runs a sync that must find nothing new and change nothing; returns the bytes of
  // index blocks it decrypted.
  std::size_t NoOpSync() {
    const std::uint64_t seq_before = SyncState(*vault_).author_seq();
    const std::size_t decrypted_before = DecryptedIndexBytes();
    auto report = client::RunSync(*vault_, config_, std::nullopt, {});
    EXPECT_TRUE(report) << report.error().message;
    if (!report) return 0;
    EXPECT_EQ(report->pushed_objects, 0u);
    EXPECT_EQ(report->pulled_objects, 0u);
    EXPECT_EQ(report->uploaded_chunks + report->downloaded_chunks, 0u);
    EXPECT_EQ(SyncState(*vault_).author_seq(), seq_before) << "a no-op sync wrote an object";
    return DecryptedIndexBytes() - decrypted_before;
  }

  vt::ScopedTempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  SyncState::Config config_;
  std::unique_ptr<Vault> vault_;
  std::string case_id_;
  std::size_t records_ = 0;
};

TEST_F(NoOpSyncTest, DecryptsNoMoreOfTheIndexInALargerVault) {
  ASSERT_NO_FATAL_FAILURE(AddRecords(100));
  ASSERT_NO_FATAL_FAILURE(SyncAndReopen());
  const std::size_t small = NoOpSync();
  ASSERT_NO_FATAL_FAILURE(AddRecords(1900));
  ASSERT_NO_FATAL_FAILURE(SyncAndReopen());
  const std::size_t large = NoOpSync();
  // 1900 more records are 1900 more custody log entries of about 150 bytes each (key,
  // object id, leaf hash): a sync that read the log would decrypt at least 285 KB more.
  // What may grow is one block per index segment a lookup visits (a few more segments
  // at 20x the records): 62 KB here.
  EXPECT_LT(large, small + 1900 * 150 / 2) << "at 100 records a no-op sync decrypted " << small
                                           << " bytes of index; at 2000, " << large;
}

}  // namespace
}  // namespace evault::sync_test
