// AEAD (XChaCha20-Poly1305): what an attacker with write access to the store can try.
#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string_view>

#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::FailsWith;
using testing::Pattern;
using testing::ToBytes;
using testing::WithBitFlipped;

Bytes AdFor(std::string_view object_id) {
  Bytes ad;
  AppendField(ad, AsBytes("vault-1234"));
  AppendField(ad, AsBytes(object_id));
  return ad;
}

TEST(AeadTest, RoundTrip) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(1000);
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, plaintext, ad);
  EXPECT_EQ(sealed.size(), plaintext.size() + kAeadOverhead);

  auto opened = AeadOpen(key, sealed, ad);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(ToBytes(*opened), plaintext);
}

TEST(AeadTest, CiphertextDoesNotContainPlaintext) {
  const SymmetricKey key = SymmetricKey::Generate();
  const std::string_view secret = "witness statement: the meeting was on the 14th at noon";
  const Bytes sealed = AeadSeal(key, AsBytes(secret), {});
  const std::string_view sealed_text = AsText(sealed);
  EXPECT_EQ(sealed_text.find(secret), std::string_view::npos);
  EXPECT_EQ(sealed_text.find("witness"), std::string_view::npos);
}

TEST(AeadTest, EmptyPlaintextRoundTrips) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("empty");
  const Bytes sealed = AeadSeal(key, {}, ad);
  EXPECT_EQ(sealed.size(), kAeadOverhead);
  auto opened = AeadOpen(key, sealed, ad);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_TRUE(opened->empty());
  // An empty message is still authenticated.
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, AdFor("other")), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(AeadOpen(SymmetricKey::Generate(), sealed, ad), ErrorCode::kTampered));
}

TEST(AeadTest, EmptyAssociatedDataRoundTripsButDiffersFromNonEmpty) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(33);
  const Bytes sealed = AeadSeal(key, plaintext, {});
  auto opened = AeadOpen(key, sealed, {});
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(ToBytes(*opened), plaintext);
  const std::uint8_t zero = 0;
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, ByteView(&zero, 1)), ErrorCode::kTampered));
}

TEST(AeadTest, WrongKeyIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  const SymmetricKey other = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, Pattern(64), ad);
  EXPECT_TRUE(FailsWith(AeadOpen(other, sealed, ad), ErrorCode::kTampered));
}

TEST(AeadTest, KeyDifferingInOneBitIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  SecretBytes near_bytes = key.bytes().Clone();
  near_bytes.data()[31] ^= 0x01;
  auto near = SymmetricKey::FromBytes(std::move(near_bytes));
  ASSERT_TRUE(near.has_value());
  const Bytes sealed = AeadSeal(key, Pattern(64), {});
  EXPECT_TRUE(FailsWith(AeadOpen(*near, sealed, {}), ErrorCode::kTampered));
}

TEST(AeadTest, EveryBitFlipIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, AsBytes("short secret"), ad);
  ASSERT_EQ(sealed.size(), 12 + kAeadOverhead);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      const Bytes altered = WithBitFlipped(sealed, i, bit);
      EXPECT_TRUE(FailsWith(AeadOpen(key, altered, ad), ErrorCode::kTampered))
          << "byte " << i << " bit " << bit;
    }
  }
  // The original still opens: the failures above were caused by the flips.
  EXPECT_TRUE(AeadOpen(key, sealed, ad).has_value());
}

TEST(AeadTest, EveryBitFlipInAssociatedDataIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, AsBytes("short secret"), ad);
  for (std::size_t i = 0; i < ad.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, WithBitFlipped(ad, i, bit)), ErrorCode::kTampered))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(AeadTest, EveryTruncationIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, Pattern(50), ad);
  for (std::size_t len = 0; len < sealed.size(); ++len) {
    // Cut from the end ...
    EXPECT_TRUE(FailsWith(AeadOpen(key, ByteView(sealed.data(), len), ad), ErrorCode::kTampered))
        << "prefix of length " << len;
    // ... and from the front.
    EXPECT_TRUE(FailsWith(AeadOpen(key, ByteView(sealed.data() + sealed.size() - len, len), ad),
                          ErrorCode::kTampered))
        << "suffix of length " << len;
  }
}

