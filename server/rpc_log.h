// Structured logs: one JSON object per line. Each RPC yields exactly one line:
//   {"ts":"2025-01-31T12:00:00.123Z","level":"info","rpc":"Push","code":"OK",
//    "vault":"0a1b2c3d","device":"9f8e7d6c","bytes":1234,"ms":4.2}
// "vault" is the first 8 hex digits of the vault id; "device" the first 8 of the
// device id (BLAKE2b of its signing key, as `evault` shows it). A line never carries
// a token, a nonce, an enrollment token, a key or any payload: only the fields above.
// Successful calls log at info, refused ones at warn, server faults at error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>
#include <nlohmann/json.hpp>

#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::server {

enum class LogLevel { kInfo, kWarn, kError, kOff };

// Told of every finished RPC and every storage failure, whatever the log level: how
// the server's metrics count them (server_metrics.h). Called from many threads at once.
class RpcObserver {
 public:
  virtual ~RpcObserver() = default;
  // `rpc` is the method's name as logged: a fixed name, never anything of the request.
  virtual void RpcFinished(std::string_view rpc, grpc::StatusCode code, double seconds) = 0;
  virtual void StorageFailed(ErrorCode code) = 0;
};

// "info", "warn", "error", "off"; anything else is kInfo.
LogLevel LogLevelFromName(std::string_view name);

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;

  // Lines below `level` are dropped. The default sink writes to stderr. `observer`, if
  // any, must outlive the logger; RpcLog reports to it.
  explicit Logger(LogLevel level = LogLevel::kInfo, Sink sink = {}, RpcObserver* observer = nullptr);

  // Adds "ts" and "level" to `fields` and writes it as one line.
  void Write(LogLevel level, nlohmann::ordered_json fields);

  RpcObserver* observer() const { return observer_; }

 private:
  const LogLevel level_;
  Sink sink_;
  RpcObserver* const observer_;
  std::mutex mu_;
};

// The first 8 hex digits of an id, for logs; "" when the id is empty.
std::string VaultPrefix(crypto::ByteView vault_id);
std::string DevicePrefix(crypto::ByteView signing_key);

// "OK", "INVALID_ARGUMENT", ...: gRPC's canonical names.
std::string_view StatusCodeName(grpc::StatusCode code);

// Collects what one RPC log line says, and writes it when the RPC finishes.
class RpcLog {
 public:
  RpcLog(Logger& logger, std::string_view rpc);

  void SetVault(crypto::ByteView vault_id) { vault_ = VaultPrefix(vault_id); }
  void SetDevice(crypto::ByteView signing_key) { device_ = DevicePrefix(signing_key); }
  void AddBytes(std::uint64_t bytes) { bytes_ += bytes; }

  // Writes the line, tells the logger's observer, and hands `status` back, so a
  // handler can `return log.Done(s);`.
  grpc::Status Done(grpc::Status status);

 private:
  Logger& logger_;
  std::string_view rpc_;
  std::string vault_, device_;
  std::uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace evault::server
