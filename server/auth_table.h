// Outstanding challenges and live sessions, in memory only: a restart logs everyone
// out, which is the safe direction. Both tables are bounded, so a flood of Challenge
// calls costs memory only up to the cap (the oldest entries are dropped first).
//
//   challenge  32 random bytes bound to (vault id, device key); single use; expires.
//   session    32 random bytes; the client sends them hex-encoded; expires. The table
//              is keyed by a hash of the token, so a lookup's timing says nothing
//              about how much of a guessed token was right.
//
// Time is passed in, so expiry is testable without sleeping. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "crypto/bytes.h"

namespace evault::server {

enum class SessionPurpose { kSync, kJoin };

struct Session {
  std::string vault_id;    // bytes
  std::string device_key;  // bytes: the Ed25519 public key
  SessionPurpose purpose = SessionPurpose::kSync;
};

class AuthTable {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_challenges = 10000;
    std::size_t max_sessions = 100000;
    Clock::duration challenge_ttl = std::chrono::seconds(60);
    Clock::duration session_ttl = std::chrono::minutes(15);
  };

  AuthTable() : AuthTable(Limits{}) {}
  explicit AuthTable(Limits limits) : limits_(limits) {}

  const Limits& limits() const { return limits_; }

  // A fresh nonce for (vault, device).
  crypto::Bytes IssueChallenge(const std::string& vault_id, const std::string& device_key, Clock::time_point now);

  // True iff `nonce` is outstanding, unexpired and bound to exactly (vault, device);
  // then it is consumed, whatever the caller does next.
  bool ConsumeChallenge(crypto::ByteView nonce, const std::string& vault_id, const std::string& device_key,
                        Clock::time_point now);

  // A fresh session token for `session`.
  crypto::Bytes IssueSession(Session session, Clock::time_point now);

  // The live session of `token`, if any.
  std::optional<Session> FindSession(crypto::ByteView token, Clock::time_point now);

  std::size_t challenge_count();
  std::size_t session_count();

 private:
  struct PendingChallenge {
    std::string vault_id, device_key;
    Clock::time_point expires;
  };
  struct LiveSession {
    Session session;
    Clock::time_point expires;
  };

  void DropExpiredChallenges(Clock::time_point now);
  void DropExpiredSessions(Clock::time_point now);

  const Limits limits_;
  std::mutex mu_;
  std::map<std::string, PendingChallenge> challenges_;  // by nonce
  std::deque<std::string> challenge_order_;             // nonces, oldest first
  std::map<std::string, LiveSession> sessions_;         // by hash of the token
  std::deque<std::string> session_order_;               // token hashes, oldest first
};

}  // namespace evault::server
