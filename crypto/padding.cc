#include "crypto/padding.h"

#include <sodium.h>

#include <bit>
#include <cstring>

namespace evault::crypto {

namespace {
std::size_t Padme(std::size_t length) {
  if (length < 2) return length;
  const unsigned e = std::bit_width(length) - 1;  // floor(log2 length)
  const unsigned s = std::bit_width(static_cast<std::size_t>(e));  // floor(log2 e) + 1
  const unsigned last_bits = e - s;
  const std::size_t mask = (std::size_t{1} << last_bits) - 1;
  return (length + mask) & ~mask;
}
}  // namespace

std::size_t PaddedSize(std::size_t length) {
  if (length > (std::size_t{1} << 60)) std::abort();  // no buffer is that large
  const std::size_t padme = Padme(length + 1);  // +1: room for the 0x80 marker
  return padme < kMinPaddedSize ? kMinPaddedSize : padme;
}

std::size_t PadInPlace(std::span<std::uint8_t> buffer, std::size_t length) {
  const std::size_t target = PaddedSize(length);
  if (buffer.size() < target) std::abort();  // caller contract
  std::size_t padded = 0;
  // Block size == target: sodium_pad fills [length, target) with 0x80 00 .. 00.
  if (sodium_pad(&padded, buffer.data(), length, target, buffer.size()) != 0 || padded != target) {
    std::abort();
  }
  return padded;
}

SecretBytes Pad(ByteView content) {
  SecretBytes out(PaddedSize(content.size()));
  if (!content.empty()) std::memcpy(out.data(), content.data(), content.size());
  PadInPlace(out.span(), content.size());
  return out;
}

Result<std::size_t> UnpaddedSize(ByteView padded) {
  std::size_t length = 0;
  if (padded.empty() ||
      sodium_unpad(&length, padded.data(), padded.size(), padded.size()) != 0) {
    return Fail(ErrorCode::kCorrupt, "padding is malformed");
  }
  if (PaddedSize(length) != padded.size()) {  // only the canonical padding is accepted
    return Fail(ErrorCode::kCorrupt, "padding is malformed");
  }
  return length;
}

}  // namespace evault::crypto
