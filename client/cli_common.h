// What every evault command shares: the global flags, opening the vault, turning an
// error value into the CLI's one-line error and exit code, and a progress bar.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "client/passphrase.h"
#include "client/unlock_session.h"
#include "crypto/status.h"
#include "vault/vault.h"

namespace evault::client {

namespace fs = std::filesystem;
using nlohmann::json;

struct Globals {
  std::string vault_dir;
  std::optional<std::string> passphrase_file;
};

inline std::string DefaultVaultDir() {
  if (const char* env = std::getenv("EVAULT_VAULT"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fmt::format("{}/evault", xdg);
  if (const char* home = std::getenv("HOME"); home && *home) return fmt::format("{}/.local/share/evault", home);
  return ".evault";
}

// Error messages can quote input (an id, a file name): never let a control character
// start a new line or drive the terminal.
inline std::string Printable(std::string_view message) {
  std::string out;
  for (unsigned char c : message) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

inline int ExitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kWrongPassphrase: return 3;
    case ErrorCode::kTampered:
    case ErrorCode::kCorrupt: return 4;
    case ErrorCode::kPermissionDenied: return 5;
    default: return 1;
  }
}

// Thrown only inside the CLI, to leave a command with its error; caught in main.
struct CommandError {
  Error error;
};

template <typename T>
inline T Check(Result<T> r) {
  if (!r) throw CommandError{std::move(r.error())};
  return std::move(*r);
}
inline void Check(Status s) {
  if (!s) throw CommandError{std::move(s.error())};
}

// An unlock session (`evault unlock`) opens the vault without the passphrase, unless a
// passphrase is given (file or EVAULT_PASSPHRASE): one typed on purpose, a duress
// passphrase included, always counts. A session that has ended is dropped from the
// keyring and the passphrase asked for as usual.
inline std::unique_ptr<vault::Vault> OpenVaultWithPassphrase(const Globals& g) {
  auto passphrase = Check(ReadPassphrase({g.passphrase_file, "EVAULT_PASSPHRASE", "Passphrase: "}));
  return Check(vault::Vault::Open(g.vault_dir, passphrase));
}

inline std::unique_ptr<vault::Vault> OpenVault(const Globals& g) {
  const char* env = std::getenv("EVAULT_PASSPHRASE");
  if (!g.passphrase_file && !(env && *env)) {
    if (auto session = FindSession(g.vault_dir); session && *session) {
      auto v = vault::Vault::OpenWithSessionKey(g.vault_dir, **session);
      if (v) return std::move(*v);
      if (v.error().code != ErrorCode::kWrongPassphrase) throw CommandError{std::move(v.error())};
      (void)EndSession(g.vault_dir);
    }
  }
  return OpenVaultWithPassphrase(g);
}

inline std::string ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw CommandError{{ErrorCode::kNotFound, fmt::format("cannot read {}: no such file", path)}};
  }
  if (fs::file_size(path, ec) > (8u << 20)) {
    throw CommandError{{ErrorCode::kInvalidArgument, fmt::format("{} is too large for a record", path)}};
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw CommandError{{ErrorCode::kIo, fmt::format("cannot read {}", path)}};
  return text;
}

inline void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }

// A progress bar on stderr, only when it is a terminal, at most ten updates a second.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO)) {}
  ~ProgressBar() {
    if (drawn_) std::fputs("\r\033[K", stderr);
  }
  void operator()(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const int width = 30, filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %.1f/%.1f MiB", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<int>(fraction * 100),
                 static_cast<double>(done) / (1 << 20), static_cast<double>(total) / (1 << 20));
    std::fflush(stderr);
  }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace evault::client
