// The nginx example (deploy/nginx/evault-server.conf) in front of a real evault-server:
// nginx terminates the devices' TLS and passes gRPC on over TLS (grpcs://). Two real
// devices enroll, join and sync a record and a multi-chunk attachment through it, and
// the standard gRPC health check passes through it. Skipped when nginx is not installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/cli/cli_fixture.h"
#include "tests/server/health_check.h"
#include "tests/sync/server_process.h"

extern char** environ;

namespace evault::deploy_test {
namespace {

namespace fs = std::filesystem;
using cli_test::Device;
using cli_test::FirstWord;
using cli_test::RunResult;

std::string FindNginx() {
  for (const char* path : {"/usr/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// A port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// The example's server{} and upstream{} blocks with this test's addresses and files:
// nginx listens on 127.0.0.1:`port`, and passes to the replicas at `backends`.
std::string ExampleFor(int port, const std::vector<std::string>& backends, const fs::path& certs, const fs::path& dir) {
  std::string conf = cli_test::ReadFile(fs::path(EVAULT_SOURCE_DIR) / "deploy" / "nginx" / "evault-server.conf");
  conf = std::regex_replace(conf, std::regex("#[^\n]*"), "");  // comments, with the other replicas in them
  std::string upstream;
  for (const auto& b : backends) upstream += "    server " + b + ";\n";
  conf = std::regex_replace(conf, std::regex(R"(    server 127\.0\.0\.1:7443;\n)"), upstream);
  conf = std::regex_replace(conf, std::regex(R"(listen 443 ssl http2;)"), "listen 127.0.0.1:" + std::to_string(port) + " ssl http2;");
  conf = std::regex_replace(conf, std::regex(R"(\n *listen \[::\]:443[^\n]*)"), "");
  conf = std::regex_replace(conf, std::regex(R"(/etc/evault-server/tls/)"), certs.string() + "/");
  conf = std::regex_replace(conf, std::regex(R"(/var/log/nginx/)"), dir.string() + "/");
  // make-certs.sh's server certificate names localhost.
  return std::regex_replace(conf, std::regex(R"(vault\.example\.org)"), "localhost");
}

// nginx in the foreground with everything under `dir`: its prefix, pid file, logs and
// temporary files, so it touches nothing of the system's nginx.
class Nginx {
 public:
  Nginx(const fs::path& dir, const std::string& site) : dir_(dir) {
    std::ofstream(dir_ / "site.conf") << site;
    std::string conf = "pid " + (dir_ / "nginx.pid").string() + ";\nerror_log " + (dir_ / "error.log").string() +
                       " warn;\nworker_processes 1;\n";
    // As root, nginx runs its workers as `nobody`, who cannot read this test's 0700
    // directory; the workers stay root here instead (loopback only, for the test).
    if (::geteuid() == 0) conf += "user root;\n";
    conf += "events {}\nhttp {\n";
    for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
      conf += "  " + std::string(temp) + "_temp_path " + (dir_ / (std::string(temp) + "_temp")).string() + ";\n";
    }
    conf += "  include " + (dir_ / "site.conf").string() + ";\n}\n";
    std::ofstream(dir_ / "nginx.conf") << conf;
  }
  ~Nginx() { Stop(); }

  // Starts nginx and waits until `port` accepts connections; false with the error log.
  bool Start(int port, std::string* error) {
    std::vector<std::string> args = {FindNginx(), "-p", dir_.string(), "-e", (dir_ / "error.log").string(),
                                     "-c", (dir_ / "nginx.conf").string(), "-g", "daemon off;"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "stderr.log").c_str(), O_WRONLY | O_CREAT, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int spawned = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      *error = "cannot run " + args[0];
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Accepts(port)) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "nginx did not listen: " + Log("stderr.log") + Log("error.log");
    Stop();
    return false;
  }

  // SIGQUIT: nginx's graceful stop.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGQUIT);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string Log(const std::string& name) const {
    return fs::exists(dir_ / name) ? cli_test::ReadFile(dir_ / name) : "";
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (FindNginx().empty()) GTEST_SKIP() << "nginx is not installed (Debian package nginx)";
    dir_ = cli_test::MakeTempDir("evault-nginx-");
    server_ = std::make_unique<sync_test::ServerProcess>(dir_ / "server");
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    const fs::path certs = server_->cert_file().parent_path();  // server.pem, server.key, ca.pem
    fs::create_directories(dir_ / "nginx");
    // The port was free a moment ago; another process may take it first, so retry.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreePort();
      const std::string backend = "127.0.0.1:" + server_->address().substr(server_->address().rfind(':') + 1);
      const std::string site = ExampleFor(port_, {backend}, certs, dir_ / "nginx");
      // Had the example changed beyond what ExampleFor rewrites, nginx would reach for the
      // system's port 443 and files.
      for (const char* system : {":443", "/etc/", "/var/log/", "example.org", ":7443"}) {
        ASSERT_EQ(site.find(system), std::string::npos) << system << " left in:\n" << site;
      }
      nginx_ = std::make_unique<Nginx>(dir_ / "nginx", site);
      if (nginx_->Start(port_, &error)) return;
    }
    FAIL() << error;
  }
  void TearDown() override {
    if (HasFailure() && nginx_) std::cerr << "nginx error log:\n" << nginx_->Log("error.log") << "\n";
    if (HasFailure() && server_) std::cerr << "server log:\n" << server_->log() << "\n";
    nginx_.reset();
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string ProxyAddress() const { return "localhost:" + std::to_string(port_); }
  std::string Ca() const { return server_->ca_file().string(); }

  fs::path dir_;
  std::unique_ptr<sync_test::ServerProcess> server_;
  std::unique_ptr<Nginx> nginx_;
  int port_ = 0;
};

TEST_F(NginxTest, HealthCheckPassesThrough) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = cli_test::ReadFile(Ca());
  const auto [status, bytes] = server::testing::HealthCheck(ProxyAddress(), grpc::SslCredentials(tls));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(bytes, server::testing::kServingResponse);
  // nginx logs a request when it finalises it, which may be just after the reply arrived.
  const auto logged = [&] {
    return nginx_->Log("evault-server.access.log").find("/grpc.health.v1.Health/Check") != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!logged() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(logged()) << "the request did not pass through nginx";
}

TEST_F(NginxTest, TwoDevicesSyncThroughTheProxy) {
  const Device a = Device::Make(dir_, "a"), b = Device::Make(dir_, "b");
  ASSERT_EQ(a.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}).exit_code, 0);
  const RunResult enrolled =
      a.Ev({"sync", "--server", ProxyAddress(), "--ca-file", Ca(), "--enroll-token", server_->enroll_token()});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe();

