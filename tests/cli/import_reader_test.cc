// The import reader (client/import_reader.h) in isolation: JSON Lines and RFC 4180 CSV
// as spreadsheets write them, and every malformed input refused with its line and
// column, never its content.
#include "client/import_reader.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace evault::client {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "Zhanbolat";  // stands for evidence: must never appear in an error

struct ReadAll {
  std::vector<ImportRecord> records;
  std::optional<Error> error;
};

ReadAll Read(const std::string& input, ImportFormat format) {
  std::istringstream in(input);
  ImportReader reader(in, format);
  ReadAll out;
  while (true) {
    auto next = reader.Next();
    if (!next) {
      out.error = next.error();
      // The error is sticky.
      auto again = reader.Next();
      EXPECT_FALSE(again);
      if (!again) {
        EXPECT_EQ(again.error().message, next.error().message);
      }
      break;
    }
    if (!*next) {
      EXPECT_EQ(reader.bytes_read(), input.size());
      break;
    }
    out.records.push_back(std::move(**next));
  }
  return out;
}

ReadAll Csv(const std::string& input) { return Read(input, ImportFormat::kCsv); }
ReadAll Jsonl(const std::string& input) { return Read(input, ImportFormat::kJsonLines); }

void ExpectError(const ReadAll& r, const std::string& message_start) {
  ASSERT_TRUE(r.error.has_value()) << "no error; records: " << r.records.size();
  EXPECT_EQ(r.error->code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(r.error->message.starts_with(message_start)) << r.error->message;
  EXPECT_EQ(r.error->message.find(kSecret), std::string::npos) << r.error->message;
}

json Record(const ImportRecord& r) { return json::parse(r.json); }

// ---- formats and UTF-8 ------------------------------------------------------------------

TEST(ImportFormatTest, ChosenByExtensionOrName) {
  EXPECT_EQ(ImportFormatForFile("a/b/records.jsonl"), ImportFormat::kJsonLines);
  EXPECT_EQ(ImportFormatForFile("records.NDJSON"), ImportFormat::kJsonLines);
  EXPECT_EQ(ImportFormatForFile("Spreadsheet 2019.CSV"), ImportFormat::kCsv);
  EXPECT_EQ(ImportFormatForFile("records.json"), std::nullopt);
  EXPECT_EQ(ImportFormatForFile("csv"), std::nullopt);
  EXPECT_EQ(ImportFormatByName("jsonl"), ImportFormat::kJsonLines);
  EXPECT_EQ(ImportFormatByName("csv"), ImportFormat::kCsv);
  EXPECT_EQ(ImportFormatByName("tsv"), std::nullopt);
}

TEST(Utf8Test, AcceptsValidRejectsMalformed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("Алматы, Қазақстан 😀"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xd0"));              // truncated
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // stray continuation byte
}

// ---- JSON Lines ---------------------------------------------------------------------------

TEST(JsonLinesReaderTest, OneRecordPerLineWithLineNumbers) {
  auto r = Jsonl("{\"kind\":\"a\",\"title\":\"one\"}\n\n   \n{\"kind\":\"b\",\"title\":\"two\"}\n\t\n{\"kind\":\"c\",\"title\":\"three\"}");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].line, 1u);
  EXPECT_EQ(r.records[1].line, 4u);
  EXPECT_EQ(r.records[2].line, 6u);  // no final newline
  EXPECT_EQ(Record(r.records[2])["title"], "three");
}

TEST(JsonLinesReaderTest, CrlfAndByteOrderMark) {
  auto r = Jsonl("\xEF\xBB\xBF{\"kind\":\"a\",\"title\":\"Алматы\"}\r\n\r\n{\"kind\":\"b\",\"title\":\"two\"}\r\n");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].json, "{\"kind\":\"a\",\"title\":\"Алматы\"}");
  EXPECT_EQ(r.records[1].line, 3u);
  EXPECT_TRUE(CheckImportRecord(r.records[0]));
}

TEST(JsonLinesReaderTest, EmptyInputHasNoRecords) {
  EXPECT_TRUE(Jsonl("").records.empty());
  EXPECT_TRUE(Jsonl("\n\n\r\n").records.empty());
  EXPECT_FALSE(Jsonl("\xEF\xBB\xBF").error);
}

