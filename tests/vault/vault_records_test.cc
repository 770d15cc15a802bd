// The Vault API for cases and records: create/open, passphrases, ids, revisions and
// history, search, and the contract that a rejected call stores nothing.
#include "vault/vault.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tests/vault/test_util.h"
#include "vault/header.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CreateAndOpen;
using testing::FastKdf;
using testing::kPassphrase;
using testing::OpenOrNull;
using testing::Passphrase;
using testing::ScopedTempDir;
using testing::SimpleRecord;

bool IsHexId(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::set<std::string> Ids(const std::vector<RecordSummary>& records) {
  std::set<std::string> out;
  for (const auto& r : records) out.insert(r.record_id);
  return out;
}

// ---- create / open -------------------------------------------------------------------

TEST(VaultOpenTest, CreateThenOpenWithRightPassphrase) {
  ScopedTempDir tmp;
  const fs::path dir = tmp.path() / "vault";
  ASSERT_OK_AND_ASSIGN(std::string device, Vault::Create(dir, Passphrase(kPassphrase), FastKdf()));
  EXPECT_TRUE(IsHexId(device)) << device;
  EXPECT_TRUE(fs::exists(dir / kHeaderFileName));
  EXPECT_TRUE(fs::is_directory(dir / kDatabaseDirName));
  ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(dir, Passphrase(kPassphrase)));
  EXPECT_EQ(vault->device_id(), device);
  EXPECT_TRUE(IsHexId(vault->vault_id()));
  ASSERT_OK_AND_ASSIGN(auto cases, vault->ListCases());
  EXPECT_TRUE(cases.empty());
  ASSERT_OK_AND_ASSIGN(auto records, vault->ListRecords(std::nullopt));
  EXPECT_TRUE(records.empty());
  // The directory is private to the owner.
  EXPECT_EQ(fs::status(dir).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST(VaultOpenTest, CreateIntoExistingEmptyDirectory) {
  ScopedTempDir tmp;
  ASSERT_OK(Vault::Create(tmp.path(), Passphrase(kPassphrase), FastKdf()));
  EXPECT_OK(Vault::Open(tmp.path(), Passphrase(kPassphrase)));
}

TEST(VaultOpenTest, WrongPassphrase) {
  ScopedTempDir tmp;
  ASSERT_OK(Vault::Create(tmp.path() / "v", Passphrase(kPassphrase), FastKdf()));
  EXPECT_ERROR(Vault::Open(tmp.path() / "v", Passphrase("correct horse battery stapl")), ErrorCode::kWrongPassphrase);
  EXPECT_ERROR(Vault::Open(tmp.path() / "v", Passphrase("Correct horse battery staple")), ErrorCode::kWrongPassphrase);
  EXPECT_ERROR(Vault::Open(tmp.path() / "v", Passphrase(std::string(kPassphrase) + " ")), ErrorCode::kWrongPassphrase);
  EXPECT_FALSE(Vault::Open(tmp.path() / "v", crypto::SecretBytes()).has_value());
  EXPECT_OK(Vault::Open(tmp.path() / "v", Passphrase(kPassphrase)));
}

TEST(VaultOpenTest, NotAVault) {
  ScopedTempDir tmp;
  EXPECT_ERROR(Vault::Open(tmp.path(), Passphrase(kPassphrase)), ErrorCode::kNotAVault);  // empty dir
  EXPECT_ERROR(Vault::Open(tmp.path() / "missing", Passphrase(kPassphrase)), ErrorCode::kNotAVault);
  testing::WriteFile(tmp.path() / "notes.txt", std::string_view("hello"));
  EXPECT_ERROR(Vault::Open(tmp.path(), Passphrase(kPassphrase)), ErrorCode::kNotAVault);
  EXPECT_ERROR(Vault::Open(tmp.path() / "notes.txt", Passphrase(kPassphrase)), ErrorCode::kNotAVault);
  // A RocksDB database alone (no header) is not a vault either.
  ASSERT_OK(Vault::Create(tmp.path() / "v", Passphrase(kPassphrase), FastKdf()));
  fs::remove(tmp.path() / "v" / kHeaderFileName);
  EXPECT_ERROR(Vault::Open(tmp.path() / "v", Passphrase(kPassphrase)), ErrorCode::kNotAVault);
}

TEST(VaultOpenTest, HeaderWithoutDatabaseFails) {
  ScopedTempDir tmp;
  ASSERT_OK(Vault::Create(tmp.path() / "v", Passphrase(kPassphrase), FastKdf()));
  fs::remove_all(tmp.path() / "v" / kDatabaseDirName);
  auto opened = Vault::Open(tmp.path() / "v", Passphrase(kPassphrase));
  EXPECT_FALSE(opened.has_value());
  // ...and it must not silently create a fresh, empty database.
  EXPECT_FALSE(fs::exists(tmp.path() / "v" / kDatabaseDirName));
}

TEST(VaultOpenTest, CreateRefusesNonEmptyDirectoryAndExistingVault) {
  ScopedTempDir tmp;
  testing::WriteFile(tmp.path() / "precious.txt", std::string_view("do not touch"));
  EXPECT_ERROR(Vault::Create(tmp.path(), Passphrase(kPassphrase), FastKdf()), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(tmp.path() / kHeaderFileName));
  EXPECT_FALSE(fs::exists(tmp.path() / kDatabaseDirName));
  EXPECT_EQ(testing::ReadFileOrEmpty(tmp.path() / "precious.txt"), "do not touch");

  // A regular file where the directory should be.
  EXPECT_ERROR(Vault::Create(tmp.path() / "precious.txt", Passphrase(kPassphrase), FastKdf()),
               ErrorCode::kAlreadyExists);

  // An existing vault is never overwritten, not even with the same passphrase.
  const fs::path dir = tmp.path() / "v";
  std::string case_id;
  {
    auto vault = CreateAndOpen(dir);
    ASSERT_NE(vault, nullptr);
    ASSERT_OK_AND_ASSIGN(CaseInfo c, vault->CreateCase("keep me", {}));
    case_id = c.id;
  }
  const std::string header_before = testing::ReadFileOrEmpty(dir / kHeaderFileName);
  EXPECT_ERROR(Vault::Create(dir, Passphrase("another passphrase"), FastKdf()), ErrorCode::kAlreadyExists);
  EXPECT_ERROR(Vault::Create(dir, Passphrase(kPassphrase), FastKdf()), ErrorCode::kAlreadyExists);
  EXPECT_EQ(testing::ReadFileOrEmpty(dir / kHeaderFileName), header_before);
  auto vault = OpenOrNull(dir);
  ASSERT_NE(vault, nullptr);
  ASSERT_OK_AND_ASSIGN(CaseInfo c, vault->GetCase(case_id));
  EXPECT_EQ(c.title, "keep me");
  EXPECT_ERROR(Vault::Open(dir, Passphrase("another passphrase")), ErrorCode::kWrongPassphrase);
}

TEST(VaultOpenTest, CreateWithWeakKdfCreatesNothing) {
  ScopedTempDir tmp;
  const fs::path dir = tmp.path() / "v";
  EXPECT_ERROR(Vault::Create(dir, Passphrase(kPassphrase), crypto::PassphraseKdfParams::New(1, 64ull << 20)),
               ErrorCode::kWeakParameters);
  EXPECT_ERROR(Vault::Create(dir, Passphrase(kPassphrase), crypto::PassphraseKdfParams::New(2, 32ull << 20)),
               ErrorCode::kWeakParameters);
  EXPECT_FALSE(fs::exists(dir));
}

// Regression (found by this test; fixed): (vault/vault.cc, Vault::Create): the directory is created (create_directories,
// chmod) before the passphrase is checked, so Create with an empty passphrase fails
// but leaves an empty directory behind, against "on error nothing was written".
// Expected: validate the passphrase (derive the KEK) before touching the file system.
TEST(VaultOpenTest, CreateWithEmptyPassphraseCreatesNothing) {
  ScopedTempDir tmp;
  const fs::path dir = tmp.path() / "v";
  EXPECT_FALSE(Vault::Create(dir, crypto::SecretBytes(), FastKdf()).has_value());
  EXPECT_FALSE(fs::exists(dir / kHeaderFileName));
  EXPECT_ERROR(Vault::Open(dir, Passphrase(kPassphrase)), ErrorCode::kNotAVault);
  EXPECT_FALSE(fs::exists(dir)) << "a failed Create left a directory behind";
}

TEST(VaultOpenTest, SecondOpenOfAnOpenVaultFails) {
  ScopedTempDir tmp;
  auto first = CreateAndOpen(tmp.path() / "v");
  ASSERT_NE(first, nullptr);
  auto second = Vault::Open(tmp.path() / "v", Passphrase(kPassphrase));
  EXPECT_FALSE(second.has_value()) << "two Vault objects on one database";
  // The first one still works.
  EXPECT_OK(first->CreateCase("still usable", {}));
}

// ---- cases ---------------------------------------------------------------------------

class VaultRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() / "vault";
    vault_ = CreateAndOpen(dir_);
    ASSERT_NE(vault_, nullptr);
  }
  void Reopen() {
    vault_.reset();
    vault_ = OpenOrNull(dir_);
    ASSERT_NE(vault_, nullptr);
  }
  CaseInfo NewCase(std::string_view title = "case") {
    auto c = vault_->CreateCase(title, {});
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c ? *c : CaseInfo{};
  }
  RecordRevision NewRecord(const std::string& case_id, const std::string& json) {
    auto r = vault_->AddRecord(case_id, json);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : RecordRevision{};
  }
  std::set<std::string> SearchIds(std::string_view text) {
    auto found = vault_->Search(text);
    EXPECT_TRUE(found.has_value()) << text << ": " << found.error().message;
    return found ? Ids(*found) : std::set<std::string>{};
  }

  ScopedTempDir tmp_;
  fs::path dir_;
  std::unique_ptr<Vault> vault_;
};

