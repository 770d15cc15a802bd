// The custody log format and its verifier: a court's expert must learn exactly which
// entry was deleted, inserted, altered or reordered, and a forged proof must not pass.
#include "audit/custody.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace evault::audit {
namespace {

using nlohmann::json;

constexpr char kVault[] = "00112233445566778899aabbccddeeff";
constexpr char kCase[] = "ffeeddccbbaa99887766554433221100";

bool Mentions(const CustodyReport& report, std::string_view text) {
  return std::any_of(report.problems.begin(), report.problems.end(),
                     [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

std::string AllProblems(const CustodyReport& report) {
  std::string out;
  for (const auto& p : report.problems) out += p + "\n";
  return out;
}

class CustodyTest : public ::testing::Test {
 protected:
  // Two devices interleaving entries in one case's log.
  void SetUp() override {
    Append(a_, a_head_, action::kCaseCreate, {{"case_id", kCase}});
    Append(b_, b_head_, action::kRecordCapture, {{"record_id", "r1"}});
    Append(a_, a_head_, action::kRecordView, {{"record_id", "r1"}});
    Append(b_, b_head_, action::kRecordEdit, {{"record_id", "r1"}});
    Append(a_, a_head_, action::kExport, {{"purpose", "court"}});
  }

  void Append(const crypto::SigningKeyPair& key, ChainHead& head, const char* act, const json& subject) {
    lines_.push_back(SignEntry(key, kVault, kCase, head, "2026-11-26T10:00:00Z", act, subject));
    head = {head.seq + 1, LineSha256(lines_.back())};
  }

  std::vector<Hash> Leaves(const std::vector<std::string>& lines) const {
    std::vector<Hash> leaves;
    for (const auto& l : lines) leaves.push_back(LeafHash(crypto::AsBytes(l)));
    return leaves;
  }

  CustodyProof Proof(const std::vector<std::string>& earlier = {}) const {
    const auto leaves = Leaves(lines_);
    return MakeCustodyProof(leaves, SignCheckpoint(a_, kVault, kCase, leaves.size(), RootOf(leaves), "t"), earlier);
  }

  crypto::SigningKeyPair a_ = crypto::SigningKeyPair::Generate();
  crypto::SigningKeyPair b_ = crypto::SigningKeyPair::Generate();
  ChainHead a_head_, b_head_;
  std::vector<std::string> lines_;
};

TEST_F(CustodyTest, AnIntactLogVerifiesWithItsProof) {
  const auto proof = Proof();
  const auto report = VerifyCustodyLog(kVault, kCase, lines_, &proof);
  EXPECT_TRUE(report.ok()) << AllProblems(report);
  EXPECT_EQ(report.entries, 5u);
  EXPECT_EQ(report.devices.size(), 2u);
  EXPECT_EQ(report.checkpoint_key, crypto::ToHex(a_.public_key()));
}

TEST_F(CustodyTest, EntriesAreCanonicalSignedAndNameTheirDevice) {
  auto entry = ParseEntry(lines_[0]);
  ASSERT_TRUE(entry.has_value()) << entry.error().message;
  EXPECT_EQ((*entry)["device"], DeviceIdOf(a_.public_key()));
  EXPECT_EQ((*entry)["seq"], 1);
  EXPECT_EQ((*entry)["prev"], "");
  EXPECT_EQ((*ParseEntry(lines_[2]))["prev"], LineSha256(lines_[0]));
  // Re-serialised with spaces: the same JSON, but not the signed bytes.
  EXPECT_FALSE(ParseEntry(json::parse(lines_[0]).dump(1)).has_value());
  // An unknown action is refused even when signed.
  ChainHead head;
  EXPECT_FALSE(ParseEntry(SignEntry(a_, kVault, kCase, head, "t", "teleport", json::object())).has_value());
}

TEST_F(CustodyTest, ADeletedEntryIsNamed) {
  const auto proof = Proof();
  auto lines = lines_;
  lines.erase(lines.begin() + 2);  // device a's second entry
  const auto report = VerifyCustodyLog(kVault, kCase, lines, &proof);
  EXPECT_TRUE(Mentions(report, "entry 3 of the signed log is missing")) << AllProblems(report);
  EXPECT_TRUE(Mentions(report, "#2 to #2 are missing")) << AllProblems(report);
}

TEST_F(CustodyTest, ADeletedLastEntryIsCaughtByTheCheckpoint) {
  const auto proof = Proof();
  auto lines = lines_;
  lines.pop_back();
  const auto report = VerifyCustodyLog(kVault, kCase, lines, &proof);
  EXPECT_TRUE(Mentions(report, "entry 5 of the signed log is missing")) << AllProblems(report);
}

TEST_F(CustodyTest, AReorderedEntryIsNamed) {
  const auto proof = Proof();
  auto lines = lines_;
  std::swap(lines[1], lines[3]);  // device b's two entries swapped
  const auto report = VerifyCustodyLog(kVault, kCase, lines, &proof);
  EXPECT_TRUE(Mentions(report, "custody line 2 is entry 4 of the signed log")) << AllProblems(report);
  EXPECT_TRUE(Mentions(report, "reordered")) << AllProblems(report);
}

TEST_F(CustodyTest, AnAlteredEntryIsNamed) {
  const auto proof = Proof();
  auto lines = lines_;
  json changed = json::parse(lines[1]);
  changed["subject"]["record_id"] = "r2";
  lines[1] = changed.dump();
  const auto report = VerifyCustodyLog(kVault, kCase, lines, &proof);
  EXPECT_TRUE(Mentions(report, "custody line 2: the custody entry's signature does not verify")) << AllProblems(report);
  EXPECT_TRUE(Mentions(report, "custody line 2 was altered")) << AllProblems(report);
}

TEST_F(CustodyTest, AnInsertedEntryIsNamedEvenWhenValidlySigned) {
  const auto proof = Proof();
  auto lines = lines_;
  // Device b really signed it, but after the checkpoint: not part of the signed log.
  Append(b_, b_head_, action::kRecordView, {{"record_id", "r1"}});
  lines.push_back(lines_.back());
  const auto report = VerifyCustodyLog(kVault, kCase, lines, &proof);
  EXPECT_TRUE(Mentions(report, "custody line 6 (record-view #3")) << AllProblems(report);
  EXPECT_TRUE(Mentions(report, "was inserted")) << AllProblems(report);
}

TEST_F(CustodyTest, WithoutAProofChainsStillCatchGapsAndRepeats) {
  auto lines = lines_;
  lines.erase(lines.begin() + 1);  // b's first entry
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines, nullptr), "#1 to #1 are missing"));
  lines = lines_;
  lines.push_back(lines_[0]);  // a replayed entry
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines, nullptr), "repeated or reordered"));
}

