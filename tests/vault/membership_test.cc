// vault::Membership: the rules every client and the server apply to signed membership
// operations. Operations are built by hand (membership_util.h), signed with
// ObjectCodec::SealPublic, and applied one by one; every refusal must leave the state
// exactly as it was.
#include "vault/membership.h"

#include <gtest/gtest.h>

#include <fmt/core.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crypto/identity.h"
#include "crypto/keys.h"
#include "tests/vault/membership_util.h"
#include "tests/vault/test_util.h"
#include "vault/keyring.h"

namespace evault::vault {
namespace {

using crypto::Bytes;
using sync::v1::Role;
using sync::v1::MembershipOp;
using sync::v1::SealedKey;
using testing::OpFactory;
using testing::Str;
using testing::TestDevice;

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::EnsureSodium(); }

  Status Apply(const TestDevice& author, const MembershipOp& op) { return m_.Apply(ops_.Sign(author, op)); }

  // Everything observable about the state, to check that a refusal changed nothing.
  std::string Snapshot() const {
    std::string s = fmt::format("vault={} epoch={} delivered={} grants={}\n", crypto::ToHex(m_.vault_id()),
                                m_.current_epoch(), m_.delivered().size(), m_.grants().size());
    for (const auto& [key, member] : m_.members()) {
      s += fmt::format("member {} box={} role={} revoked={} in={} admitted={}\n", crypto::ToHex(member.signing_key),
                       crypto::ToHex(member.box_key), static_cast<int>(member.role), member.revoked,
                       member.revoked_in_epoch, member.admitted);
      for (const auto& [from, role] : member.roles) s += fmt::format("  role {} from {}\n", static_cast<int>(role), from);
    }
    for (std::uint64_t e = 1; e <= m_.current_epoch(); ++e) {
      s += fmt::format("epoch {} {} {}\n", e, crypto::ToHex(m_.Epoch(e)->readers), crypto::ToHex(m_.Epoch(e)->members));
    }
    for (const auto& id : invite_ids_) {
      const OpenInvite* invite = m_.FindInvite(id);
      s += fmt::format("invite {} {}\n", crypto::ToHex(id), invite ? static_cast<int>(invite->role) : -1);
    }
    for (const auto& [who, tag] : m_.grants()) s += fmt::format("grant {} {}\n", crypto::ToHex(crypto::AsBytes(who)), crypto::ToHex(crypto::AsBytes(tag)));
    return s;
  }

  // Expects `op` signed by `author` to be refused with `code`, leaving the state alone.
  void ExpectRefused(const TestDevice& author, const MembershipOp& op, ErrorCode code = ErrorCode::kTampered) {
    ExpectEnvelopeRefused(ops_.Sign(author, op), code);
  }
  void ExpectEnvelopeRefused(const format::v1::ObjectEnvelope& e, ErrorCode code = ErrorCode::kTampered) {
    const std::string before = Snapshot();
    const std::size_t delivered = m_.delivered().size();
    const std::uint64_t epoch = m_.current_epoch();
    const std::size_t members = m_.members().size();
    EXPECT_ERROR(m_.Apply(e), code);
    EXPECT_EQ(m_.delivered().size(), delivered);
    EXPECT_EQ(m_.current_epoch(), epoch);
    EXPECT_EQ(m_.members().size(), members);
    EXPECT_EQ(Snapshot(), before);
  }

  Bytes NewInviteId() {
    invite_ids_.push_back(crypto::RandomBytes(32));
    return invite_ids_.back();
  }

  // Invites and admits `who` as `role` (invite and admission signed by `by`).
  void Join(const TestDevice& by, const TestDevice& who, Role role, std::vector<SealedKey> keys = {}) {
    const Bytes invite = NewInviteId();
    ASSERT_OK(Apply(by, OpFactory::Invite(role, invite)));
    MembershipOp admit = OpFactory::Admit(who, role, invite);
    for (auto& k : keys) *admit.add_keys() = std::move(k);
    ASSERT_OK(Apply(by, admit));
  }

  // GENESIS, then a coordinator, a monitor and a legal device, with their epoch-1 keys.
  void Populate() {
    ASSERT_OK(Apply(owner_, ops_.Genesis(owner_)));
    Join(owner_, coordinator_, sync::v1::COORDINATOR, {ops_.EpochSecretTo(coordinator_, 1)});
    Join(owner_, monitor_, sync::v1::MONITOR, {ops_.MembersSeedTo(monitor_, 1)});
    Join(owner_, legal_, sync::v1::LEGAL);
    ASSERT_EQ(m_.members().size(), 4u);
    ASSERT_EQ(m_.delivered().size(), 3u);
  }

  // The owner revokes `who`, beginning epoch current+1 with keys for owner and coordinator.
  void RevokeAsOwner(const TestDevice& who, Role role) {
    const std::uint64_t next = m_.current_epoch() + 1;
    MembershipOp op = ops_.Revoke(who, role, next);
    *op.add_keys() = ops_.EpochSecretTo(owner_, next);
    if (&who != &coordinator_ && m_.IsActive(coordinator_.id())) {
      *op.add_keys() = ops_.EpochSecretTo(coordinator_, next);
    }
    ASSERT_OK(Apply(owner_, op));
  }

  MembershipOp ShareOf(std::vector<SealedKey> keys) {
    MembershipOp op = OpFactory::Share();
    for (auto& k : keys) *op.add_keys() = std::move(k);
    return op;
  }

  OpFactory ops_;
  Membership m_;
  TestDevice owner_, coordinator_, monitor_, legal_, stranger_;
  std::vector<Bytes> invite_ids_;
  const Bytes case_id_ = crypto::RandomBytes(kIdBytes);
  const crypto::BoxKeyPair case_key_ = crypto::BoxKeyPair::Generate();
};

