// Argon2id passphrase KDF: parameter floor and ceiling (a tampered header must neither
// make guessing cheap nor exhaust memory), salt handling, determinism.
//
// Derivations use the floor (ops 2, 64 MiB, ~0.1-0.2 s each); the 256 MiB default runs
// once.
#include "crypto/passphrase_kdf.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::FailsWith;
using testing::HexOrDie;
using testing::ToBytes;

using P = PassphraseKdfParams;

P MinParams() { return P::New(P::kMinOps, P::kMinMemBytes); }

P WithSalt(std::string_view salt) {
  P params = MinParams();
  params.salt.assign(AsBytes(salt).begin(), AsBytes(salt).end());
  return params;
}

Bytes Derive(std::string_view passphrase, const P& params) {
  auto key = DeriveKeyFromPassphrase(SecretBytes::CopyFrom(passphrase), params);
  if (!key) {
    ADD_FAILURE() << key.error().message;
    return {};
  }
  return ToBytes(key->bytes());
}

TEST(PassphraseKdfParamsTest, NewHasFreshSaltAndGivenCost) {
  const P a = P::New();
  const P b = P::New();
  EXPECT_EQ(a.salt.size(), P::kSaltBytes);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_EQ(a.ops_limit, P::kDefaultOps);
  EXPECT_EQ(a.mem_limit_bytes, P::kDefaultMemBytes);
  const P c = P::New(5, 128ull << 20);
  EXPECT_EQ(c.ops_limit, 5u);
  EXPECT_EQ(c.mem_limit_bytes, 128ull << 20);
  EXPECT_TRUE(CheckKdfParams(a).has_value());
  EXPECT_TRUE(CheckKdfParams(c).has_value());
  EXPECT_TRUE(CheckKdfParams(MinParams()).has_value());
  EXPECT_TRUE(CheckKdfParams(P::New(P::kMaxOps, P::kMaxMemBytes)).has_value());
}

TEST(PassphraseKdfParamsTest, DefaultsAreAboveTheFloor) {
  EXPECT_GE(P::kDefaultOps, P::kMinOps);
  EXPECT_GE(P::kDefaultMemBytes, P::kMinMemBytes);
  EXPECT_GE(P::kMinMemBytes, 64ull << 20);
  EXPECT_GE(P::kMinOps, 2u);
}

TEST(PassphraseKdfParamsTest, BelowTheFloorIsWeak) {
  P params = MinParams();
  params.ops_limit = 1;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));
  params.ops_limit = 0;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));

  params = MinParams();
  params.mem_limit_bytes = 32ull << 20;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));
  params.mem_limit_bytes = P::kMinMemBytes - 1;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));
  params.mem_limit_bytes = 0;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));

  // Cheap time cannot be bought with lots of memory, nor the other way round.
  params = P::New(1, P::kMaxMemBytes);
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));
  params = P::New(P::kMaxOps, 8ull << 20);
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kWeakParameters));
}

TEST(PassphraseKdfParamsTest, AboveTheCeilingIsRejected) {
  P params = MinParams();
  params.ops_limit = P::kMaxOps + 1;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kInvalidArgument));
  params.ops_limit = ~std::uint64_t{0};
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kInvalidArgument));

  params = MinParams();
  params.mem_limit_bytes = P::kMaxMemBytes + 1;
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kInvalidArgument));
  params.mem_limit_bytes = ~std::uint64_t{0};
  EXPECT_TRUE(FailsWith(CheckKdfParams(params), ErrorCode::kInvalidArgument));
}

TEST(PassphraseKdfParamsTest, WrongSaltLengthIsRejected) {
  for (std::size_t n : {0, 1, 8, 15, 17, 32}) {
    P params = MinParams();
    params.salt = Bytes(n, 0x11);
    auto status = CheckKdfParams(params);
    ASSERT_FALSE(status.has_value()) << n;
    EXPECT_NE(status.error().code, ErrorCode::kWeakParameters) << n;
    EXPECT_FALSE(DeriveKeyFromPassphrase(SecretBytes::CopyFrom("passphrase"), params).has_value()) << n;
  }
}

