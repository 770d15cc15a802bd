// What the whole-command benchmarks (sync_bench, vault_scale) share: a progress log, a
// temporary directory removed at the end, an evault-server child, and cleanup on a signal. SIGINT/SIGTERM/SIGHUP
// are blocked in every thread (call StartSignalThread before gRPC starts any) and taken
// by one thread with sigwait, which kills the registered servers, removes the temporary
// directory and exits. Servers also get PR_SET_PDEATHSIG, so they die with the bench.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <fmt/chrono.h>

namespace evault::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Progress lines on stderr, stamped with the time since start.
inline const Clock::time_point g_start = Clock::now();
template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "[{:7.1f}s] {}\n", Seconds(Clock::now() - g_start),
             fmt::format(format, std::forward<Args>(args)...));
  std::fflush(stderr);
}

// --- cleanup on a signal -------------------------------------------------------------

inline std::mutex g_cleanup_mu;
inline std::vector<pid_t> g_server_pids;  // guarded by g_cleanup_mu
inline std::string g_cleanup_dir;         // guarded by g_cleanup_mu

inline void RegisterServer(pid_t pid) {
  std::lock_guard lock(g_cleanup_mu);
  g_server_pids.push_back(pid);
}
inline void ForgetServer(pid_t pid) {
  std::lock_guard lock(g_cleanup_mu);
  std::erase(g_server_pids, pid);
}

inline sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

inline void StartSignalThread(std::string name) {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, name = std::move(name)] {
    int signal = 0;
    sigwait(&set, &signal);
    fmt::print(stderr, "\n{}: signal {}, cleaning up\n", name, signal);
    std::lock_guard lock(g_cleanup_mu);
    for (pid_t pid : g_server_pids) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    if (!g_cleanup_dir.empty()) fs::remove_all(g_cleanup_dir, ec);
    ::_exit(128 + signal);
  }).detach();
}

// A fresh directory `parent`/`prefix`-XXXXXX, removed at the end (or on a signal) unless kept.
class TempDir {
 public:
  TempDir(const fs::path& parent, const std::string& prefix, bool keep) : keep_(keep) {
    fs::create_directories(parent);
    std::string pattern = (parent / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw BenchError("cannot create a temporary directory under " + parent.string());
    path_ = pattern;
    std::lock_guard lock(g_cleanup_mu);
    if (!keep_) g_cleanup_dir = path_.string();
  }
  ~TempDir() {
    if (keep_) {
      fmt::print(stderr, "kept {}\n", path_.string());
      return;
    }
    std::lock_guard lock(g_cleanup_mu);
    std::error_code ec;
    fs::remove_all(path_, ec);
    g_cleanup_dir.clear();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool keep_;
};

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// --- an evault-server child ----------------------------------------------------------

// Starts `args` (the server binary first) with its output appended to `log_file`; it dies
// with this process (PR_SET_PDEATHSIG) and is registered for cleanup on a signal.
inline pid_t SpawnServer(const std::vector<std::string>& args, const fs::path& log_file) {
  std::vector<char*> argv;  // built before fork: the child only calls async-signal-safe functions
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw BenchError("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    const sigset_t set = StopSignals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  RegisterServer(pid);
  return pid;
}

// Waits until the server logs that it listens (its log from `offset` on) and returns
// its port. If it exits first or takes longer than `limit`, `pid` is forgotten (on exit)
// and BenchError carries its log.
inline int WaitUntilListening(pid_t& pid, const fs::path& log_file, std::uintmax_t offset,
                              std::chrono::seconds limit) {
  static const std::regex listening(R"("listening"[^\n]*?127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    const std::string text = ReadFile(log_file).substr(offset);
    std::smatch m;
    if (std::regex_search(text, m, listening)) return std::stoi(m[1]);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ForgetServer(pid);
      pid = -1;
      throw BenchError("evault-server exited before listening:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw BenchError(fmt::format("evault-server did not report listening within {} s:\n{}", limit.count(),
                               ReadFile(log_file)));
}

// SIGTERM (a graceful stop), SIGKILL after `grace`; `pid` is -1 afterwards.
inline void StopServer(pid_t& pid, std::chrono::seconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ForgetServer(pid);
  pid = -1;
}

// The minute a run started, for the table's header.
inline std::string NowUtc() { return fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(std::time(nullptr))); }

}  // namespace evault::bench
