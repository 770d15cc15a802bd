// A token bucket per key (a device's signing key): each request takes one token;
// buckets refill at `per_second` up to `burst`. A rate of 0 disables limiting.
//
// The number of buckets is bounded: when it passes the cap, buckets that have been
// idle long enough to be full again are forgotten (forgetting them changes nothing).
// Time is passed in, so the limiter is testable without sleeping. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace evault::server {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // burst <= 0 means max(1, per_second): one second's worth.
  explicit RateLimiter(double per_second, double burst = 0, std::size_t max_keys = 100000);

  bool Allow(std::string_view key, Clock::time_point now);

 private:
  struct Bucket {
    double tokens;
    Clock::time_point refilled;
  };
  void Forget(Clock::time_point now);

  const double per_second_;
  const double burst_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace evault::server
