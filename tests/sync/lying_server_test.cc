// A lying server, as a test double: the history a real device wrote, served to another
// device dropped, replayed, reordered, altered, rolled back or forked. SyncState must
// refuse each, name what happened, and apply nothing of the page.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using format::v1::ObjectEnvelope;

crypto::PassphraseKdfParams FastKdf() { return crypto::PassphraseKdfParams::New(2, 64ull << 20); }
crypto::SecretBytes Pass() { return crypto::SecretBytes::CopyFrom(std::string_view("lying server passphrase")); }

sync::v1::PullResponse Page(const std::vector<ObjectEnvelope>& log, std::uint64_t first_seq = 1,
                            std::optional<std::uint64_t> head = std::nullopt) {
  sync::v1::PullResponse page;
  std::uint64_t seq = first_seq;
  for (const auto& e : log) {
    auto* o = page.add_objects();
    o->set_server_seq(seq++);
    *o->mutable_object() = e;
  }
  page.set_head_seq(head.value_or(seq - 1));
  return page;
}

class LyingServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("evault-lying-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    ASSERT_TRUE(Vault::Create(dir_ / "a", Pass(), FastKdf()));
    a_ = std::move(*Vault::Open(dir_ / "a", Pass()));
    SyncState sa(*a_);
    for (int i = 0; i < 2; ++i) {
      auto secret = sa.CreateInvite(sync::v1::COORDINATOR);
      ASSERT_TRUE(secret) << secret.error().message;
      secrets_.push_back(*secret);
    }
    case_id_ = a_->CreateCase("Lying server case", {})->id;
    for (int i = 0; i < 3; ++i) {
      auto r = a_->AddRecord(case_id_, R"({"kind":"detention","title":"record )" + std::to_string(i) + R"("})");
      ASSERT_TRUE(r);
      records_.push_back(r->record_id);
    }
    ASSERT_TRUE(a_->EditRecord(records_[0], R"({"kind":"detention","title":"record 0, edited"})"));
  }
  void TearDown() override {
    a_.reset();
    fs::remove_all(dir_);
  }

  // A device that joins with invite `n` and is admitted by A (the admission is
  // appended to A's history).
  std::unique_ptr<Vault> Join(const std::string& name, int n) {
    EXPECT_TRUE(Vault::CreateJoining(dir_ / name, Pass(), FastKdf(), a_->vault_id()));
    auto v = std::move(*Vault::Open(dir_ / name, Pass()));
    SyncState s(*v);
    auto request = s.MakeJoinRequest(secrets_[n]);
    EXPECT_TRUE(request);
    auto admitted = SyncState(*a_).AdmitJoinRequests({*request});
    EXPECT_TRUE(admitted && admitted->size() == 1u);
    return v;
  }

  // A copy of A's vault as it is now: the same keys, so it can write different objects
  // at the same places in A's chain (a device restored from a copy).
  std::unique_ptr<Vault> TwinOfA() {
    a_.reset();
    fs::copy(dir_ / "a", dir_ / "a-twin", fs::copy_options::recursive);
    a_ = std::move(*Vault::Open(dir_ / "a", Pass()));
    return std::move(*Vault::Open(dir_ / "a-twin", Pass()));
  }

  std::vector<ObjectEnvelope> History() {
    auto log = SyncState(*a_).Unpushed(100000, 1u << 30);
    EXPECT_TRUE(log);
    return *log;
  }

  // Applying `page` to `v` fails naming `what`, and leaves `v` as it was.
  void ExpectRefused(Vault& v, const sync::v1::PullResponse& page, const std::string& what) {
    SyncState s(v);
    const auto pulled_before = s.pulled_seq();
    const auto records_before = v.ListRecords(std::nullopt)->size();
    auto applied = s.ApplyPulled(page);
    ASSERT_FALSE(applied) << "a lying server was believed (" << what << ")";
    EXPECT_EQ(applied.error().code, ErrorCode::kTampered);
    EXPECT_NE(applied.error().message.find(what), std::string::npos) << applied.error().message;
    EXPECT_EQ(s.pulled_seq(), pulled_before);
    EXPECT_EQ(v.ListRecords(std::nullopt)->size(), records_before);
  }

  fs::path dir_;
  std::unique_ptr<Vault> a_;
  std::vector<crypto::Bytes> secrets_;
  std::string case_id_;
  std::vector<std::string> records_;
};

