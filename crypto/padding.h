// Size hiding for objects: pad to the Padmé length (Nikitin et al., PETS 2019), which
// leaks O(log log n) bits of the size, with a 256-byte floor so small objects all look
// alike. The marker is ISO/IEC 7816-4 (sodium_pad), so unpadding is unambiguous.
#pragma once

#include <cstddef>

#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::crypto {

inline constexpr std::size_t kMinPaddedSize = 256;

// The padded size for `length` bytes of content: always > length.
std::size_t PaddedSize(std::size_t length);

// Copies `content` into locked memory and pads it to PaddedSize(content.size()).
SecretBytes Pad(ByteView content);

// Pads `buffer[0, length)` in place to PaddedSize(length); `buffer` must be that large.
// Returns the padded size.
std::size_t PadInPlace(std::span<std::uint8_t> buffer, std::size_t length);

// The content length inside a padded buffer; kCorrupt if the marker is missing.
Result<std::size_t> UnpaddedSize(ByteView padded);

}  // namespace evault::crypto
