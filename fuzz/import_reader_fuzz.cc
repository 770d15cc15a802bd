// A file handed to `evault import` (client/import_reader.h): JSON Lines or CSV from a
// spreadsheet anyone could have written. The first byte picks the format (odd: CSV;
// the seeds use 'c' and 'j').
// The reader must refuse with an error or yield records whose lines never go back,
// whose JSON is valid UTF-8 (from CSV: an object of strings), and which
// CheckImportRecord judges without crashing.
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

#include "client/import_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  if (size == 0) return 0;
  const auto format = (data[0] & 1) != 0 ? client::ImportFormat::kCsv : client::ImportFormat::kJsonLines;
  std::istringstream in(std::string(fuzz::AsView(data + 1, size - 1)));
  client::ImportReader reader(in, format);
  std::uint64_t last_line = 0;
  for (int i = 0; i < 10000; ++i) {
    auto next = reader.Next();
    if (!next) {
      if (next.error().message.rfind("line ", 0) != 0) std::abort();  // every error names its line
      break;
    }
    if (!*next) break;
    const auto& record = **next;
    if (record.line <= last_line) std::abort();
    last_line = record.line;
    if (!client::IsValidUtf8(record.json)) std::abort();
    if (format == client::ImportFormat::kCsv) {
      auto parsed = nlohmann::json::parse(record.json, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_object() || parsed.empty()) std::abort();
    }
    (void)client::CheckImportRecord(record);
  }
  if (reader.bytes_read() > size - 1) std::abort();
  return 0;
}
