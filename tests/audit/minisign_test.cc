// minisign signatures: what MinisignSign writes, the standard `minisign -V` accepts, and
// it refuses a changed file, trusted comment, signature or key.
#include "audit/minisign.h"

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

class MinisignTest : public testing::ToolTest {
 protected:
  void SetUp() override {
    ToolTest::SetUp();
    if (!testing::HaveTool("minisign")) GTEST_SKIP() << "minisign is not installed (deploy/install-deps.sh installs it)";
  }

  // Exit status of `minisign -Vm message -p key`; its stdout (the trusted comment) in `out`.
  int Verify(std::string_view public_key, std::string_view message, std::string_view signature,
             std::string* out = nullptr) {
    testing::WriteFile(dir_ / "exporter.pub", public_key);
    testing::WriteFile(dir_ / "message", message);
    testing::WriteFile(dir_ / "message.minisig", signature);
    const std::string command = "minisign -Vm '" + (dir_ / "message").string() + "' -p '" +
                                (dir_ / "exporter.pub").string() + "' > '" + (dir_ / "out").string() + "' 2>&1";
    const int status = testing::RunShell(command);
    if (out != nullptr) *out = testing::ReadFile(dir_ / "out");
    return status;
  }

  crypto::SigningKeyPair key_ = crypto::SigningKeyPair::Generate();
};

TEST_F(MinisignTest, StandardToolVerifiesTheSignatureAndTrustedComment) {
  const std::string message = "3f2a9c  data/attachments/photo.jpg\n";
  const std::string signature = MinisignSign(key_, crypto::AsBytes(message), "evault export of case 0123 by device ab");
  std::string out;
  ASSERT_EQ(Verify(MinisignPublicKey(key_.public_key()), message, signature, &out), 0) << out << signature;
  EXPECT_NE(out.find("evault export of case 0123 by device ab"), std::string::npos) << out;
}

TEST_F(MinisignTest, StandardToolRefusesChanges) {
  const std::string message = "bag-info.txt\n";
  const std::string signature = MinisignSign(key_, crypto::AsBytes(message), "trusted");
  const std::string pub = MinisignPublicKey(key_.public_key());
  std::string altered = message;
  altered[0] ^= 0x01;
  EXPECT_NE(Verify(pub, altered, signature), 0);
  // The trusted comment is signed: changing it is caught.
  std::string comment_changed = signature;
  comment_changed.replace(comment_changed.find("trusted comment: trusted"), 24, "trusted comment: TRUSTED");
  EXPECT_NE(Verify(pub, message, comment_changed), 0);
  // Another key: refused.
  const auto other = crypto::SigningKeyPair::Generate();
  EXPECT_NE(Verify(MinisignPublicKey(other.public_key()), message, signature), 0);
  // An empty file signs and verifies too.
  EXPECT_EQ(Verify(pub, "", MinisignSign(key_, {}, "empty")), 0);
}

}  // namespace
}  // namespace evault::audit
