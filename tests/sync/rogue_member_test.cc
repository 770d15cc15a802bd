// Members who lie: devices that are admitted but craft what they push. The server
// cannot read objects, so these checks are the clients' (vault/sync_state.cc).
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/custody.h"
#include "crypto/identity.h"
#include "vault/keyring.h"
#include "vault/object.h"
#include "vault/sync_state.h"
#include "vault/vault.h"
#include "vault/vault_impl.h"

#include "tests/vault/impl_access.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using format::v1::ObjectEnvelope;

crypto::PassphraseKdfParams FastKdf() { return crypto::PassphraseKdfParams::New(2, 64ull << 20); }
crypto::SecretBytes Pass() { return crypto::SecretBytes::CopyFrom(std::string_view("rogue member passphrase")); }

// A custody entry `author` signs itself, crafted outside its client: continuing its own
// chain in the case (from its real entries there), sealed as its client seals custody
// (readers, case key, self) and continuing its object chain, but never stored by it.
ObjectEnvelope CraftCustodyEntry(Vault& author, const std::string& case_hex, const std::string& action,
                                 const nlohmann::json& subject) {
  SyncState state(author);
  const std::string me = crypto::ToHex(state.device().public_key());
  audit::ChainHead head;
  auto log = author.AuditLog(case_hex);
  EXPECT_TRUE(log) << log.error().message;
  for (const auto& entry : *log) {
    if (entry.fields["key"] == me) head = {entry.fields["seq"].get<std::uint64_t>(), audit::LineSha256(entry.line)};
  }
  const std::string line = audit::SignEntry(state.device(), crypto::ToHex(state.vault_id()), case_hex, head,
                                            "2026-11-26T00:00:00Z", action, subject);
  Vault::Impl& impl = TestOnlyImpl(author);
  Vault::Impl::Txn t = impl.Begin();  // abandoned: nothing is stored
  const crypto::Bytes case_id = *crypto::FromHex(case_hex);
  auto to = impl.CustodySealing(t, case_id);
  EXPECT_TRUE(to) << to.error().message;
  ObjectCodec codec(state.vault_id(), &state.device());
  auto sealed = codec.Seal(crypto::RandomBytes(kIdBytes), {ObjectKind::kAuditEntry, case_id, head.seq + 1, case_id},
                           crypto::AsBytes(line), t.seq + 1, t.head, crypto::SymmetricKey::Generate(), *to);
  EXPECT_TRUE(sealed) << sealed.error().message;
  return *sealed;
}

nlohmann::json CaptureSubject(const std::string& record_id, const std::string& revision_id) {
  return {{"record_id", record_id},
          {"revision_id", revision_id},
          {"revision", 1},
          {"sha256", crypto::ToHex(crypto::RandomBytes(32))}};
}

bool LogNames(Vault& v, const std::string& case_hex, const std::string& needle) {
  auto log = v.AuditLog(case_hex);
  EXPECT_TRUE(log) << log.error().message;
  for (const auto& entry : *log) {
    if (entry.line.find(needle) != std::string::npos) return true;
  }
  return false;
}

// An honest server in memory: one log in push order; each device pulls what it has not seen.
class Server {
 public:
  void Push(Vault& v) {
    SyncState s(v);
    auto objects = s.Unpushed(100000, 1u << 30);
    ASSERT_TRUE(objects) << objects.error().message;
    for (auto& e : *objects) log_.push_back(e);
    if (!objects->empty()) {
      ASSERT_TRUE(s.MarkPushed(objects->back().author_seq()));
    }
  }
  void PushRaw(const ObjectEnvelope& e) { log_.push_back(e); }
  Result<SyncState::PullOutcome> Pull(Vault& v) {
    SyncState s(v);
    sync::v1::PullResponse page;
    for (std::uint64_t seq = s.pulled_seq() + 1; seq <= log_.size(); ++seq) {
      auto* o = page.add_objects();
      o->set_server_seq(seq);
      *o->mutable_object() = log_[seq - 1];
    }
    page.set_head_seq(log_.size());
    return s.ApplyPulled(page);
  }
  const std::vector<ObjectEnvelope>& log() const { return log_; }

 private:
  std::vector<ObjectEnvelope> log_;
};

class RogueMemberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("evault-rogue-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    ASSERT_TRUE(Vault::Create(dir_ / "owner", Pass(), FastKdf()));
    owner_ = std::move(*Vault::Open(dir_ / "owner", Pass()));
    case_id_ = owner_->CreateCase("Owner's case", {})->id;
    rogue_ = Join("rogue", sync::v1::MONITOR);
    honest_ = Join("honest", sync::v1::MONITOR);
    server_.Push(*owner_);
    ASSERT_TRUE(server_.Pull(*rogue_));
    ASSERT_TRUE(server_.Pull(*honest_));
  }
  void TearDown() override {
    owner_.reset();
    rogue_.reset();
    honest_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Vault> Join(const std::string& name, sync::v1::Role role) {
    auto secret = SyncState(*owner_).CreateInvite(role);
    EXPECT_TRUE(secret);
    EXPECT_TRUE(Vault::CreateJoining(dir_ / name, Pass(), FastKdf(), owner_->vault_id()));
    auto v = std::move(*Vault::Open(dir_ / name, Pass()));
    auto request = SyncState(*v).MakeJoinRequest(*secret);
    EXPECT_TRUE(request);
    auto admitted = SyncState(*owner_).AdmitJoinRequests({*request});
    EXPECT_TRUE(admitted && admitted->size() == 1u);
    return v;
  }

  // Exports the case from `v` and verifies the bundle offline.
  ::testing::AssertionResult ExportsAndVerifies(Vault& v, const std::string& name) {
    const fs::path out = dir_ / ("bundle-" + name);
    auto exported = v.Export(case_id_, {.out = out, .purpose = "regression: custody of " + name});
    if (!exported) return ::testing::AssertionFailure() << name << " export: " << exported.error().message;
    auto report = audit::VerifyBundle(out, std::nullopt);
    if (!report) return ::testing::AssertionFailure() << name << " verify: " << report.error().message;
    if (!report->ok()) {
      auto failure = ::testing::AssertionFailure() << name << " bundle problems:";
      for (const auto& p : report->problems) failure << "\n  " << p;
      return failure;
    }
    return ::testing::AssertionSuccess();
  }

  fs::path dir_;
  Server server_;
  std::unique_ptr<Vault> owner_, rogue_, honest_;
  std::string case_id_;
};

TEST_F(RogueMemberTest, MonitorCannotCaptureACaseWithAKeyItKept) {
  SyncState rogue(*rogue_);
  const Membership& members = rogue.membership();
  const EpochPublicKeys* epoch = members.Epoch(members.current_epoch());
  ASSERT_NE(epoch, nullptr);
  // A case key whose secret the rogue keeps, ground until it sorts before any other
  // (a naive client would take the first key it knows).
  crypto::BoxKeyPair kept = crypto::BoxKeyPair::Generate();
  while (kept.public_key()[0] != 0) kept = crypto::BoxKeyPair::Generate();
  auto sealed_secret = crypto::SealToPublicKey(epoch->readers, kept.secret_key().span());
  ASSERT_TRUE(sealed_secret);
  nlohmann::json body = {{"case_id", case_id_},
                         {"epoch", members.current_epoch()},
                         {"public_key", crypto::ToHex(kept.public_key())},
                         {"sealed_secret", crypto::ToHex(*sealed_secret)},
                         {"created", "2026-11-26T00:00:00Z"}};
  ObjectCodec codec(rogue.vault_id(), &rogue.device());
  SealingKeys to{members.current_epoch(), epoch->readers, epoch->members, crypto::BoxKeyPair::Generate().public_key()};
  const std::string text = body.dump();
  auto announcement = codec.Seal(crypto::RandomBytes(kIdBytes),
                                 {ObjectKind::kCaseKey, *crypto::FromHex(case_id_), 1, {}},
                                 crypto::AsBytes(text), 1, {}, crypto::SymmetricKey::Generate(), to);
  ASSERT_TRUE(announcement);
  server_.PushRaw(*announcement);
  ASSERT_TRUE(server_.Pull(*honest_));

  // The honest monitor adds evidence to the case: it must not seal it to the rogue's key.
  auto added = honest_->AddRecord(case_id_, R"({"kind":"detention","title":"honest monitor's report"})");
  ASSERT_TRUE(added) << added.error().message;
  server_.Push(*honest_);
  const ObjectEnvelope& mine = server_.log().back();
  ASSERT_EQ(mine.key_slots_size(), 3);
  for (const auto& slot : mine.key_slots()) {
    EXPECT_FALSE(kept.OpenSealed(crypto::AsBytes(slot))) << "the rogue's kept key opens a slot";
  }
  OpeningKeys with_kept;
  with_kept.second = {&kept};
  const crypto::Bytes object_id(mine.object_id().begin(), mine.object_id().end());
  auto opened = codec.Open(mine, object_id, with_kept);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kPermissionDenied);

  // (The rogue's own honest client would refuse the forged announcement it never wrote.)
  auto rogue_pull = server_.Pull(*rogue_);
  ASSERT_FALSE(rogue_pull);
  EXPECT_NE(rogue_pull.error().message.find("never wrote"), std::string::npos) << rogue_pull.error().message;
  // The owner reads the honest monitor's report.
  ASSERT_TRUE(server_.Pull(*owner_));
  auto read = owner_->GetRecord(added->record_id, false);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->heads.at(0).data["title"], "honest monitor's report");
}

