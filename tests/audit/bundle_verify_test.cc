// VerifyBundle on a synthetic but spec-exact bundle (audit/bundle.h), built without a
// vault: it verifies with no problem, and every tampering, including the ones the
// standard tools pass (re-hashed manifests, a bag re-signed by another key), is named
// with its file and custody line. Also MinisignVerify, SshFingerprint and
// ParseAllowedSigners against the standard tools, and SafeFileName.
#include "audit/bundle.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/bagit.h"
#include "audit/custody.h"
#include "audit/merkle.h"
#include "audit/minisign.h"
#include "audit/sshsig.h"
#include "crypto/digest.h"
#include "tests/audit/tool_test_util.h"

namespace evault::audit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Canonical(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::strict); }
std::string Sha256Hex(std::string_view s) { return crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(s))); }
std::string Sha512Hex(std::string_view s) {
  crypto::Digest d(crypto::Digest::Algorithm::kSha512);
  d.Update(crypto::AsBytes(s));
  return crypto::ToHex(d.Finish());
}
std::string RandomId() { return crypto::ToHex(crypto::RandomBytes(16)); }

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}
std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

struct Device {
  crypto::SigningKeyPair key = crypto::SigningKeyPair::Generate();
  ChainHead head;
  std::string id() const { return DeviceIdOf(key.public_key()); }
};

constexpr char kTagOrder[][24] = {"bagit.txt",           "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
                                  "exporter.pub",        "allowed_signers", "report.html"};

class BundleVerifyTest : public testing::ToolTest {
 protected:
  struct Options {
    bool wrong_revision_author = false;  // revision 1's "author" names the exporter, not its signer
  };

  void SetUp() override {
    ToolTest::SetUp();
    bag_ = dir_ / "bundle";
    ASSERT_NO_FATAL_FAILURE(Build({}));
  }

  std::string Log(Device& d, std::string_view action_name, const json& subject) {
    const std::string line = SignEntry(d.key, vault_, case_, d.head, NextTime(), action_name, subject);
    d.head = {d.head.seq + 1, LineSha256(line)};
    lines_.push_back(line);
    return line;
  }
  std::string NextTime() { return fmt_time(++clock_); }
  static std::string fmt_time(int n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2019-09-21T10:%02d:%02dZ", n / 60, n % 60);
    return buf;
  }

