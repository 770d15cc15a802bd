// Padmé size hiding with an ISO/IEC 7816-4 marker.
#include "crypto/padding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <set>

#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::FailsWith;
using testing::Pattern;
using testing::ToBytes;

TEST(PaddingTest, PaddedSizeIsLargerAndAtLeastTheFloor) {
  for (std::size_t n = 0; n <= 70000; ++n) {
    const std::size_t p = PaddedSize(n);
    ASSERT_GT(p, n) << n;
    ASSERT_GE(p, kMinPaddedSize) << n;
  }
  for (std::size_t e = 17; e < 48; ++e) {
    for (std::size_t n : {(std::size_t{1} << e) - 1, std::size_t{1} << e, (std::size_t{1} << e) + 1,
                          (std::size_t{3} << (e - 1)) + 7}) {
      EXPECT_GT(PaddedSize(n), n) << n;
    }
  }
}

TEST(PaddingTest, SmallContentAllPadsToTheFloor) {
  for (std::size_t n = 0; n < kMinPaddedSize; ++n) EXPECT_EQ(PaddedSize(n), kMinPaddedSize) << n;
  EXPECT_GT(PaddedSize(kMinPaddedSize), kMinPaddedSize);
}

TEST(PaddingTest, PaddedSizeIsMonotonicAndIdempotent) {
  std::size_t previous = 0;
  for (std::size_t n = 0; n <= 200000; ++n) {
    const std::size_t p = PaddedSize(n);
    ASSERT_GE(p, previous) << n;
    previous = p;
    // Every length up to the bucket's top lands in the same bucket (P-1 bytes of
    // content plus the marker fill P exactly).
    ASSERT_EQ(PaddedSize(p - 1), p) << n;
  }
}

TEST(PaddingTest, OverheadIsAtMostTwelvePercentForLargeSizes) {
  auto check = [](std::size_t n) {
    const std::size_t p = PaddedSize(n);
    EXPECT_LE(static_cast<double>(p - n), 0.12 * static_cast<double>(n)) << n << " -> " << p;
  };
  for (std::size_t n = kMinPaddedSize; n <= 300000; ++n) check(n);
  for (std::size_t e = 19; e < 50; ++e) {
    const std::size_t base = std::size_t{1} << e;
    for (std::size_t n : {base, base + 1, base + base / 3, base + base / 2 + 1, 2 * base - 1}) check(n);
  }
}

TEST(PaddingTest, LeaksFewDistinctSizes) {
  // Padmé: within [2^E, 2^(E+1)) only about 2^(floor(log2 E) + 1) sizes are possible.
  std::set<std::size_t> sizes;
  for (std::size_t n = std::size_t{1} << 20; n < (std::size_t{1} << 21); n += 7) sizes.insert(PaddedSize(n));
  EXPECT_LE(sizes.size(), 33u);
  EXPECT_GE(sizes.size(), 8u);  // still tight: not one power-of-two bucket
}

TEST(PaddingTest, PadAndUnpadRoundTripSmallLengths) {
  for (std::size_t n = 0; n <= 5000; ++n) {
    const Bytes content = Pattern(n, static_cast<std::uint32_t>(n));
    const SecretBytes padded = Pad(content);
    ASSERT_EQ(padded.size(), PaddedSize(n)) << n;
    ASSERT_TRUE(std::equal(content.begin(), content.end(), padded.data())) << n;
    auto unpadded = UnpaddedSize(padded.span());
    ASSERT_TRUE(unpadded.has_value()) << n;
    ASSERT_EQ(*unpadded, n);
  }
}

TEST(PaddingTest, PadAndUnpadRoundTripLargeLengths) {
  for (std::size_t n : {65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 12345}) {
    const Bytes content = Pattern(n, 11);
    const SecretBytes padded = Pad(content);
    ASSERT_EQ(padded.size(), PaddedSize(n)) << n;
    auto unpadded = UnpaddedSize(padded.span());
    ASSERT_TRUE(unpadded.has_value()) << n;
    EXPECT_EQ(*unpadded, n);
    EXPECT_TRUE(std::equal(content.begin(), content.end(), padded.data()));
  }
}

