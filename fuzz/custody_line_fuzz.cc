// One line of a custody log or a checkpoint (audit/custody.h), as read from an export
// bundle or pulled inside an object: ParseEntry and ParseCheckpoint must refuse any
// malformed line with an error (their contract: nothing here throws) and what they
// accept has the fields and types their callers read without further checks.
#include <cstdlib>

#include "audit/custody.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  const std::string_view line = fuzz::AsView(data, size);
  if (auto entry = audit::ParseEntry(line)) {
    const auto& e = *entry;
    if (!e.at("key").is_string() || !e.at("device").is_string() || !e.at("vault").is_string() ||
        !e.at("stream").is_string() || !e.at("time").is_string() || !e.at("prev").is_string() ||
        !e.at("seq").is_number_unsigned() || !e.at("action").is_string() || !e.at("subject").is_object()) {
      std::abort();
    }
  }
  if (auto checkpoint = audit::ParseCheckpoint(line)) {
    const auto& c = *checkpoint;
    if (!c.at("key").is_string() || !c.at("device").is_string() || !c.at("vault").is_string() ||
        !c.at("stream").is_string() || !c.at("time").is_string() || !c.at("size").is_number_unsigned() ||
        !c.at("root").is_string()) {
      std::abort();
    }
  }
  return 0;
}
