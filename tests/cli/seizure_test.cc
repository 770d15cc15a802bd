// Seizure: after a realistic session (records, an edit, an attachment, searches), no
// plaintext from it may be on disk — not in the vault, not in $TMPDIR or /tmp. Marker
// strings (ASCII, Russian, Kazakh) go into every kind of field; the plaintext inputs
// live outside the scanned directories and are deleted before the scan, which reads
// every byte of every readable regular file.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <set>

#include <fmt/core.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;

constexpr std::uintmax_t kMaxScannedFileBytes = std::uintmax_t{1} << 30;

struct Hit {
  fs::path file;
  std::string marker_label;
};

// Reads every regular file under `root` (not following symlinks) and reports each file
// that holds one of `markers`. Every marker contains one of `keys` (the random tag), so a
// block is searched for the keys first and for the markers only where a key is; a key
// without a whole marker around it is reported too.
void Scan(const fs::path& root, const std::vector<std::string>& keys,
          const std::vector<std::pair<std::string, std::string>>& markers, std::set<fs::path>& seen,
          std::vector<Hit>& hits, std::size_t& files_scanned, std::uintmax_t& bytes_scanned) {
  std::size_t longest = 0;
  for (const auto& [label, m] : markers) longest = std::max(longest, m.size());
  std::vector<std::boyer_moore_horspool_searcher<std::string::const_iterator>> searchers;
  for (const auto& k : keys) searchers.emplace_back(k.begin(), k.end());
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  std::vector<char> buffer(1 << 20);
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code st_ec;
    const auto status = it->symlink_status(st_ec);
    if (st_ec || !fs::is_regular_file(status)) continue;
    const auto size = it->file_size(st_ec);
    if (st_ec || size > kMaxScannedFileBytes) continue;
    if (!seen.insert(fs::weakly_canonical(it->path(), st_ec)).second) continue;  // roots may nest
    std::ifstream in(it->path(), std::ios::binary);
    if (!in) continue;
    ++files_scanned;
    std::string window;  // the tail of the previous block, so a marker across blocks is found
    std::set<std::string> found;
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      bytes_scanned += got;
      window.append(buffer.data(), got);
      const bool has_key = std::any_of(searchers.begin(), searchers.end(), [&](const auto& searcher) {
        return std::search(window.cbegin(), window.cend(), searcher) != window.cend();
      });
      if (has_key) {
        bool whole = false;
        for (const auto& [label, m] : markers) {
          if (window.find(m) != std::string::npos) {
            found.insert(label);
            whole = true;
          }
        }
        if (!whole) found.insert("the random tag of the markers");
      }
      if (window.size() > longest) window.erase(0, window.size() - longest);
    }
    for (const auto& label : found) hits.push_back({it->path(), label});
  }
}

std::string AsciiUpper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class SeizureTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    std::string tmpl = (fs::path(EVAULT_CLI_PRIVATE_DIR) / "seizure-private-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "cannot create a private directory in " << EVAULT_CLI_PRIVATE_DIR;
    private_dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(private_dir_, ec);
    CliTest::TearDown();
  }
  fs::path private_dir_;
};

