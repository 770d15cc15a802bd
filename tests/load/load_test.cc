// Load: 50 devices of one vault sync concurrently against one real evault-server (TLS,
// loopback) for a while, each adding records, edits and a few small attachments and
// syncing repeatedly through the real gRPC sync client (client/sync_client.h). The
// devices are in-process (one thread and one vault each); 50 processes would spend
// the run on Argon2id. Then a final sync round, and every device is compared with
// everything any device acknowledged: nothing lost, nothing duplicated, no conflict.
// The server's memory (VmRSS/VmHWM from /proc) is sampled throughout and bounded.
//
// With EVAULT_LOAD_POSTGRES (a connection string) the server stores into PostgreSQL, and
// EVAULT_LOAD_REPLICAS servers share that database, device i syncing through replica
// i mod N (issue #8): the devices must converge exactly as through one server.
//
// EVAULT_LOAD_SECONDS (default 15), EVAULT_LOAD_CLIENTS (default 50), EVAULT_LOAD_REPLICAS
// (default 1; more need EVAULT_LOAD_POSTGRES).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "client/sync_client.h"
#include "crypto/digest.h"
#include "tests/sync/server_process.h"
#include "tests/vault/test_util.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::load_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::steady_clock;
using vault::SyncState;
using vault::Vault;
namespace vt = vault::testing;

long EnvLong(const char* name, long fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::strtol(text, nullptr, 10) : fallback;
}

// The server's memory, from /proc/<pid>/status, in KiB.
struct Memory {
  std::uint64_t rss_kib = 0, hwm_kib = 0;
};
std::optional<Memory> ReadMemory(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  if (!in) return std::nullopt;
  Memory m;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) m.rss_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
    if (line.starts_with("VmHWM:")) m.hwm_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return m;
}

constexpr std::string_view kPass = "load test passphrase";
crypto::SecretBytes Pass() { return crypto::SecretBytes::CopyFrom(kPass); }

// What one device acknowledged (its calls returned success).
struct Acked {
  std::map<std::string, std::string> cases;                     // id -> title
  std::map<std::string, std::vector<std::string>> revisions;    // record -> revision ids, in order
  std::map<std::string, std::string> titles;                    // record -> title of its last revision
  std::map<std::string, std::pair<std::string, std::uint64_t>> attachments;  // id -> sha256, size
  std::map<std::string, std::set<std::string>> record_attachments;           // record -> attachment ids
};

