// vault::Keyring: the keys a device opens from the membership operations sealed to it,
// checked against the public keys each epoch published; and the derivations behind
// them (DeriveEpochKeys, MembersSeed, CaseTag, CaseKeyTag). Which objects a device can
// open is exactly which keys it holds, so the last tests seal real objects and open
// them with each role's keyring.
#include "vault/keyring.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/identity.h"
#include "crypto/keys.h"
#include "tests/vault/membership_util.h"
#include "tests/vault/test_util.h"
#include "vault/membership.h"
#include "vault/object.h"

namespace evault::vault {
namespace {

using crypto::Bytes;
using crypto::BoxKeyPair;
using crypto::SymmetricKey;
using sync::v1::Role;
using sync::v1::MembershipOp;
using sync::v1::SealedKey;
using testing::OpFactory;
using testing::Str;
using testing::TestDevice;

bool SameKey(const SymmetricKey* a, const SymmetricKey& b) { return a != nullptr && a->bytes().Equals(b.bytes()); }

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::EnsureSodium(); }

  void Apply(const TestDevice& author, const MembershipOp& op) {
    auto s = m_.Apply(ops_.Sign(author, op));
    ASSERT_TRUE(s.has_value()) << s.error().message;
  }
  void Join(const TestDevice& who, Role role, std::vector<SealedKey> keys = {}) {
    const Bytes invite = crypto::RandomBytes(32);
    Apply(owner_, OpFactory::Invite(role, invite));
    MembershipOp admit = OpFactory::Admit(who, role, invite);
    for (auto& k : keys) *admit.add_keys() = std::move(k);
    Apply(owner_, admit);
  }
  void Share(const TestDevice& by, std::vector<SealedKey> keys) {
    MembershipOp op = OpFactory::Share();
    for (auto& k : keys) *op.add_keys() = std::move(k);
    Apply(by, op);
  }
  // GENESIS and a coordinator, a monitor and a legal device with their epoch-1 keys.
  void Populate() {
    Apply(owner_, ops_.Genesis(owner_));
    Join(coordinator_, sync::v1::COORDINATOR, {ops_.EpochSecretTo(coordinator_, 1)});
    Join(monitor_, sync::v1::MONITOR, {ops_.MembersSeedTo(monitor_, 1)});
    Join(legal_, sync::v1::LEGAL);
  }
  // The owner revokes `who`; epoch 2 keys for the owner, the coordinator and the monitor
  // (whichever of them is not `who`).
  void RevokeInEpoch2(const TestDevice& who, Role role) {
    MembershipOp op = ops_.Revoke(who, role, 2);
    *op.add_keys() = ops_.EpochSecretTo(owner_, 2);
    if (&who != &coordinator_) *op.add_keys() = ops_.EpochSecretTo(coordinator_, 2);
    if (&who != &monitor_) *op.add_keys() = ops_.MembersSeedTo(monitor_, 2);
    Apply(owner_, op);
  }

  Status Absorb(Keyring& k, const TestDevice& d) { return k.Absorb(m_, d.id(), d.box); }

  OpFactory ops_;
  Membership m_;
  TestDevice owner_, coordinator_, monitor_, legal_, stranger_;
  const Bytes case_id_ = crypto::RandomBytes(kIdBytes);
  const BoxKeyPair case_key_ = BoxKeyPair::Generate();
};

TEST_F(KeyringTest, OwnerOpensTheGenesisEpochSecret) {
  Apply(owner_, ops_.Genesis(owner_));
  Keyring k;
  EXPECT_FALSE(k.IsReader(1));
  EXPECT_EQ(k.TagKey(), nullptr);
  ASSERT_OK(Absorb(k, owner_));
  EXPECT_EQ(k.opened_count(), 1u);
  EXPECT_TRUE(k.IsReader(1));
  EXPECT_TRUE(SameKey(k.EpochSecret(1), ops_.Secret(1)));
  ASSERT_NE(k.Readers(1), nullptr);
  EXPECT_EQ(k.Readers(1)->public_key(), m_.Epoch(1)->readers);
  // The tag key comes from the first epoch secret.
  ASSERT_NE(k.TagKey(), nullptr);
  EXPECT_EQ(CaseTag(*k.TagKey(), case_id_), CaseTag(ops_.TagKey(), case_id_));
  EXPECT_FALSE(k.IsReader(2));
  EXPECT_EQ(k.EpochSecret(2), nullptr);

  const OpeningKeys keys = k.For(1, /*mine=*/false);
  ASSERT_NE(keys.readers, nullptr);
  EXPECT_EQ(keys.readers->public_key(), m_.Epoch(1)->readers);
  ASSERT_EQ(keys.second.size(), 1u);
  EXPECT_EQ(keys.second[0]->public_key(), m_.Epoch(1)->members);
  EXPECT_TRUE(keys.author.empty());
}

