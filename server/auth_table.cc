#include "server/auth_table.h"

#include <algorithm>

#include "crypto/keys.h"

namespace evault::server {

namespace {

std::string ToString(const crypto::Bytes& b) { return std::string(b.begin(), b.end()); }

std::string TokenKey(crypto::ByteView token) { return ToString(crypto::PublicHash(token)); }

// Drops entries from the front of an insertion-ordered queue: those already gone from
// the map, those expired, and the oldest beyond `cap`. Because every entry has the
// same lifetime, insertion order is expiry order. The queue is compacted when
// consumed entries pile up behind a live one.
template <typename Map>
void Trim(Map& map, std::deque<std::string>& order, std::size_t cap, std::chrono::steady_clock::time_point now) {
  while (!order.empty()) {
    auto it = map.find(order.front());
    if (it == map.end()) {
      order.pop_front();
    } else if (it->second.expires <= now || map.size() > cap) {
      map.erase(it);
      order.pop_front();
    } else {
      break;
    }
  }
  if (order.size() > 2 * cap + 16) {
    std::erase_if(order, [&](const std::string& k) { return !map.contains(k); });
  }
}

}  // namespace

crypto::Bytes AuthTable::IssueChallenge(const std::string& vault_id, const std::string& device_key,
                                        Clock::time_point now) {
  crypto::Bytes nonce = crypto::RandomBytes(32);
  std::lock_guard lock(mu_);
  const std::string key = ToString(nonce);
  challenges_[key] = PendingChallenge{vault_id, device_key, now + limits_.challenge_ttl};
  challenge_order_.push_back(key);
  Trim(challenges_, challenge_order_, limits_.max_challenges, now);
  return nonce;
}

bool AuthTable::ConsumeChallenge(crypto::ByteView nonce, const std::string& vault_id,
                                 const std::string& device_key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = challenges_.find(std::string(crypto::AsText(nonce)));
  // A nonce presented for another (vault, device) is left for its rightful owner.
  if (it == challenges_.end() || it->second.vault_id != vault_id || it->second.device_key != device_key) {
    return false;
  }
  const bool live = it->second.expires > now;
  challenges_.erase(it);
  return live;
}

crypto::Bytes AuthTable::IssueSession(Session session, Clock::time_point now) {
  crypto::Bytes token = crypto::RandomBytes(32);
  std::lock_guard lock(mu_);
  const std::string key = TokenKey(token);
  sessions_[key] = LiveSession{std::move(session), now + limits_.session_ttl};
  session_order_.push_back(key);
  Trim(sessions_, session_order_, limits_.max_sessions, now);
  return token;
}

std::optional<Session> AuthTable::FindSession(crypto::ByteView token, Clock::time_point now) {
  if (token.size() != 32) return std::nullopt;
  const std::string key = TokenKey(token);
  std::lock_guard lock(mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second.session;
}

std::size_t AuthTable::challenge_count() {
  std::lock_guard lock(mu_);
  return challenges_.size();
}

std::size_t AuthTable::session_count() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace evault::server
