// The error contract: non-zero exit, stdout empty, exactly one stderr line starting
// with "evault:", never echoing evidence; exit 3 for a wrong passphrase, 4 for
// tampered data.
#include <algorithm>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

class ErrorTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    Init();
    case_id_ = NewCase("Errors");
    record_id_ = AddRecord(case_id_, SimpleRecord("A record", "Some narrative"));
  }
  // A record add from a file with this content.
  RunResult AddFromText(const std::string& text) {
    const fs::path file = Path(fmt::format("input-{}.json", RandomHex(4)));
    WriteFile(file, text);
    return Ev({"record", "add", "--case", case_id_, "--json", file.string()});
  }
  // Nothing was stored by a failed command.
  void ExpectOnlyTheOriginalRecord() {
    auto list = Ev({"record", "list"});
    ASSERT_OK(list);
    ASSERT_EQ(Lines(list.out).size(), 1u) << list.out;
    EXPECT_EQ(FirstWord(list.out), record_id_);
  }
  std::string case_id_, record_id_;
};

TEST_F(ErrorTest, BadJsonNamesLineAndColumnButNotTheInput) {
  const std::string marker = "SECRETWITNESS" + RandomHex(8);
  const std::string cyr_marker = "свидетель" + RandomHex(8);
  const std::vector<std::string> bad = {
      // Unterminated string holding the marker.
      "{\n  \"kind\": \"detention\",\n  \"title\": \"" + marker + " " + cyr_marker + "\n}\n",
      // A stray token right after the marker.
      "{\"kind\": \"detention\", \"title\": \"" + marker + "\" " + cyr_marker + "}",
      // Trailing garbage.
      "{\"kind\": \"detention\", \"title\": \"t\"}\n" + marker + cyr_marker,
      // Bare words.
      marker + " " + cyr_marker,
      // Truncated.
      "{\"kind\": \"detention\", \"narrative\": \"" + marker,
  };
  for (const auto& text : bad) {
    SCOPED_TRACE(text);
    for (bool via_stdin : {false, true}) {
      RunResult r;
      if (via_stdin) {
        RunOptions opts;
        opts.stdin_data = text;
        r = Ev({"record", "add", "--case", case_id_, "--json", "-"}, opts);
      } else {
        r = AddFromText(text);
      }
      EXPECT_CLEAN_ERROR(r);
      EXPECT_THAT(r.err, HasSubstr("line"));
      EXPECT_THAT(r.err, HasSubstr("column"));
      EXPECT_THAT(r.err, Not(HasSubstr(marker)));
      EXPECT_THAT(r.err, Not(HasSubstr(cyr_marker)));
      EXPECT_THAT(r.err, Not(HasSubstr(marker.substr(0, 6))));
    }
  }
  // The same through `record edit`.
  const fs::path file = Path("bad-edit.json");
  WriteFile(file, bad[0]);
  auto edit = Ev({"record", "edit", record_id_, "--json", file.string()});
  EXPECT_CLEAN_ERROR(edit);
  EXPECT_THAT(edit.err, Not(HasSubstr(marker)));
  ExpectOnlyTheOriginalRecord();
}

TEST_F(ErrorTest, BadJsonPositionIsRight) {
  // Line 3, column 13: the 'x' after "title": .
  auto r = AddFromText("{\n  \"kind\": \"detention\",\n  \"title\": x\n}\n");
  EXPECT_CLEAN_ERROR(r);
  EXPECT_THAT(r.err, HasSubstr("line 3"));
}