TEST_F(KeyringTest, CoordinatorHoldsEveryEpochItWasGiven) {
  Populate();
  RevokeInEpoch2(monitor_, sync::v1::MONITOR);
  Keyring k;
  ASSERT_OK(Absorb(k, coordinator_));
  EXPECT_EQ(k.opened_count(), 2u);
  EXPECT_TRUE(k.IsReader(1));
  EXPECT_TRUE(k.IsReader(2));
  EXPECT_TRUE(SameKey(k.EpochSecret(2), ops_.Secret(2)));
  EXPECT_EQ(k.Readers(2)->public_key(), m_.Epoch(2)->readers);
  // The tag key is the first epoch's, whatever epochs come after (tags must stay stable).
  ASSERT_NE(k.TagKey(), nullptr);
  EXPECT_EQ(CaseTag(*k.TagKey(), case_id_), CaseTag(ops_.TagKey(), case_id_));
  const OpeningKeys keys = k.For(2, false);
  ASSERT_NE(keys.readers, nullptr);
  EXPECT_EQ(keys.readers->public_key(), m_.Epoch(2)->readers);
  ASSERT_EQ(keys.second.size(), 1u);
  EXPECT_EQ(keys.second[0]->public_key(), m_.Epoch(2)->members);
}

TEST_F(KeyringTest, MonitorHoldsOnlyMembersKeys) {
  Populate();
  RevokeInEpoch2(legal_, sync::v1::LEGAL);
  Keyring k;
  ASSERT_OK(Absorb(k, monitor_));
  EXPECT_EQ(k.opened_count(), 2u);
  for (std::uint64_t e : {1u, 2u}) {
    SCOPED_TRACE(e);
    EXPECT_FALSE(k.IsReader(e));
    EXPECT_EQ(k.Readers(e), nullptr);
    EXPECT_EQ(k.EpochSecret(e), nullptr);
    const OpeningKeys keys = k.For(e, false);
    EXPECT_EQ(keys.readers, nullptr);
    ASSERT_EQ(keys.second.size(), 1u);
    EXPECT_EQ(keys.second[0]->public_key(), m_.Epoch(e)->members);
  }
  EXPECT_EQ(k.TagKey(), nullptr);
  EXPECT_TRUE(k.case_keys().empty());
}

TEST_F(KeyringTest, LegalHoldsOnlyItsCaseKeys) {
  Populate();
  const Bytes other_case = crypto::RandomBytes(kIdBytes);
  const BoxKeyPair other_key = BoxKeyPair::Generate();
  Share(coordinator_, {ops_.CaseKeyTo(legal_, 1, case_id_, case_key_), ops_.CaseKeyTo(legal_, 1, other_case, other_key)});
  Keyring k;
  ASSERT_OK(Absorb(k, legal_));
  EXPECT_EQ(k.opened_count(), 2u);
  ASSERT_EQ(k.case_keys().size(), 2u);
  EXPECT_EQ(k.case_keys()[0].epoch, 1u);
  EXPECT_EQ(k.case_keys()[0].case_id, case_id_);
  EXPECT_EQ(k.case_keys()[0].pair.public_key(), case_key_.public_key());
  EXPECT_TRUE(k.case_keys()[0].pair.secret_key().Equals(case_key_.secret_key()));
  EXPECT_EQ(k.case_keys()[1].case_id, other_case);
  EXPECT_FALSE(k.IsReader(1));
  EXPECT_EQ(k.TagKey(), nullptr);
  const OpeningKeys keys = k.For(1, false);
  EXPECT_EQ(keys.readers, nullptr);
  ASSERT_EQ(keys.second.size(), 2u) << "both case keys of epoch 1, no members key";
  EXPECT_EQ(keys.second[0]->public_key(), case_key_.public_key());
  EXPECT_EQ(keys.second[1]->public_key(), other_key.public_key());
  // Case keys are per epoch; a later epoch's objects try the older ones after its own
  // (a legal device's custody entry sealed to the newest case key it held).
  const OpeningKeys later = k.For(2, false);
  ASSERT_EQ(later.second.size(), 2u);
  EXPECT_EQ(later.second[0]->public_key(), case_key_.public_key());
  EXPECT_TRUE(k.For(0, false).second.empty()) << "no key of a later epoch opens an earlier one";
}