TEST_F(VaultRecordsTest, CasesCreateListGet) {
  ASSERT_OK_AND_ASSIGN(CaseInfo a, vault_->CreateCase("Дело №1: Нұр-Сұлтан", {"274", "Алматы"}));
  ASSERT_OK_AND_ASSIGN(CaseInfo b, vault_->CreateCase("Case two", {}));
  EXPECT_TRUE(IsHexId(a.id));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.status, "open");
  EXPECT_EQ(a.author, vault_->device_id());
  EXPECT_EQ(a.created.size(), 20u) << a.created;  // YYYY-MM-DDThh:mm:ssZ
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK_AND_ASSIGN(auto cases, vault_->ListCases());
    ASSERT_EQ(cases.size(), 2u);
    auto it = std::find_if(cases.begin(), cases.end(), [&](const CaseInfo& c) { return c.id == a.id; });
    ASSERT_NE(it, cases.end());
    EXPECT_EQ(it->title, "Дело №1: Нұр-Сұлтан");
    EXPECT_EQ(it->tags, (std::vector<std::string>{"274", "Алматы"}));
    ASSERT_OK_AND_ASSIGN(CaseInfo got, vault_->GetCase(b.id));
    EXPECT_EQ(got.title, "Case two");
    EXPECT_TRUE(got.tags.empty());
    Reopen();
  }
  EXPECT_ERROR(vault_->GetCase(std::string(32, '0')), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetCase("nothex"), ErrorCode::kInvalidArgument);
}

