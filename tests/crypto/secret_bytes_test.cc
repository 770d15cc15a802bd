// SecretBytes: locked, move-only buffers for keys and plaintext.
#include "crypto/secret_bytes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "crypto/sanitizers.h"
#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::Pattern;
using testing::ToBytes;

static_assert(!std::is_copy_constructible_v<SecretBytes>, "a secret must not be copied implicitly");
static_assert(!std::is_copy_assignable_v<SecretBytes>, "a secret must not be copied implicitly");
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);

TEST(SecretBytesTest, DefaultIsEmpty) {
  const SecretBytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(s.view().empty());
  EXPECT_TRUE(s.span().empty());
}

TEST(SecretBytesTest, SizedIsZeroFilled) {
  const SecretBytes s(100);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_FALSE(s.empty());
  EXPECT_NE(s.data(), nullptr);
  EXPECT_TRUE(std::all_of(s.span().begin(), s.span().end(), [](std::uint8_t b) { return b == 0; }));
  const SecretBytes zero(0);
  EXPECT_TRUE(zero.empty());
  EXPECT_NE(zero.data(), nullptr);  // a live object always owns memory
}

TEST(SecretBytesTest, RandomDiffers) {
  const SecretBytes a = SecretBytes::Random(32);
  const SecretBytes b = SecretBytes::Random(32);
  ASSERT_EQ(a.size(), 32u);
  ASSERT_EQ(b.size(), 32u);
  EXPECT_FALSE(a.Equals(b));
  EXPECT_FALSE(a.Equals(SecretBytes(32)));
  // Not degenerate: a 4 KiB random buffer uses many distinct byte values.
  const SecretBytes big = SecretBytes::Random(4096);
  std::array<bool, 256> seen{};
  for (std::uint8_t byte : big.span()) seen[byte] = true;
  EXPECT_GT(std::count(seen.begin(), seen.end(), true), 200);
  EXPECT_TRUE(SecretBytes::Random(0).empty());
}

TEST(SecretBytesTest, CopyFromBytesAndText) {
  const Bytes bytes = Pattern(50);
  const SecretBytes a = SecretBytes::CopyFrom(ByteView(bytes));
  EXPECT_EQ(ToBytes(a), bytes);
  EXPECT_NE(a.data(), bytes.data());
  const SecretBytes t = SecretBytes::CopyFrom(std::string_view("pass\0phrase", 11));
  EXPECT_EQ(t.size(), 11u);
  EXPECT_EQ(t.view(), std::string_view("pass\0phrase", 11));
  EXPECT_TRUE(SecretBytes::CopyFrom(std::string_view()).empty());
}

TEST(SecretBytesTest, CloneEqualsButIsIndependent) {
  SecretBytes original = SecretBytes::Random(48);
  const SecretBytes clone = original.Clone();
  EXPECT_TRUE(clone.Equals(original));
  EXPECT_NE(clone.data(), original.data());
  original.data()[0] ^= 0xff;
  EXPECT_FALSE(clone.Equals(original));
  EXPECT_TRUE(SecretBytes().Clone().empty());
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes source = SecretBytes::CopyFrom("key material");
  const std::uint8_t* memory = source.data();
  SecretBytes moved(std::move(source));
  EXPECT_EQ(moved.view(), "key material");
  EXPECT_EQ(moved.data(), memory);  // ownership moved, no copy left behind
  EXPECT_TRUE(source.empty());      // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(source.size(), 0u);     // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(source.data(), nullptr);  // NOLINT(bugprone-use-after-move)

  SecretBytes target = SecretBytes::CopyFrom("old");
  target = std::move(moved);
  EXPECT_EQ(target.view(), "key material");
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.data(), nullptr);  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, SelfMoveAssignKeepsContent) {
  SecretBytes s = SecretBytes::CopyFrom("keep me");
  SecretBytes& alias = s;
  s = std::move(alias);
  EXPECT_EQ(s.view(), "keep me");
}