TEST_F(KeyringTest, KeysForOthersAreIgnored) {
  Populate();
  Share(coordinator_, {ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)});
  Keyring stranger;
  ASSERT_OK(Absorb(stranger, stranger_));
  EXPECT_EQ(stranger.opened_count(), 0u);
  EXPECT_FALSE(stranger.IsReader(1));
  EXPECT_TRUE(stranger.case_keys().empty());
  EXPECT_EQ(stranger.For(1, false).readers, nullptr);
  EXPECT_TRUE(stranger.For(1, false).second.empty());
  // The owner opens exactly its own key, not the coordinator's, monitor's or legal's.
  Keyring owner;
  ASSERT_OK(Absorb(owner, owner_));
  EXPECT_EQ(owner.opened_count(), 1u);
  EXPECT_TRUE(owner.case_keys().empty());
}

TEST_F(KeyringTest, AbsorbIsIncremental) {
  Populate();
  Keyring k;
  ASSERT_OK(Absorb(k, legal_));
  EXPECT_EQ(k.opened_count(), 0u);
  Share(owner_, {ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)});
  ASSERT_OK(Absorb(k, legal_));
  EXPECT_EQ(k.opened_count(), 1u);
  ASSERT_OK(Absorb(k, legal_));
  EXPECT_EQ(k.opened_count(), 1u) << "a key is opened once";
  EXPECT_EQ(k.case_keys().size(), 1u);
  RevokeInEpoch2(coordinator_, sync::v1::COORDINATOR);
  const BoxKeyPair case_key2 = BoxKeyPair::Generate();
  Share(owner_, {ops_.CaseKeyTo(legal_, 2, case_id_, case_key2)});
  ASSERT_OK(Absorb(k, legal_));
  EXPECT_EQ(k.opened_count(), 2u);
  ASSERT_EQ(k.For(2, false).second.size(), 2u) << "epoch 2's case key, then epoch 1's";
  EXPECT_EQ(k.For(2, false).second[0]->public_key(), case_key2.public_key());
  ASSERT_EQ(k.For(1, false).second.size(), 1u);
}

