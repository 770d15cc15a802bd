// Runs a program (by default the real `evault` binary) without a shell: a given argv,
// environment and stdin; collects exit status, stdout and stderr, with a timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace evault::cli_test {

struct RunOptions {
  std::string stdin_data;                    // written to the child's stdin, then closed
  std::map<std::string, std::string> env;    // set (overrides the inherited value)
  std::vector<std::string> unset_env;        // removed (EVAULT_* is always removed)
  std::string cwd;                           // working directory, else the caller's
  bool new_session = false;                  // setsid(): no controlling terminal
  std::chrono::milliseconds timeout{30000};  // then SIGKILL, timed_out = true
  // Called in the parent right after the child starts, before its output is read.
  std::function<void(pid_t)> on_started;
};

struct RunResult {
  int exit_code = -1;    // -1 unless the child exited normally
  int term_signal = 0;   // the signal that killed it, else 0
  bool timed_out = false;
  std::string out, err;

  // "exit 1, stdout: ..., stderr: ..." for assertion messages.
  std::string Describe() const;
};

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const RunOptions& options = {});

// The evault binary under test: $EVAULT_CLI_BINARY, else EVAULT_BINARY (set by CMake).
const std::string& EvaultBinary();

inline RunResult RunEvault(const std::vector<std::string>& args, const RunOptions& options = {}) {
  return RunProgram(EvaultBinary(), args, options);
}

}  // namespace evault::cli_test
