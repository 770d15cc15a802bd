// The custody log at the library level (issue #5): each action on evidence appends one
// signed, chained entry to its case's log, in order, naming what it was about; views
// and reads are logged, failed ones are not; VerifyAuditLog checks it all; and an entry
// whose stored object disappears from the database is named, not skipped.
//
// AuditEntry does not carry the id of the object that stores it, and no public API
// gives it. The deletion test reads it from the vault's catalog (alog/<case>/<index>)
// through the explicit-instantiation access rule, as tests/sync/roles_e2e_test.cc does
// for the keyring; no library code is changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "audit/custody.h"
#include "tests/vault/test_util.h"
#include "vault/header.h"
#include "vault/vault.h"
#include "vault/vault_impl.h"

#include "tests/vault/impl_access.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Passphrase;
using testing::ScopedTempDir;

std::string Sha256Of(std::string_view text) { return testing::Sha256Hex(crypto::AsBytes(text)); }

std::vector<std::string> Actions(const std::vector<AuditEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.fields.value("action", ""));
  return out;
}

// Every entry this device holds, in every log.
std::size_t TotalEntries(Vault& v) {
  auto all = v.AuditLog(std::nullopt);
  EXPECT_TRUE(all.has_value()) << all.error().message;
  return all ? all->size() : 0;
}

bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// The vault's database, opened directly while the vault is closed.
class RawDb {
 public:
  explicit RawDb(const fs::path& vault_dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"chunks", rocksdb::ColumnFamilyOptions()},
    };
    families[1].options.enable_blob_files = true;
    rocksdb::DB* raw = nullptr;
    status_ = rocksdb::DB::Open(rocksdb::DBOptions(), (vault_dir / kDatabaseDirName).string(), families, &handles_, &raw);
    db_.reset(raw);
  }
  ~RawDb() {
    if (db_) {
      for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
      db_->Close();
    }
  }
  const rocksdb::Status& status() const { return status_; }
  bool Has(const std::string& key) {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), handles_[0], key, &value).ok();
  }
  rocksdb::Status Delete(const std::string& key) { return db_->Delete(rocksdb::WriteOptions(), handles_[0], key); }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() / "vault";
    vault_ = testing::CreateAndOpen(dir_);
    ASSERT_NE(vault_, nullptr);
  }

  // One of each action: case, record, edit, view, attachment, read, export.
  void Populate() {
    ASSERT_OK_AND_ASSIGN(case_, vault_->CreateCase("Custody case", {"custody", "test"}));
    ASSERT_OK_AND_ASSIGN(rev1_, vault_->AddRecord(case_.id, testing::SimpleRecord("Detention of a witness", "first")));
    ASSERT_OK_AND_ASSIGN(rev2_, vault_->EditRecord(rev1_.record_id, testing::SimpleRecord("Detention of a witness",
                                                                                          "first, corrected")));
    ASSERT_OK_AND_ASSIGN(view_, vault_->GetRecord(rev1_.record_id, false));
    const fs::path file = tmp_.path() / "photo.jpg";
    content_ = testing::Pattern(7, 150000);
    testing::WriteFile(file, content_);
    ASSERT_OK_AND_ASSIGN(attachment_, vault_->AddAttachment(rev1_.record_id, file));
    ASSERT_OK_AND_ASSIGN(auto read, testing::ReadAll(*vault_, attachment_.id));
    ASSERT_TRUE(read == content_);
    ExportOptions options;
    options.out = tmp_.path() / "bag";
    options.purpose = "for the defence";
    ASSERT_OK_AND_ASSIGN(summary_, vault_->Export(case_.id, options));
  }

  std::vector<AuditEntry> CaseLog() {
    auto log = vault_->AuditLog(case_.id);
    EXPECT_TRUE(log.has_value()) << log.error().message;
    return log ? *log : std::vector<AuditEntry>{};
  }

  void Reopen() {
    vault_.reset();
    vault_ = testing::OpenOrNull(dir_);
    ASSERT_NE(vault_, nullptr);
  }

  ScopedTempDir tmp_;
  fs::path dir_;
  std::unique_ptr<Vault> vault_;
  CaseInfo case_;
  RecordRevision rev1_, rev2_;
  RecordView view_;
  AttachmentInfo attachment_;
  crypto::Bytes content_;
  ExportSummary summary_;
};

