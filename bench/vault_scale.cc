// vault_scale: how one machine holds thousands of vaults, against the real evault-server
// binary on 127.0.0.1 (--insecure: loopback only, so the figures leave out TLS), on its
// embedded RocksDB (default) or on PostgreSQL (--postgres CONNINFO, one or more replicas
// sharing the database; bench/vault_scale.sh starts a throwaway cluster for that).
//
//   1. Load: N vaults, each created by its own device (CreateVault with a one-time
//      enrollment token from the token file, login, K sealed objects in Push calls of
//      --push-batch, C chunks in one PutChunks stream), on T client threads. The sealed
//      envelopes are built before the clock starts (the public-key work of sealing is the
//      client's, not the server's).
//   2. Disk use, server RSS and CPU, `evault-server admin vaults` wall time.
//   3. No-op syncs of random vaults (new connection, Challenge/Authenticate, Pull of
//      nothing new, ListJoinRequests: what `evault sync` does with nothing to move) and
//      full pulls (all K+1 objects, then the C chunks).
//   4. Restart: the servers are stopped and started again on the same store; no-op syncs
//      of random vaults while their state is cold, then one no-op sync of every vault on
//      every replica, and the RSS that this leaves (the per-vault state each replica caches).
//
// A benchmark, not a test: not registered with ctest. It checks that every call succeeded
// and moved what it should (sequence numbers, object and chunk counts, the admin listing's
// vault count), and prints one Markdown table on stdout; progress goes to stderr.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>  // fmt::join

#include "bench/bench_common.h"
#include "crypto/secret_bytes.h"  // EnsureSodium
#include "tests/server/service_fixture.h"  // Client: Login, Push, Pull, PutChunks, GetChunks
#include "tests/server/test_util.h"        // TestVault, Device: genesis and sealed envelopes

namespace {

namespace fs = std::filesystem;
namespace ts = evault::server::testing;
namespace sv = evault::sync::v1;
using Clock = std::chrono::steady_clock;
using evault::bench::BenchError;
using evault::bench::Log;
using evault::bench::Seconds;
using evault::bench::StopSignals;
using evault::bench::TempDir;



void CheckRpc(const grpc::Status& s, std::string_view doing) {
  if (!s.ok()) throw BenchError(fmt::format("{}: {} ({})", doing, s.error_message(), static_cast<int>(s.error_code())));
}


// Runs a program to completion; returns its exit code and stdout (stderr goes to `log`).
struct Ran {
  int exit_code = 0;
  std::string out;
};
Ran RunProgram(const std::vector<std::string>& args, const fs::path& log = "/dev/null") {
  std::vector<char*> argv;  // built before fork: the child only calls async-signal-safe functions
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw BenchError("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw BenchError("fork failed");
  if (pid == 0) {
    const sigset_t set = StopSignals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) ::dup2(fd, STDERR_FILENO);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  Ran ran;
  char buf[65536];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ran.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ran.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ran;
}

using evault::bench::ReadFile;

// --- what the kernel says about a process and a directory -----------------------------

struct Memory {
  std::uint64_t rss_kib = 0, hwm_kib = 0;  // VmRSS, VmHWM
};
Memory ReadMemory(pid_t pid) {
  Memory m;
  std::istringstream in(ReadFile(fmt::format("/proc/{}/status", pid)));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) m.rss_kib = std::stoull(line.substr(6));
    if (line.starts_with("VmHWM:")) m.hwm_kib = std::stoull(line.substr(6));
  }
  return m;
}

// User + system CPU seconds of a process so far.
double CpuSeconds(pid_t pid) {
  const std::string stat = ReadFile(fmt::format("/proc/{}/stat", pid));
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> fields{std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
  if (fields.size() < 13) return 0;  // utime and stime are fields 14 and 15, here 11 and 12
  return static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Bytes of disk allocated to the regular files under `dir` (what du counts; RocksDB
// preallocates its log files, so this can exceed their length), and their length.
struct Disk {
  std::uint64_t allocated = 0, apparent = 0, files = 0;
  std::map<std::string, std::uint64_t> by_extension;  // RocksDB's: .blob, .sst, .log

  std::string Files() const {
    std::string out = fmt::format("{} files", files);
    std::vector<std::string> parts;
    for (const auto& [ext, n] : by_extension) {
      if (n >= 10) parts.push_back(fmt::format("{} {}", n, ext));
    }
    if (!parts.empty()) out += fmt::format(" ({})", fmt::join(parts, ", "));
    return out;
  }
};
Disk DiskUse(const fs::path& dir) {
  Disk total;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total.allocated += static_cast<std::uint64_t>(st.st_blocks) * 512;
      total.apparent += static_cast<std::uint64_t>(st.st_size);
      ++total.files;
      ++total.by_extension[it->path().extension().string()];
    }
  }
  return total;
}

std::string Mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }
std::string KibAsMib(std::uint64_t kib) { return fmt::format("{:.1f} MiB", static_cast<double>(kib) / 1024); }
std::string Ms(double s) { return fmt::format("{:.2f} ms", s * 1e3); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(i, 1, v.size()) - 1];
}

