#include "vault/header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/core.h>

#include "evault_format.pb.h"

namespace evault::vault {

namespace fs = std::filesystem;
using crypto::Bytes;

namespace {

constexpr char kMagic[8] = {'E', 'V', 'A', 'U', 'L', 'T', '\0', '\1'};
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

// Everything an attacker could change in the header, bound into a slot's wrapped key:
// the slot's position and, for the passphrase-derived slots, the KDF parameters and salt.
// The recovery and session slots do not bind them, so a passphrase change with new KDF
// parameters leaves the recovery key working.
Bytes SlotContext(const VaultHeader& h, KeySlot slot) {
  Bytes ad;
  crypto::AppendField(ad, crypto::AsBytes("evault-root-slot-v2"));
  crypto::AppendU32(ad, h.format_version);
  crypto::AppendField(ad, h.vault_id);
  crypto::AppendU32(ad, static_cast<std::uint32_t>(slot));
  if (slot == kPassphraseSlot || slot == kDuressSlot) {
    crypto::AppendU64(ad, h.kdf.ops_limit);
    crypto::AppendU64(ad, h.kdf.mem_limit_bytes);
    crypto::AppendField(ad, h.kdf.salt);
  }
  return ad;
}

// The one-slot header of vaults made before key slots 1 and 2.
Bytes LegacySlotContext(const VaultHeader& h) {
  Bytes ad;
  crypto::AppendField(ad, crypto::AsBytes("evault-root-slot-v1"));
  crypto::AppendU32(ad, h.format_version);
  crypto::AppendField(ad, h.vault_id);
  crypto::AppendU64(ad, h.kdf.ops_limit);
  crypto::AppendU64(ad, h.kdf.mem_limit_bytes);
  crypto::AppendField(ad, h.kdf.salt);
  return ad;
}

Status SyncPath(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kIo, fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kIo, fmt::format("fsync of {} failed", path.string()));
  return Ok();
}

}  // namespace

Result<VaultHeader> ReadHeader(const fs::path& vault_dir) {
  const fs::path file = vault_dir / kHeaderFileName;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return Fail(ErrorCode::kNotAVault,
                fmt::format("{} is not an evault vault (no {})", vault_dir.string(), kHeaderFileName));
  }
  std::ifstream in(file, std::ios::binary);
  std::string raw;
  raw.resize(kMaxHeaderBytes + 1);
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (in.bad()) return Fail(ErrorCode::kIo, fmt::format("cannot read {}", file.string()));
  raw.resize(static_cast<std::size_t>(in.gcount()));
  auto header = ParseHeader(raw);
  if (!header) {
    return Fail(header.error().code, fmt::format("{}: {}", file.string(), header.error().message));
  }
  return header;
}

Result<VaultHeader> ParseHeader(std::string_view raw) {
  if (raw.size() < sizeof kMagic || std::memcmp(raw.data(), kMagic, sizeof kMagic) != 0) {
    return Fail(ErrorCode::kNotAVault, "not an evault vault header");
  }
  if (raw.size() > kMaxHeaderBytes) {
    return Fail(ErrorCode::kCorrupt, "too large to be a vault header");
  }
  evault::format::v1::VaultHeader proto;
  if (!proto.ParseFromArray(raw.data() + sizeof kMagic, static_cast<int>(raw.size() - sizeof kMagic))) {
    return Fail(ErrorCode::kCorrupt, "the vault header is damaged (cannot parse)");
  }
  if (proto.format_version() > kFormatVersion) {
    return Fail(ErrorCode::kUnsupportedVersion,
                fmt::format("vault format version {} is newer than this evault supports ({}); "
                            "upgrade evault",
                            proto.format_version(), kFormatVersion));
  }
  if (proto.format_version() > 0 && proto.format_version() < kFormatVersion) {
    return Fail(ErrorCode::kUnsupportedVersion,
                fmt::format("vault format version {} predates roles and key epochs (format {}); "
                            "create a new vault and sync it from the server",
                            proto.format_version(), kFormatVersion));
  }
  using ProtoSlot = evault::format::v1::KeySlot;
  const bool legacy = proto.slots_size() == 1 && proto.slots(0).kind() == ProtoSlot::PASSPHRASE;
  if (proto.format_version() == 0 || proto.vault_id().size() != 16 ||
      (!legacy && proto.slots_size() != static_cast<int>(kKeySlotCount))) {
    return Fail(ErrorCode::kCorrupt, "the vault header is damaged (bad fields)");
  }
  const auto& first = proto.slots(0);
  VaultHeader h;
  h.format_version = proto.format_version();
  h.vault_id.assign(proto.vault_id().begin(), proto.vault_id().end());
  h.kdf.ops_limit = first.kdf().ops_limit();
  h.kdf.mem_limit_bytes = first.kdf().mem_limit_bytes();
  h.kdf.salt.assign(first.kdf().salt().begin(), first.kdf().salt().end());
  h.legacy = legacy;
  for (int i = 0; i < proto.slots_size(); ++i) {
    const auto& slot = proto.slots(i);
    // Every slot carries the same KDF fields and one wrapped key of one length, so
    // none stands out as unused (or as the duress slot).
    if (!legacy && (slot.kind() != ProtoSlot::SEALED || slot.wrapped_root().size() != kWrappedSlotBytes ||
                    slot.kdf().SerializeAsString() != first.kdf().SerializeAsString())) {
      return Fail(ErrorCode::kCorrupt, "the vault header is damaged (bad key slot)");
    }
    h.slots[static_cast<std::size_t>(i)].assign(slot.wrapped_root().begin(), slot.wrapped_root().end());
  }
  return h;
}