TEST(AeadTest, AppendedBytesAreTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  Bytes sealed = AeadSeal(key, Pattern(50), {});
  sealed.push_back(0);
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, {}), ErrorCode::kTampered));
}

TEST(AeadTest, ObjectMovedToAnotherIdIsTampered) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes sealed = AeadSeal(key, Pattern(100), AdFor("object-1"));
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, AdFor("object-2")), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, AdFor("object-10")), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, AdFor("object-")), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, {}), ErrorCode::kTampered));
  EXPECT_TRUE(AeadOpen(key, sealed, AdFor("object-1")).has_value());
}

TEST(AeadTest, SwappedCiphertextBodiesAreTampered) {
  // Splice the nonce of one message onto the body of another under the same key.
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes a = AeadSeal(key, Pattern(40, 1), {});
  const Bytes b = AeadSeal(key, Pattern(40, 2), {});
  Bytes spliced = a;
  std::copy(b.begin() + kAeadNonceBytes, b.end(), spliced.begin() + kAeadNonceBytes);
  EXPECT_TRUE(FailsWith(AeadOpen(key, spliced, {}), ErrorCode::kTampered));
}

TEST(AeadTest, NoncesAreFreshPerSeal) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(32);
  const Bytes a = AeadSeal(key, plaintext, {});
  const Bytes b = AeadSeal(key, plaintext, {});
  ASSERT_EQ(a.size(), b.size());
  EXPECT_FALSE(std::equal(a.begin(), a.begin() + kAeadNonceBytes, b.begin()));
  // Different nonces give different ciphertext and tag, too.
  EXPECT_FALSE(std::equal(a.begin() + kAeadNonceBytes, a.end(), b.begin() + kAeadNonceBytes));
  EXPECT_NE(a, b);
}

TEST(AeadTest, SealAppendKeepsPrefixAndOpensFromOffset) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(77);
  Bytes out = {0xde, 0xad, 0xbe, 0xef};
  AeadSealAppend(key, plaintext, AsBytes("ad"), out);
  ASSERT_EQ(out.size(), 4 + plaintext.size() + kAeadOverhead);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 4), (Bytes{0xde, 0xad, 0xbe, 0xef}));
  auto opened = AeadOpen(key, ByteView(out).subspan(4), AsBytes("ad"));
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(ToBytes(*opened), plaintext);
}

TEST(AeadTest, OpenIntoReturnsLengthAndFillsBuffer) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(300);
  const Bytes sealed = AeadSeal(key, plaintext, AsBytes("ad"));
  Bytes out(plaintext.size() + 10, 0xaa);
  auto n = AeadOpenInto(key, sealed, AsBytes("ad"), out);
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, plaintext.size());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + *n), plaintext);
}

TEST(AeadTest, OpenIntoZeroesBufferOnFailure) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(300);
  const Bytes sealed = AeadSeal(key, plaintext, AsBytes("ad"));
  const Bytes altered = WithBitFlipped(sealed, sealed.size() - 1, 0);
  Bytes out(plaintext.size(), 0xaa);
  EXPECT_TRUE(FailsWith(AeadOpenInto(key, altered, AsBytes("ad"), out), ErrorCode::kTampered));
  // No unauthenticated plaintext (nor the caller's old contents) is left behind.
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }));
}

