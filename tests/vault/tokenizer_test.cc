// The search tokenizer: lower-cased runs of letters and digits, with case folding for
// ASCII, Latin-1, Latin Extended-A and Cyrillic (Russian and Kazakh).
#include "vault/tokenizer.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace evault::vault {
namespace {

using Tokens = std::set<std::string>;

TEST(TokenizerTest, AsciiCaseFolding) {
  EXPECT_EQ(Tokenize("Hello WORLD hello"), (Tokens{"hello", "world"}));
  EXPECT_EQ(Tokenize("MiXeD123 ABCxyz"), (Tokens{"mixed123", "abcxyz"}));
  EXPECT_EQ(Tokenize("A Z a z 0 9"), (Tokens{"a", "z", "0", "9"}));
  EXPECT_EQ(Tokenize("@[`{"), Tokens{});  // the neighbours of A-Z and a-z are not letters
}

TEST(TokenizerTest, EmptyAndSeparatorsOnly) {
  EXPECT_TRUE(Tokenize("").empty());
  EXPECT_TRUE(Tokenize("   \t\n  ").empty());
  EXPECT_TRUE(Tokenize("«» — , . ! ? ; : - / \\ ( ) \" '").empty());
}

TEST(TokenizerTest, RussianLowerCased) {
  EXPECT_EQ(Tokenize("ЗАВЕДОМО ЛОЖНАЯ Информация"), (Tokens{"заведомо", "ложная", "информация"}));
  // The whole alphabet, including Ё (outside А..Я), in two halves (a token is at most
  // 64 bytes, and 33 Cyrillic letters are 66).
  EXPECT_EQ(Tokenize("АБВГДЕЁЖЗИЙКЛМНОП РСТУФХЦЧШЩЪЫЬЭЮЯ"),
            (Tokens{"абвгдеёжзийклмноп", "рстуфхцчшщъыьэюя"}));
  EXPECT_EQ(Tokenize("абвгдеёжзийклмноп рстуфхцчшщъыьэюя"),
            (Tokens{"абвгдеёжзийклмноп", "рстуфхцчшщъыьэюя"}));
}

TEST(TokenizerTest, KazakhLettersLowerCased) {
  // Ә Ғ Қ Ң Ө Ұ Ү Һ І, one at a time and together.
  const std::pair<const char*, const char*> pairs[] = {
      {"Ә", "ә"}, {"Ғ", "ғ"}, {"Қ", "қ"}, {"Ң", "ң"}, {"Ө", "ө"},
      {"Ұ", "ұ"}, {"Ү", "ү"}, {"Һ", "һ"}, {"І", "і"},
  };
  for (const auto& [upper, lower] : pairs) {
    EXPECT_EQ(Tokenize(upper), (Tokens{lower})) << upper;
    EXPECT_EQ(Tokenize(lower), (Tokens{lower})) << lower;
  }
  EXPECT_EQ(Tokenize("ӘҒҚҢӨҰҮҺІ"), (Tokens{"әғқңөұүһі"}));
  EXPECT_EQ(Tokenize("ҚАЗАҚСТАН Қазақстан қазақстан"), (Tokens{"қазақстан"}));
  EXPECT_EQ(Tokenize("НҰР-СҰЛТАН"), (Tokens{"нұр", "сұлтан"}));
  EXPECT_EQ(Tokenize("ӨСКЕМЕН ҮШТӨБЕ ШЫҒЫС ІЛЕ ҺӘМ"),
            (Tokens{"өскемен", "үштөбе", "шығыс", "іле", "һәм"}));
}

TEST(TokenizerTest, PunctuationSplitsWords) {
  EXPECT_EQ(Tokenize("«Нұр-Сұлтан» — суд, приговор."), (Tokens{"нұр", "сұлтан", "суд", "приговор"}));
  EXPECT_EQ(Tokenize("«abc»def"), (Tokens{"abc", "def"}));
  EXPECT_EQ(Tokenize("abc—def"), (Tokens{"abc", "def"}));  // em dash without spaces
  EXPECT_EQ(Tokenize("abc,def.ghi"), (Tokens{"abc", "def", "ghi"}));
  EXPECT_EQ(Tokenize("суд,приговор.апелляция"), (Tokens{"суд", "приговор", "апелляция"}));
  EXPECT_EQ(Tokenize("a\xC2\xA0"  "b"), (Tokens{"a", "b"}));             // no-break space
  EXPECT_EQ(Tokenize("x\xE2\x80\x9Cy\xE2\x80\x9Dz"), (Tokens{"x", "y", "z"}));  // “ ”
  EXPECT_EQ(Tokenize("ст.274 ч.2"), (Tokens{"ст", "274", "ч", "2"}));
}

TEST(TokenizerTest, LatinFolding) {
  EXPECT_EQ(Tokenize("ÉCOLE École"), (Tokens{"école"}));
  EXPECT_EQ(Tokenize("ÄÖÜ äöü"), (Tokens{"äöü"}));
  EXPECT_EQ(Tokenize("ŁÓDŹ Łódź"), (Tokens{"łódź"}));
  EXPECT_EQ(Tokenize("ŠČŘŽ ščřž"), (Tokens{"ščřž"}));
  EXPECT_EQ(Tokenize("ĞŞ ğş"), (Tokens{"ğş"}));
  EXPECT_EQ(Tokenize("a×b÷c"), (Tokens{"a", "b", "c"}));
}

TEST(TokenizerTest, LatinExtendedAYWithDiaeresis) {
  // Regression (found by this test; fixed): (vault/tokenizer.cc, Fold): U+0178 Ÿ is the upper case of U+00FF ÿ, but the
  // even/odd rule for Latin Extended-A maps it to U+0179 Ź (itself an upper-case
  // letter), so "ŸVES" is not found by a search for "ÿves".
  EXPECT_EQ(Tokenize("Ÿ"), (Tokens{"ÿ"}));
  EXPECT_EQ(Tokenize("Ÿ"), Tokenize("ÿ"));
}

TEST(TokenizerTest, InvalidUtf8SeparatesWords) {
  EXPECT_EQ(Tokenize("abc\xFF" "def"), (Tokens{"abc", "def"}));
  EXPECT_EQ(Tokenize("abc\xC0\xAF" "def"), (Tokens{"abc", "def"}));  // overlong '/'
  EXPECT_EQ(Tokenize("abc\xED\xA0\x80" "def"), (Tokens{"abc", "def"}));  // surrogate
  EXPECT_EQ(Tokenize("abc\xD0"), (Tokens{"abc"}));  // truncated sequence at the end
  EXPECT_EQ(Tokenize("\x80\x80\x80"), Tokens{});
}

TEST(TokenizerTest, LongTokensKeepTheirFirstBytesAtACharacterBoundary) {
  const std::string max(kMaxTokenBytes, 'a');
  const std::string over(kMaxTokenBytes + 1, 'b');
  EXPECT_EQ(Tokenize(max + " " + over + " ok"), (Tokens{max, std::string(kMaxTokenBytes, 'b'), "ok"}));
  // Bytes, not characters: 33 Cyrillic letters are 66 bytes; 32 whole letters remain.
  std::string cyr, cut;
  for (int i = 0; i < 33; ++i) cyr += "Ж";
  for (int i = 0; i < 32; ++i) cut += "ж";
  EXPECT_EQ(Tokenize(cyr), (Tokens{cut}));
  // An odd boundary: 'a' then Cyrillic letters never leaves half a character.
  const auto odd = Tokenize("a" + cyr);
  ASSERT_EQ(odd.size(), 1u);
  EXPECT_EQ(odd.begin()->size(), 63u);
}

TEST(TokenizerTest, DigitsAndMixedScripts) {
  EXPECT_EQ(Tokenize("2019 год"), (Tokens{"2019", "год"}));
  EXPECT_EQ(Tokenize("Article274УК"), (Tokens{"article274ук"}));
}

}  // namespace
}  // namespace evault::vault