TEST_F(AuditLogTest, EachActionAppendsOneSignedChainedEntryInOrder) {
  EXPECT_EQ(TotalEntries(*vault_), 0u) << "a new vault has an empty custody log";
  Populate();
  if (HasFatalFailure()) return;
  const auto log = CaseLog();
  ASSERT_EQ(Actions(log), (std::vector<std::string>{"case-create", "record-capture", "record-edit", "record-view",
                                                     "attachment-capture", "attachment-read", "export"}));
  std::string previous_line;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const AuditEntry& e = log[i];
    SCOPED_TRACE(e.line);
    EXPECT_EQ(e.case_id, case_.id);
    EXPECT_EQ(e.index, i + 1);
    EXPECT_EQ(e.fields["stream"], case_.id);
    EXPECT_EQ(e.fields["vault"], vault_->vault_id());
    EXPECT_EQ(e.fields["device"], vault_->device_id());
    EXPECT_EQ(e.fields["seq"], i + 1);
    if (i > 0) {
      EXPECT_EQ(e.fields["prev"], audit::LineSha256(previous_line)) << "the chain is broken at entry " << i + 1;
    }
    EXPECT_TRUE(e.fields.contains("sig"));
    // The line on its own checks (signature, canonical form) and gives the same fields.
    auto parsed = audit::ParseEntry(e.line);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(*parsed, e.fields);
    previous_line = e.line;
  }

  // Subjects.
  const json& created = log[0].fields["subject"];
  EXPECT_EQ(created["case_id"], case_.id);
  const json case_body = {{"author", case_.author}, {"case_id", case_.id}, {"created", case_.created},
                          {"status", case_.status}, {"tags", case_.tags},  {"title", case_.title}};
  EXPECT_EQ(created["sha256"], Sha256Of(case_body.dump())) << "case-create must carry SHA-256 of the canonical case";

  for (const auto& [entry, rev] : {std::pair{&log[1], &rev1_}, {&log[2], &rev2_}}) {
    const json& s = entry->fields["subject"];
    EXPECT_EQ(s["record_id"], rev->record_id);
    EXPECT_EQ(s["revision_id"], rev->revision_id);
    EXPECT_EQ(s["revision"], rev->revision);
    // The canonical body, rebuilt from the revision as the API returns it.
    const json body = {{"author", rev->author},       {"case_id", rev->case_id}, {"created", rev->created},
                       {"parents", rev->parents},     {"record", rev->data},     {"record_id", rev->record_id},
                       {"revision", rev->revision}};
    EXPECT_EQ(s["sha256"], Sha256Of(body.dump())) << "revision " << rev->revision;
    // ...and as exported, byte for byte as stored.
    const fs::path file = tmp_.path() / "bag" / "data" / "records" / rev->record_id /
                          fmt::format("{:04}-{}.json", rev->revision, rev->revision_id);
    EXPECT_EQ(s["sha256"], Sha256Of(testing::ReadFileOrEmpty(file))) << file;
  }
  EXPECT_EQ(rev2_.parents, std::vector<std::string>{rev1_.revision_id});

  const json& viewed = log[3].fields["subject"];
  EXPECT_EQ(viewed["record_id"], rev1_.record_id);
  EXPECT_EQ(viewed["revisions"], json::array({rev2_.revision_id})) << "a view without history shows the head";

  const json& captured = log[4].fields["subject"];
  EXPECT_EQ(captured["attachment_id"], attachment_.id);
  EXPECT_EQ(captured["record_id"], rev1_.record_id);
  EXPECT_EQ(captured["sha256"], testing::Sha256Hex(content_));
  EXPECT_EQ(captured["size"], content_.size());
  EXPECT_EQ(captured["file_name"], "photo.jpg");

  const json& read = log[5].fields["subject"];
  EXPECT_EQ(read["attachment_id"], attachment_.id);
  EXPECT_EQ(read["sha256"], testing::Sha256Hex(content_));

  const json& exported = log[6].fields["subject"];
  EXPECT_EQ(exported["case_id"], case_.id);
  EXPECT_EQ(exported["purpose"], "for the defence");
  EXPECT_EQ(exported["bundle"], "bagit");
  EXPECT_EQ(summary_.custody_entries, log.size());

  // The whole log checks, and with it the checkpoint the export signed.
  ASSERT_OK_AND_ASSIGN(AuditCheck check, vault_->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems.front());
  EXPECT_EQ(check.entries, log.size());
  EXPECT_EQ(check.devices, 1u);
  EXPECT_EQ(check.logs, 1u) << "no sync, membership or purge yet: only the case's log";
  EXPECT_GE(check.checkpoints, 1u);

  // Every log of the device: here the same entries.
  ASSERT_OK_AND_ASSIGN(auto all, vault_->AuditLog(std::nullopt));
  ASSERT_EQ(all.size(), log.size());
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(all[i].line, log[i].line);

  // A malformed case id is refused; the log survives closing the vault.
  EXPECT_ERROR(vault_->AuditLog(std::string_view("not-a-case")), ErrorCode::kInvalidArgument);
  Reopen();
  const auto again = CaseLog();
  ASSERT_EQ(again.size(), log.size());
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(again[i].line, log[i].line);
  ASSERT_OK_AND_ASSIGN(AuditCheck after, vault_->VerifyAuditLog());
  EXPECT_TRUE(after.ok());

  // A second case keeps a log of its own; the device's chain starts again there.
  ASSERT_OK_AND_ASSIGN(CaseInfo other, vault_->CreateCase("Other case", {}));
  ASSERT_OK_AND_ASSIGN(auto other_log, vault_->AuditLog(std::string_view(other.id)));
  ASSERT_EQ(other_log.size(), 1u);
  EXPECT_EQ(other_log[0].fields["seq"], 1);
  EXPECT_EQ(other_log[0].fields["action"], "case-create");
  EXPECT_EQ(CaseLog().size(), log.size());
  ASSERT_OK_AND_ASSIGN(AuditCheck two, vault_->VerifyAuditLog());
  EXPECT_TRUE(two.ok());
  EXPECT_EQ(two.logs, 2u);
}

