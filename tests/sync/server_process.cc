#include "tests/sync/server_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace evault::sync_test {

ServerProcess::ServerProcess(fs::path dir, std::vector<std::string> extra_args)
    : dir_(std::move(dir)), extra_args_(std::move(extra_args)) {
  fs::create_directories(dir_);
  data_ = dir_ / "data";
  ca_ = dir_ / "certs" / "ca.pem";
  cert_ = dir_ / "certs" / "server.pem";
  key_ = dir_ / "certs" / "server.key";
  token_file_ = dir_ / "enroll-tokens";
  log_file_ = dir_ / "server.log";
  token_ = cli_test::RandomHex(16);
  std::ofstream(log_file_, std::ios::app).flush();  // exists before the child writes to it
  std::ofstream(token_file_) << token_ << "\n";
  const std::string script = std::string(EVAULT_SOURCE_DIR) + "/deploy/make-certs.sh";
  auto made = cli_test::RunProgram("/bin/bash", {script, (dir_ / "certs").string()});
  if (made.exit_code != 0) std::abort();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

std::string ServerProcess::log() const { return cli_test::ReadFile(log_file_); }

bool ServerProcess::Start(std::string* error) {
  std::vector<std::string> args = {EVAULT_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port_),
                                   "--tls-cert", cert_.string(), "--tls-key", key_.string(),
                                   "--enroll-token-file", token_file_.string()};
  // A server on PostgreSQL (--postgres CONNINFO) has no data directory.
  if (std::find(extra_args_.begin(), extra_args_.end(), "--postgres") == extra_args_.end()) {
    args.insert(args.end(), {"--data", data_.string()});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const auto log_offset = fs::exists(log_file_) ? fs::file_size(log_file_) : 0;
  pid_ = ::fork();
  if (pid_ == 0) {
    FILE* log = std::fopen(log_file_.c_str(), "a");
    ::dup2(fileno(log), STDERR_FILENO);
    ::dup2(fileno(log), STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const std::regex listening(R"(listening[^\n]*?127\.0\.0\.1:(\d+))");
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log().substr(log_offset);
    std::smatch m;
    if (std::regex_search(text, m, listening)) {
      port_ = std::stoi(m[1]);
      return true;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "evault-server exited: " + text;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *error = "evault-server did not report listening: " + log();
  Kill();
  return false;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace evault::sync_test
