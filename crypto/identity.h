// A device's long-term identity: an Ed25519 key pair that signs everything the device
// writes, and an X25519 key pair that other devices seal keys to (crypto_box_seal).
#pragma once

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto {

inline constexpr std::size_t kSigningPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;

class SigningKeyPair {
 public:
  static SigningKeyPair Generate();
  // From the 64-byte libsodium secret key (seed | public key).
  static Result<SigningKeyPair> FromSecretKey(SecretBytes secret_key);

  const Bytes& public_key() const { return public_key_; }
  const SecretBytes& secret_key() const { return secret_key_; }
  Bytes Sign(ByteView message) const;  // detached, 64 bytes

 private:
  SigningKeyPair(Bytes pk, SecretBytes sk) : public_key_(std::move(pk)), secret_key_(std::move(sk)) {}
  Bytes public_key_;
  SecretBytes secret_key_;
};

bool VerifySignature(ByteView public_key, ByteView message, ByteView signature);

class BoxKeyPair {
 public:
  static BoxKeyPair Generate();
  static Result<BoxKeyPair> FromSecretKey(SecretBytes secret_key);  // 32 bytes
  // Deterministic (crypto_box_seed_keypair): whoever holds the 32-byte seed holds the pair.
  static Result<BoxKeyPair> FromSeed(const SecretBytes& seed);

  const Bytes& public_key() const { return public_key_; }
  const SecretBytes& secret_key() const { return secret_key_; }

  // Opens what SealToPublicKey sealed to this key pair.
  Result<SecretBytes> OpenSealed(ByteView sealed) const;

 private:
  BoxKeyPair(Bytes pk, SecretBytes sk) : public_key_(std::move(pk)), secret_key_(std::move(sk)) {}
  Bytes public_key_;
  SecretBytes secret_key_;
};

// Anonymous sealing (crypto_box_seal) of a secret to an X25519 public key.
Result<Bytes> SealToPublicKey(ByteView recipient_public_key, ByteView secret);

}  // namespace evault::crypto