// A sharer cannot hand out an epoch secret or members seed that does not match the
// public keys the epoch published: the membership cannot see inside a sealed key, so it
// accepts the operation, but the recipient's keyring refuses the key: skipped and
// counted (rejected_count), never installed, and never a reason to stall the device.
TEST_F(KeyringTest, KeyNotMatchingItsEpochIsRejected) {
  Populate();
  {
    SCOPED_TRACE("a random epoch secret after the genuine one");
    Membership before = m_;
    Share(coordinator_, {OpFactory::Sealed(SealedKey::EPOCH_SECRET, owner_, 1, SymmetricKey::Generate().bytes().span())});
    Keyring k;
    ASSERT_OK(Absorb(k, owner_));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_EQ(k.opened_count(), 2u);
    // The genuine secret (from GENESIS, opened first) is kept; the forged one never replaces it.
    EXPECT_TRUE(SameKey(k.EpochSecret(1), ops_.Secret(1)));
    EXPECT_EQ(k.Readers(1)->public_key(), m_.Epoch(1)->readers);
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("a random epoch secret as the only one: an admission with a bad key");
    Membership before = m_;
    TestDevice newcomer;
    Join(newcomer, sync::v1::COORDINATOR,
         {OpFactory::Sealed(SealedKey::EPOCH_SECRET, newcomer, 1, SymmetricKey::Generate().bytes().span())});
    Keyring k;
    ASSERT_OK(Absorb(k, newcomer));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_FALSE(k.IsReader(1));
    EXPECT_EQ(k.EpochSecret(1), nullptr);
    EXPECT_EQ(k.TagKey(), nullptr);
    EXPECT_TRUE(k.For(1, false).second.empty());
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("a random members seed");
    Membership before = m_;
    Share(coordinator_, {OpFactory::Sealed(SealedKey::MEMBERS_SEED, monitor_, 1, crypto::SecretBytes::Random(32).span())});
    Keyring k;
    ASSERT_OK(Absorb(k, monitor_));
    EXPECT_EQ(k.rejected_count(), 1u);
    ASSERT_EQ(k.For(1, false).second.size(), 1u);
    EXPECT_EQ(k.For(1, false).second[0]->public_key(), m_.Epoch(1)->members);
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("a genuine secret labelled with another epoch");
    RevokeInEpoch2(legal_, sync::v1::LEGAL);
    Membership before = m_;
    TestDevice late;
    Join(late, sync::v1::COORDINATOR, {OpFactory::Sealed(SealedKey::EPOCH_SECRET, late, 2, ops_.Secret(1).bytes().span())});
    Keyring k;
    ASSERT_OK(Absorb(k, late));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_FALSE(k.IsReader(2));
    EXPECT_FALSE(k.IsReader(1));
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("the epoch secret's raw bytes as a members seed");
    Membership before = m_;
    Share(owner_, {OpFactory::Sealed(SealedKey::MEMBERS_SEED, monitor_, 2, ops_.Secret(2).bytes().span())});
    Keyring k;
    ASSERT_OK(Absorb(k, monitor_));
    EXPECT_EQ(k.rejected_count(), 1u);
    ASSERT_EQ(k.For(2, false).second.size(), 1u) << "the genuine epoch-2 seed from the REVOKE";
    EXPECT_EQ(k.For(2, false).second[0]->public_key(), m_.Epoch(2)->members);
    m_ = std::move(before);
  }
  // Without the bad keys, every device's keyring opens cleanly.
  for (const TestDevice* d : {&owner_, &coordinator_, &monitor_, &legal_}) {
    Keyring k;
    EXPECT_OK(Absorb(k, *d));
    EXPECT_EQ(k.rejected_count(), 0u);
  }
}

TEST_F(KeyringTest, SealedKeyThatDoesNotOpenIsRejected) {
  Populate();
  {
    SCOPED_TRACE("random bytes where a sealed box should be");
    Membership before = m_;
    SealedKey garbage = ops_.EpochSecretTo(owner_, 1);
    garbage.set_sealed(Str(crypto::RandomBytes(garbage.sealed().size())));
    Share(coordinator_, {garbage});
    Keyring k;
    ASSERT_OK(Absorb(k, owner_));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_TRUE(SameKey(k.EpochSecret(1), ops_.Secret(1)));
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("sealed to another device's box key but naming this device");
    Membership before = m_;
    TestDevice newcomer;
    SealedKey wrong_box = ops_.EpochSecretTo(stranger_, 1);
    wrong_box.set_recipient(newcomer.key());
    Join(newcomer, sync::v1::COORDINATOR, {wrong_box});
    Keyring k;
    ASSERT_OK(Absorb(k, newcomer));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_FALSE(k.IsReader(1));
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("a case key whose payload is not case id | secret key");
    Membership before = m_;
    for (std::size_t size : {40u, 47u, 49u, 16u}) {
      SealedKey bad = OpFactory::Sealed(SealedKey::CASE_KEY, legal_, 1, crypto::RandomBytes(size));
      bad.set_case_tag(std::string(16, 'c'));
      bad.set_key_tag(Str(crypto::RandomBytes(16)));
      Share(owner_, {bad});
    }
    Keyring k;
    ASSERT_OK(Absorb(k, legal_));
    EXPECT_EQ(k.rejected_count(), 4u);
    EXPECT_TRUE(k.case_keys().empty());
    EXPECT_TRUE(k.For(1, false).second.empty());
    m_ = std::move(before);
  }
  {
    SCOPED_TRACE("an epoch secret of the wrong length");
    Membership before = m_;
    TestDevice newcomer;
    Join(newcomer, sync::v1::COORDINATOR, {OpFactory::Sealed(SealedKey::EPOCH_SECRET, newcomer, 1, crypto::RandomBytes(31))});
    Keyring k;
    ASSERT_OK(Absorb(k, newcomer));
    EXPECT_EQ(k.rejected_count(), 1u);
    EXPECT_FALSE(k.IsReader(1));
    m_ = std::move(before);
  }
}

