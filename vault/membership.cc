#include "vault/membership.h"

#include <sodium.h>

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

const OpenInvite* Membership::FindInvite(ByteView invite_id) const {
  auto it = invites_.find(Key(invite_id));
  return it == invites_.end() ? nullptr : &it->second;
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
  switch (op.kind()) {
    case MembershipOp::GENESIS:
      if (!members_.empty()) return Fail(ErrorCode::kTampered, "a second GENESIS operation");
      if (!valid_keys() || subject.signing_key() != e.author() || op.role() != sync::v1::OWNER) {
        return Fail(ErrorCode::kTampered, "GENESIS must make its own signer the owner");
      }
      vault_id_.assign(e.vault_id().begin(), e.vault_id().end());
      members_[subject.signing_key()] = Member{Bytes(subject.signing_key().begin(), subject.signing_key().end()),
                                               Bytes(subject.box_key().begin(), subject.box_key().end()),
                                               sync::v1::OWNER, false, op.created()};
      return Ok();
    case MembershipOp::INVITE:
      if (members_.empty()) return Fail(ErrorCode::kTampered, "membership operation before GENESIS");
      if (!CanAdmit(author)) return Fail(ErrorCode::kTampered, "INVITE signed by a device that may not invite");
      if (op.role() != sync::v1::COORDINATOR && op.role() != sync::v1::MONITOR && op.role() != sync::v1::LEGAL) {
        return Fail(ErrorCode::kTampered, "INVITE offers an invalid role");
      }
      if (op.invite_id().size() != 32 || invites_.contains(op.invite_id())) {
        return Fail(ErrorCode::kTampered, "INVITE has a bad or reused invite id");
      }
      invites_[op.invite_id()] = OpenInvite{op.role(), Bytes(author.begin(), author.end())};
      return Ok();
    case MembershipOp::ADMIT: {
      if (members_.empty()) return Fail(ErrorCode::kTampered, "membership operation before GENESIS");
      if (!CanAdmit(author)) return Fail(ErrorCode::kTampered, "ADMIT signed by a device that may not admit");
      auto invite = invites_.find(op.invite_id());
      if (invite == invites_.end()) return Fail(ErrorCode::kTampered, "ADMIT answers no open invite");
      if (invite->second.role != op.role()) return Fail(ErrorCode::kTampered, "ADMIT grants another role than invited");
      if (!valid_keys() || members_.contains(subject.signing_key())) {
        return Fail(ErrorCode::kTampered, "ADMIT of an invalid or existing device");
      }
      if (op.sealed_read_key().empty()) return Fail(ErrorCode::kTampered, "ADMIT carries no vault key");
      invites_.erase(invite);
      members_[subject.signing_key()] = Member{Bytes(subject.signing_key().begin(), subject.signing_key().end()),
                                               Bytes(subject.box_key().begin(), subject.box_key().end()),
                                               op.role(), false, op.created()};
      return Ok();
    }
    case MembershipOp::REVOKE: {
      if (members_.empty()) return Fail(ErrorCode::kTampered, "membership operation before GENESIS");
      const Member* actor = Find(author);
      if (actor == nullptr || actor->revoked || actor->role != sync::v1::OWNER) {
        return Fail(ErrorCode::kTampered, "REVOKE signed by a device that may not revoke");
      }
      auto it = members_.find(subject.signing_key());
      if (it == members_.end() || it->second.revoked || subject.signing_key() == e.author()) {
        return Fail(ErrorCode::kTampered, "REVOKE of an unknown, revoked or own device");
      }
      it->second.revoked = true;
      return Ok();
    }
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
