#include "crypto/aead.h"

#include <sodium.h>

namespace evault::crypto {

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);

void AeadSealAppend(const SymmetricKey& key, ByteView plaintext, ByteView associated_data,
                    Bytes& out) {
  const std::size_t start = out.size();
  out.resize(start + plaintext.size() + kAeadOverhead);
  std::uint8_t* nonce = out.data() + start;
  randombytes_buf(nonce, kAeadNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kAeadNonceBytes, &written, plaintext.data(), plaintext.size(),
      associated_data.data(), associated_data.size(), nullptr, nonce, key.data());
}

Bytes AeadSeal(const SymmetricKey& key, ByteView plaintext, ByteView associated_data) {
  Bytes out;
  AeadSealAppend(key, plaintext, associated_data, out);
  return out;
}

Result<std::size_t> AeadOpenInto(const SymmetricKey& key, ByteView sealed,
                                 ByteView associated_data, std::span<std::uint8_t> out) {
  if (sealed.size() < kAeadOverhead) {
    return Fail(ErrorCode::kTampered, "ciphertext is truncated");
  }
  const std::size_t plain_size = sealed.size() - kAeadOverhead;
  if (out.size() < plain_size) {
    return Fail(ErrorCode::kInternal, "decryption buffer too small");
  }
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &written, nullptr, sealed.data() + kAeadNonceBytes,
          sealed.size() - kAeadNonceBytes, associated_data.data(), associated_data.size(),
          sealed.data(), key.data()) != 0) {
    sodium_memzero(out.data(), plain_size);
    return Fail(ErrorCode::kTampered, "authentication failed (wrong key, or data altered or moved)");
  }
  return static_cast<std::size_t>(written);
}

Status AeadVerify(const SymmetricKey& key, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kAeadOverhead) {
    return Fail(ErrorCode::kTampered, "ciphertext is truncated");
  }
  const std::size_t body_size = sealed.size() - kAeadOverhead;
  const std::uint8_t* body = sealed.data() + kAeadNonceBytes;
  // No message buffer: libsodium verifies the tag and returns before decrypting
  // (aead_test pins this: a flipped byte must still fail).
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          nullptr, nullptr, body, body_size, body + body_size, associated_data.data(),
          associated_data.size(), sealed.data(), key.data()) != 0) {
    return Fail(ErrorCode::kTampered, "authentication failed (wrong key, or data altered or moved)");
  }
  return Ok();
}

Result<SecretBytes> AeadOpen(const SymmetricKey& key, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kAeadOverhead) {
    return Fail(ErrorCode::kTampered, "ciphertext is truncated");
  }
  SecretBytes out(sealed.size() - kAeadOverhead);
  EVAULT_TRY(AeadOpenInto(key, sealed, associated_data, out.span()));
  return out;
}

}  // namespace evault::crypto
