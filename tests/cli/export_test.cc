// `evault export` and `evault verify` through the real binary (issue #5): a case with
// two records (one edited), two attachments (one larger than a chunk, one with a
// Cyrillic file name), views and reads, exported as a signed BagIt bundle that the
// standard tools (sha256sum, sha512sum, minisign, ssh-keygen, age, tar) and
// `evault verify` accept; then one tampering per fresh copy of the bag, each of which
// `evault verify` must refuse with exit 4, naming what failed.
//
// A tool that is not installed skips its own check (the test says so); evault's own
// checks always run.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/core.h>

#include "audit/bagit.h"
#include "audit/custody.h"
#include "audit/minisign.h"
#include "audit/sshsig.h"
#include "crypto/identity.h"
#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDemoCase[] = "03-dvk-article-405";
constexpr char kPurpose[] = "Disclosure to the defence team, appeal hearing (Article 405)";
// More than one 1 MiB chunk, not a multiple of it.
constexpr std::size_t kLargeSize = (3u << 19) + 12345;
const char* const kCyrillicName = "Протокол допроса №3.txt";

// The full path of `tool` on $PATH, or nullopt.
std::optional<std::string> FindTool(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / tool;
    if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

RunResult Tool(const std::string& path, const std::vector<std::string>& args, const RunOptions& options = {}) {
  return RunProgram(path, args, options);
}

bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

std::vector<json> ParseJsonLines(const std::string& text) {
  std::vector<json> out;
  for (const auto& line : Lines(text)) out.push_back(json::parse(line));
  return out;
}

// The lines of a file, each with its '\n'.
std::vector<std::string> RawLines(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : Lines(text)) out.push_back(l + "\n");
  return out;
}
std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

void FlipByte(const fs::path& file, std::size_t offset) {
  std::string bytes = ReadFile(file);
  ASSERT_LT(offset, bytes.size()) << file;
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x01);
  WriteFile(file, bytes);
}

// Every file under `dir`, relative, with its bytes.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out[fs::relative(e.path(), dir).string()] = e.is_regular_file() ? ReadFile(e.path()) : std::string("<dir>");
  }
  return out;
}

struct Evidence {
  std::string case_id;
  std::string case_title;
  std::string record1, record2;  // record1 has two revisions
  std::string rev1_1, rev1_2, rev2_1;
  std::string title1, title2;    // record titles as captured (title1 of revision 1)
  std::string large_id, cyrillic_id;
  std::string large_bytes, cyrillic_bytes;
  fs::path bag;
  std::string fingerprint;  // "SHA256:..." as `evault export` printed it
  std::string identity;     // the allowed_signers identity it printed
  std::string export_out;
};

class ExportTest : public CliTest {
 protected:
  // The evidence of the issue's scenario, exported to `bag`.
  void Build(const std::string& bag_name = "bag") {
    Init();
    const auto case_lines = Lines(DemoFile(std::string(kDemoCase) + "/case.txt"));
    ASSERT_GE(case_lines.size(), 2u);
    ev_.case_title = case_lines[0];
    std::vector<std::string> tags;
    std::string tag;
    for (std::istringstream in(case_lines[1]); in >> tag;) tags.push_back(tag);
    ev_.case_id = NewCase(ev_.case_title, tags);

    const std::string first = DemoFile(std::string(kDemoCase) + "/01-record.json");
    const std::string second = DemoFile(std::string(kDemoCase) + "/02-record.json");
    const std::string edit = DemoFile(std::string(kDemoCase) + "/edit.json");
    ev_.title1 = json::parse(first)["title"];
    ev_.title2 = json::parse(second)["title"];
    {
      const fs::path file = Path("first.json");
      WriteFile(file, first);
      auto r = Ev({"record", "add", "--case", ev_.case_id, "--json", file.string()});
      ASSERT_OK(r);
      // "<record id> revision 1 <revision id>"
      const auto words = Words(r.out);
      ASSERT_EQ(words.size(), 4u) << r.out;
      ev_.record1 = words[0];
      ev_.rev1_1 = words[3];
    }
    {
      const fs::path file = Path("second.json");
      WriteFile(file, second);
      auto r = Ev({"record", "add", "--case", ev_.case_id, "--json", file.string()});
      ASSERT_OK(r);
      const auto words = Words(r.out);
      ASSERT_EQ(words.size(), 4u) << r.out;
      ev_.record2 = words[0];
      ev_.rev2_1 = words[3];
    }
    {
      const fs::path file = Path("edit.json");
      WriteFile(file, edit);
      auto r = Ev({"record", "edit", ev_.record1, "--json", file.string()});
      ASSERT_OK(r);
      ev_.rev1_2 = FirstWord(r.out);
      ASSERT_TRUE(IsId(ev_.rev1_2)) << r.out;
    }

    ev_.large_bytes = RandomBytes(kLargeSize);
    const fs::path large = Path("evidence-scan.bin");
    WriteFile(large, ev_.large_bytes);
    ev_.large_id = Attach(ev_.record1, large);
    ev_.cyrillic_bytes = "Показания свидетеля, записанные 21.10.2019.\nWitness statement.\n" + RandomBytes(3000);
    const fs::path cyrillic = Path(kCyrillicName);
    WriteFile(cyrillic, ev_.cyrillic_bytes);
    ev_.cyrillic_id = Attach(ev_.record2, cyrillic);

    // A view of each record and a read of each attachment.
    ASSERT_OK(Ev({"record", "show", ev_.record1, "--history"}));
    ASSERT_OK(Ev({"record", "show", ev_.record2}));
    for (const auto& [id, bytes] : {std::pair{ev_.large_id, &ev_.large_bytes}, {ev_.cyrillic_id, &ev_.cyrillic_bytes}}) {
      const fs::path out = Path("got-" + id);
      ASSERT_OK(Ev({"attach", "get", id, "--out", out.string()}));
      ASSERT_TRUE(ReadFile(out) == *bytes) << "attach get returned other bytes";
      fs::remove(out);
    }

    ev_.bag = Path(bag_name);
    Export(ev_.bag, &ev_.fingerprint, &ev_.identity);
  }

