// A real evault-server for end-to-end tests: TLS certificates made by
// deploy/make-certs.sh, an enrollment token, a data directory, a port chosen by the
// kernel on 127.0.0.1. Stop() sends SIGTERM; Kill() sends SIGKILL; Start() again
// reuses the same data directory and port.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace evault::sync_test {

namespace fs = std::filesystem;

class ServerProcess {
 public:
  explicit ServerProcess(fs::path dir, std::vector<std::string> extra_args = {});
  ~ServerProcess();

  // Starts the server and waits until it listens; false (with a message) on failure.
  bool Start(std::string* error);
  int Stop();  // SIGTERM, returns the exit code
  void Kill();  // SIGKILL

  std::string address() const { return "localhost:" + std::to_string(port_); }
  const fs::path& data_dir() const { return data_; }  // unused with --postgres in extra_args
  pid_t pid() const { return pid_; }  // -1 when not running
  const fs::path& ca_file() const { return ca_; }
  const fs::path& cert_file() const { return cert_; }
  const std::string& enroll_token() const { return token_; }
  std::string log() const;

 private:
  fs::path dir_, data_, ca_, cert_, key_, token_file_, log_file_;
  std::string token_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace evault::sync_test
