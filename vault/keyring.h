// Keyring: the secret keys this device holds beyond its own identity, and the rules
// that derive them. Which objects a device can read is exactly which of these it holds:
//
//   epoch secret (32 random bytes, per membership epoch; owners and coordinators)
//     --crypto_kdf "evepochr"--> seed of the epoch's readers X25519 key pair
//     --crypto_kdf "evepochm"--> seed of the epoch's members X25519 key pair
//   members seed (monitors receive only this): the members key pair, which opens
//     case-key announcements and checkpoints, never evidence
//   case key pair (random, per case and epoch; its secret is sealed to the epoch's
//     readers key, and shared with legal devices granted the case)
//   self key pairs (random; the author slot of this device's own objects; a purge
//     replaces the current one and forgets those it no longer needs)
//
// Keys arrive sealed to this device's box key in membership operations; every epoch
// key is checked against the public keys the signed operation that began the epoch
// published, so a coordinator cannot hand out a key that does not match.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/status.h"
#include "vault/membership.h"
#include "vault/object.h"

namespace evault::vault {

struct EpochKeyPairs {
  crypto::BoxKeyPair readers;
  crypto::BoxKeyPair members;
};
Result<EpochKeyPairs> DeriveEpochKeys(const crypto::SymmetricKey& epoch_secret);
crypto::SecretBytes MembersSeed(const crypto::SymmetricKey& epoch_secret);

// Opaque names for a case and a case key, under a key only readers hold: how
// coordinators track grants in public membership operations without naming cases.
crypto::Bytes CaseTag(const crypto::SymmetricKey& tag_key, crypto::ByteView case_id);
crypto::Bytes CaseKeyTag(const crypto::SymmetricKey& tag_key, crypto::ByteView case_public_key);

class Keyring {
 public:
  struct CaseKey {
    std::uint64_t epoch;
    crypto::Bytes case_id;
    crypto::BoxKeyPair pair;
  };

  // Opens the keys sealed to this device in `membership` that it has not opened yet.
  // A key that does not open, or does not match its epoch's public keys, is skipped
  // and counted in rejected_count(): a faulty sharer must not stall this device.
  Status Absorb(const Membership& membership, crypto::ByteView my_signing_key, const crypto::BoxKeyPair& my_box);

  // How many keys sealed to this device have been looked at, and how many of them
  // were refused.
  std::size_t opened_count() const { return opened_; }
  std::size_t rejected_count() const { return rejected_; }
  // How many epoch, members and case keys it holds.
  std::size_t held_count() const { return readers_.size() + members_.size() + case_keys_.size(); }
  // Drops every key learned from membership (after a pull that did not commit); the
  // next Absorb starts over. Self keys stay.
  void ForgetDelivered();

  void SetSelfKeys(std::vector<crypto::BoxKeyPair> keys) { self_ = std::move(keys); }
  const std::vector<crypto::BoxKeyPair>& self_keys() const { return self_; }

  bool IsReader(std::uint64_t epoch) const { return readers_.contains(epoch); }
  const crypto::SymmetricKey* EpochSecret(std::uint64_t epoch) const;
  const crypto::BoxKeyPair* Readers(std::uint64_t epoch) const;
  const crypto::SymmetricKey* TagKey() const { return tag_key_ ? &*tag_key_ : nullptr; }
  const std::vector<CaseKey>& case_keys() const { return case_keys_; }

  // The keys to try on an object of `epoch`; `mine`: written by this device.
  OpeningKeys For(std::uint64_t epoch, bool mine) const;

 private:
  std::size_t absorbed_ = 0;  // how many of membership.delivered() were looked at
  std::size_t opened_ = 0;
  std::size_t rejected_ = 0;

  bool Open(const Membership& membership, const sync::v1::SealedKey& key, const crypto::BoxKeyPair& my_box);
  std::map<std::uint64_t, crypto::SymmetricKey> epoch_secrets_;
  std::map<std::uint64_t, crypto::BoxKeyPair> readers_;
  std::map<std::uint64_t, crypto::BoxKeyPair> members_;
  std::optional<crypto::SymmetricKey> tag_key_;
  std::vector<CaseKey> case_keys_;
  std::vector<crypto::BoxKeyPair> self_;
};

}  // namespace evault::vault