// ---- records -------------------------------------------------------------------------

TEST_F(VaultRecordsTest, AddAndGetRecord) {
  const CaseInfo c = NewCase();
  const std::string json_text = R"({"kind":"arrest","title":"Задержание","narrative":"Заведомо ложная информация",
    "location":{"city":"Нұр-Сұлтан"},"people":[{"name":"Асқар","role":"victim"}],"tags":["274"]})";
  ASSERT_OK_AND_ASSIGN(RecordRevision r, vault_->AddRecord(c.id, json_text));
  EXPECT_TRUE(IsHexId(r.record_id));
  EXPECT_TRUE(IsHexId(r.revision_id));
  EXPECT_EQ(r.case_id, c.id);
  EXPECT_EQ(r.revision, 1u);
  EXPECT_TRUE(r.parents.empty());
  EXPECT_EQ(r.author, vault_->device_id());
  EXPECT_EQ(r.data, json::parse(json_text));
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK_AND_ASSIGN(RecordView v, vault_->GetRecord(r.record_id, false));
    EXPECT_EQ(v.case_id, c.id);
    ASSERT_EQ(v.heads.size(), 1u);
    EXPECT_FALSE(v.conflict());
    EXPECT_TRUE(v.history.empty());
    EXPECT_EQ(v.heads[0].revision_id, r.revision_id);
    EXPECT_EQ(v.heads[0].data, json::parse(json_text));
    EXPECT_EQ(v.heads[0].data["location"]["city"].get<std::string>(), "Нұр-Сұлтан");
    ASSERT_OK_AND_ASSIGN(auto all, vault_->ListRecords(std::nullopt));
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].record_id, r.record_id);
    EXPECT_EQ(all[0].kind, "arrest");
    EXPECT_EQ(all[0].title, "Задержание");
    EXPECT_EQ(all[0].revision, 1u);
    Reopen();
  }
}

