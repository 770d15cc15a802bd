// kill -9 at random points of record add, record edit and attachment add. A worker
// process (crash_child.cc) loops over one kind of operation and reports each one the
// vault acknowledged; the test SIGKILLs it after a random delay, then checks the vault:
// it opens, every acknowledged object is exactly there, the interrupted operation left
// either nothing or a whole object, every listed attachment reads back whole, and the
// custody log verifies. A vault takes several kills in a row (crashes pile up on
// it), then a fresh one starts so that checks, which read everything, stay cheap.
#include <signal.h>
#include <sys/wait.h>

#include <random>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "tests/crash/crash_util.h"
#include "tests/vault/test_util.h"

namespace evault::crash_test {
namespace {

constexpr std::size_t kFiles = 6;

struct Op {
  std::string name;       // the worker's op= and the figures' label
  int max_delay_ms;       // the kill comes uniformly within this after the vault opened
  std::size_t records;    // records made up front (edited, or attached to)
  std::size_t group;      // kills per vault before a fresh one (each check reads everything)
};

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class LocalCrashTest : public ::testing::Test {
 protected:
  void RunTrials(const Op& op) {
    const std::uint64_t seed = BaseSeed();
    Figures figures{.name = op.name};
    fmt::print("[crash] {}: seed {} (rerun with EVAULT_CRASH_SEED={}), {} trials\n", op.name, seed, seed, Trials());
    std::unique_ptr<vault::testing::ScopedTempDir> dir;
    fs::path vault_dir;
    std::string case_id;
    std::vector<std::string> records;
    std::vector<std::pair<std::string, std::uint64_t>> files;  // sha256, size
    Model model;

    for (std::size_t trial = 0; trial < Trials(); ++trial) {
      SCOPED_TRACE(fmt::format("{} trial {} of seed {}", op.name, trial, seed));
      std::mt19937_64 rng = TrialRng(seed, trial);
      if (trial % op.group == 0) {  // a fresh vault
        dir = std::make_unique<vault::testing::ScopedTempDir>();
        vault_dir = dir->path() / "vault";
        model = Model{};
        records.clear();
        files.clear();
        auto v = vault::testing::CreateAndOpen(vault_dir, kPassphrase);
        ASSERT_TRUE(v);
        auto c = v->CreateCase("crash case", {"crash"});
        ASSERT_TRUE(c) << c.error().message;
        case_id = c->id;
        model.cases[case_id] = "crash case";
        for (std::size_t i = 0; i < op.records; ++i) {
          const json input = RecordInput("setup", rng(), i);
          auto r = v->AddRecord(case_id, input.dump());
          ASSERT_TRUE(r) << r.error().message;
          records.push_back(r->record_id);
          model.records[r->record_id] = {{r->revision_id, input}};
        }
        if (op.name == "attachment-add") {
          // Empty-ish, sub-chunk, exactly one 1 MiB chunk, one byte over, and multi-chunk.
          const std::uint64_t sizes[kFiles] = {1 + rng() % 4096, 100000 + rng() % 200000, 1u << 20,
                                               (1u << 20) + 1, (1u << 20) + 2 + rng() % (1u << 20), (2u << 20) + rng() % (1u << 20)};
          for (std::size_t k = 0; k < kFiles; ++k) {
            files.emplace_back(WriteInputFile(dir->path() / fmt::format("input-{}.bin", k), rng(), sizes[k]), sizes[k]);
          }
        }
      }

      const std::uint64_t child_seed = rng();
      const std::string tag = fmt::format("t{}", trial);
      std::string record_list;
      for (const auto& r : records) record_list += (record_list.empty() ? "" : ",") + r;
      const int delay_ms = static_cast<int>(rng() % static_cast<std::uint64_t>(op.max_delay_ms + 1));

      Child child({"op=" + op.name, "vault=" + vault_dir.string(), fmt::format("seed={}", child_seed), "tag=" + tag,
                   "case=" + case_id, "records=" + record_list, "files=" + dir->path().string(),
                   fmt::format("nfiles={}", files.size())});
      ASSERT_TRUE(child.WaitForLine("R", std::chrono::steady_clock::now() + std::chrono::seconds(60)))
          << "the worker did not open the vault: " << (child.lines().empty() ? "" : child.lines().back());
      const bool alive = child.ReadUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms));
      const int status = child.KillAndReap();
      ASSERT_TRUE(alive) << "the worker ended before its kill: " << child.lines().back();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;

      // Acknowledged operations join the model; a begun one without its ack is in flight.
      InFlight in_flight;
      std::size_t acked = 0;
      for (const auto& line : child.lines()) {
        const auto w = Words(line);
        ASSERT_FALSE(w.empty());
        ASSERT_NE(w[0], "E") << "the worker failed: " << line;
        if (w[0] == "B") {
          const std::uint64_t seq = std::stoull(w[1]);
          in_flight = InFlight{};
          if (op.name == "record-add") {
            in_flight.kind = InFlight::kRecordAdd;
            in_flight.data = RecordInput(tag, child_seed, seq);
          } else if (op.name == "record-edit") {
            in_flight.kind = InFlight::kRecordEdit;
            in_flight.record_id = w.at(2);
            in_flight.data = RecordInput(tag, child_seed, seq);
          } else {
            in_flight.kind = InFlight::kAttachmentAdd;
            in_flight.record_id = w.at(2);
            const std::size_t k = std::stoull(w.at(3));
            in_flight.sha256 = files.at(k).first;
            in_flight.size = files.at(k).second;
          }
        } else if (w[0] == "A") {
          ASSERT_NE(in_flight.kind, InFlight::kNone) << "ack without a begin: " << line;
          ++acked;
          if (in_flight.kind == InFlight::kAttachmentAdd) {
            ASSERT_EQ(w.size(), 5u) << line;
            EXPECT_EQ(w[3], in_flight.sha256) << "the vault acknowledged a different SHA-256 than the file's";
            model.attachments[w[2]] = {in_flight.record_id, w[3], std::stoull(w[4])};
          } else {
            ASSERT_EQ(w.size(), 5u) << line;
            auto& revisions = model.records[w[2]];
            revisions.push_back({w[3], in_flight.data});
            EXPECT_EQ(std::stoull(w[4]), revisions.size()) << "acknowledged revision number";
          }
          in_flight = InFlight{};
        }
      }
      const bool mid = in_flight.kind != InFlight::kNone;
      ++figures.trials;
      figures.acknowledged += acked;
      (mid ? figures.mid_operation : figures.between) += 1;

      const CheckOutcome checked = CheckVault(vault_dir, model, nullptr, in_flight);
      figures.objects_checked += checked.objects_checked;
      if (checked.in_flight_committed) ++figures.committed_in_flight;
      if (HasFailure()) {
        fmt::print("[crash] {} failed at trial {} (seed {}, kill after {} ms, {} acks, mid-operation {})\n", op.name,
                   trial, seed, delay_ms, acked, mid);
        break;
      }
    }
    figures.Print(seed);
  }
};

