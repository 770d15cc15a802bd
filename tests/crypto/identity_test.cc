// Device identity: Ed25519 signatures and X25519 sealed boxes.
#include "crypto/identity.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::FailsWith;
using testing::HexOrDie;
using testing::Pattern;
using testing::ToBytes;
using testing::WithBitFlipped;

TEST(SigningTest, SignAndVerify) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  EXPECT_EQ(pair.public_key().size(), kSigningPublicKeyBytes);
  EXPECT_EQ(pair.secret_key().size(), 64u);
  const Bytes message = Pattern(100);
  const Bytes signature = pair.Sign(message);
  EXPECT_EQ(signature.size(), kSignatureBytes);
  EXPECT_TRUE(VerifySignature(pair.public_key(), message, signature));
  // Ed25519 is deterministic.
  EXPECT_EQ(pair.Sign(message), signature);
}

TEST(SigningTest, EmptyMessage) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const Bytes signature = pair.Sign({});
  EXPECT_TRUE(VerifySignature(pair.public_key(), {}, signature));
  const std::uint8_t zero = 0;
  EXPECT_FALSE(VerifySignature(pair.public_key(), ByteView(&zero, 1), signature));
}

TEST(SigningTest, Rfc8032TestVector1) {
  // RFC 8032 section 7.1, TEST 1 (empty message).
  const Bytes seed = HexOrDie("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const Bytes pk = HexOrDie("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Bytes sk = seed;
  sk.insert(sk.end(), pk.begin(), pk.end());
  auto pair = SigningKeyPair::FromSecretKey(SecretBytes::CopyFrom(sk));
  ASSERT_TRUE(pair.has_value()) << pair.error().message;
  EXPECT_EQ(pair->public_key(), pk);
  EXPECT_EQ(ToHex(pair->Sign({})),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(SigningTest, EveryBitFlipInMessageFails) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const Bytes message = Pattern(24);
  const Bytes signature = pair.Sign(message);
  for (std::size_t i = 0; i < message.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_FALSE(VerifySignature(pair.public_key(), WithBitFlipped(message, i, bit), signature))
          << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_FALSE(VerifySignature(pair.public_key(), ByteView(message).first(23), signature));
  Bytes extended = message;
  extended.push_back(0);
  EXPECT_FALSE(VerifySignature(pair.public_key(), extended, signature));
}

TEST(SigningTest, EveryBitFlipInSignatureFails) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const Bytes message = Pattern(50);
  const Bytes signature = pair.Sign(message);
  for (std::size_t i = 0; i < signature.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_FALSE(VerifySignature(pair.public_key(), message, WithBitFlipped(signature, i, bit)))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(SigningTest, EveryBitFlipInPublicKeyFails) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const Bytes message = Pattern(50);
  const Bytes signature = pair.Sign(message);
  for (std::size_t i = 0; i < pair.public_key().size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_FALSE(VerifySignature(WithBitFlipped(pair.public_key(), i, bit), message, signature))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(SigningTest, OtherKeyFails) {
  const SigningKeyPair a = SigningKeyPair::Generate();
  const SigningKeyPair b = SigningKeyPair::Generate();
  const Bytes signature = a.Sign(AsBytes("entry"));
  EXPECT_FALSE(VerifySignature(b.public_key(), AsBytes("entry"), signature));
  EXPECT_NE(a.public_key(), b.public_key());
}

TEST(SigningTest, WrongLengthsFail) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const Bytes signature = pair.Sign(AsBytes("m"));
  EXPECT_FALSE(VerifySignature(ByteView(pair.public_key()).first(31), AsBytes("m"), signature));
  Bytes long_pk = pair.public_key();
  long_pk.push_back(0);
  EXPECT_FALSE(VerifySignature(long_pk, AsBytes("m"), signature));
  EXPECT_FALSE(VerifySignature(pair.public_key(), AsBytes("m"), ByteView(signature).first(63)));
  Bytes long_sig = signature;
  long_sig.push_back(0);
  EXPECT_FALSE(VerifySignature(pair.public_key(), AsBytes("m"), long_sig));
  EXPECT_FALSE(VerifySignature({}, AsBytes("m"), signature));
  EXPECT_FALSE(VerifySignature(pair.public_key(), AsBytes("m"), {}));
}

TEST(SigningTest, MalleatedSignatureFails) {
  // S + L (L = the group order) is the same scalar mod L; accepting it would let anyone
  // produce a second valid signature for a signed entry.
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const ByteView message = AsBytes("ledger entry 17");
  const Bytes signature = pair.Sign(message);
  const Bytes order = HexOrDie("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Bytes malleated = signature;
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const unsigned sum = malleated[32 + i] + order[i] + carry;
    malleated[32 + i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  ASSERT_NE(malleated, signature);
  EXPECT_FALSE(VerifySignature(pair.public_key(), message, malleated));
}

TEST(SigningTest, SmallOrderPublicKeyAndZeroSignatureFail) {
  // The identity point with an all-zero signature must not verify any message.
  Bytes identity_point(32, 0);
  identity_point[0] = 0x01;
  const Bytes zero_sig(64, 0);
  Bytes sig_r_identity(64, 0);
  sig_r_identity[0] = 0x01;
  EXPECT_FALSE(VerifySignature(identity_point, AsBytes("anything"), zero_sig));
  EXPECT_FALSE(VerifySignature(identity_point, AsBytes("anything"), sig_r_identity));
  EXPECT_FALSE(VerifySignature(Bytes(32, 0), AsBytes("anything"), zero_sig));
}

TEST(SigningTest, FromSecretKeyRoundTrip) {
  const SigningKeyPair pair = SigningKeyPair::Generate();
  auto restored = SigningKeyPair::FromSecretKey(pair.secret_key().Clone());
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(restored->public_key(), pair.public_key());
  EXPECT_TRUE(restored->secret_key().Equals(pair.secret_key()));
  const Bytes signature = restored->Sign(AsBytes("m"));
  EXPECT_EQ(signature, pair.Sign(AsBytes("m")));
  EXPECT_TRUE(VerifySignature(pair.public_key(), AsBytes("m"), signature));
}

TEST(SigningTest, FromSecretKeyRejectsWrongLength) {
  for (std::size_t n : {0, 32, 63, 65}) {
    EXPECT_TRUE(FailsWith(SigningKeyPair::FromSecretKey(SecretBytes::Random(n)), ErrorCode::kCorrupt)) << n;
  }
}

TEST(SigningTest, FromSecretKeyRejectsMismatchedPublicHalf) {
  // Regression (found by this test): the public key used to be copied
  // from the second half of the 64-byte secret key (crypto_sign_ed25519_sk_to_pk)
  // instead of being recomputed from the seed. A corrupted or substituted public half
  // is accepted; the pair then advertises a key that its own signatures do not verify
  // under, and signing with a mismatched public half is the classic Ed25519 "double
  // public key" oracle that can leak the private scalar.
  const SigningKeyPair pair = SigningKeyPair::Generate();
  const SigningKeyPair other = SigningKeyPair::Generate();
  SecretBytes mixed = pair.secret_key().Clone();
  std::copy(other.public_key().begin(), other.public_key().end(), mixed.data() + 32);
  auto restored = SigningKeyPair::FromSecretKey(std::move(mixed));
  if (restored.has_value()) {
    EXPECT_EQ(restored->public_key(), pair.public_key()) << "accepted a foreign public half";
    const Bytes sig = restored->Sign(AsBytes("m"));
    EXPECT_TRUE(VerifySignature(restored->public_key(), AsBytes("m"), sig));
  }
}

TEST(SealedBoxTest, RoundTrip) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  EXPECT_EQ(recipient.public_key().size(), 32u);
  EXPECT_EQ(recipient.secret_key().size(), 32u);
  const Bytes secret = Pattern(32, 5);
  auto sealed = SealToPublicKey(recipient.public_key(), secret);
  ASSERT_TRUE(sealed.has_value()) << sealed.error().message;
  EXPECT_EQ(sealed->size(), secret.size() + 48);
  auto opened = recipient.OpenSealed(*sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(ToBytes(*opened), secret);
}

TEST(SealedBoxTest, EmptySecretRoundTrips) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  auto sealed = SealToPublicKey(recipient.public_key(), {});
  ASSERT_TRUE(sealed.has_value());
  auto opened = recipient.OpenSealed(*sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_TRUE(opened->empty());
}

TEST(SealedBoxTest, SealingIsRandomized) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const Bytes secret = Pattern(32, 5);
  auto a = SealToPublicKey(recipient.public_key(), secret);
  auto b = SealToPublicKey(recipient.public_key(), secret);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(std::search(a->begin(), a->end(), secret.begin(), secret.begin() + 8), a->end());
}

TEST(SealedBoxTest, OtherKeyPairCannotOpen) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const BoxKeyPair other = BoxKeyPair::Generate();
  auto sealed = SealToPublicKey(recipient.public_key(), Pattern(32));
  ASSERT_TRUE(sealed.has_value());
  EXPECT_TRUE(FailsWith(other.OpenSealed(*sealed), ErrorCode::kTampered));
}

TEST(SealedBoxTest, EveryTruncationFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  auto sealed = SealToPublicKey(recipient.public_key(), Pattern(32));
  ASSERT_TRUE(sealed.has_value());
  for (std::size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_TRUE(FailsWith(recipient.OpenSealed(ByteView(*sealed).first(len)), ErrorCode::kTampered)) << len;
  }
  Bytes extended = *sealed;
  extended.push_back(0);
  EXPECT_TRUE(FailsWith(recipient.OpenSealed(extended), ErrorCode::kTampered));
}

TEST(SealedBoxTest, EveryBitFlipFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  auto sealed = SealToPublicKey(recipient.public_key(), Pattern(8));
  ASSERT_TRUE(sealed.has_value());
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_TRUE(FailsWith(recipient.OpenSealed(WithBitFlipped(*sealed, i, bit)), ErrorCode::kTampered))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(SealedBoxTest, FromSecretKeyRoundTrip) {
  const BoxKeyPair pair = BoxKeyPair::Generate();
  auto restored = BoxKeyPair::FromSecretKey(pair.secret_key().Clone());
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(restored->public_key(), pair.public_key());
  auto sealed = SealToPublicKey(pair.public_key(), AsBytes("vault read key"));
  ASSERT_TRUE(sealed.has_value());
  auto opened = restored->OpenSealed(*sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->view(), "vault read key");
}

TEST(SealedBoxTest, FromSecretKeyRfc7748Vector) {
  // RFC 7748 section 6.1: Alice's private key and public key.
  const Bytes sk = HexOrDie("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto pair = BoxKeyPair::FromSecretKey(SecretBytes::CopyFrom(sk));
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(ToHex(pair->public_key()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

TEST(SealedBoxTest, FromSecretKeyRejectsWrongLength) {
  for (std::size_t n : {0, 31, 33, 64}) {
    EXPECT_TRUE(FailsWith(BoxKeyPair::FromSecretKey(SecretBytes::Random(n)), ErrorCode::kCorrupt)) << n;
  }
}

TEST(SealedBoxTest, WrongRecipientKeyLengthFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  EXPECT_TRUE(FailsWith(SealToPublicKey(ByteView(recipient.public_key()).first(31), AsBytes("s")),
                        ErrorCode::kInvalidArgument));
  EXPECT_TRUE(FailsWith(SealToPublicKey({}, AsBytes("s")), ErrorCode::kInvalidArgument));
  Bytes long_pk = recipient.public_key();
  long_pk.push_back(0);
  EXPECT_TRUE(FailsWith(SealToPublicKey(long_pk, AsBytes("s")), ErrorCode::kInvalidArgument));
}

TEST(SealedBoxTest, SealingToLowOrderPublicKeyFails) {
  // Regression (found by this test): the return value of crypto_box_seal was
  // ignored. For a low-order recipient key (all zeros, or one of the other small-order
  // X25519 points) libsodium refuses, yet SealToPublicKey reports success and returns
  // the ephemeral public key followed by zeros. A device that shares the vault key to a
  // bogus/tampered recipient key believes it succeeded while nobody can ever open it.
  auto sealed = SealToPublicKey(Bytes(32, 0), AsBytes("vault read key"));
  EXPECT_FALSE(sealed.has_value());
  Bytes one(32, 0);
  one[0] = 1;
  EXPECT_FALSE(SealToPublicKey(one, AsBytes("vault read key")).has_value());
}

}  // namespace
}  // namespace evault::crypto
