// `evault import` through the real binary: JSON Lines and CSV, the all-or-nothing rule
// against bad input (the bad line named, nothing stored), and resuming with
// --skip-records after a write that failed midway.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecret[] = "Zhanbolat";  // stands for evidence: must never appear in an error

class ImportTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    Init();
    case_id_ = NewCase("Imported from the 2019 spreadsheet");
  }

  // `n` JSON lines "Imported record <i>" with narrative "word<i>x".
  static std::string JsonLines(std::size_t n, std::size_t first = 0) {
    std::string out;
    for (std::size_t i = first; i < first + n; ++i) {
      out += SimpleRecord(fmt::format("Imported record {}", i), fmt::format("word{}x", i)).dump() + "\n";
    }
    return out;
  }

  std::vector<std::string> ListedTitles() {
    auto list = Ev({"record", "list", "--case", case_id_, "--json"});
    EXPECT_OK(list);
    std::vector<std::string> titles;
    for (const auto& r : json::parse(list.out)) titles.push_back(r.at("title"));
    std::sort(titles.begin(), titles.end());
    return titles;
  }

  std::size_t RecordCount() {
    auto list = Ev({"record", "list"});
    EXPECT_OK(list);
    return Lines(list.out).size();
  }

  std::string case_id_;
};

TEST_F(ImportTest, JsonLinesImportsEveryRecord) {
  const fs::path file = Path("records.jsonl");
  WriteFile(file, JsonLines(25) + "\n" + SimpleRecord("Задержание в Алматы").dump() + "\n");
  auto r = Ev({"import", "--case", case_id_, file.string()});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, fmt::format("imported 26 records into case {}\n", case_id_));
  EXPECT_EQ(r.err, "");  // stderr is not a terminal: no progress
  EXPECT_EQ(ListedTitles().size(), 26u);
  auto hits = Ev({"search", "word17x"});
  ASSERT_OK(hits);
  ASSERT_EQ(Lines(hits.out).size(), 1u);
  EXPECT_THAT(hits.out, HasSubstr("Imported record 17"));
  auto cyrillic = Ev({"search", "алматы"});
  ASSERT_OK(cyrillic);
  EXPECT_EQ(Lines(cyrillic.out).size(), 1u);
  // Custody: one capture per record, and the log verifies.
  ASSERT_OK(Ev({"audit", "verify"}));
  auto log = Ev({"audit", "log", "--case", case_id_, "--json"});
  ASSERT_OK(log);
  EXPECT_EQ(Lines(log.out).size(), 1u + 26u);
}

TEST_F(ImportTest, JsonOutputListsLinesAndIds) {
  const fs::path file = Path("records.ndjson");
  WriteFile(file, JsonLines(2) + "\n" + JsonLines(1, 2));
  auto r = Ev({"import", "--case", case_id_, file.string(), "--json", "--batch-records", "2"});
  ASSERT_OK(r);
  const json out = json::parse(r.out);
  EXPECT_EQ(out.at("case_id"), case_id_);
  EXPECT_EQ(out.at("imported"), 3);
  ASSERT_EQ(out.at("records").size(), 3u);
  EXPECT_EQ(out["records"][2]["line"], 4);
  for (const auto& rec : out["records"]) {
    const std::string record_id = rec.at("record_id");
    EXPECT_TRUE(IsId(record_id)) << rec;
    const json shown = ShowJson(record_id);
    EXPECT_THAT(shown.dump(), HasSubstr(rec.at("revision_id").get<std::string>()));
  }
}

