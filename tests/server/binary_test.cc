// The real evault-server binary: it starts on 127.0.0.1:0 with --insecure, says where
// it listens, answers the standard gRPC health check, and exits 0 on SIGTERM. Its
// refusals of unsafe flags are tested here too, and its config file (--config).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/server/health_check.h"
#include "tests/server/test_util.h"

extern char** environ;

namespace evault::server::testing {
namespace {

using namespace std::chrono_literals;

// The server process (or `evault-server admin`), its stderr read line by line, its
// stdout written to `stdout_path`.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args, const std::string& stdout_path = "/dev/null") {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    err_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<std::string> argv_storage = {EVAULT_SERVER_BINARY};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_ >= 0) ::close(err_);
  }

  // The next stderr line, or nullopt at EOF or after `timeout`.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd p{err_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(err_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Waits for the process to exit; its exit code, or -1 (signal, timeout).
  int Wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  std::string buffer_;
};

class ServerBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() / "tokens") << "binary-test-token-0123456789\n";
  }
  std::vector<std::string> Args(const std::string& listen) {
    return {"--data", (dir_.path() / "data").string(), "--listen", listen, "--enroll-token-file",
            (dir_.path() / "tokens").string(), "--insecure"};
  }
  TempDir dir_;
};

TEST_F(ServerBinaryTest, ListensAnswersHealthAndStopsCleanlyOnSigterm) {
  ServerProcess server(Args("127.0.0.1:0"));
  std::string address;
  while (auto line = server.ReadLine(20s)) {
    const auto j = nlohmann::json::parse(*line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << *line;
    if (j.value("msg", "") == "listening") {
      address = j.value("address", "");
      break;
    }
  }
  ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;
  EXPECT_NE(address, "127.0.0.1:0");

  const auto [status, bytes] = HealthCheck(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(bytes, kServingResponse);

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  while (server.ReadLine(15s)) {
  }
  EXPECT_EQ(server.Wait(15s), 0);
}

TEST_F(ServerBinaryTest, InsecureIsRefusedOffLoopback) {
  ServerProcess server(Args("0.0.0.0:0"));
  std::string all;
  while (auto line = server.ReadLine(20s)) all += *line + "\n";
  EXPECT_EQ(server.Wait(15s), 1);
  EXPECT_NE(all.find("loopback"), std::string::npos) << all;
  EXPECT_EQ(all.find("listening"), std::string::npos) << all;
}

TEST_F(ServerBinaryTest, MissingTlsOrTokensIsRefused) {
  {
    std::vector<std::string> args = Args("127.0.0.1:0");
    args.pop_back();  // no --insecure, and no certificate either
    ServerProcess server(args);
    while (server.ReadLine(20s)) {
    }
    EXPECT_EQ(server.Wait(15s), 1);
  }
  {
    std::ofstream(dir_.path() / "tokens") << "short\n";
    ServerProcess server(Args("127.0.0.1:0"));
    std::string all;
    while (auto line = server.ReadLine(20s)) all += *line + "\n";
    EXPECT_EQ(server.Wait(15s), 1);
    EXPECT_EQ(all.find("short\n\""), std::string::npos);
  }
}

// --config FILE: every option from a file, flags overriding it, and one clear error line
// (exit 2) for an unknown key, a bad value, a missing file or --insecure in the file.
class ServerConfigTest : public ServerBinaryTest {
 protected:
  fs::path WriteConfig(const std::string& text) {
    const fs::path file = dir_.path() / "evault-server.conf";
    std::ofstream(file) << text;
    return file;
  }
  // The options every run needs, in config form; `extra` lines follow.
  std::string BaseConfig(const std::string& extra = "") {
    return "# a comment\nlisten = \"127.0.0.1:0\"\ndata = \"" + (dir_.path() / "data").string() +
           "\"\nenroll-token-file = \"" + (dir_.path() / "tokens").string() + "\"\n" + extra;
  }
  // Runs the server until it exits on its own: exit code and stderr lines.
  std::pair<int, std::vector<std::string>> RunToExit(const std::vector<std::string>& args) {
    ServerProcess server(args);
    std::vector<std::string> lines;
    while (auto line = server.ReadLine(20s)) lines.push_back(*line);
    return {server.Wait(15s), lines};
  }
  // Expects exit 2 and exactly one JSON error line whose message holds `needle`.
  void ExpectOneErrorLine(const std::vector<std::string>& args, const std::string& needle) {
    const auto [code, lines] = RunToExit(args);
    EXPECT_EQ(code, 2);
    ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
    const auto j = nlohmann::json::parse(lines[0], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << lines[0];
    EXPECT_EQ(j.value("level", ""), "error");
    EXPECT_NE(j.value("msg", "").find(needle), std::string::npos) << lines[0];
  }
};

// The address from the "listening" line, or "" if the server never says it listens.
std::string ListeningAddress(ServerProcess& server) {
  while (auto line = server.ReadLine(20s)) {
    const auto j = nlohmann::json::parse(*line, nullptr, false);
    if (!j.is_discarded() && j.value("msg", "") == "listening") return j.value("address", "");
  }
  return "";
}

TEST_F(ServerConfigTest, FileSetsEveryOptionAndServesTls) {
  const fs::path certs = dir_.path() / "certs";
  ASSERT_EQ(std::system(("bash " + std::string(EVAULT_SOURCE_DIR) + "/deploy/make-certs.sh " + certs.string() +
                         " >/dev/null").c_str()),
            0);
  const fs::path config = WriteConfig(BaseConfig("tls-cert = \"" + (certs / "server.pem").string() +
                                                 "\"\ntls-key = \"" + (certs / "server.key").string() +
                                                 "\"\nquota-bytes = 1048576\nrate-limit = 50\nlog-level = \"warn\"\n"));
  ServerProcess server({"--config", config.string()});
  const std::string address = ListeningAddress(server);
  ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;
  EXPECT_TRUE(fs::is_directory(dir_.path() / "data"));

  grpc::SslCredentialsOptions tls;
  std::ifstream ca(certs / "ca.pem");
  tls.pem_root_certs.assign(std::istreambuf_iterator<char>(ca), {});
  const auto [status, bytes] = HealthCheck(address, grpc::SslCredentials(tls));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(bytes, kServingResponse);
  // Plaintext to a TLS port fails: the certificate from the file is what serves.
  EXPECT_FALSE(HealthCheck(address, grpc::InsecureChannelCredentials()).first.ok());

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  while (server.ReadLine(15s)) {
  }
  EXPECT_EQ(server.Wait(15s), 0);
}

TEST_F(ServerConfigTest, FlagsOverrideTheFile) {
  // The file's data directory and log level are both overridden; the file's bad level
  // is never applied, so the server starts.
  const fs::path config = WriteConfig(BaseConfig("log-level = \"loud\"\n"));
  ServerProcess server({"--config", config.string(), "--data", (dir_.path() / "flag-data").string(),
                        "--log-level", "warn", "--insecure"});
  EXPECT_TRUE(ListeningAddress(server).starts_with("127.0.0.1:"));
  EXPECT_TRUE(fs::is_directory(dir_.path() / "flag-data"));
  EXPECT_FALSE(fs::exists(dir_.path() / "data"));
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  while (server.ReadLine(15s)) {
  }
  EXPECT_EQ(server.Wait(15s), 0);
}

TEST_F(ServerConfigTest, UnknownKeyIsOneErrorLine) {
  const fs::path config = WriteConfig(BaseConfig("tls-crt = \"/etc/evault-server/tls/server.pem\"\n"));
  ExpectOneErrorLine({"--config", config.string(), "--insecure"}, config.string() + ": unknown key 'tls-crt'");
  EXPECT_FALSE(fs::exists(dir_.path() / "data"));
}

TEST_F(ServerConfigTest, BadValuesAreOneErrorLineEach) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"quota-bytes = \"lots\"", "--quota-bytes"},
      {"quota-bytes = -5", "--quota-bytes"},
      {"rate-limit = -1", "--rate-limit"},
      {"log-level = \"debug\"", "--log-level"},
  };
  for (const auto& [line, option] : cases) {
    SCOPED_TRACE(line);
    const fs::path config = WriteConfig(BaseConfig(line + "\n"));
    ExpectOneErrorLine({"--config", config.string(), "--insecure"}, option);
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "data"));
}

