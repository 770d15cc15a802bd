#include "vault/recovery_key.h"

#include <sodium.h>

#include <cstring>

#include <fmt/core.h>

namespace evault::vault {

namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
constexpr std::size_t kKeyBytes = 32, kChecksumBytes = 3, kTotalBytes = kKeyBytes + kChecksumBytes;
constexpr std::size_t kChars = kTotalBytes * 8 / 5;  // 56: 280 bits, no padding
constexpr std::size_t kGroup = 4;

void Checksum(const std::uint8_t* key, std::uint8_t* out) {
  std::uint8_t full[crypto_generichash_BYTES_MIN];
  crypto_generichash(full, sizeof full, key, kKeyBytes,
                     reinterpret_cast<const std::uint8_t*>("evault-recovery"), 15);
  std::memcpy(out, full, kChecksumBytes);
}

int DecodeChar(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (c == 'O') c = '0';
  if (c == 'I' || c == 'L') c = '1';
  const char* at = std::strchr(kAlphabet, c);
  return (c != '\0' && at != nullptr) ? static_cast<int>(at - kAlphabet) : -1;
}

}  // namespace

RecoveryKey RecoveryKey::Generate() { return RecoveryKey(crypto::SymmetricKey::Generate()); }

Result<RecoveryKey> RecoveryKey::Parse(std::string_view text) {
  crypto::SecretBytes raw(kTotalBytes);
  std::size_t chars = 0;
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t out = 0;
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    const int value = DecodeChar(c);
    if (value < 0) return Fail(ErrorCode::kInvalidArgument, "the recovery key has a character that is not in it");
    if (++chars > kChars) break;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      raw.data()[out++] = static_cast<std::uint8_t>(buffer >> bits);
      buffer &= (1u << bits) - 1;
    }
  }
  sodium_memzero(&buffer, sizeof buffer);
  if (chars != kChars || out != kTotalBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("a recovery key has {} characters (14 groups of 4)", kChars));
  }
  std::uint8_t expected[kChecksumBytes];
  Checksum(raw.data(), expected);
  if (sodium_memcmp(expected, raw.data() + kKeyBytes, kChecksumBytes) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "the recovery key has a typo (its checksum does not match)");
  }
  raw.Truncate(kKeyBytes);
  EVAULT_ASSIGN_OR_RETURN(crypto::SymmetricKey key, crypto::SymmetricKey::FromBytes(std::move(raw)));
  return RecoveryKey(std::move(key));
}

crypto::SecretBytes RecoveryKey::Format() const {
  crypto::SecretBytes raw(kTotalBytes);
  std::memcpy(raw.data(), key_.data(), kKeyBytes);
  Checksum(key_.data(), raw.data() + kKeyBytes);
  crypto::SecretBytes text(kChars + kChars / kGroup - 1);
  std::size_t at = 0, emitted = 0;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < kTotalBytes; ++i) {
    buffer = (buffer << 8) | raw.data()[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      if (emitted > 0 && emitted % kGroup == 0) text.data()[at++] = '-';
      text.data()[at++] = static_cast<std::uint8_t>(kAlphabet[(buffer >> bits) & 31]);
      ++emitted;
      buffer &= (1u << bits) - 1;
    }
  }
  sodium_memzero(&buffer, sizeof buffer);
  return text;
}

}  // namespace evault::vault
