// Unlock sessions: between `evault unlock` and `evault lock` (or the timeout), commands
// open the vault without asking for the passphrase.
//
// The session key (random; it opens the root sealed in header slot 3, see vault.h)
// lives only in the kernel keyring (keyutils, the user's
// session keyring): in kernel memory, never written to disk or swap, readable only by
// processes that possess that keyring (this login session), and removed by the kernel
// itself when the timeout passes. Like ssh-agent, anything running as the user in this
// session can use it while it lasts; `evault lock` and `evault panic` remove it at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::client {

inline constexpr std::chrono::seconds kDefaultSessionLength{15 * 60};
inline constexpr std::chrono::seconds kMaxSessionLength{24 * 60 * 60};

// "90s", "15m", "2h" (or plain seconds), from 1 s to kMaxSessionLength.
Result<std::chrono::seconds> ParseSessionLength(std::string_view text);

// kIo unless this process belongs to a login session with its own session keyring
// (pam_keyinit, or `keyctl session`); without one a key would die with the process.
Status RequireSessionKeyring();

// Replaces any session of this vault directory.
Status StartSession(const std::filesystem::path& vault_dir, const crypto::SecretBytes& key,
                    std::chrono::seconds length);
// nullopt when there is no session (none started, ended, or expired).
Result<std::optional<crypto::SecretBytes>> FindSession(const std::filesystem::path& vault_dir);
// true if a session was ended; false if there was none.
Result<bool> EndSession(const std::filesystem::path& vault_dir);

}  // namespace evault::client
