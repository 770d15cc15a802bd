// A recovery key: the printable key that sets a new passphrase when the old one is
// lost (header slot 1). 32 random bytes and a 3-byte checksum, shown as 14 groups of 4
// Crockford base32 characters, e.g. "7QZK-3M1D-...". Crockford's alphabet has no I, L,
// O or U, and reading it back accepts 1/I/L and 0/O alike and ignores case, spaces and
// dashes, so a key copied by hand from paper either parses right or fails the checksum.
#pragma once

#include <string_view>

#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::vault {

class RecoveryKey {
 public:
  static RecoveryKey Generate();
  // kInvalidArgument naming the problem (length, character, checksum), never the input.
  static Result<RecoveryKey> Parse(std::string_view text);

  // The printable form, in locked memory.
  crypto::SecretBytes Format() const;
  const crypto::SymmetricKey& key() const { return key_; }

 private:
  explicit RecoveryKey(crypto::SymmetricKey key) : key_(std::move(key)) {}
  crypto::SymmetricKey key_;
};

}  // namespace evault::vault
