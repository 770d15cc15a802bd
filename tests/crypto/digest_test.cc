// Forensic hashes (SHA-256, SHA-512): FIPS 180 vectors and incremental hashing.
#include "crypto/digest.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::Pattern;

constexpr std::string_view kTwoBlock = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

std::string Sha512Hex(std::string_view text) {
  Digest d(Digest::Algorithm::kSha512);
  d.Update(AsBytes(text));
  return ToHex(d.Finish());
}

TEST(DigestTest, Sha256KnownVectors) {
  EXPECT_EQ(ToHex(Digest::Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Digest::Sha256({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Digest::Sha256(AsBytes(kTwoBlock))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(DigestTest, Sha256MillionAs) {
  const std::string a(1000000, 'a');
  EXPECT_EQ(ToHex(Digest::Sha256(AsBytes(a))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, Sha512KnownVectors) {
  EXPECT_EQ(Sha512Hex("abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(Sha512Hex(""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
}

TEST(DigestTest, OutputSizes) {
  Digest sha256(Digest::Algorithm::kSha256);
  Digest sha512(Digest::Algorithm::kSha512);
  EXPECT_EQ(sha256.Finish().size(), 32u);
  EXPECT_EQ(sha512.Finish().size(), 64u);
}

TEST(DigestTest, IncrementalEqualsOneShotAtEverySplit) {
  const Bytes message = Pattern(300, 17);
  for (auto algorithm : {Digest::Algorithm::kSha256, Digest::Algorithm::kSha512}) {
    Digest one_shot(algorithm);
    one_shot.Update(message);
    const Bytes expected = one_shot.Finish();
    for (std::size_t split = 0; split <= message.size(); ++split) {
      Digest d(algorithm);
      d.Update(ByteView(message).first(split));
      d.Update(ByteView(message).subspan(split));
      ASSERT_EQ(d.Finish(), expected) << "split at " << split;
    }
  }
}

TEST(DigestTest, ByteAtATimeEqualsOneShot) {
  const std::string a(1000, 'a');
  Digest d(Digest::Algorithm::kSha256);
  for (char c : a) d.Update(AsBytes(std::string_view(&c, 1)));
  EXPECT_EQ(d.Finish(), Digest::Sha256(AsBytes(a)));

  // The million-'a' vector, fed in odd-sized pieces.
  Digest m(Digest::Algorithm::kSha256);
  const std::string piece(999, 'a');
  std::size_t fed = 0;
  while (fed + piece.size() <= 1000000) {
    m.Update(AsBytes(piece));
    fed += piece.size();
  }
  m.Update(AsBytes(std::string(1000000 - fed, 'a')));
  EXPECT_EQ(ToHex(m.Finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, FinishResetsForReuse) {
  Digest d(Digest::Algorithm::kSha256);
  d.Update(AsBytes("some earlier file"));
  EXPECT_NE(ToHex(d.Finish()), "");
  // After Finish the object starts from scratch: no state leaks into the next digest.
  d.Update(AsBytes("abc"));
  EXPECT_EQ(ToHex(d.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(d.Finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  Digest s(Digest::Algorithm::kSha512);
  s.Update(AsBytes("xyz"));
  (void)s.Finish();
  s.Update(AsBytes("abc"));
  EXPECT_EQ(ToHex(s.Finish()),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(DigestTest, MoveKeepsState) {
  Digest d(Digest::Algorithm::kSha256);
  d.Update(AsBytes("a"));
  Digest moved(std::move(d));
  moved.Update(AsBytes("bc"));
  EXPECT_EQ(ToHex(moved.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  Digest assigned(Digest::Algorithm::kSha512);
  Digest source(Digest::Algorithm::kSha256);
  source.Update(AsBytes("ab"));
  assigned = std::move(source);
  assigned.Update(AsBytes("c"));
  // The algorithm travels with the state: still SHA-256 after reset, too.
  EXPECT_EQ(ToHex(assigned.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assigned.Update(AsBytes("abc"));
  EXPECT_EQ(ToHex(assigned.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, SensitiveToEveryByte) {
  const Bytes message = Pattern(64, 2);
  const Bytes h = Digest::Sha256(message);
  for (std::size_t i = 0; i < message.size(); ++i) {
    Bytes altered = message;
    altered[i] ^= 0x01;
    EXPECT_NE(Digest::Sha256(altered), h) << i;
  }
  Bytes extended = message;
  extended.push_back(0);
  EXPECT_NE(Digest::Sha256(extended), h);
}

}  // namespace
}  // namespace evault::crypto