TEST_F(MembershipTest, ValidSequence) {
  EXPECT_TRUE(m_.empty());
  EXPECT_EQ(m_.current_epoch(), 0u);
  EXPECT_EQ(m_.Epoch(1), nullptr);

  // GENESIS: the owner, epoch 1, its secret sealed to the owner.
  ASSERT_OK(Apply(owner_, ops_.Genesis(owner_)));
  EXPECT_FALSE(m_.empty());
  EXPECT_EQ(m_.vault_id(), ops_.vault_id());
  EXPECT_EQ(m_.RoleOf(owner_.id()), sync::v1::OWNER);
  EXPECT_EQ(m_.current_epoch(), 1u);
  ASSERT_NE(m_.Epoch(1), nullptr);
  EXPECT_EQ(m_.Epoch(1)->readers, ops_.Pairs(1).readers.public_key());
  EXPECT_EQ(m_.Epoch(1)->members, ops_.Pairs(1).members.public_key());
  EXPECT_EQ(m_.Epoch(2), nullptr);
  EXPECT_EQ(m_.Epoch(0), nullptr);
  ASSERT_EQ(m_.delivered().size(), 1u);
  EXPECT_EQ(m_.delivered()[0].recipient(), owner_.key());
  EXPECT_TRUE(m_.HasDelivered(owner_.id(), SealedKey::EPOCH_SECRET, 1));
  ASSERT_NE(m_.Find(owner_.id()), nullptr);
  EXPECT_EQ(m_.Find(owner_.id())->box_key, owner_.box.public_key());

  // INVITE and ADMIT a coordinator (by the owner), with its epoch secret.
  const Bytes coordinator_invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::COORDINATOR, coordinator_invite)));
  const OpenInvite* invite = m_.FindInvite(coordinator_invite);
  ASSERT_NE(invite, nullptr);
  EXPECT_EQ(invite->role, sync::v1::COORDINATOR);
  EXPECT_EQ(invite->inviter, owner_.signing.public_key());
  MembershipOp admit = OpFactory::Admit(coordinator_, sync::v1::COORDINATOR, coordinator_invite);
  *admit.add_keys() = ops_.EpochSecretTo(coordinator_, 1);
  ASSERT_OK(Apply(owner_, admit));
  EXPECT_EQ(m_.FindInvite(coordinator_invite), nullptr) << "an answered invite must close";
  EXPECT_EQ(m_.RoleOf(coordinator_.id()), sync::v1::COORDINATOR);
  EXPECT_EQ(m_.Find(coordinator_.id())->admitted, admit.created());

  // The coordinator invites and admits a monitor (members seed) and two more devices.
  TestDevice monitor2;
  Join(coordinator_, monitor_, sync::v1::MONITOR, {ops_.MembersSeedTo(monitor_, 1)});
  Join(coordinator_, monitor2, sync::v1::MONITOR, {ops_.MembersSeedTo(monitor2, 1)});
  // The owner's invite answered by the coordinator: any admitter may answer an open invite.
  const Bytes legal_invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::LEGAL, legal_invite)));
  ASSERT_OK(Apply(coordinator_, OpFactory::Admit(legal_, sync::v1::LEGAL, legal_invite)));
  EXPECT_EQ(m_.RoleOf(legal_.id()), sync::v1::LEGAL);
  EXPECT_EQ(m_.members().size(), 5u);
  EXPECT_EQ(m_.delivered().size(), 4u);

  // SHARE: the coordinator grants the legal device a case (epoch 1).
  ASSERT_OK(Apply(coordinator_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)})));
  const crypto::SymmetricKey tag_key = ops_.TagKey();
  const Bytes case_tag = CaseTag(tag_key, case_id_);
  const Bytes key_tag = CaseKeyTag(tag_key, case_key_.public_key());
  EXPECT_TRUE(m_.grants().contains({legal_.key(), Str(case_tag)}));
  EXPECT_TRUE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 1, key_tag));

  // REVOKE: the owner revokes the first monitor; epoch 2 begins, keys for the rest.
  MembershipOp revoke = ops_.Revoke(monitor_, sync::v1::MONITOR, 2);
  *revoke.add_keys() = ops_.EpochSecretTo(owner_, 2);
  *revoke.add_keys() = ops_.EpochSecretTo(coordinator_, 2);
  *revoke.add_keys() = ops_.MembersSeedTo(monitor2, 2);
  ASSERT_OK(Apply(owner_, revoke));
  EXPECT_EQ(m_.current_epoch(), 2u);
  ASSERT_NE(m_.Epoch(2), nullptr);
  EXPECT_EQ(m_.Epoch(2)->readers, ops_.Pairs(2).readers.public_key());
  EXPECT_EQ(m_.Epoch(2)->members, ops_.Pairs(2).members.public_key());
  EXPECT_NE(m_.Epoch(2)->readers, m_.Epoch(1)->readers);
  const Member* revoked = m_.Find(monitor_.id());
  ASSERT_NE(revoked, nullptr);
  EXPECT_TRUE(revoked->revoked);
  EXPECT_EQ(revoked->revoked_in_epoch, 2u);
  EXPECT_EQ(revoked->role, sync::v1::MONITOR);
  EXPECT_FALSE(m_.RoleOf(monitor_.id()).has_value());
  EXPECT_FALSE(m_.IsActive(monitor_.id()));
  EXPECT_FALSE(m_.CanWrite(monitor_.id()));
  EXPECT_EQ(m_.members().size(), 5u) << "a revoked member stays on record";

  // SHARE by the owner: the case's epoch-2 key to the legal device.
  const crypto::BoxKeyPair case_key2 = crypto::BoxKeyPair::Generate();
  ASSERT_OK(Apply(owner_, ShareOf({ops_.CaseKeyTo(legal_, 2, case_id_, case_key2)})));
  EXPECT_EQ(m_.delivered().size(), 9u);
  EXPECT_EQ(m_.grants().size(), 1u) << "one case granted to one device, whatever the epochs";

  // Capabilities by role.
  for (const TestDevice* d : {&owner_, &coordinator_, &monitor2}) EXPECT_TRUE(m_.CanWrite(d->id()));
  EXPECT_FALSE(m_.CanWrite(legal_.id()));
  EXPECT_TRUE(m_.IsActive(legal_.id()));
  EXPECT_TRUE(m_.CanAdmit(owner_.id()));
  EXPECT_TRUE(m_.CanAdmit(coordinator_.id()));
  for (const TestDevice* d : {&monitor2, &legal_, &monitor_, &stranger_}) EXPECT_FALSE(m_.CanAdmit(d->id()));
  EXPECT_TRUE(m_.CanRevoke(owner_.id()));
  for (const TestDevice* d : {&coordinator_, &monitor2, &legal_}) EXPECT_FALSE(m_.CanRevoke(d->id()));
  EXPECT_EQ(m_.Find(stranger_.id()), nullptr);
  EXPECT_FALSE(m_.RoleOf(stranger_.id()).has_value());
}

