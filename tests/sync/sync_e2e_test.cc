// End to end: a real evault-server on loopback over TLS (certificates made by
// deploy/make-certs.sh) and the real evault binary as two devices.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"
#include "tests/sync/server_process.h"

namespace evault::sync_test {
namespace {

using cli_test::RunEvault;
using cli_test::RunOptions;
using cli_test::RunResult;
using nlohmann::json;

using cli_test::Device;

std::string FirstWord(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }

// Writes `size` pseudo-random bytes with `marker` at the start, streaming.
void WriteFile(const fs::path& path, std::size_t size, const std::string& marker, unsigned seed) {
  std::ofstream out(path, std::ios::binary);
  out << marker;
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> block(1 << 16);
  std::size_t written = marker.size();
  while (written < size) {
    for (auto& w : block) w = rng();
    const std::size_t n = std::min(size - written, block.size() * 8);
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    written += n;
  }
}

std::uint64_t UploadedChunks(const std::string& sync_output) {
  std::smatch m;
  static const std::regex re(R"(pushed \d+ objects \((\d+) chunks)");
  return std::regex_search(sync_output, m, re) ? std::stoull(m[1]) : UINT64_MAX;
}

// Bytes in the regular files under `dir` now; files that vanish while it counts (a
// running server's flushes and compactions) count as empty.
std::uintmax_t BytesUnder(const fs::path& dir) {
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    const std::uintmax_t size = it->is_regular_file(size_ec) ? it->file_size(size_ec) : 0;
    if (!size_ec) bytes += size;
  }
  return bytes;
}

// Blocks (up to a minute) until the server's data directory holds more than `bytes`: the
// upload under way has reached it. A condition, not a time: a 128 MiB push can end within
// half a second.
void WaitUntilServerHolds(const fs::path& data_dir, std::uintmax_t bytes) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (BytesUnder(data_dir) <= bytes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Every regular file under `dir` that contains `needle`.
std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (cli_test::ReadFile(entry.path()).find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cli_test::MakeTempDir("evault-sync");
    server_ = std::make_unique<ServerProcess>(dir_ / "server");
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    a_ = Device::Make(dir_, "a");
    b_ = Device::Make(dir_, "b");
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "server log:\n" << server_->log() << "\n";
    server_.reset();
    fs::remove_all(dir_);
  }

  // A creates the vault on the server; B joins as a coordinator.
  void EnrollBoth() {
    ASSERT_EQ(a_.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}).exit_code, 0);
    auto enrolled = a_.Ev({"sync", "--server", server_->address(), "--ca-file", server_->ca_file().string(),
                           "--enroll-token", server_->enroll_token()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe();
    auto invite = a_.Ev({"member", "invite", "--role", "coordinator"});
    ASSERT_EQ(invite.exit_code, 0) << invite.Describe();
    const std::string code = FirstWord(invite.out);
    ASSERT_TRUE(code.starts_with("evault1/")) << invite.out;
    auto joined = b_.Ev({"init", "--join", code, "--ca-file", server_->ca_file().string(), "--kdf-ops", "2",
                         "--kdf-memory-mib", "64"});
    ASSERT_EQ(joined.exit_code, 0) << joined.Describe();
    b_id_ = FirstWord(joined.out);
    auto early = b_.Ev({"sync"});
    ASSERT_EQ(early.exit_code, 0) << early.Describe();
    EXPECT_NE(early.out.find("waiting for admission"), std::string::npos) << early.out;
    auto admit = a_.Ev({"sync"});
    ASSERT_EQ(admit.exit_code, 0) << admit.Describe();
    EXPECT_NE(admit.out.find("admitted " + b_id_), std::string::npos) << admit.out;
    auto arrive = b_.Ev({"sync"});
    ASSERT_EQ(arrive.exit_code, 0) << arrive.Describe();
    EXPECT_NE(arrive.out.find("now a member"), std::string::npos) << arrive.out;
  }

  std::string NewCase(const Device& d, const std::string& title) {
    auto r = d.Ev({"case", "new", "--title", title});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return FirstWord(r.out);
  }
  std::string AddRecord(const Device& d, const std::string& case_id, const json& record) {
    auto r = d.Ev({"record", "add", "--case", case_id, "--json", "-"}, {.stdin_data = record.dump()});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return FirstWord(r.out);
  }
  RunResult Edit(const Device& d, const std::string& record_id, const json& record) {
    return d.Ev({"record", "edit", record_id, "--json", "-"}, {.stdin_data = record.dump()});
  }
  json Show(const Device& d, const std::string& record_id) {
    auto r = d.Ev({"record", "show", record_id, "--history", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return json::parse(r.out, nullptr, false);
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  Device a_, b_;
  std::string b_id_;
};

TEST_F(SyncTest, TwoDevicesConvergeAndTheServerHoldsNoPlaintext) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  const std::string marker = "SYNCMARKERqz81 Жасырын";
  const std::string case_id = NewCase(a_, "Case " + marker);
  const std::string record_id = AddRecord(a_, case_id, {{"kind", "detention"}, {"title", "Detained " + marker},
                                                        {"narrative", "Narrative " + marker}});
  ASSERT_EQ(Edit(a_, record_id, {{"kind", "detention"}, {"title", "Detained (updated) " + marker}}).exit_code, 0);
  const fs::path original = dir_ / "a" / ("video-" + std::string("SYNCFILEMARKER") + ".bin");
  WriteFile(original, 100u << 20 | 12345, "ATTACHMARKERzz91", 7);
  auto attached = a_.Ev({"attach", "add", "--record", record_id, original.string()});
  ASSERT_EQ(attached.exit_code, 0) << attached.Describe();
  const std::string attachment_id = FirstWord(attached.out);
  const std::string sha256 = attached.out.substr(attachment_id.size() + 1, 64);

  auto pushed = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.Describe();
  EXPECT_EQ(UploadedChunks(pushed.out), 101u) << pushed.out;
  auto pulled = b_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.Describe();

  // Everything arrived, identical.
  const json on_a = Show(a_, record_id), on_b = Show(b_, record_id);
  ASSERT_TRUE(on_b.is_object());
  EXPECT_EQ(on_a["heads"], on_b["heads"]);
  EXPECT_EQ(on_a["history"], on_b["history"]);
  EXPECT_EQ(on_b["history"].size(), 2u);
  EXPECT_EQ(a_.Ev({"case", "list"}).out, b_.Ev({"case", "list"}).out);
  EXPECT_EQ(a_.Ev({"search", "updated"}).out, b_.Ev({"search", "updated"}).out);
  const fs::path restored = dir_ / "b" / "restored.bin";
  auto got = b_.Ev({"attach", "get", attachment_id, "--out", restored.string()}, {.timeout = std::chrono::minutes(2)});
  ASSERT_EQ(got.exit_code, 0) << got.Describe();
  EXPECT_EQ(cli_test::Sha256Hex(cli_test::ReadFile(restored)), sha256);
  fs::remove(restored);

  // Both devices list the same two members with the same fingerprints.
  auto members_a = a_.Ev({"member", "list", "--json"}), members_b = b_.Ev({"member", "list", "--json"});
  const json ja = json::parse(members_a.out), jb = json::parse(members_b.out);
  ASSERT_EQ(ja.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(ja[i]["id"], jb[i]["id"]);
    EXPECT_EQ(ja[i]["fingerprint"], jb[i]["fingerprint"]);
    EXPECT_EQ(ja[i]["role"], jb[i]["role"]);
  }

  // The server's data directory holds none of it in the clear.
  server_->Stop();
  for (const std::string& needle : {std::string("SYNCMARKERqz81"), std::string("Жасырын"), std::string("ATTACHMARKERzz91"),
                                   std::string("SYNCFILEMARKER"), std::string("passphrase of device")}) {
    EXPECT_EQ(FilesContaining(server_->data_dir(), needle), std::vector<std::string>()) << needle;
  }
}

TEST_F(SyncTest, ConcurrentEditsBecomeAVisibleConflictUntilMerged) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  const std::string case_id = NewCase(a_, "Conflict case");
  const std::string record_id = AddRecord(a_, case_id, {{"kind", "trial"}, {"title", "original"}});
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(b_.Ev({"sync"}).exit_code, 0);
  // Both edit the same revision while apart.
  ASSERT_EQ(Edit(a_, record_id, {{"kind", "trial"}, {"title", "edited in office A"}}).exit_code, 0);
  ASSERT_EQ(Edit(b_, record_id, {{"kind", "trial"}, {"title", "edited in office B"}}).exit_code, 0);
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(b_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  for (const Device* d : {&a_, &b_}) {
    const json shown = Show(*d, record_id);
    EXPECT_TRUE(shown["conflict"].get<bool>());
    ASSERT_EQ(shown["heads"].size(), 2u);
    std::set<std::string> titles = {shown["heads"][0]["record"]["title"], shown["heads"][1]["record"]["title"]};
    EXPECT_EQ(titles, (std::set<std::string>{"edited in office A", "edited in office B"}));
    EXPECT_NE(d->Ev({"record", "show", record_id}).out.find("CONFLICT"), std::string::npos);
    EXPECT_NE(d->Ev({"record", "list"}).out.find("[CONFLICT]"), std::string::npos);
  }
  // A merge names both heads as parents and ends the conflict everywhere.
  ASSERT_EQ(Edit(a_, record_id, {{"kind", "trial"}, {"title", "merged"}}).exit_code, 0);
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(b_.Ev({"sync"}).exit_code, 0);
  const json merged = Show(b_, record_id);
  EXPECT_FALSE(merged["conflict"].get<bool>());
  EXPECT_EQ(merged["heads"][0]["record"]["title"], "merged");
  EXPECT_EQ(merged["heads"][0]["parents"].size(), 2u);
  EXPECT_EQ(merged["history"].size(), 4u);
}

TEST_F(SyncTest, ClientKilledMidUploadResumesWithoutResendingChunks) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  const std::string record_id = AddRecord(a_, NewCase(a_, "Upload case"), {{"kind", "video"}, {"title", "march"}});
  const fs::path original = dir_ / "a" / "march.bin";
  WriteFile(original, 160u << 20, "", 11);
  ASSERT_EQ(a_.Ev({"attach", "add", "--record", record_id, original.string()}).exit_code, 0);
  // Kill the client once the server holds part of the upload.
  auto killed = a_.Ev({"sync"}, {.on_started = [&](pid_t pid) {
                                   WaitUntilServerHolds(server_->data_dir(), 48u << 20);
                                   ::kill(pid, SIGKILL);  // not reaped before RunProgram waits: never a recycled pid
                                 }});
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
  auto resumed = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.Describe();
  const auto resent = UploadedChunks(resumed.out);
  EXPECT_LT(resent, 160u - 16u) << "completed chunks were sent again: " << resumed.out;
  EXPECT_GT(resent, 0u);
  ASSERT_EQ(b_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)}).exit_code, 0);
  auto listed = b_.Ev({"attach", "list", "--record", record_id});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find(cli_test::Sha256Hex(cli_test::ReadFile(original))), std::string::npos) << listed.out;
}

