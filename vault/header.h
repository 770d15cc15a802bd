// The vault header: the one file in a vault directory besides the RocksDB database.
//
// It holds the format version, the vault id, and key slots (Argon2id parameters, salt
// and the wrapped device root key). Nothing in it is secret; its integrity comes from
// binding every field into the wrapped key's associated data, so a tampered header
// does not unlock. It is replaced atomically (write new file, fsync, rename, fsync dir).
#pragma once

#include <filesystem>
#include <string_view>

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::vault {

inline constexpr std::uint32_t kFormatVersion = 2;  // 2: key slots and epochs (roles)
inline constexpr char kHeaderFileName[] = "vault.header";
inline constexpr char kDatabaseDirName[] = "db";

struct VaultHeader {
  std::uint32_t format_version = kFormatVersion;
  crypto::Bytes vault_id;
  crypto::PassphraseKdfParams kdf;
  crypto::Bytes wrapped_root;
};

// kNotAVault if the file is missing or not a header; kUnsupportedVersion if newer.
Result<VaultHeader> ReadHeader(const std::filesystem::path& vault_dir);
// The same, from the file's bytes (magic included): the parser fuzz/ drives.
Result<VaultHeader> ParseHeader(std::string_view raw);
Status WriteHeader(const std::filesystem::path& vault_dir, const VaultHeader& header);

// Creates the slot: derives the KEK from the passphrase and wraps `root` under it.
Result<VaultHeader> SealRootWithPassphrase(const crypto::Bytes& vault_id,
                                           const crypto::PassphraseKdfParams& kdf,
                                           const crypto::SecretBytes& passphrase,
                                           const crypto::SymmetricKey& root);

// kWrongPassphrase if the slot does not open (or the header was altered).
Result<crypto::SymmetricKey> UnlockRoot(const VaultHeader& header,
                                        const crypto::SecretBytes& passphrase);

}  // namespace evault::vault