// Replaying the same log into a fresh state gives the same state (clients and server agree).
TEST_F(MembershipTest, ReplayGivesTheSameState) {
  std::vector<format::v1::ObjectEnvelope> log;
  auto record = [&](const TestDevice& author, const MembershipOp& op) {
    log.push_back(ops_.Sign(author, op));
    ASSERT_OK(m_.Apply(log.back()));
  };
  record(owner_, ops_.Genesis(owner_));
  const Bytes invite = NewInviteId();
  record(owner_, OpFactory::Invite(sync::v1::LEGAL, invite));
  record(owner_, OpFactory::Admit(legal_, sync::v1::LEGAL, invite));
  record(owner_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)}));
  MembershipOp revoke = ops_.Revoke(legal_, sync::v1::LEGAL, 2);
  *revoke.add_keys() = ops_.EpochSecretTo(owner_, 2);
  record(owner_, revoke);

  Membership replayed;
  for (const auto& e : log) ASSERT_OK(replayed.Apply(e));
  EXPECT_EQ(replayed.current_epoch(), m_.current_epoch());
  EXPECT_EQ(replayed.delivered().size(), m_.delivered().size());
  EXPECT_EQ(replayed.grants(), m_.grants());
  EXPECT_EQ(replayed.members().size(), m_.members().size());
  EXPECT_TRUE(replayed.Find(legal_.id())->revoked);
  // Applying an operation twice is refused (its invite is closed, its epoch has begun...).
  ExpectEnvelopeRefused(log[2]);
  ExpectEnvelopeRefused(log[4]);
}

TEST_F(MembershipTest, NothingBeforeGenesis) {
  const Bytes invite = NewInviteId();
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite));
  ExpectRefused(owner_, ShareOf({ops_.EpochSecretTo(owner_, 1)}));
  EXPECT_TRUE(m_.empty());
  EXPECT_TRUE(m_.vault_id().empty());
}

TEST_F(MembershipTest, SecondGenesisRefused) {
  ASSERT_OK(Apply(owner_, ops_.Genesis(owner_)));
  ExpectRefused(owner_, ops_.Genesis(owner_));
  ExpectRefused(stranger_, ops_.Genesis(stranger_));
  EXPECT_EQ(m_.RoleOf(owner_.id()), sync::v1::OWNER);
  EXPECT_EQ(m_.Find(stranger_.id()), nullptr);
}

TEST_F(MembershipTest, MalformedGenesisRefused) {
  using Mutation = std::function<void(MembershipOp&)>;
  const std::pair<const char*, Mutation> mutations[] = {
      {"no readers key", [](auto& op) { op.clear_epoch_readers_key(); }},
      {"no members key", [](auto& op) { op.clear_epoch_members_key(); }},
      {"short readers key", [](auto& op) { op.mutable_epoch_readers_key()->pop_back(); }},
      {"no epoch", [](auto& op) { op.clear_epoch(); }},
      {"epoch 2", [](auto& op) { op.set_epoch(2); }},
      {"no keys", [](auto& op) { op.clear_keys(); }},
      {"two keys", [&](auto& op) { *op.add_keys() = ops_.EpochSecretTo(owner_, 1); }},
      {"key of epoch 2", [](auto& op) { op.mutable_keys(0)->set_epoch(2); }},
      {"members seed instead", [](auto& op) { op.mutable_keys(0)->set_kind(SealedKey::MEMBERS_SEED); }},
      {"key to another device", [&](auto& op) { *op.mutable_keys(0) = ops_.EpochSecretTo(stranger_, 1); }},
      {"empty sealed key", [](auto& op) { op.mutable_keys(0)->clear_sealed(); }},
      {"role coordinator", [](auto& op) { op.set_role(sync::v1::COORDINATOR); }},
      {"short subject key", [](auto& op) { op.mutable_subject()->mutable_signing_key()->pop_back(); }},
      {"no subject box key", [](auto& op) { op.mutable_subject()->clear_box_key(); }},
  };
  for (const auto& [what, mutate] : mutations) {
    SCOPED_TRACE(what);
    MembershipOp op = ops_.Genesis(owner_);
    mutate(op);
    ExpectRefused(owner_, op);
    EXPECT_TRUE(m_.empty());
  }
  // GENESIS naming someone else as owner (signed by the stranger).
  ExpectRefused(stranger_, ops_.Genesis(owner_));
  EXPECT_TRUE(m_.empty());
  // The untouched GENESIS still applies.
  EXPECT_OK(Apply(owner_, ops_.Genesis(owner_)));
}

TEST_F(MembershipTest, InviteAdmitShareOnlyByOwnersAndCoordinators) {
  Populate();
  const Bytes invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::MONITOR, invite)));
  TestDevice newcomer;
  for (const TestDevice* who : {&monitor_, &legal_, &stranger_}) {
    SCOPED_TRACE(who == &monitor_ ? "monitor" : who == &legal_ ? "legal" : "stranger");
    ExpectRefused(*who, OpFactory::Invite(sync::v1::MONITOR, crypto::RandomBytes(32)));
    ExpectRefused(*who, OpFactory::Admit(newcomer, sync::v1::MONITOR, invite));
    ExpectRefused(*who, ShareOf({ops_.EpochSecretTo(coordinator_, 1)}));
  }
  // A revoked coordinator may no longer do any of it.
  RevokeAsOwner(coordinator_, sync::v1::COORDINATOR);
  ExpectRefused(coordinator_, OpFactory::Invite(sync::v1::MONITOR, crypto::RandomBytes(32)));
  ExpectRefused(coordinator_, OpFactory::Admit(newcomer, sync::v1::MONITOR, invite));
  ExpectRefused(coordinator_, ShareOf({ops_.MembersSeedTo(monitor_, 2)}));
  // The open invite is still there for a legitimate admitter.
  EXPECT_OK(Apply(owner_, OpFactory::Admit(newcomer, sync::v1::MONITOR, invite)));
}