TEST_F(AuditLogTest, AViewWritesExactlyOneEntryAndAFailedOneNone) {
  ASSERT_OK_AND_ASSIGN(case_, vault_->CreateCase("Views", {}));
  ASSERT_OK_AND_ASSIGN(rev1_, vault_->AddRecord(case_.id, testing::SimpleRecord("Viewed record")));
  ASSERT_OK_AND_ASSIGN(rev2_, vault_->EditRecord(rev1_.record_id, testing::SimpleRecord("Viewed record, edited")));
  const std::size_t start = TotalEntries(*vault_);
  ASSERT_EQ(start, 3u);

  ASSERT_OK(vault_->GetRecord(rev1_.record_id, false));
  auto log = CaseLog();
  ASSERT_EQ(log.size(), start + 1);
  EXPECT_EQ(log.back().fields["action"], "record-view");
  EXPECT_EQ(log.back().fields["subject"]["revisions"], json::array({rev2_.revision_id}));

  ASSERT_OK(vault_->GetRecord(rev1_.record_id, true));
  log = CaseLog();
  ASSERT_EQ(log.size(), start + 2);
  EXPECT_EQ(log.back().fields["action"], "record-view");
  EXPECT_EQ(log.back().fields["subject"]["record_id"], rev1_.record_id);
  EXPECT_EQ(log.back().fields["subject"]["revisions"], json::array({rev1_.revision_id, rev2_.revision_id}))
      << "a view with history shows every revision";

  // Failures and what shows no evidence: no entry anywhere.
  const std::size_t before = TotalEntries(*vault_);
  EXPECT_ERROR(vault_->GetRecord(std::string(32, 'a'), false), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetRecord(std::string(32, 'b'), true), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetRecord("not-an-id", false), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->GetRecord(case_.id, false), ErrorCode::kNotFound);  // a case id is not a record id
  EXPECT_ERROR(vault_->ReadAttachment(std::string(32, 'c'), [](crypto::ByteView) { return Ok(); }),
               ErrorCode::kNotFound);
  EXPECT_FALSE(vault_->AddRecord(case_.id, "{\"kind\":\"detention\"}").has_value());  // no title
  EXPECT_FALSE(vault_->EditRecord(std::string(32, 'd'), testing::SimpleRecord("x")).has_value());
  EXPECT_FALSE(vault_->CreateCase("", {}).has_value());
  ExportOptions unknown;
  unknown.out = tmp_.path() / "unknown-bag";
  unknown.purpose = "p";
  EXPECT_FALSE(vault_->Export(std::string(32, 'e'), unknown).has_value());
  EXPECT_FALSE(fs::exists(unknown.out));
  // Listings and searches show titles only: not logged.
  EXPECT_OK(vault_->ListCases());
  EXPECT_OK(vault_->ListRecords(std::nullopt));
  EXPECT_OK(vault_->Search("viewed"));
  EXPECT_OK(vault_->GetCase(case_.id));
  EXPECT_EQ(TotalEntries(*vault_), before);

  // A read is one entry, logged before the first byte is handed over.
  const fs::path file = tmp_.path() / "note.txt";
  testing::WriteFile(file, std::string_view("a short note"));
  ASSERT_OK_AND_ASSIGN(attachment_, vault_->AddAttachment(rev1_.record_id, file));
  const std::size_t before_read = TotalEntries(*vault_);
  std::size_t entries_when_first_chunk = 0;
  ASSERT_OK(vault_->ReadAttachment(attachment_.id, [&](crypto::ByteView) {
    if (entries_when_first_chunk == 0) entries_when_first_chunk = CaseLog().size();
    return Ok();
  }));
  EXPECT_EQ(TotalEntries(*vault_), before_read + 1);
  EXPECT_EQ(entries_when_first_chunk, before_read + 1) << "the read was not logged before its bytes were handed over";
  EXPECT_EQ(CaseLog().back().fields["action"], "attachment-read");
  // Its metadata alone is not a read.
  EXPECT_OK(vault_->GetAttachment(attachment_.id));
  EXPECT_OK(vault_->ListAttachments(rev1_.record_id));
  EXPECT_EQ(TotalEntries(*vault_), before_read + 1);

  ASSERT_OK_AND_ASSIGN(AuditCheck check, vault_->VerifyAuditLog());
  EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems.front());
}