  // `evault export` of the case to `out`; the fingerprint and identity it printed.
  void Export(const fs::path& out, std::string* fingerprint, std::string* identity,
              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"export", "--case", ev_.case_id, "--out", out.string(), "--purpose", kPurpose};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = Ev(args);
    ASSERT_OK(r);
    ev_.export_out = r.out;
    static const std::regex signed_by(R"(signed by (SHA256:[A-Za-z0-9+/]{43}) \((\S+)\))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, signed_by)) << r.out;
    *fingerprint = m[1];
    *identity = m[2];
  }

  static std::vector<std::string> Words(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
  }

  RunResult Verify(const fs::path& bag, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"verify", bag.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return EvRaw(args);
  }

  // A fresh copy of the bag made with cp -a.
  fs::path CopyOfBag(const std::string& name) {
    const fs::path copy = Path(name);
    auto cp = Tool("/bin/cp", {"-a", ev_.bag.string(), copy.string()});
    EXPECT_OK(cp);
    return copy;
  }

  // The path (relative to the bag) of an attachment's original, from its metadata.
  std::string OriginalPath(const fs::path& bag, const std::string& attachment_id) {
    const json metadata = json::parse(ReadFile(bag / "data" / "attachments" / attachment_id / "metadata.json"));
    return metadata["path"];
  }

  std::vector<json> AuditLogJson(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"audit", "log", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = Ev(args);
    EXPECT_OK(r);
    std::vector<json> out;
    for (const auto& line : Lines(r.out)) {
      json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(entry.is_discarded()) << "not JSON: " << line;
      EXPECT_TRUE(entry.is_object() && entry.contains("sig")) << line;
      out.push_back(std::move(entry));
    }
    return out;
  }

  static std::size_t CountAction(const std::vector<json>& entries, const std::string& action) {
    return static_cast<std::size_t>(
        std::count_if(entries.begin(), entries.end(), [&](const json& e) { return e.value("action", "") == action; }));
  }

  Evidence ev_;
};

// What a failed `evault verify` must look like: exit 4, nothing on stdout, and stderr
// naming every one of `needles`.
::testing::AssertionResult RefusedNaming(const RunResult& r, const std::vector<std::string>& needles) {
  if (r.timed_out || r.term_signal != 0) return ::testing::AssertionFailure() << r.Describe();
  if (r.exit_code != 4) return ::testing::AssertionFailure() << "expected exit 4, got " << r.Describe();
  if (!r.out.empty()) return ::testing::AssertionFailure() << "stdout not empty: " << r.Describe();
  for (const auto& n : needles) {
    if (!Contains(r.err, n)) return ::testing::AssertionFailure() << "stderr does not name \"" << n << "\": " << r.err;
  }
  if (!Contains(r.err, "the bundle failed verification")) {
    return ::testing::AssertionFailure() << "no summary line: " << r.err;
  }
  return ::testing::AssertionSuccess();
}

// --- the bag as exported ------------------------------------------------------------------