TEST_F(MembershipTest, BadInvitesRefused) {
  Populate();
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::OWNER, crypto::RandomBytes(32)));
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::ROLE_UNSPECIFIED, crypto::RandomBytes(32)));
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::MONITOR, crypto::RandomBytes(31)));
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::MONITOR, {}));
  const Bytes invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::MONITOR, invite)));
  ExpectRefused(coordinator_, OpFactory::Invite(sync::v1::LEGAL, invite));  // reused while open
  MembershipOp with_keys = OpFactory::Invite(sync::v1::COORDINATOR, crypto::RandomBytes(32));
  *with_keys.add_keys() = ops_.EpochSecretTo(coordinator_, 1);
  ExpectRefused(owner_, with_keys);
}

TEST_F(MembershipTest, BadAdmissionsRefused) {
  Populate();
  const Bytes invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::MONITOR, invite)));
  TestDevice newcomer;
  ExpectRefused(owner_, OpFactory::Admit(newcomer, sync::v1::MONITOR, crypto::RandomBytes(32)));  // no such invite
  ExpectRefused(owner_, OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite));              // another role
  ExpectRefused(owner_, OpFactory::Admit(newcomer, sync::v1::OWNER, invite));
  ExpectRefused(owner_, OpFactory::Admit(monitor_, sync::v1::MONITOR, invite));  // already a member
  ExpectRefused(owner_, OpFactory::Admit(owner_, sync::v1::MONITOR, invite));
  MembershipOp short_key = OpFactory::Admit(newcomer, sync::v1::MONITOR, invite);
  short_key.mutable_subject()->mutable_box_key()->pop_back();
  ExpectRefused(owner_, short_key);
  ASSERT_OK(Apply(owner_, OpFactory::Admit(newcomer, sync::v1::MONITOR, invite)));
  // The invite is spent, and its id cannot be announced again (whoever learnt the
  // secret could otherwise join through it).
  TestDevice second;
  ExpectRefused(owner_, OpFactory::Admit(second, sync::v1::MONITOR, invite));
  ExpectRefused(owner_, OpFactory::Invite(sync::v1::MONITOR, invite));
  ExpectRefused(coordinator_, OpFactory::Invite(sync::v1::COORDINATOR, invite));
  ExpectRefused(owner_, OpFactory::Admit(second, sync::v1::MONITOR, invite));
}

TEST_F(MembershipTest, AdmitKeysGoToTheSubjectOnly) {
  Populate();
  const Bytes invite = NewInviteId();
  ASSERT_OK(Apply(owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite)));
  TestDevice newcomer;
  // A key for an existing coordinator smuggled into someone's admission.
  MembershipOp op = OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite);
  *op.add_keys() = ops_.EpochSecretTo(newcomer, 1);
  *op.add_keys() = ops_.EpochSecretTo(coordinator_, 1);
  ExpectRefused(owner_, op);
  // ... or to a stranger, or to the owner.
  MembershipOp to_stranger = OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite);
  *to_stranger.add_keys() = ops_.EpochSecretTo(stranger_, 1);
  ExpectRefused(owner_, to_stranger);
  // Role-appropriate keys: a coordinator gets epoch secrets, not members seeds.
  MembershipOp seed = OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite);
  *seed.add_keys() = ops_.MembersSeedTo(newcomer, 1);
  ExpectRefused(owner_, seed);
  // A key for an epoch that has not begun.
  MembershipOp future = OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite);
  *future.add_keys() = ops_.EpochSecretTo(newcomer, 2);
  ExpectRefused(owner_, future);
  EXPECT_NE(m_.FindInvite(invite), nullptr) << "a refused admission leaves its invite open";

  MembershipOp good = OpFactory::Admit(newcomer, sync::v1::COORDINATOR, invite);
  *good.add_keys() = ops_.EpochSecretTo(newcomer, 1);
  ASSERT_OK(Apply(owner_, good));
  EXPECT_TRUE(m_.HasDelivered(newcomer.id(), SealedKey::EPOCH_SECRET, 1));
}