Status WriteHeader(const fs::path& vault_dir, const VaultHeader& h) {
  if (h.legacy) return Fail(ErrorCode::kInvalidArgument, "a one-slot header is read, never written");
  evault::format::v1::VaultHeader proto;
  proto.set_format_version(h.format_version);
  proto.set_vault_id(std::string(h.vault_id.begin(), h.vault_id.end()));
  // A legacy header is never written back: Vault::Open replaces it with three slots.
  for (const Bytes& wrapped : h.slots) {
    auto* slot = proto.add_slots();
    slot->set_kind(evault::format::v1::KeySlot::SEALED);
    slot->mutable_kdf()->set_ops_limit(h.kdf.ops_limit);
    slot->mutable_kdf()->set_mem_limit_bytes(h.kdf.mem_limit_bytes);
    slot->mutable_kdf()->set_salt(std::string(h.kdf.salt.begin(), h.kdf.salt.end()));
    slot->set_wrapped_root(std::string(wrapped.begin(), wrapped.end()));
  }

  std::string raw(kMagic, sizeof kMagic);
  raw += proto.SerializeAsString();

  const fs::path final_path = vault_dir / kHeaderFileName;
  const fs::path temp_path = vault_dir / (std::string(kHeaderFileName) + ".new");
  ::unlink(temp_path.c_str());  // a leftover of an interrupted write (or something planted)
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return FailErrno(errno, fmt::format("cannot write {}: {}", temp_path.string(), std::strerror(errno)));
  const char* p = raw.data();
  std::size_t left = raw.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;  // write() returning 0 for a regular file: no room
      ::close(fd);
      ::unlink(temp_path.c_str());
      return FailErrno(err, fmt::format("cannot write {}: {}", temp_path.string(), std::strerror(err)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp_path.c_str());
    return FailErrno(err, fmt::format("fsync of {} failed: {}", temp_path.string(), std::strerror(err)));
  }
  ::close(fd);
  // Held open across the rename, so the replaced header's blocks can be overwritten:
  // an old passphrase's wrapped key must not linger in freed blocks.
  const int old_fd = ::open(final_path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    if (old_fd >= 0) ::close(old_fd);
    ::unlink(temp_path.c_str());
    return Fail(ErrorCode::kIo, fmt::format("cannot replace {}: {}", final_path.string(), std::strerror(errno)));
  }
  EVAULT_TRY(SyncPath(vault_dir, O_RDONLY | O_DIRECTORY));
  if (old_fd >= 0) {
    struct stat st {};
    // Only when no other name refers to it: a hard-linked copy is someone's backup.
    if (::fstat(old_fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0) {
      const Bytes noise = crypto::RandomBytes(static_cast<std::size_t>(st.st_size));
      // Best effort: the new header is already durable, so a failure here loses nothing.
      if (::pwrite(old_fd, noise.data(), noise.size(), 0) == static_cast<ssize_t>(noise.size())) ::fsync(old_fd);
    }
    ::close(old_fd);
  }
  return Ok();
}

VaultHeader NewHeader(const Bytes& vault_id, const crypto::PassphraseKdfParams& kdf) {
  VaultHeader h;
  h.vault_id = vault_id;
  h.kdf = kdf;
  for (std::size_t i = 0; i < kKeySlotCount; ++i) ClearSlot(h, static_cast<KeySlot>(i));
  return h;
}

Result<crypto::SymmetricKey> PassphraseKek(const VaultHeader& h, const crypto::SecretBytes& passphrase) {
  return crypto::DeriveKeyFromPassphrase(passphrase, h.kdf);
}

crypto::SymmetricKey RecoveryKek(const crypto::SymmetricKey& recovery_key) {
  return crypto::DeriveSubkey(recovery_key, crypto::KeyPurpose::kRecoverySlot);
}

void SealSlot(VaultHeader& h, KeySlot slot, const crypto::SymmetricKey& kek, const crypto::SymmetricKey& key) {
  h.legacy = false;
  h.slots[slot] = crypto::WrapKey(kek, key, SlotContext(h, slot));
}

void ClearSlot(VaultHeader& h, KeySlot slot) { h.slots[slot] = crypto::RandomBytes(kWrappedSlotBytes); }

Result<crypto::SymmetricKey> OpenSlot(const VaultHeader& h, KeySlot slot, const crypto::SymmetricKey& kek) {
  auto key = h.legacy ? (slot == kPassphraseSlot ? crypto::UnwrapKey(kek, h.slots[0], LegacySlotContext(h))
                                                 : Fail(ErrorCode::kWrongPassphrase, "no such slot"))
                      : crypto::UnwrapKey(kek, h.slots[slot], SlotContext(h, slot));
  if (!key) return Fail(ErrorCode::kWrongPassphrase, "wrong passphrase (or the vault header was altered)");
  return key;
}

Result<UnlockedRoot> UnlockWithPassphrase(const VaultHeader& h, const crypto::SecretBytes& passphrase) {
  EVAULT_ASSIGN_OR_RETURN(crypto::SymmetricKey kek, PassphraseKek(h, passphrase));
  // Both slots are always tried, so the time taken does not tell which one opened.
  auto real = OpenSlot(h, kPassphraseSlot, kek);
  auto decoy = OpenSlot(h, kDuressSlot, kek);
  if (real) return UnlockedRoot{kPassphraseSlot, std::move(*real), std::move(kek)};
  if (decoy) return UnlockedRoot{kDuressSlot, std::move(*decoy), std::move(kek)};
  return Fail(ErrorCode::kWrongPassphrase, "wrong passphrase (or the vault header was altered)");
}

Status ShredHeader(const fs::path& vault_dir) {
  for (const fs::path& file : {vault_dir / kHeaderFileName, vault_dir / (std::string(kHeaderFileName) + ".new")}) {
    struct stat link {};
    if (::lstat(file.c_str(), &link) != 0) {
      if (errno == ENOENT) continue;
      return Fail(ErrorCode::kIo, fmt::format("cannot inspect {}: {}", file.string(), std::strerror(errno)));
    }
    if (!S_ISREG(link.st_mode)) {  // a symlink or FIFO planted there: never followed or opened
      ::unlink(file.c_str());
      continue;
    }
    int fd = ::open(file.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return Fail(ErrorCode::kIo, fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
    }
    struct stat st {};
    const bool ok_stat = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    // The same blocks, overwritten in place: a rewrite through a new file would leave
    // the old wrapped keys in freed blocks.
    Bytes noise = crypto::RandomBytes(ok_stat ? static_cast<std::size_t>(st.st_size) : 0);
    bool written = ok_stat && ::pwrite(fd, noise.data(), noise.size(), 0) == static_cast<ssize_t>(noise.size());
    written = written && ::fsync(fd) == 0;
    ::close(fd);
    if (!written) return Fail(ErrorCode::kIo, fmt::format("cannot overwrite {}", file.string()));
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrorCode::kIo, fmt::format("cannot remove {}: {}", file.string(), std::strerror(errno)));
    }
  }
  return SyncPath(vault_dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace evault::vault
