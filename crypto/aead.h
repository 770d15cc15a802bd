// Authenticated encryption: XChaCha20-Poly1305-IETF with a fresh random 24-byte nonce
// per message (safe to pick at random at this nonce size).
//
// Sealed layout: nonce (24) | ciphertext | tag (16). The associated data must name the
// slot the message belongs in (vault id, object id, ...), so a ciphertext copied to
// another slot fails to open.
#pragma once

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto {

inline constexpr std::size_t kAeadNonceBytes = 24;
inline constexpr std::size_t kAeadTagBytes = 16;
inline constexpr std::size_t kAeadOverhead = kAeadNonceBytes + kAeadTagBytes;

Bytes AeadSeal(const SymmetricKey& key, ByteView plaintext, ByteView associated_data);

// Appends the sealed message to `out` (no intermediate copy for large buffers).
void AeadSealAppend(const SymmetricKey& key, ByteView plaintext, ByteView associated_data,
                    Bytes& out);

// Plaintext comes back in locked memory. kTampered on any mismatch.
Result<SecretBytes> AeadOpen(const SymmetricKey& key, ByteView sealed, ByteView associated_data);

// Opens into a caller buffer of at least sealed.size() - kAeadOverhead bytes; returns
// the plaintext length. `out` is zeroed if authentication fails.
Result<std::size_t> AeadOpenInto(const SymmetricKey& key, ByteView sealed,
                                 ByteView associated_data, std::span<std::uint8_t> out);

// Checks that `sealed` would open, without producing the plaintext: for ciphertext that is
// only passed on, such as a downloaded chunk. kTampered exactly when AeadOpen would be.
// libsodium then computes and compares the Poly1305 tag and skips the decryption: about a
// third of the work of opening.
Status AeadVerify(const SymmetricKey& key, ByteView sealed, ByteView associated_data);

}  // namespace evault::crypto