TEST_F(MembershipTest, AdmissionKeysMustSuitTheRole) {
  Populate();
  struct Case {
    const char* what;
    Role role;
    std::function<SealedKey(const TestDevice&)> key;
  };
  const Case cases[] = {
      {"epoch secret to a monitor", sync::v1::MONITOR, [&](const TestDevice& d) { return ops_.EpochSecretTo(d, 1); }},
      {"epoch secret to a legal device", sync::v1::LEGAL, [&](const TestDevice& d) { return ops_.EpochSecretTo(d, 1); }},
      {"members seed to a legal device", sync::v1::LEGAL, [&](const TestDevice& d) { return ops_.MembersSeedTo(d, 1); }},
      {"case key to a monitor", sync::v1::MONITOR,
       [&](const TestDevice& d) { return ops_.CaseKeyTo(d, 1, case_id_, case_key_); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const Bytes invite = NewInviteId();
    ASSERT_OK(Apply(owner_, OpFactory::Invite(c.role, invite)));
    TestDevice newcomer;
    MembershipOp op = OpFactory::Admit(newcomer, c.role, invite);
    *op.add_keys() = c.key(newcomer);
    ExpectRefused(owner_, op);
  }
}

TEST_F(MembershipTest, SharedKeysMustSuitTheRecipientsRole) {
  Populate();
  TestDevice monitor2;
  Join(owner_, monitor2, sync::v1::MONITOR);
  // EPOCH_SECRET only to owners and coordinators.
  ExpectRefused(owner_, ShareOf({ops_.EpochSecretTo(monitor_, 1)}));
  ExpectRefused(coordinator_, ShareOf({ops_.EpochSecretTo(legal_, 1)}));
  // MEMBERS_SEED only to monitors.
  ExpectRefused(owner_, ShareOf({ops_.MembersSeedTo(coordinator_, 1)}));
  ExpectRefused(owner_, ShareOf({ops_.MembersSeedTo(owner_, 1)}));
  ExpectRefused(owner_, ShareOf({ops_.MembersSeedTo(legal_, 1)}));
  // CASE_KEY only to legal devices.
  ExpectRefused(owner_, ShareOf({ops_.CaseKeyTo(monitor_, 1, case_id_, case_key_)}));
  ExpectRefused(owner_, ShareOf({ops_.CaseKeyTo(coordinator_, 1, case_id_, case_key_)}));
  // One bad key spoils the whole operation, however many good ones come with it.
  ExpectRefused(owner_, ShareOf({ops_.MembersSeedTo(monitor2, 1), ops_.EpochSecretTo(monitor_, 1)}));
  EXPECT_FALSE(m_.HasDelivered(monitor2.id(), SealedKey::MEMBERS_SEED, 1));
  // The good ones alone are accepted.
  ASSERT_OK(Apply(owner_, ShareOf({ops_.MembersSeedTo(monitor2, 1), ops_.EpochSecretTo(coordinator_, 1)})));
  EXPECT_TRUE(m_.HasDelivered(monitor2.id(), SealedKey::MEMBERS_SEED, 1));
}

TEST_F(MembershipTest, MalformedSharedKeysRefused) {
  Populate();
  // Case keys need 16-byte case and key tags.
  using Mutation = std::function<void(SealedKey&)>;
  const std::pair<const char*, Mutation> case_key_mutations[] = {
      {"no case tag", [](auto& k) { k.clear_case_tag(); }},
      {"no key tag", [](auto& k) { k.clear_key_tag(); }},
      {"short case tag", [](auto& k) { k.mutable_case_tag()->pop_back(); }},
      {"long key tag", [](auto& k) { k.mutable_key_tag()->push_back('x'); }},
      {"32-byte case tag", [](auto& k) { k.set_case_tag(std::string(32, 'c')); }},
      {"epoch 0", [](auto& k) { k.set_epoch(0); }},
      {"epoch not begun", [](auto& k) { k.set_epoch(2); }},
      {"empty sealed", [](auto& k) { k.clear_sealed(); }},
      {"oversized sealed", [](auto& k) { k.set_sealed(std::string(129, 's')); }},
      {"unknown kind", [](auto& k) { k.set_kind(SealedKey::KIND_UNSPECIFIED); }},
      {"not a member", [&](auto& k) { k.set_recipient(stranger_.key()); }},
  };
  for (const auto& [what, mutate] : case_key_mutations) {
    SCOPED_TRACE(what);
    SealedKey k = ops_.CaseKeyTo(legal_, 1, case_id_, case_key_);
    mutate(k);
    ExpectRefused(coordinator_, ShareOf({k}));
  }
  // Epoch keys must not carry case tags.
  SealedKey tagged = ops_.EpochSecretTo(coordinator_, 1);
  tagged.set_case_tag(std::string(16, 't'));
  ExpectRefused(owner_, ShareOf({tagged}));
  SealedKey key_tagged = ops_.MembersSeedTo(monitor_, 1);
  key_tagged.set_key_tag(std::string(16, 't'));
  ExpectRefused(owner_, ShareOf({key_tagged}));
  // An empty SHARE says nothing.
  ExpectRefused(owner_, OpFactory::Share());
  EXPECT_TRUE(m_.grants().empty());
  // The untouched case key is accepted.
  ASSERT_OK(Apply(coordinator_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)})));
  EXPECT_EQ(m_.grants().size(), 1u);
}

TEST_F(MembershipTest, RevokeOnlyByTheOwner) {
  Populate();
  for (const TestDevice* who : {&coordinator_, &monitor_, &legal_, &stranger_}) {
    MembershipOp op = ops_.Revoke(legal_, sync::v1::LEGAL, 2);
    *op.add_keys() = ops_.EpochSecretTo(owner_, 2);
    ExpectRefused(*who, op);
  }
  // Not itself, not a stranger.
  ExpectRefused(owner_, ops_.Revoke(owner_, sync::v1::OWNER, 2));
  ExpectRefused(owner_, ops_.Revoke(stranger_, sync::v1::MONITOR, 2));
  EXPECT_FALSE(m_.Find(legal_.id())->revoked);
  EXPECT_EQ(m_.current_epoch(), 1u);
}

TEST_F(MembershipTest, RevokeMustBeginTheNextEpoch) {
  Populate();
  for (std::uint64_t epoch : {0ull, 1ull, 3ull, 7ull}) {
    SCOPED_TRACE(epoch);
    ExpectRefused(owner_, ops_.Revoke(monitor_, sync::v1::MONITOR, epoch));
  }
  MembershipOp no_keys = ops_.Revoke(monitor_, sync::v1::MONITOR, 2);
  no_keys.clear_epoch_readers_key();
  ExpectRefused(owner_, no_keys);
  MembershipOp short_members = ops_.Revoke(monitor_, sync::v1::MONITOR, 2);
  short_members.mutable_epoch_members_key()->pop_back();
  ExpectRefused(owner_, short_members);

  RevokeAsOwner(monitor_, sync::v1::MONITOR);
  EXPECT_EQ(m_.current_epoch(), 2u);
  // Revoking again, or the next one with the epoch that has just begun, is refused.
  ExpectRefused(owner_, ops_.Revoke(monitor_, sync::v1::MONITOR, 3));
  ExpectRefused(owner_, ops_.Revoke(legal_, sync::v1::LEGAL, 2));
  MembershipOp next = ops_.Revoke(legal_, sync::v1::LEGAL, 3);
  *next.add_keys() = ops_.EpochSecretTo(owner_, 3);
  EXPECT_OK(Apply(owner_, next));
  EXPECT_EQ(m_.current_epoch(), 3u);
  EXPECT_EQ(m_.Find(legal_.id())->revoked_in_epoch, 3u);
}