TEST_F(ImportTest, CsvWithQuotingCrlfAndBom) {
  const fs::path file = Path("Spreadsheet.CSV");
  WriteFile(file,
            "\xEF\xBB\xBFkind,title,occurred.from,location.city,narrative\r\n"
            "detention,\"Raid, Almaty office\",2019-09-21,Алматы,\"Police said \"\"routine check\"\".\r\nPhones seized.\"\r\n"
            "\r\n"
            ",,,,\r\n"
            "conviction,Libel verdict,2019-10,,\r\n");
  auto r = Ev({"import", "--case", case_id_, file.string(), "--json"});
  ASSERT_OK(r);
  const json out = json::parse(r.out);
  ASSERT_EQ(out.at("imported"), 2);
  EXPECT_EQ(out["records"][0]["line"], 2);
  EXPECT_EQ(out["records"][1]["line"], 6);
  const json first = ShowJson(out["records"][0]["record_id"].get<std::string>());
  const std::string dumped = first.dump();
  EXPECT_THAT(dumped, HasSubstr(R"("title":"Raid, Almaty office")"));
  EXPECT_THAT(dumped, HasSubstr(R"(Police said \"routine check\".\r\nPhones seized.)"));
  EXPECT_THAT(dumped, HasSubstr(R"("city":"Алматы")"));
  EXPECT_THAT(dumped, HasSubstr(R"("from":"2019-09-21")"));
}

TEST_F(ImportTest, StdinNeedsAFormat) {
  auto without = Ev({"import", "--case", case_id_, "-"}, {.stdin_data = JsonLines(2)});
  EXPECT_CLEAN_ERROR(without, 1);
  EXPECT_THAT(without.err, HasSubstr("--format jsonl|csv"));
  auto with = Ev({"import", "--case", case_id_, "-", "--format", "jsonl"}, {.stdin_data = JsonLines(3)});
  ASSERT_OK(with);
  EXPECT_EQ(ListedTitles().size(), 3u);
  auto csv = Ev({"import", "--case", case_id_, "-", "--format", "csv"}, {.stdin_data = "title,kind\nFrom stdin,event\n"});
  ASSERT_OK(csv);
  EXPECT_EQ(ListedTitles().size(), 4u);
}

