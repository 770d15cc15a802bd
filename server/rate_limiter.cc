#include "server/rate_limiter.h"

#include <algorithm>

namespace evault::server {

RateLimiter::RateLimiter(double per_second, double burst, std::size_t max_keys)
    : per_second_(per_second),
      burst_(burst > 0 ? burst : std::max(1.0, per_second)),
      max_keys_(max_keys) {}

bool RateLimiter::Allow(std::string_view key, Clock::time_point now) {
  if (per_second_ <= 0) return true;
  std::lock_guard lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted) {
    const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
    if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
    b.refilled = std::max(b.refilled, now);
  }
  const bool allowed = b.tokens >= 1.0;
  if (allowed) b.tokens -= 1.0;
  if (buckets_.size() > max_keys_) Forget(now);
  return allowed;
}

void RateLimiter::Forget(Clock::time_point now) {
  const auto refill_time = std::chrono::duration<double>(burst_ / per_second_);
  std::erase_if(buckets_, [&](const auto& entry) {
    return now - entry.second.refilled >= refill_time;
  });
  // Still over the cap: everyone is busy. Starting over errs on the side of serving.
  if (buckets_.size() > max_keys_) buckets_.clear();
}

}  // namespace evault::server