TEST_F(MembershipTest, RevokeKeysNeverReachTheRevokedDevice) {
  Populate();
  // The new epoch's secret sealed to the coordinator being revoked.
  MembershipOp op = ops_.Revoke(coordinator_, sync::v1::COORDINATOR, 2);
  *op.add_keys() = ops_.EpochSecretTo(owner_, 2);
  *op.add_keys() = ops_.EpochSecretTo(coordinator_, 2);
  ExpectRefused(owner_, op);
  // The new epoch's members seed sealed to the monitor being revoked.
  MembershipOp seed = ops_.Revoke(monitor_, sync::v1::MONITOR, 2);
  *seed.add_keys() = ops_.MembersSeedTo(monitor_, 2);
  ExpectRefused(owner_, seed);
  // Role rules hold inside REVOKE too: the new epoch secret to a monitor.
  MembershipOp wrong_role = ops_.Revoke(legal_, sync::v1::LEGAL, 2);
  *wrong_role.add_keys() = ops_.EpochSecretTo(monitor_, 2);
  ExpectRefused(owner_, wrong_role);
  // A key of an epoch beyond the one beginning.
  MembershipOp beyond = ops_.Revoke(legal_, sync::v1::LEGAL, 2);
  *beyond.add_keys() = ops_.EpochSecretTo(owner_, 3);
  ExpectRefused(owner_, beyond);
  EXPECT_FALSE(m_.Find(coordinator_.id())->revoked);
  EXPECT_FALSE(m_.HasDelivered(coordinator_.id(), SealedKey::EPOCH_SECRET, 2));
}

// Stale-safe rule: after a revocation, keys of an epoch the revoked device already had
// may still name it (an honest sharer that had not yet seen the revocation), keys of
// the new epoch may not.
TEST_F(MembershipTest, ShareAfterRevocationOnlyOldEpochsToTheRevokedDevice) {
  Populate();
  RevokeAsOwner(coordinator_, sync::v1::COORDINATOR);
  ExpectRefused(owner_, ShareOf({ops_.EpochSecretTo(coordinator_, 2)}));
  // Mixed with a good key, still refused whole.
  ExpectRefused(owner_, ShareOf({ops_.MembersSeedTo(monitor_, 2), ops_.EpochSecretTo(coordinator_, 2)}));
  EXPECT_FALSE(m_.HasDelivered(monitor_.id(), SealedKey::MEMBERS_SEED, 2));

  const std::size_t delivered = m_.delivered().size();
  ASSERT_OK(Apply(owner_, ShareOf({ops_.EpochSecretTo(coordinator_, 1)})));
  EXPECT_EQ(m_.delivered().size(), delivered + 1);

  // A revoked legal device: its old-epoch case key is fine, the new epoch's is not.
  RevokeAsOwner(legal_, sync::v1::LEGAL);
  EXPECT_EQ(m_.current_epoch(), 3u);
  ExpectRefused(owner_, ShareOf({ops_.CaseKeyTo(legal_, 3, case_id_, case_key_)}));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.CaseKeyTo(legal_, 2, case_id_, case_key_)})));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)})));
}

TEST_F(MembershipTest, ForgedSignatureRefused) {
  Populate();
  const Bytes invite = crypto::RandomBytes(32);
  auto flipped = ops_.Sign(owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite));
  (*flipped.mutable_signature())[3] ^= 1;
  ExpectEnvelopeRefused(flipped);
  // Signed by a stranger, claiming to be the owner.
  auto impostor = ops_.Sign(stranger_, OpFactory::Invite(sync::v1::COORDINATOR, invite));
  impostor.set_author(owner_.key());
  ExpectEnvelopeRefused(impostor);
  // The body changed after signing (a monitor's invite turned into a coordinator's).
  auto changed = ops_.Sign(owner_, OpFactory::Invite(sync::v1::MONITOR, invite));
  changed.set_public_body(OpFactory::Invite(sync::v1::COORDINATOR, invite).SerializeAsString());
  ExpectEnvelopeRefused(changed);
  auto unsigned_op = ops_.Sign(owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite));
  unsigned_op.clear_signature();
  ExpectEnvelopeRefused(unsigned_op);
  EXPECT_EQ(m_.FindInvite(invite), nullptr);
}

TEST_F(MembershipTest, OperationOfAnotherVaultRefused) {
  Populate();
  const Bytes other_vault = crypto::RandomBytes(16);
  const Bytes invite = crypto::RandomBytes(32);
  ExpectEnvelopeRefused(ops_.SignFor(other_vault, owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite)));
  ExpectEnvelopeRefused(ops_.SignFor({}, owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite)));
  EXPECT_EQ(m_.FindInvite(invite), nullptr);
  EXPECT_OK(m_.Apply(ops_.SignFor(ops_.vault_id(), owner_, OpFactory::Invite(sync::v1::COORDINATOR, invite))));
}

// A GENESIS must name its vault: an empty id would turn the "another vault" check off
// for every later operation.
TEST_F(MembershipTest, GenesisWithoutVaultIdRefused) {
  const auto applied = m_.Apply(ops_.SignFor({}, owner_, ops_.Genesis(owner_)));
  EXPECT_FALSE(applied.has_value()) << "a GENESIS without a vault id was accepted";
  if (applied) {
    // Accepted anyway: then at least another vault's operations must still be refused.
    ExpectEnvelopeRefused(
        ops_.SignFor(crypto::RandomBytes(16), owner_, OpFactory::Invite(sync::v1::MONITOR, crypto::RandomBytes(32))));
  }
}

TEST_F(MembershipTest, MalformedOperationRefused) {
  Populate();
  ObjectCodec codec(ops_.vault_id(), &owner_.signing);
  ExpectEnvelopeRefused(codec.SealPublic(crypto::RandomBytes(kIdBytes), crypto::AsBytes("\xff\xff not a proto"), 99, {}),
                        ErrorCode::kCorrupt);
  MembershipOp unspecified;
  unspecified.set_created("x");
  ExpectEnvelopeRefused(codec.SealPublic(crypto::RandomBytes(kIdBytes), crypto::AsBytes(unspecified.SerializeAsString()),
                                         100, {}),
                        ErrorCode::kCorrupt);
}

// --- CHANGE_ROLE: the owner moves a member to another role, beginning a new epoch ---