TEST_F(ExportTest, BagPassesStandardToolsAndEvaultVerify) {
  Build();
  if (HasFatalFailure()) return;
  const fs::path& bag = ev_.bag;
  EXPECT_THAT(ev_.export_out, HasSubstr("2 records (3 revisions), 2 attachments"));
  EXPECT_THAT(ev_.identity, ::testing::StartsWith("evault-device-"));

  // Layout (audit/bundle.h).
  for (const char* f : {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt", "exporter.pub",
                        "allowed_signers", "report.html", "tagmanifest-sha256.txt", "tagmanifest-sha256.txt.minisig",
                        "tagmanifest-sha256.txt.sshsig", "data/case.json", "data/custody/custody-log.jsonl",
                        "data/custody/custody-proof.json"}) {
    EXPECT_TRUE(fs::is_regular_file(bag / f)) << f;
  }
  for (const auto& [record, rev, n] : {std::tuple{ev_.record1, ev_.rev1_1, 1}, {ev_.record1, ev_.rev1_2, 2},
                                       {ev_.record2, ev_.rev2_1, 1}}) {
    EXPECT_TRUE(fs::is_regular_file(bag / "data" / "records" / record / fmt::format("{:04}-{}.json", n, rev)))
        << record << " revision " << n;
  }
  const std::string bag_info = ReadFile(bag / "bag-info.txt");
  EXPECT_THAT(bag_info, HasSubstr("Evault-Case-Id: " + ev_.case_id + "\n"));
  EXPECT_THAT(bag_info, HasSubstr(std::string("Evault-Export-Purpose: ") + kPurpose + "\n"));

  // The standard tools, each run inside the bag.
  const RunOptions in_bag{.cwd = bag.string()};
  if (auto sha256sum = FindTool("sha256sum")) {
    EXPECT_OK(Tool(*sha256sum, {"-c", "--strict", "manifest-sha256.txt"}, in_bag));
    EXPECT_OK(Tool(*sha256sum, {"-c", "--strict", "tagmanifest-sha256.txt"}, in_bag));
  } else {
    std::cerr << "[ SKIPPED  ] sha256sum is not installed\n";
  }
  if (auto sha512sum = FindTool("sha512sum")) {
    EXPECT_OK(Tool(*sha512sum, {"-c", "--strict", "manifest-sha512.txt"}, in_bag));
  } else {
    std::cerr << "[ SKIPPED  ] sha512sum is not installed\n";
  }
  if (auto minisign = FindTool("minisign")) {
    EXPECT_OK(Tool(*minisign, {"-Vm", "tagmanifest-sha256.txt", "-p", "exporter.pub"}, in_bag));
  } else {
    std::cerr << "[ SKIPPED  ] minisign is not installed\n";
  }
  if (auto ssh_keygen = FindTool("ssh-keygen")) {
    const std::string allowed = ReadFile(bag / "allowed_signers");
    const std::string identity = FirstWord(allowed);
    EXPECT_EQ(identity, ev_.identity);
    RunOptions with_stdin = in_bag;
    with_stdin.stdin_data = ReadFile(bag / "tagmanifest-sha256.txt");
    auto r = Tool(*ssh_keygen, {"-Y", "verify", "-f", "allowed_signers", "-I", identity, "-n", "evault-export", "-s",
                                "tagmanifest-sha256.txt.sshsig"},
                  with_stdin);
    EXPECT_OK(r);
    // ssh-keygen names the key it verified: the fingerprint `evault export` printed.
    EXPECT_THAT(r.out + r.err, HasSubstr(ev_.fingerprint));
  } else {
    std::cerr << "[ SKIPPED  ] ssh-keygen is not installed\n";
  }

  // evault verify, offline, with and without the pinned signer.
  auto plain = Verify(bag);
  ASSERT_OK(plain);
  EXPECT_THAT(plain.out, HasSubstr("bundle verified: case " + ev_.case_id));
  EXPECT_THAT(plain.out, HasSubstr("2 records (3 revisions), 2 attachments"));
  EXPECT_THAT(plain.out, HasSubstr(ev_.fingerprint));
  auto pinned = Verify(bag, {"--signer", ev_.fingerprint});
  ASSERT_OK(pinned);
  EXPECT_THAT(pinned.out, HasSubstr("bundle verified"));

  // The originals, byte for byte, under their (safe) original names.
  const std::string large_path = OriginalPath(bag, ev_.large_id);
  const std::string cyrillic_path = OriginalPath(bag, ev_.cyrillic_id);
  EXPECT_EQ(large_path, "data/attachments/" + ev_.large_id + "/evidence-scan.bin");
  EXPECT_EQ(cyrillic_path, "data/attachments/" + ev_.cyrillic_id + "/" + kCyrillicName);
  EXPECT_TRUE(ReadFile(bag / large_path) == ev_.large_bytes) << "the large original differs";
  EXPECT_TRUE(ReadFile(bag / cyrillic_path) == ev_.cyrillic_bytes) << "the Cyrillic-named original differs";
  const json cyr_meta = json::parse(ReadFile(bag / "data/attachments" / ev_.cyrillic_id / "metadata.json"));
  EXPECT_EQ(cyr_meta["file_name"], kCyrillicName);
  EXPECT_EQ(cyr_meta["sha256"], Sha256Hex(ev_.cyrillic_bytes));
  EXPECT_EQ(cyr_meta["size"], ev_.cyrillic_bytes.size());

  // The case's custody log: every action, each by this device, the export last.
  const auto entries = ParseJsonLines(ReadFile(bag / "data/custody/custody-log.jsonl"));
  ASSERT_FALSE(entries.empty());
  std::multiset<std::string> actions;
  for (const auto& e : entries) {
    actions.insert(e["action"].get<std::string>());
    EXPECT_EQ(e["stream"], ev_.case_id);
    EXPECT_TRUE(e.contains("sig"));
  }
  EXPECT_EQ(actions.count("case-create"), 1u);
  EXPECT_EQ(actions.count("record-capture"), 2u);
  EXPECT_EQ(actions.count("record-edit"), 1u);
  EXPECT_EQ(actions.count("record-view"), 2u);
  EXPECT_EQ(actions.count("attachment-capture"), 2u);
  EXPECT_EQ(actions.count("attachment-read"), 2u);
  EXPECT_EQ(actions.count("export"), 1u);
  EXPECT_EQ(entries.front()["action"], "case-create");
  EXPECT_EQ(entries.back()["action"], "export");
  EXPECT_EQ(entries.back()["subject"]["purpose"], kPurpose);
  // The subjects name what the actions were about.
  for (const auto& e : entries) {
    const std::string action = e["action"];
    const json& s = e["subject"];
    if (action == "record-edit") {
      EXPECT_EQ(s["record_id"], ev_.record1);
      EXPECT_EQ(s["revision_id"], ev_.rev1_2);
      EXPECT_EQ(s["sha256"], Sha256Hex(ReadFile(bag / "data/records" / ev_.record1 / ("0002-" + ev_.rev1_2 + ".json"))));
    } else if (action == "attachment-capture") {
      const bool large = s["attachment_id"] == ev_.large_id;
      EXPECT_EQ(s["sha256"], Sha256Hex(large ? ev_.large_bytes : ev_.cyrillic_bytes)) << s.dump();
      EXPECT_EQ(s["size"], large ? ev_.large_bytes.size() : ev_.cyrillic_bytes.size()) << s.dump();
    } else if (action == "case-create") {
      EXPECT_EQ(s["sha256"], Sha256Hex(ReadFile(bag / "data/case.json")));
    }
  }
  // The vault's own log check passes too.
  ASSERT_OK(Ev({"audit", "verify"}));
}