  // The bundle the exporter (device a_) writes for one case: a record captured on device
  // b_ and edited on a_, an attachment, the custody log and its proof.
  void Build(const Options& options) {
    fs::remove_all(bag_);
    lines_.clear();
    a_ = std::make_unique<Device>();
    b_ = std::make_unique<Device>();
    vault_ = RandomId();
    case_ = RandomId();
    record_ = RandomId();
    rev1_ = RandomId();
    rev2_ = RandomId();
    attachment_ = RandomId();

    case_json_ = Canonical({{"author", a_->id()}, {"case_id", case_}, {"created", NextTime()}, {"status", "open"},
                            {"tags", {"journalist", "libel"}}, {"title", "Batyrbekov: libel conviction"}});
    const json record1 = {{"kind", "incident"}, {"title", "Приговор по статье о клевете"}, {"place", "Алматы"}};
    rev1_json_ = Canonical({{"author", options.wrong_revision_author ? a_->id() : b_->id()},
                            {"case_id", case_},
                            {"created", NextTime()},
                            {"parents", json::array()},
                            {"record", record1},
                            {"record_id", record_},
                            {"revision", 1}});
    json record2 = record1;
    record2["sentence"] = "2 years";
    rev2_json_ = Canonical({{"author", a_->id()},
                            {"case_id", case_},
                            {"created", NextTime()},
                            {"parents", {rev1_}},
                            {"record", record2},
                            {"record_id", record_},
                            {"revision", 2}});
    original_.resize(300 * 1024 + 17);
    for (std::size_t i = 0; i < original_.size(); ++i) original_[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    file_name_ = "фото суда 1/2.jpg";
    original_path_ = "data/attachments/" + attachment_ + "/" + SafeFileName(file_name_);
    metadata_json_ = Canonical({{"attachment_id", attachment_},
                                {"captured", NextTime()},
                                {"case_id", case_},
                                {"device", a_->id()},
                                {"file_name", file_name_},
                                {"media_type", "image/jpeg"},
                                {"path", original_path_},
                                {"record_id", record_},
                                {"sha256", Sha256Hex(original_)},
                                {"sha512", Sha512Hex(original_)},
                                {"size", original_.size()}});

    Log(*a_, action::kCaseCreate, {{"case_id", case_}, {"sha256", Sha256Hex(case_json_)}});                    // 1
    Log(*b_, action::kRecordCapture,
        {{"record_id", record_}, {"revision_id", rev1_}, {"revision", 1}, {"sha256", Sha256Hex(rev1_json_)}});  // 2
    Log(*a_, action::kRecordEdit,
        {{"record_id", record_}, {"revision_id", rev2_}, {"revision", 2}, {"sha256", Sha256Hex(rev2_json_)}});  // 3
    Log(*a_, action::kAttachmentCapture,
        {{"attachment_id", attachment_}, {"record_id", record_}, {"sha256", Sha256Hex(original_)},
         {"size", original_.size()}, {"media_type", "image/jpeg"}, {"file_name", file_name_}});  // 4
    const std::string earlier = SignCheckpoint(a_->key, vault_, case_, lines_.size(), LeavesRoot(), NextTime());
    Log(*b_, action::kRecordView, {{"record_id", record_}, {"revisions", {rev1_, rev2_}}});         // 5
    const std::string export_line =
        Log(*a_, action::kExport, {{"case_id", case_}, {"purpose", "defence of the accused"}, {"bundle", "bagit"}});  // 6
    std::vector<Hash> leaves;
    for (const auto& l : lines_) leaves.push_back(LeafHash(crypto::AsBytes(l)));
    const std::string checkpoint = SignCheckpoint(a_->key, vault_, case_, leaves.size(), RootOf(leaves), NextTime());
    proof_json_ = CustodyProofToJson(MakeCustodyProof(leaves, checkpoint, {earlier})).dump(2) + "\n";

    auto bag = BagWriter::Create(bag_);
    ASSERT_TRUE(bag) << bag.error().message;
    BagWriter& w = **bag;
    ASSERT_TRUE(w.AddPayload(kCaseFile, crypto::AsBytes(case_json_)));
    ASSERT_TRUE(w.AddPayload(RevisionPath(1, rev1_).substr(5), crypto::AsBytes(rev1_json_)));
    ASSERT_TRUE(w.AddPayload(RevisionPath(2, rev2_).substr(5), crypto::AsBytes(rev2_json_)));
    ASSERT_TRUE(w.BeginPayload(original_path_.substr(5), original_.size()));
    for (std::size_t at = 0; at < original_.size(); at += 65536) {
      ASSERT_TRUE(w.Write(crypto::AsBytes(std::string_view(original_).substr(at, 65536))));
    }
    ASSERT_TRUE(w.EndPayload());
    ASSERT_TRUE(w.AddPayload(MetadataPath().substr(5), crypto::AsBytes(metadata_json_)));
    ASSERT_TRUE(w.AddPayload(kCustodyLogFile, crypto::AsBytes(JoinLines(lines_))));
    ASSERT_TRUE(w.AddPayload(kCustodyProofFile, crypto::AsBytes(proof_json_)));
    ASSERT_TRUE(w.AddTagFile(kReportFile, "<!doctype html><title>Custody report</title><p>Case " + case_ + "</p>\n"));
    ASSERT_TRUE(w.Finish({{"External-Identifier", case_},
                          {"Evault-Bundle-Format", kBundleFormat},
                          {"Evault-Vault-Id", vault_},
                          {"Evault-Case-Id", case_},
                          {"Evault-Exporting-Device", a_->id()},
                          {"Evault-Signer-Key", crypto::ToHex(a_->key.public_key())},
                          {"Evault-Export-Time", json::parse(export_line)["time"].get<std::string>()},
                          {"Evault-Export-Purpose", "defence of the accused"},
                          {"Evault-Custody-Entries", std::to_string(leaves.size())},
                          {"Evault-Custody-Root", crypto::ToHex(RootOf(leaves))}},
                         a_->key, Identity(*a_)));
  }

  Hash LeavesRoot() const {
    std::vector<Hash> leaves;
    for (const auto& l : lines_) leaves.push_back(LeafHash(crypto::AsBytes(l)));
    return RootOf(leaves);
  }
  static std::string Identity(const Device& d) { return "evault-device-" + d.id(); }
  std::string RevisionPath(int n, const std::string& id) const {
    char number[8];
    std::snprintf(number, sizeof number, "%04d", n);
    return "data/records/" + record_ + "/" + number + "-" + id + ".json";
  }
  std::string MetadataPath() const { return "data/attachments/" + attachment_ + "/metadata.json"; }

  std::string Read(const std::string& rel) { return testing::ReadFile(bag_ / rel); }
  void Write(const std::string& rel, std::string_view text) { testing::WriteFile(bag_ / rel, text); }

  // The tag manifest over the tag files, and both its signatures, by `key`, as
  // BagWriter::Finish writes them.
  void ReSign(const crypto::SigningKeyPair& key, const std::string& identity) {
    std::string manifest;
    for (const char* name : kTagOrder) manifest += Sha256Hex(Read(name)) + "  " + name + "\n";
    Write("tagmanifest-sha256.txt", manifest);
    Write("tagmanifest-sha256.txt.minisig",
          MinisignSign(key, crypto::AsBytes(manifest), "evault export, signed by " + identity));
    Write("tagmanifest-sha256.txt.sshsig", SshSign(key, kExportNamespace, crypto::AsBytes(manifest)));
  }

  // What a holder of the exporter's key could do after changing the payload: new
  // manifests and Payload-Oxum, everything re-signed. The standard tools then pass.
  void Rehash() {
    std::vector<std::string> paths;
    std::uint64_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(bag_ / "data")) {
      if (!e.is_regular_file() || e.is_symlink()) continue;
      paths.push_back(fs::relative(e.path(), bag_).string());
      bytes += e.file_size();
    }
    std::sort(paths.begin(), paths.end());
    std::string m256, m512;
    for (const auto& p : paths) {
      const std::string content = Read(p);
      m256 += Sha256Hex(content) + "  " + p + "\n";
      m512 += Sha512Hex(content) + "  " + p + "\n";
    }
    Write("manifest-sha256.txt", m256);
    Write("manifest-sha512.txt", m512);
    SetInfo("Payload-Oxum", std::to_string(bytes) + "." + std::to_string(paths.size()));
    ReSign(a_->key, Identity(*a_));
  }

  void SetInfo(const std::string& label, const std::string& value) {
    auto lines = SplitLines(Read("bag-info.txt"));
    bool found = false;
    for (auto& l : lines) {
      if (l.starts_with(label + ": ")) {
        l = label + ": " + value;
        found = true;
      }
    }
    ASSERT_TRUE(found) << label;
    Write("bag-info.txt", JoinLines(lines));
  }

  std::vector<std::string> CustodyLines() { return SplitLines(Read(std::string("data/") + kCustodyLogFile)); }
  void SetCustodyLines(const std::vector<std::string>& lines) {
    Write(std::string("data/") + kCustodyLogFile, JoinLines(lines));
  }

  void FlipByte(const std::string& rel, std::size_t at) {
    std::string content = Read(rel);
    ASSERT_LT(at, content.size());
    content[at] ^= 0x01;
    Write(rel, content);
  }

  BundleReport Verify(const std::optional<std::string>& expected = std::nullopt) {
    auto report = VerifyBundle(bag_, expected);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : BundleReport{};
  }

