// Byte buffers for public data (ciphertext, ids, hashes) and hex conversion.
// Secret data belongs in SecretBytes, never here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evault::crypto {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view AsText(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string ToHex(ByteView bytes);
// Lower- or upper-case hex of exactly the right length; nullopt otherwise.
std::optional<Bytes> FromHex(std::string_view hex);
// Standard base64 (RFC 4648, with padding), as OpenSSH and minisign write it.
std::string ToBase64(ByteView bytes);
// The same alphabet without '=' padding (RFC 4648 3.2), as the age format writes it.
std::string ToBase64Unpadded(ByteView bytes);

// Appends little-endian integers and length-prefixed fields: the canonical encoding
// used for associated data and signing messages, so two fields can never be confused.
void AppendU8(Bytes& out, std::uint8_t v);
void AppendU32(Bytes& out, std::uint32_t v);
void AppendU64(Bytes& out, std::uint64_t v);
void AppendField(Bytes& out, ByteView field);  // u32 length | bytes
std::uint64_t LoadU64(const std::uint8_t* p);

// Random public bytes (ids, nonces).
Bytes RandomBytes(std::size_t size);

}  // namespace evault::crypto
