// BagIt bags checked with the standard tools an expert would use: sha256sum/sha512sum -c,
// minisign -V and ssh-keygen -Y verify; and refused by them after any change.
#include "audit/bagit.h"

#include <gtest/gtest.h>

#include "tests/audit/tool_test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace evault::audit {
namespace {

namespace fs = std::filesystem;

class BagItTest : public testing::ToolTest {
 protected:
  void SetUp() override {
    ToolTest::SetUp();
    bag_ = dir_ / "bag";
  }

  int Run(const std::string& command) {
    return testing::RunShell("cd '" + bag_.string() + "' && " + command + " >/dev/null 2>&1");
  }
  bool Have(const char* tool) { return testing::HaveTool(tool); }

  void MakeBag() {
    auto bag = BagWriter::Create(bag_);
    ASSERT_TRUE(bag) << bag.error().message;
    ASSERT_TRUE((*bag)->AddPayload("records/record-1.json", crypto::AsBytes(std::string(R"({"title":"Суд над журналистом"})"))));
    std::string binary(3000, '\0');
    for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
    ASSERT_TRUE((*bag)->BeginPayload("attachments/photo 100 percent.jpg"));
    ASSERT_TRUE((*bag)->Write(crypto::AsBytes(std::string_view(binary).substr(0, 1000))));
    ASSERT_TRUE((*bag)->Write(crypto::AsBytes(std::string_view(binary).substr(1000))));
    ASSERT_TRUE((*bag)->EndPayload());
    ASSERT_TRUE((*bag)->AddPayload("custody.jsonl", crypto::AsBytes(std::string("{\"seq\":1}\n"))));
    ASSERT_TRUE((*bag)->Finish({{"Case-Id", "0123abcd"}, {"Purpose", "defence of the accused"}}, signer_,
                               "evault-device"));
    EXPECT_EQ((*bag)->payload_bytes(), 3000u + std::string(R"({"title":"Суд над журналистом"})").size() + 10);
  }

  fs::path bag_;
  crypto::SigningKeyPair signer_ = crypto::SigningKeyPair::Generate();
};

TEST_F(BagItTest, StandardToolsVerifyTheBag) {
  ASSERT_NO_FATAL_FAILURE(MakeBag());
  EXPECT_EQ(testing::ReadFile(bag_ / "bagit.txt"), "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
  const std::string info = testing::ReadFile(bag_ / "bag-info.txt");
  const std::size_t record = std::string(R"({"title":"Суд над журналистом"})").size();
  EXPECT_NE(info.find("Payload-Oxum: " + std::to_string(3000 + record + 10) + ".3\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Purpose: defence of the accused\n"), std::string::npos);
  EXPECT_NE(testing::ReadFile(bag_ / "manifest-sha256.txt").find("  data/attachments/photo 100 percent.jpg\n"), std::string::npos);
  EXPECT_EQ(Run("sha256sum -c manifest-sha256.txt"), 0);
  EXPECT_EQ(Run("sha512sum -c manifest-sha512.txt"), 0);
  EXPECT_EQ(Run("sha256sum -c tagmanifest-sha256.txt"), 0);
  if (Have("minisign")) EXPECT_EQ(Run("minisign -Vm tagmanifest-sha256.txt -p exporter.pub"), 0);
  if (Have("ssh-keygen")) {
    EXPECT_EQ(Run("ssh-keygen -Y verify -f allowed_signers -I evault-device -n evault-export "
                  "-s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"),
              0);
  }
}

TEST_F(BagItTest, ChangesAreCaughtByTheStandardTools) {
  ASSERT_NO_FATAL_FAILURE(MakeBag());
  // A payload byte.
  {
    std::fstream f(bag_ / "data" / "records" / "record-1.json", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  EXPECT_NE(Run("sha256sum -c manifest-sha256.txt"), 0);
  // A manifest line: the tag manifest catches it, and so do both signatures over it.
  {
    std::ofstream f(bag_ / "manifest-sha256.txt", std::ios::app);
    f << "0000000000000000000000000000000000000000000000000000000000000000  data/extra\n";
  }
  EXPECT_NE(Run("sha256sum -c tagmanifest-sha256.txt"), 0);
  // The tag manifest itself, re-hashed to hide the change: the signatures refuse it.
  {
    std::ofstream f(bag_ / "tagmanifest-sha256.txt", std::ios::app);
    f << "\n";
  }
  if (Have("minisign")) EXPECT_NE(Run("minisign -Vm tagmanifest-sha256.txt -p exporter.pub"), 0);
  if (Have("ssh-keygen")) {
    EXPECT_NE(Run("ssh-keygen -Y verify -f allowed_signers -I evault-device -n evault-export "
                  "-s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"),
              0);
  }
}

TEST_F(BagItTest, RefusesUnsafePathsAndExistingDirectories) {
  auto bag = BagWriter::Create(bag_);
  ASSERT_TRUE(bag);
  for (const char* bad : {"../escape", "/etc/passwd", "a/../../b", "a//b", "dir/", "line\nbreak", "./x", "", "100%"}) {
    EXPECT_FALSE((*bag)->AddPayload(bad, {})) << bad;
  }
  EXPECT_TRUE((*bag)->AddPayload("ok.txt", {}));
  EXPECT_FALSE((*bag)->AddPayload("ok.txt", {}));  // twice
  EXPECT_FALSE((*bag)->Finish({{"Bad:Label", "x"}}, signer_, "evault-device"));
  EXPECT_FALSE((*bag)->Finish({{"Label", "two\nlines"}}, signer_, "evault-device"));
  EXPECT_FALSE((*bag)->Finish({}, signer_, "two words"));
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  auto again = BagWriter::Create(bag_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace evault::audit
