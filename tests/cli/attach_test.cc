// attach add / get / list through the real binary.
#include <fmt/core.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::size_t kMiB = 1 << 20;

class AttachTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    Init();
    case_id_ = NewCase("Arzamasova harassment");
    record_id_ = AddRecord(case_id_, json::parse(DemoFile("04-arzamasova-harassment/01-record.json")));
  }
  std::string case_id_, record_id_;
};

TEST_F(AttachTest, AddPrintsIdSha256AndFileForEachFile) {
  const fs::path statement = Path("witness-statement.txt");
  WriteFile(statement, DemoFile("04-arzamasova-harassment/attachments/witness-statement.txt"));
  const fs::path photo = Path("фото обыска.jpg");
  const std::string photo_bytes = "\xff\xd8\xff\xe0" + RandomBytes(70000);
  WriteFile(photo, photo_bytes);

  auto r = Ev({"attach", "add", "--record", record_id_, statement.string(), photo.string()});
  ASSERT_OK(r);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const std::vector<std::pair<fs::path, std::string>> expected = {
      {statement, Sha256Hex(ReadFile(statement))}, {photo, Sha256Hex(photo_bytes)}};
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < 2; ++i) {
    // "<attachment-id> <sha256-hex> <file>"
    const std::string want_tail = fmt::format(" {} {}", expected[i].second, expected[i].first.string());
    const std::string id = FirstWord(lines[i]);
    EXPECT_TRUE(IsId(id)) << lines[i];
    EXPECT_EQ(lines[i], id + want_tail);
    ids.push_back(id);
  }
  EXPECT_NE(ids[0], ids[1]);

  auto list = Ev({"attach", "list", "--record", record_id_});
  ASSERT_OK(list);
  auto list_lines = Lines(list.out);
  ASSERT_EQ(list_lines.size(), 2u) << list.out;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string& line = list_lines[i];
    const auto it = std::find(ids.begin(), ids.end(), FirstWord(line));
    ASSERT_NE(it, ids.end()) << line;
    const std::size_t k = static_cast<std::size_t>(it - ids.begin());
    EXPECT_THAT(line, HasSubstr(expected[k].second));
    EXPECT_THAT(line, HasSubstr(expected[k].first.filename().string()));
  }

  auto as_json = Ev({"attach", "list", "--record", record_id_, "--json"});
  ASSERT_OK(as_json);
  json parsed = json::parse(as_json.out);
  ASSERT_EQ(parsed.size(), 2u);
  for (const auto& a : parsed) {
    const auto it = std::find(ids.begin(), ids.end(), a.at("id").get<std::string>());
    ASSERT_NE(it, ids.end());
    const std::size_t k = static_cast<std::size_t>(it - ids.begin());
    EXPECT_EQ(a.at("sha256"), expected[k].second);
    EXPECT_EQ(a.at("size"), fs::file_size(expected[k].first));
    EXPECT_EQ(a.at("record_id"), record_id_);
  }
}

TEST_F(AttachTest, ListOfRecordWithoutAttachmentsIsEmpty) {
  auto list = Ev({"attach", "list", "--record", record_id_});
  ASSERT_OK(list);
  EXPECT_EQ(list.out, "");
}

TEST_F(AttachTest, MultiChunkFileRoundTripsByteForByte) {
  const std::string original = RandomBytes(5 * kMiB + 12345);
  const fs::path file = Path("video.mp4");
  WriteFile(file, original);
  auto add = Ev({"attach", "add", "--record", record_id_, file.string()});
  ASSERT_OK(add);
  auto lines = Lines(add.out);
  ASSERT_EQ(lines.size(), 1u);
  const std::string id = FirstWord(lines[0]);
  EXPECT_EQ(lines[0], fmt::format("{} {} {}", id, Sha256Hex(original), file.string()));

  const fs::path out = Path("restored.mp4");
  auto get = Ev({"attach", "get", id, "--out", out.string()});
  ASSERT_OK(get);
  EXPECT_EQ(get.out, "");
  const std::string restored = ReadFile(out);
  EXPECT_EQ(restored.size(), original.size());
  EXPECT_TRUE(restored == original) << "restored file differs from the original";

  // --out - writes the original to stdout, and nothing else.
  auto to_stdout = Ev({"attach", "get", id, "--out", "-"});
  ASSERT_OK(to_stdout);
  EXPECT_EQ(to_stdout.out.size(), original.size());
  EXPECT_TRUE(to_stdout.out == original) << "stdout differs from the original";

  auto list = Ev({"attach", "list", "--record", record_id_, "--json"});
  ASSERT_OK(list);
  json parsed = json::parse(list.out);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0]["size"], original.size());
  EXPECT_GE(parsed[0]["chunks"].get<std::uint64_t>(), 6u);
}

