// evault-server: the sync server. It stores ciphertext and signed public membership
// operations, and never holds a key. A thin shell over server/server.h.
//
//   evault-server --data DIR --listen ADDR --tls-cert FILE --tls-key FILE
//                 --enroll-token-file FILE [--insecure] [--quota-bytes N]
//                 [--rate-limit N] [--log-level info|warn]
//
// SIGTERM or SIGINT: stop accepting calls, let in-flight ones finish (10 s at most),
// exit 0. The line {"msg":"listening","address":...} on stderr means it is serving.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/security/server_credentials.h>

#include "crypto/hardening.h"
#include "server/enroll_tokens.h"
#include "server/rocksdb_store.h"
#include "server/server.h"

namespace {

using namespace evault;
using namespace evault::server;

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int Die(Logger& logger, const std::string& message) {
  logger.Write(LogLevel::kError, {{"msg", message}});
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  (void)crypto::DisableCoreDumps();
  ::umask(077);

  std::string data_dir, listen, tls_cert, tls_key, token_file, log_level = "info";
  bool insecure = false;
  std::uint64_t quota_bytes = 0;
  double rate_limit = 0;
  CLI::App app{"evault-server: stores and routes Evidence Vault ciphertext; never holds a key"};
  app.add_option("--data", data_dir, "data directory (created with mode 0700)")->required();
  app.add_option("--listen", listen, "address to listen on, host:port (port 0: any free port)")->required();
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain");
  app.add_option("--tls-key", tls_key, "PEM private key");
  app.add_option("--enroll-token-file", token_file, "enrollment tokens, one per line")->required();
  app.add_flag("--insecure", insecure, "plaintext, no TLS: tests only, loopback addresses only");
  app.add_option("--quota-bytes", quota_bytes, "storage quota per vault in bytes (0: none)");
  app.add_option("--rate-limit", rate_limit, "requests per second per device (0: none)")->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", log_level, "info or warn")->check(CLI::IsMember({"info", "warn"}));
  CLI11_PARSE(app, argc, argv);

  Logger logger(LogLevelFromName(log_level));

  // Before any thread exists, so that every thread inherits the mask and the signals
  // are delivered only to the sigwait thread below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ServerOptions options;
  options.listen_address = listen;
  if (insecure) {
    if (!IsLoopbackAddress(listen)) {
      return Die(logger, "--insecure is only allowed on a loopback address (127.0.0.1, localhost, [::1])");
    }
    options.credentials = grpc::InsecureServerCredentials();
  } else {
    if (tls_cert.empty() || tls_key.empty()) return Die(logger, "--tls-cert and --tls-key are required");
    const auto cert = ReadFile(tls_cert);
    const auto key = ReadFile(tls_key);
    if (!cert || !key) return Die(logger, "cannot read the TLS certificate or key");
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    options.credentials = grpc::SslServerCredentials(ssl);
  }

  auto tokens = LoadEnrollTokenHashes(token_file);
  if (!tokens) return Die(logger, tokens.error().message);
  options.service.enroll_token_hashes = std::move(*tokens);
  options.service.quota_bytes = quota_bytes;
  options.service.rate_limit = rate_limit;
  options.service.log_level = LogLevelFromName(log_level);

  auto store = RocksDbStore::Open(data_dir);
  if (!store) return Die(logger, store.error().message);
  auto server = StartServer(std::move(options), std::move(*store));
  if (!server) return Die(logger, server.error().message);
  // Always written, whatever the level: scripts and tests wait for it.
  Logger(LogLevel::kInfo).Write(LogLevel::kInfo, {{"msg", "listening"}, {"address", (*server)->address()}});

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    logger.Write(LogLevel::kWarn, {{"msg", "stopping"}, {"signal", signal}});
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  });
  (*server)->Wait();
  stopper.join();
  server->reset();
  logger.Write(LogLevel::kWarn, {{"msg", "stopped"}});
  return 0;
}
