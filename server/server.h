// Starting and stopping evault-server: the gRPC server around VaultSyncService. main.cc
// is a thin shell over this, and tests start it in-process with a Store of their own
// (for instance one that fails on demand).
//
// The server registers the standard gRPC health service (grpc.health.v1, SERVING
// while up), accepts messages up to kMaxReceiveMessageBytes and bounds its threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include "crypto/status.h"
#include "server/service.h"
#include "server/store.h"

namespace evault::server {

inline constexpr int kMaxReceiveMessageBytes = 16 << 20;

struct ServerOptions {
  // host:port; port 0 picks a free one (see RunningServer::address()).
  std::string listen_address;
  std::shared_ptr<grpc::ServerCredentials> credentials;  // TLS, or insecure for tests
  ServiceOptions service;
};

class RunningServer {
 public:
  ~RunningServer();  // shuts down at once if still running

  // The address actually bound, with the selected port.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  VaultSyncService& service() { return *service_; }

  // Stops accepting calls, lets in-flight ones finish until `deadline`, then cancels
  // the rest. Thread-safe; may be called from a signal-handling thread.
  void Shutdown(std::chrono::system_clock::time_point deadline);
  // Blocks until the server has shut down.
  void Wait();

 private:
  friend Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store);
  RunningServer() = default;

  // Destroyed bottom-up: the gRPC server first, then the service, the store last.
  std::unique_ptr<Store> store_;
  std::unique_ptr<VaultSyncService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;
};

// Binds and starts serving. Fails (kIo) if the address cannot be bound.
Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store);

// Whether the host part of `address` is loopback: 127.0.0.1, localhost or [::1].
bool IsLoopbackAddress(std::string_view address);

}  // namespace evault::server
