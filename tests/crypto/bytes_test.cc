// Canonical encoding of associated data and signed messages: little-endian integers
// and length-prefixed fields, so two different field lists never encode the same.
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "crypto/bytes.h"
#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

TEST(EncodingTest, IntegersAreLittleEndian) {
  Bytes out;
  AppendU8(out, 0xab);
  AppendU32(out, 0x01020304u);
  AppendU64(out, 0x0102030405060708ull);
  EXPECT_EQ(out, (Bytes{0xab, 0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}));
}

TEST(EncodingTest, U64RoundTrip) {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0xff}, std::uint64_t{0x100},
                          std::uint64_t{1} << 32, (std::uint64_t{1} << 32) - 1, std::uint64_t{1} << 63,
                          std::numeric_limits<std::uint64_t>::max(), std::uint64_t{0x8000000000000001}}) {
    Bytes out;
    AppendU64(out, v);
    ASSERT_EQ(out.size(), 8u);
    EXPECT_EQ(LoadU64(out.data()), v);
  }
}

TEST(EncodingTest, FieldIsLengthPrefixed) {
  Bytes out;
  AppendField(out, AsBytes("abc"));
  EXPECT_EQ(out, (Bytes{3, 0, 0, 0, 'a', 'b', 'c'}));
  Bytes empty;
  AppendField(empty, {});
  EXPECT_EQ(empty, (Bytes{0, 0, 0, 0}));
}

TEST(EncodingTest, FieldBoundariesCannotBeShifted) {
  // ("ab", "c") and ("a", "bc") and ("abc", "") must all differ.
  auto encode = [](std::string_view a, std::string_view b) {
    Bytes out;
    AppendField(out, AsBytes(a));
    AppendField(out, AsBytes(b));
    return out;
  };
  std::set<Bytes> encodings = {encode("ab", "c"), encode("a", "bc"), encode("abc", ""), encode("", "abc")};
  EXPECT_EQ(encodings.size(), 4u);
}

TEST(EncodingTest, RandomBytesDiffer) {
  const Bytes a = RandomBytes(24);
  const Bytes b = RandomBytes(24);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_NE(a, b);
  EXPECT_NE(a, Bytes(24, 0));
  EXPECT_TRUE(RandomBytes(0).empty());
}

TEST(EncodingTest, AsBytesAndAsTextAreViews) {
  const std::string_view text("a\0b", 3);
  const ByteView bytes = AsBytes(text);
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(bytes[1], 0);
  EXPECT_EQ(AsText(bytes), text);
}

}  // namespace
}  // namespace evault::crypto
