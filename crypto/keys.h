// Typed symmetric keys, purpose-separated subkeys (crypto_kdf) and key wrapping.
//
// A SymmetricKey is always exactly 32 bytes of locked memory; the only ways to get one
// are generating it, deriving it, unwrapping it or checking raw bytes, so a buffer of
// the wrong size can never reach a cipher.
#pragma once

#include <cstdint>

#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto {

class SymmetricKey {
 public:
  static constexpr std::size_t kBytes = 32;

  static SymmetricKey Generate();
  static Result<SymmetricKey> FromBytes(SecretBytes bytes);  // must be exactly kBytes

  const SecretBytes& bytes() const { return bytes_; }
  const std::uint8_t* data() const { return bytes_.data(); }
  SymmetricKey Clone() const { return SymmetricKey(bytes_.Clone()); }

 private:
  explicit SymmetricKey(SecretBytes bytes) : bytes_(std::move(bytes)) {}
  SecretBytes bytes_;
};

// Every subkey purpose has its own crypto_kdf context and id, so keys for different
// jobs are independent even though they come from one root.
enum class KeyPurpose {
  kLocalSecrets,    // wraps this device's identity and self keys
  kIndex,           // encrypts the catalog and search index segments
  kStorageNames,    // keyed hashes for fixed RocksDB key names
  kSearchTokens,    // keyed hashes that place search tokens in partitions
  kAttachmentData,  // from an attachment content key: encrypts its chunks
  kChunkNames,      // from an attachment content key: names its chunks
  kEpochReaders,    // from an epoch secret: seed of the epoch's readers key pair
  kEpochMembers,    // from an epoch secret: seed of the epoch's members key pair
  kCaseTags,        // from the first epoch secret: keyed names of cases and case keys
  kRecoverySlot,    // from a recovery key: the key that wraps the root in header slot 1
};

SymmetricKey DeriveSubkey(const SymmetricKey& root, KeyPurpose purpose);

// Wraps a key under a key-encryption key with XChaCha20-Poly1305; `context` (the
// identity of the slot the wrapped key lives in) is bound as associated data.
Bytes WrapKey(const SymmetricKey& kek, const SymmetricKey& key, ByteView context);
// Fails with kTampered on a wrong KEK, altered bytes or a different context.
Result<SymmetricKey> UnwrapKey(const SymmetricKey& kek, ByteView wrapped, ByteView context);

// BLAKE2b keyed hash (crypto_generichash): opaque, unlinkable names for storage keys.
// out_bytes must be within 16..64 (aborts otherwise: a programming error).
Bytes KeyedHash(const SymmetricKey& key, ByteView message, std::size_t out_bytes = 16);
// Unkeyed BLAKE2b-256, for hash chains over public data.
Bytes PublicHash(ByteView message);

}  // namespace evault::crypto
