// init, case, record and search through the real binary.
#include <algorithm>
#include <set>

#include <fmt/core.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

std::set<std::string> FirstWords(const std::string& out) {
  std::set<std::string> ids;
  for (const auto& line : Lines(out)) ids.insert(FirstWord(line));
  return ids;
}

TEST_F(CliTest, InitPrintsDeviceIdFirst) {
  auto r = Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  ASSERT_OK(r);
  auto lines = Lines(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(IsId(FirstWord(lines[0]))) << r.out;
  EXPECT_TRUE(fs::is_regular_file(vault_ / "vault.header"));
}

TEST_F(CliTest, SecondInitFailsAndKeepsTheVault) {
  Init();
  const std::string case_id = NewCase("Existing case");
  const std::string header_before = ReadFile(vault_ / "vault.header");

  // Same passphrase, and a different one: both refused; the original still unlocks.
  auto again = Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  EXPECT_CLEAN_ERROR(again);
  WriteFile(Path("other"), "another passphrase entirely\n");
  auto other = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("other").string(), "init", "--kdf-ops",
                      "2", "--kdf-memory-mib", "64"});
  EXPECT_CLEAN_ERROR(other);

  EXPECT_EQ(ReadFile(vault_ / "vault.header"), header_before);
  auto list = Ev({"case", "list"});
  ASSERT_OK(list);
  EXPECT_EQ(FirstWords(list.out), std::set<std::string>{case_id});
}

TEST_F(CliTest, CaseNewAndList) {
  Init();
  struct Case {
    std::string title;
    std::vector<std::string> tags;
    std::string id;
  };
  std::vector<Case> cases = {
      {"Batyrbekov libel case", {"libel", "journalist"}, ""},
      {"Айтимова: распространение ложной информации", {"ст-274", "қазақстан"}, ""},
      {"No tags at all", {}, ""},
  };
  for (auto& c : cases) {
    c.id = NewCase(c.title, c.tags);
    EXPECT_TRUE(IsId(c.id));
  }
  EXPECT_NE(cases[0].id, cases[1].id);

  auto list = Ev({"case", "list"});
  ASSERT_OK(list);
  auto lines = Lines(list.out);
  ASSERT_EQ(lines.size(), cases.size()) << list.out;
  std::set<std::string> expected;
  for (const auto& c : cases) expected.insert(c.id);
  EXPECT_EQ(FirstWords(list.out), expected);
  for (const auto& line : lines) {
    auto it = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.id == FirstWord(line); });
    ASSERT_NE(it, cases.end());
    EXPECT_THAT(line, HasSubstr(it->title));
  }

  auto as_json = Ev({"case", "list", "--json"});
  ASSERT_OK(as_json);
  json parsed = json::parse(as_json.out);
  ASSERT_TRUE(parsed.is_array());
  ASSERT_EQ(parsed.size(), cases.size());
  for (const auto& c : cases) {
    auto it = std::find_if(parsed.begin(), parsed.end(), [&](const json& j) { return j.at("id") == c.id; });
    ASSERT_NE(it, parsed.end()) << c.id;
    EXPECT_EQ(it->at("title").get<std::string>(), c.title);
    EXPECT_EQ(it->at("tags").get<std::vector<std::string>>(), c.tags);
  }
}

TEST_F(CliTest, CaseListOfEmptyVaultPrintsNothing) {
  Init();
  auto list = Ev({"case", "list"});
  ASSERT_OK(list);
  EXPECT_EQ(list.out, "");
  auto as_json = Ev({"case", "list", "--json"});
  ASSERT_OK(as_json);
  EXPECT_EQ(json::parse(as_json.out), json::array());
}

TEST_F(CliTest, RecordAddFromFileRoundTripsDemoRecordByteExact) {
  Init();
  const std::string case_id = NewCase("DVK-related prosecutions under Article 405");
  const std::string text = DemoFile("03-dvk-article-405/01-record.json");
  const json input = json::parse(text);

  const fs::path file = Path("01-record.json");
  WriteFile(file, text);
  auto r = Ev({"record", "add", "--case", case_id, "--json", file.string()});
  ASSERT_OK(r);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const std::string record_id = FirstWord(lines[0]);
  ASSERT_TRUE(IsId(record_id)) << r.out;

  json view = ShowJson(record_id);
  EXPECT_EQ(view.at("id"), record_id);
  EXPECT_EQ(view.at("case_id"), case_id);
  ASSERT_EQ(view.at("heads").size(), 1u);
  const json& head = view["heads"][0];
  EXPECT_EQ(head.at("record"), input);
  // Cyrillic and Kazakh text, byte for byte.
  EXPECT_EQ(head["record"]["narrative"].get<std::string>(), input["narrative"].get<std::string>());
  EXPECT_EQ(head["record"]["people"][0]["notes"].get<std::string>(), "Гульмира Халыкова");
  EXPECT_EQ(head.at("parents"), json::array());
  EXPECT_EQ(head.at("revision"), 1);

  auto show = Ev({"record", "show", record_id});
  ASSERT_OK(show);
  EXPECT_THAT(show.out, HasSubstr(record_id));
  EXPECT_THAT(show.out, HasSubstr("Нұр-Сұлтан: 21 октября 2019 года"));
  EXPECT_THAT(show.out, HasSubstr(input["title"].get<std::string>()));
}

