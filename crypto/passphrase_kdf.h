// Passphrase -> key-encryption key with Argon2id (crypto_pwhash).
//
// The parameters and salt are stored in the vault header. A floor (ops 2, 64 MiB)
// protects against a header tampered to make guessing cheap; a ceiling (ops 64, 4 GiB)
// protects the machine against a header tampered to exhaust memory.
#pragma once

#include <cstdint>

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto {

struct PassphraseKdfParams {
  static constexpr std::uint64_t kDefaultOps = 3;
  static constexpr std::uint64_t kDefaultMemBytes = 256ull << 20;
  static constexpr std::uint64_t kMinOps = 2;
  static constexpr std::uint64_t kMinMemBytes = 64ull << 20;
  static constexpr std::uint64_t kMaxOps = 64;
  static constexpr std::uint64_t kMaxMemBytes = 4ull << 30;
  static constexpr std::size_t kSaltBytes = 16;

  std::uint64_t ops_limit = kDefaultOps;
  std::uint64_t mem_limit_bytes = kDefaultMemBytes;
  Bytes salt;

  // Fresh random salt with the given cost.
  static PassphraseKdfParams New(std::uint64_t ops = kDefaultOps,
                                 std::uint64_t mem_bytes = kDefaultMemBytes);
};

// kWeakParameters below the floor, kInvalidArgument above the ceiling, kCorrupt for a
// salt of the wrong length.
Status CheckKdfParams(const PassphraseKdfParams& params);

// Rejects an empty passphrase; runs Argon2id13.
Result<SymmetricKey> DeriveKeyFromPassphrase(const SecretBytes& passphrase,
                                             const PassphraseKdfParams& params);

}  // namespace evault::crypto
