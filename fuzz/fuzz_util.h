// Shared by the fuzz targets and the seed generator: how an input is cut into parts,
// and the fixed keys and ids the targets are built around (so that seeds made by
// make_seeds with the same keys reach past signature and key checks).
#pragma once

#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/secret_bytes.h"

namespace evault::fuzz {

// Separates the parts of an input that feeds several parsers (a file and its
// signature, several lines, several files). Printable, so seeds stay readable.
inline constexpr std::string_view kSeparator = "\n--8<--\n";

// At most `max_parts` parts; the last one takes the rest of the input.
inline std::vector<std::string_view> Split(std::string_view data, std::size_t max_parts,
                                           std::string_view separator = kSeparator) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = data.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(data.substr(0, at));
    data.remove_prefix(at + separator.size());
  }
  parts.push_back(data);
  return parts;
}

inline std::string Join(const std::vector<std::string>& parts, std::string_view separator = kSeparator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

inline std::string_view AsView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Deterministic keys: device `n` of the fuzz world. Never used outside fuzzing.
inline crypto::SigningKeyPair FixedSigningKey(std::uint8_t n) {
  crypto::EnsureSodium();
  std::uint8_t seed[crypto_sign_SEEDBYTES];
  std::uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto::SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  for (auto& b : seed) b = static_cast<std::uint8_t>(0x40 + n);
  crypto_sign_seed_keypair(pk, sk.data(), seed);
  auto pair = crypto::SigningKeyPair::FromSecretKey(std::move(sk));
  if (!pair) std::abort();
  return std::move(*pair);
}

inline crypto::BoxKeyPair FixedBoxKey(std::uint8_t n) {
  crypto::SecretBytes seed(crypto_box_SEEDBYTES);
  for (std::size_t i = 0; i < seed.size(); ++i) seed.data()[i] = static_cast<std::uint8_t>(0x80 + n);
  auto pair = crypto::BoxKeyPair::FromSeed(seed);
  if (!pair) std::abort();
  return std::move(*pair);
}

inline crypto::Bytes FixedId(std::uint8_t n) { return crypto::Bytes(16, static_cast<std::uint8_t>(0x10 + n)); }

// A private scratch directory in memory (/dev/shm), per process: fuzzing writes there
// thousands of times a second, and nothing of it should reach a disk.
inline std::filesystem::path ScratchDir(std::string_view what) {
  std::filesystem::path base = "/dev/shm";
  std::error_code ec;
  if (!std::filesystem::is_directory(base, ec)) base = std::filesystem::temp_directory_path();
  auto dir = base / ("evault-fuzz-" + std::string(what) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace evault::fuzz