// A bad key sealed to a device by a faulty sharer does not keep it from the good keys
// that come after, in the same Absorb or a later one.
TEST_F(KeyringTest, ARejectedKeyDoesNotStallLaterKeys) {
  Populate();
  Share(coordinator_, {OpFactory::Sealed(SealedKey::EPOCH_SECRET, owner_, 1, SymmetricKey::Generate().bytes().span())});
  Keyring incremental;
  ASSERT_OK(Absorb(incremental, owner_));
  EXPECT_EQ(incremental.rejected_count(), 1u);
  RevokeInEpoch2(monitor_, sync::v1::MONITOR);
  ASSERT_OK(Absorb(incremental, owner_));
  EXPECT_TRUE(incremental.IsReader(2));
  EXPECT_TRUE(SameKey(incremental.EpochSecret(2), ops_.Secret(2)));
  EXPECT_EQ(incremental.rejected_count(), 1u) << "a rejected key is looked at once";
  EXPECT_EQ(incremental.opened_count(), 3u);

  Keyring at_once;
  ASSERT_OK(Absorb(at_once, owner_));
  EXPECT_TRUE(at_once.IsReader(1));
  EXPECT_TRUE(at_once.IsReader(2));
  EXPECT_EQ(at_once.rejected_count(), 1u);
  // Forgetting starts the count over.
  at_once.ForgetDelivered();
  EXPECT_EQ(at_once.rejected_count(), 0u);
  ASSERT_OK(Absorb(at_once, owner_));
  EXPECT_EQ(at_once.rejected_count(), 1u);
  EXPECT_TRUE(at_once.IsReader(2));
}

TEST_F(KeyringTest, ForReturnsSelfKeysOnlyForMyObjects) {
  Populate();
  Keyring k;
  std::vector<BoxKeyPair> self;
  self.push_back(BoxKeyPair::Generate());
  self.push_back(BoxKeyPair::Generate());
  const Bytes old_self = self[0].public_key(), new_self = self[1].public_key();
  k.SetSelfKeys(std::move(self));
  ASSERT_OK(Absorb(k, monitor_));
  const OpeningKeys mine = k.For(1, /*mine=*/true);
  ASSERT_EQ(mine.author.size(), 2u);
  EXPECT_EQ(mine.author[0]->public_key(), old_self);
  EXPECT_EQ(mine.author[1]->public_key(), new_self);
  EXPECT_EQ(mine.second.size(), 1u);
  EXPECT_TRUE(k.For(1, /*mine=*/false).author.empty());
  // Self keys are not per epoch: they are offered for an epoch the device holds nothing of.
  const OpeningKeys other_epoch = k.For(9, true);
  EXPECT_EQ(other_epoch.readers, nullptr);
  EXPECT_TRUE(other_epoch.second.empty());
  EXPECT_EQ(other_epoch.author.size(), 2u);
}

TEST_F(KeyringTest, ForgetDeliveredThenAbsorbRestores) {
  Populate();
  Share(owner_, {ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)});
  Keyring k;
  std::vector<BoxKeyPair> self;
  self.push_back(BoxKeyPair::Generate());
  const Bytes self_key = self[0].public_key();
  k.SetSelfKeys(std::move(self));
  ASSERT_OK(Absorb(k, coordinator_));
  ASSERT_TRUE(k.IsReader(1));

  k.ForgetDelivered();
  EXPECT_FALSE(k.IsReader(1));
  EXPECT_EQ(k.EpochSecret(1), nullptr);
  EXPECT_EQ(k.TagKey(), nullptr);
  EXPECT_EQ(k.opened_count(), 0u);
  EXPECT_TRUE(k.For(1, false).second.empty());
  ASSERT_EQ(k.self_keys().size(), 1u) << "self keys stay";
  EXPECT_EQ(k.self_keys()[0].public_key(), self_key);

  ASSERT_OK(Absorb(k, coordinator_));
  EXPECT_TRUE(k.IsReader(1));
  EXPECT_TRUE(SameKey(k.EpochSecret(1), ops_.Secret(1)));
  EXPECT_NE(k.TagKey(), nullptr);
  EXPECT_EQ(k.opened_count(), 1u);

  // The same for a legal device's case keys (no duplicates after restoring).
  Keyring legal;
  ASSERT_OK(Absorb(legal, legal_));
  legal.ForgetDelivered();
  EXPECT_TRUE(legal.case_keys().empty());
  ASSERT_OK(Absorb(legal, legal_));
  EXPECT_EQ(legal.case_keys().size(), 1u);
}