TEST_F(ExportTest, ReportIsSignedAndNamesTheCaseAndTheAttachments) {
  Build();
  if (HasFatalFailure()) return;
  const fs::path report = ev_.bag / "report.html";
  ASSERT_TRUE(fs::is_regular_file(report));
  const std::string html = ReadFile(report);
  const std::string tagmanifest = ReadFile(ev_.bag / "tagmanifest-sha256.txt");
  EXPECT_THAT(tagmanifest, HasSubstr(Sha256Hex(html) + "  report.html\n"));
  EXPECT_THAT(html, HasSubstr(ev_.case_title));
  EXPECT_THAT(html, HasSubstr(Sha256Hex(ev_.large_bytes)));
  EXPECT_THAT(html, HasSubstr(Sha256Hex(ev_.cyrillic_bytes)));
  EXPECT_THAT(html, HasSubstr(ev_.fingerprint));
  // The report is a tag file: altering it is caught.
  const fs::path copy = CopyOfBag("report-altered");
  std::string altered = html;
  const std::size_t at = altered.find(ev_.case_title);
  ASSERT_NE(at, std::string::npos);
  altered[at] = 'X';
  WriteFile(copy / "report.html", altered);
  EXPECT_TRUE(RefusedNaming(Verify(copy), {"report.html", "altered"}));
}

// --- tampering, each on a fresh copy --------------------------------------------------------

