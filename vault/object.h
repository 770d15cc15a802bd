// Immutable, signed, encrypted objects: the unit of storage (and, later, of sync).
//
// An ObjectEnvelope carries in the clear only what a server must route on: vault id,
// object id, author key, author sequence and previous hash, and the signature. Its
// sealed_header, under the vault read key, holds the object's content key, kind,
// logical id and revision; its ciphertext, under the content key, holds the padded
// body with the whole identity as associated data. So:
//   - a body moved to another object, kind, logical id or revision fails to open;
//   - a header moved to another object fails to open;
//   - each author's objects form a signed hash chain (sequence + previous hash).
#pragma once

#include <cstdint>
#include <optional>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"
#include "evault_format.pb.h"

namespace evault::vault {

inline constexpr std::size_t kIdBytes = 16;

enum class ObjectKind : std::uint8_t {
  kCase = 1,
  kRecordRevision = 2,
  kAttachmentManifest = 3,
  kCheckpoint = 4,  // the heads a device has pinned (sync::v1::Checkpoint), for fork detection
};

struct ObjectIdentity {
  ObjectKind kind;
  crypto::Bytes logical_id;  // the case, record or attachment this object belongs to
  std::uint64_t revision = 1;
};

struct OpenedObject {
  ObjectIdentity identity;
  crypto::SymmetricKey content_key;
  crypto::SecretBytes body;  // unpadded plaintext, in locked memory
  crypto::Bytes author;
};

class ObjectCodec {
 public:
  ObjectCodec(crypto::Bytes vault_id, const crypto::SigningKeyPair* author,
              const crypto::SymmetricKey* read_key);

  // Seals `body` with `content_key` (a fresh one when empty) as the author's object
  // number `seq` following `prev_hash`.
  format::v1::ObjectEnvelope Seal(const crypto::Bytes& object_id, const ObjectIdentity& identity,
                                  crypto::ByteView body, std::uint64_t seq,
                                  const crypto::Bytes& prev_hash,
                                  const crypto::SymmetricKey& content_key) const;

  // Verifies the signature, that the envelope belongs to this vault and to
  // `expected_object_id`, then opens header and body. kTampered on any failure.
  Result<OpenedObject> Open(const format::v1::ObjectEnvelope& envelope,
                            crypto::ByteView expected_object_id) const;

  // Seals an object whose content is public (a membership operation): signed, chained,
  // not encrypted.
  format::v1::ObjectEnvelope SealPublic(const crypto::Bytes& object_id, crypto::ByteView public_body,
                                        std::uint64_t seq, const crypto::Bytes& prev_hash) const;

  // The chain hash of an envelope (BLAKE2b-256 of its signed message and signature).
  static crypto::Bytes ChainHash(const format::v1::ObjectEnvelope& envelope);
  // Checks the author's Ed25519 signature over the envelope (no decryption).
  static bool VerifySignature(const format::v1::ObjectEnvelope& envelope);

 private:
  format::v1::ObjectEnvelope ChainedEnvelope(const crypto::Bytes& object_id, std::uint64_t seq,
                                             const crypto::Bytes& prev_hash) const;

  crypto::Bytes vault_id_;
  const crypto::SigningKeyPair* author_;
  const crypto::SymmetricKey* read_key_;
};

}  // namespace evault::vault