TEST_F(VaultRecordsTest, RecordsListedPerCase) {
  const CaseInfo a = NewCase("a");
  const CaseInfo b = NewCase("b");
  const auto r1 = NewRecord(a.id, SimpleRecord("one"));
  const auto r2 = NewRecord(a.id, SimpleRecord("two"));
  const auto r3 = NewRecord(b.id, SimpleRecord("three"));
  ASSERT_OK_AND_ASSIGN(auto in_a, vault_->ListRecords(a.id));
  EXPECT_EQ(Ids(in_a), (std::set<std::string>{r1.record_id, r2.record_id}));
  ASSERT_OK_AND_ASSIGN(auto in_b, vault_->ListRecords(b.id));
  EXPECT_EQ(Ids(in_b), (std::set<std::string>{r3.record_id}));
  for (const auto& s : in_b) EXPECT_EQ(s.case_id, b.id);
  ASSERT_OK_AND_ASSIGN(auto all, vault_->ListRecords(std::nullopt));
  EXPECT_EQ(all.size(), 3u);
  EXPECT_ERROR(vault_->ListRecords(std::string(32, 'a')), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->ListRecords(std::string_view("zz")), ErrorCode::kInvalidArgument);
}

TEST_F(VaultRecordsTest, AddRecordToUnknownCase) {
  const CaseInfo c = NewCase();
  std::string unknown = c.id;
  unknown[0] = unknown[0] == '0' ? '1' : '0';
  EXPECT_ERROR(vault_->AddRecord(unknown, SimpleRecord("x")), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->AddRecord(std::string(32, 'f'), SimpleRecord("x")), ErrorCode::kNotFound);
  // A record id is not a case id.
  const auto r = NewRecord(c.id, SimpleRecord("r"));
  EXPECT_ERROR(vault_->AddRecord(r.record_id, SimpleRecord("x")), ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto all, vault_->ListRecords(std::nullopt));
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(VaultRecordsTest, MalformedIdsRejected) {
  const CaseInfo c = NewCase();
  const auto r = NewRecord(c.id, SimpleRecord("r"));
  const std::string bad_ids[] = {
      "",
      "x",
      c.id.substr(0, 31),
      c.id + "0",
      c.id.substr(0, 30) + "zz",
      c.id.substr(0, 30) + "/.",
      "../../../../etc/passwd",
      std::string(32, ' '),
      std::string(1000, 'a'),
      std::string("0123456789abcdef0123456789abcde\0", 32),
  };
  for (const auto& id : bad_ids) {
    SCOPED_TRACE(id.substr(0, 40));
    EXPECT_ERROR(vault_->GetCase(id), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->AddRecord(id, SimpleRecord("x")), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->ListRecords(std::string_view(id)), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->EditRecord(id, SimpleRecord("x")), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->GetRecord(id, true), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->ListAttachments(id), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->GetAttachment(id), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->AddAttachment(id, dir_ / kHeaderFileName), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->ReadAttachment(id, [](crypto::ByteView) { return Ok(); }), ErrorCode::kInvalidArgument);
  }
  // Well-formed but unknown ids are kNotFound.
  const std::string unknown(32, '7');
  EXPECT_ERROR(vault_->GetRecord(unknown, false), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->EditRecord(unknown, SimpleRecord("x")), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetAttachment(unknown), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->ListAttachments(unknown), ErrorCode::kNotFound);
  // A case id is not a record id, and a revision id is not a record id.
  EXPECT_ERROR(vault_->GetRecord(c.id, false), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetRecord(r.revision_id, false), ErrorCode::kNotFound);
}

TEST_F(VaultRecordsTest, EditCreatesRevisionWithParentAndHistory) {
  const CaseInfo c = NewCase();
  ASSERT_OK_AND_ASSIGN(RecordRevision r1, vault_->AddRecord(c.id, SimpleRecord("first title", "first text")));
  ASSERT_OK_AND_ASSIGN(RecordRevision r2, vault_->EditRecord(r1.record_id, SimpleRecord("second title", "second text")));
  EXPECT_EQ(r2.record_id, r1.record_id);
  EXPECT_EQ(r2.case_id, c.id);
  EXPECT_EQ(r2.revision, 2u);
  EXPECT_NE(r2.revision_id, r1.revision_id);
  EXPECT_EQ(r2.parents, (std::vector<std::string>{r1.revision_id}));

  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK_AND_ASSIGN(RecordView v, vault_->GetRecord(r1.record_id, true));
    ASSERT_EQ(v.heads.size(), 1u);
    EXPECT_FALSE(v.conflict());
    EXPECT_EQ(v.heads[0].revision_id, r2.revision_id);
    EXPECT_EQ(v.heads[0].revision, 2u);
    EXPECT_EQ(v.heads[0].data["title"], "second title");
    ASSERT_EQ(v.history.size(), 2u);
    EXPECT_EQ(v.history[0].revision_id, r1.revision_id);
    EXPECT_EQ(v.history[0].revision, 1u);
    EXPECT_TRUE(v.history[0].parents.empty());
    EXPECT_EQ(v.history[0].data["title"], "first title");
    EXPECT_EQ(v.history[1].revision_id, r2.revision_id);
    EXPECT_EQ(v.history[1].parents, (std::vector<std::string>{r1.revision_id}));
    EXPECT_EQ(v.history[1].data["narrative"], "second text");
    ASSERT_OK_AND_ASSIGN(auto all, vault_->ListRecords(std::nullopt));
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].revision, 2u);
    EXPECT_EQ(all[0].title, "second title");
    EXPECT_FALSE(all[0].conflict);
    Reopen();
  }

  // A third revision chains onto the second, and history stays oldest first.
  ASSERT_OK_AND_ASSIGN(RecordRevision r3, vault_->EditRecord(r1.record_id, SimpleRecord("third")));
  EXPECT_EQ(r3.revision, 3u);
  EXPECT_EQ(r3.parents, (std::vector<std::string>{r2.revision_id}));
  ASSERT_OK_AND_ASSIGN(RecordView v, vault_->GetRecord(r1.record_id, true));
  ASSERT_EQ(v.history.size(), 3u);
  EXPECT_EQ(v.history[0].revision_id, r1.revision_id);
  EXPECT_EQ(v.history[1].revision_id, r2.revision_id);
  EXPECT_EQ(v.history[2].revision_id, r3.revision_id);
  EXPECT_EQ(v.heads[0].revision_id, r3.revision_id);
}

