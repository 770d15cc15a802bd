// Where a passphrase comes from: --passphrase-file, else an environment variable (for
// scripts), else a no-echo prompt on the controlling terminal. It goes straight into
// locked memory; an environment copy is wiped and unset once read.
#pragma once

#include <optional>
#include <string>

#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::client {

inline constexpr std::size_t kMinNewPassphraseBytes = 8;
inline constexpr std::size_t kMaxPassphraseBytes = 4096;

struct PassphraseSource {
  std::optional<std::string> file;  // one trailing newline is ignored
  const char* env_var;              // e.g. "EVAULT_PASSPHRASE"
  const char* prompt;               // e.g. "Passphrase: "
};

Result<crypto::SecretBytes> ReadPassphrase(const PassphraseSource& source);

// For a new passphrase: asks twice on a terminal, and enforces a minimum length.
Result<crypto::SecretBytes> ReadNewPassphrase(const PassphraseSource& source);

}  // namespace evault::client