TEST_F(SyncTest, ServerKilledMidUploadLosesNothingAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  const std::string case_id = NewCase(a_, "Durability case");
  const std::string first = AddRecord(a_, case_id, {{"kind", "note"}, {"title", "acknowledged before the crash"}});
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);  // acknowledged
  const std::string record_id = AddRecord(a_, case_id, {{"kind", "video"}, {"title", "during the crash"}});
  const fs::path original = dir_ / "a" / "big.bin";
  WriteFile(original, 128u << 20, "", 5);
  ASSERT_EQ(a_.Ev({"attach", "add", "--record", record_id, original.string()}).exit_code, 0);
  // Killed once the server holds part of the attachment (24 of 128 MiB).
  const std::uintmax_t before = BytesUnder(server_->data_dir());
  auto interrupted = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(2), .on_started = [&](pid_t) {
                                        WaitUntilServerHolds(server_->data_dir(), before + (24u << 20));
                                        server_->Kill();
                                      }});
  EXPECT_NE(interrupted.exit_code, 0) << interrupted.Describe();
  std::string error;
  ASSERT_TRUE(server_->Start(&error)) << error;
  auto again = a_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  ASSERT_EQ(b_.Ev({"sync"}, {.timeout = std::chrono::minutes(3)}).exit_code, 0);
  EXPECT_EQ(Show(b_, first)["heads"][0]["record"]["title"], "acknowledged before the crash");
  auto listed = b_.Ev({"attach", "list", "--record", record_id});
  EXPECT_NE(listed.out.find(cli_test::Sha256Hex(cli_test::ReadFile(original))), std::string::npos) << listed.out;
}