TEST_F(KeyringTest, DeriveEpochKeysIsDeterministic) {
  const SymmetricKey secret = SymmetricKey::Generate();
  ASSERT_OK_AND_ASSIGN(EpochKeyPairs a, DeriveEpochKeys(secret));
  ASSERT_OK_AND_ASSIGN(EpochKeyPairs b, DeriveEpochKeys(secret.Clone()));
  EXPECT_EQ(a.readers.public_key(), b.readers.public_key());
  EXPECT_TRUE(a.readers.secret_key().Equals(b.readers.secret_key()));
  EXPECT_EQ(a.members.public_key(), b.members.public_key());
  EXPECT_NE(a.readers.public_key(), a.members.public_key());
  ASSERT_OK_AND_ASSIGN(EpochKeyPairs other, DeriveEpochKeys(SymmetricKey::Generate()));
  EXPECT_NE(other.readers.public_key(), a.readers.public_key());
  EXPECT_NE(other.members.public_key(), a.members.public_key());
  // The members seed alone gives the members pair, and nothing of the readers pair.
  const crypto::SecretBytes seed = MembersSeed(secret);
  EXPECT_EQ(seed.size(), 32u);
  EXPECT_TRUE(seed.Equals(MembersSeed(secret)));
  ASSERT_OK_AND_ASSIGN(BoxKeyPair members, BoxKeyPair::FromSeed(seed));
  EXPECT_EQ(members.public_key(), a.members.public_key());
  EXPECT_FALSE(seed.Equals(secret.bytes()));
  ASSERT_OK_AND_ASSIGN(BoxKeyPair from_secret, BoxKeyPair::FromSeed(secret.bytes()));
  EXPECT_NE(from_secret.public_key(), a.readers.public_key()) << "the readers seed is derived, not the secret itself";
}

TEST_F(KeyringTest, CaseTagsDifferPerInput) {
  const SymmetricKey tag_key = SymmetricKey::Generate();
  const SymmetricKey other_key = SymmetricKey::Generate();
  const Bytes a = crypto::RandomBytes(kIdBytes), b = crypto::RandomBytes(kIdBytes);
  EXPECT_EQ(CaseTag(tag_key, a).size(), 16u);
  EXPECT_EQ(CaseKeyTag(tag_key, a).size(), 16u);
  EXPECT_EQ(CaseTag(tag_key, a), CaseTag(tag_key, a));
  EXPECT_EQ(CaseKeyTag(tag_key, a), CaseKeyTag(tag_key, a));
  EXPECT_NE(CaseTag(tag_key, a), CaseTag(tag_key, b));
  EXPECT_NE(CaseKeyTag(tag_key, a), CaseKeyTag(tag_key, b));
  EXPECT_NE(CaseTag(tag_key, a), CaseTag(other_key, a)) << "tags are keyed";
  EXPECT_NE(CaseKeyTag(tag_key, a), CaseKeyTag(other_key, a));
  EXPECT_NE(CaseTag(tag_key, a), CaseKeyTag(tag_key, a)) << "case tags and key tags are domain-separated";
}