TEST_F(LyingServerTest, HonestHistoryArrivesWhole) {
  auto b = Join("b", 0);
  auto applied = SyncState(*b).ApplyPulled(Page(History()));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_TRUE(applied->admitted_now);
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 3u);
  auto shown = b->GetRecord(records_[0], true);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->heads.at(0).data["title"], "record 0, edited");
  EXPECT_EQ(shown->history.size(), 2u);
  EXPECT_EQ(SyncState(*b).membership().members().size(), 2u);
}

// Attachment chunks come from the server too, and are stored as they came (sealed): each
// must be refused before it is stored if it was altered, moved, cut or extended.
TEST_F(LyingServerTest, AlteredOrMisplacedChunksAreRefusedAndNotStored) {
  const fs::path file = dir_ / "video.bin";
  std::string original(2 * (1 << 20) + 4321, '\0');
  for (std::size_t i = 0; i < original.size(); ++i) original[i] = static_cast<char>(i * 131 + i / 7);
  std::ofstream(file, std::ios::binary).write(original.data(), static_cast<std::streamsize>(original.size()));
  auto added = a_->AddAttachment(records_[1], file);
  ASSERT_TRUE(added) << added.error().message;
  ASSERT_EQ(added->chunks, 3u);

  auto b = Join("b", 0);
  SyncState sb(*b);
  ASSERT_TRUE(sb.ApplyPulled(Page(History())));
  auto downloads = sb.PendingDownloads();
  ASSERT_TRUE(downloads);
  ASSERT_EQ(downloads->size(), 1u);
  const auto& transfer = downloads->front();
  ASSERT_EQ(transfer.chunk_ids.size(), 3u);
  std::vector<std::string> sealed;
  for (const auto& id : transfer.chunk_ids) sealed.push_back(*SyncState(*a_).ReadChunk(id));

  auto bytes = [](const std::string& s) { return crypto::AsBytes(s); };
  for (std::uint64_t i = 0; i < 3; ++i) {
    std::vector<std::pair<std::string, std::string>> lies;
    for (std::size_t pos : {std::size_t{0}, sealed[i].size() / 2, sealed[i].size() - 1}) {
      std::string flipped = sealed[i];
      flipped[pos] = static_cast<char>(flipped[pos] ^ 0x10);
      lies.emplace_back("a flipped byte", flipped);
    }
    lies.emplace_back("another chunk", sealed[(i + 1) % 3]);
    lies.emplace_back("a cut chunk", sealed[i].substr(0, sealed[i].size() - 1));
    lies.emplace_back("an extended chunk", sealed[i] + '\0');
    for (const auto& [what, lie] : lies) {
      auto stored = sb.StoreChunk(transfer.attachment_id, i, 3, bytes(lie));
      ASSERT_FALSE(stored) << what << " at chunk " << i << " was stored";
      EXPECT_EQ(stored.error().code, ErrorCode::kTampered) << what;
      EXPECT_NE(stored.error().message.find("altered chunk"), std::string::npos) << stored.error().message;
      EXPECT_FALSE(*sb.HasChunk(transfer.chunk_ids[i])) << what;
    }
  }
  // The honest chunks are still taken, and the attachment reads back whole.
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(sb.StoreChunk(transfer.attachment_id, i, 3, bytes(sealed[i])));
  ASSERT_TRUE(sb.CompleteDownload(transfer.attachment_id));
  std::string read;
  auto status = b->ReadAttachment(added->id, [&](crypto::ByteView part) -> Status {
    read.append(reinterpret_cast<const char*>(part.data()), part.size());
    return Ok();
  });
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_TRUE(read == original);
}

