#include "vault/membership.h"

#include <sodium.h>

#include <algorithm>

#include <fmt/core.h>

#include "crypto/identity.h"
#include "crypto/keys.h"
#include "vault/object.h"

namespace evault::vault {

using crypto::Bytes;
using crypto::ByteView;
using sync::v1::MembershipOp;
using sync::v1::Role;

namespace {
std::string Key(ByteView b) { return std::string(crypto::AsText(b)); }
ByteView View(const std::string& s) { return crypto::AsBytes(s); }
}  // namespace

bool VerifyEnvelopeSignature(const format::v1::ObjectEnvelope& e) {
  return ObjectCodec::VerifySignature(e);
}

Result<MembershipOp> Membership::ParseOp(const format::v1::ObjectEnvelope& e) {
  MembershipOp op;
  if (e.public_body().empty() || !op.ParseFromString(e.public_body()) ||
      op.kind() == MembershipOp::KIND_UNSPECIFIED) {
    return Fail(ErrorCode::kCorrupt, "membership operation is malformed");
  }
  return op;
}

const Member* Membership::Find(ByteView signing_key) const {
  auto it = members_.find(Key(signing_key));
  return it == members_.end() ? nullptr : &it->second;
}

bool Membership::IsActive(ByteView signing_key) const {
  const Member* m = Find(signing_key);
  return m != nullptr && !m->revoked;
}

bool Membership::CanWrite(ByteView signing_key) const {
  const Member* m = Find(signing_key);
  return m != nullptr && !m->revoked && m->role != sync::v1::LEGAL;
}

bool Membership::CanAdmit(ByteView signing_key) const {
  const Member* m = Find(signing_key);
  return m != nullptr && !m->revoked && (m->role == sync::v1::OWNER || m->role == sync::v1::COORDINATOR);
}

bool Membership::CanRevoke(ByteView signing_key) const {
  const Member* m = Find(signing_key);
  return m != nullptr && !m->revoked && m->role == sync::v1::OWNER;
}

Role Member::RoleAt(std::uint64_t epoch) const {
  Role at = roles.empty() ? role : roles.front().second;
  for (const auto& [from, r] : roles) {
    if (from <= epoch) at = r;
  }
  return at;
}

std::optional<Role> Membership::RoleOf(ByteView signing_key) const {
  const Member* m = Find(signing_key);
  if (m == nullptr || m->revoked) return std::nullopt;
  return m->role;
}

const OpenInvite* Membership::FindInvite(ByteView invite_id) const {
  auto it = invites_.find(Key(invite_id));
  return it == invites_.end() ? nullptr : &it->second;
}

const EpochPublicKeys* Membership::Epoch(std::uint64_t epoch) const {
  if (epoch == 0 || epoch > epochs_.size()) return nullptr;
  return &epochs_[epoch - 1];
}

namespace {

constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxSealedBytes = 128;

std::string DeliveryKey(ByteView recipient, sync::v1::SealedKey::Kind kind, std::uint64_t epoch, ByteView key_tag) {
  return fmt::format("{}|{}|{}|{}", Key(recipient), static_cast<int>(kind), epoch, Key(key_tag));
}

bool ValidPublicKey(const std::string& k) { return k.size() == 32; }

}  // namespace

bool Membership::HasDelivered(ByteView recipient, sync::v1::SealedKey::Kind kind, std::uint64_t epoch,
                              ByteView key_tag) const {
  return delivered_index_.contains(DeliveryKey(recipient, kind, epoch, key_tag));
}

// Checks the keys an operation seals, against the membership as it will be once the
// operation itself has taken effect (an ADMIT's subject is a member, a REVOKE's subject
// is revoked and its epoch has begun).
Status Membership::CheckKeys(const MembershipOp& op) const {
  const bool begins_epoch = op.kind() == MembershipOp::GENESIS || op.kind() == MembershipOp::REVOKE ||
                            op.kind() == MembershipOp::CHANGE_ROLE;
  const std::uint64_t epochs_after = begins_epoch ? epochs_.size() + 1 : epochs_.size();
  auto suits = [](sync::v1::SealedKey::Kind kind, Role role) {
    switch (kind) {
      case sync::v1::SealedKey::EPOCH_SECRET: return role == sync::v1::OWNER || role == sync::v1::COORDINATOR;
      case sync::v1::SealedKey::MEMBERS_SEED: return role == sync::v1::MONITOR;
      case sync::v1::SealedKey::CASE_KEY: return role == sync::v1::LEGAL;
      default: return false;
    }
  };
  for (const auto& k : op.keys()) {
    if (k.kind() != sync::v1::SealedKey::EPOCH_SECRET && k.kind() != sync::v1::SealedKey::MEMBERS_SEED &&
        k.kind() != sync::v1::SealedKey::CASE_KEY) {
      return Fail(ErrorCode::kTampered, "a sealed key has an unknown kind");
    }
    if (k.epoch() == 0 || k.epoch() > epochs_after) return Fail(ErrorCode::kTampered, "a key names an epoch that does not exist");
    if (k.sealed().empty() || k.sealed().size() > kMaxSealedBytes) return Fail(ErrorCode::kTampered, "a sealed key is malformed");
    if (k.kind() == sync::v1::SealedKey::CASE_KEY) {
      if (k.case_tag().size() != kTagBytes || k.key_tag().size() != kTagBytes) {
        return Fail(ErrorCode::kTampered, "a case key has malformed tags");
      }
    } else if (!k.case_tag().empty() || !k.key_tag().empty()) {
      return Fail(ErrorCode::kTampered, "an epoch key carries case tags");
    }
    bool allowed = false;
    if (op.kind() == MembershipOp::GENESIS || op.kind() == MembershipOp::ADMIT) {
      if (k.recipient() != op.subject().signing_key()) {
        return Fail(ErrorCode::kTampered, "a key in this operation is sealed to someone other than its subject");
      }
      allowed = suits(k.kind(), op.role());
    } else {
      const Member* m = Find(View(k.recipient()));
      if (m == nullptr) return Fail(ErrorCode::kTampered, "a key is sealed to a device that is not a member");
      const bool subject = op.kind() != MembershipOp::SHARE && k.recipient() == op.subject().signing_key();
      std::uint64_t revoked_in = m->revoked ? m->revoked_in_epoch : 0;
      if (subject && op.kind() == MembershipOp::REVOKE) revoked_in = epochs_after;
      if (revoked_in != 0 && k.epoch() >= revoked_in) {
        return Fail(ErrorCode::kTampered, "a key of an epoch after its revocation is sealed to a revoked device");
      }
      // Any role the device held in the key's epoch or later (before any revocation)
      // may hold it: a key of epoch e is no news to a device that was a reader in an
      // epoch f >= e, since readers receive every earlier epoch's keys.
      std::vector<std::pair<std::uint64_t, Role>> roles = m->roles;
      if (subject && op.kind() == MembershipOp::CHANGE_ROLE) roles.emplace_back(epochs_after, op.role());
      Member view = *m;
      view.roles = roles;
      allowed = suits(k.kind(), view.RoleAt(k.epoch()));
      for (const auto& [from, r] : roles) {
        if (from > k.epoch() && suits(k.kind(), r)) allowed = true;
      }
    }
    if (!allowed) return Fail(ErrorCode::kTampered, "a key is sealed to a device whose role may not hold it");
  }
  return Ok();
}

// REVOKE and CHANGE_ROLE: the owner begins the next epoch with fresh public keys.
Status Membership::CheckNewEpoch(const MembershipOp& op) const {
  if (op.epoch() != epochs_.size() + 1 || !ValidPublicKey(op.epoch_readers_key()) ||
      !ValidPublicKey(op.epoch_members_key())) {
    return Fail(ErrorCode::kTampered, "the operation must begin the next epoch");
  }
  return CheckKeys(op);
}

void Membership::BeginEpoch(const MembershipOp& op) {
  epochs_.push_back({Bytes(op.epoch_readers_key().begin(), op.epoch_readers_key().end()),
                     Bytes(op.epoch_members_key().begin(), op.epoch_members_key().end())});
  RecordKeys(op);
}

void Membership::RecordKeys(const MembershipOp& op) {
  for (const auto& k : op.keys()) {
    delivered_.push_back(k);
    delivered_index_.insert(DeliveryKey(View(k.recipient()), k.kind(), k.epoch(), View(k.key_tag())));
    if (k.kind() == sync::v1::SealedKey::CASE_KEY) grants_.insert({k.recipient(), k.case_tag()});
  }
}

Status Membership::Apply(const format::v1::ObjectEnvelope& e) {
  if (!VerifyEnvelopeSignature(e)) {
    return Fail(ErrorCode::kTampered, "membership operation has an invalid signature");
  }
  if (!vault_id_.empty() && Key(vault_id_) != e.vault_id()) {
    return Fail(ErrorCode::kTampered, "membership operation belongs to another vault");
  }
  EVAULT_ASSIGN_OR_RETURN(MembershipOp op, ParseOp(e));
  const ByteView author = View(e.author());
  const auto& subject = op.subject();
  auto valid_keys = [&] {
    return subject.signing_key().size() == crypto::kSigningPublicKeyBytes && subject.box_key().size() == 32;
  };
  auto new_member = [&](Role role) {
    Member m{Bytes(subject.signing_key().begin(), subject.signing_key().end()),
             Bytes(subject.box_key().begin(), subject.box_key().end()), role, false, op.created(), 0,
             {{std::max<std::uint64_t>(epochs_.size(), 1), role}}};
    members_[subject.signing_key()] = std::move(m);
  };
  if (op.kind() != MembershipOp::GENESIS && members_.empty()) {
    return Fail(ErrorCode::kTampered, "membership operation before GENESIS");
  }
  switch (op.kind()) {
    case MembershipOp::GENESIS:
      if (!members_.empty()) return Fail(ErrorCode::kTampered, "a second GENESIS operation");
      if (!valid_keys() || subject.signing_key() != e.author() || op.role() != sync::v1::OWNER) {
        return Fail(ErrorCode::kTampered, "GENESIS must make its own signer the owner");
      }
      if (e.vault_id().size() != kIdBytes) return Fail(ErrorCode::kTampered, "GENESIS names no valid vault id");
      if (op.epoch() != 1 || !ValidPublicKey(op.epoch_readers_key()) || !ValidPublicKey(op.epoch_members_key()) ||
          op.keys_size() != 1 || op.keys(0).kind() != sync::v1::SealedKey::EPOCH_SECRET || op.keys(0).epoch() != 1) {
        return Fail(ErrorCode::kTampered, "GENESIS must begin epoch 1 and seal its secret to the owner");
      }
      EVAULT_TRY(CheckKeys(op));
      vault_id_.assign(e.vault_id().begin(), e.vault_id().end());
      new_member(sync::v1::OWNER);
      BeginEpoch(op);
      return Ok();
    case MembershipOp::INVITE:
      if (!CanAdmit(author)) return Fail(ErrorCode::kTampered, "INVITE signed by a device that may not invite");
      if (op.role() != sync::v1::COORDINATOR && op.role() != sync::v1::MONITOR && op.role() != sync::v1::LEGAL) {
        return Fail(ErrorCode::kTampered, "INVITE offers an invalid role");
      }
      if (op.invite_id().size() != 32 || invites_.contains(op.invite_id()) || answered_.contains(op.invite_id())) {
        return Fail(ErrorCode::kTampered, "INVITE has a bad or reused invite id");
      }
      if (op.keys_size() != 0) return Fail(ErrorCode::kTampered, "INVITE carries keys");
      invites_[op.invite_id()] = OpenInvite{op.role(), Bytes(author.begin(), author.end())};
      return Ok();
    case MembershipOp::ADMIT: {
      if (!CanAdmit(author)) return Fail(ErrorCode::kTampered, "ADMIT signed by a device that may not admit");
      auto invite = invites_.find(op.invite_id());
      if (invite == invites_.end()) return Fail(ErrorCode::kTampered, "ADMIT answers no open invite");
      if (invite->second.role != op.role()) return Fail(ErrorCode::kTampered, "ADMIT grants another role than invited");
      if (!valid_keys() || members_.contains(subject.signing_key())) {
        return Fail(ErrorCode::kTampered, "ADMIT of an invalid or existing device");
      }
      EVAULT_TRY(CheckKeys(op));
      answered_.insert(op.invite_id());
      invites_.erase(invite);
      new_member(op.role());
      RecordKeys(op);
      return Ok();
    }
    case MembershipOp::REVOKE: {
      if (!CanRevoke(author)) return Fail(ErrorCode::kTampered, "REVOKE signed by a device that may not revoke");
      auto it = members_.find(subject.signing_key());
      if (it == members_.end() || it->second.revoked || subject.signing_key() == e.author()) {
        return Fail(ErrorCode::kTampered, "REVOKE of an unknown, revoked or own device");
      }
      EVAULT_TRY(CheckNewEpoch(op));
      it->second.revoked = true;
      it->second.revoked_in_epoch = op.epoch();
      BeginEpoch(op);
      return Ok();
    }
    case MembershipOp::CHANGE_ROLE: {
      if (!CanRevoke(author)) return Fail(ErrorCode::kTampered, "CHANGE_ROLE signed by a device that may not change roles");
      auto it = members_.find(subject.signing_key());
      if (it == members_.end() || it->second.revoked || subject.signing_key() == e.author()) {
        return Fail(ErrorCode::kTampered, "CHANGE_ROLE of an unknown, revoked or own device");
      }
      if ((op.role() != sync::v1::COORDINATOR && op.role() != sync::v1::MONITOR && op.role() != sync::v1::LEGAL) ||
          op.role() == it->second.role) {
        return Fail(ErrorCode::kTampered, "CHANGE_ROLE to an invalid or unchanged role");
      }
      EVAULT_TRY(CheckNewEpoch(op));
      it->second.role = op.role();
      it->second.roles.emplace_back(op.epoch(), op.role());
      BeginEpoch(op);
      return Ok();
    }
    case MembershipOp::SHARE:
      if (!CanAdmit(author)) return Fail(ErrorCode::kTampered, "SHARE signed by a device that may not share keys");
      if (op.keys_size() == 0) return Fail(ErrorCode::kTampered, "SHARE carries no keys");
      EVAULT_TRY(CheckKeys(op));
      RecordKeys(op);
      return Ok();
    default:
      return Fail(ErrorCode::kCorrupt, "unknown membership operation");
  }
}

Bytes InviteIdFromSecret(ByteView secret) {
  Bytes message;
  crypto::AppendField(message, crypto::AsBytes("evault-invite-id-v1"));
  crypto::AppendField(message, secret);
  return crypto::PublicHash(message);
}

std::string Fingerprint(ByteView signing_key) {
  Bytes message;
  crypto::AppendField(message, crypto::AsBytes("evault-fingerprint-v1"));
  crypto::AppendField(message, signing_key);
  const Bytes h = crypto::PublicHash(message);
  std::string out;
  for (int group = 0; group < 6; ++group) {
    std::uint64_t v = 0;
    for (int i = 0; i < 5; ++i) v = (v << 8) | h[group * 5 + i];
    if (!out.empty()) out += ' ';
    out += fmt::format("{:05d}", v % 100000);
  }
  return out;
}

Bytes AuthSigningMessage(ByteView nonce, ByteView vault_id, ByteView device_key, std::string_view purpose) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-auth-v1"));
  crypto::AppendField(m, nonce);
  crypto::AppendField(m, vault_id);
  crypto::AppendField(m, device_key);
  crypto::AppendField(m, crypto::AsBytes(purpose));
  return m;
}

