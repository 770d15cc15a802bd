#include "server/server.h"

#include <sys/stat.h>

#include <cstring>

#include <fmt/format.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

#include "server/unix_socket.h"

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

// The admin service on its own gRPC server, bound to the Unix socket only.
Result<std::unique_ptr<grpc::Server>> StartAdminServer(const std::string& path, AdminService& service) {
  if (path.size() > kMaxUnixSocketPath) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the admin socket path {} is longer than {} bytes", path, kMaxUnixSocketPath));
  }
  if (ConnectUnixSocket(path) == 0) {
    return Fail(ErrorCode::kAlreadyExists, fmt::format("another process serves the admin socket {}", path));
  }
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  grpc::ResourceQuota quota("evault-server-admin");
  quota.SetMaxThreads(8);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) return Fail(ErrorCode::kIo, fmt::format("cannot listen on the admin socket {}", path));
  // bind() made it with the process's umask (evault-server's is 077); whatever that
  // was, only the owner may connect from now on.
  if (::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0) {
    const int err = errno;
    server->Shutdown();
    return Fail(ErrorCode::kIo, fmt::format("cannot set the mode of the admin socket {}: {}", path, std::strerror(err)));
  }
  return server;
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

void RunningServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (admin_server_) admin_server_->Shutdown(deadline);
  server_->Shutdown(deadline);
}

void RunningServer::Wait() {
  server_->Wait();
  if (admin_server_) admin_server_->Wait();
  metrics_endpoint_.reset();
}

Result<std::unique_ptr<RunningServer>> StartServer(ServerOptions options, std::unique_ptr<Store> store) {
  if (!options.credentials) return Fail(ErrorCode::kInvalidArgument, "no server credentials");
  std::unique_ptr<RunningServer> running(new RunningServer());
  running->store_ = std::move(store);
  running->metrics_ = std::make_unique<ServerMetrics>(*running->store_);
  options.service.rpc_observer = running->metrics_.get();
  const AdminOptions admin_options{options.service.enroll_token_hashes, options.service.quota_bytes};
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
  if (!options.admin_socket.empty()) {
    running->admin_service_ =
        std::make_unique<AdminService>(*running->store_, admin_options, running->service_->logger());
    EVAULT_ASSIGN_OR_RETURN(running->admin_server_, StartAdminServer(options.admin_socket, *running->admin_service_));
    running->admin_address_ = "unix:" + options.admin_socket;
  }
  if (!options.metrics_listen.empty()) {
    ServerMetrics& metrics = *running->metrics_;
    EVAULT_ASSIGN_OR_RETURN(running->metrics_endpoint_,
                            MetricsEndpoint::Start(options.metrics_listen, [&metrics] { return metrics.Render(); }));
  }
  return running;
}

}  // namespace evault::server