TEST_F(ErrorTest, UnknownFieldIsNamedButItsValueIsNot) {
  const std::string marker = "VALUEMARKER" + RandomHex(8);
  auto top = AddFromText(json{{"kind", "detention"}, {"title", "t"}, {"witness_alias", marker}}.dump());
  EXPECT_CLEAN_ERROR(top);
  EXPECT_THAT(top.err, HasSubstr("witness_alias"));
  EXPECT_THAT(top.err, Not(HasSubstr(marker)));

  auto nested = AddFromText(
      json{{"kind", "detention"}, {"title", "t"}, {"people", {{{"name", marker}, {"nickname", marker}}}}}.dump());
  EXPECT_CLEAN_ERROR(nested);
  EXPECT_THAT(nested.err, HasSubstr("nickname"));
  EXPECT_THAT(nested.err, Not(HasSubstr(marker)));

  auto edit_file = Path("edit.json");
  WriteFile(edit_file, json{{"kind", "detention"}, {"title", "t"}, {"location", {{"street", marker}}}}.dump());
  auto edit = Ev({"record", "edit", record_id_, "--json", edit_file.string()});
  EXPECT_CLEAN_ERROR(edit);
  EXPECT_THAT(edit.err, HasSubstr("street"));
  EXPECT_THAT(edit.err, Not(HasSubstr(marker)));
  ExpectOnlyTheOriginalRecord();
}

TEST_F(ErrorTest, InvalidRecordsAreRefused) {
  const std::string marker = "BADVALUE" + RandomHex(8);
  const std::vector<json> invalid = {
      json{{"title", "no kind"}},
      json{{"kind", "detention"}},
      json{{"kind", "detention"}, {"title", 42}},
      json{{"kind", "detention"}, {"title", "t"}, {"occurred", {{"from", marker}}}},
      json{{"kind", "detention"}, {"title", "t"}, {"tags", marker}},
      json::array({"not", "an", "object"}),
  };
  for (const auto& j : invalid) {
    SCOPED_TRACE(j.dump());
    auto r = AddFromText(j.dump());
    EXPECT_CLEAN_ERROR(r);
    EXPECT_THAT(r.err, Not(HasSubstr(marker)));
  }
  ExpectOnlyTheOriginalRecord();
}

TEST_F(ErrorTest, UnknownIds) {
  const std::string unknown = "0123456789abcdef0123456789abcdef";
  const fs::path json_file = Path("ok.json");
  WriteFile(json_file, SimpleRecord("t").dump());
  const fs::path attachment = Path("file.txt");
  WriteFile(attachment, "content");
  const std::vector<std::vector<std::string>> commands = {
      {"record", "show", unknown},
      {"record", "show", unknown, "--history"},
      {"record", "show", case_id_},  // a case id is not a record id
      {"record", "edit", unknown, "--json", json_file.string()},
      {"record", "add", "--case", unknown, "--json", json_file.string()},
      {"record", "add", "--case", record_id_, "--json", json_file.string()},
      {"record", "list", "--case", unknown},
      {"attach", "add", "--record", unknown, attachment.string()},
      {"attach", "list", "--record", unknown},
      {"attach", "get", unknown, "--out", Path("out.bin").string()},
      {"attach", "get", record_id_, "--out", Path("out.bin").string()},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(fmt::format("{}", fmt::join(args, " ")));
    auto r = Ev(args);
    EXPECT_CLEAN_ERROR(r);
  }
  EXPECT_FALSE(fs::exists(Path("out.bin")));
  ExpectOnlyTheOriginalRecord();
  auto attachments = Ev({"attach", "list", "--record", record_id_});
  ASSERT_OK(attachments);
  EXPECT_EQ(attachments.out, "");
}

TEST_F(ErrorTest, MalformedIds) {
  const fs::path json_file = Path("ok.json");
  WriteFile(json_file, SimpleRecord("t").dump());
  const std::vector<std::string> bad_ids = {"xyz", "0123", record_id_ + "00", std::string(32, 'g'),
                                            std::string(200, 'a'), "../../etc/passwd"};
  // Every command that takes an id, each with a few of the malformed ones.
  std::vector<std::vector<std::string>> commands;
  for (std::size_t i = 0; i < bad_ids.size(); ++i) {
    const std::string& id = bad_ids[i];
    commands.push_back({"record", "show", id});
    commands.push_back({"attach", "get", id, "--out", Path("out.bin").string()});
    if (i % 2 == 0) commands.push_back({"record", "add", "--case", id, "--json", json_file.string()});
    if (i % 2 == 1) commands.push_back({"attach", "list", "--record", id});
    if (i % 3 == 0) commands.push_back({"record", "edit", id, "--json", json_file.string()});
    if (i % 3 == 1) commands.push_back({"record", "list", "--case", id});
  }
  for (const auto& args : commands) {
    auto r = Ev(args);
    EXPECT_CLEAN_ERROR(r) << fmt::format("{}", fmt::join(args, " "));
  }
  EXPECT_FALSE(fs::exists(Path("out.bin")));
  ExpectOnlyTheOriginalRecord();
}

