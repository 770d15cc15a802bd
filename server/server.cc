#include "server/server.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

namespace evault::server {

namespace {

// Enough for many concurrent syncs; beyond it new calls get RESOURCE_EXHAUSTED rather
// than the server running out of threads.
constexpr int kMaxThreads = 256;

// "host:port" -> host (brackets kept for IPv6); "" when there is no port.
std::string_view HostOf(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return {};
  return address.substr(0, colon);
}

}  // namespace

bool IsLoopbackAddress(std::string_view address) {
  const std::string_view host = HostOf(address);
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

RunningServer::~RunningServer() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }
}

void RunningServer::Shutdown(std::chrono::system_clock::time_point deadline) { server_->Shutdown(deadline); }

void RunningServer::Wait() { server_->Wait(); }

Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store) {
  if (!options.credentials) return Fail(ErrorCode::kInvalidArgument, "no server credentials");
  std::unique_ptr<RunningServer> running(new RunningServer());
  running->store_ = std::move(store);
  running->service_ = std::make_unique<VaultSyncService>(*running->store_, std::move(options.service));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, options.credentials, &port);
  builder.RegisterService(running->service_.get());
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  grpc::ResourceQuota quota("evault-server");
  quota.SetMaxThreads(kMaxThreads);
  builder.SetResourceQuota(quota);
  running->server_ = builder.BuildAndStart();
  if (!running->server_ || port == 0) {
    running->server_.reset();
    return Fail(ErrorCode::kIo, "cannot listen on " + options.listen_address);
  }
  running->port_ = port;
  running->address_ = std::string(HostOf(options.listen_address)) + ":" + std::to_string(port);
  return running;
}

}  // namespace evault::server
