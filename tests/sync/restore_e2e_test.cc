// A server restored from a backup (issue #8), end to end: a real evault-server over
// TLS with its admin socket, `evault-server admin backup` and `admin restore`, and the
// real evault binary as the devices. Devices find the restored server stale, say so,
// check its history again and send back what it lost, attachments included, so a device
// that joins afterwards gets everything. A server whose files were copied back without
// `admin restore` (a VM snapshot, say) keeps its incarnation, and devices refuse it as a
// rollback.
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"
#include "tests/sync/server_process.h"

namespace evault::sync_test {
namespace {

using cli_test::Device;
using cli_test::RunProgram;
using cli_test::RunResult;

std::string FirstWord(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }

void WriteRandomFile(const fs::path& path, std::size_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << bytes;
}

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cli_test::MakeTempDir("evault-restore");
    socket_ = dir_ / "admin.sock";
    server_ = std::make_unique<ServerProcess>(dir_ / "server", std::vector<std::string>{"--admin-socket", socket_.string()});
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    a_ = Device::Make(dir_, "a");
    b_ = Device::Make(dir_, "b");
    d_ = Device::Make(dir_, "d");
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "server log:\n" << server_->log() << "\n";
    server_.reset();
    fs::remove_all(dir_);
  }

  RunResult Admin(const std::vector<std::string>& args) { return RunProgram(EVAULT_SERVER_BINARY, args); }

