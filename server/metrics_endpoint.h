// The HTTP endpoint Prometheus scrapes: GET (or HEAD) /metrics answers 200 with the
// text a callback renders (Content-Type text/plain; version=0.0.4); any other path is
// 404 and any other method 405. libmicrohttpd serves it on one thread of its own, at
// most 16 connections at once, each closed after 10 s idle. Plain HTTP without
// authentication: bind it to loopback or a private network (server/METRICS.md).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "crypto/status.h"

struct MHD_Daemon;

namespace evault::server {

class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;

  // Listens on `address`, host:port (an IPv4 or bracketed IPv6 literal, or localhost;
  // port 0 picks a free one). kInvalidArgument for a malformed address, kIo if it
  // cannot be bound. `render` is called for each scrape, on the endpoint's thread.
  static Result<std::unique_ptr<MetricsEndpoint>> Start(const std::string& address, Render render);
  // Stops listening; waits for a scrape being answered.
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  int port() const { return port_; }
  // host:port with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsEndpoint() = default;

  Render render_;  // the daemon's callback reads it: stopped before this goes
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  std::string address_;
};

}  // namespace evault::server