  static std::string Dump(const BundleReport& r) {
    std::string out = "problems:\n";
    for (const auto& p : r.problems) out += "  " + p + "\n";
    return out;
  }
  // Some problem holds every one of `parts`.
  static void ExpectProblem(const BundleReport& r, std::initializer_list<std::string> parts) {
    const bool found = std::any_of(r.problems.begin(), r.problems.end(), [&](const std::string& p) {
      return std::all_of(parts.begin(), parts.end(), [&](const std::string& part) { return p.find(part) != std::string::npos; });
    });
    std::string wanted;
    for (const auto& part : parts) wanted += "[" + part + "] ";
    EXPECT_TRUE(found) << "no problem with " << wanted << "\n" << Dump(r);
  }
  static void ExpectNoProblemWith(const BundleReport& r, const std::string& part) {
    for (const auto& p : r.problems) EXPECT_EQ(p.find(part), std::string::npos) << p;
  }

  int RunInBag(const std::string& command) {
    return testing::RunShell("cd '" + bag_.string() + "' && " + command + " >/dev/null 2>&1");
  }
  // The checks a court's expert makes with standard tools only.
  void ExpectStandardToolsPass() {
    EXPECT_EQ(RunInBag("sha256sum -c --strict manifest-sha256.txt"), 0);
    EXPECT_EQ(RunInBag("sha512sum -c --strict manifest-sha512.txt"), 0);
    EXPECT_EQ(RunInBag("sha256sum -c --strict tagmanifest-sha256.txt"), 0);
    if (testing::HaveTool("minisign")) {
      EXPECT_EQ(RunInBag("minisign -Vm tagmanifest-sha256.txt -p exporter.pub"), 0);
    }
    if (testing::HaveTool("ssh-keygen")) {
      const std::string allowed = Read("allowed_signers");
      const std::string identity = allowed.substr(0, allowed.find(' '));
      EXPECT_EQ(RunInBag("ssh-keygen -Y verify -f allowed_signers -I " + identity +
                         " -n evault-export -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"),
                0);
    }
  }

  fs::path bag_;
  std::unique_ptr<Device> a_, b_;
  int clock_ = 0;
  std::string vault_, case_, record_, rev1_, rev2_, attachment_;
  std::string case_json_, rev1_json_, rev2_json_, metadata_json_, proof_json_, original_, file_name_, original_path_;
  std::vector<std::string> lines_;
};

const std::string kLog = "data/custody/custody-log.jsonl";
const std::string kProof = "data/custody/custody-proof.json";

TEST_F(BundleVerifyTest, PristineBundleVerifies) {
  const BundleReport r = Verify();
  EXPECT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.case_id, case_);
  EXPECT_EQ(r.vault_id, vault_);
  EXPECT_EQ(r.exporting_device, a_->id());
  EXPECT_EQ(r.signer_key, crypto::ToHex(a_->key.public_key()));
  EXPECT_EQ(r.signer_fingerprint, SshFingerprint(a_->key.public_key()));
  EXPECT_EQ(r.records, 1u);
  EXPECT_EQ(r.revisions, 2u);
  EXPECT_EQ(r.attachments, 1u);
  EXPECT_EQ(r.custody_entries, 6u);
  EXPECT_EQ(r.payload_bytes, case_json_.size() + rev1_json_.size() + rev2_json_.size() + original_.size() +
                                 metadata_json_.size() + JoinLines(lines_).size() + proof_json_.size());
  EXPECT_EQ(original_path_, "data/attachments/" + attachment_ + "/фото суда 1_2.jpg");
  ExpectStandardToolsPass();
}

TEST_F(BundleVerifyTest, PinnedSigner) {
  EXPECT_TRUE(Verify(crypto::ToHex(a_->key.public_key())).ok());
  EXPECT_TRUE(Verify(SshFingerprint(a_->key.public_key())).ok());
  const auto other = crypto::SigningKeyPair::Generate();
  const BundleReport r = Verify(crypto::ToHex(other.public_key()));
  ExpectProblem(r, {"exporter.pub", "not by the expected signer"});
  ExpectProblem(r, {"allowed_signers", "not by the expected signer"});
  ExpectProblem(Verify(SshFingerprint(other.public_key())), {"not by the expected signer"});
  ExpectProblem(Verify(std::string("nonsense")), {"neither a hex Ed25519 key nor a SHA256: fingerprint"});
}

TEST_F(BundleVerifyTest, AttachmentByteFlipped) {
  FlipByte(original_path_, 1000);
  BundleReport r = Verify();
  ExpectProblem(r, {original_path_ + ": its SHA-256 does not match manifest-sha256.txt line"});
  ExpectProblem(r, {original_path_ + ": its SHA-512 does not match manifest-sha512.txt line"});
  ExpectProblem(r, {original_path_, "does not match custody line 4 (attachment-capture)"});
  // Re-hashed and re-signed by the exporter's own key, the standard tools pass; the
  // custody log still names the altered original.
  Rehash();
  ExpectStandardToolsPass();
  r = Verify();
  EXPECT_FALSE(r.ok());
  ExpectProblem(r, {original_path_ + ": its SHA-256 does not match custody line 4 (attachment-capture)"});
  ExpectProblem(r, {original_path_ + ": its SHA-256 does not match " + MetadataPath()});
  ExpectNoProblemWith(r, "manifest-sha256.txt");
}

TEST_F(BundleVerifyTest, CaseByteFlipped) {
  const std::size_t at = case_json_.find("libel conviction");
  FlipByte("data/case.json", at);
  ExpectProblem(Verify(), {"data/case.json: its SHA-256 does not match manifest-sha256.txt line 1"});
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {"data/case.json: its SHA-256 does not match custody line 1 (case-create)"});
  ExpectNoProblemWith(r, "manifest-");
}

