#include "vault/tokenizer.h"

#include <cstdint>

namespace evault::vault {

namespace {

// Decodes one UTF-8 code point at s[i]; returns 0xFFFFFFFF and advances one byte on
// invalid input.
char32_t Decode(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) -> int {
    if (i + k >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
  };
  if (b0 < 0x80) { ++i; return b0; }
  if ((b0 & 0xE0) == 0xC0) {
    int c1 = cont(1);
    if (c1 >= 0 && b0 >= 0xC2) { i += 2; return ((b0 & 0x1F) << 6) | c1; }
  } else if ((b0 & 0xF0) == 0xE0) {
    int c1 = cont(1), c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      char32_t cp = ((b0 & 0x0F) << 12) | (c1 << 6) | c2;
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) { i += 3; return cp; }
    }
  } else if ((b0 & 0xF8) == 0xF0) {
    int c1 = cont(1), c2 = cont(2), c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      char32_t cp = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (cp >= 0x10000 && cp <= 0x10FFFF) { i += 4; return cp; }
    }
  }
  ++i;
  return 0xFFFFFFFF;
}

void Encode(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool IsWordChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  }
  if (cp == 0xFFFFFFFF) return false;
  if (cp == 0xAA || cp == 0xB5 || cp == 0xBA) return true;
  if (cp < 0xC0) return false;                    // Latin-1 punctuation, NBSP, « »
  if (cp == 0xD7 || cp == 0xF7) return false;     // × ÷
  if (cp >= 0x2000 && cp <= 0x2BFF) return false; // punctuation, symbols, arrows
  if (cp >= 0x3000 && cp <= 0x303F) return false; // CJK punctuation
  if (cp >= 0xFE00 && cp <= 0xFE0F) return false; // variation selectors
  if (cp == 0xFEFF) return false;
  return true;
}

char32_t Fold(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;                  // Latin-1
  if (cp == 0x178) return 0xFF;                                                 // Ÿ -> ÿ
  if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 &&
      cp != 0x149 && cp != 0x17F) {
    // Latin Extended-A pairs upper/lower as even/odd, shifted at 0x139..0x148, 0x179..0x17E.
    const bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
    if (odd_upper) return (cp % 2 == 1) ? cp + 1 : cp;
    return (cp % 2 == 0) ? cp + 1 : cp;
  }
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;  // А..Я
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;  // Ѐ..Џ, incl. І (Kazakh)
  if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) ||
      (cp >= 0x4D0 && cp <= 0x4FF)) {
    return (cp % 2 == 0) ? cp + 1 : cp;  // Ғ Қ Ң Ұ Ү Һ Ә Ө ...: even upper, odd lower
  }
  if (cp >= 0x4C1 && cp <= 0x4CE) return (cp % 2 == 1) ? cp + 1 : cp;
  if (cp == 0x4C0) return 0x4CF;
  return cp;
}

}  // namespace

std::set<std::string> Tokenize(std::string_view text) {
  std::set<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (current.size() > kMaxTokenBytes) {
      // Long words are kept by their first kMaxTokenBytes (whole characters), in the
      // index and in queries alike, so a long word is never ignored.
      std::size_t cut = kMaxTokenBytes;
      while (cut > 0 && (static_cast<unsigned char>(current[cut]) & 0xC0) == 0x80) --cut;
      current.resize(cut);
    }
    if (!current.empty()) tokens.insert(current);
    current.clear();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t cp = Decode(text, i);
    if (IsWordChar(cp)) {
      Encode(Fold(cp), current);
    } else {
      flush();
    }
  }
  flush();
  return tokens;
}

}  // namespace evault::vault