TEST_F(CliTest, RecordAddFromStdin) {
  Init();
  const std::string case_id = NewCase("Stdin case");
  const std::string text = DemoFile("01-batyrbekov-libel/01-record.json");
  RunOptions opts;
  opts.stdin_data = text;
  auto r = Ev({"record", "add", "--case", case_id, "--json", "-"}, opts);
  ASSERT_OK(r);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const std::string record_id = FirstWord(lines[0]);
  ASSERT_TRUE(IsId(record_id)) << r.out;
  json view = ShowJson(record_id);
  EXPECT_EQ(view["heads"][0]["record"], json::parse(text));
}

TEST_F(CliTest, RecordEditMakesNewRevisionWithParent) {
  Init();
  const std::string case_id = NewCase("DVK-related prosecutions");
  const json first = json::parse(DemoFile("03-dvk-article-405/01-record.json"));
  const json edit = json::parse(DemoFile("03-dvk-article-405/edit.json"));
  const std::string record_id = AddRecord(case_id, first);
  const std::string first_rev = ShowJson(record_id)["heads"][0]["revision_id"].get<std::string>();
  ASSERT_TRUE(IsId(first_rev));

  const fs::path file = Path("edit.json");
  WriteFile(file, DemoFile("03-dvk-article-405/edit.json"));
  auto r = Ev({"record", "edit", record_id, "--json", file.string()});
  ASSERT_OK(r);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const std::string second_rev = FirstWord(lines[0]);
  ASSERT_TRUE(IsId(second_rev)) << r.out;
  EXPECT_NE(second_rev, first_rev);
  EXPECT_NE(second_rev, record_id);

  json view = ShowJson(record_id);
  ASSERT_EQ(view.at("heads").size(), 1u);
  EXPECT_FALSE(view.at("conflict").get<bool>());
  const json& head = view["heads"][0];
  EXPECT_EQ(head.at("revision_id"), second_rev);
  EXPECT_EQ(head.at("revision"), 2);
  EXPECT_EQ(head.at("record"), edit);
  EXPECT_EQ(head["record"]["narrative"].get<std::string>(), edit["narrative"].get<std::string>());
  EXPECT_EQ(head.at("parents"), json::array({first_rev}));

  json with_history = ShowJson(record_id, /*history=*/true);
  ASSERT_EQ(with_history.at("history").size(), 2u);
  EXPECT_EQ(with_history["history"][0]["revision_id"], first_rev);
  EXPECT_EQ(with_history["history"][0]["record"], first);
  EXPECT_EQ(with_history["history"][1]["revision_id"], second_rev);
  EXPECT_EQ(with_history["history"][1]["record"], edit);
}

TEST_F(CliTest, RecordShowIsLatestAndHistoryShowsBoth) {
  Init();
  const std::string case_id = NewCase("Revisions");
  const std::string old_text = "Первая редакция: задержан у здания акимата";
  const std::string new_text = "Second version: detained outside the court";
  const std::string record_id = AddRecord(case_id, SimpleRecord("Detention of a witness", old_text));
  const std::string first_rev = ShowJson(record_id)["heads"][0]["revision_id"].get<std::string>();
  const std::string second_rev = EditRecord(record_id, SimpleRecord("Detention of a witness", new_text));

  auto show = Ev({"record", "show", record_id});
  ASSERT_OK(show);
  EXPECT_THAT(show.out, HasSubstr(new_text));
  EXPECT_THAT(show.out, Not(HasSubstr(old_text)));
  EXPECT_THAT(show.out, HasSubstr(second_rev));

  auto history = Ev({"record", "show", record_id, "--history"});
  ASSERT_OK(history);
  EXPECT_THAT(history.out, HasSubstr(old_text));
  EXPECT_THAT(history.out, HasSubstr(new_text));
  EXPECT_THAT(history.out, HasSubstr(first_rev));
  EXPECT_THAT(history.out, HasSubstr(second_rev));
  // Oldest first.
  EXPECT_LT(history.out.find(old_text), history.out.find(new_text));
}

