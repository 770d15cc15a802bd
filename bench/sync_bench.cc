// sync_bench: how long sync takes next to the local work it moves, in one run against a
// real evault-server over TLS on loopback (certificates from deploy/make-certs.sh).
//
//   1. N small records: local ingest (Vault::AddRecord on device A, each durable) vs.
//      push (RunSync on A) and pull (RunSync on a joined device B).
//   2. One large attachment: local AddAttachment on A vs. push and pull.
//   3. No-op sync (nothing new) on a small vault (10k records) vs. the vault of case 1.
//
// Vaults use the cheapest KDF the vault accepts (ops 2, 64 MiB), and every KDF run
// (create, open) happens outside the timed sections. A benchmark, not a test: it checks
// only that each sync moved what it should have, and prints one table at the end.
//
//   sync_bench [--records N] [--small-records N] [--attachment-mib M] [--noop-runs N]
//              [--quick] [--server-binary PATH] [--work-dir DIR] [--keep] [--tsv FILE]
//
// Progress goes to stderr, the table (Markdown) to stdout. See bench/README.md.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "bench/bench_common.h"
#include "client/sync_client.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secret_bytes.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using evault::bench::BenchError;
using evault::bench::Log;
using evault::bench::Seconds;
using evault::bench::StopSignals;
using evault::bench::TempDir;
using evault::client::RunSync;
using evault::client::SyncReport;
using evault::vault::SyncState;
using evault::vault::Vault;
using nlohmann::json;


template <typename T>
T Check(evault::Result<T> r, std::string_view doing) {
  if (!r) throw BenchError(fmt::format("{}: {}", doing, r.error().message));
  return std::move(*r);
}
void Check(const evault::Status& s, std::string_view doing) {
  if (!s) throw BenchError(fmt::format("{}: {}", doing, s.error().message));
}



