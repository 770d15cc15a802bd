// evault-server with its data directory on a tiny tmpfs: a device pushes records and
// attachments until the server's disk is full. The pushing client must get a clear error
// (the server's disk is full, not "the server failed"), the server must keep serving
// reads (a second device pulls everything acknowledged), shut down cleanly, and after
// a restart with space freed nothing acknowledged is lost and pushing works again.
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"
#include "tests/fault/mount.h"
#include "tests/sync/server_process.h"

namespace evault::sync_test {
namespace {

using cli_test::RunEvault;
using cli_test::RunOptions;
using cli_test::RunResult;
using nlohmann::json;

using cli_test::Device;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class ServerDiskFullTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kDisk = 12u << 20;

  void SetUp() override {
    dir_ = cli_test::MakeTempDir("evault-fault-server");
    server_ = std::make_unique<ServerProcess>(dir_ / "server");
    disk_ = std::make_unique<fault_test::ScopedTmpfs>(server_->data_dir(), kDisk);
    if (!disk_->ok()) GTEST_SKIP() << disk_->reason();
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    a_ = Device::Make(dir_, "a");
    b_ = Device::Make(dir_, "b");
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "server log:\n" << server_->log() << "\n";
    server_.reset();  // the server first: it holds files on the tmpfs
    disk_.reset();
    fs::remove_all(dir_);
  }