TEST_F(ExportTest, EveryTamperingIsRefusedAndNamed) {
  Build();
  if (HasFatalFailure()) return;
  ASSERT_OK(Verify(ev_.bag));
  const std::string custody_rel = "data/custody/custody-log.jsonl";

  {
    SCOPED_TRACE("one flipped byte in an attachment original");
    const fs::path copy = CopyOfBag("flip-attachment");
    const std::string rel = OriginalPath(copy, ev_.large_id);
    FlipByte(copy / rel, kLargeSize / 2 + 7);
    EXPECT_TRUE(RefusedNaming(Verify(copy), {rel, "altered"}));
  }
  {
    SCOPED_TRACE("one flipped byte in the Cyrillic-named original");
    const fs::path copy = CopyOfBag("flip-cyrillic");
    const std::string rel = OriginalPath(copy, ev_.cyrillic_id);
    FlipByte(copy / rel, 10);
    EXPECT_TRUE(RefusedNaming(Verify(copy), {rel, "altered"}));
  }
  {
    SCOPED_TRACE("one flipped byte in a revision file");
    const fs::path copy = CopyOfBag("flip-revision");
    const std::string rel = "data/records/" + ev_.record1 + "/0002-" + ev_.rev1_2 + ".json";
    const std::string text = ReadFile(copy / rel);
    const std::size_t at = text.find("Khalykova");
    ASSERT_NE(at, std::string::npos);
    FlipByte(copy / rel, at);  // still valid JSON: only the hashes can tell
    EXPECT_TRUE(RefusedNaming(Verify(copy), {rel, "altered"}));
  }
  {
    SCOPED_TRACE("one flipped byte in case.json");
    const fs::path copy = CopyOfBag("flip-case");
    const std::string text = ReadFile(copy / "data/case.json");
    const std::size_t at = text.find("Article 405");
    ASSERT_NE(at, std::string::npos);
    FlipByte(copy / "data/case.json", at + 8);  // "405" -> "505"
    EXPECT_TRUE(RefusedNaming(Verify(copy), {"data/case.json", "altered"}));
  }
  {
    SCOPED_TRACE("a deleted custody line");
    const fs::path copy = CopyOfBag("custody-deleted");
    auto lines = RawLines(ReadFile(copy / custody_rel));
    ASSERT_GE(lines.size(), 8u);
    // A record-view entry in the middle of the log.
    std::size_t victim = lines.size();
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
      if (json::parse(lines[i])["action"] == "record-view") {
        victim = i;
        break;
      }
    }
    ASSERT_LT(victim, lines.size());
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(victim));
    WriteFile(copy / custody_rel, Join(lines));
    EXPECT_TRUE(RefusedNaming(Verify(copy), {fmt::format("entry {} of the signed log", victim + 1), "deleted"}));
  }
  {
    SCOPED_TRACE("two custody lines swapped");
    const fs::path copy = CopyOfBag("custody-swapped");
    auto lines = RawLines(ReadFile(copy / custody_rel));
    ASSERT_GE(lines.size(), 4u);
    std::swap(lines[2], lines[3]);
    WriteFile(copy / custody_rel, Join(lines));
    EXPECT_TRUE(RefusedNaming(Verify(copy), {"custody line 3", "reordered"}));
  }
  {
    SCOPED_TRACE("an extra file in data/");
    const fs::path copy = CopyOfBag("extra-file");
    WriteFile(copy / "data" / "planted.txt", "planted evidence");
    EXPECT_TRUE(RefusedNaming(Verify(copy), {"data/planted.txt", "added"}));
  }
  {
    SCOPED_TRACE("an extra file next to an original");
    const fs::path copy = CopyOfBag("extra-attachment");
    WriteFile(copy / "data" / "attachments" / ev_.large_id / "second-scan.bin", "planted");
    EXPECT_TRUE(RefusedNaming(Verify(copy), {"second-scan.bin", "added"}));
  }

  // Another device's key: a second vault's export of a case of its own.
  fs::path other_bag;
  std::string other_fingerprint;
  {
    const fs::path other_vault = Path("other-vault");
    auto other = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"--vault", other_vault.string(), "--passphrase-file", pass_file_.string()});
      return EvRaw(args);
    };
    ASSERT_OK(other({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}));
    auto made = other({"case", "new", "--title", "Another vault's case"});
    ASSERT_OK(made);
    other_bag = Path("other-bag");
    auto r = other({"export", "--case", FirstWord(made.out), "--out", other_bag.string(), "--purpose", "a second key"});
    ASSERT_OK(r);
    static const std::regex signed_by(R"(signed by (SHA256:[A-Za-z0-9+/]{43}) )");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, signed_by)) << r.out;
    other_fingerprint = m[1];
    ASSERT_NE(other_fingerprint, ev_.fingerprint);
    ASSERT_OK(Verify(other_bag));  // control: that bag is sound
  }
  {
    SCOPED_TRACE("signer replaced: the other key's exporter.pub, allowed_signers and signatures copied over");
    const fs::path copy = CopyOfBag("signer-replaced");
    for (const char* f : {"exporter.pub", "allowed_signers", "tagmanifest-sha256.txt.minisig",
                          "tagmanifest-sha256.txt.sshsig"}) {
      fs::copy_file(other_bag / f, copy / f, fs::copy_options::overwrite_existing);
    }
    auto r = Verify(copy);
    EXPECT_TRUE(RefusedNaming(r, {"exporter.pub", "tagmanifest-sha256.txt.minisig", "tagmanifest-sha256.txt.sshsig"}));
    auto pinned_to_new = Verify(copy, {"--signer", other_fingerprint});
    EXPECT_TRUE(RefusedNaming(pinned_to_new, {}));
    auto pinned_to_old = Verify(copy, {"--signer", ev_.fingerprint});
    EXPECT_TRUE(RefusedNaming(pinned_to_old, {"not by the expected signer"}));
  }
  {
    SCOPED_TRACE("an untouched bag with --signer of another key");
    auto r = Verify(ev_.bag, {"--signer", other_fingerprint});
    EXPECT_TRUE(RefusedNaming(r, {"not by the expected signer", other_fingerprint}));
    auto bogus = Verify(ev_.bag, {"--signer", "SHA256:not-a-fingerprint"});
    EXPECT_NE(bogus.exit_code, 0) << bogus.Describe();
  }
  {
    // The strongest replacement: a new key rewrites every tag file (exporter.pub,
    // allowed_signers, bag-info's signer fields, the tag manifest) and signs them
    // properly. The custody checkpoint and the export's own entry are still signed by
    // the device that exported, so the bag is refused.
    SCOPED_TRACE("signer replaced and every tag file re-signed by the new key");
    const fs::path copy = CopyOfBag("signer-forged");
    const auto forger = crypto::SigningKeyPair::Generate();
    const std::string forger_device = audit::DeviceIdOf(forger.public_key());
    const std::string identity = "evault-device-" + forger_device;
    WriteFile(copy / "exporter.pub", audit::MinisignPublicKey(forger.public_key()));
    WriteFile(copy / "allowed_signers",
              audit::AllowedSignersLine(identity, audit::kExportNamespace, forger.public_key()) + "\n");
    std::string info;
    for (const auto& line : Lines(ReadFile(copy / "bag-info.txt"))) {
      if (line.starts_with("Evault-Signer-Key: ")) {
        info += "Evault-Signer-Key: " + crypto::ToHex(forger.public_key()) + "\n";
      } else if (line.starts_with("Evault-Exporting-Device: ")) {
        info += "Evault-Exporting-Device: " + forger_device + "\n";
      } else {
        info += line + "\n";
      }
    }
    WriteFile(copy / "bag-info.txt", info);
    std::string tagmanifest;
    for (const auto& line : Lines(ReadFile(copy / "tagmanifest-sha256.txt"))) {
      const std::string name = line.substr(66);
      tagmanifest += Sha256Hex(ReadFile(copy / name)) + "  " + name + "\n";
    }
    WriteFile(copy / "tagmanifest-sha256.txt", tagmanifest);
    WriteFile(copy / "tagmanifest-sha256.txt.minisig",
              audit::MinisignSign(forger, crypto::AsBytes(tagmanifest), "evault export, signed by " + identity));
    WriteFile(copy / "tagmanifest-sha256.txt.sshsig",
              audit::SshSign(forger, audit::kExportNamespace, crypto::AsBytes(tagmanifest)));
    const std::string forged_fp = audit::SshFingerprint(forger.public_key());
    // Control: the standard tools are satisfied by the forged signatures...
    if (auto minisign = FindTool("minisign")) {
      EXPECT_OK(Tool(*minisign, {"-Vm", "tagmanifest-sha256.txt", "-p", "exporter.pub"}, {.cwd = copy.string()}));
    }
    // ...evault verify is not: the log was signed by another key.
    EXPECT_TRUE(RefusedNaming(Verify(copy), {"custody-proof.json", "checkpoint is signed by key"}));
    EXPECT_TRUE(RefusedNaming(Verify(copy, {"--signer", forged_fp}), {"checkpoint is signed by key"}));
    EXPECT_TRUE(RefusedNaming(Verify(copy, {"--signer", ev_.fingerprint}), {"not by the expected signer"}));
  }

  // None of this touched the vault; its own log still checks.
  ASSERT_OK(Ev({"audit", "verify"}));
}

