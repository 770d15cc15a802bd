// Starting and stopping evault-server: the gRPC server around VaultSyncService. main.cc
// is a thin shell over this, and tests start it in-process with a Store of their own
// (for instance one that fails on demand).
//
// The server registers the standard gRPC health service (grpc.health.v1, SERVING
// while up), accepts messages up to kMaxReceiveMessageBytes and bounds its threads.
// It counts every RPC into its metrics (server_metrics.h) and, when asked, serves them
// for Prometheus over HTTP (metrics_endpoint.h) until it has shut down.
//
// When given an admin socket it also serves the Admin service (admin_service.h) there,
// from a second gRPC server that listens on that Unix domain socket only, so the
// operator's calls can never be made over the network. The socket file gets mode 0600:
// who may open it is who may administer the server.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include "crypto/status.h"
#include "server/admin_service.h"
#include "server/metrics_endpoint.h"
#include "server/server_metrics.h"
#include "server/service.h"
#include "server/store.h"

namespace evault::server {

inline constexpr int kMaxReceiveMessageBytes = 16 << 20;

struct ServerOptions {
  // host:port; port 0 picks a free one (see RunningServer::address()).
  std::string listen_address;
  std::shared_ptr<grpc::ServerCredentials> credentials;  // TLS, or insecure for tests
  // host:port of the Prometheus endpoint (GET /metrics); empty: none. Plain HTTP, and
  // the metrics are operational metadata: a loopback address unless the network is
  // private. Port 0 picks a free one (see RunningServer::metrics_address()).
  std::string metrics_listen;
  // Path of the admin socket; empty: none. Its directory must exist. A stale socket
  // file (a server that crashed) is replaced; a live one (another server) is refused.
  std::string admin_socket;
  ServiceOptions service;  // StartServer sets its rpc_observer
};

class RunningServer {
 public:
  ~RunningServer();  // shuts down at once if still running

  // The address actually bound, with the selected port.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  VaultSyncService& service() { return *service_; }
  // "unix:PATH" of the admin socket; "" if there is none.
  const std::string& admin_address() const { return admin_address_; }
  ServerMetrics& metrics() { return *metrics_; }
  // The metrics endpoint's address with its port; "" if there is none (or it stopped).
  std::string metrics_address() const { return metrics_endpoint_ ? metrics_endpoint_->address() : ""; }

  // Stops accepting calls, lets in-flight ones finish until `deadline`, then cancels
  // the rest. Thread-safe; may be called from a signal-handling thread.
  void Shutdown(std::chrono::system_clock::time_point deadline);
  // Blocks until the server has shut down, then stops the metrics endpoint.
  void Wait();

 private:
  friend Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store);
  RunningServer() = default;

  // Destroyed bottom-up: the metrics endpoint and the gRPC servers first, then the
  // services and the metrics, the store last.
  std::unique_ptr<Store> store_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<VaultSyncService> service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> admin_server_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::string address_;
  std::string admin_address_;
  int port_ = 0;
};

// Binds and starts serving. Fails (kIo) if the address cannot be bound.
Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store);

// Whether the host part of `address` is loopback: 127.0.0.1, localhost or [::1].
bool IsLoopbackAddress(std::string_view address);

}  // namespace evault::server
