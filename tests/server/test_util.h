// Helpers shared by the server tests: temporary directories, devices with their own
// signed hash chain, and the envelopes a real client would push (sealed objects with
// their three key slots, and membership operations carrying sealed epoch and case keys,
// built with vault/object.h and vault/keyring.h).
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"
#include "vault/keyring.h"
#include "vault/membership.h"
#include "vault/object.h"

namespace evault::server::testing {

namespace fs = std::filesystem;
using crypto::Bytes;
using format::v1::ObjectEnvelope;

#define EVS_CONCAT_INNER_(a, b) a##b
#define EVS_CONCAT_(a, b) EVS_CONCAT_INNER_(a, b)
// Unwraps a Result, failing the test (not crashing) on an error.
#define ASSERT_OK_AND_ASSIGN(decl, expr)                                                      \
  auto EVS_CONCAT_(evs_result_, __LINE__) = (expr);                                           \
  ASSERT_TRUE(EVS_CONCAT_(evs_result_, __LINE__).has_value())                                 \
      << EVS_CONCAT_(evs_result_, __LINE__).error().message;                                  \
  decl = std::move(*EVS_CONCAT_(evs_result_, __LINE__))

inline std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
inline Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/evault-server-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A device: its keys and the head of its own hash chain in one vault.
struct Device {
  struct Chain {
    std::uint64_t seq = 0;
    Bytes head;
  };

  crypto::SigningKeyPair signing = crypto::SigningKeyPair::Generate();
  crypto::BoxKeyPair box = crypto::BoxKeyPair::Generate();
  crypto::BoxKeyPair self = crypto::BoxKeyPair::Generate();  // seals slot 2 of its objects
  Chain chain;

  std::string key() const { return Str(signing.public_key()); }
  sync::v1::DeviceKeys keys() const {
    sync::v1::DeviceKeys k;
    k.set_signing_key(Str(signing.public_key()));
    k.set_box_key(Str(box.public_key()));
    return k;
  }
  // Records `e` as this device's newest object.
  void Advance(const ObjectEnvelope& e) {
    chain.seq = e.author_seq();
    chain.head = vault::ObjectCodec::ChainHash(e);
  }
};

// The secrets of one membership epoch, as its readers hold them, and the (test
// vault's single) case's key pair of that epoch.
struct EpochKeys {
  crypto::SymmetricKey secret;
  vault::EpochKeyPairs pairs;
  crypto::BoxKeyPair case_key;

  static EpochKeys Generate() {
    crypto::SymmetricKey secret = crypto::SymmetricKey::Generate();
    auto pairs = vault::DeriveEpochKeys(secret);
    if (!pairs) {
      ADD_FAILURE() << "DeriveEpochKeys: " << pairs.error().message;
      std::abort();  // nothing sensible can follow
    }
    return EpochKeys{std::move(secret), std::move(*pairs), crypto::BoxKeyPair::Generate()};
  }
};

// One member and its role: who a REVOKE re-keys.
struct Keep {
  const Device* device;
  sync::v1::Role role;
};

// A vault as its members see it: its id, the secrets of its epochs, and the envelopes
// an honest client would build (sealed objects and membership operations).
struct TestVault {
  Bytes id = crypto::RandomBytes(16);
  Bytes case_id = crypto::RandomBytes(vault::kIdBytes);  // every Sealed() record belongs to it
  // The newest epoch these helpers know of: objects are sealed in it, REVOKE begins
  // epoch + 1. A test whose REVOKE is refused restores it (as it restores a chain).
  std::uint64_t epoch = 1;
  std::map<std::uint64_t, EpochKeys> epochs;

  TestVault() { epochs.emplace(1, EpochKeys::Generate()); }

  std::string id_str() const { return Str(id); }

  const EpochKeys& Keys(std::uint64_t e) const {
    auto it = epochs.find(e);
    if (it == epochs.end()) {
      ADD_FAILURE() << "no keys for epoch " << e;
      std::abort();
    }
    return it->second;
  }