TEST(SecretBytesTest, MovedFromObjectIsReusable) {
  SecretBytes a = SecretBytes::CopyFrom("first");
  SecretBytes b(std::move(a));
  a = SecretBytes::CopyFrom("second");  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.view(), "second");
  EXPECT_EQ(b.view(), "first");
}

TEST(SecretBytesTest, TruncateShrinksAndZeroesTail) {
  SecretBytes s = SecretBytes::CopyFrom("0123456789");
  std::uint8_t* memory = s.data();
  s.Truncate(4);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.view(), "0123");
  EXPECT_EQ(s.data(), memory);
  // The bytes past the new end are wiped (still our allocation, so readable).
  for (std::size_t i = 4; i < 10; ++i) EXPECT_EQ(memory[i], 0) << i;
  // Growing is not possible; same size is a no-op.
  s.Truncate(8);
  EXPECT_EQ(s.view(), "0123");
  s.Truncate(4);
  EXPECT_EQ(s.view(), "0123");
  s.Truncate(0);
  EXPECT_TRUE(s.empty());
}

TEST(SecretBytesTest, Equals) {
  const SecretBytes a = SecretBytes::CopyFrom("abcdef");
  EXPECT_TRUE(a.Equals(SecretBytes::CopyFrom("abcdef")));
  EXPECT_TRUE(a.Equals(a));
  EXPECT_FALSE(a.Equals(SecretBytes::CopyFrom("abcdeg")));
  EXPECT_FALSE(a.Equals(SecretBytes::CopyFrom("bbcdef")));
  EXPECT_FALSE(a.Equals(SecretBytes::CopyFrom("abcde")));   // prefix is not equal
  EXPECT_FALSE(a.Equals(SecretBytes::CopyFrom("abcdefg")));
  EXPECT_FALSE(a.Equals(SecretBytes()));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes(0)));
  SecretBytes truncated = SecretBytes::CopyFrom("abcdefXYZ");
  truncated.Truncate(6);
  EXPECT_TRUE(a.Equals(truncated));
}

TEST(SecretBytesTest, WritableThroughSpan) {
  SecretBytes s(4);
  auto span = s.span();
  span[0] = 'k';
  span[3] = 'y';
  EXPECT_EQ(s.view(), std::string_view("k\0\0y", 4));
}


// Small buffers come from a pool of locked slots: a slot handed out again holds zeros,
// not the last owner's secret, and buffers of every size class (and the large ones the
// pool leaves to sodium_malloc) are independent.
TEST(SecretBytesTest, ReusedMemoryComesBackZeroed) {
  for (std::size_t size : {1u, 32u, 33u, 1000u, 4096u, 65536u, 65537u, 1u << 20}) {
    const std::uint8_t* first = nullptr;
    {
      SecretBytes secret(size);
      std::fill(secret.span().begin(), secret.span().end(), std::uint8_t{0xA5});
      first = secret.data();
      secret.Truncate(size / 2);  // the whole slot is still zeroed when released
    }
    const SecretBytes next(size);
    EXPECT_TRUE(std::all_of(next.span().begin(), next.span().end(), [](std::uint8_t b) { return b == 0; }))
        << size << " bytes";
    if (size <= 65536 && !kAddressSanitizer) {  // under ASan every buffer is sodium_malloc'ed
      EXPECT_EQ(next.data(), first) << "the pool did not reuse the slot of " << size << " bytes";
    }
  }
}

TEST(SecretBytesTest, ManyLiveBuffersDoNotOverlap) {
  std::vector<SecretBytes> live;
  for (std::size_t i = 0; i < 3000; ++i) {
    live.push_back(SecretBytes::Random(1 + (i * 37) % 5000));
    live.back().span()[0] = static_cast<std::uint8_t>(i);
  }
  for (std::size_t i = 0; i < live.size(); ++i) EXPECT_EQ(live[i].span()[0], static_cast<std::uint8_t>(i));
  std::vector<std::pair<const std::uint8_t*, std::size_t>> ranges;
  for (const auto& s : live) ranges.emplace_back(s.data(), s.size());
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i - 1].first + ranges[i - 1].second, ranges[i].first) << "buffers overlap";
  }
}

}  // namespace
}  // namespace evault::crypto