TEST_F(LyingServerTest, DroppedObjectIsDetected) {
  auto b = Join("b", 0);
  auto log = History();
  const auto honest = log;
  log.erase(log.begin() + 5);  // one of A's records
  ExpectRefused(*b, Page(log), "dropped");
  // Nothing of the refused page lingers: a later transaction in the same process
  // commits only its own change, and the vault reopens cleanly.
  ASSERT_TRUE(SyncState(*b).SaveConfig({"localhost:1", "", "", true}));
  b.reset();
  b = std::move(*Vault::Open(dir_ / "b", Pass()));
  EXPECT_EQ(SyncState(*b).membership().members().size(), 0u);
  EXPECT_EQ(SyncState(*b).pulled_seq(), 0u);
  auto applied = SyncState(*b).ApplyPulled(Page(honest));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 3u);
}

TEST_F(LyingServerTest, ReplayedObjectIsDetected) {
  auto b = Join("b", 0);
  auto log = History();
  log.push_back(log[4]);
  ExpectRefused(*b, Page(log), "replayed");
}

TEST_F(LyingServerTest, ReorderedObjectsAreDetected) {
  auto b = Join("b", 0);
  auto log = History();
  std::swap(log[4], log[5]);
  ExpectRefused(*b, Page(log), "dropped");
}

TEST_F(LyingServerTest, ServerSequenceGoingBackwardsIsDetected) {
  auto b = Join("b", 0);
  auto page = Page(History());
  page.mutable_objects(3)->set_server_seq(2);
  ExpectRefused(*b, page, "replayed or reordered");
}

TEST_F(LyingServerTest, EveryAlteredByteIsDetected) {
  auto b = Join("b", 0);
  const auto log = History();
  const std::string original = log[5].SerializeAsString();
  // Flip one byte at a spread of positions across the serialized envelope.
  int refused = 0;
  for (std::size_t pos = 0; pos < original.size(); pos += 7) {
    std::string bytes = original;
    bytes[pos] = static_cast<char>(bytes[pos] ^ 0x20);
    ObjectEnvelope altered;
    if (!altered.ParseFromString(bytes)) continue;  // would not even parse on the wire
    auto tampered = log;
    tampered[5] = altered;
    auto applied = SyncState(*b).ApplyPulled(Page(tampered));
    ASSERT_FALSE(applied) << "an altered byte at " << pos << " was accepted";
    EXPECT_EQ(applied.error().code, ErrorCode::kTampered);
    ++refused;
  }
  EXPECT_GT(refused, 20);
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 0u);
  ASSERT_TRUE(SyncState(*b).ApplyPulled(Page(log)));  // the honest history still applies
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 3u);
}

TEST_F(LyingServerTest, RollbackIsDetected) {
  auto b = Join("b", 0);
  const auto log = History();
  ASSERT_TRUE(SyncState(*b).ApplyPulled(Page(log)));
  // The server "restores a backup": it now claims fewer objects than B has seen.
  ExpectRefused(*b, Page({}, 1, log.size() - 3), "rolled back");
}

TEST_F(LyingServerTest, ClaimedButUnsentObjectsAreDetected) {
  auto b = Join("b", 0);
  ExpectRefused(*b, Page({}, 1, 5), "sends none");
}

