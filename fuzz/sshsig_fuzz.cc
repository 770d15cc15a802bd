// What an export bundle's SSH signature check reads (audit/sshsig.h): allowed_signers,
// then the separator (fuzz_util.h), then the armored signature of the tag manifest, then
// the signed text. ParseAllowedSigners and SshVerify must refuse malformed input with
// an error and never crash. Signatures are checked against the key of the first signer
// parsed, else the fuzz world's key, so seeds made with that key verify.
#include <cstdlib>

#include "audit/sshsig.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  static const crypto::SigningKeyPair key = fuzz::FixedSigningKey(0);
  const auto parts = fuzz::Split(fuzz::AsView(data, size), 3);
  crypto::Bytes pk = key.public_key();
  if (auto signers = audit::ParseAllowedSigners(parts[0])) {
    for (const auto& s : *signers) {
      if (s.key.size() != 32) std::abort();
    }
    if (!signers->empty()) pk = signers->front().key;
  }
  if (parts.size() < 2) return 0;
  const std::string_view message = parts.size() == 3 ? parts[2] : std::string_view();
  (void)audit::SshVerify(pk, "evault-export", crypto::AsBytes(message), parts[1]);
  (void)audit::SshVerify(pk, "", crypto::AsBytes(message), parts[1]);
  return 0;
}
