// The server's small parts on their own, with time passed in: challenges and sessions
// (single use, expiry, caps), the rate limiter, enrollment tokens, log lines.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/auth_table.h"
#include "server/enroll_tokens.h"
#include "server/rate_limiter.h"
#include "server/rpc_log.h"
#include "server/server.h"
#include "tests/server/test_util.h"

namespace evault::server::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class PartsTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::EnsureSodium(); }
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(PartsTest, ChallengeIsSingleUseAndBound) {
  AuthTable auth;
  const Bytes nonce = auth.IssueChallenge("vault-a", "key-a", t0_);
  ASSERT_EQ(nonce.size(), 32u);
  EXPECT_FALSE(auth.ConsumeChallenge(nonce, "vault-b", "key-a", t0_));  // other vault
  EXPECT_FALSE(auth.ConsumeChallenge(nonce, "vault-a", "key-b", t0_));  // other device
  EXPECT_TRUE(auth.ConsumeChallenge(nonce, "vault-a", "key-a", t0_ + 1s));
  EXPECT_FALSE(auth.ConsumeChallenge(nonce, "vault-a", "key-a", t0_ + 2s));  // replay
}

TEST_F(PartsTest, ChallengeExpiresAfterSixtySeconds) {
  AuthTable auth;
  const Bytes nonce = auth.IssueChallenge("v", "k", t0_);
  EXPECT_FALSE(auth.ConsumeChallenge(nonce, "v", "k", t0_ + 61s));
  const Bytes fresh = auth.IssueChallenge("v", "k", t0_);
  EXPECT_TRUE(auth.ConsumeChallenge(fresh, "v", "k", t0_ + 59s));
}

TEST_F(PartsTest, ChallengesAreCappedOldestFirst) {
  AuthTable::Limits limits;
  limits.max_challenges = 3;
  AuthTable auth(limits);
  std::vector<Bytes> nonces;
  for (int i = 0; i < 5; ++i) nonces.push_back(auth.IssueChallenge("v", "k", t0_));
  EXPECT_EQ(auth.challenge_count(), 3u);
  EXPECT_FALSE(auth.ConsumeChallenge(nonces[0], "v", "k", t0_));
  EXPECT_FALSE(auth.ConsumeChallenge(nonces[1], "v", "k", t0_));
  EXPECT_TRUE(auth.ConsumeChallenge(nonces[4], "v", "k", t0_));
  // Consumed entries do not pile up in the bookkeeping either.
  for (int i = 0; i < 100; ++i) {
    const Bytes n = auth.IssueChallenge("v", "k", t0_);
    EXPECT_TRUE(auth.ConsumeChallenge(n, "v", "k", t0_));
  }
  EXPECT_LE(auth.challenge_count(), 3u);
}

TEST_F(PartsTest, SessionsExpireAfterFifteenMinutes) {
  AuthTable auth;
  const Bytes token = auth.IssueSession(Session{"v", "k", SessionPurpose::kSync}, t0_);
  ASSERT_EQ(token.size(), 32u);
  auto found = auth.FindSession(token, t0_ + 14min);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->vault_id, "v");
  EXPECT_EQ(found->device_key, "k");
  EXPECT_FALSE(auth.FindSession(token, t0_ + 15min + 1s).has_value());
  Bytes wrong = token;
  wrong[0] ^= 1;
  EXPECT_FALSE(auth.FindSession(wrong, t0_).has_value());
  EXPECT_FALSE(auth.FindSession(Bytes(31), t0_).has_value());
}

TEST_F(PartsTest, SessionsAreCapped) {
  AuthTable::Limits limits;
  limits.max_sessions = 2;
  AuthTable auth(limits);
  const Bytes first = auth.IssueSession(Session{"v", "1"}, t0_);
  auth.IssueSession(Session{"v", "2"}, t0_);
  const Bytes third = auth.IssueSession(Session{"v", "3"}, t0_);
  EXPECT_EQ(auth.session_count(), 2u);
  EXPECT_FALSE(auth.FindSession(first, t0_).has_value());
  EXPECT_TRUE(auth.FindSession(third, t0_).has_value());
}