TEST_F(CustodyTest, APurgedPrefixResumesFromItsBase) {
  std::vector<std::string> tail(lines_.begin() + 2, lines_.end());  // a#2, b#2, a#3
  EXPECT_FALSE(VerifyCustodyLog(kVault, kCase, tail, nullptr).ok());
  std::map<std::string, ChainHead> bases = {{crypto::ToHex(a_.public_key()), {1, LineSha256(lines_[0])}},
                                            {crypto::ToHex(b_.public_key()), {1, LineSha256(lines_[1])}}};
  const auto report = VerifyCustodyLog(kVault, kCase, tail, nullptr, bases);
  EXPECT_TRUE(report.ok()) << AllProblems(report);
}

TEST_F(CustodyTest, AnotherCasesEntryIsRefused) {
  ChainHead head;
  std::vector<std::string> lines = {SignEntry(a_, kVault, kVault, head, "t", action::kRecordView, json::object())};
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines, nullptr), "belongs to another vault or case"));
}

TEST_F(CustodyTest, AForgedCheckpointOrProofFails) {
  auto proof = Proof();
  json checkpoint = json::parse(proof.checkpoint);
  checkpoint["size"] = 4;
  proof.checkpoint = checkpoint.dump();
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines_, &proof), "checkpoint's signature does not verify"));

  proof = Proof();
  proof.inclusion[2][0][0] ^= 1;
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines_, &proof), "inclusion proof of custody entry 3"));

  proof = Proof();
  proof.leaves[0][0] ^= 1;  // the leaves no longer give the signed root
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines_, &proof), "do not give the checkpoint's root"));
}

TEST_F(CustodyTest, EarlierCheckpointsProveTheLogOnlyGrew) {
  const auto first3 = Leaves({lines_.begin(), lines_.begin() + 3});
  const std::string early = SignCheckpoint(a_, kVault, kCase, 3, RootOf(first3), "earlier");
  auto proof = Proof({early});
  ASSERT_EQ(proof.earlier.size(), 1u);
  EXPECT_TRUE(VerifyCustodyLog(kVault, kCase, lines_, &proof).ok());

  // A history rewritten after the earlier checkpoint was signed: entry 2 replaced.
  auto rewritten = lines_;
  ChainHead head;
  rewritten[1] = SignEntry(b_, kVault, kCase, head, "2026-11-26T10:00:00Z", action::kRecordCapture, {{"record_id", "rX"}});
  const auto leaves = Leaves(rewritten);
  auto forged = MakeCustodyProof(leaves, SignCheckpoint(a_, kVault, kCase, leaves.size(), RootOf(leaves), "t"), {early});
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, rewritten, &forged), "is not a prefix of this log"));
}

TEST_F(CustodyTest, HostileNestingIsRefusedNotFollowed) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  EXPECT_FALSE(ParseEntry(deep).has_value());
  EXPECT_FALSE(ParseCheckpoint("{\"a\":" + deep + "}").has_value());
  std::vector<std::string> lines = {deep};
  EXPECT_TRUE(Mentions(VerifyCustodyLog(kVault, kCase, lines, nullptr), "nests too deeply"));
}

TEST_F(CustodyTest, TheProofSurvivesItsJsonForm) {
  const auto proof = Proof();
  auto back = CustodyProofFromJson(json::parse(CustodyProofToJson(proof).dump()));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(VerifyCustodyLog(kVault, kCase, lines_, &*back).ok());
  EXPECT_FALSE(CustodyProofFromJson(json::parse(R"({"checkpoint": "x", "leaves": ["zz"]})")).has_value());
  EXPECT_FALSE(CustodyProofFromJson(json::array()).has_value());
}

}  // namespace
}  // namespace evault::audit
