// Hand-built membership operations for the membership and keyring tests: devices with
// their own signing and box keys, epoch secrets chosen by the test, and signed
// envelopes made with ObjectCodec::SealPublic, so every rule of vault/membership.h can
// be driven directly (including operations no honest client would write).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

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

namespace evault::vault::testing {

using sync::v1::MembershipOp;
using sync::v1::SealedKey;

inline std::string Str(const crypto::Bytes& b) { return std::string(b.begin(), b.end()); }

struct TestDevice {
  crypto::SigningKeyPair signing = crypto::SigningKeyPair::Generate();
  crypto::BoxKeyPair box = crypto::BoxKeyPair::Generate();

  std::string key() const { return Str(signing.public_key()); }
  crypto::ByteView id() const { return signing.public_key(); }
  sync::v1::DeviceKeys keys() const {
    sync::v1::DeviceKeys k;
    k.set_signing_key(Str(signing.public_key()));
    k.set_box_key(Str(box.public_key()));
    return k;
  }
};

// One vault's worth of keys and a factory of its (signed) membership operations.
class OpFactory {
 public:
  OpFactory() : vault_id_(crypto::RandomBytes(16)) {}

  const crypto::Bytes& vault_id() const { return vault_id_; }

  // The secret of epoch `e`, made on first use (whether or not the epoch ever begins).
  const crypto::SymmetricKey& Secret(std::uint64_t e) {
    auto it = secrets_.find(e);
    if (it == secrets_.end()) it = secrets_.emplace(e, crypto::SymmetricKey::Generate()).first;
    return it->second;
  }
  EpochKeyPairs Pairs(std::uint64_t e) {
    auto pairs = DeriveEpochKeys(Secret(e));
    EXPECT_TRUE(pairs.has_value());
    return std::move(*pairs);
  }
  crypto::SymmetricKey TagKey() { return crypto::DeriveSubkey(Secret(1), crypto::KeyPurpose::kCaseTags); }

  // --- sealed keys ---
  static SealedKey Sealed(SealedKey::Kind kind, const TestDevice& to, std::uint64_t epoch, crypto::ByteView payload) {
    SealedKey k;
    k.set_kind(kind);
    k.set_recipient(to.key());
    k.set_epoch(epoch);
    auto sealed = crypto::SealToPublicKey(to.box.public_key(), payload);
    EXPECT_TRUE(sealed.has_value());
    if (sealed) k.set_sealed(Str(*sealed));
    return k;
  }
  SealedKey EpochSecretTo(const TestDevice& to, std::uint64_t epoch) {
    return Sealed(SealedKey::EPOCH_SECRET, to, epoch, Secret(epoch).bytes().span());
  }
  SealedKey MembersSeedTo(const TestDevice& to, std::uint64_t epoch) {
    const crypto::SecretBytes seed = MembersSeed(Secret(epoch));
    return Sealed(SealedKey::MEMBERS_SEED, to, epoch, seed.span());
  }
  // A case key of `epoch` for a legal device: case id | case secret key, with its tags.
  SealedKey CaseKeyTo(const TestDevice& to, std::uint64_t epoch, const crypto::Bytes& case_id,
                      const crypto::BoxKeyPair& case_key) {
    crypto::SecretBytes payload(kIdBytes + 32);
    std::memcpy(payload.data(), case_id.data(), kIdBytes);
    std::memcpy(payload.data() + kIdBytes, case_key.secret_key().data(), 32);
    SealedKey k = Sealed(SealedKey::CASE_KEY, to, epoch, payload.span());
    const crypto::SymmetricKey tag_key = TagKey();
    k.set_case_tag(Str(CaseTag(tag_key, case_id)));
    k.set_key_tag(Str(CaseKeyTag(tag_key, case_key.public_key())));
    return k;
  }

  // --- operations ---
  MembershipOp Genesis(const TestDevice& owner) {
    MembershipOp op;
    op.set_kind(MembershipOp::GENESIS);
    *op.mutable_subject() = owner.keys();
    op.set_role(sync::v1::OWNER);
    op.set_created("2024-01-01T00:00:00Z");
    SetEpoch(op, 1);
    *op.add_keys() = EpochSecretTo(owner, 1);
    return op;
  }
  static MembershipOp Invite(sync::v1::Role role, const crypto::Bytes& invite_id) {
    MembershipOp op;
    op.set_kind(MembershipOp::INVITE);
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    op.set_created("2024-01-02T00:00:00Z");
    return op;
  }
  static MembershipOp Admit(const TestDevice& subject, sync::v1::Role role, const crypto::Bytes& invite_id) {
    MembershipOp op;
    op.set_kind(MembershipOp::ADMIT);
    *op.mutable_subject() = subject.keys();
    op.set_role(role);
    op.set_invite_id(Str(invite_id));
    op.set_created("2024-01-03T00:00:00Z");
    return op;
  }
  // Begins `epoch` (normally current + 1); keys for the remaining members are the
  // caller's to add.
  MembershipOp Revoke(const TestDevice& subject, sync::v1::Role role, std::uint64_t epoch) {
    MembershipOp op;
    op.set_kind(MembershipOp::REVOKE);
    *op.mutable_subject() = subject.keys();
    op.set_role(role);
    op.set_created("2024-01-04T00:00:00Z");
    SetEpoch(op, epoch);
    return op;
  }
  // The owner's change of `subject`'s role, beginning `epoch` (normally current + 1).
  MembershipOp ChangeRole(const TestDevice& subject, sync::v1::Role role, std::uint64_t epoch) {
    MembershipOp op;
    op.set_kind(MembershipOp::CHANGE_ROLE);
    *op.mutable_subject() = subject.keys();
    op.set_role(role);
    op.set_created("2024-01-06T00:00:00Z");
    SetEpoch(op, epoch);
    return op;
  }
  static MembershipOp Share() {
    MembershipOp op;
    op.set_kind(MembershipOp::SHARE);
    op.set_created("2024-01-05T00:00:00Z");
    return op;
  }

  // The operation signed by `author` as a public envelope of this vault (or another).
  format::v1::ObjectEnvelope Sign(const TestDevice& author, const MembershipOp& op) {
    return SignFor(vault_id_, author, op);
  }
  format::v1::ObjectEnvelope SignFor(const crypto::Bytes& vault_id, const TestDevice& author, const MembershipOp& op) {
    ObjectCodec codec(vault_id, &author.signing);
    const std::string body = op.SerializeAsString();
    return codec.SealPublic(crypto::RandomBytes(kIdBytes), crypto::AsBytes(body), ++seq_, {});
  }

 private:
  void SetEpoch(MembershipOp& op, std::uint64_t e) {
    const EpochKeyPairs pairs = Pairs(e);
    op.set_epoch(e);
    op.set_epoch_readers_key(Str(pairs.readers.public_key()));
    op.set_epoch_members_key(Str(pairs.members.public_key()));
  }

  crypto::Bytes vault_id_;
  std::map<std::uint64_t, crypto::SymmetricKey> secrets_;
  std::uint64_t seq_ = 0;
};

}  // namespace evault::vault::testing
