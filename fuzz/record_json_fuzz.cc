// Record JSON as a monitor types it or a script feeds it to `evault record add`
// (vault/record.h): ParseRecordJson must refuse anything malformed with an error, never
// crash, and what it accepts must be stable: its canonical form parses back to itself.
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "vault/record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  const std::string_view text = fuzz::AsView(data, size);
  auto parsed = vault::ParseRecordJson(text);
  (void)vault::ValidateLabel("title", text, 200);
  if (!parsed) return 0;
  if (!vault::ValidateRecord(*parsed)) std::abort();  // accepted once, accepted when read back
  (void)vault::RecordText(*parsed);
  const std::string canonical = vault::CanonicalJson(*parsed);
  auto again = vault::ParseRecordJson(canonical);
  if (!again || *again != *parsed || vault::CanonicalJson(*again) != canonical) std::abort();
  return 0;
}
