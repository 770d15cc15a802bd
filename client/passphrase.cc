#include "client/passphrase.h"

#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

namespace evault::client {

using crypto::SecretBytes;

namespace {

void StripNewline(SecretBytes& s) {
  std::size_t n = s.size();
  if (n > 0 && s.data()[n - 1] == '\n') --n;
  if (n > 0 && s.data()[n - 1] == '\r') --n;
  s.Truncate(n);
}

Result<SecretBytes> ReadFd(int fd, std::string_view what) {
  SecretBytes buffer(kMaxPassphraseBytes + 1);
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIo, fmt::format("cannot read {}: {}", what, std::strerror(errno)));
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  if (filled > kMaxPassphraseBytes) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is longer than {} bytes", what, kMaxPassphraseBytes));
  }
  buffer.Truncate(filled);
  return buffer;
}

// Reads one line from the terminal with echo off.
Result<SecretBytes> Prompt(const char* prompt) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "no passphrase given: use --passphrase-file FILE or EVAULT_PASSPHRASE, or run on a terminal");
  }
  (void)!::write(tty, prompt, std::strlen(prompt));
  termios old_mode{};
  const bool is_tty = ::tcgetattr(tty, &old_mode) == 0;
  if (is_tty) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  SecretBytes line(kMaxPassphraseBytes + 1);
  std::size_t filled = 0;
  char c = 0;
  while (filled < line.size()) {
    ssize_t n = ::read(tty, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line.data()[filled++] = static_cast<std::uint8_t>(c);
  }
  sodium_memzero(&c, sizeof c);
  if (is_tty) ::tcsetattr(tty, TCSAFLUSH, &old_mode);
  ::close(tty);
  if (filled > kMaxPassphraseBytes) {
    return Fail(ErrorCode::kInvalidArgument, "the passphrase is too long");
  }
  line.Truncate(filled);
  StripNewline(line);
  return line;
}

}  // namespace

Result<SecretBytes> ReadPassphrase(const PassphraseSource& source) {
  SecretBytes out;
  if (source.file) {
    const int fd = ::open(source.file->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("cannot open passphrase file {}: {}", *source.file, std::strerror(errno)));
    }
    auto read = ReadFd(fd, fmt::format("passphrase file {}", *source.file));
    ::close(fd);
    if (!read) return read;
    out = std::move(*read);
    StripNewline(out);
  } else if (char* env = std::getenv(source.env_var); env != nullptr) {
    const std::size_t len = std::strlen(env);
    if (len > kMaxPassphraseBytes) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is too long", source.env_var));
    }
    out = SecretBytes::CopyFrom(std::string_view(env, len));
    // Wipe the process's copy (also what /proc/self/environ shows) and drop it.
    sodium_memzero(env, len);
    ::unsetenv(source.env_var);
  } else {
    EVAULT_ASSIGN_OR_RETURN(out, Prompt(source.prompt));
  }
  if (out.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  return out;
}

Result<SecretBytes> ReadNewPassphrase(const PassphraseSource& source) {
  const bool prompting = !source.file && std::getenv(source.env_var) == nullptr;
  EVAULT_ASSIGN_OR_RETURN(SecretBytes first, ReadPassphrase(source));
  if (first.size() < kMinNewPassphraseBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the new passphrase is shorter than {} characters", kMinNewPassphraseBytes));
  }
  if (prompting) {
    EVAULT_ASSIGN_OR_RETURN(SecretBytes again, Prompt("Repeat the passphrase: "));
    if (!first.Equals(again)) return Fail(ErrorCode::kInvalidArgument, "the passphrases do not match");
  }
  return first;
}

}  // namespace evault::client