TEST(PassphraseKdfTest, DeriveRefusesBadParametersWithoutRunning) {
  const SecretBytes passphrase = SecretBytes::CopyFrom("correct horse");
  P weak = MinParams();
  weak.ops_limit = 1;
  EXPECT_TRUE(FailsWith(DeriveKeyFromPassphrase(passphrase, weak), ErrorCode::kWeakParameters));
  weak = MinParams();
  weak.mem_limit_bytes = 32ull << 20;
  EXPECT_TRUE(FailsWith(DeriveKeyFromPassphrase(passphrase, weak), ErrorCode::kWeakParameters));

  // A header tampered to ask for 16 GiB must fail fast instead of trying to allocate it.
  P huge = MinParams();
  huge.mem_limit_bytes = 16ull << 30;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(FailsWith(DeriveKeyFromPassphrase(passphrase, huge), ErrorCode::kInvalidArgument));
  huge = MinParams();
  huge.ops_limit = 1000000;
  EXPECT_TRUE(FailsWith(DeriveKeyFromPassphrase(passphrase, huge), ErrorCode::kInvalidArgument));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(PassphraseKdfTest, EmptyPassphraseIsRejected) {
  auto key = DeriveKeyFromPassphrase(SecretBytes(), MinParams());
  EXPECT_TRUE(FailsWith(key, ErrorCode::kInvalidArgument));
  EXPECT_TRUE(FailsWith(DeriveKeyFromPassphrase(SecretBytes::CopyFrom(""), MinParams()),
                        ErrorCode::kInvalidArgument));
}

TEST(PassphraseKdfTest, ErrorMessagesDoNotEchoThePassphrase) {
  P weak = MinParams();
  weak.ops_limit = 1;
  auto key = DeriveKeyFromPassphrase(SecretBytes::CopyFrom("hunter2-zebra-tango"), weak);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().message.find("hunter2"), std::string::npos);
  P bad_salt = MinParams();
  bad_salt.salt.clear();
  key = DeriveKeyFromPassphrase(SecretBytes::CopyFrom("hunter2-zebra-tango"), bad_salt);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().message.find("hunter2"), std::string::npos);
}

TEST(PassphraseKdfTest, KnownAnswerArgon2id) {
  // Independent vector from the Argon2 reference implementation (Debian `argon2`):
  //   echo -n 'correct horse battery staple' |
  //     argon2 'evault-kat-salt!' -id -t 2 -m 16 -p 1 -l 32 -r
  // Guards against a silent change of algorithm or parameter mapping, which would lock
  // every user out of their vault.
  const P params = WithSalt("evault-kat-salt!");
  ASSERT_EQ(params.salt.size(), P::kSaltBytes);
  EXPECT_EQ(ToHex(Derive("correct horse battery staple", params)),
            "dbde9b910f688a1a498abcf6642102410d7706a60549a43a075a0fdfb0648680");
}

TEST(PassphraseKdfTest, SameInputsGiveSameKey) {
  const P params = MinParams();
  const Bytes a = Derive("correct horse battery staple", params);
  const Bytes b = Derive("correct horse battery staple", params);
  ASSERT_EQ(a.size(), SymmetricKey::kBytes);
  EXPECT_EQ(a, b);
}

TEST(PassphraseKdfTest, DifferentSaltGivesDifferentKey) {
  P a = WithSalt("0123456789abcdef");
  P b = WithSalt("0123456789abcdeg");
  EXPECT_NE(Derive("correct horse battery staple", a), Derive("correct horse battery staple", b));
}

TEST(PassphraseKdfTest, DifferentPassphraseGivesDifferentKey) {
  const P params = WithSalt("0123456789abcdef");
  const Bytes base = Derive("correct horse battery staple", params);
  EXPECT_NE(base, Derive("correct horse battery stapl", params));
  EXPECT_NE(base, Derive("Correct horse battery staple", params));
}

TEST(PassphraseKdfTest, PassphraseIsNotCutAtNul) {
  // Length-delimited, not C-string: bytes after a NUL still count.
  const P params = WithSalt("0123456789abcdef");
  const std::string a("abc\0def", 7);
  const std::string b("abc\0xyz", 7);
  const Bytes ka = Derive(a, params);
  EXPECT_NE(ka, Derive(b, params));
  EXPECT_NE(ka, Derive("abc", params));
}

TEST(PassphraseKdfTest, CostParametersChangeTheKey) {
  // A header whose parameters were altered must not silently give the same key.
  P params = WithSalt("0123456789abcdef");
  const Bytes base = Derive("correct horse battery staple", params);
  params.ops_limit = 3;
  EXPECT_NE(base, Derive("correct horse battery staple", params));
}

TEST(PassphraseKdfTest, DefaultParametersWork) {
  P params = P::New();
  params.salt.assign(AsBytes("0123456789abcdef").begin(), AsBytes("0123456789abcdef").end());
  const Bytes key = Derive("correct horse battery staple", params);
  ASSERT_EQ(key.size(), SymmetricKey::kBytes);
  EXPECT_NE(key, Derive("correct horse battery staple", WithSalt("0123456789abcdef")));
}

}  // namespace
}  // namespace evault::crypto