TEST_F(ServerConfigTest, MissingFileAndInsecureInTheFileAreRefused) {
  const std::string missing = (dir_.path() / "no-such.conf").string();
  ExpectOneErrorLine({"--config", missing, "--insecure"}, missing);
  // No file can turn TLS off: --insecure is for tests, on the command line only.
  const fs::path config = WriteConfig(BaseConfig("insecure = true\n"));
  ExpectOneErrorLine({"--config", config.string()}, "insecure");
  EXPECT_FALSE(fs::exists(dir_.path() / "data"));
}

// `evault-server admin` reaches the real server over the socket its config file names
// (mode 0600 under the server's umask), cannot restore over the database the server
// holds, can once it stopped, and says plainly when the server is gone.
TEST_F(ServerConfigTest, AdminCommandsReachTheServerThroughItsSocket) {
  const std::string socket = (dir_.path() / "admin.sock").string();
  const fs::path config = WriteConfig(BaseConfig("admin-socket = \"" + socket + "\"\n"));
  ServerProcess server({"--config", config.string(), "--insecure"});
  ASSERT_TRUE(ListeningAddress(server).starts_with("127.0.0.1:"));
  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  struct Run {
    int code;
    std::string out, err;
  };
  auto admin = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"admin", "--socket", socket});
    const fs::path out = dir_.path() / "admin.out";
    ServerProcess run(args, out.string());
    std::string err;
    while (auto line = run.ReadLine(20s)) err += *line + "\n";
    const int code = run.Wait(15s);
    std::ifstream in(out);
    return Run{code, std::string(std::istreambuf_iterator<char>(in), {}), err};
  };
  const Run created = admin({"token", "create", "--note", "via the binary"});
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_EQ(created.out.size(), 33u) << created.out;
  const std::string token = created.out.substr(0, 32);
  const Run listed = admin({"token", "list"});
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find("unused   via the binary"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(token), std::string::npos);
  const Run vaults = admin({"vaults"});
  EXPECT_EQ(vaults.code, 0) << vaults.err;
  EXPECT_EQ(vaults.out, "no vaults yet\n");
  // A backup, which the running server's lock keeps from being restored over it.
  const std::string backup = (dir_.path() / "backup").string(), data = (dir_.path() / "data").string();
  const Run backed_up = admin({"backup", backup});
  ASSERT_EQ(backed_up.code, 0) << backed_up.err;
  const Run in_use = admin({"restore", "--from", backup, "--data", data, "--replace"});
  EXPECT_EQ(in_use.code, 1);
  EXPECT_NE(in_use.err.find("stop the server first"), std::string::npos) << in_use.err;

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  while (server.ReadLine(15s)) {
  }
  EXPECT_EQ(server.Wait(15s), 0);
  const Run restored = admin({"restore", "--from", backup, "--data", data, "--replace"});
  EXPECT_EQ(restored.code, 0) << restored.err;
  EXPECT_NE(restored.out.find("the database it replaced is now " + data + "/db.replaced-"), std::string::npos)
      << restored.out;
  const Run gone = admin({"vaults"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(gone.out, "");
  EXPECT_NE(gone.err.find("evault-server is not running"), std::string::npos) << gone.err;
  EXPECT_EQ(std::count(gone.err.begin(), gone.err.end(), '\n'), 1) << gone.err;
}

}  // namespace
}  // namespace evault::server::testing
