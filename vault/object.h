// Immutable, signed, encrypted objects: the unit of storage and of sync.
//
// An ObjectEnvelope carries in the clear only what a server must route on: vault id,
// object id, author key, author sequence and previous hash, the key epoch, and the
// signature. Three key slots each seal the same header (content key, kind, logical id,
// revision, case id) to one public key: the epoch's readers, the case (or the epoch's
// members), and the author's self key; so who can read an object is decided by who
// holds which secret key, not by a server. The ciphertext, under the content key,
// holds the padded body with the whole identity as associated data. So:
//   - a body moved to another object, kind, logical id or revision fails to open;
//   - a slot moved to another object fails the key commitment;
//   - every reader sees the same header (the signed commitment binds it);
//   - each author's objects form a signed hash chain (sequence + previous hash).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

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
  kCaseKey = 5,     // a case's public key for an epoch, its secret sealed to the epoch's readers
  kAuditEntry = 6,  // one signed custody entry (audit/custody.h); logical id = its case or the vault
};

struct ObjectIdentity {
  ObjectKind kind;
  crypto::Bytes logical_id;  // the case, record or attachment this object belongs to
  std::uint64_t revision = 1;
  crypto::Bytes case_id;     // the case it belongs to; empty for objects of no case
};

inline constexpr std::size_t kKeySlots = 3;

// The public keys an object is sealed to (see evault_format.proto, ObjectEnvelope).
struct SealingKeys {
  std::uint64_t epoch = 0;
  crypto::Bytes readers;  // the epoch's readers key
  crypto::Bytes second;   // the case key, or the epoch's members key
  crypto::Bytes author;   // the author's current self key
};

// The secret keys a device may try, slot by slot (none: it cannot read that slot).
struct OpeningKeys {
  const crypto::BoxKeyPair* readers = nullptr;
  std::vector<const crypto::BoxKeyPair*> second;
  std::vector<const crypto::BoxKeyPair*> author;
};

struct OpenedObject {
  ObjectIdentity identity;
  crypto::SymmetricKey content_key;
  crypto::SecretBytes body;  // unpadded plaintext, in locked memory
  crypto::Bytes author;
};

class ObjectCodec {
 public:
  ObjectCodec(crypto::Bytes vault_id, const crypto::SigningKeyPair* author);

  // Seals `body` with `content_key` as the author's object number `seq` following
  // `prev_hash`, readable through the three slots of `to`.
  Result<format::v1::ObjectEnvelope> Seal(const crypto::Bytes& object_id, const ObjectIdentity& identity,
                                          crypto::ByteView body, std::uint64_t seq,
                                          const crypto::Bytes& prev_hash,
                                          const crypto::SymmetricKey& content_key,
                                          const SealingKeys& to) const;

  // Verifies the signature, that the envelope belongs to this vault and to
  // `expected_object_id`, then opens a slot with `keys` and the body. kPermissionDenied
  // when no key opens any slot (the object is not for this device); kTampered when the
  // signature, the commitment or the body fails.
  Result<OpenedObject> Open(const format::v1::ObjectEnvelope& envelope, crypto::ByteView expected_object_id,
                            const OpeningKeys& keys) const;

  // Seals an object whose content is public (a membership operation): signed, chained,
  // not encrypted.
  format::v1::ObjectEnvelope SealPublic(const crypto::Bytes& object_id, crypto::ByteView public_body,
                                        std::uint64_t seq, const crypto::Bytes& prev_hash) const;

  // The same object as the author's object number `seq` after `prev_hash`, signed again
  // (re-chaining unpushed objects after an earlier one was re-sealed).
  format::v1::ObjectEnvelope Rechain(format::v1::ObjectEnvelope envelope, std::uint64_t seq,
                                     const crypto::Bytes& prev_hash) const;

  // What a server can check of a sealed object without keys: three key slots of the
  // right size, a commitment, a ciphertext, and an epoch that exists (1..current_epoch).
  static Status CheckShape(const format::v1::ObjectEnvelope& envelope, std::uint64_t current_epoch);

  // The chain hash of an envelope (BLAKE2b-256 of its signed message and signature).
  static crypto::Bytes ChainHash(const format::v1::ObjectEnvelope& envelope);
  // Checks the author's Ed25519 signature over the envelope (no decryption).
  static bool VerifySignature(const format::v1::ObjectEnvelope& envelope);

 private:
  format::v1::ObjectEnvelope ChainedEnvelope(const crypto::Bytes& object_id, std::uint64_t seq,
                                             const crypto::Bytes& prev_hash) const;

  crypto::Bytes vault_id_;
  const crypto::SigningKeyPair* author_;
};

}  // namespace evault::vault
