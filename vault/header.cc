#include "vault/header.h"

#include <fcntl.h>
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

// Everything an attacker could change in the header, bound into the wrapped key.
Bytes SlotContext(const VaultHeader& h) {
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
  if (proto.format_version() == 0 || proto.vault_id().size() != 16 || proto.slots_size() != 1 ||
      proto.slots(0).kind() != evault::format::v1::KeySlot::PASSPHRASE) {
    return Fail(ErrorCode::kCorrupt, "the vault header is damaged (bad fields)");
  }
  const auto& slot = proto.slots(0);
  VaultHeader h;
  h.format_version = proto.format_version();
  h.vault_id.assign(proto.vault_id().begin(), proto.vault_id().end());
  h.kdf.ops_limit = slot.kdf().ops_limit();
  h.kdf.mem_limit_bytes = slot.kdf().mem_limit_bytes();
  h.kdf.salt.assign(slot.kdf().salt().begin(), slot.kdf().salt().end());
  h.wrapped_root.assign(slot.wrapped_root().begin(), slot.wrapped_root().end());
  return h;
}

Status WriteHeader(const fs::path& vault_dir, const VaultHeader& h) {
  evault::format::v1::VaultHeader proto;
  proto.set_format_version(h.format_version);
  proto.set_vault_id(std::string(h.vault_id.begin(), h.vault_id.end()));
  auto* slot = proto.add_slots();
  slot->set_kind(evault::format::v1::KeySlot::PASSPHRASE);
  slot->mutable_kdf()->set_ops_limit(h.kdf.ops_limit);
  slot->mutable_kdf()->set_mem_limit_bytes(h.kdf.mem_limit_bytes);
  slot->mutable_kdf()->set_salt(std::string(h.kdf.salt.begin(), h.kdf.salt.end()));
  slot->set_wrapped_root(std::string(h.wrapped_root.begin(), h.wrapped_root.end()));

  std::string raw(kMagic, sizeof kMagic);
  raw += proto.SerializeAsString();

  const fs::path final_path = vault_dir / kHeaderFileName;
  const fs::path temp_path = vault_dir / (std::string(kHeaderFileName) + ".new");
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", temp_path.string(), std::strerror(errno)));
  }
  const char* p = raw.data();
  std::size_t left = raw.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(temp_path.c_str());
      return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", temp_path.string(), std::strerror(errno)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(temp_path.c_str());
    return Fail(ErrorCode::kIo, fmt::format("fsync of {} failed", temp_path.string()));
  }
  ::close(fd);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    ::unlink(temp_path.c_str());
    return Fail(ErrorCode::kIo, fmt::format("cannot replace {}: {}", final_path.string(), std::strerror(errno)));
  }
  return SyncPath(vault_dir, O_RDONLY | O_DIRECTORY);
}

Result<VaultHeader> SealRootWithPassphrase(const Bytes& vault_id,
                                           const crypto::PassphraseKdfParams& kdf,
                                           const crypto::SecretBytes& passphrase,
                                           const crypto::SymmetricKey& root) {
  VaultHeader h;
  h.vault_id = vault_id;
  h.kdf = kdf;
  EVAULT_ASSIGN_OR_RETURN(crypto::SymmetricKey kek, crypto::DeriveKeyFromPassphrase(passphrase, kdf));
  h.wrapped_root = crypto::WrapKey(kek, root, SlotContext(h));
  return h;
}

Result<crypto::SymmetricKey> UnlockRoot(const VaultHeader& h, const crypto::SecretBytes& passphrase) {
  EVAULT_ASSIGN_OR_RETURN(crypto::SymmetricKey kek, crypto::DeriveKeyFromPassphrase(passphrase, h.kdf));
  auto root = crypto::UnwrapKey(kek, h.wrapped_root, SlotContext(h));
  if (!root) {
    return Fail(ErrorCode::kWrongPassphrase, "wrong passphrase (or the vault header was altered)");
  }
  return root;
}

}  // namespace evault::vault
