// Membership of a vault: who may write, read and admit others, derived only from
// signed membership operations (MembershipOp in a public ObjectEnvelope), applied in
// server order. Clients and the server run the same rules, so a server that accepts a
// forged operation is caught by every client, and a forged operation pushed to an
// honest server is refused there.
//
// Rules:
//   GENESIS  the first operation, and only the first; signed by its subject; role OWNER.
//   INVITE   by an active OWNER or COORDINATOR; offers COORDINATOR, MONITOR or LEGAL
//            under a fresh invite id.
//   ADMIT    by an active OWNER or COORDINATOR; answers an open invite with its role;
//            the subject must be new and receive the sealed vault read key.
//   REVOKE   by an active OWNER; the subject must be another active member.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "crypto/bytes.h"
#include "crypto/status.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"

namespace evault::vault {

struct Member {
  crypto::Bytes signing_key;
  crypto::Bytes box_key;
  sync::v1::Role role = sync::v1::ROLE_UNSPECIFIED;
  bool revoked = false;
  std::string admitted;  // "created" of the admitting operation
};

struct OpenInvite {
  sync::v1::Role role;
  crypto::Bytes inviter;
};

class Membership {
 public:
  // Checks the envelope's signature and vault id, parses its operation and applies it.
  // On error the state is unchanged.
  Status Apply(const format::v1::ObjectEnvelope& envelope);

  bool empty() const { return members_.empty(); }
  // The member with this signing key, if any (revoked members included).
  const Member* Find(crypto::ByteView signing_key) const;
  bool IsActive(crypto::ByteView signing_key) const;
  bool CanWrite(crypto::ByteView signing_key) const;
  bool CanAdmit(crypto::ByteView signing_key) const;
  const OpenInvite* FindInvite(crypto::ByteView invite_id) const;
  const std::map<std::string, Member>& members() const { return members_; }
  const crypto::Bytes& vault_id() const { return vault_id_; }

  // Parses the operation of a membership envelope (no checks beyond parsing).
  static Result<sync::v1::MembershipOp> ParseOp(const format::v1::ObjectEnvelope& envelope);

 private:
  crypto::Bytes vault_id_;
  std::map<std::string, Member> members_;      // by signing key bytes
  std::map<std::string, OpenInvite> invites_;  // by invite id bytes
};

// Verifies an envelope's Ed25519 signature by its author (no decryption).
bool VerifyEnvelopeSignature(const format::v1::ObjectEnvelope& envelope);

// "evault-invite-id" BLAKE2b of the invite secret: what the vault publishes.
crypto::Bytes InviteIdFromSecret(crypto::ByteView secret);

// The short fingerprint people compare out of band: 6 groups of 5 digits from
// BLAKE2b of the signing key (a "safety number").
std::string Fingerprint(crypto::ByteView signing_key);

// Canonical messages signed in the sync protocol (shared by client and server).
crypto::Bytes AuthSigningMessage(crypto::ByteView nonce, crypto::ByteView vault_id,
                                 crypto::ByteView device_key, std::string_view purpose);
crypto::Bytes JoinSigningMessage(const sync::v1::JoinRequest& request);
// What the join proof authenticates: the joining device's keys, for this vault.
crypto::Bytes JoinProofMessage(crypto::ByteView vault_id, const sync::v1::DeviceKeys& device);

std::string RoleName(sync::v1::Role role);
std::optional<sync::v1::Role> RoleFromName(std::string_view name);

}  // namespace evault::vault