TEST_F(PartsTest, RateLimiterRefillsAtItsRate) {
  RateLimiter limiter(2.0, 4.0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Allow("a", t0_)) << i;
  EXPECT_FALSE(limiter.Allow("a", t0_));
  EXPECT_TRUE(limiter.Allow("b", t0_));  // buckets are per key
  EXPECT_TRUE(limiter.Allow("a", t0_ + 500ms));
  EXPECT_FALSE(limiter.Allow("a", t0_ + 500ms));
  // Refill is capped at the burst.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Allow("a", t0_ + 1h)) << i;
  EXPECT_FALSE(limiter.Allow("a", t0_ + 1h));
}

TEST_F(PartsTest, RateLimiterOfZeroAllowsEverything) {
  RateLimiter limiter(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Allow("a", t0_));
}

TEST_F(PartsTest, RateLimiterForgetsIdleBucketsPastItsCap) {
  RateLimiter limiter(10.0, 1.0, /*max_keys=*/10);
  for (int i = 0; i < 10; ++i) limiter.Allow(std::to_string(i), t0_);
  EXPECT_FALSE(limiter.Allow("0", t0_));
  // Much later, a flood of new keys: the idle buckets go, the limiter keeps working.
  for (int i = 10; i < 50; ++i) EXPECT_TRUE(limiter.Allow(std::to_string(i), t0_ + 10s));
  EXPECT_TRUE(limiter.Allow("0", t0_ + 10s));
  EXPECT_FALSE(limiter.Allow("0", t0_ + 10s));
}

TEST_F(PartsTest, EnrollTokenFileIsParsedAndMatchedByHash) {
  TempDir dir;
  const auto file = dir.path() / "tokens";
  std::ofstream(file) << "# operators' tokens\n\n  first-token-0123456789  \r\nsecond-token-abcdefghij\n";
  auto hashes = LoadEnrollTokenHashes(file);
  ASSERT_TRUE(hashes.has_value()) << hashes.error().message;
  ASSERT_EQ(hashes->size(), 2u);
  EXPECT_TRUE(MatchesEnrollToken(*hashes, EnrollTokenHash("first-token-0123456789")));
  EXPECT_TRUE(MatchesEnrollToken(*hashes, EnrollTokenHash("second-token-abcdefghij")));
  EXPECT_FALSE(MatchesEnrollToken(*hashes, EnrollTokenHash("first-token-012345678")));
  EXPECT_FALSE(MatchesEnrollToken(*hashes, Bytes(5)));

  std::ofstream(dir.path() / "short") << "short\n";
  auto short_token = LoadEnrollTokenHashes(dir.path() / "short");
  ASSERT_FALSE(short_token.has_value());
  EXPECT_EQ(short_token.error().message.find("short\n"), std::string::npos);
  std::ofstream(dir.path() / "empty") << "# nothing\n";
  EXPECT_FALSE(LoadEnrollTokenHashes(dir.path() / "empty").has_value());
  EXPECT_FALSE(LoadEnrollTokenHashes(dir.path() / "missing").has_value());
}

TEST_F(PartsTest, RpcLogLineHasTheDocumentedFieldsOnly) {
  std::vector<std::string> lines;
  Logger logger(LogLevel::kInfo, [&](std::string_view line) { lines.emplace_back(line); });
  {
    RpcLog log(logger, "Push");
    log.SetVault(Bytes{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f});
    Device d;
    log.SetDevice(d.signing.public_key());
    log.AddBytes(1234);
    log.Done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "x"));
  }
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["rpc"], "Push");
  EXPECT_EQ(j["code"], "FAILED_PRECONDITION");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["vault"], "0a1b2c3d");
  EXPECT_EQ(j["device"].get<std::string>().size(), 8u);
  EXPECT_EQ(j["bytes"], 1234);
  EXPECT_TRUE(j.contains("ms"));
  EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(j.size(), 8u);

  Logger quiet(LogLevel::kWarn, [&](std::string_view line) { lines.emplace_back(line); });
  RpcLog(quiet, "Pull").Done(grpc::Status::OK);
  EXPECT_EQ(lines.size(), 1u);
}

TEST_F(PartsTest, OnlyLoopbackAddressesCountAsLoopback) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:0"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:8443"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:8443"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:8443"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:8443"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:8443"));
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1.evil.example:8443"));
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1"));
}

}  // namespace
}  // namespace evault::server::testing
