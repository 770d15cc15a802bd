// The vault header (vault/header.h), the one file of a vault read before any key is
// known: a seized or swapped device may hold any bytes there. ParseHeader must refuse
// them with an error and never crash; a header it accepts has the shape UnlockRoot needs.
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "vault/header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  auto header = vault::ParseHeader(fuzz::AsView(data, size));
  if (!header) return 0;
  if (header->vault_id.size() != 16 || header->format_version != vault::kFormatVersion) std::abort();
  return 0;
}