TEST_F(LyingServerTest, WithheldHistoryIsCaughtWhenCheckpointsMeet) {
  auto c = Join("c", 1);
  auto b = Join("b", 0);
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"written after both joined"})"));
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"and another"})"));
  const auto log = History();
  // C is shown everything and checkpoints what it has seen.
  ASSERT_TRUE(SyncState(*c).ApplyPulled(Page(log)));
  ASSERT_TRUE(*SyncState(*c).WriteCheckpointIfNeeded());
  auto checkpoint = SyncState(*c).Unpushed(10, 1u << 20);
  ASSERT_TRUE(checkpoint && checkpoint->size() == 1u);
  // B is shown a valid-looking prefix of A's history (the last two records withheld)
  // followed by C's checkpoint: the checkpoint gives the server away.
  auto shown_to_b = log;
  shown_to_b.resize(log.size() - 2);
  shown_to_b.push_back((*checkpoint)[0]);
  ExpectRefused(*b, Page(shown_to_b), "withheld");
  // The whole history with the checkpoint is consistent.
  auto honest = log;
  honest.push_back((*checkpoint)[0]);
  auto applied = SyncState(*b).ApplyPulled(Page(honest));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 5u);
}

TEST_F(LyingServerTest, ForkedHistoryIsCaughtWhenCheckpointsMeet) {
  auto c = Join("c", 1);
  auto b = Join("b", 0);
  const auto common = History();
  // A device restored from a copy: two "A"s with the same keys write different
  // objects at the same place in A's chain; the server shows each office one of them.
  auto twin = TwinOfA();
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"version shown to office C"})"));
  ASSERT_TRUE(twin->AddRecord(case_id_, R"({"kind":"trial","title":"version shown to office B"})"));
  auto for_c = History();
  auto for_b = *SyncState(*twin).Unpushed(100000, 1u << 30);
  ASSERT_EQ(for_c.size(), for_b.size());
  ASSERT_EQ(for_c.back().author_seq(), for_b.back().author_seq());

  ASSERT_TRUE(SyncState(*c).ApplyPulled(Page(for_c)));
  ASSERT_TRUE(*SyncState(*c).WriteCheckpointIfNeeded());
  auto checkpoint = *SyncState(*c).Unpushed(10, 1u << 20);
  for_b.push_back(checkpoint[0]);
  ExpectRefused(*b, Page(for_b), "fork detected");
}

TEST_F(LyingServerTest, ObjectsFromNonMembersAreRefused) {
  auto b = Join("b", 0);
  // A device that was never admitted writes into the vault id: a forged history.
  ASSERT_TRUE(Vault::CreateJoining(dir_ / "stranger", Pass(), FastKdf(), a_->vault_id()));
  auto stranger = std::move(*Vault::Open(dir_ / "stranger", Pass()));
  auto invite = SyncState(*stranger).CreateInvite(sync::v1::MONITOR);
  EXPECT_FALSE(invite) << "a non-member could sign an invite locally";
  auto log = History();
  // Re-sign nothing: take A's INVITE and present it as the stranger's (author swap).
  ObjectEnvelope forged = log[1];
  forged.set_author(std::string(crypto::AsText(SyncState(*stranger).device().public_key())));
  forged.set_author_seq(1);
  forged.set_prev_hash("");
  forged.set_signature(std::string(crypto::AsText(SyncState(*stranger).device().Sign(crypto::AsBytes("x")))));
  log.push_back(forged);
  ExpectRefused(*b, Page(log), "altered");
}

// --- a server restored from a backup (a new incarnation) -------------------------------

sync::v1::PullResponse In(std::string incarnation, sync::v1::PullResponse page) {
  page.set_server_incarnation(std::move(incarnation));
  return page;
}