  // --- sealed objects ---

  vault::SealingKeys SealingFor(const Device& d, std::uint64_t e) const {
    const EpochKeys& k = Keys(e);
    return {e, k.pairs.readers.public_key(), k.case_key.public_key(), d.self.public_key()};
  }

  // The next sealed object of `d` (advances its chain): a record revision of the
  // vault's case, in `e` (0: the current epoch).
  ObjectEnvelope Sealed(Device& d, std::string_view body = "{\"title\":\"record\"}", std::uint64_t e = 0) {
    vault::ObjectCodec codec(id, &d.signing);
    auto sealed = codec.Seal(crypto::RandomBytes(vault::kIdBytes),
                             {vault::ObjectKind::kRecordRevision, crypto::RandomBytes(vault::kIdBytes), 1, case_id},
                             crypto::AsBytes(body), d.chain.seq + 1, d.chain.head, crypto::SymmetricKey::Generate(),
                             SealingFor(d, e == 0 ? epoch : e));
    if (!sealed) {
      ADD_FAILURE() << "Seal: " << sealed.error().message;
      return {};
    }
    d.Advance(*sealed);
    return std::move(*sealed);
  }

  // --- sealed keys (SealedKey), as a sharer seals them ---

  static sync::v1::SealedKey SealKey(const Device& to, sync::v1::SealedKey::Kind kind, std::uint64_t e,
                                     crypto::ByteView payload) {
    sync::v1::SealedKey k;
    k.set_kind(kind);
    k.set_recipient(to.key());
    k.set_epoch(e);
    auto sealed = crypto::SealToPublicKey(to.box.public_key(), payload);
    if (!sealed) ADD_FAILURE() << "SealToPublicKey: " << sealed.error().message;
    k.set_sealed(sealed ? Str(*sealed) : "");
    return k;
  }
  sync::v1::SealedKey EpochSecretFor(const Device& to, std::uint64_t e) const {
    return SealKey(to, sync::v1::SealedKey::EPOCH_SECRET, e, Keys(e).secret.bytes().span());
  }
  sync::v1::SealedKey MembersSeedFor(const Device& to, std::uint64_t e) const {
    const crypto::SecretBytes seed = vault::MembersSeed(Keys(e).secret);
    return SealKey(to, sync::v1::SealedKey::MEMBERS_SEED, e, seed.span());
  }
  // The case's key of epoch `e` (a grant), with its tags under the vault's tag key.
  sync::v1::SealedKey CaseKeyFor(const Device& to, std::uint64_t e) const {
    const crypto::BoxKeyPair& pair = Keys(e).case_key;
    crypto::SecretBytes payload(vault::kIdBytes + 32);
    std::memcpy(payload.data(), case_id.data(), vault::kIdBytes);
    std::memcpy(payload.data() + vault::kIdBytes, pair.secret_key().data(), 32);
    sync::v1::SealedKey k = SealKey(to, sync::v1::SealedKey::CASE_KEY, e, payload.span());
    const crypto::SymmetricKey tag_key = crypto::DeriveSubkey(Keys(1).secret, crypto::KeyPurpose::kCaseTags);
    k.set_case_tag(Str(vault::CaseTag(tag_key, case_id)));
    k.set_key_tag(Str(vault::CaseKeyTag(tag_key, pair.public_key())));
    return k;
  }
  // What a member of `role` holds of epochs 1..epoch: every epoch secret (owners and
  // coordinators), every members seed (monitors), nothing (legal devices).
  std::vector<sync::v1::SealedKey> KeysForRole(const Device& to, sync::v1::Role role) const {
    std::vector<sync::v1::SealedKey> out;
    for (std::uint64_t e = 1; e <= epoch; ++e) {
      if (role == sync::v1::OWNER || role == sync::v1::COORDINATOR) out.push_back(EpochSecretFor(to, e));
      if (role == sync::v1::MONITOR) out.push_back(MembersSeedFor(to, e));
    }
    return out;
  }