TEST_F(SyncTest, ServerIsVerifiedByItsCaOrAPinnedFingerprint) {
  ASSERT_EQ(a_.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}).exit_code, 0);
  // A server certificate from another CA is refused.
  const fs::path other = dir_ / "other-ca";
  ASSERT_EQ(cli_test::RunProgram("/bin/bash", {std::string(EVAULT_SOURCE_DIR) + "/deploy/make-certs.sh", other.string()})
                .exit_code,
            0);
  auto wrong_ca = a_.Ev({"sync", "--server", server_->address(), "--ca-file", (other / "ca.pem").string(),
                         "--enroll-token", server_->enroll_token()});
  EXPECT_NE(wrong_ca.exit_code, 0) << wrong_ca.Describe();
  // A wrong pin is refused.
  auto wrong_pin = a_.Ev({"sync", "--server", server_->address(), "--server-fingerprint", std::string(64, 'a'),
                          "--enroll-token", server_->enroll_token()});
  EXPECT_NE(wrong_pin.exit_code, 0) << wrong_pin.Describe();
  // The right pin, in openssl's own notation, is accepted (no CA needed).
  auto printed = cli_test::RunProgram("/usr/bin/openssl", {"x509", "-in", server_->cert_file().string(), "-noout",
                                                           "-fingerprint", "-sha256"});
  ASSERT_EQ(printed.exit_code, 0) << printed.Describe();
  const std::string pin = printed.out.substr(printed.out.find('=') + 1, 95);
  auto pinned = a_.Ev({"sync", "--server", server_->address(), "--server-fingerprint", pin, "--enroll-token",
                       server_->enroll_token()});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.Describe();
  auto again = a_.Ev({"sync"});  // the pin is remembered
  EXPECT_EQ(again.exit_code, 0) << again.Describe();
}

TEST_F(SyncTest, SyncWithNothingNewChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  AddRecord(a_, NewCase(a_, "quiet"), {{"kind", "note"}, {"title", "one"}});
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(b_.Ev({"sync"}).exit_code, 0);
  ASSERT_EQ(a_.Ev({"sync"}).exit_code, 0);
  auto quiet = a_.Ev({"sync"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.Describe();
  EXPECT_NE(quiet.out.find("pushed 0 objects (0 chunks"), std::string::npos) << quiet.out;
  // Checkpoints are not news: once both have seen everything, neither keeps answering
  // the other's checkpoint with one of its own.
  ASSERT_EQ(b_.Ev({"sync"}).exit_code, 0);
  for (int round = 0; round < 2; ++round) {
    for (const Device* d : {&a_, &b_}) {
      auto settled = d->Ev({"sync"});
      ASSERT_EQ(settled.exit_code, 0) << settled.Describe();
      EXPECT_NE(settled.out.find("pulled 0 objects"), std::string::npos) << "round " << round << ": " << settled.out;
    }
  }
  auto status = a_.Ev({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0);
  EXPECT_EQ(json::parse(status.out)["unsynced_objects"], 0);
}

}  // namespace
}  // namespace evault::sync_test