TEST_F(MembershipTest, ChangeRoleBeginsAnEpochAndRecordsTheRoleHistory) {
  Populate();
  MembershipOp op = ops_.ChangeRole(coordinator_, sync::v1::MONITOR, 2);
  *op.add_keys() = ops_.EpochSecretTo(owner_, 2);
  *op.add_keys() = ops_.MembersSeedTo(coordinator_, 2);  // the demoted device as a monitor
  *op.add_keys() = ops_.MembersSeedTo(monitor_, 2);
  ASSERT_OK(Apply(owner_, op));
  EXPECT_EQ(m_.current_epoch(), 2u);
  EXPECT_EQ(m_.Epoch(2)->readers, ops_.Pairs(2).readers.public_key());
  EXPECT_EQ(m_.RoleOf(coordinator_.id()), sync::v1::MONITOR);
  EXPECT_FALSE(m_.CanAdmit(coordinator_.id()));
  EXPECT_TRUE(m_.CanWrite(coordinator_.id()));
  const Member* m = m_.Find(coordinator_.id());
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->revoked);
  EXPECT_EQ(m->RoleAt(1), sync::v1::COORDINATOR);
  EXPECT_EQ(m->RoleAt(2), sync::v1::MONITOR);
  EXPECT_EQ(m->RoleAt(9), sync::v1::MONITOR);
  EXPECT_TRUE(m_.HasDelivered(coordinator_.id(), SealedKey::MEMBERS_SEED, 2));

  // Promoted back later: its role history keeps every step.
  MembershipOp back = ops_.ChangeRole(coordinator_, sync::v1::COORDINATOR, 3);
  *back.add_keys() = ops_.EpochSecretTo(coordinator_, 3);
  *back.add_keys() = ops_.EpochSecretTo(coordinator_, 2);  // the epoch it missed as a monitor
  ASSERT_OK(Apply(owner_, back));
  m = m_.Find(coordinator_.id());
  EXPECT_EQ(m->RoleAt(1), sync::v1::COORDINATOR);
  EXPECT_EQ(m->RoleAt(2), sync::v1::MONITOR);
  EXPECT_EQ(m->RoleAt(3), sync::v1::COORDINATOR);
  EXPECT_TRUE(m_.CanAdmit(coordinator_.id()));
}

TEST_F(MembershipTest, BadRoleChangesRefused) {
  Populate();
  // Only the owner changes roles.
  for (const TestDevice* who : {&coordinator_, &monitor_, &legal_, &stranger_}) {
    ExpectRefused(*who, ops_.ChangeRole(monitor_, sync::v1::LEGAL, 2));
  }
  // Not its own role, not to owner, not to the same or no role, not a stranger.
  ExpectRefused(owner_, ops_.ChangeRole(owner_, sync::v1::COORDINATOR, 2));
  ExpectRefused(owner_, ops_.ChangeRole(monitor_, sync::v1::OWNER, 2));
  ExpectRefused(owner_, ops_.ChangeRole(monitor_, sync::v1::MONITOR, 2));
  ExpectRefused(owner_, ops_.ChangeRole(monitor_, sync::v1::ROLE_UNSPECIFIED, 2));
  ExpectRefused(owner_, ops_.ChangeRole(stranger_, sync::v1::MONITOR, 2));
  // It must begin exactly the next epoch, with both public keys.
  ExpectRefused(owner_, ops_.ChangeRole(monitor_, sync::v1::LEGAL, 1));
  ExpectRefused(owner_, ops_.ChangeRole(monitor_, sync::v1::LEGAL, 3));
  MembershipOp no_members_key = ops_.ChangeRole(monitor_, sync::v1::LEGAL, 2);
  no_members_key.clear_epoch_members_key();
  ExpectRefused(owner_, no_members_key);
  // A demoted coordinator gets no secret of the epoch its demotion begins...
  MembershipOp leak = ops_.ChangeRole(coordinator_, sync::v1::MONITOR, 2);
  *leak.add_keys() = ops_.EpochSecretTo(coordinator_, 2);
  ExpectRefused(owner_, leak);
  // ... nor does a promoted monitor keep getting members seeds of the new epoch.
  MembershipOp seed = ops_.ChangeRole(monitor_, sync::v1::COORDINATOR, 2);
  *seed.add_keys() = ops_.MembersSeedTo(monitor_, 2);
  ExpectRefused(owner_, seed);
  // A revoked device's role cannot change.
  RevokeAsOwner(legal_, sync::v1::LEGAL);
  ExpectRefused(owner_, ops_.ChangeRole(legal_, sync::v1::MONITOR, 3));
  EXPECT_EQ(m_.RoleOf(monitor_.id()), sync::v1::MONITOR);
  EXPECT_EQ(m_.RoleOf(coordinator_.id()), sync::v1::COORDINATOR);
}

// Stale-safe across a demotion: a key of an epoch in which the device still had its old
// role may reach it; a key its new role may not hold, of the new epoch, may not.
TEST_F(MembershipTest, ShareAfterDemotionFollowsTheRoleOfTheKeysEpoch) {
  Populate();
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(coordinator_, sync::v1::MONITOR, 2)));
  ExpectRefused(owner_, ShareOf({ops_.EpochSecretTo(coordinator_, 2)}));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.EpochSecretTo(coordinator_, 1)})));  // a sharer behind by one operation
  ASSERT_OK(Apply(owner_, ShareOf({ops_.MembersSeedTo(coordinator_, 1), ops_.MembersSeedTo(coordinator_, 2)})));
  // A promoted monitor may receive every epoch secret (coordinators read the archive).
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(monitor_, sync::v1::COORDINATOR, 3)));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.EpochSecretTo(monitor_, 1), ops_.EpochSecretTo(monitor_, 3)})));
  // A legal device promoted to coordinator may still be handed a case key of its legal epoch.
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(legal_, sync::v1::COORDINATOR, 4)));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.CaseKeyTo(legal_, 3, case_id_, case_key_)})));
  ExpectRefused(owner_, ShareOf({ops_.CaseKeyTo(legal_, 4, case_id_, case_key_)}));
}

// Stale-safe key rule: a key of epoch e is accepted if some role the device held in an
// epoch f >= e (before its revocation) suits it. Readers receive every earlier epoch's
// secret, so a sharer that saw a promotion but not the revocation or demotion that
// followed seals keys the device was entitled to; refusing them would wedge the honest
// sharer's chain for good.
TEST_F(MembershipTest, StaleShareAfterPromotionThenRevocationIsAccepted) {
  Populate();
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(monitor_, sync::v1::COORDINATOR, 2)));
  // The coordinator, having seen the promotion, seals every epoch secret to the new coordinator...
  const MembershipOp share = ShareOf({ops_.EpochSecretTo(monitor_, 1), ops_.EpochSecretTo(monitor_, 2)});
  // ... while the owner revokes it; the server orders the revocation first.
  RevokeAsOwner(monitor_, sync::v1::COORDINATOR);
  EXPECT_OK(Apply(coordinator_, share));
}

