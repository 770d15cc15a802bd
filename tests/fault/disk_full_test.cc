// A vault on a real full disk (a small tmpfs) and on a read-only mount.
//
// Full disk: records, edits and attachments are added until the disk is full. Every
// call that fails must say the disk is full (one line, kNoSpace), every call that succeeded
// must survive, and once space is freed the vault opens with exactly the acknowledged
// objects (no half-written attachment) and takes writes again. The evault binary on the
// same full vault must fail the same clean way.
//
// Read-only: as root, chmod does not stop writes, so the vault's file system is
// remounted read-only: Open or the first write fails with a clear error, nothing crashes,
// and after remounting read-write everything is intact.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/run_evault.h"
#include "tests/fault/mount.h"
#include "tests/fault/trial_guard.h"
#include "tests/vault/test_util.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Passphrase;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// What a monitor must be told when the disk is full; "" if the error says so clearly.
std::string UnclearFullDiskError(const Error& e) {
  if (e.code != ErrorCode::kNoSpace) return fmt::format("code {} (expected kNoSpace)", ErrorCodeName(e.code));
  if (e.message.find('\n') != std::string::npos) return "more than one line";
  if (Lower(e.message).find("no space") == std::string::npos) return "does not say the disk is full";
  return "";
}

// Everything acknowledged so far, to be found intact later.
struct Acknowledged {
  std::string case_id;
  std::map<std::string, json> records;  // record id -> data of its head revision
  std::map<std::string, std::uint64_t> revisions;  // record id -> revision number
  std::map<std::string, std::pair<std::string, std::string>> attachments;  // id -> (record id, sha256)
};

// Checks the vault holds exactly what was acknowledged. Returns the problems.
std::vector<std::string> CheckAcknowledged(Vault& v, const Acknowledged& ack) {
  std::vector<std::string> bad;
  auto records = v.ListRecords(std::nullopt);
  if (!records) return {"ListRecords: " + records.error().message};
  std::set<std::string> listed;
  for (const auto& r : *records) listed.insert(r.record_id);
  for (const auto& [id, data] : ack.records) {
    if (!listed.contains(id)) bad.push_back("acknowledged record " + id + " is gone");
    auto rec = v.GetRecord(id, false);
    if (!rec) {
      bad.push_back("record " + id + ": " + rec.error().message);
    } else if (rec->heads.size() != 1 || rec->heads[0].data != data || rec->heads[0].revision != ack.revisions.at(id)) {
      bad.push_back("record " + id + " reads back different");
    }
  }
  for (const auto& id : listed) {
    if (!ack.records.contains(id)) bad.push_back("record " + id + " was never acknowledged but is visible");
  }
  std::map<std::string, std::set<std::string>> per_record;
  for (const auto& [id, where] : ack.attachments) per_record[where.first].insert(id);
  for (const auto& [record_id, unused] : ack.records) {
    auto list = v.ListAttachments(record_id);
    if (!list) {
      bad.push_back("ListAttachments: " + list.error().message);
      continue;
    }
    std::set<std::string> ids;
    for (const auto& a : *list) ids.insert(a.id);
    if (ids != per_record[record_id]) {
      bad.push_back(fmt::format("record {} lists {} attachments, {} were acknowledged", record_id, ids.size(),
                                per_record[record_id].size()));
    }
  }
  for (const auto& [id, where] : ack.attachments) {
    auto bytes = testing::ReadAll(v, id);
    if (!bytes) bad.push_back("attachment " + id + ": " + bytes.error().message);
    else if (testing::Sha256Hex(*bytes) != where.second) bad.push_back("attachment " + id + " reads back different");
  }
  auto audit = v.VerifyAuditLog();
  if (!audit) bad.push_back("VerifyAuditLog: " + audit.error().message);
  else if (!audit->ok()) bad.push_back("custody log: " + audit->problems.front());
  return bad;
}

class MountedVaultTest : public ::testing::Test {
 protected:
  // Mounts the tmpfs, or skips the test (callers return if IsSkipped()).
  void Mount(std::uint64_t bytes) {
    disk_ = std::make_unique<fault_test::ScopedTmpfs>(tmp_.path() / "disk", bytes);
    if (!disk_->ok()) GTEST_SKIP() << disk_->reason();
    vault_dir_ = disk_->dir() / "vault";
    pass_file_ = tmp_.path() / "pass";
    testing::WriteFile(pass_file_, testing::kPassphrase);
  }