// BUG (client/main.cc, record list): an empty --case is treated as "no filter", so
// `evault record list --case "$CASE"` with an empty variable lists the records of every
// case (exit 0) instead of refusing the malformed id like every other command does.
TEST_F(ErrorTest, RecordListWithEmptyCaseIdIsAnError) {
  const std::string other_case = NewCase("Another case");
  AddRecord(other_case, SimpleRecord("Record of another case"));
  auto r = Ev({"record", "list", "--case", ""});
  EXPECT_CLEAN_ERROR(r);
}

// Arguments are echoed in some messages (a malformed id, a file name). A newline or a
// terminal escape in one must not break the one-line convention or reach the terminal.
//
// BUG (client/main.cc, vault/vault.cc ParseId): at the time of writing the argument is
// printed as is, e.g. `evault record show $'abc\ndef'` writes
//   "evault: error: 'abc\ndef' is not a record id (expected 32 hex digits)"
// as two lines, and an ESC sequence in an id or file name goes to the terminal raw.
TEST_F(ErrorTest, ControlCharactersInArgumentsStayOnOneLine) {
  const std::vector<std::string> hostile = {"abc\ndef", "abc\r\nevault: fake second line", "\x1b[2J\x1b[31mred",
                                            std::string("0123456789abcdef0123456789abcde\n")};
  for (const auto& arg : hostile) {
    SCOPED_TRACE("argument with control characters");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"record", "show", arg},
             {"attach", "get", arg, "--out", Path("out.bin").string()},
             {"attach", "add", "--record", record_id_, Path(arg).string()},
             {"record", "add", "--case", case_id_, "--json", Path(arg).string()}}) {
      auto r = Ev(args);
      EXPECT_CLEAN_ERROR(r);
      EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "raw ESC on stderr";
      EXPECT_EQ(r.err.find('\r'), std::string::npos) << "raw CR on stderr";
    }
  }
}

TEST_F(ErrorTest, MissingInputFiles) {
  auto no_json = Ev({"record", "add", "--case", case_id_, "--json", Path("nope.json").string()});
  EXPECT_CLEAN_ERROR(no_json);
  EXPECT_THAT(no_json.err, HasSubstr("nope.json"));

  auto json_is_dir = Ev({"record", "add", "--case", case_id_, "--json", dir_.string()});
  EXPECT_CLEAN_ERROR(json_is_dir);

  auto no_edit = Ev({"record", "edit", record_id_, "--json", Path("nope.json").string()});
  EXPECT_CLEAN_ERROR(no_edit);

  auto no_file = Ev({"attach", "add", "--record", record_id_, Path("missing.jpg").string()});
  EXPECT_CLEAN_ERROR(no_file);
  EXPECT_THAT(no_file.err, HasSubstr("missing.jpg"));

  // One good file and one missing: nothing is attached.
  WriteFile(Path("good.txt"), "good");
  auto mixed = Ev({"attach", "add", "--record", record_id_, Path("good.txt").string(), Path("missing.jpg").string()});
  EXPECT_CLEAN_ERROR(mixed);
  auto attach_dir = Ev({"attach", "add", "--record", record_id_, dir_.string()});
  EXPECT_CLEAN_ERROR(attach_dir);
  auto list = Ev({"attach", "list", "--record", record_id_});
  ASSERT_OK(list);
  EXPECT_EQ(list.out, "");

  auto no_pass = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("no-passphrase").string(), "case",
                        "list"});
  EXPECT_CLEAN_ERROR(no_pass);
  ExpectOnlyTheOriginalRecord();
}