// --- refusals -----------------------------------------------------------------------------

TEST_F(ExportTest, RefusedExportsWriteNothing) {
  Build();
  if (HasFatalFailure()) return;
  const std::size_t exports_before = CountAction(AuditLogJson({"--case", ev_.case_id}), "export");
  ASSERT_EQ(exports_before, 1u);

  // An existing directory, empty or not, is left exactly as it was.
  const fs::path existing = Path("existing");
  fs::create_directories(existing / "sub");
  WriteFile(existing / "keep.txt", "do not touch");
  WriteFile(existing / "sub" / "also.txt", "nor this");
  const auto before = Snapshot(existing);
  auto r = Ev({"export", "--case", ev_.case_id, "--out", existing.string(), "--purpose", kPurpose});
  EXPECT_CLEAN_ERROR(r);
  EXPECT_EQ(Snapshot(existing), before);
  const fs::path empty = Path("empty-existing");
  fs::create_directories(empty);
  auto r_empty = Ev({"export", "--case", ev_.case_id, "--out", empty.string(), "--purpose", kPurpose});
  EXPECT_CLEAN_ERROR(r_empty);
  EXPECT_TRUE(fs::is_directory(empty) && fs::is_empty(empty));
  // An existing file, with --to.
  const fs::path existing_file = Path("existing.age");
  WriteFile(existing_file, "an older bundle");
  const std::string recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
  auto r_file = Ev({"export", "--case", ev_.case_id, "--out", existing_file.string(), "--purpose", kPurpose, "--to",
                    recipient});
  EXPECT_CLEAN_ERROR(r_file);
  EXPECT_EQ(ReadFile(existing_file), "an older bundle");

  // An unknown case: nothing created.
  const fs::path unknown_out = Path("unknown-case-bag");
  auto unknown = Ev({"export", "--case", RandomHex(16), "--out", unknown_out.string(), "--purpose", kPurpose});
  EXPECT_CLEAN_ERROR(unknown);
  EXPECT_FALSE(fs::exists(unknown_out));
  auto malformed = Ev({"export", "--case", "not-a-case", "--out", unknown_out.string(), "--purpose", kPurpose});
  EXPECT_CLEAN_ERROR(malformed);
  EXPECT_FALSE(fs::exists(unknown_out));

  // A bad recipient: refused (usage or argument error), nothing written.
  for (const std::string& bad : std::vector<std::string>{"age1notarecipient", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "",
                                "AGE1QL3Z7HJY54PW3HYWW5AYYFG7ZQGVC7W3J2ELW8ZMRJ2KG5SFN9AQMCAC8Q"}) {
    SCOPED_TRACE("recipient \"" + bad + "\"");
    const fs::path out = Path("bad-recipient.age");
    auto refused = Ev({"export", "--case", ev_.case_id, "--out", out.string(), "--purpose", kPurpose, "--to", bad});
    EXPECT_TRUE(refused.exit_code == 1 || refused.exit_code == 2) << refused.Describe();
    EXPECT_TRUE(refused.out.empty()) << refused.Describe();
    EXPECT_FALSE(fs::exists(out));
  }

  // A purpose that is not one line, or none.
  for (const std::string& purpose : {std::string(), std::string("line one\nline two")}) {
    const fs::path out = Path("bad-purpose");
    auto refused = Ev({"export", "--case", ev_.case_id, "--out", out.string(), "--purpose", purpose});
    EXPECT_NE(refused.exit_code, 0) << refused.Describe();
    EXPECT_FALSE(fs::exists(out));
  }

  // The directory holds only what the successful export made: no temporary files.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
  for (const auto& n : names) {
    EXPECT_TRUE(n == "vault" || n == "passphrase" || n == "bag" || n == "existing" || n == "empty-existing" ||
                n == "existing.age" || n == "first.json" || n == "second.json" || n == "edit.json" ||
                n == "evidence-scan.bin" || n == kCyrillicName)
        << "left behind: " << n;
  }

  // Not one of these refused exports was logged as an export.
  const auto entries = AuditLogJson({"--case", ev_.case_id});
  EXPECT_EQ(CountAction(entries, "export"), exports_before);

  // After all this, the vault's custody log still checks, and every entry is a signed
  // JSON object.
  auto verified = Ev({"audit", "verify"});
  ASSERT_OK(verified);
  EXPECT_THAT(verified.out, HasSubstr("custody log verified"));
  const auto all = AuditLogJson();
  EXPECT_GE(all.size(), entries.size());
  auto text = Ev({"audit", "log", "--case", ev_.case_id});
  ASSERT_OK(text);
  for (const char* action : {"case-create", "record-capture", "record-edit", "record-view", "attachment-capture",
                             "attachment-read", "export"}) {
    EXPECT_THAT(text.out, HasSubstr(action));
  }
  // The exported bag is still sound (nothing above wrote into it).
  EXPECT_OK(Verify(ev_.bag, {"--signer", ev_.fingerprint}));
}

