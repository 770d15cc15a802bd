// What the whole-command benchmarks (sync_bench, vault_scale) share: a progress log, a
// temporary directory removed at the end, and cleanup on a signal. SIGINT/SIGTERM/SIGHUP
// are blocked in every thread (call StartSignalThread before gRPC starts any) and taken
// by one thread with sigwait, which kills the registered servers, removes the temporary
// directory and exits. Servers also get PR_SET_PDEATHSIG, so they die with the bench.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

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

}  // namespace evault::bench