  // The evault binary on the same vault: it must fail cleanly (exit 1, one line).
  cli_test::RunResult Cli(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--vault", vault_dir_.string(), "--passphrase-file", pass_file_.string()});
    return cli_test::RunEvault(args, {.stdin_data = stdin_data});
  }

  testing::ScopedTempDir tmp_;  // declared first: removed after the tmpfs is unmounted
  std::unique_ptr<fault_test::ScopedTmpfs> disk_;
  fs::path vault_dir_, pass_file_;
};

class DiskFullTest : public MountedVaultTest {};

TEST_F(DiskFullTest, FailsCleanlyLosesNothingAndRecoversWhenSpaceIsFreed) {
  constexpr std::uint64_t kDisk = 40u << 20;
  ASSERT_NO_FATAL_FAILURE(Mount(kDisk));
  if (IsSkipped()) return;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK(Vault::Create(vault_dir_, Passphrase(testing::kPassphrase), testing::FastKdf()));
  Acknowledged ack;
  std::string passphrase(testing::kPassphrase);
  std::uint64_t free_after = 0;
  int calls = 0, failures = 0;
  std::map<std::string, int> failed_by_op;
  std::vector<std::string> unclear;
  auto failed = [&](const std::string& op, const Error& e) {
    ++failures;
    ++failed_by_op[op];
    if (const std::string why = UnclearFullDiskError(e); !why.empty()) {
      unclear.push_back(fmt::format("{}: {} ({}: {})", op, why, ErrorCodeName(e.code), e.message));
    }
  };
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(vault_dir_, Passphrase(testing::kPassphrase)));
    ASSERT_OK_AND_ASSIGN(CaseInfo c, v->CreateCase("Full disk case", {"disk"}));
    ack.case_id = c.id;
    // Attachments of 1.5 MiB (2 chunks) from outside the tmpfs, with records and edits
    // between them, until the disk refuses; then every kind of write once more.
    int consecutive_failures = 0;
    for (int i = 0; i < 200 && consecutive_failures < 3; ++i) {
      fault_test::SetCurrentTrial(fmt::format("full disk, step {}", i));
      const std::string data = testing::SimpleRecord(fmt::format("record {}", i), std::string(2000, 'x'));
      ++calls;
      auto rec = v->AddRecord(ack.case_id, data);
      if (!rec) {
        failed("add record", rec.error());
        ++consecutive_failures;
        continue;
      }
      ack.records[rec->record_id] = json::parse(data);
      ack.revisions[rec->record_id] = 1;
      const fs::path file = tmp_.path() / fmt::format("photo-{}.jpg", i);
      testing::WriteFile(file, testing::Pattern(1000 + i, 3u << 19));
      ++calls;
      auto att = v->AddAttachment(rec->record_id, file);
      fs::remove(file);
      if (!att) {
        failed("add attachment", att.error());
        ++consecutive_failures;
        continue;
      }
      ack.attachments[att->id] = {rec->record_id, att->sha256};
      if (i % 3 == 0) {
        const std::string edited = testing::SimpleRecord(fmt::format("record {}, edited", i));
        ++calls;
        auto rev = v->EditRecord(rec->record_id, edited);
        if (!rev) {
          failed("edit record", rev.error());
          ++consecutive_failures;
          continue;
        }
        ack.records[rec->record_id] = json::parse(edited);
        ack.revisions[rec->record_id] = 2;
      }
      consecutive_failures = 0;
    }
    ASSERT_GT(failures, 0) << "the disk never filled up";
    // RocksDB fails a whole flush (a 16 MiB blob file) that does not fit and removes the
    // partial file, so the disk may show free space again; the database stays stopped.
    free_after = disk_->FreeBytes();
    // Every other kind of write, on the full disk.
    ++calls;
    if (auto c2 = v->CreateCase("another case", {}); !c2) failed("add case", c2.error());
    // The header is a few hundred bytes, replaced through a temporary file: it may still
    // fit. Either way the vault must open with exactly one of the two passphrases.
    ++calls;
    if (auto s = v->ChangePassphrase(Passphrase("new passphrase on a full disk"), testing::FastKdf()); !s) {
      failed("change passphrase", s.error());
    } else {
      passphrase = "new passphrase on a full disk";
      testing::WriteFile(pass_file_, passphrase);
      fmt::print("  the passphrase change fit on the full disk\n");
    }
    ++calls;
    if (auto e = v->Export(ack.case_id, {.out = disk_->dir() / "bundle", .purpose = "full disk"}); !e) {
      failed("export", e.error());
      EXPECT_FALSE(fs::exists(disk_->dir() / "bundle")) << "a failed export left its output behind";
    }
    // Reads still work on the full disk (views are logged, so they may fail to log; they
    // must not return anything wrong).
    for (const auto& [id, data] : ack.records) {
      auto rec = v->GetRecord(id, false);
      if (rec) EXPECT_EQ(rec->heads.at(0).data, data);
      else if (auto why = UnclearFullDiskError(rec.error()); !why.empty()) unclear.push_back("get record: " + why);
    }
  }
  fmt::print("full disk ({} MiB tmpfs): {} calls, {} acknowledged records, {} attachments; {} failed ({} KiB free "
             "after the first failures):",
             kDisk >> 20, calls, ack.records.size(), ack.attachments.size(), failures, free_after >> 10);
  for (const auto& [op, n] : failed_by_op) fmt::print(" {} x {}", n, op);
  fmt::print("\n");
  for (const auto& u : unclear) ADD_FAILURE() << "unclear error on a full disk: " << u;

  // Reopening on the still-full disk: it opens with everything, or says the disk is full.
  {
    auto v = Vault::Open(vault_dir_, Passphrase(passphrase));
    if (v) {
      fmt::print("  reopened on the full disk\n");
      for (const auto& p : CheckAcknowledged(**v, ack)) ADD_FAILURE() << "reopened on the full disk: " << p;
    } else {
      fmt::print("  reopen on the full disk refused: {}\n", v.error().message);
      EXPECT_EQ(UnclearFullDiskError(v.error()), "") << v.error().message;
    }
  }
  // Reopening may have freed space (RocksDB drops the replayed log): fill the disk again,
  // then the command line must say it in one line, exit code 1.
  const std::uint64_t ballast = fault_test::WriteBallast(disk_->dir() / "ballast", kDisk);
  fmt::print("  refilled the disk with {} KiB of ballast\n", ballast >> 10);
  auto cli = Cli({"record", "add", "--case", ack.case_id, "--json", "-"}, testing::SimpleRecord("from the cli"));
  EXPECT_EQ(cli.exit_code, 1) << cli.Describe();
  EXPECT_EQ(cli.out, "") << cli.Describe();
  EXPECT_TRUE(cli.err.starts_with("evault: error: ") && cli.err.find('\n') == cli.err.size() - 1) << cli.Describe();
  EXPECT_NE(Lower(cli.err).find("no space"), std::string::npos) << cli.Describe();
  fmt::print("  evault record add on the full disk: exit {}: {}", cli.exit_code, cli.err);

  // Space freed: everything acknowledged is there, nothing else, and writes work again.
  fs::remove(disk_->dir() / "ballast");
  std::string error;
  ASSERT_TRUE(disk_->Resize(kDisk * 4, &error)) << error;
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(vault_dir_, Passphrase(passphrase)));
    for (const auto& p : CheckAcknowledged(*v, ack)) ADD_FAILURE() << "after freeing space: " << p;
    ASSERT_OK_AND_ASSIGN(RecordRevision rec, v->AddRecord(ack.case_id, testing::SimpleRecord("after the disk was freed")));
    ack.records[rec.record_id] = rec.data;
    ack.revisions[rec.record_id] = 1;
    const fs::path file = tmp_.path() / "after.jpg";
    testing::WriteFile(file, testing::Pattern(4242, 3u << 20));
    ASSERT_OK_AND_ASSIGN(AttachmentInfo att, v->AddAttachment(rec.record_id, file));
    ack.attachments[att.id] = {rec.record_id, att.sha256};
    ASSERT_OK(v->ChangePassphrase(Passphrase("passphrase after the disk was freed"), testing::FastKdf()));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(vault_dir_, Passphrase("passphrase after the disk was freed")));
    for (const auto& p : CheckAcknowledged(*v, ack)) ADD_FAILURE() << "after writing again: " << p;
  }
  fmt::print("  after freeing space: reopened, {} records and {} attachments intact, writes work ({:.1f} s)\n",
             ack.records.size(), ack.attachments.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

class ReadOnlyTest : public MountedVaultTest {
 protected:
  // A vault with a case, a record and an attachment, then its file system remounted
  // read-only (root ignores file modes, but not a read-only mount).
  void MakeReadOnlyVault() {
    ASSERT_NO_FATAL_FAILURE(Mount(64u << 20));
    if (IsSkipped()) return;
    {
      ASSERT_OK(Vault::Create(vault_dir_, Passphrase(testing::kPassphrase), testing::FastKdf()));
      ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(vault_dir_, Passphrase(testing::kPassphrase)));
      ASSERT_OK_AND_ASSIGN(CaseInfo c, v->CreateCase("Read-only case", {}));
      ack_.case_id = c.id;
      const std::string data = testing::SimpleRecord("before the remount", "Алматы");
      ASSERT_OK_AND_ASSIGN(RecordRevision rec, v->AddRecord(c.id, data));
      ack_.records[rec.record_id] = json::parse(data);
      ack_.revisions[rec.record_id] = 1;
      testing::WriteFile(tmp_.path() / "doc.pdf", testing::Pattern(9, 1500000));
      ASSERT_OK_AND_ASSIGN(AttachmentInfo att, v->AddAttachment(rec.record_id, tmp_.path() / "doc.pdf"));
      ack_.attachments[att.id] = {rec.record_id, att.sha256};
    }
    std::string error;
    ASSERT_TRUE(disk_->SetReadOnly(true, &error)) << error;
    const int fd = ::open((vault_dir_ / "probe").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_LT(fd, 0) << "root could still write to the read-only mount";
    ASSERT_EQ(errno, EROFS);
  }

  Acknowledged ack_;
};

TEST_F(ReadOnlyTest, ReadOnlyMountFailsCleanlyAndLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(MakeReadOnlyVault());
  if (IsSkipped()) return;
  {
    fault_test::SetCurrentTrial("read-only open");
    auto v = Vault::Open(vault_dir_, Passphrase(testing::kPassphrase));
    if (!v) {
      fmt::print("read-only mount: Open refused: {}: {}\n", ErrorCodeName(v.error().code), v.error().message);
      EXPECT_EQ(v.error().code, ErrorCode::kIo) << v.error().message;
      EXPECT_EQ(v.error().message.find('\n'), std::string::npos);
    } else {
      // Open worked: reads must be right, the first write must fail clearly.
      for (const auto& p : CheckAcknowledged(**v, ack_)) ADD_FAILURE() << "read-only, opened: " << p;
      auto rec = (*v)->AddRecord(ack_.case_id, testing::SimpleRecord("on a read-only disk"));
      ASSERT_FALSE(rec.has_value()) << "a write to a read-only mount was acknowledged";
      fmt::print("read-only mount: Open worked, the write failed: {}\n", rec.error().message);
      EXPECT_EQ(rec.error().code, ErrorCode::kIo) << rec.error().message;
    }
  }
  // The command line: one line, exit 1, nothing crashes.
  auto cli = Cli({"record", "list"});
  fmt::print("read-only mount: evault record list: exit {}: {}", cli.exit_code, cli.err);
  EXPECT_EQ(cli.exit_code, 1) << cli.Describe();
  EXPECT_TRUE(cli.err.starts_with("evault: error: ") && cli.err.find('\n') == cli.err.size() - 1) << cli.Describe();

  std::string error;
  ASSERT_TRUE(disk_->SetReadOnly(false, &error)) << error;
  ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(vault_dir_, Passphrase(testing::kPassphrase)));
  for (const auto& p : CheckAcknowledged(*v, ack_)) ADD_FAILURE() << "after remounting read-write: " << p;
  EXPECT_OK(v->AddRecord(ack_.case_id, testing::SimpleRecord("after remounting read-write")));
}

// BUG (found by this test; vault/vault_impl.h, FromRocks): on a read-only file system
// RocksDB cannot open db/LOCK for writing, and its status ("IO error: While lock file:
// .../db/LOCK: Read-only file system") contains "lock", so the vault reports "opening
// the vault database: the vault is in use by another evault process" — wrong, and it
// sends a monitor looking for another process. `evault record list` prints the same.
// Expected: the error names the read-only file system (e.g. match the lock case on
// "Resource temporarily unavailable"/EWOULDBLOCK only, and pass other errors through).
TEST_F(ReadOnlyTest, ReadOnlyMountErrorSaysReadOnly) {
  ASSERT_NO_FATAL_FAILURE(MakeReadOnlyVault());
  if (IsSkipped()) return;
  auto v = Vault::Open(vault_dir_, Passphrase(testing::kPassphrase));
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(Lower(v.error().message).find("read-only"), std::string::npos) << v.error().message;
  EXPECT_EQ(v.error().message.find("in use by another"), std::string::npos) << v.error().message;
  auto cli = Cli({"record", "list"});
  EXPECT_NE(Lower(cli.err).find("read-only"), std::string::npos) << cli.Describe();
}

}  // namespace
}  // namespace evault::vault
