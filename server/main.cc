// evault-server: the sync server. It stores ciphertext and signed public membership
// operations, and never holds a key. A thin shell over server/server.h.
//
//   evault-server [--config FILE] --data DIR | --postgres CONNINFO
//                 --listen ADDR --tls-cert FILE --tls-key FILE
//                 --enroll-token-file FILE [--insecure] [--quota-bytes N]
//                 [--rate-limit N] [--log-level info|warn] [--admin-socket PATH]
//   evault-server admin ...    operator commands (server/admin_client.h)
//
// --config reads the same options from a file, one `key = value` a line (TOML, as
// deploy/evault-server.conf documents); a flag on the command line overrides the file.
// An unknown key, a bad value or a missing file: one error line, exit 2. --insecure is
// a command-line flag only, so that no config file can turn TLS off.
//
// --data keeps everything in an embedded RocksDB store; --postgres in a PostgreSQL
// database instead, which several servers can share (server/postgres_store.h).
//
// SIGTERM or SIGINT: stop accepting calls, let in-flight ones finish (10 s at most),
// exit 0. The line {"msg":"listening","address":...} on stderr means it is serving.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <grpcpp/security/server_credentials.h>

#include "crypto/hardening.h"
#include "server/admin_client.h"
#include "server/enroll_tokens.h"
#include "server/postgres_store.h"
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

// One line for a command-line or config-file error, naming the file where the error
// can only be there. CLI11 reports an unknown key as "INI was not able to parse KEY".
std::string ParseErrorMessage(const CLI::ParseError& e, const CLI::App& app) {
  const CLI::Option* config = app.get_config_ptr();
  const std::string file = config != nullptr && config->count() > 0 ? config->as<std::string>() : "";
  const std::string what = e.what();
  if (file.empty()) return what;
  if (e.get_name() == "FileError") return fmt::format("cannot read the config file {}", file);
  if (e.get_name() == "ConfigError") {
    constexpr std::string_view kExtra = "INI was not able to parse ";
    if (what.starts_with(kExtra)) return fmt::format("{}: unknown key '{}'", file, what.substr(kExtra.size()));
    return fmt::format("{}: {}", file, what);
  }
  return fmt::format("{} (on the command line or in {})", what, file);
}

// CLI::NonNegativeNumber, with a message that does not print its range as 300 digits.
const CLI::Validator kNonNegative(
    [](std::string& value) -> std::string {
      double number = 0;
      if (CLI::detail::lexical_cast(value, number) && number >= 0) return "";
      return "must be a number >= 0, not " + value;
    },
    "NUMBER>=0");

// The embedded store in `data_dir`, or the PostgreSQL one if `postgres` is given.
Result<std::unique_ptr<Store>> OpenStore(const std::string& data_dir, const std::string& postgres) {
  if (!postgres.empty()) {
    EVAULT_ASSIGN_OR_RETURN(auto store, PostgresStore::Open(postgres));
    return store;
  }
  EVAULT_ASSIGN_OR_RETURN(auto store, RocksDbStore::Open(data_dir));
  return store;
}

// Every upload stream allocates and frees 1 MiB messages, and every commit frees a
// 16 MiB memtable of chunks. Under glibc's defaults (a sliding mmap threshold, memory
// trimmed back above twice that) the pages went back to the kernel after each and were
// faulted in again: a quarter of the server's system time in a 1 GiB push and pull
// (1.7 s -> 1.2-1.3 s; the push 2.5-2.6 s -> 2.3 s). Up to 64 MiB of free heap per malloc
// arena is kept instead.
void KeepStreamBuffersInHeap() {
  ::mallopt(M_MMAP_THRESHOLD, 4 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  (void)crypto::DisableCoreDumps();
  ::umask(077);
  KeepStreamBuffersInHeap();
  if (argc > 1 && std::string_view(argv[1]) == "admin") {
    return AdminMain(std::vector<std::string>(argv + 2, argv + argc), std::cout, std::cerr);
  }

  std::string data_dir, postgres, listen, tls_cert, tls_key, token_file, log_level = "info";
  bool insecure = false;
  std::uint64_t quota_bytes = 0;
  double rate_limit = 0;
  CLI::App app{"evault-server: stores and routes Evidence Vault ciphertext; never holds a key"};
  auto* data_option = app.add_option("--data", data_dir, "data directory (created with mode 0700)");
  app.add_option("--postgres", postgres,
                 "store in PostgreSQL instead: a libpq connection string or URI (a password belongs in "
                 "~/.pgpass, not here)")
      ->excludes(data_option);
  app.add_option("--listen", listen, "address to listen on, host:port (port 0: any free port)")->required();
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain");
  app.add_option("--tls-key", tls_key, "PEM private key");
  app.add_option("--enroll-token-file", token_file, "enrollment tokens, one per line")->required();
  app.add_flag("--insecure", insecure, "plaintext, no TLS: tests only, loopback addresses only");
  app.add_option("--quota-bytes", quota_bytes, "storage quota per vault in bytes (0: none)")->check(kNonNegative);
  app.add_option("--rate-limit", rate_limit, "requests per second per device (0: none)")->check(kNonNegative);
  app.add_option("--log-level", log_level, "info or warn")->check(CLI::IsMember({"info", "warn"}));
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics over plain HTTP at host:port/metrics, e.g. 127.0.0.1:9470 (default: off)");
  std::string admin_socket;
  app.add_option("--admin-socket", admin_socket,
                 "serve `evault-server admin` on this Unix socket, mode 0600, e.g. /run/evault-server/admin.sock "
                 "(default: off)");
  app.footer("Operator commands (tokens, vaults, quotas, backups): evault-server admin --help");
  app.set_config("--config", "", "read options from FILE, one `key = value` a line (e.g. listen = \"0.0.0.0:7443\"); flags override it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.get_option("--insecure")->configurable(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    Logger(LogLevel::kError).Write(LogLevel::kError, {{"msg", ParseErrorMessage(e, app)}});
    return 2;
  }
  if (data_dir.empty() && postgres.empty()) {
    Logger(LogLevel::kError).Write(LogLevel::kError, {{"msg", "--data or --postgres is required"}});
    return 2;
  }

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
  options.metrics_listen = metrics_listen;
  options.admin_socket = admin_socket;
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
  options.service.shared_store = !postgres.empty();  // replicas may share it

  auto store = OpenStore(data_dir, postgres);
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
