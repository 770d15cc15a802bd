#include "client/unlock_session.h"

#include <keyutils.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "crypto/bytes.h"
#include "crypto/keys.h"

namespace evault::client {

namespace fs = std::filesystem;

namespace {

constexpr char kKeyType[] = "user";
constexpr std::size_t kMaxKeyBytes = 64;

// One session per vault directory. The description is visible in /proc/keys, so it is
// a hash of the directory's path, not the path.
std::string Description(const fs::path& vault_dir) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(vault_dir, ec), ec);
  if (ec) canonical = vault_dir;
  const std::string path = canonical.string();
  const crypto::Bytes digest = crypto::PublicHash(crypto::AsBytes(path));
  return "evault:" + crypto::ToHex(crypto::ByteView(digest.data(), 16));
}

Error KeyringError(std::string_view what) {
  const int err = errno;
  if (err == ENOSYS || err == EPERM || err == EACCES) {
    return {ErrorCode::kIo, fmt::format("unlock sessions need the kernel keyring, which this system refuses ({}: {})",
                                        what, std::strerror(err))};
  }
  return {ErrorCode::kIo, fmt::format("the kernel keyring failed ({}: {})", what, std::strerror(err))};
}

key_serial_t Search(const std::string& description) {
  return static_cast<key_serial_t>(keyctl_search(KEY_SPEC_SESSION_KEYRING, kKeyType, description.c_str(), 0));
}

}  // namespace

Result<std::chrono::seconds> ParseSessionLength(std::string_view text) {
  const auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                "a session length is a number with s, m or h (e.g. 90s, 15m, 2h), at most 24h");
  };
  if (text.empty()) return bad();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value == 0) return bad();
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (scale == 0 || value > static_cast<std::uint64_t>(kMaxSessionLength.count()) / scale) return bad();
  return std::chrono::seconds(value * scale);
}

Status RequireSessionKeyring() {
  const key_serial_t session = keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0);
  const key_serial_t user_session = keyctl_get_keyring_ID(KEY_SPEC_USER_SESSION_KEYRING, 0);
  if (session < 0 || session == user_session) {
    return Fail(ErrorCode::kIo,
                "unlock sessions need a login-session keyring, and this shell has none "
                "(log in through PAM, or start one with `keyctl session`)");
  }
  return Ok();
}

Status StartSession(const fs::path& vault_dir, const crypto::SecretBytes& key, std::chrono::seconds length) {
  if (length.count() <= 0 || length > kMaxSessionLength) {
    return Fail(ErrorCode::kInvalidArgument, "a session lasts from 1 second to 24 hours");
  }
  const std::string description = Description(vault_dir);
  const key_serial_t id = add_key(kKeyType, description.c_str(), key.data(), key.size(), KEY_SPEC_SESSION_KEYRING);
  if (id < 0) return std::unexpected(KeyringError("add_key"));
  // Possessor only: another process of this user outside this session cannot read it.
  const key_perm_t possessor = KEY_POS_VIEW | KEY_POS_READ | KEY_POS_WRITE | KEY_POS_SEARCH | KEY_POS_SETATTR;
  if (keyctl_setperm(id, possessor) != 0 || keyctl_set_timeout(id, static_cast<unsigned>(length.count())) != 0) {
    Error error = KeyringError("keyctl");
    keyctl_invalidate(id);
    return std::unexpected(std::move(error));
  }
  return Ok();
}

Result<std::optional<crypto::SecretBytes>> FindSession(const fs::path& vault_dir) {
  const key_serial_t id = Search(Description(vault_dir));
  if (id < 0) {
    if (errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED || errno == ENOSYS) {
      return std::optional<crypto::SecretBytes>();
    }
    return std::unexpected(KeyringError("keyctl_search"));
  }
  crypto::SecretBytes buffer(kMaxKeyBytes);
  const long size = keyctl_read(id, reinterpret_cast<char*>(buffer.data()), buffer.size());
  if (size < 0) {
    if (errno == EKEYEXPIRED || errno == EKEYREVOKED || errno == ENOKEY) return std::optional<crypto::SecretBytes>();
    return std::unexpected(KeyringError("keyctl_read"));
  }
  if (static_cast<std::size_t>(size) > buffer.size()) {
    return Fail(ErrorCode::kCorrupt, "the unlock session holds something that is not a vault key");
  }
  buffer.Truncate(static_cast<std::size_t>(size));
  return std::optional<crypto::SecretBytes>(std::move(buffer));
}

Result<bool> EndSession(const fs::path& vault_dir) {
  const key_serial_t id = Search(Description(vault_dir));
  if (id < 0) {
    if (errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED || errno == ENOSYS) return false;
    return std::unexpected(KeyringError("keyctl_search"));
  }
  // Invalidated, not only unlinked: the key is gone from every keyring at once.
  if (keyctl_invalidate(id) != 0) return std::unexpected(KeyringError("keyctl_invalidate"));
  return true;
}

}  // namespace evault::client
