// Hundreds of records in one vault: the catalog and search index go through many
// segment merges (vault/index.cc), and every record must stay listed and findable by a
// word unique to it, before and after reopening.
#include "vault/vault.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/vault/test_util.h"

namespace evault::vault {
namespace {

using testing::CreateAndOpen;
using testing::OpenOrNull;
using testing::ScopedTempDir;

constexpr int kRecords = 300;
constexpr int kCases = 3;

// A word only record `n` contains; digits keep it one token. Cyrillic for every
// third record, so the Cyrillic path is exercised at scale too.
std::string UniqueWord(int n) {
  if (n % 3 == 0) return "уникальный" + std::to_string(n) + "жок";
  return "uniq" + std::to_string(n) + "tok";
}

TEST(VaultScaleTest, ManyRecordsStayListedAndFindable) {
  ScopedTempDir tmp;
  const auto dir = tmp.path() / "vault";
  auto vault = CreateAndOpen(dir);
  ASSERT_NE(vault, nullptr);

  std::vector<std::string> case_ids;
  for (int i = 0; i < kCases; ++i) {
    ASSERT_OK_AND_ASSIGN(CaseInfo c, vault->CreateCase("case " + std::to_string(i), {}));
    case_ids.push_back(c.id);
  }
  std::vector<std::string> record_ids(kRecords);
  std::map<std::string, std::set<std::string>> per_case;
  for (int n = 0; n < kRecords; ++n) {
    nlohmann::json j = {{"kind", "event"},
                        {"title", "Record " + std::to_string(n)},
                        {"narrative", "common words and " + UniqueWord(n) + " plus batch" + std::to_string(n % 7)}};
    const std::string& case_id = case_ids[n % kCases];
    ASSERT_OK_AND_ASSIGN(RecordRevision r, vault->AddRecord(case_id, j.dump()));
    record_ids[n] = r.record_id;
    per_case[case_id].insert(r.record_id);
  }
  // A few edits, so history and tombstoned heads are merged too.
  std::set<int> edited = {0, 1, 150, 299};
  for (int n : edited) {
    nlohmann::json j = {{"kind", "event"}, {"title", "Edited " + std::to_string(n)},
                        {"narrative", "edited " + UniqueWord(n)}};
    ASSERT_OK(vault->EditRecord(record_ids[n], j.dump()));
  }

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    ASSERT_OK_AND_ASSIGN(auto all, vault->ListRecords(std::nullopt));
    ASSERT_EQ(all.size(), static_cast<std::size_t>(kRecords));
    std::set<std::string> listed;
    for (const auto& s : all) {
      listed.insert(s.record_id);
      EXPECT_FALSE(s.conflict);
    }
    EXPECT_EQ(listed, std::set<std::string>(record_ids.begin(), record_ids.end()));
    for (const auto& [case_id, ids] : per_case) {
      ASSERT_OK_AND_ASSIGN(auto in_case, vault->ListRecords(case_id));
      std::set<std::string> got;
      for (const auto& s : in_case) got.insert(s.record_id);
      EXPECT_EQ(got, ids) << "case " << case_id;
    }
    for (int n = 0; n < kRecords; ++n) {
      ASSERT_OK_AND_ASSIGN(auto found, vault->Search(UniqueWord(n)));
      ASSERT_EQ(found.size(), 1u) << UniqueWord(n);
      EXPECT_EQ(found[0].record_id, record_ids[n]) << UniqueWord(n);
      const std::uint64_t want_revision = edited.contains(n) ? 2 : 1;
      EXPECT_EQ(found[0].revision, want_revision) << n;
      EXPECT_EQ(found[0].title, (edited.contains(n) ? "Edited " : "Record ") + std::to_string(n));
    }
    ASSERT_OK_AND_ASSIGN(auto common, vault->Search("COMMON words"));
    EXPECT_EQ(common.size(), static_cast<std::size_t>(kRecords));
    ASSERT_OK_AND_ASSIGN(auto batch3, vault->Search("batch3 common"));
    EXPECT_EQ(batch3.size(), static_cast<std::size_t>((kRecords - 3 + 6) / 7));
    ASSERT_OK_AND_ASSIGN(auto both, vault->Search(UniqueWord(17) + " " + UniqueWord(18)));
    EXPECT_TRUE(both.empty());
    ASSERT_OK_AND_ASSIGN(auto edited_hits, vault->Search("edited"));
    EXPECT_EQ(edited_hits.size(), edited.size());
    ASSERT_OK_AND_ASSIGN(RecordView v, vault->GetRecord(record_ids[150], true));
    EXPECT_EQ(v.history.size(), 2u);
    EXPECT_EQ(v.heads.size(), 1u);
  };
  check("in the writing session");
  vault.reset();
  vault = OpenOrNull(dir);
  ASSERT_NE(vault, nullptr);
  check("after reopening");
}

}  // namespace
}  // namespace evault::vault