  // A founds the vault on the server; B joins as a coordinator (it reads everything).
  void EnrollBoth() {
    ASSERT_TRUE(cli_test::Succeeded(a_.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"})));
    ASSERT_TRUE(cli_test::Succeeded(a_.Ev({"sync", "--server", server_->address(), "--ca-file",
                                           server_->ca_file().string(), "--enroll-token", server_->enroll_token()})));
    auto invite = a_.Ev({"member", "invite", "--role", "coordinator"});
    ASSERT_TRUE(cli_test::Succeeded(invite));
    auto joined = b_.Ev({"init", "--join", cli_test::FirstWord(invite.out), "--ca-file", server_->ca_file().string(),
                         "--kdf-ops", "2", "--kdf-memory-mib", "64"});
    ASSERT_TRUE(cli_test::Succeeded(joined));
    ASSERT_TRUE(cli_test::Succeeded(b_.Ev({"sync"})));
    ASSERT_TRUE(cli_test::Succeeded(a_.Ev({"sync"})));
    ASSERT_TRUE(cli_test::Succeeded(b_.Ev({"sync"})));
  }

  // Record ids `d` lists, and the SHA-256 of each attachment it restores.
  std::set<std::string> Records(const Device& d) {
    auto r = d.Ev({"record", "list", "--json"});
    std::set<std::string> ids;
    const json j = json::parse(r.out, nullptr, false);
    if (!j.is_array()) return ids;
    for (const auto& e : j) ids.insert(e.value("id", ""));
    return ids;
  }
  std::string RestoredSha(const Device& d, const std::string& attachment_id) {
    const fs::path out = dir_ / ("restored-" + attachment_id);
    auto r = d.Ev({"attach", "get", attachment_id, "--out", out.string()});
    const std::string sha = r.exit_code == 0 ? cli_test::Sha256Hex(cli_test::ReadFile(out)) : "error: " + r.err;
    fs::remove(out);
    return sha;
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<fault_test::ScopedTmpfs> disk_;
  Device a_, b_;
};

TEST_F(ServerDiskFullTest, ClientGetsAClearErrorServerKeepsServingNothingAcknowledgedIsLost) {
  const auto start = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  auto case_new = a_.Ev({"case", "new", "--title", "Server disk case"});
  ASSERT_TRUE(cli_test::Succeeded(case_new));
  const std::string case_id = cli_test::FirstWord(case_new.out);

  // Push a record and a 1 MiB attachment per round until the server's disk refuses.
  std::set<std::string> acked_records, pending_records;
  std::map<std::string, std::string> acked_attachments, pending_attachments;  // id -> sha256
  RunResult refused;
  int rounds = 0, syncs_ok = 0;
  for (; rounds < 40; ++rounds) {
    auto rec = a_.Ev({"record", "add", "--case", case_id, "--json", "-"},
                     {.stdin_data = cli_test::SimpleRecord(fmt::format("round {}", rounds)).dump()});
    ASSERT_TRUE(cli_test::Succeeded(rec));
    pending_records.insert(cli_test::FirstWord(rec.out));
    const fs::path file = dir_ / fmt::format("video-{}.mp4", rounds);
    cli_test::WriteFile(file, cli_test::RandomBytes(1u << 20));
    auto att = a_.Ev({"attach", "add", "--record", cli_test::FirstWord(rec.out), file.string()});
    ASSERT_TRUE(cli_test::Succeeded(att));
    pending_attachments[cli_test::FirstWord(att.out)] = cli_test::Sha256Hex(cli_test::ReadFile(file));
    fs::remove(file);
    auto sync = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(2)});
    if (sync.exit_code != 0) {
      refused = sync;
      break;
    }
    ++syncs_ok;
    acked_records.merge(pending_records);
    acked_attachments.merge(pending_attachments);
    pending_records.clear();
    pending_attachments.clear();
  }
  ASSERT_NE(refused.exit_code, -1) << "the server's disk never filled up in " << rounds << " rounds";
  fmt::print("server on a {} MiB tmpfs: {} syncs acknowledged ({} records, {} attachments), then: exit {}: {}",
             kDisk >> 20, syncs_ok, acked_records.size(), acked_attachments.size(), refused.exit_code, refused.err);
  EXPECT_TRUE(cli_test::IsCleanError(refused)) << refused.Describe();
  EXPECT_FALSE(refused.timed_out) << "the push hung on a full server disk";

  // The server keeps serving: B pulls everything A got acknowledged. (B's own sync may
  // fail afterwards, writing its checkpoint to the full server; the pull came first.)
  auto pulled = b_.Ev({"sync"}, {.timeout = std::chrono::minutes(2)});
  fmt::print("  device B pulls from the full server: exit {}{}", pulled.exit_code,
             pulled.exit_code == 0 ? "\n" : ": " + pulled.err);
  const auto on_b = Records(b_);
  for (const auto& id : acked_records) EXPECT_TRUE(on_b.contains(id)) << "B cannot pull acknowledged record " << id;
  for (const auto& [id, sha] : acked_attachments) EXPECT_EQ(RestoredSha(b_, id), sha) << "attachment " << id;

  // A graceful stop, then a restart on the still-full disk, then with space freed.
  EXPECT_EQ(server_->Stop(), 0) << "the server did not shut down cleanly after its disk filled";
  std::string error;
  const bool restarted_full = server_->Start(&error);
  fmt::print("  restart on the full disk: {}\n", restarted_full ? "listening" : "refused: " + error.substr(0, 300));
  if (restarted_full) server_->Stop();
  ASSERT_TRUE(disk_->Resize(kDisk * 8, &error)) << error;
  ASSERT_TRUE(server_->Start(&error)) << "no restart after freeing space: " << error;

  // Nothing acknowledged lost; the rest is pushed now.
  auto again = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(2)});
  EXPECT_TRUE(cli_test::Succeeded(again)) << "pushing after space was freed";
  auto pulled_again = b_.Ev({"sync"}, {.timeout = std::chrono::minutes(2)});
  EXPECT_TRUE(cli_test::Succeeded(pulled_again));
  const auto on_b_after = Records(b_);
  acked_records.merge(pending_records);
  acked_attachments.merge(pending_attachments);
  for (const auto& id : acked_records) EXPECT_TRUE(on_b_after.contains(id)) << "record " << id << " lost";
  for (const auto& [id, sha] : acked_attachments) EXPECT_EQ(RestoredSha(b_, id), sha) << "attachment " << id;
  EXPECT_EQ(on_b_after, Records(a_));
  fmt::print("  after freeing space: A pushed the rest, B holds all {} records and {} attachments ({:.1f} s)\n",
             acked_records.size(), acked_attachments.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// A monitor must be able to tell that the server is out of disk (an operator's problem,
// nothing to retry soon) from a server bug: the server answers RESOURCE_EXHAUSTED "out of
// storage space" and the client prints it. (Found by the test above: every storage
// failure used to reach the client as INTERNAL "the server failed".)
TEST_F(ServerDiskFullTest, PushToAFullServerSaysTheServerIsOutOfSpace) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  auto case_new = a_.Ev({"case", "new", "--title", "Server disk case"});
  ASSERT_TRUE(cli_test::Succeeded(case_new));
  RunResult refused;
  for (int round = 0; round < 40 && refused.exit_code == -1; ++round) {
    auto rec = a_.Ev({"record", "add", "--case", cli_test::FirstWord(case_new.out), "--json", "-"},
                     {.stdin_data = cli_test::SimpleRecord(fmt::format("round {}", round)).dump()});
    ASSERT_TRUE(cli_test::Succeeded(rec));
    const fs::path file = dir_ / "video.mp4";
    cli_test::WriteFile(file, cli_test::RandomBytes(1u << 20));
    ASSERT_TRUE(cli_test::Succeeded(a_.Ev({"attach", "add", "--record", cli_test::FirstWord(rec.out), file.string()})));
    fs::remove(file);
    auto sync = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(2)});
    if (sync.exit_code != 0) refused = sync;
  }
  ASSERT_NE(refused.exit_code, -1) << "the server's disk never filled up";
  const std::string err = Lower(refused.err);
  EXPECT_TRUE(err.find("space") != std::string::npos || err.find("full") != std::string::npos)
      << "a monitor cannot tell the server's disk is full: " << refused.err;
  EXPECT_NE(server_->log().find("No space left on device"), std::string::npos)
      << "the server's log does not name the full disk either";
}

}  // namespace
}  // namespace evault::sync_test
