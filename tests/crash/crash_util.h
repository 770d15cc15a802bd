// Shared by the crash-consistency tests: the knobs (trial count, seed), a child process
// of this test binary that reports acknowledged operations over a pipe, deterministic
// synthetic inputs, and the check a vault must pass after any crash.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/secret_bytes.h"
#include "vault/vault.h"

namespace evault::crash_test {

namespace fs = std::filesystem;
using nlohmann::json;

// EVAULT_CRASH_TRIALS (default 10, the CI variant): kills per test.
std::size_t Trials();
// EVAULT_CRASH_SEED reproduces a run's inputs and kill delays; else a random seed. The
// test prints it. (Timing still varies, so a rerun lands kills near, not exactly at,
// the same instructions.)
std::uint64_t BaseSeed();
inline std::mt19937_64 TrialRng(std::uint64_t seed, std::uint64_t trial) {
  std::seed_seq s{seed, trial, std::uint64_t{0x6372617368}};
  return std::mt19937_64(s);
}

// Synthetic, so nothing real is ever written outside the vault under test.
inline constexpr std::string_view kPassphrase = "crash test passphrase";
crypto::SecretBytes Passphrase();

// A valid record whose title names `tag` and `seq`, so a record found after a crash is
// traced to the operation that wrote it. Size and shape vary with (seed, seq).
json RecordInput(std::string_view tag, std::uint64_t seed, std::uint64_t seq);

// Writes `size` deterministic bytes; returns their SHA-256 (hex).
std::string WriteInputFile(const fs::path& path, std::uint64_t seed, std::uint64_t size);

// This test binary run again as a worker (`--crash-child key=value...`, see crash_main.cc),
// writing one line per event to a pipe. A line is written with one write() of less than
// PIPE_BUF bytes, so the parent reads whole lines even after SIGKILL.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args);
  ~Child();  // kills and reaps a child still running

  // Reads lines until one starts with `prefix` (true) or EOF/deadline (false).
  bool WaitForLine(std::string_view prefix, std::chrono::steady_clock::time_point deadline);
  // Reads whatever arrives until `deadline`; false if the child ended before it.
  bool ReadUntil(std::chrono::steady_clock::time_point deadline);
  // SIGKILL, reap, then read what is left in the pipe. Returns the wait status.
  int KillAndReap();

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  bool ReadSome(int timeout_ms);  // false on EOF
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
};

// What a vault must hold, as acknowledged to the test.
struct ExpectedRevision {
  std::string revision_id;  // empty when the test does not know it (never for acks)
  json data;
};
struct ExpectedAttachment {
  std::string record_id;
  std::string sha256;
  std::uint64_t size = 0;
};
struct Model {
  std::map<std::string, std::string> cases;  // id -> title
  std::map<std::string, std::vector<ExpectedRevision>> records;  // oldest revision first
  std::map<std::string, ExpectedAttachment> attachments;
  void Merge(const Model& other);  // `other`'s revisions extend ours
  std::size_t Objects() const;
};

// The operation a kill interrupted: it may or may not have committed, but if it did, it
// must be whole. Adopted into the model when found.
struct InFlight {
  enum Kind { kNone, kRecordAdd, kRecordEdit, kAttachmentAdd } kind = kNone;
  std::string record_id;  // edit: the record; attachment: the record it was added to
  json data;              // add, edit
  std::string sha256;     // attachment
  std::uint64_t size = 0;
};

struct CheckOutcome {
  std::size_t objects_checked = 0;  // cases, revisions and attachments compared exactly
  bool in_flight_committed = false;
  json snapshot;  // everything the vault shows, for comparing devices
};

// Opens the vault in `dir` and checks it against `must` (every object present, exact),
// `may` (objects of other devices not yet pulled: absent, or exact and whole; a record
// may hold a prefix of its revisions) and `in_flight`. Every listed attachment is read
// back in full and its SHA-256 checked; anything unexplained is a failure; the custody
// log must verify. An in-flight object that committed is added to `must`.
// Reports failures with gtest (non-fatal), so callers check HasFailure().
CheckOutcome CheckVault(const fs::path& dir, Model& must, const Model* may, const InFlight& in_flight);
CheckOutcome CheckVault(vault::Vault& vault, Model& must, const Model* may, const InFlight& in_flight);

// Figures for the README, printed at the end of each test.
struct Figures {
  std::string name;
  std::size_t trials = 0;
  std::size_t mid_operation = 0;    // the kill landed while an operation was running
  std::size_t between = 0;          // between operations (or after the last one)
  std::size_t committed_in_flight = 0;  // mid-operation kills whose operation had committed
  std::size_t acknowledged = 0;     // operations acknowledged before their kill
  std::size_t objects_checked = 0;  // exact comparisons, summed over every check
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  void Print(std::uint64_t seed) const;
};

}  // namespace evault::crash_test
