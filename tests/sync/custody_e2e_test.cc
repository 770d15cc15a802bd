// The custody log across devices (issue #5), end to end: a real evault-server over TLS
// on loopback and the real evault binary as an owner, a monitor, a legal device and a
// coordinator. Every device's custody entries are synced like evidence: the legal
// device's views and export reach the owner and the coordinator (who see the whole
// organisation's custody history); a bundle the legal device exports carries the
// entries of every device that touched the case and verifies offline; membership
// changes and grants are logged; syncing again and again does not keep logging; and a
// monitor's purge leaves a log that still verifies and resumes where it was cut.
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/core.h>
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

constexpr char kKdfOps[] = "2";
constexpr char kKdfMib[] = "64";

struct Device {
  std::string name;
  std::string role;
  fs::path home, vault, pass;
  std::string id;
  RunResult Ev(std::vector<std::string> args, const RunOptions& options = {}) const {
    args.insert(args.begin(), {"--vault", vault.string(), "--passphrase-file", pass.string()});
    return RunEvault(args, options);
  }
};

std::string FirstWord(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }
bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

Device NewDevice(const fs::path& dir, const std::string& name, const std::string& role) {
  Device d;
  d.name = name;
  d.role = role;
  d.home = dir / name;
  d.vault = d.home / "vault";
  d.pass = d.home / "pass";
  fs::create_directories(d.home);
  cli_test::WriteFile(d.pass, "passphrase of device " + name);
  return d;
}

class CustodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cli_test::MakeTempDir("evault-custody");
    server_ = std::make_unique<ServerProcess>(dir_ / "server");
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    owner_ = NewDevice(dir_, "owner", "owner");
    monitor_ = NewDevice(dir_, "monitor", "monitor");
    legal_ = NewDevice(dir_, "legal", "legal");
    coord_ = NewDevice(dir_, "coord", "coordinator");

    auto created = owner_.Ev({"init", "--kdf-ops", kKdfOps, "--kdf-memory-mib", kKdfMib});
    ASSERT_EQ(created.exit_code, 0) << created.Describe();
    owner_.id = FirstWord(created.out);
    auto enrolled = owner_.Ev({"sync", "--server", server_->address(), "--ca-file", server_->ca_file().string(),
                               "--enroll-token", server_->enroll_token()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe();
    for (Device* d : {&monitor_, &legal_, &coord_}) {
      auto invite = owner_.Ev({"member", "invite", "--role", d->role});
      const auto lines = cli_test::Lines(invite.out);
      ASSERT_TRUE(invite.exit_code == 0 && !lines.empty() && lines.back().starts_with("evault1/")) << invite.Describe();
      auto joined = d->Ev({"init", "--join", lines.back(), "--ca-file", server_->ca_file().string(), "--kdf-ops",
                           kKdfOps, "--kdf-memory-mib", kKdfMib});
      ASSERT_EQ(joined.exit_code, 0) << d->name << ": " << joined.Describe();
      d->id = FirstWord(joined.out);
      ASSERT_TRUE(cli_test::IsId(d->id)) << joined.out;
    }
    ASSERT_TRUE(Sync(owner_));  // admits the three
    for (Device* d : {&monitor_, &legal_, &coord_}) ASSERT_TRUE(Sync(*d));
  }

  void TearDown() override {
    if (HasFailure() && server_) {
      const std::string log = server_->log();
      std::cerr << "server log (tail):\n" << (log.size() > 3000 ? log.substr(log.size() - 3000) : log) << "\n";
    }
    if (server_) server_->Stop();
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ::testing::AssertionResult Sync(const Device& d) {
    auto r = d.Ev({"sync"});
    if (r.exit_code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << d.name << " sync: " << r.Describe();
  }
  ::testing::AssertionResult AuditVerify(const Device& d) {
    auto r = d.Ev({"audit", "verify"});
    if (r.exit_code == 0 && Contains(r.out, "custody log verified")) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << d.name << " audit verify: " << r.Describe();
  }

  std::string NewCase(const Device& d, const std::string& title) {
    auto r = d.Ev({"case", "new", "--title", title});
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    return FirstWord(r.out);
  }
  std::string AddRecord(const Device& d, const std::string& case_id, const std::string& title) {
    const json record = {{"kind", "detention"}, {"title", title}, {"narrative", "narrative of " + title}};
    auto r = d.Ev({"record", "add", "--case", case_id, "--json", "-"}, {.stdin_data = record.dump()});
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    return FirstWord(r.out);
  }

  // `audit log --json` (of one case, or every log the device holds), each line parsed.
  std::vector<json> Log(const Device& d, const std::optional<std::string>& case_id = std::nullopt) {
    std::vector<std::string> args = {"audit", "log", "--json"};
    if (case_id) args.insert(args.end(), {"--case", *case_id});
    auto r = d.Ev(args);
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    std::vector<json> out;
    for (const auto& line : cli_test::Lines(r.out)) {
      json e = json::parse(line, nullptr, false);
      EXPECT_TRUE(e.is_object() && e.contains("sig")) << d.name << ": " << line;
      out.push_back(std::move(e));
    }
    return out;
  }

  static std::vector<json> By(const std::vector<json>& entries, const std::string& device,
                              const std::string& action = "") {
    std::vector<json> out;
    for (const auto& e : entries) {
      if (e.value("device", "") == device && (action.empty() || e.value("action", "") == action)) out.push_back(e);
    }
    return out;
  }
  static std::string Describe(const std::vector<json>& entries) {
    std::string out;
    for (const auto& e : entries) {
      out += fmt::format("  {} {} #{} {} {}\n", e.value("stream", "").empty() ? "vault" : e.value("stream", "").substr(0, 8),
                         e.value("device", "").substr(0, 8), e.value("seq", 0), e.value("action", ""),
                         e.value("subject", json::object()).dump());
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
  Device owner_, monitor_, legal_, coord_;
};

TEST_F(CustodyTest, EveryDevicesEntriesReachTheCoordinatorAndTheExportedBundle) {
  // The owner's case and record; a monitor's record in it.
  const std::string case_id = NewCase(owner_, "Custody case CUSTa1");
  const std::string owner_record = AddRecord(owner_, case_id, "Detention OWNERa1");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(monitor_));  // learns the case's key
  const std::string monitor_record = AddRecord(monitor_, case_id, "Detention MONITORa1");
  ASSERT_TRUE(Sync(monitor_));
  ASSERT_TRUE(Sync(owner_));

  // The legal device is granted the case, reads both records and exports the case.
  auto grant = owner_.Ev({"case", "grant", case_id, "--to", legal_.id});
  ASSERT_EQ(grant.exit_code, 0) << grant.Describe();
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(legal_));
  for (const auto& record : {owner_record, monitor_record}) {
    auto shown = legal_.Ev({"record", "show", record});
    ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  }
  const fs::path bag = legal_.home / "bag";
  auto exported = legal_.Ev({"export", "--case", case_id, "--out", bag.string(), "--purpose", "for the court"});
  ASSERT_EQ(exported.exit_code, 0) << exported.Describe();
  static const std::regex signed_by(R"(signed by (SHA256:[A-Za-z0-9+/]{43}) )");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(exported.out, m, signed_by)) << exported.out;
  const std::string fingerprint = m[1];

  // The bundle verifies offline, and its log holds the entries of all three devices.
  auto verified = RunEvault({"verify", bag.string(), "--signer", fingerprint});
  ASSERT_EQ(verified.exit_code, 0) << verified.Describe();
  std::vector<json> bundle_log;
  for (const auto& line : cli_test::Lines(cli_test::ReadFile(bag / "data/custody/custody-log.jsonl"))) {
    bundle_log.push_back(json::parse(line));
  }
  EXPECT_EQ(By(bundle_log, owner_.id, "case-create").size(), 1u) << Describe(bundle_log);
  EXPECT_EQ(By(bundle_log, owner_.id, "record-capture").size(), 1u) << Describe(bundle_log);
  const auto bundle_grants = By(bundle_log, owner_.id, "case-grant");
  ASSERT_EQ(bundle_grants.size(), 1u) << Describe(bundle_log);
  EXPECT_EQ(bundle_grants[0]["subject"]["device"], legal_.id) << "the case-grant entry names another device";
  EXPECT_EQ(By(bundle_log, monitor_.id, "record-capture").size(), 1u) << Describe(bundle_log);
  EXPECT_EQ(By(bundle_log, legal_.id, "record-view").size(), 2u) << Describe(bundle_log);
  EXPECT_EQ(By(bundle_log, legal_.id, "export").size(), 1u) << Describe(bundle_log);
  ASSERT_FALSE(bundle_log.empty());
  EXPECT_EQ(bundle_log.back().value("device", ""), legal_.id);
  EXPECT_EQ(bundle_log.back().value("action", ""), "export");
  // Two revision files, one by each writer.
  std::set<std::string> authors;
  for (const auto& e : fs::recursive_directory_iterator(bag / "data/records")) {
    if (e.is_regular_file()) authors.insert(json::parse(cli_test::ReadFile(e.path()))["author"].get<std::string>());
  }
  EXPECT_EQ(authors, (std::set<std::string>{owner_.id, monitor_.id}));

  // The legal device's views and export reach the owner and the coordinator.
  ASSERT_TRUE(Sync(legal_));
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(coord_));
  for (const Device* reader : {&owner_, &coord_}) {
    SCOPED_TRACE(reader->name);
    const auto log = Log(*reader, case_id);
    const auto views = By(log, legal_.id, "record-view");
    ASSERT_EQ(views.size(), 2u) << Describe(log);
    std::set<std::string> viewed;
    for (const auto& v : views) viewed.insert(v["subject"]["record_id"].get<std::string>());
    EXPECT_EQ(viewed, (std::set<std::string>{owner_record, monitor_record}));
    const auto exports = By(log, legal_.id, "export");
    ASSERT_EQ(exports.size(), 1u) << Describe(log);
    EXPECT_EQ(exports[0]["subject"]["purpose"], "for the court");
    EXPECT_EQ(By(log, monitor_.id, "record-capture").size(), 1u) << Describe(log);
    EXPECT_EQ(By(log, owner_.id, "case-grant").size(), 1u) << Describe(log);
    // The text form shows them too.
    auto text = reader->Ev({"audit", "log", "--case", case_id});
    ASSERT_EQ(text.exit_code, 0) << text.Describe();
    EXPECT_TRUE(Contains(text.out, "device " + legal_.id.substr(0, 8))) << text.out;
  }
  // The grant names the legal device; the owner's vault log holds the invites and
  // admissions (membership) of every joiner.
  const auto owner_case_log = Log(owner_, case_id);
  const auto grants = By(owner_case_log, owner_.id, "case-grant");
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0]["subject"]["device"], legal_.id)
      << "the case-grant entry names another device (owner " << owner_.id << ", monitor " << monitor_.id
      << ", coordinator " << coord_.id << ")";
  EXPECT_EQ(grants[0]["stream"], case_id);
  const auto owner_all = Log(owner_);
  std::vector<json> vault_log;
  for (const auto& e : owner_all) {
    if (e.value("stream", "x").empty()) vault_log.push_back(e);
  }
  std::multiset<std::string> ops;
  std::set<std::string> admitted;
  for (const auto& e : By(vault_log, owner_.id, "membership")) {
    ops.insert(e["subject"].value("op", ""));
    if (e["subject"].value("op", "") == "admit") admitted.insert(e["subject"].value("device", ""));
  }
  EXPECT_EQ(ops.count("invite"), 3u) << Describe(vault_log);
  EXPECT_EQ(ops.count("admit"), 3u) << Describe(vault_log);
  EXPECT_EQ(admitted, (std::set<std::string>{monitor_.id, legal_.id, coord_.id}));
  EXPECT_FALSE(By(vault_log, owner_.id, "sync").empty()) << "evidence moved, so syncs were logged:\n" << Describe(vault_log);

  // Every device's log checks.
  for (const Device* d : {&owner_, &monitor_, &legal_, &coord_}) EXPECT_TRUE(AuditVerify(*d));

  // No sync ping-pong: once everything has settled, syncing again and again logs
  // nothing more (a sync is logged only when evidence moved; custody entries and
  // checkpoints do not count).
  for (const Device* d : {&owner_, &legal_, &coord_, &monitor_}) ASSERT_TRUE(Sync(*d));
  std::map<std::string, std::size_t> settled;
  for (const Device* d : {&owner_, &legal_}) settled[d->name] = Log(*d).size();
  std::vector<std::map<std::string, std::size_t>> rounds;
  for (int round = 1; round <= 3; ++round) {
    ASSERT_TRUE(Sync(owner_));
    ASSERT_TRUE(Sync(legal_));
    std::map<std::string, std::size_t> counts;
    for (const Device* d : {&owner_, &legal_}) counts[d->name] = Log(*d).size();
    rounds.push_back(counts);
    std::cerr << "sync round " << round << ": owner " << counts["owner"] << ", legal " << counts["legal"] << " (settled "
              << settled["owner"] << ", " << settled["legal"] << ")\n";
  }
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    for (const Device* d : {&owner_, &legal_}) {
      EXPECT_EQ(rounds[i].at(d->name), settled.at(d->name))
          << d->name << "'s custody log grew in sync round " << i + 1 << ":\n" << Describe(Log(*d));
    }
  }
  for (const Device* d : {&owner_, &monitor_, &legal_, &coord_}) EXPECT_TRUE(AuditVerify(*d));

  // A role change and a revocation are membership entries too, naming the device.
  auto role = owner_.Ev({"member", "role", coord_.id, "--role", "monitor"});
  ASSERT_EQ(role.exit_code, 0) << role.Describe();
  auto revoke = owner_.Ev({"member", "revoke", coord_.id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.Describe();
  std::vector<json> changes;
  for (const auto& e : By(Log(owner_), owner_.id, "membership")) {
    const std::string op = e["subject"].value("op", "");
    if (op == "role" || op == "revoke") changes.push_back(e);
  }
  ASSERT_EQ(changes.size(), 2u) << Describe(changes);
  EXPECT_EQ(changes[0]["subject"]["op"], "role");
  EXPECT_EQ(changes[0]["subject"]["device"], coord_.id);
  EXPECT_EQ(changes[0]["subject"]["role"], "monitor");
  EXPECT_EQ(changes[1]["subject"]["op"], "revoke");
  EXPECT_EQ(changes[1]["subject"]["device"], coord_.id);
  EXPECT_EQ(changes[0]["stream"], "");
  ASSERT_TRUE(Sync(owner_));
  for (const Device* d : {&legal_, &monitor_}) ASSERT_TRUE(Sync(*d));
  for (const Device* d : {&owner_, &monitor_, &legal_}) EXPECT_TRUE(AuditVerify(*d));
}

// A legal device views a record offline while the owner revokes another device: its
// unpushed custody entries are sealed to an ended key epoch. Its next sync re-seals them
// to keys it holds (it announces no case key and writes no evidence) and they reach the owner.
TEST_F(CustodyTest, ALegalDevicesEntriesFromAnEndedEpochAreResealedAndArrive) {
  const std::string case_id = NewCase(owner_, "Trial of a journalist EPOCHCASEk2");
  const std::string record = AddRecord(owner_, case_id, "Hearing EPOCHRECk2");
  ASSERT_TRUE(Sync(owner_));
  auto grant = owner_.Ev({"case", "grant", case_id, "--to", legal_.id});
  ASSERT_EQ(grant.exit_code, 0) << grant.Describe();
  ASSERT_TRUE(Sync(legal_));

  auto view = legal_.Ev({"record", "show", record});  // logged, not yet pushed
  ASSERT_EQ(view.exit_code, 0) << view.Describe();
  auto revoke = owner_.Ev({"member", "revoke", coord_.id});  // epoch 2 begins
  ASSERT_EQ(revoke.exit_code, 0) << revoke.Describe();
  ASSERT_TRUE(Sync(owner_));

  ASSERT_TRUE(Sync(legal_));  // pulls epoch 2, re-seals its view entry, pushes
  ASSERT_TRUE(Sync(owner_));
  const auto views = By(Log(owner_, case_id), legal_.id, "record-view");
  ASSERT_EQ(views.size(), 1u) << Describe(Log(owner_, case_id));
  EXPECT_EQ(views[0]["subject"]["record_id"], record);
  for (const Device* d : {&owner_, &legal_}) EXPECT_TRUE(AuditVerify(*d));
}

TEST_F(CustodyTest, AMonitorsPurgedLogStillVerifiesResumesAndIsLoggedForTheOwner) {
  const std::string owner_case = NewCase(owner_, "Owner case PURGEb2");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(monitor_));
  const std::string mon_case = NewCase(monitor_, "Monitor case PURGEb2");
  const std::string mon_record = AddRecord(monitor_, mon_case, "Detention MONb2");
  const std::string in_owner_case = AddRecord(monitor_, owner_case, "Trial MONINOWNERb2");
  cli_test::WriteFile(monitor_.home / "photo.jpg", cli_test::RandomBytes(50000));
  auto attached = monitor_.Ev({"attach", "add", "--record", mon_record, (monitor_.home / "photo.jpg").string()});
  ASSERT_EQ(attached.exit_code, 0) << attached.Describe();
  ASSERT_EQ(monitor_.Ev({"record", "show", mon_record}).exit_code, 0);
  ASSERT_TRUE(Sync(monitor_));
  EXPECT_TRUE(AuditVerify(monitor_));
  const auto before = Log(monitor_, mon_case);
  ASSERT_EQ(before.size(), 4u) << Describe(before);  // case-create, record-capture, attachment-capture, record-view
  const std::uint64_t last_seq = before.back()["seq"];

  auto purged = monitor_.Ev({"purge", "--synced"});
  ASSERT_EQ(purged.exit_code, 0) << purged.Describe();
  EXPECT_TRUE(AuditVerify(monitor_)) << "the monitor's log no longer verifies after a purge";
  // The synced entries left with the evidence; the purge itself is logged.
  const auto after = Log(monitor_);
  EXPECT_TRUE(By(after, monitor_.id, "record-capture").empty()) << Describe(after);
  const auto purges = By(after, monitor_.id, "purge");
  ASSERT_EQ(purges.size(), 1u) << Describe(after);
  EXPECT_EQ(purges[0]["stream"], "");

  // The log resumes where the purged entries ended: the next entry continues the chain.
  const std::string later = AddRecord(monitor_, mon_case, "Detention AFTERPURGEb2");
  const auto resumed = Log(monitor_, mon_case);
  ASSERT_EQ(resumed.size(), 1u) << Describe(resumed);
  EXPECT_EQ(resumed[0]["action"], "record-capture");
  EXPECT_EQ(resumed[0]["seq"], last_seq + 1) << Describe(resumed);
  EXPECT_TRUE(AuditVerify(monitor_));

  // The owner sees the purge, and the monitor's whole chain in the case's log.
  ASSERT_TRUE(Sync(monitor_));
  ASSERT_TRUE(Sync(owner_));
  const auto owner_all = Log(owner_);
  const auto owner_purges = By(owner_all, monitor_.id, "purge");
  ASSERT_EQ(owner_purges.size(), 1u) << Describe(owner_all);
  EXPECT_EQ(owner_purges[0]["stream"], "");
  EXPECT_EQ(owner_purges[0]["subject"]["revisions"], 2) << owner_purges[0].dump();
  const auto owner_mon_case = Log(owner_, mon_case);
  const auto chain = By(owner_mon_case, monitor_.id);
  ASSERT_EQ(chain.size(), 5u) << Describe(owner_mon_case);
  for (std::size_t i = 0; i < chain.size(); ++i) EXPECT_EQ(chain[i]["seq"], i + 1) << Describe(owner_mon_case);
  EXPECT_EQ(By(Log(owner_, owner_case), monitor_.id, "record-capture").size(), 1u);
  EXPECT_TRUE(AuditVerify(owner_));
  EXPECT_TRUE(AuditVerify(monitor_));
  (void)in_owner_case;
}

}  // namespace
}  // namespace evault::sync_test