TEST_F(LyingServerTest, RestoredServerIsCheckedAgainNotRefusedAsRollback) {
  auto b = Join("b", 0);
  const auto log = History();
  const std::size_t kept = log.size() - 3;  // the backup was taken before A's last three objects
  ASSERT_TRUE(SyncState(*b).ApplyPulled(In("first", Page(log))));
  // The same server going back is a rollback.
  ExpectRefused(*b, In("first", Page({}, 1, kept)), "rolled back");

  // Restored: a new incarnation. The page is not applied; the pull starts again.
  auto noticed = SyncState(*b).ApplyPulled(In("second", Page({}, 1, kept)));
  ASSERT_TRUE(noticed) << noticed.error().message;
  EXPECT_TRUE(noticed->server_restored);
  EXPECT_EQ(SyncState(*b).pulled_seq(), 0u);

  // Its history from the start: every object is one B saw, checked and not applied again.
  const std::vector<ObjectEnvelope> prefix(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(kept));
  auto rechecked = SyncState(*b).ApplyPulled(In("second", Page(prefix)));
  ASSERT_TRUE(rechecked) << rechecked.error().message;
  EXPECT_FALSE(rechecked->server_restored);
  EXPECT_EQ(rechecked->rechecked, kept);
  EXPECT_EQ(rechecked->objects, 0u);
  EXPECT_EQ(SyncState(*b).pulled_seq(), kept);
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 3u);  // nothing B held is lost
  auto gap = SyncState(*b).GapOnServer();
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->others_objects, 3u);
  EXPECT_EQ(gap->other_devices, 1u);

  // A sends its lost objects again, after what another device pushed to the restored
  // server meanwhile: known objects are checked, new ones applied, in the new order.
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"written after the restore"})"));
  const auto again = History();
  std::vector<ObjectEnvelope> rest(again.begin() + static_cast<std::ptrdiff_t>(kept), again.end());
  auto caught_up = SyncState(*b).ApplyPulled(In("second", Page(rest, kept + 1)));
  ASSERT_TRUE(caught_up) << caught_up.error().message;
  EXPECT_EQ(caught_up->rechecked, 3u);
  EXPECT_EQ(caught_up->objects, rest.size() - 3);
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 4u);
  EXPECT_EQ(SyncState(*b).GapOnServer()->others_objects, 0u);
  // And the new incarnation, too, may not go back.
  ExpectRefused(*b, In("second", Page({}, 1, kept)), "rolled back");
}

TEST_F(LyingServerTest, RestoredServerShowingAnotherHistoryIsRefused) {
  auto b = Join("b", 0);
  // Two copies of A (same keys) write different objects at the same place in A's chain.
  auto twin = TwinOfA();
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"what B saw"})"));
  ASSERT_TRUE(twin->AddRecord(case_id_, R"({"kind":"trial","title":"what the restored server shows"})"));
  const auto seen = History();
  const auto other = *SyncState(*twin).Unpushed(100000, 1u << 30);
  ASSERT_TRUE(SyncState(*b).ApplyPulled(In("first", Page(seen))));

  // A "restore" is no licence to rewrite history B saw: valid signatures, another object.
  ASSERT_TRUE(SyncState(*b).ApplyPulled(In("second", Page({}, 1, 1)))->server_restored);
  ExpectRefused(*b, In("second", Page(other)), "history differs from what this device saw");
  // Nor to drop objects inside an author's chain.
  auto gapped = seen;
  gapped.erase(gapped.begin() + 4);
  ExpectRefused(*b, In("second", Page(gapped)), "dropped");
  // The honest restored history applies.
  auto honest = SyncState(*b).ApplyPulled(In("second", Page(seen)));
  ASSERT_TRUE(honest) << honest.error().message;
  EXPECT_EQ(honest->rechecked, seen.size());
  EXPECT_EQ(b->ListRecords(std::nullopt)->size(), 4u);
}