// The roles, end to end at the object level: each device opens exactly what its keys allow.
TEST_F(KeyringTest, EachRoleOpensExactlyWhatItsKeysAllow) {
  Populate();
  Share(coordinator_, {ops_.CaseKeyTo(legal_, 1, case_id_, case_key_)});
  const crypto::SigningKeyPair author = crypto::SigningKeyPair::Generate();
  ObjectCodec codec(ops_.vault_id(), &author);
  const Bytes epoch1_readers = m_.Epoch(1)->readers, epoch1_members = m_.Epoch(1)->members;
  const BoxKeyPair author_self = BoxKeyPair::Generate();
  const Bytes logical = crypto::RandomBytes(kIdBytes);

  const Bytes evidence_id = crypto::RandomBytes(kIdBytes);
  ASSERT_OK_AND_ASSIGN(auto evidence,
                       codec.Seal(evidence_id, {ObjectKind::kRecordRevision, logical, 1, case_id_},
                                  crypto::AsBytes("evidence"), 1, {}, SymmetricKey::Generate(),
                                  {1, epoch1_readers, case_key_.public_key(), author_self.public_key()}));
  const Bytes checkpoint_id = crypto::RandomBytes(kIdBytes);
  ASSERT_OK_AND_ASSIGN(auto checkpoint,
                       codec.Seal(checkpoint_id, {ObjectKind::kCheckpoint, logical, 1, {}}, crypto::AsBytes("heads"), 2,
                                  {}, SymmetricKey::Generate(),
                                  {1, epoch1_readers, epoch1_members, author_self.public_key()}));
  // A case the legal device was not granted.
  const BoxKeyPair ungranted = BoxKeyPair::Generate();
  const Bytes other_id = crypto::RandomBytes(kIdBytes);
  ASSERT_OK_AND_ASSIGN(auto other_case,
                       codec.Seal(other_id, {ObjectKind::kCase, logical, 1, crypto::RandomBytes(kIdBytes)},
                                  crypto::AsBytes("other case"), 3, {}, SymmetricKey::Generate(),
                                  {1, epoch1_readers, ungranted.public_key(), author_self.public_key()}));

  struct Expect {
    const TestDevice* device;
    const char* name;
    bool evidence, checkpoint, other_case;
  };
  const Expect expectations[] = {
      {&owner_, "owner", true, true, true},
      {&coordinator_, "coordinator", true, true, true},
      {&monitor_, "monitor", false, true, false},
      {&legal_, "legal", true, false, false},
      {&stranger_, "stranger", false, false, false},
  };
  auto check = [&](const Keyring& k, const format::v1::ObjectEnvelope& e, const Bytes& id, bool readable) {
    auto opened = codec.Open(e, id, k.For(1, /*mine=*/false));
    if (readable) {
      EXPECT_TRUE(opened.has_value()) << opened.error().message;
    } else {
      EXPECT_ERROR(opened, ErrorCode::kPermissionDenied);
    }
  };
  for (const auto& x : expectations) {
    SCOPED_TRACE(x.name);
    Keyring k;
    ASSERT_OK(Absorb(k, *x.device));
    check(k, evidence, evidence_id, x.evidence);
    check(k, checkpoint, checkpoint_id, x.checkpoint);
    check(k, other_case, other_id, x.other_case);
  }

  // After the monitor is revoked, epoch-2 objects are beyond it while its epoch-1 keys
  // (which it held anyway) still open epoch-1 objects.
  RevokeInEpoch2(monitor_, sync::v1::MONITOR);
  const Bytes later_id = crypto::RandomBytes(kIdBytes);
  ASSERT_OK_AND_ASSIGN(auto later,
                       codec.Seal(later_id, {ObjectKind::kCheckpoint, logical, 2, {}}, crypto::AsBytes("later"), 4, {},
                                  SymmetricKey::Generate(),
                                  {2, m_.Epoch(2)->readers, m_.Epoch(2)->members, author_self.public_key()}));
  Keyring revoked;
  ASSERT_OK(Absorb(revoked, monitor_));
  EXPECT_ERROR(codec.Open(later, later_id, revoked.For(2, false)), ErrorCode::kPermissionDenied);
  EXPECT_OK(codec.Open(checkpoint, checkpoint_id, revoked.For(1, false)));
  Keyring owner;
  ASSERT_OK(Absorb(owner, owner_));
  EXPECT_OK(codec.Open(later, later_id, owner.For(2, false)));
  // An object is opened with the keys of its own epoch.
  EXPECT_ERROR(codec.Open(later, later_id, owner.For(1, false)), ErrorCode::kPermissionDenied);
  // The author opens its own object with its self key alone.
  Keyring author_ring;
  std::vector<BoxKeyPair> self;
  self.push_back(*BoxKeyPair::FromSecretKey(author_self.secret_key().Clone()));
  author_ring.SetSelfKeys(std::move(self));
  EXPECT_OK(codec.Open(evidence, evidence_id, author_ring.For(7, /*mine=*/true)));
  EXPECT_ERROR(codec.Open(evidence, evidence_id, author_ring.For(1, /*mine=*/false)), ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace evault::vault