std::string MachineInfo(const fs::path& dir) {
  struct utsname u {};
  ::uname(&u);
  std::string cpu = "?";
  std::istringstream cpuinfo(ReadFile("/proc/cpuinfo"));
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  return fmt::format("nproc {}, CPU {}, RAM {:.1f} GiB, kernel {} {}, work dir {} ({:.0f} GiB free), load {:.2f}, build {}",
                     ::sysconf(_SC_NPROCESSORS_ONLN), cpu,
                     static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1ull << 30),
                     u.sysname, u.release, dir.parent_path().string(),
                     static_cast<double>(fs::space(dir).available) / (1ull << 30), load[0], EVAULT_BUILD_TYPE);
}

using evault::bench::NowUtc;

// --- options ---------------------------------------------------------------------------

struct Options {
  std::size_t vaults = 2000;
  std::size_t objects = 50;
  std::size_t object_bytes = 1024;
  std::size_t chunks = 1;
  std::size_t chunk_kib = 64;
  std::size_t push_batch = 50;
  int threads = 3;
  std::size_t noop_samples = 200;
  std::size_t pull_samples = 20;
  int admin_runs = 3;
  std::string postgres;      // CONNINFO; empty: RocksDB
  std::string postgres_dir;  // the cluster's directory, for du (optional)
  int replicas = 1;
  bool no_restart = false;
  std::string server_binary = EVAULT_SERVER_BINARY;
  std::string server_log_level = "info";
  std::string psql = "psql";
  std::string work_dir = fs::temp_directory_path().string();
  std::uint64_t seed = 1;
  bool keep = false;
};

// --- the servers -----------------------------------------------------------------------

class ServerProcess {
 public:
  ServerProcess(const Options& o, fs::path dir, fs::path tokens)
      : o_(o), dir_(std::move(dir)), tokens_(std::move(tokens)) {
    fs::create_directories(dir_);
  }
  ~ServerProcess() { Stop(); }

  // Starts it and waits for "listening"; returns the seconds that took.
  double Start() {
    const fs::path log_file = dir_ / "server.log";
    std::ofstream(log_file, std::ios::app).flush();
    const auto log_offset = fs::file_size(log_file);
    std::vector<std::string> args = {o_.server_binary,       "--listen",     "127.0.0.1:0",
                                     "--insecure",           "--enroll-token-file", tokens_.string(),
                                     "--admin-socket",       admin_socket().string(), "--log-level",
                                     o_.server_log_level};
    if (o_.postgres.empty()) {
      args.insert(args.end(), {"--data", (dir_ / "data").string()});
    } else {
      args.insert(args.end(), {"--postgres", o_.postgres});
    }
    const Clock::time_point t0 = Clock::now();
    pid_ = evault::bench::SpawnServer(args, log_file);
    port_ = evault::bench::WaitUntilListening(pid_, log_file, log_offset, std::chrono::seconds(60));
    return Seconds(Clock::now() - t0);
  }

  // SIGTERM (a graceful stop), SIGKILL after 20 s; returns the seconds the stop took.
  double Stop() {
    if (pid_ <= 0) return 0;
    const Clock::time_point t0 = Clock::now();
    evault::bench::StopServer(pid_, std::chrono::seconds(20));
    return Seconds(Clock::now() - t0);
  }

  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  pid_t pid() const { return pid_; }
  fs::path admin_socket() const { return dir_ / "admin.sock"; }
  fs::path data_dir() const { return dir_ / "data"; }

