// An age recipient ("age1...", audit/age.h) as a monitor pastes it for an encrypted
// export: ParseAgeRecipient and Bech32Decode must refuse anything malformed with an
// error; what they accept encodes back to the same text (in lower case).
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "audit/age.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  const std::string_view text = fuzz::AsView(data, size);
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (auto decoded = audit::Bech32Decode(text)) {
    if (audit::Bech32Encode(decoded->first, decoded->second) != lower) std::abort();
  }
  if (auto recipient = audit::ParseAgeRecipient(text)) {
    if (recipient->ToString() != lower) std::abort();
  }
  return 0;
}
