// Vault::AddRecords, the batch behind `evault import`: one transaction for the whole
// batch, nothing stored when any record is bad, roles checked as for AddRecord, and the
// imported records listed, searchable, in the custody log and synced like any other.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/vault/impl_access.h"
#include "tests/vault/test_util.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using format::v1::ObjectEnvelope;
using nlohmann::json;
using testing::CreateAndOpen;
using testing::FastKdf;
using testing::kPassphrase;
using testing::OpenOrNull;
using testing::Passphrase;
using testing::ScopedTempDir;
using testing::SimpleRecord;

std::vector<std::string> Batch(std::size_t n, std::string_view prefix = "import") {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(SimpleRecord(fmt::format("{} record {}", prefix, i), fmt::format("word{}x", i)));
  }
  return out;
}

// The number of committed transactions (each commits one WriteBatch).
std::uint64_t Transactions(Vault& v) { return TestOnlyImpl(v).state.transaction(); }

sync::v1::PullResponse Page(const std::vector<ObjectEnvelope>& log) {
  sync::v1::PullResponse page;
  std::uint64_t seq = 1;
  for (const auto& e : log) {
    auto* o = page.add_objects();
    o->set_server_seq(seq++);
    *o->mutable_object() = e;
  }
  page.set_head_seq(seq - 1);
  return page;
}

class AddRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault_ = CreateAndOpen(tmp_.path() / "a");
    ASSERT_NE(vault_, nullptr);
    ASSERT_OK_AND_ASSIGN(auto c, vault_->CreateCase("Import case", {}));
    case_id_ = c.id;
  }

  // A second device invited with `role`, joined and admitted by the first, which then
  // has received the first's whole history (an in-process sync without a server).
  std::unique_ptr<Vault> JoinAndPull(const std::string& name, sync::v1::Role role) {
    auto secret = SyncState(*vault_).CreateInvite(role);
    EXPECT_TRUE(secret) << secret.error().message;
    const fs::path dir = tmp_.path() / name;
    EXPECT_TRUE(Vault::CreateJoining(dir, Passphrase(kPassphrase), FastKdf(), vault_->vault_id()));
    auto joined = OpenOrNull(dir);
    auto request = SyncState(*joined).MakeJoinRequest(*secret);
    EXPECT_TRUE(request) << request.error().message;
    auto admitted = SyncState(*vault_).AdmitJoinRequests({*request});
    EXPECT_TRUE(admitted && admitted->size() == 1u);
    auto history = SyncState(*vault_).Unpushed(1000000, 1u << 30);
    EXPECT_TRUE(history) << history.error().message;
    auto applied = SyncState(*joined).ApplyPulled(Page(*history));
    EXPECT_TRUE(applied) << applied.error().message;
    return joined;
  }

  ScopedTempDir tmp_;
  std::unique_ptr<Vault> vault_;
  std::string case_id_;
};

TEST_F(AddRecordsTest, WholeBatchIsOneTransaction) {
  const auto before = Transactions(*vault_);
  const auto batch = Batch(200);
  ASSERT_OK_AND_ASSIGN(auto added, vault_->AddRecords(case_id_, batch));
  EXPECT_EQ(Transactions(*vault_), before + 1);
  ASSERT_EQ(added.size(), batch.size());
  std::set<std::string> record_ids, revision_ids;
  for (std::size_t i = 0; i < added.size(); ++i) {
    EXPECT_EQ(added[i].case_id, case_id_);
    EXPECT_EQ(added[i].revision, 1u);
    EXPECT_TRUE(added[i].parents.empty());
    EXPECT_EQ(added[i].author, vault_->device_id());
    EXPECT_EQ(added[i].data["title"], fmt::format("import record {}", i));  // in input order
    record_ids.insert(added[i].record_id);
    revision_ids.insert(added[i].revision_id);
  }
  EXPECT_EQ(record_ids.size(), batch.size());
  EXPECT_EQ(revision_ids.size(), batch.size());
}