// The checks can fail: a worker whose vault keeps its log in memory and lies about
// syncing (crash_child.cc) loses acknowledged records to SIGKILL, and the check says so.
TEST_F(LocalCrashTest, CatchesAVaultThatAcknowledgesBeforeItsWriteIsDurable) {
  vault::testing::ScopedTempDir dir;
  const fs::path vault_dir = dir.path() / "vault";
  Model model;
  std::string case_id;
  {
    auto v = vault::testing::CreateAndOpen(vault_dir, kPassphrase);
    ASSERT_TRUE(v);
    auto c = v->CreateCase("sabotaged", {});
    ASSERT_TRUE(c);
    case_id = c->id;
    model.cases[case_id] = "sabotaged";
  }
  {
    Child child({"op=record-add", "vault=" + vault_dir.string(), "seed=1", "tag=s", "case=" + case_id,
                 "sabotage=buffered-log"});
    ASSERT_TRUE(child.WaitForLine("A ", std::chrono::steady_clock::now() + std::chrono::seconds(60)))
        << (child.lines().empty() ? "" : child.lines().back());
    child.KillAndReap();
    for (const auto& line : child.lines()) {
      std::istringstream in(line);
      std::string kind, seq, record, revision;
      if (in >> kind >> seq >> record >> revision && kind == "A") {
        model.records[record] = {{revision, RecordInput("s", 1, std::stoull(seq))}};
      }
    }
  }
  ASSERT_FALSE(model.records.empty());
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
                                                    &failures);
    CheckVault(vault_dir, model, nullptr, {});
  }
  std::size_t missing = 0;
  for (int i = 0; i < failures.size(); ++i) {
    if (std::string_view(failures.GetTestPartResult(i).message()).find("is missing") != std::string_view::npos) ++missing;
  }
  // Every record it acknowledged was still in the lost buffer.
  EXPECT_EQ(missing, model.records.size()) << failures.size() << " failures reported";
}

// Record adds take a few milliseconds (one synced write), so kills come soon.
TEST_F(LocalCrashTest, RecordAdd) { RunTrials({"record-add", 150, 0, 10}); }
TEST_F(LocalCrashTest, RecordEdit) { RunTrials({"record-edit", 150, 5, 10}); }
// Attachments of up to 3 MiB stream in 1 MiB chunks: longer operations, later kills.
TEST_F(LocalCrashTest, AttachmentAdd) { RunTrials({"attachment-add", 800, 3, 5}); }

}  // namespace
}  // namespace evault::crash_test
