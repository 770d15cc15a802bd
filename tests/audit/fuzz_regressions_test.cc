// Inputs the fuzz targets (fuzz/) found to break an audit parser, kept as regression
// tests: each must now be refused with an error, not an exception.
#include <gtest/gtest.h>

#include <string>

#include "audit/bagit.h"
#include "audit/custody.h"
#include "audit/sshsig.h"
#include "crypto/identity.h"

namespace evault::audit {
namespace {

// fuzz/custody_line: a canonical line with every field but a "v" that is not a number
// made json::value() throw type_error (302) before any check; the contract of
// ParseEntry and ParseCheckpoint is that nothing there throws.
TEST(FuzzRegressions, CustodyLineWithANonNumericVersionIsRefused) {
  const std::string entry =
      R"({"action":"sync","device":"d","key":"k","prev":"","seq":1,"sig":"s","stream":"","subject":{},)"
      R"("time":"t","v":"1","vault":"v"})";
  const std::string checkpoint =
      R"({"device":"d","key":"k","root":"r","sig":"s","size":1,"stream":"","time":"t","v":null,"vault":"v"})";
  EXPECT_NO_THROW({
    auto parsed = ParseEntry(entry);
    EXPECT_FALSE(parsed);
  });
  EXPECT_NO_THROW({
    auto parsed = ParseCheckpoint(checkpoint);
    EXPECT_FALSE(parsed);
  });
}

// fuzz/sshsig: an armor with nothing inside gave libsodium's base64 decoder a null
// output buffer (UB by its nonnull contract; UBSan aborts on it).
TEST(FuzzRegressions, EmptySshSignatureArmorIsRefused) {
  const auto key = crypto::SigningKeyPair::Generate();
  const auto status = SshVerify(key.public_key(), kExportNamespace, crypto::AsBytes("m"),
                                "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kTampered);
}

}  // namespace
}  // namespace evault::audit