TEST_F(AddRecordsTest, ImportedRecordsAreListedSearchableAndSurviveReopening) {
  ASSERT_OK_AND_ASSIGN(auto added, vault_->AddRecords(case_id_, Batch(50)));
  vault_.reset();
  vault_ = OpenOrNull(tmp_.path() / "a");
  ASSERT_NE(vault_, nullptr);
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListRecords(case_id_));
  EXPECT_EQ(listed.size(), 50u);
  ASSERT_OK_AND_ASSIGN(auto hits, vault_->Search("word17x"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].record_id, added[17].record_id);
  EXPECT_EQ(hits[0].title, "import record 17");
  ASSERT_OK_AND_ASSIGN(auto all, vault_->Search("import record"));
  EXPECT_EQ(all.size(), 50u);
  ASSERT_OK_AND_ASSIGN(auto view, vault_->GetRecord(added[49].record_id, true));
  ASSERT_EQ(view.heads.size(), 1u);
  EXPECT_EQ(view.heads[0].revision_id, added[49].revision_id);
  // Imported records are ordinary records: they can be edited.
  ASSERT_OK(vault_->EditRecord(added[0].record_id, SimpleRecord("edited after import")));
}

TEST_F(AddRecordsTest, OneBadRecordStoresNothing) {
  const auto before = Transactions(*vault_);
  ASSERT_OK_AND_ASSIGN(auto log_before, vault_->AuditLog(case_id_));
  auto batch = Batch(10);
  batch[6] = R"({"kind":"event","title":"x","people":[{"name":"A","role":"judge"}]})";
  auto added = vault_->AddRecords(case_id_, batch);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(added.error().message.starts_with("record 7: record field 'people[0].role'")) << added.error().message;
  batch[6] = "{not json";
  added = vault_->AddRecords(case_id_, batch);
  ASSERT_FALSE(added);
  EXPECT_TRUE(added.error().message.starts_with("record 7: invalid JSON")) << added.error().message;
  EXPECT_EQ(Transactions(*vault_), before);
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListRecords(case_id_));
  EXPECT_TRUE(listed.empty());
  ASSERT_OK_AND_ASSIGN(auto log_after, vault_->AuditLog(case_id_));
  EXPECT_EQ(log_after.size(), log_before.size());
  // The vault is still writable afterwards: nothing of the refused batch lingers.
  ASSERT_OK(vault_->AddRecords(case_id_, Batch(2)));
  ASSERT_OK_AND_ASSIGN(listed, vault_->ListRecords(case_id_));
  EXPECT_EQ(listed.size(), 2u);
}

TEST_F(AddRecordsTest, AddRecordIsTheBatchOfOneWithUnchangedErrors) {
  auto bad = vault_->AddRecord(case_id_, R"({"kind":"event"})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "record field 'title' is required");
  const auto before = Transactions(*vault_);
  ASSERT_OK_AND_ASSIGN(auto r, vault_->AddRecord(case_id_, SimpleRecord("single")));
  EXPECT_EQ(Transactions(*vault_), before + 1);
  EXPECT_EQ(r.revision, 1u);
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListRecords(case_id_));
  EXPECT_EQ(listed.size(), 1u);
}