TEST_F(VaultRecordsTest, HistoryOfOneRecordExcludesOthers) {
  const CaseInfo c = NewCase();
  const auto a = NewRecord(c.id, SimpleRecord("a"));
  const auto b = NewRecord(c.id, SimpleRecord("b"));
  ASSERT_OK(vault_->EditRecord(b.record_id, SimpleRecord("b2")));
  ASSERT_OK_AND_ASSIGN(RecordView va, vault_->GetRecord(a.record_id, true));
  ASSERT_EQ(va.history.size(), 1u);
  EXPECT_EQ(va.history[0].data["title"], "a");
  ASSERT_OK_AND_ASSIGN(RecordView vb, vault_->GetRecord(b.record_id, true));
  EXPECT_EQ(vb.history.size(), 2u);
}

// ---- search --------------------------------------------------------------------------

TEST_F(VaultRecordsTest, SearchFindsWordsCaseInsensitively) {
  const CaseInfo c = NewCase();
  const auto protest = NewRecord(c.id, SimpleRecord("Dispersal", "The Protest was dispersed near the Akimat"));
  const auto russian = NewRecord(c.id, SimpleRecord("Статья 274", "Заведомо ложная информация в сети"));
  const auto kazakh = NewRecord(c.id, R"({"kind":"event","title":"Митинг","location":{"city":"Нұр-Сұлтан"},
      "people":[{"name":"Әсел Қуанышқызы","role":"witness"}]})");
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    EXPECT_EQ(SearchIds("protest"), (std::set<std::string>{protest.record_id}));
    EXPECT_EQ(SearchIds("PROTEST"), (std::set<std::string>{protest.record_id}));
    EXPECT_EQ(SearchIds("ProTeSt"), (std::set<std::string>{protest.record_id}));
    EXPECT_EQ(SearchIds("akimat"), (std::set<std::string>{protest.record_id}));
    EXPECT_EQ(SearchIds("dispersal"), (std::set<std::string>{protest.record_id}));  // the title
    EXPECT_EQ(SearchIds("ЛОЖНАЯ"), (std::set<std::string>{russian.record_id}));
    EXPECT_EQ(SearchIds("ложная"), (std::set<std::string>{russian.record_id}));
    EXPECT_EQ(SearchIds("«Заведомо»"), (std::set<std::string>{russian.record_id}));
    EXPECT_EQ(SearchIds("274"), (std::set<std::string>{russian.record_id}));
    EXPECT_EQ(SearchIds("НҰР-СҰЛТАН"), (std::set<std::string>{kazakh.record_id}));
    EXPECT_EQ(SearchIds("сұлтан"), (std::set<std::string>{kazakh.record_id}));
    EXPECT_EQ(SearchIds("ӘСЕЛ"), (std::set<std::string>{kazakh.record_id}));
    EXPECT_EQ(SearchIds("қуанышқызы"), (std::set<std::string>{kazakh.record_id}));
    EXPECT_TRUE(SearchIds("nonexistentword").empty());
    EXPECT_TRUE(SearchIds("protes").empty());  // whole words, not prefixes
    EXPECT_TRUE(SearchIds("сұлт").empty());
    Reopen();
  }
  ASSERT_OK_AND_ASSIGN(auto found, vault_->Search("protest"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].case_id, c.id);
  EXPECT_EQ(found[0].title, "Dispersal");
}