  // --- membership operations ---

  // The next membership operation of `d` (advances its chain).
  ObjectEnvelope Op(Device& d, sync::v1::MembershipOp op) {
    if (op.created().empty()) op.set_created("2019-09-21T10:00:00Z");
    vault::ObjectCodec codec(id, &d.signing);
    ObjectEnvelope e = codec.SealPublic(crypto::RandomBytes(vault::kIdBytes), crypto::AsBytes(op.SerializeAsString()),
                                        d.chain.seq + 1, d.chain.head);
    d.Advance(e);
    return e;
  }

  // GENESIS: epoch 1 with its public keys, its secret sealed to the owner.
  sync::v1::MembershipOp GenesisOp(const Device& owner) const {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::GENESIS);
    *op.mutable_subject() = owner.keys();
    op.set_role(sync::v1::OWNER);
    op.set_epoch(1);
    op.set_epoch_readers_key(Str(Keys(1).pairs.readers.public_key()));
    op.set_epoch_members_key(Str(Keys(1).pairs.members.public_key()));
    *op.add_keys() = EpochSecretFor(owner, 1);
    return op;
  }
  ObjectEnvelope Genesis(Device& owner) { return Op(owner, GenesisOp(owner)); }

  ObjectEnvelope Invite(Device& by, const Bytes& invite_id, sync::v1::Role role) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::INVITE);
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    return Op(by, op);
  }

  // ADMIT with the keys the subject's role holds (KeysForRole), or exactly `keys`.
  sync::v1::MembershipOp AdmitOp(const Device& subject, const Bytes& invite_id, sync::v1::Role role) const {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::ADMIT);
    *op.mutable_subject() = subject.keys();
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    for (auto& k : KeysForRole(subject, role)) *op.add_keys() = std::move(k);
    return op;
  }
  ObjectEnvelope Admit(Device& by, const Device& subject, const Bytes& invite_id, sync::v1::Role role) {
    return Op(by, AdmitOp(subject, invite_id, role));
  }

  // REVOKE beginning epoch `new_epoch` (0: epoch + 1) with fresh keys, sealed to `by`
  // (an owner) and to every member of `keep` by role. A new epoch becomes the current
  // one of these helpers.
  sync::v1::MembershipOp RevokeOp(const Device& by, const Device& subject, const std::vector<Keep>& keep = {},
                                  std::uint64_t new_epoch = 0) {
    const std::uint64_t e = new_epoch == 0 ? epoch + 1 : new_epoch;
    if (e > epoch) {  // an epoch that exists keeps its keys (a REVOKE that repeats one)
      epochs.insert_or_assign(e, EpochKeys::Generate());
      epoch = e;
    }
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::REVOKE);
    *op.mutable_subject() = subject.keys();
    op.set_epoch(e);
    op.set_epoch_readers_key(Str(Keys(e).pairs.readers.public_key()));
    op.set_epoch_members_key(Str(Keys(e).pairs.members.public_key()));
    *op.add_keys() = EpochSecretFor(by, e);
    for (const Keep& k : keep) {
      if (k.role == sync::v1::OWNER || k.role == sync::v1::COORDINATOR) *op.add_keys() = EpochSecretFor(*k.device, e);
      if (k.role == sync::v1::MONITOR) *op.add_keys() = MembersSeedFor(*k.device, e);
    }
    return op;
  }
  ObjectEnvelope Revoke(Device& by, const Device& subject, const std::vector<Keep>& keep = {},
                        std::uint64_t new_epoch = 0) {
    return Op(by, RevokeOp(by, subject, keep, new_epoch));
  }

  // SHARE of exactly `keys`.
  ObjectEnvelope Share(Device& by, const std::vector<sync::v1::SealedKey>& keys) {
    sync::v1::MembershipOp op;
    op.set_kind(sync::v1::MembershipOp::SHARE);
    for (const auto& k : keys) *op.add_keys() = k;
    return Op(by, op);
  }
};

}  // namespace evault::server::testing
