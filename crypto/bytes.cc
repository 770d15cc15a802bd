#include "crypto/bytes.h"

#include <sodium.h>

#include "crypto/secret_bytes.h"

namespace evault::crypto {

std::string ToBase64(ByteView bytes) {
  EnsureSodium();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string ToBase64Unpadded(ByteView bytes) {
  EnsureSodium();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string ToHex(ByteView bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::optional<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  if (hex.empty()) return Bytes{};  // libsodium must not be handed a null buffer
  Bytes out(hex.size() / 2);
  size_t written = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &written, &end) != 0 ||
      written != out.size() || end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return out;
}

void AppendU8(Bytes& out, std::uint8_t v) { out.push_back(v); }

void AppendU32(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void AppendU64(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void AppendField(Bytes& out, ByteView field) {
  AppendU32(out, static_cast<std::uint32_t>(field.size()));
  out.insert(out.end(), field.begin(), field.end());
}

std::uint64_t LoadU64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Bytes RandomBytes(std::size_t size) {
  EnsureSodium();
  Bytes out(size);
  if (size > 0) randombytes_buf(out.data(), size);  // never a null buffer, even for 0 bytes
  return out;
}

}  // namespace evault::crypto