TEST_F(ErrorTest, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"case", "new"}, {"record", "add", "--case", case_id_}, {"frobnicate"}, {"record"}, {}}) {
    SCOPED_TRACE(fmt::format("{}", fmt::join(args, " ")));
    EXPECT_CLEAN_ERROR(Ev(args), 2);
  }
}

TEST_F(ErrorTest, WrongPassphraseExitsThreeForEveryCommand) {
  WriteFile(Path("wrong"), "wrong passphrase\n");
  const std::vector<std::string> base = {"--vault", vault_.string(), "--passphrase-file", Path("wrong").string()};
  WriteFile(Path("ok.json"), SimpleRecord("t").dump());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"case", "list"},
           {"case", "new", "--title", "x"},
           {"record", "list"},
           {"record", "show", record_id_},
           {"record", "add", "--case", case_id_, "--json", Path("ok.json").string()},
           {"search", "narrative"},
           {"attach", "list", "--record", record_id_}}) {
    std::vector<std::string> full = base;
    full.insert(full.end(), args.begin(), args.end());
    SCOPED_TRACE(fmt::format("{}", fmt::join(args, " ")));
    auto r = EvRaw(full);
    EXPECT_CLEAN_ERROR(r, 3);
  }
  ExpectOnlyTheOriginalRecord();
}

TEST_F(CliTest, NotAVault) {
  const fs::path empty = Path("empty-dir");
  fs::create_directory(empty);
  const fs::path junk = Path("junk-dir");
  fs::create_directory(junk);
  WriteFile(junk / "notes.txt", "just some files");
  WriteFile(junk / "vault.header", "this is not a vault header at all");
  const fs::path missing = Path("does-not-exist");
  const fs::path a_file = Path("a-file");
  WriteFile(a_file, "plain file");

  for (const fs::path& dir : {empty, junk, missing, a_file}) {
    SCOPED_TRACE(dir.string());
    for (const auto& args : std::vector<std::vector<std::string>>{{"case", "list"}, {"record", "list"}}) {
      std::vector<std::string> full = {"--vault", dir.string(), "--passphrase-file", pass_file_.string()};
      full.insert(full.end(), args.begin(), args.end());
      auto r = EvRaw(full);
      EXPECT_CLEAN_ERROR(r);
      EXPECT_NE(r.exit_code, 3) << "not a vault is not a wrong passphrase";
    }
  }
  // Nothing was created by looking.
  EXPECT_TRUE(fs::is_empty(empty));
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_EQ(ReadFile(junk / "vault.header"), "this is not a vault header at all");
}

TEST_F(CliTest, NewerFormatVersionIsRefused) {
  Init();
  const fs::path header = vault_ / "vault.header";
  std::string bytes = ReadFile(header);
  ASSERT_GT(bytes.size(), 10u);
  // 8 magic bytes, then the protobuf: field 1 (format_version), varint 2.
  ASSERT_EQ(static_cast<unsigned char>(bytes[8]), 0x08);
  ASSERT_EQ(static_cast<unsigned char>(bytes[9]), 0x02);
  bytes[9] = 0x09;
  WriteFile(header, bytes);
  auto r = Ev({"case", "list"});
  EXPECT_CLEAN_ERROR(r);
  EXPECT_NE(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("newer"));
  // Format 1 (one shared read key, before roles) is refused with a way forward.
  bytes[9] = 0x01;
  WriteFile(header, bytes);
  r = Ev({"case", "list"});
  EXPECT_CLEAN_ERROR(r);
  EXPECT_THAT(r.err, HasSubstr("predates roles"));
}

TEST_F(CliTest, TruncatedHeaderIsAnError) {
  Init();
  const fs::path header = vault_ / "vault.header";
  std::string bytes = ReadFile(header);
  WriteFile(header, bytes.substr(0, bytes.size() / 2));
  EXPECT_CLEAN_ERROR(Ev({"case", "list"}));
}

// Tampering: flip bytes in the middle of the largest file under db/, then read
// everything back. Some command must fail (exit 4); every command that succeeds must
// print exactly what it printed before; a failed `attach get` leaves no file.
class TamperTest : public CliTest, public ::testing::WithParamInterface<bool> {};