TEST_F(BundleVerifyTest, RevisionByteFlipped) {
  const std::string path = RevisionPath(2, rev2_);
  FlipByte(path, rev2_json_.find("2 years"));
  ExpectProblem(Verify(), {path + ": its SHA-256 does not match manifest-sha256.txt"});
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {path + ": its SHA-256 does not match custody line 3 (record-edit)"});
  ExpectNoProblemWith(r, "manifest-");
}

TEST_F(BundleVerifyTest, RevisionNotCanonical) {
  const std::string path = RevisionPath(1, rev1_);
  Write(path, json::parse(rev1_json_).dump(1));
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {path + ": not canonical JSON"});
  ExpectProblem(r, {path + ": its SHA-256 does not match custody line 2 (record-capture)"});
}

TEST_F(BundleVerifyTest, RevisionAuthorIsNotItsSigner) {
  ASSERT_NO_FATAL_FAILURE(Build({.wrong_revision_author = true}));
  ExpectProblem(Verify(), {RevisionPath(1, rev1_) + ": its author", "which signed custody line 2 (record-capture)"});
}

TEST_F(BundleVerifyTest, RevisionFileRemoved) {
  fs::remove(bag_ / RevisionPath(1, rev1_));
  ExpectProblem(Verify(), {"manifest-sha256.txt line", RevisionPath(1, rev1_) + " is missing"});
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kLog + ": custody line 2 (record-capture) records revision 1 of record " + record_ + ", but " +
                    RevisionPath(1, rev1_) + " is not in the bundle"});
}

TEST_F(BundleVerifyTest, CustodyLineDeleted) {
  auto lines = CustodyLines();
  lines.erase(lines.begin() + 2);  // custody line 3: device a's record-edit
  SetCustodyLines(lines);
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kLog + ": entry 3 of the signed log is missing from the custody file: it was deleted"});
  ExpectProblem(r, {kLog + ": custody line 3 (attachment-capture", "missing"});
  ExpectProblem(r, {RevisionPath(2, rev2_) + ": no record-capture or record-edit entry"});
}

TEST_F(BundleVerifyTest, CustodyLinesSwapped) {
  auto lines = CustodyLines();
  std::swap(lines[1], lines[2]);  // two devices' entries: each chain still holds
  SetCustodyLines(lines);
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kLog + ": custody line 2 is entry 3 of the signed log: the entries were reordered"});
  ExpectProblem(r, {kLog + ": custody line 3 is entry 2 of the signed log"});
}

TEST_F(BundleVerifyTest, CustodyLineDuplicated) {
  auto lines = CustodyLines();
  lines.insert(lines.begin() + 4, lines[3]);  // the attachment-capture, twice
  SetCustodyLines(lines);
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kLog + ": custody line 5 (attachment-capture", "repeated or reordered"});
  ExpectProblem(r, {kLog + ": custody line 5 is entry 4 of the signed log"});
}

TEST_F(BundleVerifyTest, CustodyLineAlteredButCanonical) {
  auto lines = CustodyLines();
  json entry = json::parse(lines[3]);
  entry["subject"]["size"] = original_.size() + 1;  // still canonical, still "signed"
  lines[3] = Canonical(entry);
  SetCustodyLines(lines);
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kLog + ": custody line 4: the custody entry's signature does not verify"});
  ExpectProblem(r, {kLog + ": custody line 4 was altered"});
}

TEST_F(BundleVerifyTest, CustodyLogFormat) {
  auto text = Read(kLog);
  Write(kLog, text.substr(0, text.size() - 1));  // no final newline
  Rehash();
  ExpectProblem(Verify(), {kLog + ": custody line 6 has no final newline"});
  auto lines = CustodyLines();
  lines.insert(lines.begin() + 2, "");
  SetCustodyLines(lines);
  Rehash();
  ExpectProblem(Verify(), {kLog + ": custody line 3 is empty"});
}

TEST_F(BundleVerifyTest, ReSignedWithAnotherKey) {
  // Everything a standard tool checks is replaced consistently with a new key.
  Device mallory;
  Write("exporter.pub", MinisignPublicKey(mallory.key.public_key()));
  Write("allowed_signers", AllowedSignersLine(Identity(mallory), kExportNamespace, mallory.key.public_key()) + "\n");
  SetInfo("Evault-Signer-Key", crypto::ToHex(mallory.key.public_key()));
  SetInfo("Evault-Exporting-Device", mallory.id());
  ReSign(mallory.key, Identity(mallory));
  ExpectStandardToolsPass();

  BundleReport r = Verify();
  EXPECT_EQ(r.signer_key, crypto::ToHex(mallory.key.public_key()));
  ExpectProblem(r, {kProof + ": the checkpoint is signed by key " + crypto::ToHex(a_->key.public_key()),
                    "not by the bundle's signer " + crypto::ToHex(mallory.key.public_key())});
  ExpectProblem(r, {kLog + ": no entry is signed by the bundle's signer"});
  r = Verify(crypto::ToHex(a_->key.public_key()));
  ExpectProblem(r, {"exporter.pub: the bundle is signed by " + SshFingerprint(mallory.key.public_key()),
                    "not by the expected signer"});
}

TEST_F(BundleVerifyTest, KeysOfExporterPubAndAllowedSignersDiffer) {
  Device other;
  Write("allowed_signers", AllowedSignersLine(Identity(other), kExportNamespace, other.key.public_key()) + "\n");
  ReSign(a_->key, Identity(*a_));
  const BundleReport r = Verify();
  ExpectProblem(r, {"exporter.pub and allowed_signers hold different keys"});
  ExpectProblem(r, {"tagmanifest-sha256.txt.sshsig: SSH signature: made by another key"});
}

TEST_F(BundleVerifyTest, SignaturesChecked) {
  Write("tagmanifest-sha256.txt", Read("tagmanifest-sha256.txt") + "\n");
  const BundleReport r = Verify();
  ExpectProblem(r, {"tagmanifest-sha256.txt.minisig: minisign signature: does not match the signed file"});
  ExpectProblem(r, {"tagmanifest-sha256.txt.sshsig: SSH signature: does not match the signed file"});
  ExpectProblem(r, {"tagmanifest-sha256.txt line 8: empty"});
}

