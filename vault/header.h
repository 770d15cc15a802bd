// The vault header: the one file in a vault directory besides the RocksDB database.
//
// It holds the format version, the vault id, the Argon2id parameters and salt, and
// four key slots, each the device root key (or a decoy's) wrapped under one key:
//   slot 0  the passphrase's key (Argon2id);
//   slot 1  the recovery key's (a printed random key, crypto_kdf; see recovery_key.h);
//   slot 2  the duress passphrase's key (Argon2id), wrapping a decoy vault's root;
//   slot 3  an unlock session's key (random, kept only in the kernel keyring).
// An unused slot is random bytes of the same length, so the header does not show
// whether a recovery key, a duress passphrase or a session exists. Nothing in it is secret; every
// field is bound into each slot's associated data, so a tampered header does not
// unlock. It is replaced atomically (write new file, fsync, rename, fsync dir).
#pragma once

#include <array>
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

enum KeySlot : std::size_t {
  kPassphraseSlot = 0,
  kRecoverySlot = 1,
  kDuressSlot = 2,
  kSessionSlot = 3,
  kKeySlotCount = 4
};
inline constexpr std::size_t kWrappedSlotBytes = 24 + 32 + 16;  // nonce | key | tag

struct VaultHeader {
  std::uint32_t format_version = kFormatVersion;
  crypto::Bytes vault_id;
  crypto::PassphraseKdfParams kdf;  // shared by the passphrase and duress slots
  std::array<crypto::Bytes, kKeySlotCount> slots;
  // A one-slot header from before recovery keys and duress; Vault::Open rewrites it.
  bool legacy = false;
};

// kNotAVault if the file is missing or not a header; kUnsupportedVersion if newer.
Result<VaultHeader> ReadHeader(const std::filesystem::path& vault_dir);
// The same, from the file's bytes (magic included): the parser fuzz/ drives.
Result<VaultHeader> ParseHeader(std::string_view raw);
Status WriteHeader(const std::filesystem::path& vault_dir, const VaultHeader& header);

// A header whose three slots are random filler: nothing opens it until SealSlot.
VaultHeader NewHeader(const crypto::Bytes& vault_id, const crypto::PassphraseKdfParams& kdf);

// The key-encryption key of a passphrase under this header's KDF parameters and salt
// (Argon2id: the slow step, run once per unlock whatever slot then opens).
Result<crypto::SymmetricKey> PassphraseKek(const VaultHeader& header, const crypto::SecretBytes& passphrase);
// The key-encryption key of a recovery key (32 random bytes; no stretching needed).
crypto::SymmetricKey RecoveryKek(const crypto::SymmetricKey& recovery_key);

void SealSlot(VaultHeader& header, KeySlot slot, const crypto::SymmetricKey& kek, const crypto::SymmetricKey& key);
void ClearSlot(VaultHeader& header, KeySlot slot);  // random filler
// kWrongPassphrase if `kek` does not open `slot` (or the header was altered).
Result<crypto::SymmetricKey> OpenSlot(const VaultHeader& header, KeySlot slot, const crypto::SymmetricKey& kek);

// What a passphrase opened: the real root (slot 0) or the decoy's (slot 2).
struct UnlockedRoot {
  KeySlot slot;
  crypto::SymmetricKey root;
  crypto::SymmetricKey kek;  // to re-seal a slot for the same passphrase
};
// Runs the KDF once and tries the passphrase and duress slots with its key.
// kWrongPassphrase if neither opens.
Result<UnlockedRoot> UnlockWithPassphrase(const VaultHeader& header, const crypto::SecretBytes& passphrase);

// Overwrites the header file in place with random bytes and syncs it, so the wrapped
// keys are gone from the blocks the file occupied (not only unlinked), then removes it.
// Also removes a leftover "vault.header.new". Succeeds if there was no header.
Status ShredHeader(const std::filesystem::path& vault_dir);

}  // namespace evault::vault
