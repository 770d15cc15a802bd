// A crash handler for the fault suites: it names the trial (and its phase) a SIGSEGV,
// SIGABRT or SIGBUS happened in, so an abort inside RocksDB or the vault says which
// injection point caused it. (Hangs are caught by the sweeps' per-trial process timeout.)
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace evault::fault_test {

namespace detail {
inline char g_trial[512] = "(no trial)";

inline void OnFatalSignal(int sig) {
  // Only async-signal-safe calls here.
  const char prefix[] = "\n*** fatal signal during fault trial: ";
  (void)!::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDERR_FILENO, g_trial, std::strlen(g_trial));
  (void)!::write(STDERR_FILENO, "\n", 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}
}  // namespace detail

// Names the running trial for the crash handler (installed on first use).
inline void SetCurrentTrial(const std::string& what) {
  static const bool installed = [] {
    for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, detail::OnFatalSignal);
    return true;
  }();
  (void)installed;
  std::snprintf(detail::g_trial, sizeof detail::g_trial, "%s", what.c_str());
}

}  // namespace evault::fault_test