struct Client {
  int index = 0;
  int replica = 0;  // the server it syncs through
  fs::path dir;
  std::unique_ptr<Vault> vault;
  Acked acked;
  std::uint64_t syncs = 0, failed_syncs = 0, pushed = 0, pulled = 0, uploaded_chunks = 0, downloaded_chunks = 0;
  std::string last_error;   // of the last failed sync
  std::string write_error;  // a vault write that failed: the device stopped working
};

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clients_n_ = static_cast<int>(EnvLong("EVAULT_LOAD_CLIENTS", 50));
    seconds_ = EnvLong("EVAULT_LOAD_SECONDS", 15);
    const char* seed_text = std::getenv("EVAULT_LOAD_SEED");
    seed_ = seed_text && *seed_text ? std::strtoull(seed_text, nullptr, 10) : std::random_device{}();
    replicas_n_ = static_cast<int>(EnvLong("EVAULT_LOAD_REPLICAS", 1));
    const char* postgres = std::getenv("EVAULT_LOAD_POSTGRES");
    ASSERT_TRUE(replicas_n_ == 1 || (postgres && *postgres)) << "replicas need EVAULT_LOAD_POSTGRES";
    // warn: 50 devices' RPCs would otherwise fill the log; the listening line is always written.
    std::vector<std::string> args = {"--log-level", "warn"};
    if (postgres && *postgres) args.insert(args.end(), {"--postgres", postgres});
    for (int r = 0; r < replicas_n_; ++r) {
      auto& server = servers_.emplace_back(
          std::make_unique<sync_test::ServerProcess>(dir_.path() / fmt::format("server-{}", r), args));
      std::string error;
      ASSERT_TRUE(server->Start(&error)) << error;
      // Each replica has its own certificate; a device trusts the one it syncs through.
      SyncState::Config config;
      config.server = server->address();
      config.ca_pem = vt::ReadFileOrEmpty(server->ca_file());
      ASSERT_FALSE(config.ca_pem.empty());
      configs_.push_back(std::move(config));
    }
  }
  void TearDown() override {
    for (std::size_t r = 0; HasFailure() && r < servers_.size(); ++r) {
      const std::string log = servers_[r]->log();
      std::cerr << "server " << r << " log (tail):\n" << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
    }
    for (auto& c : clients_) c.vault.reset();
    servers_.clear();
  }

  // Runs `fn(i)` for i in [0, n) on `threads` threads.
  template <typename F>
  static void Parallel(int n, int threads, F fn) {
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i; (i = next++) < n;) fn(i);
      });
    }
    for (auto& t : pool) t.join();
  }

  Result<client::SyncReport> Sync(Client& c) {
    auto r = client::RunSync(*c.vault, configs_[c.replica], std::nullopt, {});
    if (r) {
      ++c.syncs;
      c.pushed += r->pushed_objects;
      c.pulled += r->pulled_objects;
      c.uploaded_chunks += r->uploaded_chunks;
      c.downloaded_chunks += r->downloaded_chunks;
    } else {
      ++c.failed_syncs;
      c.last_error = fmt::format("{}: {}", ErrorCodeName(r.error().code), r.error().message);
    }
    return r;
  }

  // The owner creates the vault on the server; every other device joins as a
  // coordinator (reads everything) the way `evault member invite` / `init --join` do.
  void Enroll() {
    clients_.resize(static_cast<std::size_t>(clients_n_));
    for (int i = 0; i < clients_n_; ++i) {
      clients_[i].index = i;
      clients_[i].replica = i % replicas_n_;
      clients_[i].dir = dir_.path() / fmt::format("device-{}", i);
    }
    Client& owner = clients_[0];
    ASSERT_TRUE(Vault::Create(owner.dir, Pass(), vt::FastKdf()));
    auto opened = Vault::Open(owner.dir, Pass());
    ASSERT_TRUE(opened) << opened.error().message;
    owner.vault = std::move(*opened);
    ASSERT_TRUE(SyncState(*owner.vault).SaveConfig(configs_[0]));
    auto created = client::RunSync(*owner.vault, configs_[0], servers_[0]->enroll_token(), {});
    ASSERT_TRUE(created) << created.error().message;
    std::vector<crypto::Bytes> secrets(clients_.size());
    for (int i = 1; i < clients_n_; ++i) {
      auto secret = SyncState(*owner.vault).CreateInvite(sync::v1::COORDINATOR);
      ASSERT_TRUE(secret) << secret.error().message;
      secrets[i] = *secret;
    }
    ASSERT_TRUE(Sync(owner)) << owner.last_error;  // the server learns the invites
    std::mutex failures_mu;
    std::vector<std::string> failures;
    auto fail = [&](std::string what) {
      std::lock_guard lock(failures_mu);
      failures.push_back(std::move(what));
    };
    // Two at a time: Argon2id takes 64 MiB and a core each.
    Parallel(clients_n_ - 1, 2, [&](int k) {
      Client& c = clients_[k + 1];
      if (auto made = Vault::CreateJoining(c.dir, Pass(), vt::FastKdf(), owner.vault->vault_id()); !made) {
        return fail("CreateJoining: " + made.error().message);
      }
      auto v = Vault::Open(c.dir, Pass());
      if (!v) return fail("Open: " + v.error().message);
      c.vault = std::move(*v);
      SyncState state(*c.vault);
      const SyncState::Config& config = configs_[c.replica];
      if (auto s = state.SaveConfig(config); !s) return fail("SaveConfig: " + s.error().message);
      auto request = state.MakeJoinRequest(secrets[k + 1]);
      if (!request) return fail("MakeJoinRequest: " + request.error().message);
      if (auto s = client::FileJoinRequest(config, *request); !s) return fail("FileJoinRequest: " + s.error().message);
    });
    ASSERT_EQ(failures, std::vector<std::string>());
    auto admitted = Sync(owner);
    ASSERT_TRUE(admitted) << owner.last_error;
    ASSERT_EQ(admitted->admitted.size(), static_cast<std::size_t>(clients_n_ - 1));
    Parallel(clients_n_ - 1, 4, [&](int k) {
      Client& c = clients_[k + 1];
      auto r = Sync(c);
      if (!r) return fail(fmt::format("device {} first sync: {}", c.index, c.last_error));
      if (!r->admitted_now) fail(fmt::format("device {} was not admitted", c.index));
    });
    ASSERT_EQ(failures, std::vector<std::string>());
  }

  // One device's minute: a few actions, a sync, a pause; repeat.
  void Work(Client& c, steady_clock::time_point deadline) {
    std::mt19937_64 rng(seed_ * 1000003 + static_cast<std::uint64_t>(c.index));
    Vault& v = *c.vault;
    std::vector<std::string> own_records;
    std::uint64_t seq = 0;
    auto title = [&] { return fmt::format("load d{} #{}", c.index, seq++); };
    auto new_case = [&]() -> bool {
      const std::string t = title();
      auto made = v.CreateCase(t, {"load"});
      if (!made) return c.write_error = "CreateCase: " + made.error().message, false;
      c.acked.cases[made->id] = t;
      return true;
    };
    if (!new_case()) return;
    while (steady_clock::now() < deadline) {
      auto cases = v.ListCases();
      if (!cases || cases->empty()) {
        c.write_error = "ListCases failed";
        return;
      }
      const int actions = 1 + static_cast<int>(rng() % 3);
      for (int a = 0; a < actions; ++a) {
        const auto dice = rng() % 100;
        if (dice < 3) {
          if (!new_case()) return;
        } else if (dice < 18 && !own_records.empty()) {
          const std::string& id = own_records[rng() % own_records.size()];
          const std::string t = title();
          auto r = v.EditRecord(id, vt::SimpleRecord(t, "edited under load"));
          if (!r) return void(c.write_error = "EditRecord: " + r.error().message);
          c.acked.revisions[id].push_back(r->revision_id);
          c.acked.titles[id] = t;
        } else if (dice < 26 && !own_records.empty()) {
          // A few small attachments; one in ten spans two chunks.
          const std::string& id = own_records[rng() % own_records.size()];
          const std::size_t size = rng() % 10 == 0 ? (1u << 20) + 1 + rng() % 65536 : 1 + rng() % 65536;
          const fs::path file = c.dir.parent_path() / fmt::format("upload-{}-{}.bin", c.index, seq++);
          const crypto::Bytes bytes = vt::Pattern(rng(), size);
          vt::WriteFile(file, bytes);
          auto r = v.AddAttachment(id, file);
          fs::remove(file);
          if (!r) return void(c.write_error = "AddAttachment: " + r.error().message);
          c.acked.attachments[r->id] = {vt::Sha256Hex(bytes), size};
          c.acked.record_attachments[id].insert(r->id);
        } else {
          const auto& target = (*cases)[rng() % cases->size()];
          const std::string t = title();
          auto r = v.AddRecord(target.id, vt::SimpleRecord(t, fmt::format("device {} under load", c.index)));
          if (!r) return void(c.write_error = "AddRecord: " + r.error().message);
          c.acked.revisions[r->record_id] = {r->revision_id};
          c.acked.titles[r->record_id] = t;
          own_records.push_back(r->record_id);
        }
      }
      (void)Sync(c);  // a failed sync is retried by the next one; the final round must succeed
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    }
  }

  vt::ScopedTempDir dir_;
  std::vector<std::unique_ptr<sync_test::ServerProcess>> servers_;  // replicas
  std::vector<SyncState::Config> configs_;                          // one per replica
  int replicas_n_ = 1;
  std::vector<Client> clients_;
  int clients_n_ = 50;
  long seconds_ = 15;
  std::uint64_t seed_ = 0;
};

