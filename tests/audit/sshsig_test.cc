// OpenSSH signatures: what SshSign writes, the standard `ssh-keygen -Y verify` accepts,
// and neither it nor SshVerify accepts a changed file, namespace, key or signature.
#include "audit/sshsig.h"

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

class SshSigTest : public testing::ToolTest {
 protected:

  // Exit status of ssh-keygen -Y verify, or -1 when ssh-keygen is not installed.
  int SshKeygenVerify(std::string_view allowed, std::string_view signature, std::string_view message,
                      std::string_view ssh_namespace) {
    if (!testing::HaveTool("ssh-keygen")) return -1;
    testing::WriteFile(dir_ / "allowed_signers", allowed);
    testing::WriteFile(dir_ / "message", message);
    testing::WriteFile(dir_ / "message.sshsig", signature);
    const std::string command = "ssh-keygen -Y verify -f '" + (dir_ / "allowed_signers").string() +
                                "' -I evault-device -n '" + std::string(ssh_namespace) + "' -s '" +
                                (dir_ / "message.sshsig").string() + "' < '" + (dir_ / "message").string() +
                                "' >/dev/null 2>&1";
    return testing::RunShell(command);
  }

  crypto::SigningKeyPair key_ = crypto::SigningKeyPair::Generate();
};

TEST_F(SshSigTest, StandardToolVerifiesAndRefusesChanges) {
  const std::string message = "tagmanifest: 3f2a... data/custody.jsonl\n";
  const std::string signature = SshSign(key_, "evault-export", crypto::AsBytes(message));
  const std::string allowed = AllowedSignersLine("evault-device", "evault-export", key_.public_key()) + "\n";
  ASSERT_TRUE(signature.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
  EXPECT_TRUE(SshVerify(key_.public_key(), "evault-export", crypto::AsBytes(message), signature));

  const int good = SshKeygenVerify(allowed, signature, message, "evault-export");
  if (good == -1) GTEST_SKIP() << "ssh-keygen is not installed (deploy/install-deps.sh installs openssh-client)";
  EXPECT_EQ(good, 0) << "ssh-keygen refused a good signature";
  std::string altered = message;
  altered[3] ^= 0x01;
  EXPECT_NE(SshKeygenVerify(allowed, signature, altered, "evault-export"), 0);
  EXPECT_NE(SshKeygenVerify(allowed, signature, message, "file"), 0);
  const auto other = crypto::SigningKeyPair::Generate();
  EXPECT_NE(SshKeygenVerify(AllowedSignersLine("evault-device", "evault-export", other.public_key()) + "\n",
                            signature, message, "evault-export"),
            0);
}

TEST_F(SshSigTest, OwnVerifierRefusesEveryChange) {
  const std::string message = "bag-info.txt\nmanifest-sha256.txt\n";
  const std::string signature = SshSign(key_, "evault-export", crypto::AsBytes(message));
  std::string altered = message;
  altered.back() = ' ';
  EXPECT_FALSE(SshVerify(key_.public_key(), "evault-export", crypto::AsBytes(altered), signature));
  EXPECT_FALSE(SshVerify(key_.public_key(), "git", crypto::AsBytes(message), signature));
  const auto other = crypto::SigningKeyPair::Generate();
  EXPECT_FALSE(SshVerify(other.public_key(), "evault-export", crypto::AsBytes(message), signature));
  EXPECT_FALSE(SshVerify(key_.public_key(), "evault-export", crypto::AsBytes(message), "not a signature"));
  // Every base64 character of the body changed in turn: refused, never a crash.
  const std::size_t body = signature.find('\n') + 1, end = signature.find("-----END");
  int refused = 0, tried = 0;
  for (std::size_t i = body; i < end; ++i) {
    if (signature[i] == '\n' || signature[i] == '=') continue;
    std::string bad = signature;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    ++tried;
    if (!SshVerify(key_.public_key(), "evault-export", crypto::AsBytes(message), bad)) ++refused;
  }
  EXPECT_GT(tried, 100);
  EXPECT_EQ(refused, tried);
  EXPECT_TRUE(SshPublicKey(key_.public_key()).starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
}

}  // namespace
}  // namespace evault::audit