TEST_F(BundleVerifyTest, TagFileAlteredOrUnlisted) {
  Write("report.html", "<p>something else</p>\n");
  ExpectProblem(Verify(), {"report.html: its SHA-256 does not match tagmanifest-sha256.txt line 7"});
  // A tag manifest without report.html, properly signed: still a problem.
  auto lines = SplitLines(Read("tagmanifest-sha256.txt"));
  lines.pop_back();
  const std::string manifest = JoinLines(lines);
  Write("tagmanifest-sha256.txt", manifest);
  Write("tagmanifest-sha256.txt.minisig", MinisignSign(a_->key, crypto::AsBytes(manifest), "x"));
  Write("tagmanifest-sha256.txt.sshsig", SshSign(a_->key, kExportNamespace, crypto::AsBytes(manifest)));
  const BundleReport r = Verify();
  ExpectProblem(r, {"tagmanifest-sha256.txt: does not list report.html"});
  ExpectProblem(r, {"report.html: a file outside data/ that tagmanifest-sha256.txt does not list"});
}

TEST_F(BundleVerifyTest, UnlistedFileUnderData) {
  Write("data/notes.txt", "added later\n");
  const BundleReport r = Verify();
  ExpectProblem(r, {"data/notes.txt: not listed in manifest-sha256.txt"});
  ExpectProblem(r, {"data/notes.txt: not listed in manifest-sha512.txt"});
  ExpectProblem(r, {"bag-info.txt: Payload-Oxum is"});
  Rehash();  // listed now, but still no part of a format-1 bundle
  ExpectProblem(Verify(), {"data/notes.txt: not part of a format-1 bundle's payload"});
}

TEST_F(BundleVerifyTest, ExtraFileInAttachmentDirectory) {
  Write("data/attachments/" + attachment_ + "/other.jpg", "x");
  Rehash();
  ExpectProblem(Verify(), {"data/attachments/" + attachment_ + "/other.jpg: an extra file in the attachment's directory"});
}

TEST_F(BundleVerifyTest, SymlinksAreProblemsAndNotFollowed) {
  // The original moved out of the bag and linked back: sha256sum follows the link and
  // passes; the verifier does not follow it.
  fs::rename(bag_ / original_path_, dir_ / "outside.jpg");
  fs::create_symlink(dir_ / "outside.jpg", bag_ / original_path_);
  EXPECT_EQ(RunInBag("sha256sum -c --strict manifest-sha256.txt"), 0);
  BundleReport r = Verify();
  ExpectProblem(r, {original_path_ + ": a symbolic link (not followed)"});
  ExpectProblem(r, {"manifest-sha256.txt line", original_path_ + " is not a regular file"});
  // A linked directory is not entered either.
  fs::create_directory_symlink("/etc", bag_ / "data" / "records" / "etc");
  r = Verify();
  ExpectProblem(r, {"data/records/etc: a symbolic link"});
  ExpectNoProblemWith(r, "passwd");
}

TEST_F(BundleVerifyTest, UnsafeManifestPaths) {
  const std::string zeros(64, '0');
  Write("manifest-sha256.txt", Read("manifest-sha256.txt") + zeros + "  data/../bagit.txt\n" + zeros +
                                   "  /etc/passwd\n" + zeros + "  data\\records\\x\n" + zeros + "  bagit.txt\n");
  ReSign(a_->key, Identity(*a_));
  const BundleReport r = Verify();
  ExpectProblem(r, {"manifest-sha256.txt line 8: \"data/../bagit.txt\" is unsafe", "\"..\""});
  ExpectProblem(r, {"manifest-sha256.txt line 9: \"/etc/passwd\" is unsafe: an absolute path"});
  ExpectProblem(r, {"manifest-sha256.txt line 10: \"data\\records\\x\" is unsafe: a backslash"});
  ExpectProblem(r, {"manifest-sha256.txt line 11: \"bagit.txt\" is not under data/"});
}

TEST_F(BundleVerifyTest, TruncatedCustodyProof) {
  const std::string proof = Read(kProof);
  Write(kProof, proof.substr(0, proof.size() / 2));
  ExpectProblem(Verify(), {kProof + ": its SHA-256 does not match manifest-sha256.txt"});
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kProof + ": not valid JSON"});
  ExpectProblem(r, {kLog + ": no usable custody proof"});
}

TEST_F(BundleVerifyTest, CustodyProofFromAnotherLog) {
  // The export entry cut off and a new proof signed by the exporter's key over the
  // shortened log: bag-info disagrees, and the log no longer records the export.
  auto lines = CustodyLines();
  lines.pop_back();
  SetCustodyLines(lines);
  std::vector<Hash> leaves;
  for (const auto& l : lines) leaves.push_back(LeafHash(crypto::AsBytes(l)));
  Write(kProof, CustodyProofToJson(MakeCustodyProof(
                    leaves, SignCheckpoint(a_->key, vault_, case_, leaves.size(), RootOf(leaves), NextTime()), {}))
                    .dump());
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {"bag-info.txt: Evault-Custody-Entries \"6\" is not the checkpoint's size 5"});
  ExpectProblem(r, {"bag-info.txt: Evault-Custody-Root", "is not the checkpoint's root"});
  ExpectProblem(r, {kLog + ": custody line 4 (attachment-capture) is the signer's last entry, not an \"export\" entry"});
}

TEST_F(BundleVerifyTest, WrongPayloadOxum) {
  SetInfo("Payload-Oxum", "1.1");
  ReSign(a_->key, Identity(*a_));
  ExpectProblem(Verify(), {"bag-info.txt: Payload-Oxum is 1.1, but data/ holds"});
}

