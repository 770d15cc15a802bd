// The real evault-server binary: it starts on 127.0.0.1:0 with --insecure, says where
// it listens, answers the standard gRPC health check, and exits 0 on SIGTERM. Its
// refusals of unsafe flags are tested here too.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/server/test_util.h"

extern char** environ;

namespace evault::server::testing {
namespace {

using namespace std::chrono_literals;

// The server process, its stderr read line by line.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    err_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
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

// grpc.health.v1.Health/Check with an empty HealthCheckRequest; the status of the
// response, and its bytes (HealthCheckResponse{status: SERVING} is 08 01).
std::pair<grpc::Status, std::string> HealthCheck(const std::string& address) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  std::string bytes;
  grpc::Slice slice;
  if (status.ok() && response.DumpToSingleSlice(&slice).ok()) {
    bytes.assign(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return {status, bytes};
}

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

  const auto [status, bytes] = HealthCheck(address);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // SERVING

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

}  // namespace
}  // namespace evault::server::testing
