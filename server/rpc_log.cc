#include "server/rpc_log.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/chrono.h>
#include <fmt/core.h>

#include "crypto/keys.h"

namespace evault::server {

LogLevel LogLevelFromName(std::string_view name) {
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  if (name == "off") return LogLevel::kOff;
  return LogLevel::kInfo;
}

namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "info";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", std::chrono::floor<std::chrono::seconds>(now), ms);
}

void WriteToStderr(std::string_view line) {
  // One write(2) per line, so lines from concurrent processes do not interleave.
  std::string buffer(line);
  buffer.push_back('\n');
  std::string_view rest = buffer;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

Logger::Logger(LogLevel level, Sink sink, RpcObserver* observer)
    : level_(level), sink_(sink ? std::move(sink) : Sink(WriteToStderr)), observer_(observer) {}

void Logger::Write(LogLevel level, nlohmann::ordered_json fields) {
  if (level < level_ || level == LogLevel::kOff) return;
  nlohmann::ordered_json line = {{"ts", Timestamp()}, {"level", std::string(LevelName(level))}};
  line.update(fields);
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mu_);
  sink_(text);
}

std::string VaultPrefix(crypto::ByteView vault_id) {
  return crypto::ToHex(vault_id.first(std::min<std::size_t>(4, vault_id.size())));
}

std::string DevicePrefix(crypto::ByteView signing_key) {
  if (signing_key.empty()) return "";
  const crypto::Bytes id = crypto::PublicHash(signing_key);
  return crypto::ToHex(crypto::ByteView(id).first(4));
}

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN";
  }
}

RpcLog::RpcLog(Logger& logger, std::string_view rpc)
    : logger_(logger), rpc_(rpc), start_(std::chrono::steady_clock::now()) {}

grpc::Status RpcLog::Done(grpc::Status status) {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  const double ms = elapsed.count() * 1000;
  const grpc::StatusCode code = status.error_code();
  const LogLevel level = code == grpc::StatusCode::OK                                                ? LogLevel::kInfo
                         : (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::DATA_LOSS) ? LogLevel::kError
                                                                                                      : LogLevel::kWarn;
  logger_.Write(level, {{"rpc", std::string(rpc_)},
                        {"code", std::string(StatusCodeName(code))},
                        {"vault", vault_},
                        {"device", device_},
                        {"bytes", bytes_},
                        {"ms", std::round(ms * 10) / 10}});
  if (RpcObserver* observer = logger_.observer()) observer->RpcFinished(rpc_, code, elapsed.count());
  return status;
}

}  // namespace evault::server