TEST(JsonLinesReaderTest, BadUtf8NamesTheLine) {
  ExpectError(Jsonl("{\"kind\":\"a\",\"title\":\"ok\"}\n\n{\"kind\":\"a\",\"title\":\"Zhanbolat \xff\"}\n"),
              "line 3: the line is not valid UTF-8");
}

TEST(JsonLinesReaderTest, HugeLineIsRefusedWithoutReadingItWhole) {
  std::string input = "{\"kind\":\"a\",\"title\":\"ok\"}\n{\"kind\":\"a\",\"title\":\"";
  input += std::string(kMaxImportRecordBytes + 10, 'x');
  input += "\"}\n";
  ExpectError(Jsonl(input), "line 2: the line is longer than 4 MiB");
}

TEST(JsonLinesReaderTest, BrokenByteOrderMark) { ExpectError(Jsonl("\xEF\xBB{}"), "line 1: "); }

TEST(CheckImportRecordTest, NamesLineAndColumnNeverContent) {
  auto bad_json = CheckImportRecord({12, "{\"kind\":\"Zhanbolat\",\"title\":}"});
  ASSERT_FALSE(bad_json);
  EXPECT_EQ(bad_json.error().message, "line 12: invalid JSON at column 29");
  auto bad_field = CheckImportRecord({3, R"({"kind":"x","title":"Zhanbolat","people":[{"name":"Zhanbolat","role":"judge"}]})"});
  ASSERT_FALSE(bad_field);
  EXPECT_TRUE(bad_field.error().message.starts_with("line 3: record field 'people[0].role' must be one of"))
      << bad_field.error().message;
  EXPECT_EQ(bad_field.error().message.find(kSecret), std::string::npos);
  auto missing = CheckImportRecord({7, R"({"kind":"x"})"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "line 7: record field 'title' is required");
  EXPECT_TRUE(CheckImportRecord({1, R"({"kind":"x","title":"y"})"}));
}

// ---- CSV ------------------------------------------------------------------------------------

TEST(CsvReaderTest, HeaderNamesFlatFieldsIncludingNestedOnes) {
  auto r = Csv("kind,title,occurred.from,location.city,legal.court,narrative\n"
               "detention,Raid on office,2019-09-21,Алматы,,Seized phones\n");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].line, 2u);
  const json j = Record(r.records[0]);
  EXPECT_EQ(j, json::parse(R"({"kind":"detention","title":"Raid on office","occurred":{"from":"2019-09-21"},
                               "location":{"city":"Алматы"},"narrative":"Seized phones"})"));
  EXPECT_FALSE(j.contains("legal"));  // an empty cell leaves its field (and object) out
  EXPECT_TRUE(CheckImportRecord(r.records[0]));
}

TEST(CsvReaderTest, Rfc4180Quoting) {
  auto r = Csv("kind,title,narrative\n"
               "\"a,b\",\"He said \"\"no\"\"\",\"line one\nline two\r\nline three\"\n"
               "plain,\"\",\"\"\"\"\n"
               "x,after the multi-line cell,z\n");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 3u);
  const json first = Record(r.records[0]);
  EXPECT_EQ(first["kind"], "a,b");
  EXPECT_EQ(first["title"], "He said \"no\"");
  EXPECT_EQ(first["narrative"], "line one\nline two\r\nline three");  // kept byte for byte
  EXPECT_EQ(r.records[0].line, 2u);
  const json second = Record(r.records[1]);
  EXPECT_FALSE(second.contains("title"));  // "" is an empty cell
  EXPECT_EQ(second["narrative"], "\"");
  EXPECT_EQ(r.records[1].line, 5u);  // the quoted cell above spans lines 2 to 4
  EXPECT_EQ(r.records[2].line, 6u);
}

TEST(CsvReaderTest, CrlfBomEmptyLinesAndEmptyRows) {
  auto r = Csv("\xEF\xBB\xBF\r\nkind,title\r\n\r\nk1,t1\r\n,\r\n\r\nk2,t2");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(Record(r.records[0]), json::parse(R"({"kind":"k1","title":"t1"})"));
  EXPECT_EQ(r.records[0].line, 4u);
  EXPECT_EQ(r.records[1].line, 7u);
  EXPECT_EQ(Record(r.records[1]), json::parse(R"({"kind":"k2","title":"t2"})"));
}

TEST(CsvReaderTest, HeaderOnlyHasNoRecords) {
  auto r = Csv("kind,title\n");
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_TRUE(r.records.empty());
}

