// Text checks shared by the custody log, the exporter, the report and the verifier, all
// of which handle text that may be hostile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace evault::audit {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if there is none; `code_point`
// gets its code point.
std::size_t Utf8Sequence(std::string_view s, std::uint32_t& code_point);

// The deepest nesting of JSON arrays and objects in `text` (outside strings), scanning
// no further than one level past `limit`: checked before parsing, since the JSON parser
// and serialiser recurse.
std::size_t JsonDepth(std::string_view text, std::size_t limit);

// Only the base64 alphabet and '=' padding. libsodium 1.0.18's decoder takes some bytes
// above 0x7F as digits, so a signature file could differ and still decode the same;
// signature files must be byte-exact.
bool IsStrictBase64(std::string_view text);

}  // namespace evault::audit
