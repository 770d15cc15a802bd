#include "server/metrics_endpoint.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>

#include <microhttpd.h>

namespace evault::server {

namespace {

constexpr unsigned kMaxConnections = 16;
constexpr unsigned kIdleSeconds = 10;
constexpr char kMetricsPath[] = "/metrics";
constexpr char kMetricsType[] = "text/plain; version=0.0.4; charset=utf-8";

MHD_Result Reply(MHD_Connection* connection, unsigned status, const std::string& body, const char* type,
                 const char* allow = nullptr) {
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (allow != nullptr) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

// Answers at the first call, when the headers are in; a request body is not read.
MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                  const char*, size_t*, void**) {
  if (std::strcmp(url, kMetricsPath) != 0) return Reply(connection, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "text/plain", "GET, HEAD");
  }
  const auto& render = *static_cast<const MetricsEndpoint::Render*>(cls);
  return Reply(connection, MHD_HTTP_OK, render(), kMetricsType);
}

struct HostPort {
  std::string host, port;
};

// "host:port" or "[v6]:port".
std::optional<HostPort> SplitAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.starts_with('[')) {
    if (!host.ends_with(']') || host.size() < 3) return std::nullopt;
    host = host.substr(1, host.size() - 2);
  }
  return HostPort{host, address.substr(colon + 1)};
}

}  // namespace

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& address, Render render) {
  const auto parts = SplitAddress(address);
  if (!parts) return Fail(ErrorCode::kInvalidArgument, "metrics address must be host:port: " + address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(parts->host.c_str(), parts->port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "metrics address does not resolve: " + address);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);

  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->render_ = std::move(render);
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
  if (found->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  endpoint->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &Answer, &endpoint->render_,
                                       MHD_OPTION_SOCK_ADDR, found->ai_addr,
                                       MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
                                       MHD_OPTION_CONNECTION_TIMEOUT, kIdleSeconds, MHD_OPTION_END);
  if (endpoint->daemon_ == nullptr) return Fail(ErrorCode::kIo, "cannot listen on " + address + " for metrics");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(endpoint->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  endpoint->port_ = info != nullptr ? info->port : 0;
  endpoint->address_ = address.substr(0, address.rfind(':')) + ":" + std::to_string(endpoint->port_);
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace evault::server