TEST(CsvReaderTest, WrongHeaders) {
  ExpectError(Csv(""), "line 1: the CSV has no header row");
  ExpectError(Csv("\n\n"), "line 3: the CSV has no header row");
  ExpectError(Csv("kind,title,secret\nk,t,Zhanbolat\n"), "line 1: column 'secret' is not a flat record field");
  ExpectError(Csv("kind,title,tags\n"), "line 1: column 'tags' is not a flat record field");
  ExpectError(Csv("kind,title,people.name\n"), "line 1: column 'people.name' is not a flat record field");
  ExpectError(Csv("kind,location,title\n"), "line 1: column 'location' is not a flat record field");
  ExpectError(Csv("kind,title,\n"), "line 1: column '(empty)' is not a flat record field");
  ExpectError(Csv("kind, title\n"), "line 1: column ' title' is not a flat record field");
  ExpectError(Csv("kind,title,title\n"), "line 1: column 'title' appears twice");
  ExpectError(Csv("kind,ti\x01tle\n"), "line 1: column '(unprintable)' is not a flat record field");
  ExpectError(Csv("kind,\xff\n"), "line 1: column '(unprintable)' is not a flat record field");
  auto long_name = Csv("kind," + std::string(200, 'n') + "\n");
  ExpectError(long_name, "line 1: column 'nnnn");
  EXPECT_LT(long_name.error->message.size(), 500u);
}

TEST(CsvReaderTest, MalformedRowsNameTheirLine) {
  ExpectError(Csv("kind,title\nk,t\nk,t,Zhanbolat\n"), "line 3: the row has 3 cells, the header 2");
  ExpectError(Csv("kind,title\nk\n"), "line 2: the row has 1 cells, the header 2");
  ExpectError(Csv("kind,title\nk,Zhan\"bolat\n"), "line 2: a quote inside an unquoted cell");
  ExpectError(Csv("kind,title\nk,\"Zhanbolat\"x\n"), "line 2: text after the closing quote of a cell");
  ExpectError(Csv("kind,title\nk,t\nk,\"Zhanbolat\nand more\n"), "line 3: a quoted cell is not closed");
  ExpectError(Csv("kind,title\nk,t\nk,\"a\nb\"c\n"), "line 4: text after the closing quote of a cell");
}

TEST(CsvReaderTest, BadUtf8NamesLineAndColumn) {
  ExpectError(Csv("kind,title\nk,t\nk,Zhanbolat \xc3\x28\n"), "line 3: column 'title' is not valid UTF-8");
  ExpectError(Csv("kind,title\nk,\"multi\nline \xff\"\n"), "line 2: column 'title' is not valid UTF-8");
}

TEST(CsvReaderTest, HugeRowIsRefused) {
  std::string input = "kind,title\nk,\"";
  input += std::string(kMaxImportRecordBytes + 1, 'x');
  input += "\"\n";
  ExpectError(Csv(input), "line 2: the row is longer than 4 MiB");
}

TEST(CsvReaderTest, ValuesAreValidatedLikeRecordAdd) {
  auto r = Csv("kind,title,occurred.from,occurred.precision\nk,Zhanbolat,21/09/2019,day\nk,,2019,day\n");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 2u);
  auto bad_date = CheckImportRecord(r.records[0]);
  ASSERT_FALSE(bad_date);
  EXPECT_TRUE(bad_date.error().message.starts_with("line 2: record field 'occurred.from' must be an ISO 8601 date"))
      << bad_date.error().message;
  auto no_title = CheckImportRecord(r.records[1]);
  ASSERT_FALSE(no_title);
  EXPECT_EQ(no_title.error().message, "line 3: record field 'title' is required");
}

TEST(CsvReaderTest, EveryFlatFieldIsAColumn) {
  std::string header, row;
  for (const auto& name : vault::FlatRecordFields()) {
    header += (header.empty() ? "" : ",") + name;
    std::string value = "v";
    if (name.starts_with("occurred.") && name != "occurred.precision") value = "2019-10";
    if (name == "occurred.precision") value = "month";
    row += (row.empty() ? "" : ",") + value;
  }
  EXPECT_EQ(vault::FlatRecordFields().front(), "kind");
  auto r = Csv(header + "\n" + row + "\n");
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_TRUE(CheckImportRecord(r.records[0])) << r.records[0].json;
}

}  // namespace
}  // namespace evault::client
