#include "crypto/identity.h"

#include <sodium.h>

namespace evault::crypto {

SigningKeyPair SigningKeyPair::Generate() {
  EnsureSodium();
  Bytes pk(crypto_sign_PUBLICKEYBYTES);
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(pk.data(), sk.data());
  return SigningKeyPair(std::move(pk), std::move(sk));
}

Result<SigningKeyPair> SigningKeyPair::FromSecretKey(SecretBytes secret_key) {
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return Fail(ErrorCode::kCorrupt, "signing key has the wrong length");
  }
  // Recompute the key pair from the seed and insist the stored public half matches:
  // signing with a foreign public half can leak the private key.
  Bytes pk(crypto_sign_PUBLICKEYBYTES);
  SecretBytes recomputed(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(pk.data(), recomputed.data(), secret_key.data());
  if (!recomputed.Equals(secret_key)) {
    return Fail(ErrorCode::kCorrupt, "signing key does not match its public half");
  }
  return SigningKeyPair(std::move(pk), std::move(secret_key));
}

Bytes SigningKeyPair::Sign(ByteView message) const {
  Bytes sig(crypto_sign_BYTES);
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

bool VerifySignature(ByteView public_key, ByteView message, ByteView signature) {
  EnsureSodium();
  return public_key.size() == crypto_sign_PUBLICKEYBYTES && signature.size() == crypto_sign_BYTES &&
         crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

BoxKeyPair BoxKeyPair::Generate() {
  EnsureSodium();
  Bytes pk(crypto_box_PUBLICKEYBYTES);
  SecretBytes sk(crypto_box_SECRETKEYBYTES);
  crypto_box_keypair(pk.data(), sk.data());
  return BoxKeyPair(std::move(pk), std::move(sk));
}

Result<BoxKeyPair> BoxKeyPair::FromSecretKey(SecretBytes secret_key) {
  if (secret_key.size() != crypto_box_SECRETKEYBYTES) {
    return Fail(ErrorCode::kCorrupt, "box key has the wrong length");
  }
  Bytes pk(crypto_box_PUBLICKEYBYTES);
  crypto_scalarmult_base(pk.data(), secret_key.data());
  return BoxKeyPair(std::move(pk), std::move(secret_key));
}

Result<BoxKeyPair> BoxKeyPair::FromSeed(const SecretBytes& seed) {
  EnsureSodium();
  if (seed.size() != crypto_box_SEEDBYTES) return Fail(ErrorCode::kCorrupt, "box key seed has the wrong length");
  Bytes pk(crypto_box_PUBLICKEYBYTES);
  SecretBytes sk(crypto_box_SECRETKEYBYTES);
  crypto_box_seed_keypair(pk.data(), sk.data(), seed.data());
  return BoxKeyPair(std::move(pk), std::move(sk));
}

Result<SecretBytes> BoxKeyPair::OpenSealed(ByteView sealed) const {
  if (sealed.size() < crypto_box_SEALBYTES) {
    return Fail(ErrorCode::kTampered, "sealed box is truncated");
  }
  SecretBytes out(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), public_key_.data(),
                           secret_key_.data()) != 0) {
    return Fail(ErrorCode::kTampered, "sealed box failed authentication");
  }
  return out;
}

Result<Bytes> SealToPublicKey(ByteView recipient_public_key, ByteView secret) {
  EnsureSodium();
  if (recipient_public_key.size() != crypto_box_PUBLICKEYBYTES) {
    return Fail(ErrorCode::kInvalidArgument, "recipient key has the wrong length");
  }
  Bytes out(secret.size() + crypto_box_SEALBYTES);
  if (crypto_box_seal(out.data(), secret.data(), secret.size(), recipient_public_key.data()) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "recipient key is not a valid X25519 public key");
  }
  return out;
}

}  // namespace evault::crypto