TEST_F(AttachTest, ChunkBoundarySizesRoundTrip) {
  // Empty, tiny and around the 1 MiB chunk size, all in one `attach add`.
  const std::vector<std::size_t> sizes = {0, 1, kMiB - 1, kMiB, kMiB + 1, 2 * kMiB};
  std::vector<std::string> args = {"attach", "add", "--record", record_id_};
  std::vector<std::string> contents;
  for (std::size_t size : sizes) {
    contents.push_back(RandomBytes(size));
    const fs::path file = Path(fmt::format("file-{}.bin", size));
    WriteFile(file, contents.back());
    args.push_back(file.string());
  }
  auto add = Ev(args);
  ASSERT_OK(add);
  auto lines = Lines(add.out);
  ASSERT_EQ(lines.size(), sizes.size()) << add.out;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(fmt::format("size {}", sizes[i]));
    const std::string id = FirstWord(lines[i]);
    EXPECT_EQ(lines[i], fmt::format("{} {} {}", id, Sha256Hex(contents[i]), args[4 + i]));
    const fs::path out = Path(fmt::format("out-{}.bin", sizes[i]));
    auto get = Ev({"attach", "get", id, "--out", out.string()});
    EXPECT_OK(get);
    ASSERT_TRUE(fs::exists(out));
    EXPECT_EQ(fs::file_size(out), sizes[i]);
    EXPECT_TRUE(ReadFile(out) == contents[i]);
  }
}

TEST_F(AttachTest, GetRefusesToOverwrite) {
  const fs::path file = Path("evidence.bin");
  WriteFile(file, RandomBytes(4096));
  const std::string id = Attach(record_id_, file);

  const fs::path out = Path("already-there.bin");
  const std::string existing = "do not touch: an unrelated file the user already has\n";
  WriteFile(out, existing);
  auto get = Ev({"attach", "get", id, "--out", out.string()});
  EXPECT_CLEAN_ERROR(get);
  EXPECT_EQ(ReadFile(out), existing);

  // Also onto the original itself.
  const std::string original = ReadFile(file);
  auto onto_original = Ev({"attach", "get", id, "--out", file.string()});
  EXPECT_CLEAN_ERROR(onto_original);
  EXPECT_EQ(ReadFile(file), original);

  // A symlink at the output path is not followed either.
  const fs::path target = Path("symlink-target.txt");
  WriteFile(target, existing);
  const fs::path link = Path("link.bin");
  fs::create_symlink(target, link);
  auto via_link = Ev({"attach", "get", id, "--out", link.string()});
  EXPECT_CLEAN_ERROR(via_link);
  EXPECT_EQ(ReadFile(target), existing);
}

TEST_F(AttachTest, AttachmentsAreListedPerRecord) {
  const std::string other = AddRecord(case_id_, json::parse(DemoFile("04-arzamasova-harassment/02-record.json")));
  const fs::path f1 = Path("one.txt"), f2 = Path("two.txt"), f3 = Path("three.txt");
  WriteFile(f1, "one");
  WriteFile(f2, "two");
  WriteFile(f3, "three");
  const std::string a1 = Attach(record_id_, f1);
  const std::string a2 = Attach(record_id_, f2);
  const std::string a3 = Attach(other, f3);

  auto first = Ev({"attach", "list", "--record", record_id_});
  ASSERT_OK(first);
  auto lines = Lines(first.out);
  ASSERT_EQ(lines.size(), 2u) << first.out;
  std::set<std::string> ids = {FirstWord(lines[0]), FirstWord(lines[1])};
  EXPECT_EQ(ids, (std::set<std::string>{a1, a2}));

  auto second = Ev({"attach", "list", "--record", other});
  ASSERT_OK(second);
  ASSERT_EQ(Lines(second.out).size(), 1u) << second.out;
  EXPECT_EQ(FirstWord(Lines(second.out)[0]), a3);
}

}  // namespace
}  // namespace evault::cli_test