 private:
  const Options& o_;
  fs::path dir_, tokens_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// --- the vaults ------------------------------------------------------------------------

struct VaultRec {
  ts::TestVault vault;
  ts::Device owner;
  std::string token;
  std::vector<ts::ObjectEnvelope> pending;  // genesis + K sealed objects, until pushed
  std::vector<ts::Bytes> chunk_ids;
  std::uint64_t head = 0;   // the vault's server_seq after the load
  std::uint64_t bytes = 0;  // envelope and chunk bytes sent
  double create_s = 0, push_s = 0, chunks_s = 0;  // the load's calls (login excluded)
};

// A sealed object's plaintext of about `bytes`: JSON around random letters (it is
// encrypted anyway; only its size matters).
std::string Body(std::size_t bytes) {
  const ts::Bytes r = evault::crypto::RandomBytes(std::max<std::size_t>(bytes, 32));
  std::string text;
  for (auto b : r) text.push_back(static_cast<char>('a' + b % 26));
  return fmt::format("{{\"title\":\"scale\",\"narrative\":\"{}\"}}", text.substr(0, bytes > 40 ? bytes - 40 : 1));
}

template <typename F>
void Parallel(int threads, std::size_t n, F work) {
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  std::string error;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) {
        try {
          work(i);
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
          if (error.empty()) error = e.what();
          next = n;  // stop the others
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (!error.empty()) throw BenchError(error);
}

void CreateOne(VaultRec& r, const std::string& address, const Options& o) {
  ts::Client client(address);
  Clock::time_point t0 = Clock::now();
  {
    sv::CreateVaultRequest request;
    request.set_vault_id(r.vault.id_str());
    request.set_enroll_token(r.token);
    *request.mutable_genesis() = r.pending[0];
    sv::CreateVaultResponse response;
    grpc::ClientContext context;
    client.Prepare(context);
    CheckRpc(client.stub().CreateVault(&context, request, &response), "CreateVault");
    r.head = response.server_seq();
    r.bytes += r.pending[0].ByteSizeLong();
  }
  r.create_s = Seconds(Clock::now() - t0);
  CheckRpc(client.Login(r.vault, r.owner), "Login");
  t0 = Clock::now();
  for (std::size_t i = 1; i < r.pending.size(); i += o.push_batch) {
    const std::vector<ts::ObjectEnvelope> batch(r.pending.begin() + static_cast<std::ptrdiff_t>(i),
                                                r.pending.begin() + static_cast<std::ptrdiff_t>(std::min(r.pending.size(), i + o.push_batch)));
    sv::PushResponse response;
    CheckRpc(client.Push(batch, &response), "Push");
    if (static_cast<std::size_t>(response.server_seq_size()) != batch.size()) throw BenchError("Push stored a different count");
    r.head = response.server_seq(response.server_seq_size() - 1);
    for (const auto& e : batch) r.bytes += e.ByteSizeLong();
  }
  if (r.head != r.pending.size()) throw BenchError(fmt::format("vault head {} after {} objects", r.head, r.pending.size()));
  r.push_s = Seconds(Clock::now() - t0);
  if (o.chunks > 0) {
    std::vector<sv::Chunk> chunks;
    for (std::size_t c = 0; c < o.chunks; ++c) {
      r.chunk_ids.push_back(evault::crypto::RandomBytes(16));
      sv::Chunk chunk;
      chunk.set_chunk_id(ts::Str(r.chunk_ids.back()));
      chunk.set_data(ts::Str(evault::crypto::RandomBytes(o.chunk_kib << 10)));
      r.bytes += chunk.data().size();
      chunks.push_back(std::move(chunk));
    }
    std::uint64_t stored = 0;
    t0 = Clock::now();
    CheckRpc(client.PutChunks(chunks, &stored), "PutChunks");
    r.chunks_s = Seconds(Clock::now() - t0);
    if (stored != o.chunks) throw BenchError(fmt::format("PutChunks stored {} of {}", stored, o.chunks));
  }
  r.pending.clear();
  r.pending.shrink_to_fit();
}

// What `evault sync` does with nothing to move: a new connection, the login, a Pull after
// the vault's head that brings nothing, the join-request list. Returns its seconds.
double NoOpSync(const VaultRec& r, const std::string& address) {
  const Clock::time_point t0 = Clock::now();
  ts::Client client(address);
  CheckRpc(client.Login(r.vault, r.owner), "Login");
  sv::PullResponse pulled;
  CheckRpc(client.Pull(r.head, 1000, &pulled), "Pull");
  if (pulled.objects_size() != 0 || pulled.head_seq() != r.head) {
    throw BenchError(fmt::format("no-op pull: {} objects, head {} (expected 0, {})", pulled.objects_size(),
                                 pulled.head_seq(), r.head));
  }
  sv::ListJoinRequestsRequest ask;
  sv::ListJoinRequestsResponse joins;
  grpc::ClientContext context;
  client.Prepare(context);
  CheckRpc(client.stub().ListJoinRequests(&context, ask, &joins), "ListJoinRequests");
  return Seconds(Clock::now() - t0);
}

// A device pulling the whole vault: login, every object from 0, then its chunks.
struct FullPull {
  double objects_s = 0, chunks_s = 0;
};
FullPull PullAll(const VaultRec& r, const std::string& address, const Options& o) {
  FullPull f;
  Clock::time_point t0 = Clock::now();
  ts::Client client(address);
  CheckRpc(client.Login(r.vault, r.owner), "Login");
  sv::PullResponse pulled;
  CheckRpc(client.Pull(0, 5000, &pulled), "Pull");
  if (static_cast<std::uint64_t>(pulled.objects_size()) != r.head) {
    throw BenchError(fmt::format("full pull: {} objects, expected {}", pulled.objects_size(), r.head));
  }
  f.objects_s = Seconds(Clock::now() - t0);
  if (!r.chunk_ids.empty()) {
    t0 = Clock::now();
    std::vector<sv::Chunk> got;
    CheckRpc(client.GetChunks(r.chunk_ids, &got), "GetChunks");
    if (got.size() != r.chunk_ids.size() || got[0].data().size() != o.chunk_kib << 10) {
      throw BenchError("GetChunks returned the wrong chunks");
    }
    f.chunks_s = Seconds(Clock::now() - t0);
  }
  return f;
}

// --- the table ---------------------------------------------------------------------------

struct TableRow {
  std::string figure, value;
};

std::string Table(const std::vector<TableRow>& rows) {
  std::size_t w1 = 6, w2 = 5;
  for (const auto& r : rows) {
    w1 = std::max(w1, r.figure.size());
    w2 = std::max(w2, r.value.size());
  }
  std::string out = fmt::format("| {:<{}} | {:<{}} |\n|{}|{}|\n", "figure", w1, "value", w2, std::string(w1 + 2, '-'),
                                std::string(w2 + 2, '-'));
  for (const auto& r : rows) out += fmt::format("| {:<{}} | {:<{}} |\n", r.figure, w1, r.value, w2);
  return out;
}

class Bench {
 public:
  Bench(const Options& o, std::string command_line) : o_(o), command_line_(std::move(command_line)) {}

  int Run() {
    if (!fs::exists(o_.server_binary)) throw BenchError("no evault-server at " + o_.server_binary + " (--server-binary)");
    TempDir tmp(o_.work_dir, "evault-scale", o_.keep);
    dir_ = tmp.path();
    machine_ = MachineInfo(dir_);
    const std::string backend = o_.postgres.empty() ? "RocksDB" : fmt::format("PostgreSQL, {} replica(s)", o_.replicas);
    Log("vault_scale: {} vaults x ({} objects of ~{} B, {} chunks of {} KiB), {} client threads, {}; in {}", o_.vaults,
        o_.objects, o_.object_bytes, o_.chunks, o_.chunk_kib, o_.threads, backend, dir_.string());
    Log("machine: {}", machine_);

    Prepare();
    for (int i = 0; i < o_.replicas; ++i) {
      servers_.push_back(std::make_unique<ServerProcess>(o_, dir_ / fmt::format("server{}", i), dir_ / "enroll-tokens"));
      servers_.back()->Start();
      Log("evault-server {} listening on {} (pid {})", i, servers_.back()->address(), servers_.back()->pid());
    }
    if (!o_.postgres.empty()) {
      const std::string existing = Psql("SELECT count(*) FROM vaults");
      if (existing != "0") throw BenchError("the PostgreSQL database must be empty; it holds " + existing + " vaults");
    }
    Row("server RSS at start (empty store)", RssAll());
    if (!o_.postgres.empty()) {  // an empty database is not empty on disk: the ratios below count the growth
      base_db_ = std::stoull(Psql("SELECT pg_database_size(current_database())"));
      if (!o_.postgres_dir.empty()) base_du_ = DiskUse(o_.postgres_dir).allocated;
    }

    Load();
    Measure("after the load");
    ListVaultsTimed();
    Samples("warm");
    Row("server RSS / peak after the syncs above", RssAll() + " / peak " + HwmAll());

    if (!o_.no_restart) {
      Restart();
      Samples("cold, after restart");
      TouchAll();
      Measure("after a sync of every vault on every replica");
    }

    fmt::print("\nvault_scale, {}\n", NowUtc());
    fmt::print("command: {}\n", command_line_);
    fmt::print("machine: {}\n", machine_);
    fmt::print("backend: {}{}; server on 127.0.0.1 with --insecure (no TLS), {} client threads in this process\n",
               backend, o_.postgres.empty() ? "" : fmt::format(" ({})", PgSettings()), o_.threads);
    fmt::print("MiB = 2^20 bytes. Indicative only: one machine, shared with other jobs.\n\n");
    fmt::print("{}", Table(rows_));
    std::fflush(stdout);
    Log("stopping the server(s)");
    for (auto& s : servers_) s->Stop();
    return 0;
  }

 private:
  void Row(std::string figure, std::string value) {
    Log("{}: {}", figure, value);
    rows_.push_back({std::move(figure), std::move(value)});
  }

  ServerProcess& ReplicaOf(std::size_t i) { return *servers_[i % servers_.size()]; }

  std::string RssAll() {
    std::vector<std::string> parts;
    for (auto& s : servers_) parts.push_back(KibAsMib(ReadMemory(s->pid()).rss_kib));
    return fmt::format("{}", fmt::join(parts, " + "));
  }
  std::string HwmAll() {
    std::vector<std::string> parts;
    for (auto& s : servers_) parts.push_back(KibAsMib(ReadMemory(s->pid()).hwm_kib));
    return fmt::format("{}", fmt::join(parts, " + "));
  }
  std::uint64_t RssSumKib() {
    std::uint64_t sum = 0;
    for (auto& s : servers_) sum += ReadMemory(s->pid()).rss_kib;
    return sum;
  }
  double CpuAll() {
    double sum = 0;
    for (auto& s : servers_) sum += CpuSeconds(s->pid());
    return sum;
  }

  std::string Psql(const std::string& query) {
    Ran ran = RunProgram({o_.psql, "-X", "-A", "-t", "-q", "-c", query, o_.postgres}, dir_ / "psql.log");
    if (ran.exit_code != 0) throw BenchError(fmt::format("psql failed on {}: {}", query, ReadFile(dir_ / "psql.log")));
    while (!ran.out.empty() && (ran.out.back() == '\n' || ran.out.back() == ' ')) ran.out.pop_back();
    return ran.out;
  }
  std::string PgSettings() {
    return fmt::format("PostgreSQL {}, fsync {}, synchronous_commit {}, shared_buffers {}",
                       Psql("SHOW server_version"), Psql("SHOW fsync"), Psql("SHOW synchronous_commit"),
                       Psql("SHOW shared_buffers"));
  }

  // The enrollment tokens (one per vault, each spent once) and every envelope, before
  // any server runs: the clock then times the server, not the client's sealing.
  void Prepare() {
    const Clock::time_point t0 = Clock::now();
    vaults_.resize(o_.vaults);
    std::ofstream tokens(dir_ / "enroll-tokens");
    for (std::size_t i = 0; i < o_.vaults; ++i) {
      vaults_[i] = std::make_unique<VaultRec>();
      vaults_[i]->token = evault::crypto::ToHex(evault::crypto::RandomBytes(16));
      tokens << vaults_[i]->token << "\n";
    }
    tokens.close();
    if (!tokens) throw BenchError("cannot write the enrollment tokens");
    const std::string body = Body(o_.object_bytes);
    Parallel(std::max(1, static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN))), o_.vaults, [&](std::size_t i) {
      VaultRec& r = *vaults_[i];
      r.pending.reserve(o_.objects + 1);
      r.pending.push_back(r.vault.Genesis(r.owner));
      for (std::size_t k = 0; k < o_.objects; ++k) {
        r.pending.push_back(r.vault.Sealed(r.owner, body));
        if (r.pending.back().object_id().empty()) throw BenchError("sealing an object failed");
      }
    });
    envelope_bytes_ = vaults_[0]->pending.back().ByteSizeLong();
    Log("prepared {} tokens and {} envelopes ({} B each sealed) in {:.1f} s", o_.vaults, o_.vaults * (o_.objects + 1),
        envelope_bytes_, Seconds(Clock::now() - t0));
  }

