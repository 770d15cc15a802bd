// minisign signatures: what MinisignSign writes, the standard `minisign -V` accepts, and
// it refuses a changed file, trusted comment, signature or key.
#include "audit/minisign.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace evault::audit {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

class MinisignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("evault-minisign-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    if (std::system("command -v minisign >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "minisign is not installed (deploy/install-deps.sh installs it)";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Exit status of `minisign -Vm message -p key`; its stdout (the trusted comment) in `out`.
  int Verify(std::string_view public_key, std::string_view message, std::string_view signature,
             std::string* out = nullptr) {
    Write(dir_ / "exporter.pub", public_key);
    Write(dir_ / "message", message);
    Write(dir_ / "message.minisig", signature);
    const std::string command = "minisign -Vm '" + (dir_ / "message").string() + "' -p '" +
                                (dir_ / "exporter.pub").string() + "' > '" + (dir_ / "out").string() + "' 2>&1";
    const int status = std::system(command.c_str());
    if (out != nullptr) {
      std::ifstream in(dir_ / "out");
      *out = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
  }

  fs::path dir_;
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