TEST_F(LyingServerTest, AuthorSendsAgainWhatRestoredServerLost) {
  // A's attachment after the backup point: its chunks must go up again too.
  const fs::path file = dir_ / "video.bin";
  {
    std::ofstream out(file, std::ios::binary);
    out << std::string(3 << 20, 'v');
  }
  const std::size_t kept = History().size();
  auto attachment = a_->AddAttachment(records_[1], file);
  ASSERT_TRUE(attachment) << attachment.error().message;
  ASSERT_TRUE(a_->AddRecord(case_id_, R"({"kind":"trial","title":"after the attachment"})"));
  const auto log = History();
  SyncState a(*a_);
  ASSERT_TRUE(a.PendingUploads()->size() == 1u);
  ASSERT_TRUE(a.MarkUploaded(attachment->id));
  ASSERT_TRUE(a.MarkPushed(log.back().author_seq()));
  ASSERT_TRUE(a.ApplyPulled(In("first", Page(log))));  // its own objects came back
  ASSERT_TRUE(a.Unpushed(100, 1u << 30)->empty());

  ASSERT_TRUE(a.ApplyPulled(In("second", Page({}, 1, kept)))->server_restored);
  const std::vector<ObjectEnvelope> prefix(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(kept));
  auto rechecked = a.ApplyPulled(In("second", Page(prefix)));
  ASSERT_TRUE(rechecked) << rechecked.error().message;
  EXPECT_EQ(rechecked->rechecked, kept);
  EXPECT_EQ(a.GapOnServer()->own_objects, log.size() - kept);
  EXPECT_EQ(a.Pending()->unpushed_objects, log.size() - kept);

  // The lost objects go up again byte for byte (same chain), the attachment with them.
  auto resend = a.Unpushed(100, 1u << 30);
  ASSERT_TRUE(resend) << resend.error().message;
  ASSERT_EQ(resend->size(), log.size() - kept);
  for (std::size_t i = 0; i < resend->size(); ++i) {
    EXPECT_EQ((*resend)[i].SerializeAsString(), log[kept + i].SerializeAsString()) << i;
  }
  auto uploads = a.PendingUploads();
  ASSERT_TRUE(uploads && uploads->size() == 1u);
  EXPECT_EQ((*uploads)[0].attachment_id, attachment->id);

  // Acknowledged part by part: the rest stays queued; then nothing is left.
  ASSERT_TRUE(a.MarkPushed(log[kept].author_seq()));
  EXPECT_EQ(a.Unpushed(100, 1u << 30)->size(), log.size() - kept - 1);
  ASSERT_TRUE(a.MarkPushed(log.back().author_seq()));
  EXPECT_TRUE(a.Unpushed(100, 1u << 30)->empty());
  EXPECT_EQ(a.GapOnServer()->own_objects, 0u);
  // When they come back, they are checked against what A wrote.
  const std::vector<ObjectEnvelope> rest(log.begin() + static_cast<std::ptrdiff_t>(kept), log.end());
  auto back = a.ApplyPulled(In("second", Page(rest, kept + 1)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->rechecked, rest.size());
}

TEST_F(LyingServerTest, HolderSendsBackOthersObjectsInTheirOldOrder) {
  auto b = Join("b", 0);
  const auto log = History();
  const std::size_t kept = log.size() - 4;
  SyncState sb(*b);
  ASSERT_TRUE(sb.ApplyPulled(In("first", Page(log))));
  EXPECT_TRUE(sb.PrepareRelay()->empty()) << "nothing to send back before a restore";

  ASSERT_TRUE(sb.ApplyPulled(In("second", Page({}, 1, kept)))->server_restored);
  const std::vector<ObjectEnvelope> prefix(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(kept));
  ASSERT_TRUE(sb.ApplyPulled(In("second", Page(prefix))));
  auto held = sb.PrepareRelay();
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 4u);
  for (std::size_t i = 0; i < held->size(); ++i) {
    auto envelope = sb.HeldObject((*held)[i]);
    ASSERT_TRUE(envelope);
    EXPECT_EQ(envelope->SerializeAsString(), log[kept + i].SerializeAsString()) << i;  // A's, unchanged, in order
  }
  // Once the server has them back (from B or from A), nothing is left to send.
  const std::vector<ObjectEnvelope> rest(log.begin() + static_cast<std::ptrdiff_t>(kept), log.end());
  ASSERT_TRUE(sb.ApplyPulled(In("second", Page(rest, kept + 1))));
  EXPECT_TRUE(sb.PrepareRelay()->empty());
}

}  // namespace
}  // namespace evault::vault
