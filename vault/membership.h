// Membership of a vault: who may write, read and admit others, derived only from
// signed membership operations (MembershipOp in a public ObjectEnvelope), applied in
// server order. Clients and the server run the same rules, so a server that accepts a
// forged operation is caught by every client, and a forged operation pushed to an
// honest server is refused there.
//
// Rules (an operation that breaks one is refused whole):
//   GENESIS  the first operation, and only the first; signed by its subject; role OWNER;
//            begins epoch 1 (its readers and members public keys) and seals the epoch
//            secret to its signer.
//   INVITE   by an active OWNER or COORDINATOR; offers COORDINATOR, MONITOR or LEGAL
//            under a fresh invite id.
//   ADMIT    by an active OWNER or COORDINATOR; answers an open invite with its role;
//            the subject must be new; keys in it go to the subject only.
//   REVOKE   by the active OWNER; the subject must be another active member; begins
//            epoch current+1 (new public keys) with keys for the remaining members.
//   SHARE    by an active OWNER or COORDINATOR: keys for members who lack them (a new
//            epoch's keys, or a case's keys to a legal device: a grant).
//   CHANGE_ROLE by the active OWNER; the subject must be another active member and the
//            role COORDINATOR, MONITOR or LEGAL and new; begins epoch current+1, like
//            REVOKE, so a device that loses a right loses it for everything written next.
// Every sealed key must name an epoch that exists and suit a role its recipient held
// in that key's epoch or any later one (EPOCH_SECRET to owners and coordinators,
// MEMBERS_SEED to monitors, CASE_KEY to legal devices); and never reach a device for an
// epoch that began with or after its revocation. "Or any later one" accepts a key of an
// older epoch sealed by a sharer that had not yet seen a revocation or demotion: the
// device held that key anyway, and refusing it would wedge an honest sharer's history.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>
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
  std::uint64_t revoked_in_epoch = 0;  // the epoch its revocation began
  std::vector<std::pair<std::uint64_t, sync::v1::Role>> roles;  // (first epoch, role), oldest first

  // The role it held during `epoch` (its first role for epochs before it joined).
  sync::v1::Role RoleAt(std::uint64_t epoch) const;
};

struct EpochPublicKeys {
  crypto::Bytes readers;  // X25519: owners and coordinators hold the secret
  crypto::Bytes members;  // X25519: every member but legal holds the secret
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
  bool CanRevoke(crypto::ByteView signing_key) const;
  std::optional<sync::v1::Role> RoleOf(crypto::ByteView signing_key) const;  // active members only
  const OpenInvite* FindInvite(crypto::ByteView invite_id) const;
  const std::map<std::string, Member>& members() const { return members_; }
  const crypto::Bytes& vault_id() const { return vault_id_; }

  std::uint64_t current_epoch() const { return epochs_.size(); }
  const EpochPublicKeys* Epoch(std::uint64_t epoch) const;
  // Every key sealed to any member, in the order delivered.
  const std::vector<sync::v1::SealedKey>& delivered() const { return delivered_; }
  // Whether a key of this kind and epoch (and, for case keys, this key tag) has
  // already been sealed to `recipient`.
  bool HasDelivered(crypto::ByteView recipient, sync::v1::SealedKey::Kind kind, std::uint64_t epoch,
                    crypto::ByteView key_tag = {}) const;
  // Grants: (legal device, case tag) pairs, from the case keys shared with them.
  const std::set<std::pair<std::string, std::string>>& grants() const { return grants_; }

  // Parses the operation of a membership envelope (no checks beyond parsing).
  static Result<sync::v1::MembershipOp> ParseOp(const format::v1::ObjectEnvelope& envelope);

 private:
  crypto::Bytes vault_id_;
  std::map<std::string, Member> members_;      // by signing key bytes
  std::map<std::string, OpenInvite> invites_;  // by invite id bytes
  std::set<std::string> answered_;               // invite ids already used by an ADMIT
  std::vector<EpochPublicKeys> epochs_;          // epoch e at index e-1
  std::vector<sync::v1::SealedKey> delivered_;
  std::set<std::string> delivered_index_;        // recipient | kind | epoch | key tag
  std::set<std::pair<std::string, std::string>> grants_;

  Status CheckKeys(const sync::v1::MembershipOp& op) const;
  Status CheckNewEpoch(const sync::v1::MembershipOp& op) const;
  void BeginEpoch(const sync::v1::MembershipOp& op);  // records its public keys and sealed keys
  void RecordKeys(const sync::v1::MembershipOp& op);
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