  // A record and a 3 MiB attachment: several chunks in one upload stream.
  const std::string case_id = FirstWord(a.Ev({"case", "new", "--title", "Through nginx"}).out);
  const RunResult record = a.Ev({"record", "add", "--case", case_id, "--json", "-"},
                                {.stdin_data = cli_test::SimpleRecord("Proxied record").dump()});
  ASSERT_EQ(record.exit_code, 0) << record.Describe();
  const std::string file = cli_test::RandomBytes((3u << 20) + 123);
  cli_test::WriteFile(dir_ / "evidence.bin", file);
  const RunResult attached = a.Ev({"attach", "add", "--record", FirstWord(record.out), (dir_ / "evidence.bin").string()});
  ASSERT_EQ(attached.exit_code, 0) << attached.Describe();
  const RunResult pushed = a.Ev({"sync"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.Describe();

  // B joins through the proxy (the invite names it), A admits B, B pulls everything.
  const RunResult invite = a.Ev({"member", "invite", "--role", "coordinator"});
  ASSERT_EQ(invite.exit_code, 0) << invite.Describe();
  EXPECT_NE(invite.out.find(ProxyAddress()), std::string::npos) << invite.out;
  const RunResult joined =
      b.Ev({"init", "--join", FirstWord(invite.out), "--ca-file", Ca(), "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  ASSERT_EQ(joined.exit_code, 0) << joined.Describe();
  ASSERT_EQ(a.Ev({"sync"}).exit_code, 0);
  const RunResult arrived = b.Ev({"sync"});
  ASSERT_EQ(arrived.exit_code, 0) << arrived.Describe();
  EXPECT_NE(arrived.out.find("now a member"), std::string::npos) << arrived.out;

  const RunResult shown = b.Ev({"record", "show", FirstWord(record.out), "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_NE(shown.out.find("Proxied record"), std::string::npos) << shown.out;
  const RunResult got = b.Ev({"attach", "get", FirstWord(attached.out), "--out", (dir_ / "copy.bin").string()});
  ASSERT_EQ(got.exit_code, 0) << got.Describe();
  EXPECT_EQ(cli_test::ReadFile(dir_ / "copy.bin"), file);

  // Every call went through nginx: its access log has the sync RPCs.
  const std::string access = nginx_->Log("evault-server.access.log");
  EXPECT_NE(access.find("/evault.sync.v1.VaultSync/"), std::string::npos) << access;
}

}  // namespace
}  // namespace evault::deploy_test