Bytes JoinSigningMessage(const sync::v1::JoinRequest& r) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-join-v1"));
  crypto::AppendField(m, View(r.vault_id()));
  crypto::AppendField(m, View(r.invite_id()));
  crypto::AppendField(m, View(r.device().signing_key()));
  crypto::AppendField(m, View(r.device().box_key()));
  crypto::AppendField(m, View(r.proof()));
  return m;
}

Bytes JoinProofMessage(ByteView vault_id, const sync::v1::DeviceKeys& device) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-join-proof-v1"));
  crypto::AppendField(m, vault_id);
  crypto::AppendField(m, View(device.signing_key()));
  crypto::AppendField(m, View(device.box_key()));
  return m;
}

std::string RoleName(Role role) {
  switch (role) {
    case sync::v1::OWNER: return "owner";
    case sync::v1::COORDINATOR: return "coordinator";
    case sync::v1::MONITOR: return "monitor";
    case sync::v1::LEGAL: return "legal";
    default: return "unknown";
  }
}

std::optional<Role> RoleFromName(std::string_view name) {
  if (name == "owner") return sync::v1::OWNER;
  if (name == "coordinator") return sync::v1::COORDINATOR;
  if (name == "monitor") return sync::v1::MONITOR;
  if (name == "legal") return sync::v1::LEGAL;
  return std::nullopt;
}

}  // namespace evault::vault