// A refused export is not an export: the vault's contract is that on error nothing was
// written, and an "export" entry for a bundle that was never written would tell whoever
// reads the custody log that the evidence left the vault when it did not.
TEST_F(ExportTest, ARefusedExportLeavesNoExportEntry) {
  Init();
  ev_.case_id = NewCase("Refused export case");
  AddRecord(ev_.case_id, SimpleRecord("A record"));
  const fs::path existing = Path("existing");
  fs::create_directories(existing);
  WriteFile(existing / "keep.txt", "do not touch");
  auto r = Ev({"export", "--case", ev_.case_id, "--out", existing.string(), "--purpose", kPurpose});
  EXPECT_CLEAN_ERROR(r);
  EXPECT_EQ(ReadFile(existing / "keep.txt"), "do not touch");
  const auto entries = AuditLogJson({"--case", ev_.case_id});
  EXPECT_EQ(CountAction(entries, "export"), 0u)
      << "a refused export (its --out exists) left an \"export\" custody entry: " << entries.back().dump();
  ASSERT_OK(Ev({"audit", "verify"}));
}

// --- encrypted to an age recipient -----------------------------------------------------------

TEST_F(ExportTest, AgeEncryptedBundleHoldsNothingReadableAndVerifiesOnceOpened) {
  const auto age = FindTool("age");
  const auto age_keygen = FindTool("age-keygen");
  const auto tar = FindTool("tar");
  if (!age || !age_keygen || !tar) GTEST_SKIP() << "age, age-keygen or tar is not installed";
  Build();
  if (HasFatalFailure()) return;

  const fs::path key = Path("age-key.txt");
  ASSERT_OK(Tool(*age_keygen, {"-o", key.string()}));
  static const std::regex public_key(R"(# public key: (age1[0-9a-z]+))");
  std::smatch m;
  const std::string key_text = ReadFile(key);
  ASSERT_TRUE(std::regex_search(key_text, m, public_key)) << key_text;
  const std::string recipient = m[1];

  const fs::path sealed_dir = Path("sealed");
  fs::create_directories(sealed_dir);
  const fs::path sealed = sealed_dir / "case.tar.age";
  std::string fingerprint, identity;
  Export(sealed, &fingerprint, &identity, {"--to", recipient});
  if (HasFatalFailure()) return;
  EXPECT_THAT(ev_.export_out, HasSubstr("encrypted to " + recipient));
  EXPECT_EQ(fingerprint, ev_.fingerprint);
  // One file, nothing plain beside it.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(sealed_dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"case.tar.age"});

  const std::string ciphertext = ReadFile(sealed);
  EXPECT_TRUE(ciphertext.starts_with("age-encryption.org/v1\n"));
  const std::string kyrillic_narrative = "Показания свидетеля";
  for (const std::string& needle : {ev_.title1, ev_.title2, ev_.case_title, std::string("Khalykova"),
                                    std::string(kCyrillicName), kyrillic_narrative, ev_.large_bytes.substr(4096, 64),
                                    ev_.case_id, std::string("custody-log.jsonl"), std::string(kPurpose)}) {
    EXPECT_FALSE(Contains(ciphertext, needle)) << "the .age file holds \"" << needle.substr(0, 40) << "\"";
  }
  // Not even a 16-byte run of a record title.
  for (const std::string& title : {ev_.title1, ev_.title2}) {
    for (std::size_t i = 0; i + 16 <= title.size(); i += 8) {
      EXPECT_FALSE(Contains(ciphertext, title.substr(i, 16))) << title.substr(i, 16);
    }
  }

  // age -d -i KEY FILE | tar -x, then evault verify.
  const fs::path opened = Path("opened");
  fs::create_directories(opened);
  auto untar = Tool("/bin/sh", {"-c", "\"$0\" -d -i \"$1\" \"$2\" | \"$3\" -x -C \"$4\"", *age, key.string(),
                               sealed.string(), *tar, opened.string()});
  ASSERT_OK(untar);
  const fs::path bag = opened / ("evault-export-" + ev_.case_id);
  ASSERT_TRUE(fs::is_directory(bag)) << "tar gave: " << Snapshot(opened).size() << " entries";
  auto verified = Verify(bag, {"--signer", ev_.fingerprint});
  ASSERT_OK(verified);
  EXPECT_THAT(verified.out, HasSubstr("2 records (3 revisions), 2 attachments"));
  EXPECT_TRUE(ReadFile(bag / OriginalPath(bag, ev_.large_id)) == ev_.large_bytes);
  EXPECT_TRUE(ReadFile(bag / OriginalPath(bag, ev_.cyrillic_id)) == ev_.cyrillic_bytes);
  // This bag's log ends in the encrypted export's own entry, which names the recipient.
  const auto entries = ParseJsonLines(ReadFile(bag / "data/custody/custody-log.jsonl"));
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back()["action"], "export");
  EXPECT_EQ(entries.back()["subject"]["recipient"], recipient);
  EXPECT_EQ(CountAction(entries, "export"), 2u);  // the plain export first, then this one
  if (auto sha256sum = FindTool("sha256sum")) {
    EXPECT_OK(Tool(*sha256sum, {"-c", "--strict", "manifest-sha256.txt"}, {.cwd = bag.string()}));
  }

  // A wrong key opens nothing.
  const fs::path other_key = Path("other-key.txt");
  ASSERT_OK(Tool(*age_keygen, {"-o", other_key.string()}));
  auto wrong = Tool(*age, {"-d", "-i", other_key.string(), sealed.string()});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_TRUE(wrong.out.empty());

  ASSERT_OK(Ev({"audit", "verify"}));
}

}  // namespace
}  // namespace evault::cli_test