TEST_F(VaultRecordsTest, SearchUsesAndAcrossWords) {
  const CaseInfo c = NewCase();
  const auto ab = NewRecord(c.id, SimpleRecord("t", "alpha beta"));
  const auto bc = NewRecord(c.id, SimpleRecord("t", "beta gamma"));
  const auto abc = NewRecord(c.id, SimpleRecord("t", "gamma beta alpha"));
  EXPECT_EQ(SearchIds("beta"), (std::set<std::string>{ab.record_id, bc.record_id, abc.record_id}));
  EXPECT_EQ(SearchIds("alpha beta"), (std::set<std::string>{ab.record_id, abc.record_id}));
  EXPECT_EQ(SearchIds("BETA, alpha."), (std::set<std::string>{ab.record_id, abc.record_id}));
  EXPECT_EQ(SearchIds("alpha gamma"), (std::set<std::string>{abc.record_id}));
  EXPECT_EQ(SearchIds("alpha beta gamma"), (std::set<std::string>{abc.record_id}));
  EXPECT_TRUE(SearchIds("alpha delta").empty());
  EXPECT_TRUE(SearchIds("delta alpha").empty());
  // Words across different fields of one record also match together.
  const auto split = NewRecord(c.id, R"({"kind":"k","title":"omega","narrative":"sigma"})");
  EXPECT_EQ(SearchIds("omega sigma"), (std::set<std::string>{split.record_id}));
}

// Regression (found by this test; fixed): (vault/tokenizer.cc Tokenize + vault/vault.cc Vault::Search): words longer than
// kMaxTokenBytes (64 bytes: e.g. 33 Cyrillic letters, or a long identifier) are
// dropped from the query without notice, so "protest <long word>" returns every
// record containing "protest", although none contains the long word — against
// "records any revision of which contains every word of text". Expected: an empty
// result (or kInvalidArgument), never records that lack a searched word.
TEST_F(VaultRecordsTest, SearchNeverIgnoresAWord) {
  const CaseInfo c = NewCase();
  NewRecord(c.id, SimpleRecord("t", "protest dispersed"));
  const std::string long_word(70, 'x');
  EXPECT_TRUE(SearchIds("protest " + long_word).empty()) << "a searched word was ignored";
  std::string long_cyrillic;
  for (int i = 0; i < 33; ++i) long_cyrillic += "ж";
  EXPECT_TRUE(SearchIds("protest " + long_cyrillic).empty()) << "a searched word was ignored";
}