  // CPU seconds of the PostgreSQL cluster's processes alive now (the postmaster and its
  // children: the servers' pooled connections live as long as they do); -1 without
  // --postgres-dir.
  double PostgresCpu() {
    if (o_.postgres_dir.empty()) return -1;
    const std::string pid_file = ReadFile(fs::path(o_.postgres_dir) / "data" / "postmaster.pid");
    if (pid_file.empty()) return -1;
    const std::string postmaster = pid_file.substr(0, pid_file.find('\n'));
    double sum = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      const std::string stat = ReadFile(entry.path() / "stat");
      const auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream in(stat.substr(close + 2));
      std::string state, ppid;
      in >> state >> ppid;
      if (name == postmaster || ppid == postmaster) sum += CpuSeconds(std::stoi(name));
    }
    return sum;
  }

  void Load() {
    const double cpu0 = CpuAll();
    const double pg_cpu0 = PostgresCpu();
    std::atomic<std::size_t> done{0};
    std::vector<double> latencies(o_.vaults);
    const Clock::time_point t0 = Clock::now();
    std::thread loader([&] {
      try {
        Parallel(o_.threads, o_.vaults, [&](std::size_t i) {
          const Clock::time_point v0 = Clock::now();
          CreateOne(*vaults_[i], ReplicaOf(i).address(), o_);
          latencies[i] = Seconds(Clock::now() - v0);
          ++done;
        });
      } catch (const std::exception& e) {
        load_error_ = e.what();
      }
      done = o_.vaults + 1;  // the loop below ends
    });
    // The RSS as the vault count grows: does the server keep something per vault?
    std::vector<std::string> growth;
    std::size_t next_mark = 1;
    for (std::size_t n; (n = done.load()) <= o_.vaults;) {
      if (n * 4 >= next_mark * o_.vaults) {
        growth.push_back(fmt::format("{}%: {}", next_mark * 25, RssAll()));
        Log("{} vaults created ({:.0f} vaults/s), server RSS {}", n, static_cast<double>(n) / Seconds(Clock::now() - t0),
            RssAll());
        ++next_mark;
        if (n == o_.vaults) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    loader.join();
    if (!load_error_.empty()) throw BenchError("load: " + load_error_);
    if (growth.size() < 4) growth.push_back(fmt::format("100%: {}", RssAll()));
    const double seconds = Seconds(Clock::now() - t0);
    const double cpu = CpuAll() - cpu0;
    std::uint64_t bytes = 0;
    for (const auto& r : vaults_) bytes += r->bytes;
    sent_bytes_ = bytes;
    const double objects = static_cast<double>(o_.vaults * (o_.objects + 1));
    Row(fmt::format("load: create {} vaults ({} objects of {} B sealed, {} x {} KiB chunks each)", o_.vaults,
                    o_.objects + 1, envelope_bytes_, o_.chunks, o_.chunk_kib),
        fmt::format("{:.1f} s: {:.0f} vaults/s, {:.0f} objects/s, {:.1f} MiB/s", seconds,
                    static_cast<double>(o_.vaults) / seconds, objects / seconds,
                    static_cast<double>(bytes) / (1 << 20) / seconds));
    Row("load: one vault (create, login, push, chunks), per client thread",
        fmt::format("median {}, p99 {}", Ms(Percentile(latencies, 0.5)), Ms(Percentile(latencies, 0.99))));
    std::vector<double> create, push, chunks;
    for (const auto& r : vaults_) {
      create.push_back(r->create_s);
      push.push_back(r->push_s);
      chunks.push_back(r->chunks_s);
    }
    Row("load: CreateVault / Push of all objects / PutChunks stream, median (p99)",
        fmt::format("{} ({}) / {} ({}) / {} ({})", Ms(Percentile(create, 0.5)), Ms(Percentile(create, 0.99)),
                    Ms(Percentile(push, 0.5)), Ms(Percentile(push, 0.99)), Ms(Percentile(chunks, 0.5)),
                    Ms(Percentile(chunks, 0.99))));
    std::string db_cpu;
    if (pg_cpu0 >= 0) {
      const double pg = PostgresCpu() - pg_cpu0;
      db_cpu = fmt::format("; PostgreSQL {:.1f} s ({:.2f} ms per vault)", pg, pg * 1e3 / static_cast<double>(o_.vaults));
    }
    Row("load: server CPU (user + system)",
        fmt::format("{:.1f} s ({:.2f} ms per vault){}", cpu, cpu * 1e3 / static_cast<double>(o_.vaults), db_cpu));
    Row("load: bytes sent (envelopes + chunks)", Mib(bytes));
    Row("load: server RSS at 25/50/75/100% of the vaults", fmt::format("{}", fmt::join(growth, ", ")));
  }

  void Measure(const std::string& when) {
    Row(fmt::format("server RSS / peak (VmHWM) {}", when), RssAll() + " / peak " + HwmAll());
    if (o_.postgres.empty()) {
      const Disk du = DiskUse(servers_[0]->data_dir());
      Row(fmt::format("disk: du of --data {}", when),
          fmt::format("{} ({:.2f}x the bytes sent, {:.1f} KiB per vault); {}, length {}", Mib(du.allocated),
                      static_cast<double>(du.allocated) / static_cast<double>(sent_bytes_),
                      static_cast<double>(du.allocated) / 1024 / static_cast<double>(o_.vaults), du.Files(),
                      Mib(du.apparent)));
    } else {
      const std::uint64_t db = std::stoull(Psql("SELECT pg_database_size(current_database())")) - base_db_;
      const std::uint64_t wal = std::stoull(Psql("SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()"));
      Row(fmt::format("disk: growth of pg_database_size {}", when),
          fmt::format("{} ({:.2f}x the bytes sent, {:.1f} KiB per vault); WAL directory {}", Mib(db),
                      static_cast<double>(db) / static_cast<double>(sent_bytes_),
                      static_cast<double>(db) / 1024 / static_cast<double>(o_.vaults), Mib(wal)));
      Log("largest relations: {}",
          Psql("SELECT string_agg(relname || ' ' || pg_size_pretty(s), ', ') FROM (SELECT relname, "
               "pg_total_relation_size(oid) s FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = "
               "'r' ORDER BY 2 DESC LIMIT 6) t"));
      if (!o_.postgres_dir.empty()) {
        const std::uint64_t du = DiskUse(o_.postgres_dir).allocated - base_du_;
        Row(fmt::format("disk: growth of the PostgreSQL cluster's du (tables, WAL, logs) {}", when),
            fmt::format("{} ({:.2f}x the bytes sent)", Mib(du), static_cast<double>(du) / static_cast<double>(sent_bytes_)));
      }
      Row(fmt::format("PostgreSQL connections open {}", when),
          Psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"));
    }
  }

  void ListVaultsTimed() {
    std::vector<double> runs;
    std::string last_line;
    for (int i = 0; i < o_.admin_runs; ++i) {
      const Clock::time_point t0 = Clock::now();
      Ran ran = RunProgram({o_.server_binary, "admin", "--socket", servers_[0]->admin_socket().string(), "vaults"},
                           dir_ / "admin.log");
      runs.push_back(Seconds(Clock::now() - t0));
      if (ran.exit_code != 0) throw BenchError("evault-server admin vaults failed: " + ReadFile(dir_ / "admin.log"));
      const std::size_t lines = static_cast<std::size_t>(std::count(ran.out.begin(), ran.out.end(), '\n'));
      if (lines != o_.vaults + 2) {
        throw BenchError(fmt::format("admin vaults printed {} lines for {} vaults", lines, o_.vaults));
      }
      ran.out.pop_back();
      last_line = ran.out.substr(ran.out.rfind('\n') + 1);
    }
    Row(fmt::format("`evault-server admin vaults` of {} vaults (wall, whole command)", o_.vaults),
        fmt::format("median {} of {} (\"{}\")", Ms(Percentile(runs, 0.5)), runs.size(), last_line));
  }

  void Samples(const std::string& when) {
    std::mt19937_64 rng(o_.seed + samples_round_++);
    std::uniform_int_distribution<std::size_t> pick(0, o_.vaults - 1);
    std::vector<double> noop;
    for (std::size_t i = 0; i < o_.noop_samples; ++i) {
      const std::size_t v = pick(rng);
      noop.push_back(NoOpSync(*vaults_[v], servers_[rng() % servers_.size()]->address()));
    }
    Row(fmt::format("no-op sync of a random vault, {} ({} samples, 1 thread)", when, o_.noop_samples),
        fmt::format("median {}, p99 {}", Ms(Percentile(noop, 0.5)), Ms(Percentile(noop, 0.99))));
    std::vector<double> objects, chunks;
    for (std::size_t i = 0; i < o_.pull_samples; ++i) {
      const std::size_t v = pick(rng);
      FullPull f = PullAll(*vaults_[v], servers_[rng() % servers_.size()]->address(), o_);
      objects.push_back(f.objects_s);
      chunks.push_back(f.chunks_s);
    }
    Row(fmt::format("full pull of a random vault's {} objects incl. login, {} ({} samples)", o_.objects + 1, when,
                    o_.pull_samples),
        fmt::format("median {}, p99 {}", Ms(Percentile(objects, 0.5)), Ms(Percentile(objects, 0.99))));
    if (o_.chunks > 0) {
      Row(fmt::format("GetChunks of its {} x {} KiB, {}", o_.chunks, o_.chunk_kib, when),
          fmt::format("median {}, p99 {}", Ms(Percentile(chunks, 0.5)), Ms(Percentile(chunks, 0.99))));
    }
  }

  void Restart() {
    double stop_s = 0, start_s = 0;
    for (auto& s : servers_) stop_s = std::max(stop_s, s->Stop());
    if (o_.postgres.empty()) {
      const Disk du = DiskUse(servers_[0]->data_dir());
      Row("disk: du of --data after a clean stop",
          fmt::format("{} ({:.2f}x the bytes sent); {}, length {}", Mib(du.allocated),
                      static_cast<double>(du.allocated) / static_cast<double>(sent_bytes_), du.Files(), Mib(du.apparent)));
    }
    for (auto& s : servers_) start_s = std::max(start_s, s->Start());
    Row(fmt::format("restart: SIGTERM to exit / start to listening, {} vaults", o_.vaults),
        fmt::format("{} / {}", Ms(stop_s), Ms(start_s)));
    rss_after_restart_kib_ = RssSumKib();
    Row("server RSS after the restart", RssAll());
  }

  // A no-op sync of every vault on every replica, as a load balancer spreading each
  // device's syncs over the replicas would eventually cause: each replica then caches
  // every vault's state.
  void TouchAll() {
    const double cpu0 = CpuAll();
    const double pg_cpu0 = PostgresCpu();
    const Clock::time_point t0 = Clock::now();
    const std::size_t n = o_.vaults * servers_.size();
    Parallel(o_.threads, n, [&](std::size_t i) { (void)NoOpSync(*vaults_[i % o_.vaults], ReplicaOf(i / o_.vaults).address()); });
    const double seconds = Seconds(Clock::now() - t0);
    Row(fmt::format("no-op sync of every vault on every replica ({} syncs, {} threads)", n, o_.threads),
        fmt::format("{:.1f} s: {:.0f} syncs/s, server CPU {:.2f} ms per sync{}", seconds, static_cast<double>(n) / seconds,
                    (CpuAll() - cpu0) * 1e3 / static_cast<double>(n),
                    pg_cpu0 < 0 ? std::string()
                                : fmt::format(", PostgreSQL {:.2f} ms", (PostgresCpu() - pg_cpu0) * 1e3 / static_cast<double>(n))));
    const double per_vault = (static_cast<double>(RssSumKib()) - static_cast<double>(rss_after_restart_kib_)) * 1024 /
                             static_cast<double>(n);
    Row("server RSS growth per vault a replica has served since its restart", fmt::format("{:.0f} B", per_vault));
  }

  const Options& o_;
  std::string command_line_, machine_;
  fs::path dir_;
  std::vector<std::unique_ptr<VaultRec>> vaults_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
  std::vector<TableRow> rows_;
  std::string load_error_;
  std::uint64_t base_db_ = 0, base_du_ = 0;  // PostgreSQL's sizes before the load
  std::uint64_t sent_bytes_ = 0, envelope_bytes_ = 0, rss_after_restart_kib_ = 0;
  std::uint64_t samples_round_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "vault_scale: how one machine holds thousands of vaults. Starts the real evault-server on 127.0.0.1 "
      "(--insecure), creates N vaults (each by its own device: CreateVault, K sealed objects, C chunks) on a few "
      "client threads, then measures disk use, server RSS and CPU, `evault-server admin vaults`, no-op syncs and full "
      "pulls, and the same after a restart. RocksDB by default; --postgres CONNINFO (an empty database) for "
      "PostgreSQL, with --replicas R servers sharing it (bench/vault_scale.sh starts a throwaway cluster). A "
      "benchmark, not a test: the table goes to stdout, progress to stderr."};
  app.add_option("--vaults,-n", o.vaults, "vaults to create")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--objects,-k", o.objects, "sealed objects per vault, after its genesis")->capture_default_str();
  app.add_option("--object-bytes", o.object_bytes, "plaintext bytes of each sealed object")->capture_default_str();
  app.add_option("--chunks,-c", o.chunks, "chunks per vault, in one PutChunks stream")->capture_default_str();
  app.add_option("--chunk-kib", o.chunk_kib, "bytes of each chunk, in KiB (at most 1024)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--push-batch", o.push_batch, "objects per Push call")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--threads,-t", o.threads, "client threads creating vaults")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--noop-samples", o.noop_samples, "timed no-op syncs of random vaults (median, p99)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--pull-samples", o.pull_samples, "timed full pulls of random vaults")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--admin-runs", o.admin_runs, "timed runs of `evault-server admin vaults`")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--postgres", o.postgres, "PostgreSQL CONNINFO of an empty database; without it, RocksDB");
  app.add_option("--postgres-dir", o.postgres_dir, "the PostgreSQL cluster's directory, to report its du too");
  app.add_option("--replicas", o.replicas, "evault-server processes sharing the database (--postgres only)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  app.add_flag("--no-restart", o.no_restart, "skip the restart phase (cold syncs, a sync of every vault)");
  app.add_option("--server-binary", o.server_binary, "the evault-server to start")->capture_default_str();
  app.add_option("--server-log-level", o.server_log_level, "the servers' --log-level")
      ->check(CLI::IsMember({"info", "warn"}))
      ->capture_default_str();
  app.add_option("--psql", o.psql, "psql, for the database's size and settings")->capture_default_str();
  app.add_option("--work-dir", o.work_dir, "parent of the temporary directory")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the sampled vaults")->capture_default_str();
  app.add_flag("--keep", o.keep, "keep the temporary directory (server data and logs)");
  CLI11_PARSE(app, argc, argv);
  if (o.replicas > 1 && o.postgres.empty()) {
    fmt::print(stderr, "vault_scale: --replicas needs --postgres (RocksDB is one process's)\n");
    return 2;
  }
  if (o.object_bytes < 64 || o.object_bytes > (1 << 20)) {
    fmt::print(stderr, "vault_scale: --object-bytes must be 64 to 1048576\n");
    return 2;
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  evault::bench::StartSignalThread("vault_scale");
  evault::crypto::EnsureSodium();
  try {
    return Bench(o, command_line).Run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "vault_scale: {}\n", e.what());
    return 1;
  }
}