TEST_F(RogueMemberTest, MonitorsReadOnlyTheirOwnSubmissions) {
  auto rogue_case = rogue_->CreateCase("Rogue's own case", {});
  ASSERT_TRUE(rogue_case);
  auto honest_record = honest_->AddRecord(case_id_, R"({"kind":"trial","title":"honest in owner's case"})");
  ASSERT_TRUE(honest_record);
  auto honest_case = honest_->CreateCase("Honest's own case", {});
  ASSERT_TRUE(honest_case);
  ASSERT_TRUE(honest_->AddRecord(honest_case->id, R"({"kind":"trial","title":"honest in own case"})"));
  server_.Push(*rogue_);
  server_.Push(*honest_);
  auto owner_record = owner_->AddRecord(case_id_, R"({"kind":"trial","title":"owner's record"})");
  ASSERT_TRUE(owner_record);
  server_.Push(*owner_);
  for (Vault* v : {rogue_.get(), honest_.get(), owner_.get()}) ASSERT_TRUE(server_.Pull(*v));

  // The rogue reads its own case only: not the owner's case, not the honest monitor's.
  auto rogue_cases = rogue_->ListCases();
  ASSERT_TRUE(rogue_cases);
  ASSERT_EQ(rogue_cases->size(), 1u);
  EXPECT_EQ(rogue_cases->at(0).title, "Rogue's own case");
  EXPECT_TRUE(rogue_->ListRecords(std::nullopt)->empty());
  EXPECT_FALSE(rogue_->GetRecord(owner_record->record_id, false));
  EXPECT_FALSE(rogue_->GetRecord(honest_record->record_id, false));
  EXPECT_TRUE(rogue_->Search("honest")->empty());
  EXPECT_FALSE(rogue_->GetCase(case_id_));
  // The owner reads everything.
  EXPECT_EQ(owner_->ListRecords(std::nullopt)->size(), 3u);
  EXPECT_EQ(owner_->ListCases()->size(), 3u);
  // And the rogue can still add to the owner's case, whose id it was given.
  EXPECT_TRUE(rogue_->AddRecord(case_id_, R"({"kind":"trial","title":"rogue adds"})"));
}

// Security review: a monitor's custody entry naming a revision that exists nowhere used
// to be appended, and every export of the case then failed ("the custody log records
// revision ... this device does not hold yet"). It must be set aside.
TEST_F(RogueMemberTest, MonitorsCustodyEntryNamingEvidenceThatDoesNotExistIsSetAside) {
  auto real = rogue_->AddRecord(case_id_, R"({"kind":"detention","title":"rogue's real report"})");
  ASSERT_TRUE(real) << real.error().message;
  server_.Push(*rogue_);
  ASSERT_TRUE(server_.Pull(*owner_));

  const std::string phantom = crypto::ToHex(crypto::RandomBytes(kIdBytes));
  ASSERT_EQ(phantom.size(), 32u);
  server_.PushRaw(CraftCustodyEntry(*rogue_, case_id_, audit::action::kRecordCapture,
                                    CaptureSubject(real->record_id, phantom)));
  auto pulled = server_.Pull(*owner_);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->rejected, 1u);
  EXPECT_FALSE(LogNames(*owner_, case_id_, phantom)) << "the phantom capture reached the owner's custody log";
  EXPECT_TRUE(LogNames(*owner_, case_id_, real->revision_id));
  EXPECT_TRUE(ExportsAndVerifies(*owner_, "owner"));
  auto check = owner_->VerifyAuditLog();
  ASSERT_TRUE(check) << check.error().message;
  EXPECT_TRUE(check->ok()) << (check->problems.empty() ? "" : check->problems.front());
  // Another monitor is not stalled either.
  EXPECT_TRUE(server_.Pull(*honest_));
}

// ... nor may it claim evidence another device wrote.
TEST_F(RogueMemberTest, MonitorsCustodyEntryClaimingTheOwnersEvidenceIsSetAside) {
  auto owners = owner_->AddRecord(case_id_, R"({"kind":"detention","title":"owner's report"})");
  ASSERT_TRUE(owners) << owners.error().message;
  server_.Push(*owner_);
  ASSERT_TRUE(server_.Pull(*rogue_));
  auto real = rogue_->AddRecord(case_id_, R"({"kind":"detention","title":"rogue's real report"})");
  ASSERT_TRUE(real) << real.error().message;
  server_.Push(*rogue_);
  server_.PushRaw(CraftCustodyEntry(*rogue_, case_id_, audit::action::kRecordCapture,
                                    CaptureSubject(owners->record_id, owners->revision_id)));
  auto pulled = server_.Pull(*owner_);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->rejected, 1u);

  auto log = owner_->AuditLog(case_id_);
  ASSERT_TRUE(log) << log.error().message;
  const std::string rogue_key = crypto::ToHex(SyncState(*rogue_).device().public_key());
  std::size_t naming = 0, by_rogue = 0;
  for (const auto& entry : *log) {
    if (entry.line.find(owners->revision_id) != std::string::npos) ++naming;
    if (entry.fields["key"] == rogue_key) ++by_rogue;
  }
  EXPECT_EQ(naming, 1u) << "only the owner's own capture names its revision";
  EXPECT_EQ(by_rogue, 1u) << "only the rogue's genuine capture arrives";
  EXPECT_TRUE(ExportsAndVerifies(*owner_, "owner"));
}

// A legal device reads and exports; it captures and grants nothing. Its crafted
// record-capture (and case-grant) entries are set aside, its genuine views arrive.
TEST_F(RogueMemberTest, LegalDevicesMayLogOnlyViewsReadsAndExports) {
  auto owners = owner_->AddRecord(case_id_, R"({"kind":"detention","title":"owner's report"})");
  ASSERT_TRUE(owners) << owners.error().message;
  auto legal = Join("legal", sync::v1::LEGAL);
  server_.Push(*owner_);
  ASSERT_TRUE(server_.Pull(*legal));
  auto granted = SyncState(*owner_).GrantCase(case_id_, legal->device_id());
  ASSERT_TRUE(granted) << granted.error().message;
  server_.Push(*owner_);
  ASSERT_TRUE(server_.Pull(*legal));
  auto viewed = legal->GetRecord(owners->record_id, false);
  ASSERT_TRUE(viewed) << viewed.error().message;
  server_.Push(*legal);  // the genuine record-view entry

  const std::string legal_key = crypto::ToHex(SyncState(*legal).device().public_key());
  // The capture names the owner's revision; a grant names no evidence, so only the
  // role rule (not the author check of captures) can set it aside.
  server_.PushRaw(CraftCustodyEntry(*legal, case_id_, audit::action::kRecordCapture,
                                    CaptureSubject(owners->record_id, owners->revision_id)));
  auto pulled = server_.Pull(*owner_);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->rejected, 1u);

  auto log = owner_->AuditLog(case_id_);
  ASSERT_TRUE(log) << log.error().message;
  std::vector<std::string> legal_actions;
  for (const auto& entry : *log) {
    if (entry.fields["key"] == legal_key) legal_actions.push_back(entry.fields["action"]);
  }
  EXPECT_EQ(legal_actions, std::vector<std::string>{audit::action::kRecordView});
  EXPECT_TRUE(ExportsAndVerifies(*owner_, "owner"));
  legal.reset();
}

TEST_F(RogueMemberTest, LegalDevicesGrantEntryIsSetAside) {
  auto owners = owner_->AddRecord(case_id_, R"({"kind":"detention","title":"owner's report"})");
  ASSERT_TRUE(owners) << owners.error().message;
  auto legal = Join("legal", sync::v1::LEGAL);
  server_.Push(*owner_);
  ASSERT_TRUE(server_.Pull(*legal));
  ASSERT_TRUE(SyncState(*owner_).GrantCase(case_id_, legal->device_id()));
  server_.Push(*owner_);
  ASSERT_TRUE(server_.Pull(*legal));
  ASSERT_TRUE(legal->GetRecord(owners->record_id, false));
  server_.Push(*legal);
  const std::string legal_key = crypto::ToHex(SyncState(*legal).device().public_key());
  server_.PushRaw(CraftCustodyEntry(*legal, case_id_, audit::action::kCaseGrant,
                                    {{"case_id", case_id_}, {"device", legal->device_id()}, {"keys", 1}}));
  auto pulled = server_.Pull(*owner_);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->rejected, 1u);
  auto log = owner_->AuditLog(case_id_);
  ASSERT_TRUE(log);
  std::vector<std::string> legal_actions;
  for (const auto& entry : *log) {
    if (entry.fields["key"] == legal_key) legal_actions.push_back(entry.fields["action"]);
  }
  EXPECT_EQ(legal_actions, std::vector<std::string>{audit::action::kRecordView});
  EXPECT_TRUE(ExportsAndVerifies(*owner_, "owner"));
  legal.reset();
}

}  // namespace
}  // namespace evault::vault
