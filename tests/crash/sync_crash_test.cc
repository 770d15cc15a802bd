// kill -9 during sync: the real `evault` binary (a client killed mid-sync) and the real
// evault-server (killed mid-sync, then restarted on the same data directory), over TLS
// on loopback. Two devices of one vault: A (owner) and B (coordinator).
//
// Each trial: with both vaults open in this process, add records, an edit and an
// attachment through the vault library (acknowledged = the call returned); close them;
// run `evault sync` and kill it (or the server) after a random delay; open both vaults
// again: they open and hold everything acknowledged, whole; sync them through the same
// gRPC client the binary uses until they converge, and compare: the same cases,
// records, revisions and attachments on both. One open per vault per trial keeps the
// Argon2id cost down.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "client/sync_client.h"
#include "tests/cli/run_evault.h"
#include "tests/crash/crash_util.h"
#include "tests/sync/server_process.h"
#include "tests/vault/test_util.h"
#include "vault/sync_state.h"

namespace evault::crash_test {
namespace {

using cli_test::RunOptions;
using cli_test::RunResult;
using sync_test::ServerProcess;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::size_t kGroup = 10;  // trials per server and pair of devices

// EVAULT_CRASH_TIMING=1 prints how long each phase took.
void Phase(const char* what) {
  static const bool on = std::getenv("EVAULT_CRASH_TIMING") != nullptr;
  static auto last = steady_clock::now();
  const auto now = steady_clock::now();
  if (on) fmt::print("  [{:6.0f} ms] {}\n", std::chrono::duration<double, std::milli>(now - last).count(), what);
  last = now;
}

struct Device {
  std::string name;
  fs::path vault, pass;
  RunResult Ev(std::vector<std::string> args, RunOptions options = {}) const {
    args.insert(args.begin(), {"--vault", vault.string(), "--passphrase-file", pass.string()});
    if (options.timeout == RunOptions{}.timeout) options.timeout = std::chrono::seconds(120);
    return cli_test::RunEvault(args, options);
  }
};

std::string FirstWord(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }

std::int64_t MsSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
}

class SyncCrashTest : public ::testing::Test {
 protected:
  enum class Kill { kClient, kServer };

  void TearDown() override {
    a_open_.reset();
    b_open_.reset();
    if (HasFailure() && server_) {
      const std::string log = server_->log();
      std::cerr << "server log (tail):\n" << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
    }
    server_.reset();
    dir_.reset();
  }