TEST_F(VaultRecordsTest, SearchWithoutWordsRejected) {
  EXPECT_ERROR(vault_->Search(""), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->Search("  , . — «»"), ErrorCode::kInvalidArgument);
}

TEST_F(VaultRecordsTest, SearchCoversEveryRevision) {
  // "Records any revision of which contains every word": an edit does not hide what
  // an earlier revision said.
  const CaseInfo c = NewCase();
  const auto r = NewRecord(c.id, SimpleRecord("t", "original wording"));
  ASSERT_OK(vault_->EditRecord(r.record_id, SimpleRecord("t", "corrected text")));
  EXPECT_EQ(SearchIds("original"), (std::set<std::string>{r.record_id}));
  EXPECT_EQ(SearchIds("corrected"), (std::set<std::string>{r.record_id}));
  Reopen();
  EXPECT_EQ(SearchIds("wording"), (std::set<std::string>{r.record_id}));
  EXPECT_EQ(SearchIds("text"), (std::set<std::string>{r.record_id}));
}

// ---- passphrase change ---------------------------------------------------------------

TEST_F(VaultRecordsTest, ChangePassphrase) {
  const CaseInfo c = NewCase("Дело");
  const auto r = NewRecord(c.id, SimpleRecord("title", "Заведомо ложная"));
  ASSERT_OK(vault_->ChangePassphrase(Passphrase("a new passphrase"), FastKdf()));
  // Still usable in this session.
  ASSERT_OK(vault_->CreateCase("after change", {}));
  vault_.reset();
  EXPECT_ERROR(Vault::Open(dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  ASSERT_OK_AND_ASSIGN(vault_, Vault::Open(dir_, Passphrase("a new passphrase")));
  ASSERT_OK_AND_ASSIGN(auto cases, vault_->ListCases());
  EXPECT_EQ(cases.size(), 2u);
  ASSERT_OK_AND_ASSIGN(CaseInfo got, vault_->GetCase(c.id));
  EXPECT_EQ(got.title, "Дело");
  ASSERT_OK_AND_ASSIGN(RecordView v, vault_->GetRecord(r.record_id, true));
  EXPECT_EQ(v.heads.at(0).data["narrative"], "Заведомо ложная");
  EXPECT_EQ(SearchIds("ложная"), (std::set<std::string>{r.record_id}));
  // A failed change (weak parameters) leaves the current passphrase in force.
  EXPECT_ERROR(vault_->ChangePassphrase(Passphrase("weak"), crypto::PassphraseKdfParams::New(1, 64ull << 20)),
               ErrorCode::kWeakParameters);
  vault_.reset();
  EXPECT_ERROR(Vault::Open(dir_, Passphrase("weak")), ErrorCode::kWrongPassphrase);
  EXPECT_OK(Vault::Open(dir_, Passphrase("a new passphrase")));
}

// ---- rejected input stores nothing ---------------------------------------------------

// Everything a reader can see, as one comparable string.
std::string Snapshot(Vault& vault) {
  std::string out;
  auto cases = vault.ListCases();
  if (!cases) return "ListCases failed: " + cases.error().message;
  std::vector<CaseInfo> sorted = *cases;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& c : sorted) {
    out += "case " + c.id + " " + c.title + " " + json(c.tags).dump() + "\n";
    auto in_case = vault.ListRecords(c.id);
    if (!in_case) return "ListRecords(case) failed";
    out += "  records " + std::to_string(in_case->size()) + "\n";
  }
  auto records = vault.ListRecords(std::nullopt);
  if (!records) return "ListRecords failed: " + records.error().message;
  std::vector<RecordSummary> rs = *records;
  std::sort(rs.begin(), rs.end(), [](const auto& a, const auto& b) { return a.record_id < b.record_id; });
  for (const auto& r : rs) {
    out += "record " + r.record_id + " " + r.case_id + " " + std::to_string(r.revision) + " " + r.title + "\n";
    auto view = vault.GetRecord(r.record_id, true);
    if (!view) return "GetRecord failed: " + view.error().message;
    for (const auto& h : view->history) {
      out += "  rev " + h.revision_id + " " + std::to_string(h.revision) + " " + h.data.dump() + "\n";
    }
    for (const auto& h : view->heads) out += "  head " + h.revision_id + "\n";
  }
  return out;
}

TEST_F(VaultRecordsTest, RejectedInputStoresNothing) {
  const CaseInfo c = NewCase("existing");
  const auto r = NewRecord(c.id, SimpleRecord("existing record", "baseline"));
  const std::string before = Snapshot(*vault_);
  ASSERT_EQ(before.find("failed"), std::string::npos) << before;

  // Every bad record carries the word "zzleak", so a partial write would be searchable.
  const std::string bad_records[] = {
      "{\"kind\":\"k\",\"title\":\"zzleak\"",                                  // invalid JSON
      R"({"kind":"k","title":"zzleak","unknown":"x"})",                        // unknown field
      R"({"kind":"k","narrative":"zzleak"})",                                   // no title
      R"({"kind":"k","title":"zzleak","occurred":{"from":"2019-13"}})",         // bad date
      R"({"kind":"k","title":"zzleak","people":[{"name":"a","role":"boss"}]})", // bad enum
      "{\"kind\":\"k\",\"title\":\"zzleak \xFF\"}",                             // invalid UTF-8
      R"({"kind":"k","title":"zzleak","narrative":5})",                         // wrong type
      R"({"kind":"k","title":"zzleak","tags":["a\u0000"]})",                    // control char
      R"(["zzleak"])",                                                          // not an object
  };
  for (const auto& bad : bad_records) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR(vault_->AddRecord(c.id, bad), ErrorCode::kInvalidArgument);
    EXPECT_ERROR(vault_->EditRecord(r.record_id, bad), ErrorCode::kInvalidArgument);
  }
  EXPECT_ERROR(vault_->AddRecord(std::string(32, 'e'), SimpleRecord("zzleak")), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->AddRecord("bad id", SimpleRecord("zzleak")), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->EditRecord(std::string(32, 'e'), SimpleRecord("zzleak")), ErrorCode::kNotFound);

  const std::string bad_titles[] = {
      "", "   ", "zzleak\n", "zzleak\x01", "zzleak \xC3", std::string(1001, 'z'),
  };
  for (const auto& title : bad_titles) {
    SCOPED_TRACE(title.substr(0, 20));
    EXPECT_ERROR(vault_->CreateCase(title, {}), ErrorCode::kInvalidArgument);
  }
  EXPECT_ERROR(vault_->CreateCase("zzleak good title", {"ok", ""}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->CreateCase("zzleak good title", {"bad\ttag"}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->CreateCase("zzleak good title", {std::string(201, 't')}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(vault_->CreateCase("zzleak good title", {"\xFF"}), ErrorCode::kInvalidArgument);

  EXPECT_EQ(Snapshot(*vault_), before);
  EXPECT_TRUE(SearchIds("zzleak").empty());
  // The vault still works normally afterwards.
  ASSERT_OK_AND_ASSIGN(RecordRevision r2, vault_->EditRecord(r.record_id, SimpleRecord("edited")));
  EXPECT_EQ(r2.revision, 2u);
  EXPECT_EQ(r2.parents, (std::vector<std::string>{r.revision_id}));
  const std::string after_edit = Snapshot(*vault_);
  Reopen();
  EXPECT_EQ(Snapshot(*vault_), after_edit);
  EXPECT_TRUE(SearchIds("zzleak").empty());
}

TEST_F(VaultRecordsTest, RejectedInputAfterReopenStoresNothing) {
  const CaseInfo c = NewCase("existing");
  const auto r = NewRecord(c.id, SimpleRecord("existing record"));
  Reopen();
  const std::string before = Snapshot(*vault_);
  EXPECT_FALSE(vault_->AddRecord(c.id, R"({"kind":"k","title":"zzleak","x":1})").has_value());
  EXPECT_FALSE(vault_->EditRecord(r.record_id, R"({"kind":"k"})").has_value());
  EXPECT_FALSE(vault_->CreateCase("", {}).has_value());
  Reopen();
  EXPECT_EQ(Snapshot(*vault_), before);
  EXPECT_TRUE(SearchIds("zzleak").empty());
}

}  // namespace
}  // namespace evault::vault