// An export that is refused (its directory exists) is no export: the vault's contract is
// that on error nothing was written, and a custody entry claiming an export that never
// happened would mislead whoever reads the log.
TEST_F(AuditLogTest, ARefusedExportLeavesNoEntry) {
  ASSERT_OK_AND_ASSIGN(case_, vault_->CreateCase("Refused export", {}));
  ASSERT_OK(vault_->AddRecord(case_.id, testing::SimpleRecord("A record")));
  const std::size_t before = CaseLog().size();
  const fs::path existing = tmp_.path() / "existing";
  fs::create_directories(existing);
  testing::WriteFile(existing / "keep.txt", std::string_view("keep"));
  ExportOptions options;
  options.out = existing;
  options.purpose = "refused";
  auto refused = vault_->Export(case_.id, options);
  EXPECT_FALSE(refused.has_value());
  EXPECT_EQ(testing::ReadFileOrEmpty(existing / "keep.txt"), "keep");
  EXPECT_EQ(std::distance(fs::directory_iterator(existing), fs::directory_iterator()), 1);
  const auto after = CaseLog();
  EXPECT_EQ(after.size(), before) << "a refused export appended: " << (after.empty() ? "" : after.back().line);
  options.purpose = "two\nlines";
  options.out = tmp_.path() / "new-bag";
  EXPECT_ERROR(vault_->Export(case_.id, options), ErrorCode::kInvalidArgument);
  options.purpose = "bad recipient";
  options.age_recipient = "age1notakey";
  EXPECT_FALSE(vault_->Export(case_.id, options).has_value());
  EXPECT_FALSE(fs::exists(options.out));
  EXPECT_EQ(CaseLog().size(), after.size()) << "a refused export (bad purpose or recipient) appended an entry";
}