TEST_F(SeizureTest, NoPlaintextOnDiskAfterASession) {
  // Random, so no other file can hold them by chance, and built at run time, so the
  // test binary does not either.
  const std::string tag = RandomHex(8);
  std::vector<std::pair<std::string, std::string>> markers = {
      {"case title", "zqxcasetitle" + tag},
      {"case tag", "zqxcasetag" + tag},
      {"record title", "zqxrecordtitle" + tag},
      {"narrative (Russian)", "задержаниесвидетеля" + tag},
      {"person name (Kazakh)", "жанарқызы" + tag},
      {"person notes", "zqxpersonnotes" + tag},
      {"location", "zqxplace" + tag},
      {"source reference", "zqxsource" + tag},
      {"edited narrative (Russian)", "повторноеизменение" + tag},
      {"stdin record title", "zqxstdintitle" + tag},
      {"attachment content", "zqxattachmentcontent" + tag},
      {"attachment content (Russian)", "протоколдопроса" + tag},
      {"attachment file name", "zqxfilename" + tag},
  };
  auto M = [&](std::string_view label) {
    for (const auto& [l, m] : markers) {
      if (l == label) return m;
    }
    throw std::logic_error("no marker " + std::string(label));
  };

  // The child gets its own HOME, TMPDIR and working directory inside the (scanned) test
  // directory, so anything it writes there is caught too.
  RunOptions opts;
  for (const char* sub : {"home", "tmp", "cwd"}) fs::create_directory(Path(sub));
  opts.env["HOME"] = Path("home").string();
  opts.env["TMPDIR"] = Path("tmp").string();
  opts.env["XDG_DATA_HOME"] = Path("home").string();
  opts.env["XDG_CACHE_HOME"] = Path("home").string();
  opts.cwd = Path("cwd").string();
  auto ev = [&](const std::vector<std::string>& args, const std::string& stdin_data = "") {
    RunOptions o = opts;
    o.stdin_data = stdin_data;
    return Ev(args, o);
  };
  // Failure messages below never print command output, which holds the markers.
  auto ok = [](const RunResult& r) { return r.exit_code == 0 && !r.timed_out; };

  ASSERT_TRUE(ok(ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"})));
  auto made_case = ev({"case", "new", "--title", "Дело " + M("case title"), "--tag", M("case tag")});
  ASSERT_TRUE(ok(made_case));
  const std::string case_id = FirstWord(made_case.out);
  ASSERT_TRUE(IsId(case_id));

  // A record from a file in the private directory...
  json record = json::parse(DemoFile("03-dvk-article-405/02-record.json"));
  record["title"] = "Detention of " + M("record title");
  record["narrative"] = "Задержание: " + M("narrative (Russian)") + " в Атырау.";
  record["people"][0]["name"] = "Жанар " + M("person name (Kazakh)");
  record["people"][0]["notes"] = M("person notes");
  record["location"]["place"] = M("location");
  record["sources"][0]["reference"] = M("source reference");
  const fs::path record_file = private_dir_ / "record.json";
  WriteFile(record_file, record.dump(2));
  auto added = ev({"record", "add", "--case", case_id, "--json", record_file.string()});
  ASSERT_TRUE(ok(added));
  const std::string record_id = FirstWord(added.out);

  // ...one from stdin, an edit, and an attachment with a marked name and content.
  auto from_stdin = ev({"record", "add", "--case", case_id, "--json", "-"},
                       SimpleRecord(M("stdin record title"), "Через стандартный ввод").dump());
  ASSERT_TRUE(ok(from_stdin));
  record["narrative"] = "Изменено: " + M("edited narrative (Russian)");
  const fs::path edit_file = private_dir_ / "edit.json";
  WriteFile(edit_file, record.dump(2));
  ASSERT_TRUE(ok(ev({"record", "edit", record_id, "--json", edit_file.string()})));

  const fs::path attachment = private_dir_ / (M("attachment file name") + ".txt");
  const std::string content = RandomBytes(3000) + "Протокол: " + M("attachment content (Russian)") + "\n" +
                              M("attachment content") + "\n" + RandomBytes(1500000) + M("attachment content");
  WriteFile(attachment, content);
  auto attached = ev({"attach", "add", "--record", record_id, attachment.string()});
  ASSERT_TRUE(ok(attached));
  const std::string attachment_id = FirstWord(attached.out);

  // Read it all back (so the markers demonstrably went in), and search for them.
  auto show = ev({"record", "show", record_id, "--history"});
  ASSERT_TRUE(ok(show));
  for (const char* label : {"record title", "narrative (Russian)", "person name (Kazakh)", "person notes",
                            "location", "source reference", "edited narrative (Russian)"}) {
    EXPECT_NE(show.out.find(M(label)), std::string::npos) << "record show lacks the " << label;
  }
  auto cases = ev({"case", "list"});
  ASSERT_TRUE(ok(cases));
  EXPECT_NE(cases.out.find(M("case title")), std::string::npos) << "case list lacks the case title";
  EXPECT_NE(cases.out.find(M("case tag")), std::string::npos) << "case list lacks the case tag";
  auto listed = ev({"attach", "list", "--record", record_id});
  ASSERT_TRUE(ok(listed));
  EXPECT_NE(listed.out.find(M("attachment file name")), std::string::npos) << "attach list lacks the file name";
  auto got = ev({"attach", "get", attachment_id, "--out", "-"});
  ASSERT_TRUE(ok(got));
  EXPECT_TRUE(got.out == content) << "attach get did not return the original";
  for (const char* label : {"record title", "narrative (Russian)", "person notes", "edited narrative (Russian)",
                            "stdin record title"}) {
    auto hits = ev({"search", AsciiUpper(M(label))});
    ASSERT_TRUE(ok(hits));
    EXPECT_FALSE(hits.out.empty()) << "search found nothing for the " << label;
  }
  auto records = ev({"record", "list"});
  ASSERT_TRUE(ok(records));
  EXPECT_EQ(Lines(records.out).size(), 2u);

  // The session is over: remove the plaintext inputs, then search the disk.
  fs::remove_all(private_dir_);
  ASSERT_FALSE(fs::exists(attachment));

  // Each marker as written, and upper-cased as the searches sent it.
  std::vector<std::pair<std::string, std::string>> needles = markers;
  for (const auto& [label, m] : markers) needles.emplace_back(label + " (upper case)", AsciiUpper(m));

  std::vector<fs::path> roots = {dir_, "/tmp"};
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) roots.emplace_back(tmp);
  std::vector<Hit> hits;
  std::set<fs::path> seen;
  std::size_t files = 0;
  std::uintmax_t bytes = 0;
  for (const auto& root : roots) {
    if (!fs::is_directory(root)) continue;
    Scan(root, {tag, AsciiUpper(tag)}, needles, seen, hits, files, bytes);
  }
  RecordProperty("files_scanned", static_cast<int>(files));
  EXPECT_GT(files, 5u);
  EXPECT_GT(bytes, 1000000u) << "the vault holds an attachment of 1.5 MB";
  for (const auto& hit : hits) {
    ADD_FAILURE() << "plaintext (" << hit.marker_label << ") found in " << hit.file;
  }
}

}  // namespace
}  // namespace evault::cli_test