TEST(AeadTest, OpenIntoRejectsTooSmallBufferWithoutWritingPastIt) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes sealed = AeadSeal(key, Pattern(100), {});
  Bytes storage(120, 0x55);
  std::span<std::uint8_t> out(storage.data(), 99);
  auto n = AeadOpenInto(key, sealed, {}, out);
  ASSERT_FALSE(n.has_value());
  EXPECT_NE(n.error().code, ErrorCode::kTampered);  // a caller bug, not an attack
  EXPECT_TRUE(std::all_of(storage.begin() + 99, storage.end(), [](std::uint8_t b) { return b == 0x55; }));
}

TEST(AeadTest, LargeMessageRoundTripsAndDetectsLateFlip) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes plaintext = Pattern(3 << 20, 7);
  const Bytes sealed = AeadSeal(key, plaintext, AsBytes("big"));
  auto opened = AeadOpen(key, sealed, AsBytes("big"));
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(std::equal(plaintext.begin(), plaintext.end(), opened->data()));
  const Bytes altered = WithBitFlipped(sealed, sealed.size() - kAeadTagBytes - 1, 3);
  EXPECT_TRUE(FailsWith(AeadOpen(key, altered, AsBytes("big")), ErrorCode::kTampered));
}

TEST(AeadTest, ErrorMessageDoesNotEchoPlaintext) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes sealed = AeadSeal(key, AsBytes("TOPSECRET"), AsBytes("ad"));
  auto opened = AeadOpen(key, sealed, AsBytes("other"));
  ASSERT_FALSE(opened.has_value());
  EXPECT_FALSE(opened.error().message.empty());
  EXPECT_EQ(opened.error().message.find("TOPSECRET"), std::string::npos);
}

// AeadVerify hands libsodium no message buffer, and libsodium then compares the tag and
// skips the decryption. These pin that: a libsodium that skipped the comparison too would
// fail them.
TEST(AeadTest, VerifyAcceptsWhatOpens) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17},
                           std::size_t{300}, std::size_t{1} << 20}) {
    const Bytes sealed = AeadSeal(key, Pattern(size), ad);
    ASSERT_TRUE(AeadOpen(key, sealed, ad).has_value());
    EXPECT_TRUE(AeadVerify(key, sealed, ad).has_value()) << "size " << size;
  }
}

TEST(AeadTest, VerifyRefusesEveryBitFlipTruncationAndExtension) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes ad = AdFor("object-1");
  const Bytes sealed = AeadSeal(key, AsBytes("short secret"), ad);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_TRUE(FailsWith(AeadVerify(key, WithBitFlipped(sealed, i, bit), ad), ErrorCode::kTampered))
          << "byte " << i << " bit " << bit;
    }
  }
  for (std::size_t i = 0; i < ad.size(); ++i) {
    EXPECT_TRUE(FailsWith(AeadVerify(key, sealed, WithBitFlipped(ad, i, 0)), ErrorCode::kTampered))
        << "associated data byte " << i;
  }
  for (std::size_t len = 0; len < sealed.size(); ++len) {
    EXPECT_TRUE(FailsWith(AeadVerify(key, ByteView(sealed.data(), len), ad), ErrorCode::kTampered))
        << "prefix of length " << len;
  }
  Bytes extended = sealed;
  extended.push_back(0);
  EXPECT_TRUE(FailsWith(AeadVerify(key, extended, ad), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(AeadVerify(SymmetricKey::Generate(), sealed, ad), ErrorCode::kTampered));
  EXPECT_TRUE(AeadVerify(key, sealed, ad).has_value());  // the failures came from the changes
}

TEST(AeadTest, VerifyDetectsAFlipAnywhereInALargeMessage) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes sealed = AeadSeal(key, Pattern(3 << 20, 7), AsBytes("big"));
  for (std::size_t pos : {kAeadNonceBytes, sealed.size() / 2, sealed.size() - kAeadTagBytes - 1}) {
    EXPECT_TRUE(FailsWith(AeadVerify(key, WithBitFlipped(sealed, pos, 5), AsBytes("big")), ErrorCode::kTampered))
        << "byte " << pos;
  }
}

}  // namespace
}  // namespace evault::crypto