// The same without a revocation: a sharer that saw a monitor's promotion seals it every
// epoch secret; the owner demotes it again meanwhile; the epoch-1 secret (it was a
// monitor in epoch 1 and is one again now) is accepted: the device was entitled to it
// as a coordinator in epoch 2.
TEST_F(MembershipTest, StaleShareAfterPromotionThenDemotionIsAccepted) {
  Populate();
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(monitor_, sync::v1::COORDINATOR, 2)));
  const MembershipOp share = ShareOf({ops_.EpochSecretTo(monitor_, 1), ops_.EpochSecretTo(monitor_, 2)});
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(monitor_, sync::v1::MONITOR, 3)));
  EXPECT_OK(Apply(coordinator_, share));
}

TEST_F(MembershipTest, StaleShareAfterDemotionThenRevocationIsAccepted) {
  Populate();
  ASSERT_OK(Apply(owner_, ops_.ChangeRole(coordinator_, sync::v1::MONITOR, 2)));
  const MembershipOp share = ShareOf({ops_.MembersSeedTo(coordinator_, 1), ops_.MembersSeedTo(coordinator_, 2)});
  RevokeAsOwner(coordinator_, sync::v1::MONITOR);
  EXPECT_OK(Apply(owner_, share));
}

TEST_F(MembershipTest, HasDeliveredDistinguishesRecipientKindEpochAndKeyTag) {
  Populate();
  EXPECT_TRUE(m_.HasDelivered(owner_.id(), SealedKey::EPOCH_SECRET, 1));
  EXPECT_TRUE(m_.HasDelivered(coordinator_.id(), SealedKey::EPOCH_SECRET, 1));
  EXPECT_TRUE(m_.HasDelivered(monitor_.id(), SealedKey::MEMBERS_SEED, 1));
  EXPECT_FALSE(m_.HasDelivered(monitor_.id(), SealedKey::EPOCH_SECRET, 1));
  EXPECT_FALSE(m_.HasDelivered(coordinator_.id(), SealedKey::EPOCH_SECRET, 2));
  EXPECT_FALSE(m_.HasDelivered(stranger_.id(), SealedKey::EPOCH_SECRET, 1));
  EXPECT_FALSE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 1));

  ASSERT_OK(Apply(coordinator_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)})));
  const crypto::SymmetricKey tag_key = ops_.TagKey();
  const Bytes key_tag = CaseKeyTag(tag_key, case_key_.public_key());
  EXPECT_TRUE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 1, key_tag));
  EXPECT_FALSE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 1)) << "a case key is known by its key tag";
  EXPECT_FALSE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 1,
                               CaseKeyTag(tag_key, crypto::BoxKeyPair::Generate().public_key())));
  EXPECT_FALSE(m_.HasDelivered(legal_.id(), SealedKey::CASE_KEY, 2, key_tag));
  EXPECT_FALSE(m_.HasDelivered(owner_.id(), SealedKey::CASE_KEY, 1, key_tag));

  // A key delivered after a revocation is found under the new epoch.
  RevokeAsOwner(legal_, sync::v1::LEGAL);
  EXPECT_TRUE(m_.HasDelivered(owner_.id(), SealedKey::EPOCH_SECRET, 2));
  EXPECT_FALSE(m_.HasDelivered(monitor_.id(), SealedKey::MEMBERS_SEED, 2));
  ASSERT_OK(Apply(owner_, ShareOf({ops_.MembersSeedTo(monitor_, 2)})));
  EXPECT_TRUE(m_.HasDelivered(monitor_.id(), SealedKey::MEMBERS_SEED, 2));
}

TEST_F(MembershipTest, GrantsArePairsOfLegalDeviceAndCaseTag) {
  Populate();
  TestDevice legal2;
  Join(owner_, legal2, sync::v1::LEGAL);
  EXPECT_TRUE(m_.grants().empty());
  const Bytes other_case = crypto::RandomBytes(kIdBytes);
  const crypto::BoxKeyPair other_key = crypto::BoxKeyPair::Generate();
  ASSERT_OK(Apply(coordinator_, ShareOf({ops_.CaseKeyTo(legal_, 1, case_id_, case_key_),
                                         ops_.CaseKeyTo(legal_, 1, other_case, other_key),
                                         ops_.CaseKeyTo(legal2, 1, case_id_, case_key_)})));
  const crypto::SymmetricKey tag_key = ops_.TagKey();
  const std::string tag = Str(CaseTag(tag_key, case_id_));
  const std::string other_tag = Str(CaseTag(tag_key, other_case));
  const std::set<std::pair<std::string, std::string>> expected = {
      {legal_.key(), tag}, {legal_.key(), other_tag}, {legal2.key(), tag}};
  EXPECT_EQ(m_.grants(), expected);
  // Neither the case id nor the case key appears in the public operation.
  for (const auto& k : m_.delivered()) {
    EXPECT_EQ(k.SerializeAsString().find(Str(case_id_)), std::string::npos);
    EXPECT_EQ(k.SerializeAsString().find(Str(case_key_.public_key())), std::string::npos);
  }
}

TEST_F(MembershipTest, FingerprintAndInviteIdAreStable) {
  const TestDevice d;
  const std::string fp = Fingerprint(d.id());
  EXPECT_EQ(fp, Fingerprint(d.id()));
  EXPECT_EQ(fp.size(), 6u * 5u + 5u);
  EXPECT_NE(fp, Fingerprint(stranger_.id()));
  const Bytes secret = crypto::RandomBytes(32);
  EXPECT_EQ(InviteIdFromSecret(secret), InviteIdFromSecret(secret));
  EXPECT_EQ(InviteIdFromSecret(secret).size(), 32u);
  EXPECT_NE(InviteIdFromSecret(secret), InviteIdFromSecret(crypto::RandomBytes(32)));
  for (Role r : {sync::v1::OWNER, sync::v1::COORDINATOR, sync::v1::MONITOR, sync::v1::LEGAL}) {
    EXPECT_EQ(RoleFromName(RoleName(r)), r);
  }
  EXPECT_FALSE(RoleFromName("admin").has_value());
}

}  // namespace
}  // namespace evault::vault
