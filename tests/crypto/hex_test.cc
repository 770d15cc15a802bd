// Hex encoding of public bytes (ids, hashes): strict parsing.
#include <gtest/gtest.h>

#include <string>

#include "crypto/bytes.h"
#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::Pattern;

TEST(HexTest, KnownEncoding) {
  EXPECT_EQ(ToHex(Bytes{0x00, 0x01, 0x7f, 0x80, 0xab, 0xff}), "00017f80abff");
  EXPECT_EQ(ToHex({}), "");
}

TEST(HexTest, RoundTripAllLengths) {
  for (std::size_t n = 0; n <= 300; ++n) {
    const Bytes bytes = Pattern(n, static_cast<std::uint32_t>(n));
    const std::string hex = ToHex(bytes);
    ASSERT_EQ(hex.size(), 2 * n);
    auto back = FromHex(hex);
    ASSERT_TRUE(back.has_value()) << hex;
    ASSERT_EQ(*back, bytes);
  }
}

TEST(HexTest, EveryByteValueRoundTrips) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  const std::string hex = ToHex(all);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);  // lower case
  EXPECT_EQ(FromHex(hex), all);
}

TEST(HexTest, UpperAndMixedCaseAccepted) {
  EXPECT_EQ(FromHex("ABCDEF"), (Bytes{0xab, 0xcd, 0xef}));
  EXPECT_EQ(FromHex("aBcDeF"), (Bytes{0xab, 0xcd, 0xef}));
}

TEST(HexTest, EmptyIsEmpty) {
  auto empty = FromHex("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(HexTest, OddLengthRejected) {
  EXPECT_FALSE(FromHex("a").has_value());
  EXPECT_FALSE(FromHex("abc").has_value());
  EXPECT_FALSE(FromHex("00112").has_value());
}

TEST(HexTest, NonHexCharactersRejected) {
  for (const char* bad : {"zz", "0g", "g0", "0x12", "12 34", " 1234", "1234 ", "12:34", "12-3",
                          "\n12a", "12\n3", "+1", "-1", "ab\tc", "..", "abcdefgh"}) {
    EXPECT_FALSE(FromHex(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(HexTest, EmbeddedNulRejected) {
  EXPECT_FALSE(FromHex(std::string_view("ab\0\0", 4)).has_value());
  EXPECT_FALSE(FromHex(std::string_view("\0\0ab", 4)).has_value());
}

TEST(HexTest, EveryNonHexByteRejectedInEveryPosition) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool is_hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    for (std::size_t pos = 0; pos < 4; ++pos) {
      std::string hex = "a1b2";
      hex[pos] = ch;
      EXPECT_EQ(FromHex(hex).has_value(), is_hex) << "char " << c << " at " << pos;
    }
  }
}

}  // namespace
}  // namespace evault::crypto
