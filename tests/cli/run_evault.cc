#include "tests/cli/run_evault.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/core.h>

extern char** environ;

namespace evault::cli_test {

namespace {

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe2: {}", std::strerror(errno)));
    read = fds[0];
    write = fds[1];
  }
};

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::vector<std::string> BuildEnv(const RunOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string key = entry.substr(0, eq);
    if (key.starts_with("EVAULT_")) continue;  // tests say explicitly what they pass
    env[key] = entry.substr(eq + 1);
  }
  for (const auto& key : options.unset_env) env.erase(key);
  for (const auto& [key, value] : options.env) env[key] = value;
  std::vector<std::string> out;
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

}  // namespace

std::string RunResult::Describe() const {
  std::string status = timed_out     ? std::string("timed out")
                       : term_signal ? fmt::format("killed by signal {}", term_signal)
                                     : fmt::format("exit {}", exit_code);
  return fmt::format("{}\n--- stdout ---\n{}\n--- stderr ---\n{}", status, out, err);
}

const std::string& EvaultBinary() {
  // EVAULT_CLI_BINARY, if set, runs the suite against another build (or an installed
  // evault); by default it is the binary CMake built next to this test.
  static const std::string path = [] {
    const char* other = std::getenv("EVAULT_CLI_BINARY");
    return std::string(other && *other ? other : EVAULT_BINARY);
  }();
  return path;
}

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const RunOptions& options) {
  Pipe in, out, err;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = BuildEnv(options);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(in.read);
  CloseFd(out.write);
  CloseFd(err.write);
  if (rc != 0) {
    CloseFd(in.write);
    CloseFd(out.read);
    CloseFd(err.read);
    throw std::runtime_error(fmt::format("posix_spawn {}: {}", program, std::strerror(rc)));
  }
  if (options.on_started) options.on_started(pid);

  // The parent must not die of SIGPIPE if the child exits without reading its stdin:
  // the write end is non-blocking and written with poll; EPIPE just ends the input.
  ::fcntl(in.write, F_SETFL, O_NONBLOCK);
  struct sigaction ignore {}, old_pipe {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe);

  RunResult result;
  std::size_t written = 0;
  if (options.stdin_data.empty()) CloseFd(in.write);
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  char buffer[65536];
  while (out.read >= 0 || err.read >= 0 || in.write >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out.read >= 0) { out_i = n; fds[n++] = {out.read, POLLIN, 0}; }
    if (err.read >= 0) { err_i = n; fds[n++] = {err.read, POLLIN, 0}; }
    if (in.write >= 0) { in_i = n; fds[n++] = {in.write, POLLOUT, 0}; }
    const int ready = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    auto drain = [&](int index, int& fd, std::string& sink) {
      if (index < 0 || fds[index].revents == 0) return;
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got > 0) {
        sink.append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        CloseFd(fd);
      }
    };
    drain(out_i, out.read, result.out);
    drain(err_i, err.read, result.err);
    if (in_i >= 0 && fds[in_i].revents != 0) {
      const ssize_t put = ::write(in.write, options.stdin_data.data() + written, options.stdin_data.size() - written);
      if (put > 0) written += static_cast<std::size_t>(put);
      if ((put < 0 && errno != EINTR && errno != EAGAIN) || written == options.stdin_data.size()) CloseFd(in.write);
    }
  }
  CloseFd(in.write);
  CloseFd(out.read);
  CloseFd(err.read);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);

  // The child may have closed its output and still be running: wait, up to the deadline.
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      continue;
    }
    ::usleep(2000);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  return result;
}

}  // namespace evault::cli_test
