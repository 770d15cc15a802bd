#include "vault/keyring.h"

#include <cstring>

namespace evault::vault {

using crypto::Bytes;
using crypto::ByteView;
using crypto::SecretBytes;
using crypto::SymmetricKey;

namespace {

Result<crypto::BoxKeyPair> PairFromSubkey(const SymmetricKey& secret, crypto::KeyPurpose purpose) {
  const SymmetricKey seed = crypto::DeriveSubkey(secret, purpose);
  return crypto::BoxKeyPair::FromSeed(seed.bytes());
}

bool SamePublicKey(const crypto::BoxKeyPair& pair, const Bytes& expected) { return pair.public_key() == expected; }

Bytes Tag(const SymmetricKey& tag_key, std::string_view what, ByteView value) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes(what));
  crypto::AppendField(m, value);
  return crypto::KeyedHash(tag_key, m);
}

}  // namespace

Result<EpochKeyPairs> DeriveEpochKeys(const SymmetricKey& epoch_secret) {
  EVAULT_ASSIGN_OR_RETURN(auto readers, PairFromSubkey(epoch_secret, crypto::KeyPurpose::kEpochReaders));
  EVAULT_ASSIGN_OR_RETURN(auto members, PairFromSubkey(epoch_secret, crypto::KeyPurpose::kEpochMembers));
  return EpochKeyPairs{std::move(readers), std::move(members)};
}

SecretBytes MembersSeed(const SymmetricKey& epoch_secret) {
  return crypto::DeriveSubkey(epoch_secret, crypto::KeyPurpose::kEpochMembers).bytes().Clone();
}

Bytes CaseTag(const SymmetricKey& tag_key, ByteView case_id) { return Tag(tag_key, "evault-case-tag-v1", case_id); }

Bytes CaseKeyTag(const SymmetricKey& tag_key, ByteView case_public_key) {
  return Tag(tag_key, "evault-case-key-tag-v1", case_public_key);
}

Status Keyring::Absorb(const Membership& membership, ByteView my_signing_key, const crypto::BoxKeyPair& my_box) {
  const auto& delivered = membership.delivered();
  const std::string me(crypto::AsText(my_signing_key));
  for (; absorbed_ < delivered.size(); ++absorbed_) {
    const sync::v1::SealedKey& k = delivered[absorbed_];
    if (k.recipient() != me) continue;
    ++opened_;
    // A key that does not open or does not match is the sharer's fault (the signed
    // operation names it); it is skipped and counted, so it cannot stall this device.
    if (!Open(membership, k, my_box)) ++rejected_;
  }
  return Ok();
}

bool Keyring::Open(const Membership& membership, const sync::v1::SealedKey& k, const crypto::BoxKeyPair& my_box) {
  const EpochPublicKeys* published = membership.Epoch(k.epoch());
  auto secret = my_box.OpenSealed(crypto::AsBytes(k.sealed()));
  if (!secret || published == nullptr) return false;
  switch (k.kind()) {
    case sync::v1::SealedKey::EPOCH_SECRET: {
      auto epoch_secret = SymmetricKey::FromBytes(std::move(*secret));
      if (!epoch_secret) return false;
      auto pairs = DeriveEpochKeys(*epoch_secret);
      if (!pairs || !SamePublicKey(pairs->readers, published->readers) ||
          !SamePublicKey(pairs->members, published->members)) {
        return false;
      }
      if (k.epoch() == 1) tag_key_ = crypto::DeriveSubkey(*epoch_secret, crypto::KeyPurpose::kCaseTags);
      readers_.insert_or_assign(k.epoch(), std::move(pairs->readers));
      members_.insert_or_assign(k.epoch(), std::move(pairs->members));
      epoch_secrets_.insert_or_assign(k.epoch(), std::move(*epoch_secret));
      return true;
    }
    case sync::v1::SealedKey::MEMBERS_SEED: {
      auto members = crypto::BoxKeyPair::FromSeed(*secret);
      if (!members || !SamePublicKey(*members, published->members)) return false;
      members_.insert_or_assign(k.epoch(), std::move(*members));
      return true;
    }
    case sync::v1::SealedKey::CASE_KEY: {
      if (secret->size() != kIdBytes + 32) return false;
      Bytes case_id(secret->data(), secret->data() + kIdBytes);
      auto pair = crypto::BoxKeyPair::FromSecretKey(SecretBytes::CopyFrom(ByteView(secret->data() + kIdBytes, 32)));
      if (!pair) return false;
      case_keys_.push_back({k.epoch(), std::move(case_id), std::move(*pair)});
      return true;
    }
    default:
      return false;
  }
}

void Keyring::ForgetDelivered() {
  absorbed_ = 0;
  opened_ = 0;
  rejected_ = 0;
  epoch_secrets_.clear();
  readers_.clear();
  members_.clear();
  tag_key_.reset();
  case_keys_.clear();
}

const SymmetricKey* Keyring::EpochSecret(std::uint64_t epoch) const {
  auto it = epoch_secrets_.find(epoch);
  return it == epoch_secrets_.end() ? nullptr : &it->second;
}

const crypto::BoxKeyPair* Keyring::Readers(std::uint64_t epoch) const {
  auto it = readers_.find(epoch);
  return it == readers_.end() ? nullptr : &it->second;
}

OpeningKeys Keyring::For(std::uint64_t epoch, bool mine) const {
  OpeningKeys keys;
  keys.readers = Readers(epoch);
  if (auto it = members_.find(epoch); it != members_.end()) keys.second.push_back(&it->second);
  for (const auto& k : case_keys_) {
    if (k.epoch == epoch) keys.second.push_back(&k.pair);
  }
  // A legal device lacking a new epoch's case key seals its custody entries to the
  // newest one it holds (Vault::Impl::CustodySealing), so older ones are tried too.
  for (const auto& k : case_keys_) {
    if (k.epoch < epoch) keys.second.push_back(&k.pair);
  }
  if (mine) {
    for (const auto& k : self_) keys.author.push_back(&k);
  }
  return keys;
}

}  // namespace evault::vault