TEST_F(ImportTest, UnknownExtensionNeedsAFormat) {
  const fs::path file = Path("records.txt");
  WriteFile(file, JsonLines(1));
  auto r = Ev({"import", "--case", case_id_, file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, HasSubstr("--format jsonl|csv"));
  ASSERT_OK(Ev({"import", "--case", case_id_, file.string(), "--format", "jsonl"}));
  EXPECT_CLEAN_ERROR(Ev({"import", "--case", case_id_, file.string(), "--format", "xml"}), 2);
}

TEST_F(ImportTest, BadLineIsNamedAndNothingIsWritten) {
  std::string text = JsonLines(6);
  text += R"({"kind":"event","title":"Zhanbolat","people":[{"name":"Zhanbolat","role":"judge"}]})" "\n";
  text += JsonLines(3, 6);
  const fs::path file = Path("records.jsonl");
  WriteFile(file, text);
  // Small batches: the bad record would be in the fourth; the first pass stops it all.
  auto r = Ev({"import", "--case", case_id_, file.string(), "--batch-records", "2"});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, StartsWith("evault: error: line 7: record field 'people[0].role' must be one of"));
  EXPECT_THAT(r.err, Not(HasSubstr(kSecret)));
  EXPECT_EQ(RecordCount(), 0u);

  WriteFile(file, JsonLines(2) + "{\"kind\":\"event\",\"title\":\"Zhanbolat\"\n");
  r = Ev({"import", "--case", case_id_, file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, StartsWith("evault: error: line 3: invalid JSON at column"));
  EXPECT_THAT(r.err, Not(HasSubstr(kSecret)));
  EXPECT_EQ(RecordCount(), 0u);

  WriteFile(file, JsonLines(1) + "{\"kind\":\"event\",\"title\":\"Zhanbolat \xff\"}\n");
  r = Ev({"import", "--case", case_id_, file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, StartsWith("evault: error: line 2: the line is not valid UTF-8"));
  EXPECT_EQ(RecordCount(), 0u);
}

TEST_F(ImportTest, BadCsvNamesLineAndColumn) {
  const fs::path file = Path("records.csv");
  WriteFile(file, "kind,title,people\nevent,Zhanbolat,x\n");
  auto r = Ev({"import", "--case", case_id_, file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, StartsWith("evault: error: line 1: column 'people' is not a flat record field"));

  WriteFile(file, "kind,title,occurred.from\nevent,ok,2019\nevent,\"Zhanbolat\nmulti-line\",2019\nevent,Zhanbolat,not a date\n");
  r = Ev({"import", "--case", case_id_, file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, StartsWith("evault: error: line 5: record field 'occurred.from' must be an ISO 8601 date"));
  EXPECT_THAT(r.err, Not(HasSubstr(kSecret)));
  EXPECT_EQ(RecordCount(), 0u);
}

TEST_F(ImportTest, UnknownCaseWritesNothing) {
  const fs::path file = Path("records.jsonl");
  WriteFile(file, JsonLines(3));
  auto r = Ev({"import", "--case", RandomHex(16), file.string()});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, HasSubstr("no case with id"));
  EXPECT_EQ(RecordCount(), 0u);
  EXPECT_CLEAN_ERROR(Ev({"import", "--case", case_id_, Path("missing.jsonl").string()}), 1);
}

TEST_F(ImportTest, SkipRecordsResumes) {
  const fs::path file = Path("records.jsonl");
  WriteFile(file, JsonLines(3) + "\n\n" + JsonLines(3, 3));
  auto r = Ev({"import", "--case", case_id_, file.string(), "--skip-records", "4"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, fmt::format("imported 2 records into case {} (skipped the first 4)\n", case_id_));
  EXPECT_EQ(ListedTitles(), (std::vector<std::string>{"Imported record 4", "Imported record 5"}));
  auto too_many = Ev({"import", "--case", case_id_, file.string(), "--skip-records", "7"});
  EXPECT_CLEAN_ERROR(too_many, 1);
  EXPECT_THAT(too_many.err, HasSubstr("--skip-records 7 is more than the 6 records"));
  EXPECT_EQ(ListedTitles().size(), 2u);
}

// A write that fails midway: the file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored
// so the write fails with EFBIG) stops the vault's log from growing after some batches.
// The error says how many records are in and how to resume; resuming imports the rest.
TEST_F(ImportTest, WriteFailureMidwaySaysHowToResume) {
  const std::size_t total = 400;
  const fs::path file = Path("records.jsonl");
  WriteFile(file, JsonLines(total));
  const std::vector<std::string> args = {"-c", "trap '' XFSZ; ulimit -f 2048; exec \"$0\" \"$@\"", EvaultBinary(),
                                         "--vault", vault_.string(), "--passphrase-file", pass_file_.string(),
                                         "import", "--case", case_id_, file.string(), "--batch-records", "10"};
  auto r = RunProgram("/bin/sh", args);
  ASSERT_NE(r.exit_code, 0) << "the import fit under the limit; lower it. " << r.Describe();
  EXPECT_CLEAN_ERROR(r, 1);
  // "...; the first N of 400 records are in the vault, none from line N+1 on: rerun with --skip-records N to resume"
  const std::string marker = "rerun with --skip-records ";
  const auto at = r.err.find(marker);
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::size_t done = std::stoul(r.err.substr(at + marker.size()));
  ASSERT_GT(done, 0u) << r.err;
  ASSERT_LT(done, total) << r.err;
  EXPECT_EQ(done % 10, 0u) << "whole batches only: " << r.err;
  EXPECT_THAT(r.err, HasSubstr(fmt::format("the first {} of {} records are in the vault, none from line {} on",
                                           done, total, done + 1)));
  EXPECT_EQ(RecordCount(), done);

  auto resumed = Ev({"import", "--case", case_id_, file.string(), "--skip-records", std::to_string(done)});
  ASSERT_OK(resumed);
  const auto titles = ListedTitles();
  ASSERT_EQ(titles.size(), total);
  EXPECT_EQ(std::set<std::string>(titles.begin(), titles.end()).size(), total);  // none twice
  ASSERT_OK(Ev({"audit", "verify"}));
}

}  // namespace
}  // namespace evault::cli_test
