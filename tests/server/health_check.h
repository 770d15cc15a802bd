// The standard gRPC health check (grpc.health.v1.Health/Check) as a client sends it,
// without the health proto's generated stubs: tests call it on the real binary,
// directly or through a reverse proxy.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace evault::server::testing {

// HealthCheckResponse{status: SERVING}, as bytes on the wire.
inline const std::string kServingResponse("\x08\x01", 2);

// Sends an empty HealthCheckRequest to `address` (10 s deadline); the call's status
// and the response's bytes.
std::pair<grpc::Status, std::string> HealthCheck(const std::string& address,
                                                 std::shared_ptr<grpc::ChannelCredentials> credentials);

}  // namespace evault::server::testing
