#include "crypto/passphrase_kdf.h"

#include <sodium.h>

#include <fmt/core.h>

namespace evault::crypto {

static_assert(crypto_pwhash_SALTBYTES == PassphraseKdfParams::kSaltBytes);

PassphraseKdfParams PassphraseKdfParams::New(std::uint64_t ops, std::uint64_t mem_bytes) {
  PassphraseKdfParams params;
  params.ops_limit = ops;
  params.mem_limit_bytes = mem_bytes;
  params.salt = RandomBytes(kSaltBytes);
  return params;
}

Status CheckKdfParams(const PassphraseKdfParams& p) {
  if (p.ops_limit < PassphraseKdfParams::kMinOps ||
      p.mem_limit_bytes < PassphraseKdfParams::kMinMemBytes) {
    return Fail(ErrorCode::kWeakParameters,
                fmt::format("Argon2id parameters too weak (ops {}, memory {} MiB; the minimum is "
                            "ops {}, {} MiB)",
                            p.ops_limit, p.mem_limit_bytes >> 20, PassphraseKdfParams::kMinOps,
                            PassphraseKdfParams::kMinMemBytes >> 20));
  }
  if (p.ops_limit > PassphraseKdfParams::kMaxOps ||
      p.mem_limit_bytes > PassphraseKdfParams::kMaxMemBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("Argon2id parameters too large (ops {}, memory {} MiB; the maximum is "
                            "ops {}, {} MiB)",
                            p.ops_limit, p.mem_limit_bytes >> 20, PassphraseKdfParams::kMaxOps,
                            PassphraseKdfParams::kMaxMemBytes >> 20));
  }
  if (p.salt.size() != PassphraseKdfParams::kSaltBytes) {
    return Fail(ErrorCode::kCorrupt, "Argon2id salt has the wrong length");
  }
  return Ok();
}

Result<SymmetricKey> DeriveKeyFromPassphrase(const SecretBytes& passphrase,
                                             const PassphraseKdfParams& params) {
  EVAULT_TRY(CheckKdfParams(params));
  if (passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  SecretBytes key(SymmetricKey::kBytes);
  if (crypto_pwhash(key.data(), key.size(), reinterpret_cast<const char*>(passphrase.data()),
                    passphrase.size(), params.salt.data(), params.ops_limit,
                    static_cast<std::size_t>(params.mem_limit_bytes),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kIo, "Argon2id ran out of memory");
  }
  return SymmetricKey::FromBytes(std::move(key));
}

}  // namespace evault::crypto