// Runs a program to completion with stdout and stderr going to `log` (or /dev/null).
int RunProgram(const std::vector<std::string>& args, const fs::path& log = "/dev/null") {
  std::vector<char*> argv;  // built before fork: the child only calls async-signal-safe functions
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw BenchError("fork failed");
  if (pid == 0) {
    const sigset_t set = StopSignals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

using evault::bench::ReadFile;

// --- the server ----------------------------------------------------------------------

class ServerProcess {
 public:
  ServerProcess(fs::path binary, fs::path dir) : binary_(std::move(binary)), dir_(std::move(dir)) {}
  ~ServerProcess() { Stop(); }

  void Start(const fs::path& cert, const fs::path& key, const fs::path& tokens) {
    const fs::path log_file = dir_ / "server.log";
    std::ofstream(log_file).flush();
    const std::vector<std::string> args = {binary_.string(),
                                           "--data", (dir_ / "data").string(),
                                           "--listen", "127.0.0.1:0",
                                           "--tls-cert", cert.string(),
                                           "--tls-key", key.string(),
                                           "--enroll-token-file", tokens.string()};
    pid_ = evault::bench::SpawnServer(args, log_file);
    port_ = evault::bench::WaitUntilListening(pid_, log_file, 0, std::chrono::seconds(30));
  }

  // SIGTERM (a graceful stop), SIGKILL after 15 s.
  void Stop() { evault::bench::StopServer(pid_, std::chrono::seconds(15)); }

  std::string address() const { return fmt::format("localhost:{}", port_); }
  pid_t pid() const { return pid_; }

 private:
  fs::path binary_, dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// --- data ----------------------------------------------------------------------------

// Record JSON of about 600 bytes: a title, a date, a place, one or two people, a
// narrative, tags and a source, in words drawn with a skewed (Zipf-like) frequency
// from a vocabulary of a few thousand, so the search index sees a realistic mix of
// common and rare words.
class RecordGenerator {
 public:
  explicit RecordGenerator(std::uint64_t seed) : rng_(seed) {
    static const char* const kSyllables[] = {
        "ka", "ra", "zh", "mo", "tel", "an", "ir", "bek", "sul", "tan", "ov", "na", "li", "es", "ar", "gul",
        "dar", "sa", "ny", "ul", "ser", "jan", "ai", "bol", "tur", "ma", "en", "ko", "vi", "dem", "ost", "ri"};
    static const char* const kCommon[] = {
        "the", "of", "and", "to", "in", "was", "by", "police", "court", "detained", "arrested", "officers",
        "protest", "charged", "hearing", "lawyer", "released", "fined", "days", "administrative", "activist",
        "journalist", "station", "after", "on", "at", "with", "for", "his", "her", "they", "district",
        "witnesses", "video", "statement", "denied", "access", "family", "custody", "rally", "peaceful",
        "assembly", "article", "code", "sentenced", "appeal", "prosecutor", "investigation", "searched",
        "home", "phone", "seized", "interrogated", "hours", "without", "warrant", "reported", "injuries"};
    std::uniform_int_distribution<int> syllables(2, 4);
    std::uniform_int_distribution<std::size_t> pick(0, std::size(kSyllables) - 1);
    std::set<std::string> seen(std::begin(kCommon), std::end(kCommon));
    for (const char* w : kCommon) words_.emplace_back(w);
    while (words_.size() < 4000) {
      std::string w;
      for (int n = syllables(rng_); n > 0; --n) w += kSyllables[pick(rng_)];
      if (seen.insert(w).second) words_.push_back(std::move(w));
    }
  }

  std::string Make(std::uint64_t i) {
    static const char* const kKinds[] = {"detention", "trial", "hearing", "interview", "search", "fine", "assault"};
    static const char* const kRoles[] = {"victim", "witness", "perpetrator", "official", "lawyer", "other"};
    static const char* const kReliability[] = {"high", "medium", "low", "unknown"};
    json r;
    r["kind"] = kKinds[Uniform(std::size(kKinds))];
    r["title"] = Sentence(4, 7);
    r["occurred"] = {{"from", fmt::format("{:04}-{:02}-{:02}", 2015 + Uniform(10), 1 + Uniform(12), 1 + Uniform(28))},
                     {"precision", "day"}};
    r["location"] = {{"country", "Kazakhstan"}, {"city", Capital(Word())}, {"place", Sentence(1, 3)}};
    json people = json::array();
    for (std::size_t n = 1 + Uniform(2); n > 0; --n) {
      people.push_back({{"name", Capital(Word()) + " " + Capital(Word())}, {"role", kRoles[Uniform(std::size(kRoles))]}});
    }
    r["people"] = std::move(people);
    r["narrative"] = Sentence(26, 36);
    r["tags"] = {Word(), Word()};
    r["sources"] = json::array({{{"kind", "testimony"},
                                 {"reference", fmt::format("interview-{:06}", i)},
                                 {"reliability", kReliability[Uniform(std::size(kReliability))]}}});
    return r.dump();
  }

 private:
  std::size_t Uniform(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  const std::string& Word() {
    // u^3 skews towards the front of the list: the common words and early pseudo-words.
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return words_[std::min(words_.size() - 1, static_cast<std::size_t>(u * u * u * static_cast<double>(words_.size())))];
  }
  std::string Sentence(std::size_t min_words, std::size_t max_words) {
    std::string s;
    for (std::size_t n = min_words + Uniform(max_words - min_words + 1); n > 0; --n) {
      if (!s.empty()) s += ' ';
      s += Word();
    }
    return s;
  }
  static std::string Capital(std::string w) {
    if (!w.empty()) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    return w;
  }

  std::mt19937_64 rng_;
  std::vector<std::string> words_;
};

// `size` pseudo-random bytes (not compressible, like video), flushed to disk so that
// write-back does not overlap the timed sections.
void WriteRandomFile(const fs::path& path, std::uint64_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw BenchError("cannot create " + path.string());
  std::uint64_t written = 0;
  while (written < size) {
    for (auto& w : block) w = rng();
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size - written, block.size() * 8));
    if (::write(fd, block.data(), n) != static_cast<ssize_t>(n)) throw BenchError("cannot write " + path.string());
    written += n;
  }
  ::fsync(fd);
  ::close(fd);
}

// --- vaults --------------------------------------------------------------------------

evault::crypto::PassphraseKdfParams FastKdf() {
  return evault::crypto::PassphraseKdfParams::New(evault::crypto::PassphraseKdfParams::kMinOps,
                                                  evault::crypto::PassphraseKdfParams::kMinMemBytes);
}
evault::crypto::SecretBytes Passphrase(std::string_view device) {
  return evault::crypto::SecretBytes::CopyFrom(std::string_view(fmt::format("benchmark passphrase of {}", device)));
}

struct Timed {
  SyncReport report;
  double seconds = 0;
  // Seconds from the start to the beginning of the pull phase, extrapolated from the
  // pull progress (which reports after each applied page); nullopt with fewer than two
  // pages. Shows how much of a push is spent pulling this device's own objects back.
  std::optional<double> pull_started;
};

// Runs a sync, printing progress at most every 5 s.
Timed TimedSync(Vault& v, const SyncState::Config& config, const std::optional<std::string>& token,
                const std::string& label) {
  const std::uint64_t pulled_before = SyncState(v).pulled_seq();
  struct Mark {
    double t;
    std::uint64_t done;
  };
  std::optional<Mark> first_pull, last_pull;
  auto last_log = Clock::now();
  const auto start = Clock::now();
  auto progress = [&](std::string_view what, std::uint64_t done, std::uint64_t total) {
    const auto now = Clock::now();
    if (what == "pull") {
      (first_pull ? last_pull : first_pull) = Mark{Seconds(now - start), done};
    }
    if (now - last_log < std::chrono::seconds(5)) return;
    last_log = now;
    Log("  {}: {} {}/{}", label, what, done, total);
  };
  auto report = Check(RunSync(v, config, token, progress), label);
  Timed out{std::move(report), Seconds(Clock::now() - start), std::nullopt};
  if (first_pull && last_pull && last_pull->done > first_pull->done) {
    const double per_object = (last_pull->t - first_pull->t) / static_cast<double>(last_pull->done - first_pull->done);
    out.pull_started = std::max(0.0, first_pull->t - per_object * static_cast<double>(first_pull->done - pulled_before));
  }
  return out;
}

// Bytes `pid` (0: this process) has caused to be written to storage, from /proc/PID/io.
std::uint64_t WriteBytes(pid_t pid = 0) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/io") : fmt::format("/proc/{}/io", pid));
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}
// CPU seconds (user + system) `pid` (0: this process) has used, from /proc/PID/stat:
// the sync's two ends share the machine's cores, so their CPU says more than wall time.
double CpuSeconds(pid_t pid = 0) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/stat") : fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto after_name = stat.rfind(')');  // the command name may hold spaces
  if (after_name == std::string::npos) return 0;
  std::istringstream fields(stat.substr(after_name + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 14 and 15 are utime and stime
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
std::string Gb(std::uint64_t bytes) { return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9); }

// Adds `count` records to `case_id`, logging progress; returns the seconds taken.
double Ingest(Vault& v, const std::string& case_id, const std::vector<std::string>& records, std::string_view label) {
  const auto start = Clock::now();
  auto last_log = start;
  for (std::size_t i = 0; i < records.size(); ++i) {
    Check(v.AddRecord(case_id, records[i]), "adding a record");
    if (Clock::now() - last_log > std::chrono::seconds(10)) {
      last_log = Clock::now();
      const double s = Seconds(last_log - start);
      Log("  {}: {}/{} records, {:.0f} records/s so far", label, i + 1, records.size(), (i + 1) / s);
    }
  }
  return Seconds(Clock::now() - start);
}

std::vector<std::string> MakeRecords(RecordGenerator& gen, std::size_t count, std::uint64_t first) {
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(gen.Make(first + i));
  return out;
}

// A sync that must have had nothing to move.
double NoOpSync(Vault& v, const SyncState::Config& config, const std::string& label) {
  Timed t = TimedSync(v, config, std::nullopt, label);
  if (t.report.pushed_objects != 0 || t.report.pulled_objects != 0 || t.report.uploaded_chunks != 0 ||
      t.report.downloaded_chunks != 0) {
    throw BenchError(fmt::format("{}: a sync with nothing new moved {} objects up, {} down", label,
                                 t.report.pushed_objects, t.report.pulled_objects));
  }
  return t.seconds;
}

struct NoOp {
  double median = 0, min = 0, max = 0;
};
NoOp Summarize(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front(), times.back()};
}

// --- output --------------------------------------------------------------------------

std::string Duration(double s) {
  if (s < 1) return fmt::format("{:.1f} ms", s * 1000);
  return fmt::format("{:.2f} s", s);
}
std::string Ratio(double ours, double reference) { return fmt::format("{:.2f}x", ours / reference); }

struct Row {
  std::string figure, ours, reference, ratio;
};

std::string Table(const std::vector<Row>& rows) {
  Row header{"figure", "ours", "reference", "ratio"};
  std::size_t w[4] = {header.figure.size(), header.ours.size(), header.reference.size(), header.ratio.size()};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.figure.size());
    w[1] = std::max(w[1], r.ours.size());
    w[2] = std::max(w[2], r.reference.size());
    w[3] = std::max(w[3], r.ratio.size());
  }
  auto line = [&](const Row& r) {
    return fmt::format("| {:<{}} | {:<{}} | {:<{}} | {:>{}} |\n", r.figure, w[0], r.ours, w[1], r.reference, w[2],
                       r.ratio, w[3]);
  };
  std::string out = line(header);
  out += fmt::format("|{}|{}|{}|{}:|\n", std::string(w[0] + 2, '-'), std::string(w[1] + 2, '-'),
                     std::string(w[2] + 2, '-'), std::string(w[3] + 1, '-'));
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string MemTotal() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") return fmt::format("{:.1f} GiB", static_cast<double>(kib) / (1 << 20));
    in.ignore(1 << 10, '\n');
  }
  return "unknown";
}