TEST_F(LoadTest, ClientsSyncConcurrentlyAndConverge) {
  const auto start = steady_clock::now();
  fmt::print("[load] {} clients, {} s of load, seed {} (EVAULT_LOAD_SEED)\n", clients_n_, seconds_, seed_);
  ASSERT_NO_FATAL_FAILURE(Enroll());
  const auto enrolled = steady_clock::now();

  // Memory, sampled every 100 ms for the whole run.
  std::atomic<bool> sampling{true};
  std::uint64_t peak_rss = 0, peak_hwm = 0, samples = 0;
  std::thread sampler([&] {
    while (sampling) {
      if (auto m = ReadMemory(servers_[0]->pid())) {
        peak_rss = std::max(peak_rss, m->rss_kib);
        peak_hwm = std::max(peak_hwm, m->hwm_kib);
        ++samples;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  const auto deadline = steady_clock::now() + std::chrono::seconds(seconds_);
  {
    std::vector<std::thread> threads;
    for (auto& c : clients_) threads.emplace_back([&] { Work(c, deadline); });
    for (auto& t : threads) t.join();
  }
  const auto loaded = steady_clock::now();
  for (const auto& c : clients_) EXPECT_EQ(c.write_error, "") << "device " << c.index;

  // The final round: everyone pushes what is left, then everyone pulls everything.
  std::mutex mu;
  std::vector<std::string> final_failures;
  for (int round = 0; round < 2; ++round) {
    Parallel(clients_n_, 4, [&](int i) {
      if (!Sync(clients_[i])) {
        std::lock_guard lock(mu);
        final_failures.push_back(fmt::format("round {} device {}: {}", round, i, clients_[i].last_error));
      }
    });
  }
  sampling = false;
  sampler.join();
  const auto synced = steady_clock::now();
  ASSERT_EQ(final_failures, std::vector<std::string>());

  // Everything any device acknowledged.
  Acked all;
  std::size_t revisions = 0;
  for (const auto& c : clients_) {
    all.cases.insert(c.acked.cases.begin(), c.acked.cases.end());
    all.titles.insert(c.acked.titles.begin(), c.acked.titles.end());
    all.attachments.insert(c.acked.attachments.begin(), c.acked.attachments.end());
    for (const auto& [id, r] : c.acked.revisions) {
      ASSERT_TRUE(all.revisions.emplace(id, r).second) << "two devices acknowledged record " << id;
      revisions += r.size();
    }
    for (const auto& [id, a] : c.acked.record_attachments) all.record_attachments[id] = a;
  }

  // Every device: the same cases, records (head revision, title, no conflict) and
  // attachments as acknowledged anywhere; nothing pending.
  std::vector<std::string> problems;
  auto problem = [&](std::string p) {
    std::lock_guard lock(mu);
    if (problems.size() < 20) problems.push_back(std::move(p));
  };
  Parallel(clients_n_, 2, [&](int i) {
    Vault& v = *clients_[i].vault;
    auto pending = SyncState(v).Pending();
    if (!pending) return problem(fmt::format("device {}: Pending failed", i));
    if (pending->unpushed_objects != 0 || pending->pending_uploads != 0 || pending->pending_downloads != 0) {
      problem(fmt::format("device {}: {} objects unpushed, {} uploads, {} downloads pending after the final round", i,
                          pending->unpushed_objects, pending->pending_uploads, pending->pending_downloads));
    }
    auto cases = v.ListCases();
    if (!cases) return problem(fmt::format("device {}: ListCases failed", i));
    std::map<std::string, std::string> seen_cases;
    for (const auto& k : *cases) {
      if (!seen_cases.emplace(k.id, k.title).second) problem(fmt::format("device {}: case {} twice", i, k.id));
    }
    if (seen_cases != all.cases) {
      problem(fmt::format("device {}: {} cases, {} acknowledged", i, seen_cases.size(), all.cases.size()));
    }
    auto records = v.ListRecords(std::nullopt);
    if (!records) return problem(fmt::format("device {}: ListRecords failed", i));
    std::set<std::string> seen;
    for (const auto& r : *records) {
      if (!seen.insert(r.record_id).second) problem(fmt::format("device {}: record {} listed twice", i, r.record_id));
      auto it = all.revisions.find(r.record_id);
      if (it == all.revisions.end()) {
        problem(fmt::format("device {}: record {} was never acknowledged", i, r.record_id));
        continue;
      }
      if (r.revision != it->second.size() || r.conflict || r.title != all.titles.at(r.record_id)) {
        problem(fmt::format("device {}: record {} at revision {} (conflict {}), acknowledged {}", i, r.record_id,
                            r.revision, r.conflict, it->second.size()));
      }
      auto atts = v.ListAttachments(r.record_id);
      if (!atts) {
        problem(fmt::format("device {}: ListAttachments({}) failed", i, r.record_id));
        continue;
      }
      std::set<std::string> ids;
      for (const auto& a : *atts) {
        ids.insert(a.id);
        auto e = all.attachments.find(a.id);
        if (e == all.attachments.end() || e->second != std::pair{a.sha256, a.size}) {
          problem(fmt::format("device {}: attachment {} not as acknowledged", i, a.id));
        }
      }
      const auto expected = all.record_attachments.find(r.record_id);
      if (ids != (expected == all.record_attachments.end() ? std::set<std::string>{} : expected->second)) {
        problem(fmt::format("device {}: record {} has {} attachments, not those acknowledged", i, r.record_id,
                            ids.size()));
      }
    }
    if (seen.size() != all.revisions.size()) {
      problem(fmt::format("device {}: {} records, {} acknowledged", i, seen.size(), all.revisions.size()));
    }
  });
  EXPECT_EQ(problems, std::vector<std::string>());

  // Full revision histories (each revision id) and attachment bytes on a sample of
  // devices: each read is a logged view, too slow to do 50 times over.
  const int sample[] = {0, clients_n_ / 3, 2 * clients_n_ / 3, clients_n_ - 1};
  std::size_t deep_revisions = 0, deep_attachments = 0;
  for (int i : sample) {
    Vault& v = *clients_[i].vault;
    for (const auto& [id, expected] : all.revisions) {
      auto view = v.GetRecord(id, true);
      ASSERT_TRUE(view) << "device " << i << " record " << id << ": " << view.error().message;
      std::vector<std::string> got;
      auto history = view->history;
      std::sort(history.begin(), history.end(), [](const auto& a, const auto& b) { return a.revision < b.revision; });
      for (const auto& h : history) got.push_back(h.revision_id);
      EXPECT_EQ(got, expected) << "device " << i << " record " << id;
      deep_revisions += got.size();
    }
    for (const auto& [id, expected] : all.attachments) {
      auto bytes = vt::ReadAll(v, id);
      ASSERT_TRUE(bytes) << "device " << i << " attachment " << id << ": " << bytes.error().message;
      EXPECT_EQ(vt::Sha256Hex(*bytes), expected.first) << "device " << i << " attachment " << id;
      ++deep_attachments;
    }
  }
  const auto checked = steady_clock::now();

  std::uint64_t syncs = 0, failed = 0, pushed = 0, pulled = 0, up = 0, down = 0, min_syncs = UINT64_MAX, max_syncs = 0;
  for (const auto& c : clients_) {
    syncs += c.syncs;
    failed += c.failed_syncs;
    pushed += c.pushed;
    pulled += c.pulled;
    up += c.uploaded_chunks;
    down += c.downloaded_chunks;
    min_syncs = std::min(min_syncs, c.syncs);
    max_syncs = std::max(max_syncs, c.syncs);
  }
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  fmt::print(
      "[load figures] {} clients for {} s: {} syncs ({} to {} per client, {} failed and retried), {} objects pushed, "
      "{} pulled, {} chunks up, {} down; acknowledged {} cases, {} records, {} revisions, {} attachments, all on "
      "every client; histories and bytes read back on {} clients ({} revisions, {} attachments); server peak RSS "
      "{:.1f} MiB (VmHWM {:.1f} MiB, {} samples); enrol {:.1f} s, load {:.1f} s, final round {:.1f} s, checks "
      "{:.1f} s, total {:.1f} s\n",
      clients_n_, seconds_, syncs, min_syncs, max_syncs, failed, pushed, pulled, up, down, all.cases.size(),
      all.revisions.size(), revisions, all.attachments.size(), std::size(sample), deep_revisions, deep_attachments,
      peak_rss / 1024.0, peak_hwm / 1024.0, samples, secs(start, enrolled), secs(enrolled, loaded),
      secs(loaded, synced), secs(synced, checked), secs(start, checked));

  // Every device took part, and the server's memory stayed bounded.
  EXPECT_GE(min_syncs, 2u) << "a device barely synced";
  EXPECT_GT(samples, 0u);
  EXPECT_LT(peak_hwm, static_cast<std::uint64_t>(EnvLong("EVAULT_LOAD_MAX_SERVER_MIB", 512)) * 1024)
      << "the server's memory peaked at " << peak_hwm / 1024 << " MiB";
}

}  // namespace
}  // namespace evault::load_test
