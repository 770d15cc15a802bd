// A seized vault reveals nothing: after records, a case, tags and an attachment (content
// and file name) carrying distinctive markers were stored, searched and edited, no
// marker — raw, or in the lower-cased form the search index uses — and not the
// passphrase appears in any byte of any file under the vault directory or the temp
// directory. Markers are random per run, so a stale file (an old build's assembly in
// /tmp, another run's leftovers) cannot cause a false alarm, and a hit can only be a
// leak from this run.
#include "vault/vault.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "tests/vault/test_util.h"
#include "vault/tokenizer.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScopedTempDir;

std::string RandomAlnum(std::size_t n) {
  static constexpr char kChars[] = "abcdefghijkmnpqrstuvwxyz23456789";  // 32
  std::string out;
  for (auto b : crypto::RandomBytes(n)) out += kChars[b % 32];
  return out;
}

std::string RandomCyrillicUpper(std::size_t n) {
  static const char* kLetters[] = {"А", "Б", "В", "Г", "Д", "Е", "Ж", "З", "И", "К", "Л", "М",
                                   "Н", "О", "П", "Р", "С", "Т", "У", "Ф", "Х", "Ц", "Ч", "Ш",
                                   "Ә", "Ғ", "Қ", "Ң", "Ө", "Ұ", "Ү", "І"};  // 32
  std::string out;
  for (auto b : crypto::RandomBytes(n)) out += kLetters[b % 32];
  return out;
}

// An ASCII marker with upper-case letters (so its indexed form differs) and a Cyrillic
// one, each a single search token.
constexpr std::size_t kContentBytes = (5u << 20) / 2;  // 2.5 MiB: three chunks

std::string AsciiMarker(std::string_view what) { return "MARKER" + std::string(what) + "Q" + RandomAlnum(12); }
std::string CyrillicMarker() { return "МАРКЕР" + RandomCyrillicUpper(8); }

struct ScanStats {
  std::size_t files = 0;
  std::size_t bytes = 0;
  std::size_t unreadable = 0;
  std::size_t older = 0;  // skipped: not written since the markers existed
  std::vector<std::string> hits;  // "path: needle"
};

// Walks `root` without following symlinks, tolerating files that vanish meanwhile
// (other processes share /tmp). With `since` set, files whose content and inode have
// not changed since then (mtime and ctime both older; ctime cannot be set back by a
// process) are skipped: the markers are random per run and did not exist before
// `since`, so such a file cannot hold them. This keeps a shared /tmp with gigabytes of
// other processes' files from making the test slow.
void ScanTree(const fs::path& root, const std::vector<std::string>& needles, ScanStats& stats,
              const std::vector<std::string>& printable, std::optional<std::time_t> since = std::nullopt) {
  std::error_code ec;
  fs::directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path path = it->path();
    for (std::size_t i = 0; i < needles.size(); ++i) {
      if (path.filename().string().find(needles[i]) != std::string::npos) {
        stats.hits.push_back(path.string() + " (in the file name): " + printable[i]);
      }
    }
    std::error_code sec;
    const auto st = fs::symlink_status(path, sec);
    if (sec) continue;
    if (fs::is_directory(st)) {
      ScanTree(path, needles, stats, printable, since);
    } else if (fs::is_regular_file(st)) {
      struct stat raw {};
      if (since && ::lstat(path.c_str(), &raw) == 0 && raw.st_mtime < *since && raw.st_ctime < *since) {
        ++stats.older;
        continue;
      }
      bool readable = false;
      const auto found = testing::FindNeedlesInFile(path, needles, &readable);
      if (!readable) {
        ++stats.unreadable;
        continue;
      }
      ++stats.files;
      stats.bytes += static_cast<std::size_t>(fs::file_size(path, sec));
      for (const auto& f : found) {
        const auto i = static_cast<std::size_t>(std::find(needles.begin(), needles.end(), f) - needles.begin());
        stats.hits.push_back(path.string() + ": " + printable[i]);
      }
    }
  }
}

class SeizureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    passphrase_ = "pass " + RandomAlnum(10) + " Құпия " + RandomAlnum(6);
    // One marker per field, so a hit names the field that leaked.
    for (const char* field : {"kind", "title", "country", "region", "city", "place", "name", "affiliation",
                              "notes", "code", "article", "description", "court", "outcome", "sentence",
                              "narrative", "srckind", "reference", "tag", "casetitle", "casetag", "content",
                              "filename", "edited"}) {
      ascii_[field] = AsciiMarker(field);
    }
    for (const char* field : {"title", "city", "name", "narrative", "tag", "casetitle", "casetag", "filename",
                              "edited"}) {
      cyrillic_[field] = CyrillicMarker();
    }
  }

  // The needles: every marker raw and as indexed (Tokenize's lower-cased tokens), and
  // the passphrase.
  void Needles(std::vector<std::string>& needles, std::vector<std::string>& printable) const {
    auto add = [&](const std::string& needle, const std::string& label) {
      if (std::find(needles.begin(), needles.end(), needle) != needles.end()) return;
      needles.push_back(needle);
      printable.push_back(label);
    };
    for (const auto* markers : {&ascii_, &cyrillic_}) {
      for (const auto& [field, marker] : *markers) {
        add(marker, field + " marker");
        const auto tokens = Tokenize(marker);
        EXPECT_EQ(tokens.size(), 1u) << marker;
        for (const auto& t : tokens) {
          EXPECT_NE(t, marker) << "the indexed form should differ from the raw marker";
          add(t, field + " marker (indexed form)");
        }
      }
    }
    add(passphrase_, "the passphrase");
  }

  std::string RecordJson() const {
    const auto& a = ascii_;
    const auto& c = cyrillic_;
    json j = {
        {"kind", a.at("kind")},
        {"title", "Задержание " + c.at("title") + " " + a.at("title")},
        {"occurred", {{"from", "2019-06-09"}, {"precision", "day"}}},
        {"location",
         {{"country", a.at("country")}, {"region", a.at("region")}, {"city", c.at("city") + " " + a.at("city")},
          {"place", a.at("place")}}},
        {"people",
         {{{"name", c.at("name") + " " + a.at("name")}, {"role", "victim"}, {"affiliation", a.at("affiliation")},
           {"notes", a.at("notes")}}}},
        {"legal",
         {{"charges", {{{"code", a.at("code")}, {"article", a.at("article")}, {"description", a.at("description")}}}},
          {"court", a.at("court")},
          {"outcome", a.at("outcome")},
          {"sentence", a.at("sentence")}}},
        {"narrative", "Заведомо ложная информация: " + c.at("narrative") + ", " + a.at("narrative") + "."},
        {"sources", {{{"kind", a.at("srckind")}, {"reference", a.at("reference")}, {"reliability", "high"}}}},
        {"tags", {a.at("tag"), c.at("tag")}},
    };
    return j.dump();
  }

  void ExpectNothingLeaks(const fs::path& vault_dir, const char* when) {
    SCOPED_TRACE(when);
    std::vector<std::string> needles, printable;
    Needles(needles, printable);

    ScanStats vault_stats;
    ScanTree(vault_dir, needles, vault_stats, printable);
    EXPECT_GE(vault_stats.files, 3u) << "the vault directory scan found almost nothing";
    EXPECT_EQ(vault_stats.unreadable, 0u);
    EXPECT_GT(vault_stats.bytes, kContentBytes) << "the attachment's ciphertext should be there";
    for (const auto& hit : vault_stats.hits) ADD_FAILURE() << "plaintext in the vault: " << hit;

    const char* env = std::getenv("TMPDIR");
    const fs::path temp = (env && *env) ? fs::path(env) : fs::path("/tmp");
    ScanStats temp_stats;
    ScanTree(temp, needles, temp_stats, printable, started_ - 2);
    if (fs::path(::testing::TempDir()) != temp) {
      ScanTree(::testing::TempDir(), needles, temp_stats, printable, started_ - 2);
    }
    EXPECT_GT(temp_stats.files, 3u) << "the temp scan should at least include the vault";
    std::printf("%s: scanned %zu vault files (%zu bytes) and %zu temp files (%zu bytes); %zu older temp files "
                "skipped, %zu unreadable\n",
                when, vault_stats.files, vault_stats.bytes, temp_stats.files, temp_stats.bytes, temp_stats.older,
                temp_stats.unreadable);
    for (const auto& hit : temp_stats.hits) ADD_FAILURE() << "plaintext in the temp directory: " << hit;
  }

  const std::time_t started_ = std::time(nullptr);
  ScopedTempDir tmp_;
  std::string passphrase_;
  std::map<std::string, std::string> ascii_, cyrillic_;
};

TEST_F(SeizureTest, ScannerFindsPlantedMarker) {
  // The scanner itself must work, or the real test proves nothing: plant a marker
  // across the scanner's 1 MiB block boundary.
  std::vector<std::string> needles, printable;
  Needles(needles, printable);
  std::string content(1 << 20, 'x');
  content.replace(content.size() - 5, 0, cyrillic_.at("name"));
  testing::WriteFile(tmp_.path() / "planted.bin", std::string_view(content));
  ScanStats stats;
  ScanTree(tmp_.path(), needles, stats, printable);
  ASSERT_EQ(stats.hits.size(), 1u);
  EXPECT_NE(stats.hits[0].find("name marker"), std::string::npos);
  const auto indexed = *Tokenize(ascii_.at("court")).begin();
  testing::WriteFile(tmp_.path() / "planted.bin", std::string_view("..." + indexed + "..."));
  ScanStats stats2;
  ScanTree(tmp_.path(), needles, stats2, printable);
  ASSERT_EQ(stats2.hits.size(), 1u);
  EXPECT_NE(stats2.hits[0].find("court marker (indexed form)"), std::string::npos);
}

