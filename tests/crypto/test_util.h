// Small helpers shared by the crypto tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto::testing {

// A copy of `bytes` with bit `bit` (0..7) of byte `index` inverted.
inline Bytes WithBitFlipped(ByteView bytes, std::size_t index, int bit) {
  Bytes out(bytes.begin(), bytes.end());
  out.at(index) ^= static_cast<std::uint8_t>(1u << bit);
  return out;
}

// Deterministic, non-trivial content (no long runs of zeros, no 0x80 at the end).
inline Bytes Pattern(std::size_t size, std::uint32_t seed = 1) {
  Bytes out(size);
  std::uint32_t x = seed * 2654435761u + 12345u;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  if (!out.empty() && out.back() == 0x80) out.back() = 0x81;
  return out;
}

inline Bytes ToBytes(const SecretBytes& s) { return Bytes(s.span().begin(), s.span().end()); }

inline Bytes HexOrDie(std::string_view hex) {
  auto bytes = FromHex(hex);
  if (!bytes) ADD_FAILURE() << "bad hex literal in test: " << hex;
  return bytes.value_or(Bytes{});
}

inline const char* CodeName(ErrorCode code) { return ErrorCodeName(code); }

// Asserts `result` (a Result<T> or Status) failed with `code`.
template <typename R>
::testing::AssertionResult FailsWith(const R& result, ErrorCode code) {
  if (result.has_value()) return ::testing::AssertionFailure() << "succeeded, expected " << CodeName(code);
  if (result.error().code != code) {
    return ::testing::AssertionFailure() << "failed with " << CodeName(result.error().code)
                                         << " (\"" << result.error().message << "\"), expected "
                                         << CodeName(code);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace evault::crypto::testing