TEST_P(TamperTest, FlippedBytesAreDetectedAndNeverShown) {
  const bool with_attachment = GetParam();
  Init();
  const std::string case_id = NewCase("DVK-related prosecutions", {"dvk"});
  std::vector<std::string> records;
  for (const char* f : {"03-dvk-article-405/01-record.json", "03-dvk-article-405/02-record.json",
                        "02-aytimova-false-information/01-record.json"}) {
    records.push_back(AddRecord(case_id, json::parse(DemoFile(f))));
  }
  EditRecord(records[0], json::parse(DemoFile("03-dvk-article-405/edit.json")));
  std::vector<std::pair<std::string, std::string>> attachments;  // id, original bytes
  if (with_attachment) {
    const std::string bytes = RandomBytes(300000);
    WriteFile(Path("photo.jpg"), bytes);
    attachments.emplace_back(Attach(records[1], Path("photo.jpg")), bytes);
  }

  std::vector<std::vector<std::string>> reads = {{"case", "list", "--json"},
                                                 {"record", "list", "--case", case_id},
                                                 {"search", "dvk"},
                                                 {"search", "гульмиру"},
                                                 {"record", "show", records[0]},
                                                 {"attach", "list", "--record", records[1]}};
  for (const auto& id : records) reads.push_back({"record", "show", id, "--history", "--json"});
  std::vector<std::string> before;
  for (const auto& args : reads) {
    auto r = Ev(args);
    ASSERT_OK(r);
    before.push_back(r.out);
  }

  // Flip bytes in the middle of every table and blob file under db/. (Damaging only the
  // largest file proved flaky: it may hold nothing but superseded index segments, which
  // no read touches; damage there is harmless and, correctly, never shown.)
  std::vector<fs::path> tampered;
  for (const auto& entry : fs::recursive_directory_iterator(vault_ / "db")) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".sst" && ext != ".blob") || entry.file_size() < 1000) continue;
    std::string bytes = ReadFile(entry.path());
    for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 64; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0xA5);
    WriteFile(entry.path(), bytes);
    tampered.push_back(entry.path());
  }
  ASSERT_FALSE(tampered.empty());
  const fs::path largest = tampered.front();
  RecordProperty("tampered_files", static_cast<int>(tampered.size()));

  int failures = 0;
  for (std::size_t i = 0; i < reads.size(); ++i) {
    SCOPED_TRACE(fmt::format("after tampering with {} files: {}", tampered.size(), fmt::join(reads[i], " ")));
    auto r = Ev(reads[i]);
    if (r.exit_code == 0) {
      EXPECT_EQ(r.out, before[i]) << "a command printed altered content";
    } else {
      ++failures;
      EXPECT_CLEAN_ERROR(r, 4);
    }
  }
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const fs::path out = Path(fmt::format("restored-{}.bin", i));
    auto r = Ev({"attach", "get", attachments[i].first, "--out", out.string()});
    if (r.exit_code == 0) {
      EXPECT_TRUE(ReadFile(out) == attachments[i].second) << "attach get wrote altered content";
    } else {
      ++failures;
      EXPECT_CLEAN_ERROR(r, 4);
      EXPECT_FALSE(fs::exists(out)) << "a partial original was left behind";
    }
    auto to_stdout = Ev({"attach", "get", attachments[i].first, "--out", "-"});
    if (to_stdout.exit_code == 0) {
      EXPECT_TRUE(to_stdout.out == attachments[i].second) << "attach get wrote altered content to stdout";
    } else {
      ++failures;
      // Chunks before the damaged one may already be on stdout; none may be altered.
      EXPECT_TRUE(attachments[i].second.starts_with(to_stdout.out)) << "altered bytes on stdout";
      EXPECT_EQ(to_stdout.exit_code, 4);
    }
  }
  EXPECT_GT(failures, 0) << "tampering with " << tampered.size() << " files (first " << largest << ") went unnoticed";
}

INSTANTIATE_TEST_SUITE_P(Cli, TamperTest, ::testing::Bool(), [](const auto& info) {
  return info.param ? std::string("WithAttachment") : std::string("RecordsOnly");
});

}  // namespace
}  // namespace evault::cli_test