TEST_F(BundleVerifyTest, BagInfoFields) {
  SetInfo("Evault-Bundle-Format", "2");
  SetInfo("Evault-Signer-Key", crypto::ToHex(b_->key.public_key()));
  SetInfo("External-Identifier", "another");
  SetInfo("Evault-Export-Purpose", "prosecution");
  SetInfo("Evault-Export-Time", "2020-01-01T00:00:00Z");
  ReSign(a_->key, Identity(*a_));
  const BundleReport r = Verify();
  ExpectProblem(r, {"bag-info.txt: Evault-Export-Purpose is not the purpose recorded in custody line 6 (export)"});
  ExpectProblem(r, {"bag-info.txt: Evault-Export-Time \"2020-01-01T00:00:00Z\" is not the time of custody line 6 (export)"});
  ExpectProblem(r, {"bag-info.txt: Evault-Bundle-Format is \"2\""});
  ExpectProblem(r, {"bag-info.txt: Evault-Signer-Key", "is not the key in exporter.pub"});
  ExpectProblem(r, {"bag-info.txt: External-Identifier \"another\" is not the Evault-Case-Id"});
  Write("bagit.txt", "BagIt-Version: 0.97\n");
  ExpectProblem(Verify(), {"bagit.txt: not exactly"});
}

TEST_F(BundleVerifyTest, HostileInput) {
  // Deep JSON in a revision and a custody line, binary junk in the manifests and
  // signatures, a missing proof: all problems, no crash.
  Write(RevisionPath(1, rev1_), std::string(200000, '[') + std::string(200000, ']'));
  auto lines = CustodyLines();
  lines[1] = "{\"a\":" + std::string(500000, '[') + std::string(500000, ']') + "}";
  SetCustodyLines(lines);
  Rehash();
  BundleReport r = Verify();
  ExpectProblem(r, {RevisionPath(1, rev1_) + ": JSON nested deeper than"});
  ExpectProblem(r, {kLog + ": custody line 2 is JSON nested deeper than"});
  std::string junk;
  for (int i = 0; i < 5000; ++i) junk += static_cast<char>(i * 37);
  for (const char* name : {"manifest-sha256.txt", "exporter.pub", "allowed_signers", "tagmanifest-sha256.txt.minisig",
                           "tagmanifest-sha256.txt.sshsig", "bag-info.txt", "tagmanifest-sha256.txt"}) {
    Write(name, junk);
  }
  fs::remove(bag_ / kProof);
  r = Verify();
  EXPECT_FALSE(r.ok());
  ExpectProblem(r, {"exporter.pub: minisign public key"});
  ExpectProblem(r, {kProof + ": missing"});
  for (const auto& p : r.problems) EXPECT_EQ(p.find('\n'), std::string::npos) << p;
}

TEST_F(BundleVerifyTest, DeepJsonInsideTheProofsCheckpoint) {
  // The checkpoint is JSON inside a JSON string: screened before custody.cc parses it.
  json proof = json::parse(Read(kProof));
  proof["checkpoint"] = "{\"a\":" + std::string(300000, '[') + std::string(300000, ']') + "}";
  proof["earlier"][0]["checkpoint"] = proof["checkpoint"];
  Write(kProof, proof.dump());
  Rehash();
  const BundleReport r = Verify();
  ExpectProblem(r, {kProof + ": the checkpoint is JSON nested deeper than"});
  ExpectProblem(r, {kProof + ": earlier checkpoint 1 is JSON nested deeper than"});
}

TEST_F(BundleVerifyTest, RandomCorruptionIsCaughtAndNeverCrashes) {
  const fs::path pristine = dir_ / "pristine";
  fs::copy(bag_, pristine, fs::copy_options::recursive);
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(pristine)) {
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), pristine).string());
  }
  std::sort(files.begin(), files.end());
  std::mt19937 rng(20190921);
  for (int round = 0; round < 150; ++round) {
    fs::remove_all(bag_);
    fs::copy(pristine, bag_, fs::copy_options::recursive);
    const std::string rel = files[rng() % files.size()];
    std::string content = Read(rel);
    const std::string before = content;
    switch (rng() % 4) {
      case 0:
        if (!content.empty()) content[rng() % content.size()] ^= static_cast<char>(1 + rng() % 255);
        break;
      case 1:
        content.resize(content.empty() ? 0 : rng() % content.size());
        break;
      case 2:
        content.insert(rng() % (content.size() + 1), std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      default:
        content = std::string(1 + rng() % 64, static_cast<char>(rng() % 256));
        break;
    }
    Write(rel, content);
    // Half the payload changes come with manifests re-hashed and re-signed.
    const bool rehashed = rel.starts_with("data/") && rng() % 2 == 0;
    if (rehashed) Rehash();
    auto r = VerifyBundle(bag_, std::nullopt);
    ASSERT_TRUE(r) << rel << ": " << r.error().message;
    // The untrusted comment of a .minisig is not signed, by minisign's design.
    const bool unsigned_text = rel.ends_with(".minisig");
    if (!rehashed && !unsigned_text && content != before) {
      EXPECT_FALSE(r->ok()) << "round " << round << ": " << rel;
    }
    for (const auto& p : r->problems) EXPECT_EQ(p.find('\n'), std::string::npos) << p;
  }
}

TEST_F(BundleVerifyTest, NotABag) {
  EXPECT_EQ(VerifyBundle(dir_ / "nothing-here", std::nullopt).error().code, ErrorCode::kNotFound);
  fs::create_directory(dir_ / "empty");
  EXPECT_FALSE(VerifyBundle(dir_ / "empty", std::nullopt));
  EXPECT_FALSE(VerifyBundle(bag_ / "bagit.txt", std::nullopt));
  // A bag with only bagit.txt is a bag with many problems, not an error.
  fs::remove_all(bag_ / "data");
  auto r = VerifyBundle(bag_, std::nullopt);
  ASSERT_TRUE(r);
  ExpectProblem(*r, {"data/: missing"});
}

// ---------------------------------------------------------------------------------