  void Run(Kill kill) {
    const std::uint64_t seed = BaseSeed();
    Figures figures{.name = kill == Kill::kClient ? "sync, client killed" : "sync, server killed"};
    fmt::print("[crash] {}: seed {} (rerun with EVAULT_CRASH_SEED={}), {} trials\n", figures.name, seed, seed,
               Trials());
    for (std::size_t trial = 0; trial < Trials() && !HasFailure(); ++trial) {
      SCOPED_TRACE(fmt::format("{} trial {} of seed {}", figures.name, trial, seed));
      std::mt19937_64 rng = TrialRng(seed, trial);
      if (trial % kGroup == 0) {
        ASSERT_NO_FATAL_FAILURE(NewGroup(rng));
      }
      ASSERT_NO_FATAL_FAILURE(OpenBoth());
      if (trial % kGroup != 0) {
        ASSERT_NO_FATAL_FAILURE(Recover(kill == Kill::kServer, figures));
      }

      // Work for this trial. B's news reaches the server first when A is the one killed,
      // so A's killed sync has something to pull as well as to push.
      a_new_ = Model{};
      b_new_ = Model{};
      ASSERT_NO_FATAL_FAILURE(AddWork(*a_open_, "a", rng, 2, true, 2u << 20, a_new_));
      ASSERT_NO_FATAL_FAILURE(AddWork(*b_open_, "b", rng, 1, false, rng() % 2 ? 512u << 10 : 0, b_new_));
      if (kill == Kill::kClient) {
        ASSERT_NO_FATAL_FAILURE(SyncOpen(*b_open_, "b"));
      }
      figures.acknowledged += a_new_.Objects() + b_new_.Objects();
      a_open_.reset();
      b_open_.reset();
      Phase("work");

      // The kill lands between "the binary opened its vault" and "a typical sync ended".
      const auto delay = milliseconds(open_ms_ * 8 / 10 +
                                      static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(
                                                                            sync_ms_ * 13 / 10 - open_ms_ * 8 / 10 + 1)));
      bool mid = false;
      if (kill == Kill::kClient) {
        auto killed = a_.Ev({"sync"}, {.on_started = [&](pid_t pid) {
                                         // Not reaped before RunProgram waits for it: never a recycled pid.
                                         std::this_thread::sleep_for(delay);
                                         ::kill(pid, SIGKILL);
                                       }});
        mid = killed.term_signal == SIGKILL;
        if (!mid) {
          ASSERT_EQ(killed.exit_code, 0) << killed.Describe();
        }
      } else {
        std::atomic<int> done{0};
        RunResult on_a, on_b;
        std::thread ta([&] { on_a = a_.Ev({"sync"}); ++done; });
        std::thread tb([&] { on_b = b_.Ev({"sync"}); ++done; });
        std::this_thread::sleep_for(delay);
        mid = done.load() < 2;
        server_->Kill();
        std::string error;
        const bool restarted = server_->Start(&error);  // same data directory and port
        ta.join();
        tb.join();
        ASSERT_TRUE(restarted) << "the server does not start again on its data: " << error;
        for (const RunResult* r : {&on_a, &on_b}) {
          // Either the client's retries reached the restarted server, or it stopped with
          // one clean error line; never a hang or a crash.
          ASSERT_FALSE(r->timed_out || r->term_signal != 0) << r->Describe();
          if (r->exit_code != 0) {
            ++client_errors_;
            EXPECT_TRUE(r->err.starts_with("evault:")) << r->Describe();
            if (error_kinds_.size() < 3) error_kinds_.insert(r->err.substr(0, r->err.find('(')));
          } else if (mid) {
            ++client_recovered_;
          }
        }
      }
      Phase(kill == Kill::kClient ? "killed client sync" : "syncs with a server kill");
      ++figures.trials;
      ++(mid ? figures.mid_operation : figures.between);
      last_delay_ms_ = delay.count();

      if (trial % kGroup == kGroup - 1 || trial + 1 == Trials()) {
        ASSERT_NO_FATAL_FAILURE(OpenBoth());
        ASSERT_NO_FATAL_FAILURE(Recover(kill == Kill::kServer, figures));
        a_open_.reset();
        b_open_.reset();
      }
      if (HasFailure()) {
        fmt::print("[crash] {} failed at trial {} (seed {}, kill at {} ms)\n", figures.name, trial, seed, delay.count());
      }
    }
    figures.Print(seed);
    if (kill == Kill::kServer) {
      std::string kinds;
      for (const auto& k : error_kinds_) kinds += "\n    " + k;
      fmt::print("[crash figures] sync, server killed: {} client syncs ended with a clean error, {} completed across "
                 "the restart; errors seen:{}\n", client_errors_, client_recovered_, kinds);
    }
  }

