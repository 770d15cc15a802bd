#include "crypto/keys.h"

#include <sodium.h>

#include "crypto/aead.h"

namespace evault::crypto {

SymmetricKey SymmetricKey::Generate() { return SymmetricKey(SecretBytes::Random(kBytes)); }

Result<SymmetricKey> SymmetricKey::FromBytes(SecretBytes bytes) {
  if (bytes.size() != kBytes) {
    return Fail(ErrorCode::kCorrupt, "key has the wrong length");
  }
  return SymmetricKey(std::move(bytes));
}

namespace {
struct PurposeSpec {
  std::uint64_t id;
  const char* context;  // exactly crypto_kdf_CONTEXTBYTES (8) characters
};

PurposeSpec SpecFor(KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kLocalSecrets: return {1, "evlocal_"};
    case KeyPurpose::kIndex: return {2, "evindex_"};
    case KeyPurpose::kStorageNames: return {3, "evnames_"};
    case KeyPurpose::kSearchTokens: return {4, "evsearch"};
    case KeyPurpose::kAttachmentData: return {5, "evattenc"};
    case KeyPurpose::kChunkNames: return {6, "evchunk_"};
    case KeyPurpose::kEpochReaders: return {7, "evepochr"};
    case KeyPurpose::kEpochMembers: return {8, "evepochm"};
    case KeyPurpose::kCaseTags: return {9, "evcasetg"};
    case KeyPurpose::kRecoverySlot: return {10, "evrecovr"};
  }
  std::abort();
}
}  // namespace

SymmetricKey DeriveSubkey(const SymmetricKey& root, KeyPurpose purpose) {
  static_assert(crypto_kdf_KEYBYTES == SymmetricKey::kBytes);
  const PurposeSpec spec = SpecFor(purpose);
  SecretBytes out(SymmetricKey::kBytes);
  crypto_kdf_derive_from_key(out.data(), out.size(), spec.id, spec.context, root.data());
  return *SymmetricKey::FromBytes(std::move(out));
}

Bytes WrapKey(const SymmetricKey& kek, const SymmetricKey& key, ByteView context) {
  return AeadSeal(kek, key.bytes().span(), context);
}

Result<SymmetricKey> UnwrapKey(const SymmetricKey& kek, ByteView wrapped, ByteView context) {
  EVAULT_ASSIGN_OR_RETURN(SecretBytes raw, AeadOpen(kek, wrapped, context));
  return SymmetricKey::FromBytes(std::move(raw));
}

Bytes KeyedHash(const SymmetricKey& key, ByteView message, std::size_t out_bytes) {
  // Out-of-range lengths are a programming error; libsodium would refuse and leave zeros.
  if (out_bytes < crypto_generichash_BYTES_MIN || out_bytes > crypto_generichash_BYTES_MAX) std::abort();
  Bytes out(out_bytes);
  if (crypto_generichash(out.data(), out.size(), message.data(), message.size(), key.data(),
                         SymmetricKey::kBytes) != 0) {
    std::abort();
  }
  return out;
}

Bytes PublicHash(ByteView message) {
  Bytes out(crypto_generichash_BYTES);
  crypto_generichash(out.data(), out.size(), message.data(), message.size(), nullptr, 0);
  return out;
}

}  // namespace evault::crypto
