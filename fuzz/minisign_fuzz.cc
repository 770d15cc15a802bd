// What an export bundle's minisign check reads (audit/minisign.h): exporter.pub, then
// the separator (fuzz_util.h), then the .minisig file, then the signed text.
// ParseMinisignPublicKey and MinisignVerify must refuse malformed files with an error
// and never crash.
#include <cstdlib>

#include "audit/minisign.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  const auto parts = fuzz::Split(fuzz::AsView(data, size), 3);
  if (auto key = audit::ParseMinisignPublicKey(parts[0])) {
    if (key->size() != 32) std::abort();
  }
  if (parts.size() < 2) return 0;
  const std::string_view message = parts.size() == 3 ? parts[2] : std::string_view();
  (void)audit::MinisignVerify(parts[0], crypto::AsBytes(message), parts[1]);
  return 0;
}