TEST_F(AuditLogTest, ADeletedEntryObjectIsNamedByVerifyAndByTheLog) {
  Populate();
  if (HasFatalFailure()) return;
  const auto log = CaseLog();
  ASSERT_EQ(log.size(), 7u);
  ASSERT_OK_AND_ASSIGN(AuditCheck clean, vault_->VerifyAuditLog());
  ASSERT_TRUE(clean.ok());

  // The object that stores entry 4 (the record-view), from the catalog:
  // alog/<case>/<index from 0, %016x> -> <object id>/<leaf hash>.
  constexpr std::size_t kVictim = 4;
  ASSERT_EQ(log[kVictim - 1].fields["action"], "record-view");
  std::string object_hex;
  {
    auto& impl = TestOnlyImpl(*vault_);
    auto entries = impl.catalog->Scan(0, fmt::format("alog/{}/", case_.id));
    ASSERT_TRUE(entries.has_value()) << entries.error().message;
    ASSERT_EQ(entries->size(), log.size());
    const std::string& value = (*entries)[kVictim - 1].second;
    object_hex = value.substr(0, value.find('/'));
    // The stored leaf hash is the entry's.
    EXPECT_EQ(value.substr(value.find('/') + 1), crypto::ToHex(audit::LeafHash(crypto::AsBytes(log[kVictim - 1].line))));
  }
  vault_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    const auto id = crypto::FromHex(object_hex);
    ASSERT_TRUE(id.has_value() && id->size() == 16) << object_hex;
    const std::string key(id->begin(), id->end());
    ASSERT_TRUE(raw.Has(key)) << "the catalog names an object the database does not hold";
    ASSERT_TRUE(raw.Delete(key).ok());
  }
  Reopen();

  // The log cannot be read past the hole: it says which entry of which log.
  const std::string named = fmt::format("entry {} of the custody log of case {}", kVictim, case_.id);
  auto broken = vault_->AuditLog(case_.id);
  ASSERT_FALSE(broken.has_value()) << "the log was read with an entry's object missing";
  EXPECT_EQ(broken.error().code, ErrorCode::kTampered) << broken.error().message;
  EXPECT_TRUE(Contains(broken.error().message, named)) << broken.error().message;
  auto all = vault_->AuditLog(std::nullopt);
  ASSERT_FALSE(all.has_value());
  EXPECT_TRUE(Contains(all.error().message, named)) << all.error().message;

  ASSERT_OK_AND_ASSIGN(AuditCheck check, vault_->VerifyAuditLog());
  ASSERT_FALSE(check.ok());
  bool found = false;
  for (const auto& p : check.problems) found = found || Contains(p, named);
  EXPECT_TRUE(found) << "no problem names " << named << "; first: " << check.problems.front();

  // The evidence itself is untouched and still readable.
  EXPECT_OK(vault_->ListRecords(std::nullopt));
  ASSERT_OK_AND_ASSIGN(auto data, testing::ReadAll(*vault_, attachment_.id));
  EXPECT_TRUE(data == content_);
}

}  // namespace
}  // namespace evault::vault