TEST_F(AddRecordsTest, EmptyBatchChecksTheCaseAndWritesNothing) {
  const auto before = Transactions(*vault_);
  ASSERT_OK_AND_ASSIGN(auto none, vault_->AddRecords(case_id_, {}));
  EXPECT_TRUE(none.empty());
  EXPECT_ERROR(vault_->AddRecords(std::string(32, 'a'), {}), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->AddRecords("not-an-id", {}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->AddRecords(std::string(32, 'a'), Batch(3)), ErrorCode::kNotFound);
  EXPECT_EQ(Transactions(*vault_), before);
}

TEST_F(AddRecordsTest, CustodyLogHasOneCaptureEntryPerRecordAndVerifies) {
  ASSERT_OK_AND_ASSIGN(auto added, vault_->AddRecords(case_id_, Batch(30)));
  ASSERT_OK_AND_ASSIGN(auto log, vault_->AuditLog(case_id_));
  ASSERT_EQ(log.size(), 1u + added.size());  // the case's creation, then the captures
  std::set<std::string> captured;
  for (std::size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].index, i + 1);
    if (log[i].fields["action"] != audit::action::kRecordCapture) continue;
    captured.insert(log[i].fields["subject"]["revision_id"].get<std::string>());
  }
  for (const auto& r : added) EXPECT_TRUE(captured.contains(r.revision_id)) << r.revision_id;
  ASSERT_OK_AND_ASSIGN(auto check, vault_->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems[0]);
  vault_.reset();
  vault_ = OpenOrNull(tmp_.path() / "a");
  ASSERT_OK_AND_ASSIGN(check, vault_->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems[0]);
}

TEST_F(AddRecordsTest, DeviceNotYetAdmittedCannotImport) {
  const fs::path dir = tmp_.path() / "joining";
  ASSERT_OK(Vault::CreateJoining(dir, Passphrase(kPassphrase), FastKdf(), vault_->vault_id()));
  auto joining = OpenOrNull(dir);
  ASSERT_NE(joining, nullptr);
  const auto before = Transactions(*joining);
  EXPECT_ERROR(joining->AddRecords(case_id_, Batch(3)), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(joining->AddRecords(case_id_, {}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Transactions(*joining), before);
}

TEST_F(AddRecordsTest, LegalDeviceCannotImportMonitorCan) {
  auto legal = JoinAndPull("legal", sync::v1::LEGAL);
  ASSERT_NE(legal, nullptr);
  const auto before = Transactions(*legal);
  EXPECT_ERROR(legal->AddRecords(case_id_, Batch(3)), ErrorCode::kPermissionDenied);
  EXPECT_ERROR(legal->AddRecords(case_id_, {}), ErrorCode::kPermissionDenied);
  EXPECT_ERROR(legal->AddRecord(case_id_, SimpleRecord("one")), ErrorCode::kPermissionDenied);
  EXPECT_EQ(Transactions(*legal), before);

  // A monitor writes to a case it knows from the owner's announced case key.
  auto monitor = JoinAndPull("monitor", sync::v1::MONITOR);
  ASSERT_NE(monitor, nullptr);
  ASSERT_OK_AND_ASSIGN(auto added, monitor->AddRecords(case_id_, Batch(5, "monitor")));
  EXPECT_EQ(added.size(), 5u);
  ASSERT_OK_AND_ASSIGN(auto check, monitor->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems[0]);
}

TEST_F(AddRecordsTest, ImportedRecordsSyncToAnotherDevice) {
  ASSERT_OK_AND_ASSIGN(auto added, vault_->AddRecords(case_id_, Batch(40)));
  auto office_b = JoinAndPull("b", sync::v1::COORDINATOR);
  ASSERT_NE(office_b, nullptr);
  ASSERT_OK_AND_ASSIGN(auto listed, office_b->ListRecords(case_id_));
  EXPECT_EQ(listed.size(), 40u);
  ASSERT_OK_AND_ASSIGN(auto hits, office_b->Search("word39x"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].record_id, added[39].record_id);
  ASSERT_OK_AND_ASSIGN(auto log, office_b->AuditLog(case_id_));
  EXPECT_EQ(log.size(), 41u);
  ASSERT_OK_AND_ASSIGN(auto check, office_b->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems[0]);
}

TEST_F(AddRecordsTest, LargeBatchCommitsOnce) {
  const auto before = Transactions(*vault_);
  ASSERT_OK_AND_ASSIGN(auto added, vault_->AddRecords(case_id_, Batch(2000)));
  EXPECT_EQ(added.size(), 2000u);
  EXPECT_EQ(Transactions(*vault_), before + 1);
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListRecords(case_id_));
  EXPECT_EQ(listed.size(), 2000u);
}

}  // namespace
}  // namespace evault::vault
