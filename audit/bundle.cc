#include "audit/bundle.h"

#include "audit/text.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace evault::audit {

namespace {

// ustar (without pax) holds at most 100 bytes in a path's last component: an encrypted
// export streams the bag as tar.
constexpr std::size_t kMaxFileNameBytes = 100;


bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string SafeFileName(std::string_view original) {
  std::string out;
  out.reserve(std::min(original.size(), kMaxFileNameBytes + 4));
  while (!original.empty() && out.size() <= kMaxFileNameBytes) {
    std::uint32_t cp = 0;
    const std::size_t n = Utf8Sequence(original, cp);
    // Not UTF-8, a C0/C1 control character or DEL, or a character that is a path
    // separator (here or on Windows) or starts a BagIt percent-escape.
    const bool unsafe = n == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == '/' || cp == '\\' || cp == '%';
    if (unsafe) {
      out += '_';
    } else {
      out.append(original.substr(0, n));
    }
    original.remove_prefix(n == 0 ? 1 : n);
  }
  if (out.size() > kMaxFileNameBytes) {
    // `out` is valid UTF-8: cut before the continuation bytes of the character at the limit.
    std::size_t cut = kMaxFileNameBytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  if (out.empty() || out == ".") return "_";
  if (out == "..") return "__";
  // Case-insensitive: unpacked on a case-insensitive file system, "METADATA.JSON" would
  // overwrite the attachment's metadata.json.
  if (EqualsIgnoringAsciiCase(out, kAttachmentMetadataFile)) return "_" + out;
  return out;
}

}  // namespace evault::audit