TEST(SafeFileNameTest, MakesNamesSafe) {
  EXPECT_EQ(SafeFileName("photo.jpg"), "photo.jpg");
  EXPECT_EQ(SafeFileName("фото суда.jpg"), "фото суда.jpg");
  EXPECT_EQ(SafeFileName("a/b\\c%d"), "a_b_c_d");
  EXPECT_EQ(SafeFileName("line\nbreak\x7f\t"), "line_break__");
  EXPECT_EQ(SafeFileName("c1\xc2\x85"), "c1_");            // U+0085, a C1 control
  EXPECT_EQ(SafeFileName("bad\xff\xfe utf8"), "bad__ utf8");  // not UTF-8
  EXPECT_EQ(SafeFileName("\xe2\x82"), "__");                 // a cut sequence
  EXPECT_EQ(SafeFileName(""), "_");
  EXPECT_EQ(SafeFileName("."), "_");
  EXPECT_EQ(SafeFileName(".."), "__");
  EXPECT_EQ(SafeFileName("../../etc/passwd"), ".._.._etc_passwd");
  EXPECT_EQ(SafeFileName("metadata.json"), "_metadata.json");
  EXPECT_EQ(SafeFileName("Metadata.JSON"), "_Metadata.JSON");
  // At most 100 bytes, what a ustar name field holds (an encrypted export is a tar stream).
  EXPECT_EQ(SafeFileName(std::string(250, 'a')), std::string(100, 'a'));
  // 2-byte characters: 99 bytes of 'a' then "я" would end at 101: cut before it.
  EXPECT_EQ(SafeFileName(std::string(99, 'a') + "яя"), std::string(99, 'a'));
  EXPECT_EQ(SafeFileName(std::string(98, 'a') + "яя"), std::string(98, 'a') + "я");
  for (const std::string& name : {std::string(300, '\xff'), std::string(500, '/'), std::string("\0x", 2)}) {
    const std::string safe = SafeFileName(name);
    EXPECT_LE(safe.size(), 100u);
    EXPECT_EQ(safe.find('/'), std::string::npos);
    EXPECT_EQ(safe.find('\0'), std::string::npos);
    EXPECT_EQ(SafeFileName(safe), safe);  // idempotent
  }
}

// ---------------------------------------------------------------------------------

class MinisignVerifyTest : public testing::ToolTest {
 protected:
  crypto::SigningKeyPair key_ = crypto::SigningKeyPair::Generate();
};

TEST_F(MinisignVerifyTest, OwnSignatures) {
  const std::string message = "bagit.txt\nbag-info.txt\n";
  const std::string pub = MinisignPublicKey(key_.public_key());
  const std::string sig = MinisignSign(key_, crypto::AsBytes(message), "evault export");
  EXPECT_TRUE(MinisignVerify(pub, crypto::AsBytes(message), sig));
  auto parsed = ParseMinisignPublicKey(pub);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, key_.public_key());
  EXPECT_TRUE(MinisignVerify(pub, {}, MinisignSign(key_, {}, "empty")));

  std::string altered = message;
  altered[0] ^= 1;
  EXPECT_EQ(MinisignVerify(pub, crypto::AsBytes(altered), sig).error().code, ErrorCode::kTampered);
  std::string comment = sig;
  comment.replace(comment.find("evault export"), 13, "evault EXPORT");
  EXPECT_EQ(MinisignVerify(pub, crypto::AsBytes(message), comment).error().code, ErrorCode::kTampered);
  const auto other = crypto::SigningKeyPair::Generate();
  auto wrong_key = MinisignVerify(MinisignPublicKey(other.public_key()), crypto::AsBytes(message), sig);
  ASSERT_FALSE(wrong_key);
  EXPECT_NE(wrong_key.error().message.find("key id"), std::string::npos) << wrong_key.error().message;
  EXPECT_FALSE(MinisignVerify("", crypto::AsBytes(message), sig));
  EXPECT_FALSE(MinisignVerify(pub, crypto::AsBytes(message), ""));
  EXPECT_FALSE(MinisignVerify(pub, crypto::AsBytes(message), sig + "extra line\n"));
  // Every base64 character of the signature lines changed in turn: refused.
  int tried = 0, refused = 0;
  for (std::size_t i = 0; i < sig.size(); ++i) {
    if (sig[i] == '\n' || sig[i] == '=') continue;
    const std::size_t line_start = sig.rfind('\n', i == 0 ? 0 : i - 1);
    const std::string_view line = std::string_view(sig).substr(line_start == std::string::npos ? 0 : line_start + 1);
    if (line.starts_with("untrusted comment:")) continue;  // not signed, by design
    std::string bad = sig;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    ++tried;
    if (!MinisignVerify(pub, crypto::AsBytes(message), bad)) ++refused;
  }
  EXPECT_GT(tried, 150);
  EXPECT_EQ(refused, tried);
  if (testing::HaveTool("minisign")) {
    testing::WriteFile(dir_ / "m", message);
    testing::WriteFile(dir_ / "m.minisig", sig);
    testing::WriteFile(dir_ / "pk", pub);
    EXPECT_EQ(testing::RunShell("minisign -Vm '" + (dir_ / "m").string() + "' -p '" + (dir_ / "pk").string() +
                                "' >/dev/null 2>&1"),
              0);
  }
}