TEST_F(SeizureTest, NoPlaintextAtRest) {
  const fs::path vault_dir = tmp_.path() / "vault";
  const fs::path source_dir = tmp_.path() / "source";
  fs::create_directories(source_dir);
  const std::string file_name = "Видео " + cyrillic_.at("filename") + " " + ascii_.at("filename") + ".mp4";
  const fs::path source = source_dir / file_name;
  std::string record_id, attachment_id;
  std::string sha256;

  {
    auto created = Vault::Create(vault_dir, testing::Passphrase(passphrase_), testing::FastKdf());
    ASSERT_TRUE(created.has_value()) << created.error().message;
    ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(vault_dir, testing::Passphrase(passphrase_)));
    ASSERT_OK_AND_ASSIGN(CaseInfo c,
                         vault->CreateCase("Дело " + cyrillic_.at("casetitle") + " " + ascii_.at("casetitle"),
                                           {ascii_.at("casetag"), cyrillic_.at("casetag")}));
    ASSERT_OK_AND_ASSIGN(RecordRevision r, vault->AddRecord(c.id, RecordJson()));
    record_id = r.record_id;
    // A second, ordinary record, so the index has more than one entry per word list.
    ASSERT_OK(vault->AddRecord(c.id, testing::SimpleRecord("ordinary", "nothing special here")));

    // Content: 2.5 MiB of pattern with the markers in every chunk, one across a boundary.
    crypto::Bytes content = testing::Pattern(77, kContentBytes);
    const std::string m = ascii_.at("content") + " " + cyrillic_.at("narrative");
    for (std::size_t off : {std::size_t{0}, std::size_t{(1u << 20) - 7}, std::size_t{(2u << 20) + 100},
                            content.size() - m.size()}) {
      std::copy(m.begin(), m.end(), content.begin() + static_cast<std::ptrdiff_t>(off));
    }
    testing::WriteFile(source, content);
    ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault->AddAttachment(record_id, source));
    attachment_id = a.id;
    sha256 = a.sha256;
    EXPECT_EQ(a.file_name, file_name);
    fs::remove_all(source_dir);  // the original is not the vault's to protect

    // Every marker is searchable, so the index really holds these words.
    for (const auto* markers : {&ascii_, &cyrillic_}) {
      for (const auto& [field, marker] : *markers) {
        if (field == "casetitle" || field == "casetag" || field == "content" || field == "filename" ||
            field == "edited") {
          continue;  // not record text
        }
        ASSERT_OK_AND_ASSIGN(auto found, vault->Search(marker));
        EXPECT_EQ(found.size(), 1u) << field << " marker not found by search";
      }
    }
    // An edit, so there is history (the first revision's text stays stored).
    json edited = json::parse(RecordJson());
    edited["narrative"] = "Исправлено " + cyrillic_.at("edited") + " " + ascii_.at("edited");
    ASSERT_OK(vault->EditRecord(record_id, edited.dump()));
    ASSERT_OK_AND_ASSIGN(auto found, vault->Search(ascii_.at("edited")));
    EXPECT_EQ(found.size(), 1u);
    ASSERT_OK_AND_ASSIGN(crypto::Bytes back, testing::ReadAll(*vault, attachment_id));
    EXPECT_EQ(testing::Sha256Hex(back), sha256);
  }  // closed: the Vault object is destroyed

  ExpectNothingLeaks(vault_dir, "after the first session (data in the write-ahead log)");

  {
    // Reopening replays the log into SST and blob files; read and search everything.
    ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(vault_dir, testing::Passphrase(passphrase_)));
    ASSERT_OK_AND_ASSIGN(RecordView v, vault->GetRecord(record_id, true));
    EXPECT_EQ(v.history.size(), 2u);
    ASSERT_OK_AND_ASSIGN(auto found, vault->Search(cyrillic_.at("narrative")));
    EXPECT_EQ(found.size(), 1u);
    ASSERT_OK_AND_ASSIGN(crypto::Bytes back, testing::ReadAll(*vault, attachment_id));
    EXPECT_EQ(testing::Sha256Hex(back), sha256);
    ASSERT_OK_AND_ASSIGN(auto cases, vault->ListCases());
    ASSERT_EQ(cases.size(), 1u);
    EXPECT_NE(cases[0].title.find(ascii_.at("casetitle")), std::string::npos);
    ASSERT_OK(vault->ChangePassphrase(testing::Passphrase(passphrase_ + " new"), testing::FastKdf()));
  }
  bool has_sst = false;
  for (const auto& e : fs::directory_iterator(vault_dir / "db")) has_sst |= e.path().extension() == ".sst";
  EXPECT_TRUE(has_sst) << "expected the reopen to write SST files";

  ExpectNothingLeaks(vault_dir, "after reopening (data in SST and blob files)");
}

}  // namespace
}  // namespace evault::vault