TEST_F(CliTest, RecordListAllAndByCase) {
  Init();
  const std::string case_a = NewCase("Case A");
  const std::string case_b = NewCase("Case B");
  const std::string a1 = AddRecord(case_a, json::parse(DemoFile("02-aytimova-false-information/01-record.json")));
  const std::string a2 = AddRecord(case_a, json::parse(DemoFile("02-aytimova-false-information/02-record.json")));
  const std::string b1 = AddRecord(case_b, json::parse(DemoFile("04-arzamasova-harassment/01-record.json")));
  const std::string empty_case = NewCase("Case without records");

  auto all = Ev({"record", "list"});
  ASSERT_OK(all);
  EXPECT_EQ(Lines(all.out).size(), 3u) << all.out;
  EXPECT_EQ(FirstWords(all.out), (std::set<std::string>{a1, a2, b1}));

  auto in_a = Ev({"record", "list", "--case", case_a});
  ASSERT_OK(in_a);
  EXPECT_EQ(Lines(in_a.out).size(), 2u) << in_a.out;
  EXPECT_EQ(FirstWords(in_a.out), (std::set<std::string>{a1, a2}));

  auto in_b = Ev({"record", "list", "--case", case_b});
  ASSERT_OK(in_b);
  EXPECT_EQ(Lines(in_b.out).size(), 1u) << in_b.out;
  EXPECT_EQ(FirstWords(in_b.out), std::set<std::string>{b1});
  EXPECT_THAT(in_b.out, HasSubstr(json::parse(DemoFile("04-arzamasova-harassment/01-record.json"))["title"]
                                      .get<std::string>()));

  auto in_empty = Ev({"record", "list", "--case", empty_case});
  ASSERT_OK(in_empty);
  EXPECT_EQ(in_empty.out, "");

  auto as_json = Ev({"record", "list", "--json"});
  ASSERT_OK(as_json);
  json parsed = json::parse(as_json.out);
  ASSERT_TRUE(parsed.is_array());
  EXPECT_EQ(parsed.size(), 3u);
}

class SearchTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    Init();
    case_id_ = NewCase("Search");
    // Contains "Гульмиру", "Нұр-Сұлтан", "Facebook" (01-record.json of case 03).
    khalykova_ = AddRecord(case_id_, json::parse(DemoFile("03-dvk-article-405/01-record.json")));
    mukatova_ = AddRecord(case_id_, json::parse(DemoFile("03-dvk-article-405/02-record.json")));
    cyrillic_ = AddRecord(case_id_, SimpleRecord("Обыск в редакции", "Полиция изъяла ноутбуки ЖУРНАЛИСТОВ в Алматы"));
  }
  std::set<std::string> Search(const std::string& text) {
    auto r = Ev({"search", text});
    EXPECT_OK(r);
    EXPECT_EQ(r.err, "");
    for (const auto& line : Lines(r.out)) EXPECT_TRUE(IsId(FirstWord(line))) << line;
    auto ids = FirstWords(r.out);
    EXPECT_EQ(ids.size(), Lines(r.out).size()) << "a record listed twice: " << r.out;
    return ids;
  }
  std::string case_id_, khalykova_, mukatova_, cyrillic_;
};

TEST_F(SearchTest, AsciiWords) {
  EXPECT_EQ(Search("Khalykova"), std::set<std::string>{khalykova_});
  EXPECT_EQ(Search("atyrau"), std::set<std::string>{mukatova_});
  EXPECT_EQ(Search("DVK"), (std::set<std::string>{khalykova_, mukatova_}));
  // Every word must match.
  EXPECT_EQ(Search("dvk atyrau"), std::set<std::string>{mukatova_});
}

TEST_F(SearchTest, CyrillicIsCaseInsensitive) {
  EXPECT_EQ(Search("гульмиру"), std::set<std::string>{khalykova_});
  EXPECT_EQ(Search("ГУЛЬМИРУ"), std::set<std::string>{khalykova_});
  EXPECT_EQ(Search("ГульМИРу"), std::set<std::string>{khalykova_});
  EXPECT_EQ(Search("журналистов"), std::set<std::string>{cyrillic_});
  EXPECT_EQ(Search("ОБЫСК"), std::set<std::string>{cyrillic_});
  // Kazakh letters (Ұ/ұ) fold too.
  EXPECT_EQ(Search("СҰЛТАН"), std::set<std::string>{khalykova_});
  EXPECT_EQ(Search("нұр"), std::set<std::string>{khalykova_});
}

TEST_F(SearchTest, NoMatchPrintsNothingAndExitsZero) {
  auto r = Ev({"search", "несуществующееслово"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  auto partial = Ev({"search", "гульмиру atyrau"});  // each word matches a different record
  EXPECT_OK(partial);
  EXPECT_EQ(partial.out, "");
}

TEST_F(SearchTest, FindsEditedRecordOnce) {
  EditRecord(cyrillic_, SimpleRecord("Обыск в редакции", "Ноутбуки вернули через неделю"));
  EXPECT_EQ(Search("вернули"), std::set<std::string>{cyrillic_});
  EXPECT_EQ(Search("обыск"), std::set<std::string>{cyrillic_});
}

}  // namespace
}  // namespace evault::cli_test