std::string MachineInfo(const fs::path& dir) {
  struct utsname u {};
  ::uname(&u);
  const auto space = fs::space(dir);
  return fmt::format("nproc {}, CPU {}, RAM {}, kernel {} {}, temp dir {} ({:.0f} GiB free), build {}",
                     ::sysconf(_SC_NPROCESSORS_ONLN), CpuModel(), MemTotal(), u.sysname, u.release,
                     dir.parent_path().string(), static_cast<double>(space.available) / (1ull << 30),
                     EVAULT_BUILD_TYPE);
}

using evault::bench::NowUtc;

// --- the benchmark -------------------------------------------------------------------

struct Options {
  std::size_t records = 100000;
  std::size_t small_records = 10000;
  std::uint64_t attachment_mib = 1024;
  int noop_runs = 11;
  int attachment_runs = 3;
  bool quick = false;
  bool keep = false;
  std::uint64_t seed = 1;
  std::string server_binary = EVAULT_SERVER_BINARY;
  std::string make_certs = std::string(EVAULT_SOURCE_DIR) + "/deploy/make-certs.sh";
  std::string work_dir = fs::temp_directory_path().string();
  std::string tsv;  // also write the rows here, tab-separated (for bench/bench_suite.sh)
};

int Run(const Options& o, const std::string& command_line) {
  if (!fs::exists(o.server_binary)) throw BenchError("no evault-server at " + o.server_binary + " (--server-binary)");
  TempDir tmp(o.work_dir, "evault-bench", o.keep);
  const fs::path& dir = tmp.path();
  const std::string machine = MachineInfo(dir);
  Log("sync_bench: {} records, {} small-vault records, {} MiB attachment; in {}", o.records, o.small_records,
      o.attachment_mib, dir.string());
  Log("machine: {}", machine);

  // Server: certificates, two one-time enrollment tokens (vaults A and C), port 0.
  const fs::path certs = dir / "certs";
  if (RunProgram({"/bin/bash", o.make_certs, certs.string()}) != 0) throw BenchError("make-certs.sh failed");
  const std::string token_a = "bench-token-a-" + std::to_string(::getpid()),
                    token_c = "bench-token-c-" + std::to_string(::getpid());
  std::ofstream(dir / "enroll-tokens") << token_a << "\n" << token_c << "\n";
  fs::create_directories(dir / "server");
  ServerProcess server(o.server_binary, dir / "server");
  server.Start(certs / "server.pem", certs / "server.key", dir / "enroll-tokens");
  SyncState::Config config;
  config.server = server.address();
  config.ca_pem = ReadFile(certs / "ca.pem");
  Log("evault-server listening on {}", config.server);

  // Device A creates the vault and enrolls it; B joins as a coordinator and is
  // admitted; a case for the records. None of this is timed.
  Check(Vault::Create(dir / "a", Passphrase("a"), FastKdf()), "creating vault A");
  auto a = Check(Vault::Open(dir / "a", Passphrase("a")), "opening vault A");
  (void)TimedSync(*a, config, token_a, "enrolling A");
  const auto secret = Check(SyncState(*a).CreateInvite(evault::sync::v1::COORDINATOR), "inviting B");
  (void)TimedSync(*a, config, std::nullopt, "publishing the invite");
  Check(Vault::CreateJoining(dir / "b", Passphrase("b"), FastKdf(), a->vault_id()), "creating vault B");
  auto b = Check(Vault::Open(dir / "b", Passphrase("b")), "opening vault B");
  Check(evault::client::FileJoinRequest(config, Check(SyncState(*b).MakeJoinRequest(secret), "B's join request")),
        "filing B's join request");
  if (TimedSync(*a, config, std::nullopt, "admitting B").report.admitted.size() != 1) {
    throw BenchError("A did not admit B");
  }
  if (!TimedSync(*b, config, std::nullopt, "B's first sync").report.admitted_now) throw BenchError("B was not admitted");
  const std::string case_id = Check(a->CreateCase("Benchmark case", {"benchmark"}), "creating a case").id;
  (void)TimedSync(*a, config, std::nullopt, "pushing the case");
  (void)TimedSync(*b, config, std::nullopt, "pulling the case");
  Log("A and B enrolled and joined; vault {}", a->vault_id());

  RecordGenerator gen(o.seed);
  std::vector<Row> rows;

  // 1. Records.
  double ingest_s = 0, push_s = 0, pull_s = 0;
  {
    auto records = MakeRecords(gen, o.records, 0);
    std::size_t bytes = 0;
    for (const auto& r : records) bytes += r.size();
    Log("1. ingesting {} records (mean {} bytes of JSON) into A", records.size(), bytes / records.size());
    std::uint64_t wrote = WriteBytes();
    ingest_s = Ingest(*a, case_id, records, "ingest A");
    wrote = WriteBytes() - wrote;
    Log("   ingest: {} ({:.0f} records/s); this process wrote {} to storage ({:.0f} KB per record)", Duration(ingest_s),
        o.records / ingest_s, Gb(wrote), static_cast<double>(wrote) / o.records / 1e3);
    Timed push = TimedSync(*a, config, std::nullopt, "push A");
    // Each record is its object plus, since the custody log, a custody entry of its own.
    if (push.report.pushed_objects < o.records) {
      throw BenchError(fmt::format("push moved {} objects, expected at least {}", push.report.pushed_objects, o.records));
    }
    push_s = push.seconds;
    Log("   push: {} ({:.0f} records/s, {} objects)", Duration(push_s), o.records / push_s, push.report.pushed_objects);
    if (push.pull_started) {
      Log("   of which ~{} pulling A's own {} objects back after pushing them", Duration(push_s - *push.pull_started),
          push.report.pushed_objects);
    }
    Timed pull = TimedSync(*b, config, std::nullopt, "pull B");
    if (pull.report.pulled_objects < o.records) {
      throw BenchError(fmt::format("pull moved {} objects, expected at least {}", pull.report.pulled_objects, o.records));
    }
    pull_s = pull.seconds;
    Log("   pull: {} ({:.0f} records/s, {} objects)", Duration(pull_s), o.records / pull_s, pull.report.pulled_objects);
    const std::string n = fmt::format("{}", o.records);
    rows.push_back({fmt::format("1. ingest {} records (AddRecord, A)", n),
                    fmt::format("{} ({:.0f} rec/s)", Duration(ingest_s), o.records / ingest_s), "-", "-"});
    rows.push_back({fmt::format("1. push {} records (RunSync, A)", n),
                    fmt::format("{} ({:.0f} rec/s)", Duration(push_s), o.records / push_s),
                    "ingest " + Duration(ingest_s), Ratio(push_s, ingest_s)});
    rows.push_back({fmt::format("1. pull {} records (RunSync, B)", n),
                    fmt::format("{} ({:.0f} rec/s)", Duration(pull_s), o.records / pull_s),
                    "ingest " + Duration(ingest_s), Ratio(pull_s, ingest_s)});
  }

  // 3. No-op sync on A (the vault of case 1) and on C (a second vault on the same
  // server). The two alternate, so that whatever else the machine is doing (RocksDB
  // compacting after the ingest, other users) weighs on both alike.
  NoOp noop_big, noop_small;
  {
    Log("3. building vault C ({} records)", o.small_records);
    Check(Vault::Create(dir / "c", Passphrase("c"), FastKdf()), "creating vault C");
    auto c = Check(Vault::Open(dir / "c", Passphrase("c")), "opening vault C");
    (void)TimedSync(*c, config, token_c, "enrolling C");
    const std::string c_case = Check(c->CreateCase("Small benchmark case", {}), "creating a case in C").id;
    const double c_ingest = Ingest(*c, c_case, MakeRecords(gen, o.small_records, o.records), "ingest C");
    Log("   C: ingested {} records in {} ({:.0f} records/s)", o.small_records, Duration(c_ingest),
        o.small_records / c_ingest);
    Timed c_push = TimedSync(*c, config, std::nullopt, "push C");
    Log("   C: pushed in {} ({:.0f} records/s)", Duration(c_push.seconds), o.small_records / c_push.seconds);
    // One untimed sync each absorbs what is pending (B's checkpoint, on A).
    (void)TimedSync(*a, config, std::nullopt, "settling A");
    (void)TimedSync(*c, config, std::nullopt, "settling C");
    Log("   {} no-op syncs each on A ({} records) and C ({} records), alternating", o.noop_runs, o.records,
        o.small_records);
    std::vector<double> big, small;
    for (int i = 0; i < o.noop_runs; ++i) {
      big.push_back(NoOpSync(*a, config, "no-op A"));
      small.push_back(NoOpSync(*c, config, "no-op C"));
    }
    noop_big = Summarize(big);
    noop_small = Summarize(small);
    Log("   A: median {} (min {}, max {})", Duration(noop_big.median), Duration(noop_big.min), Duration(noop_big.max));
    Log("   C: median {} (min {}, max {})", Duration(noop_small.median), Duration(noop_small.min),
        Duration(noop_small.max));
  }

  // 2. One large attachment, on a record of A, added, pushed and pulled o.attachment_runs
  // times (a new attachment each time); the medians are reported, since one run of a
  // 1 GiB pull swung by 1.5x on this machine (the server's reads of its blob files).
  double attach_s = 0, up_s = 0, down_s = 0;
  const std::uint64_t size = o.attachment_mib << 20;
  {
    const fs::path file = dir / "attachment.bin";
    Log("2. writing a {} MiB random file", o.attachment_mib);
    WriteRandomFile(file, size, o.seed);
    const std::string record_id =
        Check(a->AddRecord(case_id, R"({"kind":"video","title":"Footage of the detention"})"), "adding a record").record_id;
    (void)TimedSync(*a, config, std::nullopt, "pushing the attachment's record");
    (void)TimedSync(*b, config, std::nullopt, "pulling the attachment's record");

    std::vector<double> adds, ups, downs;
    for (int run = 1; run <= o.attachment_runs; ++run) {
      std::uint64_t wrote = WriteBytes();
      auto start = Clock::now();
      const auto info = Check(a->AddAttachment(record_id, file), "adding the attachment");
      adds.push_back(Seconds(Clock::now() - start));
      wrote = WriteBytes() - wrote;
      Log("   run {}: AddAttachment: {} ({:.0f} MB/s); this process wrote {} to storage", run, Duration(adds.back()),
          size / adds.back() / 1e6, Gb(wrote));

      std::uint64_t server_wrote = WriteBytes(server.pid());
      double client_cpu = CpuSeconds(), server_cpu = CpuSeconds(server.pid());
      Timed up = TimedSync(*a, config, std::nullopt, "push attachment A");
      server_wrote = WriteBytes(server.pid()) - server_wrote;
      if (up.report.uploaded_chunks != info.chunks) {
        throw BenchError(fmt::format("push uploaded {} chunks, expected {}", up.report.uploaded_chunks, info.chunks));
      }
      ups.push_back(up.seconds);
      Log("   run {}: push: {} ({:.0f} MB/s, {} chunks); the server wrote {} to storage; CPU: client {:.2f} s, server "
          "{:.2f} s",
          run, Duration(up.seconds), size / up.seconds / 1e6, up.report.uploaded_chunks, Gb(server_wrote),
          CpuSeconds() - client_cpu, CpuSeconds(server.pid()) - server_cpu);
      wrote = WriteBytes();
      client_cpu = CpuSeconds();
      server_cpu = CpuSeconds(server.pid());
      Timed down = TimedSync(*b, config, std::nullopt, "pull attachment B");
      wrote = WriteBytes() - wrote;
      if (down.report.downloaded_chunks != info.chunks) {
        throw BenchError(fmt::format("pull downloaded {} chunks, expected {}", down.report.downloaded_chunks, info.chunks));
      }
      downs.push_back(down.seconds);
      Log("   run {}: pull: {} ({:.0f} MB/s); this process wrote {} to storage; CPU: client {:.2f} s, server {:.2f} s", run,
          Duration(down.seconds), size / down.seconds / 1e6, Gb(wrote), CpuSeconds() - client_cpu,
          CpuSeconds(server.pid()) - server_cpu);
      const auto on_b = Check(b->GetAttachment(info.id), "reading the attachment's manifest on B");
      if (on_b.size != size || on_b.sha256 != info.sha256) throw BenchError("B's attachment differs from A's");
    }
    fs::remove(file);
    attach_s = Summarize(adds).median;
    up_s = Summarize(ups).median;
    down_s = Summarize(downs).median;
    Log("   medians of {}: add {}, push {}, pull {}", o.attachment_runs, Duration(attach_s), Duration(up_s),
        Duration(down_s));

    const std::string what =
        fmt::format("{} MiB attachment", o.attachment_mib) +
        (o.attachment_runs > 1 ? fmt::format(" (median of {})", o.attachment_runs) : std::string());
    rows.push_back({fmt::format("2. add {} (AddAttachment, A)", what),
                    fmt::format("{} ({:.0f} MB/s)", Duration(attach_s), size / attach_s / 1e6), "-", "-"});
    rows.push_back({fmt::format("2. push {} (RunSync, A)", what),
                    fmt::format("{} ({:.0f} MB/s)", Duration(up_s), size / up_s / 1e6), "add " + Duration(attach_s),
                    Ratio(up_s, attach_s)});
    rows.push_back({fmt::format("2. pull {} (RunSync, B)", what),
                    fmt::format("{} ({:.0f} MB/s)", Duration(down_s), size / down_s / 1e6),
                    "add " + Duration(attach_s), Ratio(down_s, attach_s)});
  }

  rows.push_back({fmt::format("3. no-op sync, {} records (C)", o.small_records),
                  fmt::format("{} (median of {})", Duration(noop_small.median), o.noop_runs), "-", "-"});
  rows.push_back({fmt::format("3. no-op sync, {} records (A)", o.records),
                  fmt::format("{} (median of {})", Duration(noop_big.median), o.noop_runs),
                  fmt::format("{} records {}", o.small_records, Duration(noop_small.median)),
                  Ratio(noop_big.median, noop_small.median)});

  b.reset();
  a.reset();

  fmt::print("\nsync_bench, {}\n", NowUtc());
  fmt::print("command: {}\n", command_line);
  fmt::print("machine: {}\n", machine);
  fmt::print("MB = 10^6 bytes; 1 MiB = 2^20 bytes. Server and clients on one machine, TLS over loopback.\n\n");
  fmt::print("{}", Table(rows));
  std::fflush(stdout);
  if (!o.tsv.empty()) {
    std::ofstream tsv(o.tsv, std::ios::trunc);
    for (const auto& r : rows) tsv << r.figure << '\t' << r.ours << '\t' << r.reference << '\t' << r.ratio << '\n';
    if (!tsv) throw BenchError("cannot write " + o.tsv);
  }
  // The server stops gracefully (in up to ~10 s: gRPC's shutdown), then the temporary
  // directory goes.
  Log("stopping the server and removing {}", dir.string());
  server.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"sync_bench: sync throughput next to local work, against a real evault-server over TLS on loopback"};
  app.add_option("--records", o.records, "records for case 1 (and the large no-op vault)")->capture_default_str();
  app.add_option("--small-records", o.small_records, "records in the small vault of case 3")->capture_default_str();
  app.add_option("--attachment-mib", o.attachment_mib, "attachment size in MiB for case 2")->capture_default_str();
  app.add_option("--noop-runs", o.noop_runs, "timed no-op syncs per vault (the median is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--attachment-runs", o.attachment_runs, "attachments added, pushed and pulled (medians reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--quick", o.quick, "small sizes for a smoke check (2000 records, 200 small, 64 MiB)");
  app.add_option("--server-binary", o.server_binary, "the evault-server to start")->capture_default_str();
  app.add_option("--make-certs", o.make_certs, "deploy/make-certs.sh")->capture_default_str();
  app.add_option("--work-dir", o.work_dir, "parent of the temporary directory")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the generated records and file")->capture_default_str();
  app.add_option("--tsv", o.tsv, "also write the table's rows to this file, tab-separated");
  app.add_flag("--keep", o.keep, "keep the temporary directory (vaults, server data and log)");
  CLI11_PARSE(app, argc, argv);
  if (o.quick) {
    if (app.count("--records") == 0) o.records = 2000;
    if (app.count("--small-records") == 0) o.small_records = 200;
    if (app.count("--attachment-mib") == 0) o.attachment_mib = 64;
    if (app.count("--attachment-runs") == 0) o.attachment_runs = 1;
  }
  if (o.records == 0 || o.small_records == 0 || o.attachment_mib == 0) {
    fmt::print(stderr, "sync_bench: --records, --small-records and --attachment-mib must be positive\n");
    return 2;
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  evault::bench::StartSignalThread("sync_bench");
  try {
    return Run(o, command_line);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sync_bench: {}\n", e.what());
    return 1;
  }
}