TEST(PaddingTest, PaddingIsMarkerThenZeros) {
  const Bytes content = Pattern(10);
  const SecretBytes padded = Pad(content);
  ASSERT_EQ(padded.size(), kMinPaddedSize);
  EXPECT_EQ(padded.data()[10], 0x80);
  for (std::size_t i = 11; i < padded.size(); ++i) ASSERT_EQ(padded.data()[i], 0) << i;
}

TEST(PaddingTest, ContentEndingInMarkerOrZerosRoundTrips) {
  for (const Bytes& content : {Bytes{0x80}, Bytes{0x80, 0x00}, Bytes{0x00, 0x00, 0x00}, Bytes(255, 0x80),
                               Bytes(255, 0x00), Bytes(300, 0x00)}) {
    const SecretBytes padded = Pad(content);
    auto unpadded = UnpaddedSize(padded.span());
    ASSERT_TRUE(unpadded.has_value());
    EXPECT_EQ(*unpadded, content.size());
  }
}

TEST(PaddingTest, PadInPlaceMatchesPadAndLeavesTailAlone) {
  for (std::size_t n : {0, 1, 255, 256, 1000, 4097}) {
    const Bytes content = Pattern(n, 3);
    Bytes buffer(PaddedSize(n) + 16, 0xcc);
    std::copy(content.begin(), content.end(), buffer.begin());
    // Garbage between the content and the padded size must be overwritten.
    std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(n),
              buffer.begin() + static_cast<std::ptrdiff_t>(PaddedSize(n)), 0x5a);
    const std::size_t padded_size = PadInPlace(buffer, n);
    ASSERT_EQ(padded_size, PaddedSize(n));
    EXPECT_EQ(Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(padded_size)),
              ToBytes(Pad(content)))
        << n;
    EXPECT_TRUE(std::all_of(buffer.begin() + static_cast<std::ptrdiff_t>(padded_size), buffer.end(),
                            [](std::uint8_t b) { return b == 0xcc; }));
    auto unpadded = UnpaddedSize(ByteView(buffer.data(), padded_size));
    ASSERT_TRUE(unpadded.has_value());
    EXPECT_EQ(*unpadded, n);
  }
}

TEST(PaddingTest, CorruptedMarkerIsRejected) {
  const Bytes content = Pattern(100, 4);
  SecretBytes padded = Pad(content);
  padded.data()[100] = 0x00;  // marker erased: content's last byte (not 0x80) is hit first
  EXPECT_TRUE(FailsWith(UnpaddedSize(padded.span()), ErrorCode::kCorrupt));
  padded.data()[100] = 0x81;
  EXPECT_TRUE(FailsWith(UnpaddedSize(padded.span()), ErrorCode::kCorrupt));
  padded.data()[100] = 0x7f;
  EXPECT_TRUE(FailsWith(UnpaddedSize(padded.span()), ErrorCode::kCorrupt));
}

TEST(PaddingTest, NonZeroByteAfterMarkerIsRejected) {
  const Bytes content = Pattern(100, 4);
  for (std::size_t pos : {101, 150, 255}) {
    SecretBytes padded = Pad(content);
    padded.data()[pos] = 0x01;
    EXPECT_TRUE(FailsWith(UnpaddedSize(padded.span()), ErrorCode::kCorrupt)) << pos;
  }
}

TEST(PaddingTest, MalformedBuffersAreRejected) {
  EXPECT_TRUE(FailsWith(UnpaddedSize({}), ErrorCode::kCorrupt));
  EXPECT_TRUE(FailsWith(UnpaddedSize(Bytes(256, 0)), ErrorCode::kCorrupt));
  EXPECT_TRUE(FailsWith(UnpaddedSize(Bytes(1, 0)), ErrorCode::kCorrupt));
  EXPECT_TRUE(FailsWith(UnpaddedSize(Bytes(256, 0xff)), ErrorCode::kCorrupt));
  // Only canonical padding is accepted: a lone marker is not PaddedSize(0) long.
  EXPECT_TRUE(FailsWith(UnpaddedSize(Bytes{0x80}), ErrorCode::kCorrupt));
  // A well-formed marker in a buffer of a non-Padmé length is rejected too.
  Bytes odd(300, 0);
  odd[10] = 0x80;
  EXPECT_TRUE(FailsWith(UnpaddedSize(odd), ErrorCode::kCorrupt));
  auto empty = UnpaddedSize(Pad({}).span());
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(*empty, 0u);
}

}  // namespace
}  // namespace evault::crypto