  RunResult Sync(const Device& device) {
    auto r = device.Ev({"sync"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return r;
  }

  // `joiner` joins with an invite from A, in `role`; A admits it.
  void Join(const Device& joiner, const std::string& role) {
    auto invite = a_.Ev({"member", "invite", "--role", role});
    ASSERT_EQ(invite.exit_code, 0) << invite.Describe();
    auto joined = joiner.Ev({"init", "--join", FirstWord(invite.out), "--ca-file", server_->ca_file().string(),
                             "--kdf-ops", "2", "--kdf-memory-mib", "64"});
    ASSERT_EQ(joined.exit_code, 0) << joined.Describe();
    Sync(joiner);  // files the request
    Sync(a_);      // admits
    auto arrived = Sync(joiner);
    EXPECT_NE(arrived.out.find("now a member"), std::string::npos) << arrived.out;
  }

  std::string AddRecord(const Device& d, const std::string& case_id, const std::string& title) {
    auto r = d.Ev({"record", "add", "--case", case_id, "--json", "-"},
                  {.stdin_data = cli_test::SimpleRecord(title).dump()});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return FirstWord(r.out);
  }

  // `evault-server admin backup` on the running server.
  void Backup(const fs::path& to) {
    auto backed_up = Admin({"admin", "--socket", socket_.string(), "backup", to.string()});
    ASSERT_EQ(backed_up.exit_code, 0) << backed_up.Describe();
  }
  // The server is stopped, `admin restore --replace` puts the backup in place, and it starts again.
  void RestoreBackup(const fs::path& from) {
    ASSERT_EQ(server_->Stop(), 0);
    auto restored = Admin({"admin", "restore", "--from", from.string(), "--data", server_->data_dir().string(),
                           "--replace"});
    ASSERT_EQ(restored.exit_code, 0) << restored.Describe();
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
  }

  void Enroll() {
    ASSERT_EQ(a_.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}).exit_code, 0);
    auto enrolled = a_.Ev({"sync", "--server", server_->address(), "--ca-file", server_->ca_file().string(),
                           "--enroll-token", server_->enroll_token()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe();
  }

  fs::path dir_, socket_;
  std::unique_ptr<ServerProcess> server_;
  Device a_, b_, d_;
};

TEST_F(RestoreTest, DevicesFindTheRestoredServerStaleAndSendBackWhatItLost) {
  ASSERT_NO_FATAL_FAILURE(Enroll());
  ASSERT_NO_FATAL_FAILURE(Join(b_, "coordinator"));
  auto made = a_.Ev({"case", "new", "--title", "Restore case"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  const std::string case_id = FirstWord(made.out);
  const std::string before = AddRecord(a_, case_id, "Detention before the backup RESTOREa1");
  Sync(a_);
  Sync(b_);

  const fs::path backup = dir_ / "backup";
  ASSERT_NO_FATAL_FAILURE(Backup(backup));

  // After the backup: a record and a 3 MiB attachment from A, which B pulls.
  const std::string after = AddRecord(a_, case_id, "Trial after the backup RESTOREa2");
  const fs::path video = dir_ / "video.bin";
  WriteRandomFile(video, (3u << 20) + 4321, 11);
  auto attached = a_.Ev({"attach", "add", "--record", after, video.string()});
  ASSERT_EQ(attached.exit_code, 0) << attached.Describe();
  const std::string attachment_id = FirstWord(attached.out);
  Sync(a_);
  auto pulled = Sync(b_);
  ASSERT_EQ(b_.Ev({"record", "show", after}).exit_code, 0);

  // The disk fails; the operator restores last night's backup.
  ASSERT_NO_FATAL_FAILURE(RestoreBackup(backup));

  // A syncs first: the server is stale, not a liar. A checks its history again and
  // sends back its own objects the server lost, and the attachment's chunks.
  auto a_sync = Sync(a_);
  EXPECT_NE(a_sync.err.find("the server was restored from a backup"), std::string::npos) << a_sync.Describe();
  EXPECT_EQ(a_sync.err.find("sent again 0 "), std::string::npos) << a_sync.Describe();
  EXPECT_NE(a_sync.out.find("(4 chunks, 3.0 MiB), pulled"), std::string::npos)
      << "the attachment was not uploaded again: " << a_sync.Describe();
  EXPECT_EQ(a_sync.err.find("still lacks"), std::string::npos) << a_sync.Describe();

  // B then finds A's objects back as it saw them, and sends back its own (custody
  // entries and checkpoints written after the backup).
  auto b_sync = Sync(b_);
  EXPECT_NE(b_sync.err.find("the server was restored from a backup"), std::string::npos) << b_sync.Describe();
  EXPECT_EQ(b_sync.err.find("still lacks"), std::string::npos) << b_sync.Describe();
  EXPECT_EQ(b_.Ev({"record", "show", after}).exit_code, 0);

  // B's next sync finds nothing missing; a restore is reported once.
  auto b_again = Sync(b_);
  EXPECT_EQ(b_again.err.find("restored"), std::string::npos) << b_again.Describe();

  // A device that joins now gets the whole history from the server, attachment included.
  ASSERT_NO_FATAL_FAILURE(Join(d_, "coordinator"));
  auto shown = d_.Ev({"record", "show", after});
  ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_NE(shown.out.find("RESTOREa2"), std::string::npos);
  EXPECT_EQ(d_.Ev({"record", "show", before}).exit_code, 0);
  const fs::path copy = dir_ / "video.copy";
  auto got = d_.Ev({"attach", "get", attachment_id, "--out", copy.string()});
  ASSERT_EQ(got.exit_code, 0) << got.Describe();
  EXPECT_EQ(cli_test::ReadFile(copy), cli_test::ReadFile(video));
}

TEST_F(RestoreTest, FilesCopiedBackWithoutAdminRestoreAreRefusedAsRollback) {
  ASSERT_NO_FATAL_FAILURE(Enroll());
  auto made = a_.Ev({"case", "new", "--title", "Snapshot case"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  const std::string case_id = FirstWord(made.out);
  AddRecord(a_, case_id, "Before the snapshot");
  Sync(a_);
  // A snapshot of the server's files, taken while it is stopped.
  ASSERT_EQ(server_->Stop(), 0);
  const fs::path snapshot = dir_ / "snapshot";
  fs::copy(server_->data_dir(), snapshot, fs::copy_options::recursive);
  std::string error;
  ASSERT_TRUE(server_->Start(&error)) << error;
  AddRecord(a_, case_id, "After the snapshot");
  Sync(a_);

  // The files are put back as they were: same incarnation, shorter history.
  ASSERT_EQ(server_->Stop(), 0);
  fs::remove_all(server_->data_dir());
  fs::copy(snapshot, server_->data_dir(), fs::copy_options::recursive);
  ASSERT_TRUE(server_->Start(&error)) << error;
  auto refused = a_.Ev({"sync"});
  EXPECT_NE(refused.exit_code, 0) << refused.Describe();
  EXPECT_NE(refused.err.find("rolled back"), std::string::npos) << refused.Describe();
  // Marking it restored (what `admin restore` does) is the operator's statement that
  // it is: then devices check it again and catch it up.
  ASSERT_EQ(server_->Stop(), 0);
  auto marked = Admin({"admin", "mark-restored", "--data", server_->data_dir().string()});
  ASSERT_EQ(marked.exit_code, 0) << marked.Describe();
  ASSERT_TRUE(server_->Start(&error)) << error;
  auto caught_up = Sync(a_);
  EXPECT_NE(caught_up.err.find("the server was restored from a backup"), std::string::npos) << caught_up.Describe();
  EXPECT_EQ(caught_up.err.find("sent again 0 "), std::string::npos) << caught_up.Describe();
}

// A monitor purges what the server acknowledged; the server then loses it in a restore.
// The owner, which pulled it, sends it back on the monitor's behalf (a relay: signed by
// the monitor, checked by the server and every device as if the monitor sent it).
TEST_F(RestoreTest, WhatAMonitorPurgedIsSentBackByTheOwner) {
  ASSERT_NO_FATAL_FAILURE(Enroll());
  Device& monitor = b_;
  ASSERT_NO_FATAL_FAILURE(Join(monitor, "monitor"));
  ASSERT_EQ(monitor.Ev({"purge", "--auto", "on"}).exit_code, 0);
  const fs::path backup = dir_ / "backup";
  ASSERT_NO_FATAL_FAILURE(Backup(backup));

  // After the backup: the monitor documents a detention with a photo, syncs, purges.
  auto made = monitor.Ev({"case", "new", "--title", "Monitor case RELAYc1"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  const std::string record = AddRecord(monitor, FirstWord(made.out), "Detention seen by the monitor RELAYr1");
  const fs::path photo = dir_ / "photo.bin";
  WriteRandomFile(photo, (1u << 20) + 77, 5);
  auto attached = monitor.Ev({"attach", "add", "--record", record, photo.string()});
  ASSERT_EQ(attached.exit_code, 0) << attached.Describe();
  const std::string attachment_id = FirstWord(attached.out);
  auto purged = Sync(monitor);
  ASSERT_NE(purged.out.find("purged"), std::string::npos) << purged.Describe();
  ASSERT_NE(monitor.Ev({"record", "show", record}).exit_code, 0) << "the monitor still holds what it purged";
  Sync(a_);  // the owner pulls the record and the photo
  ASSERT_EQ(a_.Ev({"record", "show", record}).exit_code, 0);

  ASSERT_NO_FATAL_FAILURE(RestoreBackup(backup));

  // The monitor first: it cannot send back what it purged, and says so.
  auto stuck = monitor.Ev({"sync"});
  EXPECT_NE(stuck.exit_code, 0) << stuck.Describe();
  EXPECT_NE(stuck.err.find("purged here after their upload"), std::string::npos) << stuck.Describe();

  // The owner sends the monitor's objects back, photo chunks included.
  auto relayed = Sync(a_);
  EXPECT_NE(relayed.err.find("sent back"), std::string::npos) << relayed.Describe();
  EXPECT_EQ(relayed.err.find("still lacks"), std::string::npos) << relayed.Describe();
  EXPECT_NE(relayed.out.find("(2 chunks, 1.0 MiB), pulled"), std::string::npos) << relayed.Describe();

  // The monitor syncs again and writes on.
  auto resumed = Sync(monitor);
  EXPECT_EQ(resumed.err.find("still lacks"), std::string::npos) << resumed.Describe();
  auto more = monitor.Ev({"case", "new", "--title", "Monitor case after the restore"});
  ASSERT_EQ(more.exit_code, 0) << more.Describe();
  Sync(monitor);

  // A coordinator that joins now reads the monitor's record and photo from the server.
  ASSERT_NO_FATAL_FAILURE(Join(d_, "coordinator"));
  auto shown = d_.Ev({"record", "show", record});
  ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_NE(shown.out.find("RELAYr1"), std::string::npos);
  const fs::path copy = dir_ / "photo.copy";
  auto got = d_.Ev({"attach", "get", attachment_id, "--out", copy.string()});
  ASSERT_EQ(got.exit_code, 0) << got.Describe();
  EXPECT_EQ(cli_test::ReadFile(copy), cli_test::ReadFile(photo));
}

}  // namespace
}  // namespace evault::sync_test