TEST_F(MinisignVerifyTest, StandardToolSignatures) {
  if (!testing::HaveTool("minisign")) GTEST_SKIP() << "minisign is not installed";
  const std::string d = dir_.string();
  ASSERT_EQ(testing::RunShell("cd '" + d + "' && minisign -G -W -p pk -s sk </dev/null >/dev/null 2>&1"), 0);
  std::string message(100000, 'x');
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 7);
  testing::WriteFile(dir_ / "m", message);
  ASSERT_EQ(testing::RunShell("cd '" + d + "' && minisign -S -s sk -m m -t 'trusted by the tool' </dev/null >/dev/null 2>&1"), 0);
  ASSERT_EQ(testing::RunShell("cd '" + d + "' && minisign -S -l -s sk -m m -x m.legacy </dev/null >/dev/null 2>&1"), 0);
  const std::string pub = testing::ReadFile(dir_ / "pk");
  EXPECT_TRUE(MinisignVerify(pub, crypto::AsBytes(message), testing::ReadFile(dir_ / "m.minisig")));
  EXPECT_TRUE(MinisignVerify(pub, crypto::AsBytes(message), testing::ReadFile(dir_ / "m.legacy")));
  message[500] ^= 1;
  EXPECT_FALSE(MinisignVerify(pub, crypto::AsBytes(message), testing::ReadFile(dir_ / "m.minisig")));
  EXPECT_FALSE(MinisignVerify(pub, crypto::AsBytes(message), testing::ReadFile(dir_ / "m.legacy")));
  // The tool's key with our signature: the key ids differ, refused as minisign -V does.
  EXPECT_FALSE(MinisignVerify(pub, crypto::AsBytes(message), MinisignSign(crypto::SigningKeyPair::Generate(),
                                                                         crypto::AsBytes(message), "x")));
}

// ---------------------------------------------------------------------------------

class SshKeyTest : public testing::ToolTest {};

TEST_F(SshKeyTest, FingerprintAsSshKeygenShowsIt) {
  const auto key = crypto::SigningKeyPair::Generate();
  const std::string fingerprint = SshFingerprint(key.public_key());
  EXPECT_TRUE(fingerprint.starts_with("SHA256:"));
  EXPECT_EQ(fingerprint.size(), 7u + 43u);
  if (!testing::HaveTool("ssh-keygen")) GTEST_SKIP() << "ssh-keygen is not installed";
  testing::WriteFile(dir_ / "key.pub", SshPublicKey(key.public_key()) + " comment\n");
  ASSERT_EQ(testing::RunShell("ssh-keygen -lf '" + (dir_ / "key.pub").string() + "' > '" + (dir_ / "out").string() +
                              "' 2>&1"),
            0);
  EXPECT_NE(testing::ReadFile(dir_ / "out").find(" " + fingerprint + " "), std::string::npos)
      << testing::ReadFile(dir_ / "out") << fingerprint;
}

TEST_F(SshKeyTest, ParsesAllowedSigners) {
  const auto key = crypto::SigningKeyPair::Generate();
  const std::string line = AllowedSignersLine("evault-device", kExportNamespace, key.public_key());
  auto signers = ParseAllowedSigners("# comment\n\n" + line + "\n");
  ASSERT_TRUE(signers) << signers.error().message;
  ASSERT_EQ(signers->size(), 1u);
  EXPECT_EQ((*signers)[0].principals, "evault-device");
  EXPECT_EQ((*signers)[0].namespaces, std::vector<std::string>{kExportNamespace});
  EXPECT_EQ((*signers)[0].key, key.public_key());
  // No options; several namespaces; a trailing comment.
  signers = ParseAllowedSigners("a@b,c " + SshPublicKey(key.public_key()) + " laptop\n" + "x namespaces=\"git,file\" " +
                                SshPublicKey(key.public_key()) + "\r\n");
  ASSERT_TRUE(signers) << signers.error().message;
  ASSERT_EQ(signers->size(), 2u);
  EXPECT_TRUE((*signers)[0].namespaces.empty());
  EXPECT_EQ((*signers)[1].namespaces, (std::vector<std::string>{"git", "file"}));
  const std::string pk = SshPublicKey(key.public_key());
  for (const std::string& bad : std::vector<std::string>{"x cert-authority " + pk, "x valid-before=\"20300101\" " + pk, "x ssh-rsa AAAAB3Nza",
                                "x namespaces=\"unterminated " + pk, "x ssh-ed25519 !!!", "onlyone",
                                "x ssh-ed25519 " + crypto::ToBase64(crypto::AsBytes("short"))}) {
    auto parsed = ParseAllowedSigners(bad + "\n");
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_NE(parsed.error().message.find("allowed_signers line 1"), std::string::npos);
    }
  }
}

// Security review: a custody log of nothing but newlines (2,000,000 of them, listed in
// the manifests so only the custody check can complain) took minutes and about 20 GB
// to check, a problem per empty line. It is refused quickly, naming the line count.
TEST_F(BundleVerifyTest, CustodyLogOfMillionsOfLinesIsRefusedQuickly) {
  Write(kLog, std::string(2'000'000, '\n'));
  Rehash();
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  auto report = VerifyBundle(bag_, std::nullopt);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_FALSE(report->ok());
  ExpectProblem(*report, {kLog + ": 2000000 lines, more than"});
  EXPECT_LE(report->problems.size(), 100u) << "a problem per empty line?";
  EXPECT_EQ(report->custody_entries, 0u);
  // ru_maxrss is in KiB: the peak grew by less than 512 MiB (the file is 2 MB).
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 512L * 1024) << "peak RSS grew by " << (after.ru_maxrss - before.ru_maxrss)
                                                             << " KiB";
}

// ... and the custody checker itself names at most 1000 problems, then how many more.
TEST(CustodyLogProblems, ThousandsOfGarbageLinesGiveBoundedProblems) {
  std::vector<std::string> lines(5000, "this is not a custody entry");
  const std::string vault(32, 'a'), stream(32, 'b');
  const CustodyReport report = VerifyCustodyLog(vault, stream, lines, nullptr);
  EXPECT_FALSE(report.ok());
  ASSERT_GE(report.problems.size(), 2u);
  EXPECT_LE(report.problems.size(), 1001u);
  const std::string& last = report.problems.back();
  EXPECT_TRUE(last.starts_with("... and ") && last.ends_with(" more problems")) << last;
  // Every line is a problem: 5000 in all, 1000 of them named.
  EXPECT_EQ(last, "... and 4000 more problems");
}

}  // namespace
}  // namespace evault::audit