  // A fresh server; A creates the vault, B joins as a coordinator (the CLI, as a user
  // would); a timed first sync sets the range of kill delays.
  void NewGroup(std::mt19937_64& rng) {
    server_.reset();
    dir_ = std::make_unique<vault::testing::ScopedTempDir>();
    server_ = std::make_unique<ServerProcess>(dir_->path() / "server");
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    a_ = MakeDevice("a");
    b_ = MakeDevice("b");
    converged_ = Model{};
    a_records_.clear();
    const std::vector<std::string> kdf = {"--kdf-ops", "2", "--kdf-memory-mib", "64"};
    auto init = a_.Ev({"init", kdf[0], kdf[1], kdf[2], kdf[3]});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
    auto enrolled = a_.Ev({"sync", "--server", server_->address(), "--ca-file", server_->ca_file().string(),
                           "--enroll-token", server_->enroll_token()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe();
    auto invite = a_.Ev({"member", "invite", "--role", "coordinator"});
    ASSERT_EQ(invite.exit_code, 0) << invite.Describe();
    auto joined = b_.Ev({"init", "--join", FirstWord(invite.out), "--ca-file", server_->ca_file().string(), kdf[0],
                         kdf[1], kdf[2], kdf[3]});
    ASSERT_EQ(joined.exit_code, 0) << joined.Describe();
    for (const Device* d : {&b_, &a_, &b_}) {  // B asks, A admits, B arrives
      auto r = d->Ev({"sync"});
      ASSERT_EQ(r.exit_code, 0) << d->name << ": " << r.Describe();
    }
    auto t0 = steady_clock::now();
    ASSERT_EQ(a_.Ev({"status"}).exit_code, 0);
    open_ms_ = MsSince(t0);
    ASSERT_NO_FATAL_FAILURE(OpenBoth());
    Model first;
    ASSERT_NO_FATAL_FAILURE(AddWork(*a_open_, "a", rng, 2, true, 2u << 20, first));
    a_open_.reset();
    t0 = steady_clock::now();
    auto timed = a_.Ev({"sync"});
    ASSERT_EQ(timed.exit_code, 0) << timed.Describe();
    sync_ms_ = std::max(MsSince(t0), open_ms_ + 50);
    ASSERT_NO_FATAL_FAILURE(SyncOpen(*b_open_, "b"));
    b_open_.reset();
    converged_.Merge(first);
    Phase("new group");
  }

  Device MakeDevice(const std::string& name) {
    Device d{name, dir_->path() / name / "vault", dir_->path() / name / "pass"};
    fs::create_directories(dir_->path() / name);
    vault::testing::WriteFile(d.pass, kPassphrase);
    return d;
  }

  void OpenBoth() {
    for (auto [d, slot] : {std::pair{&a_, &a_open_}, std::pair{&b_, &b_open_}}) {
      auto opened = vault::Vault::Open(d->vault, Passphrase());
      ASSERT_TRUE(opened) << "device " << d->name << "'s vault does not open: " << opened.error().message;
      *slot = std::move(*opened);
    }
    Phase("open both");
  }

  // The real sync client, in process, on an open vault (the server remembered by the CLI).
  void SyncOpen(vault::Vault& v, const char* name) {
    auto config = vault::SyncState(v).LoadConfig();
    ASSERT_TRUE(config && *config) << name << ": no sync configuration";
    auto r = client::RunSync(v, **config, std::nullopt, {});
    ASSERT_TRUE(r) << name << ": sync failed: " << ErrorCodeName(r.error().code) << ": " << r.error().message;
    Phase(name[0] == 'a' ? "sync a" : "sync b");
  }

  // After a kill (vaults open): each holds what it must, whole; then they converge and
  // hold exactly the same evidence.
  void Recover(bool check_b, Figures& figures) {
    Model must_a = converged_, must_b = converged_;
    must_a.Merge(a_new_);
    must_b.Merge(b_new_);
    figures.objects_checked += CheckVault(*a_open_, must_a, &b_new_, {}).objects_checked;
    // B only synced cleanly when A was the one killed; when the server was, it was syncing too.
    if (check_b) figures.objects_checked += CheckVault(*b_open_, must_b, &a_new_, {}).objects_checked;
    Phase("check after the kill");
    ASSERT_FALSE(HasFailure()) << "after a kill at " << last_delay_ms_ << " ms";
    ASSERT_NO_FATAL_FAILURE(SyncOpen(*a_open_, "a"));
    ASSERT_NO_FATAL_FAILURE(SyncOpen(*b_open_, "b"));
    ASSERT_NO_FATAL_FAILURE(SyncOpen(*a_open_, "a"));  // B's news, if it reached the server only now
    converged_.Merge(a_new_);
    converged_.Merge(b_new_);
    a_new_ = b_new_ = Model{};
    auto on_a = CheckVault(*a_open_, converged_, nullptr, {});
    auto on_b = CheckVault(*b_open_, converged_, nullptr, {});
    figures.objects_checked += on_a.objects_checked + on_b.objects_checked;
    EXPECT_EQ(on_a.snapshot, on_b.snapshot) << "the devices did not converge; difference (A to B): "
                                            << json::diff(on_a.snapshot, on_b.snapshot).dump().substr(0, 2000);
    Phase("converged and compared");
  }

  // Through the library, as a user's acknowledged actions: perhaps a new case, `records`
  // new records, an edit of one of A's earlier records, and an attachment of up to
  // `max_attachment` bytes (0: none).
  void AddWork(vault::Vault& v, const std::string& who, std::mt19937_64& rng, int records, bool edit,
               std::uint64_t max_attachment, Model& out) {
    std::string case_id;
    if (converged_.cases.empty() || rng() % 4 == 0) {
      const std::string title = fmt::format("sync crash case {}", rng() % 100000);
      auto c = v.CreateCase(title, {});
      ASSERT_TRUE(c) << c.error().message;
      case_id = c->id;
      out.cases[case_id] = title;
    } else {
      auto it = converged_.cases.begin();
      std::advance(it, static_cast<long>(rng() % converged_.cases.size()));
      case_id = it->first;
    }
    std::string last_record;
    for (int i = 0; i < records; ++i) {
      const json input = RecordInput(who, rng(), static_cast<std::uint64_t>(i));
      auto r = v.AddRecord(case_id, input.dump());
      ASSERT_TRUE(r) << r.error().message;
      out.records[r->record_id] = {{r->revision_id, input}};
      if (who == "a") a_records_.push_back(r->record_id);
      last_record = r->record_id;
    }
    // Only A edits, and only records both devices already hold: no concurrent edits,
    // so a conflict would be a bug, not a race.
    if (edit) {
      std::vector<std::string> candidates;
      for (const auto& id : a_records_) {
        if (converged_.records.contains(id)) candidates.push_back(id);
      }
      if (!candidates.empty()) {
        const std::string& id = candidates[rng() % candidates.size()];
        const json input = RecordInput("edit", rng(), 0);
        auto r = v.EditRecord(id, input.dump());
        ASSERT_TRUE(r) << r.error().message;
        auto revisions = converged_.records.at(id);
        revisions.push_back({r->revision_id, input});
        out.records[id] = std::move(revisions);
      }
    }
    if (max_attachment > 0 && !last_record.empty()) {
      const std::uint64_t size = 1 + rng() % max_attachment;
      const fs::path file = dir_->path() / fmt::format("input-{}-{}.bin", who, ++files_);
      const std::string sha = WriteInputFile(file, rng(), size);
      auto a = v.AddAttachment(last_record, file);
      ASSERT_TRUE(a) << a.error().message;
      EXPECT_EQ(a->sha256, sha);
      out.attachments[a->id] = {last_record, sha, size};
      fs::remove(file);
    }
  }

  std::unique_ptr<vault::testing::ScopedTempDir> dir_;
  std::unique_ptr<ServerProcess> server_;
  Device a_, b_;
  std::unique_ptr<vault::Vault> a_open_, b_open_;
  Model converged_;                     // what both devices hold after the last convergence
  Model a_new_, b_new_;                 // acknowledged since
  std::vector<std::string> a_records_;  // records A wrote (A edits only these)
  std::int64_t open_ms_ = 200, sync_ms_ = 1000, last_delay_ms_ = 0;
  std::size_t client_errors_ = 0, client_recovered_ = 0;
  std::set<std::string> error_kinds_;
  int files_ = 0;
};

TEST_F(SyncCrashTest, ClientKilledMidSync) { Run(Kill::kClient); }
TEST_F(SyncCrashTest, ServerKilledMidSync) { Run(Kill::kServer); }

}  // namespace
}  // namespace evault::crash_test
