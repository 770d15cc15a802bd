// Splits text into lower-cased search words: maximal runs of letters and digits.
// Case folding covers ASCII, Latin-1, Latin Extended-A and Cyrillic including the
// Kazakh letters (Ә Ғ Қ Ң Ө Ұ Ү Һ І), without pulling in ICU. Invalid UTF-8 bytes
// separate words.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace evault::vault {

// Longer words are cut to this many bytes (at a character boundary).
inline constexpr std::size_t kMaxTokenBytes = 64;

std::set<std::string> Tokenize(std::string_view text);

}  // namespace evault::vault
