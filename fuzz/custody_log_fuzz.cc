// A case's custody log with its proof (audit/custody.h), as an export bundle carries
// them: custody-proof.json, then the separator (fuzz_util.h), then custody-log.jsonl.
// CustodyProofFromJson must refuse malformed proofs with an error; VerifyCustodyLog
// must report, never crash, on any log and proof. The log's vault and stream are the
// fuzz world's, so seeds from make_seeds verify cleanly.
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/custody.h"
#include "crypto/bytes.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  static const std::string vault_hex = crypto::ToHex(fuzz::FixedId(0));
  static const std::string stream_hex = crypto::ToHex(fuzz::FixedId(3));
  const auto parts = fuzz::Split(fuzz::AsView(data, size), 2);
  std::optional<audit::CustodyProof> proof;
  if (parts.size() == 2) {
    const auto j = nlohmann::json::parse(parts[0], nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) {
      if (auto parsed = audit::CustodyProofFromJson(j)) {
        proof = std::move(*parsed);
        // What the exporter writes back in, the verifier must read back the same.
        auto again = audit::CustodyProofFromJson(audit::CustodyProofToJson(*proof));
        if (!again || again->leaves != proof->leaves || again->checkpoint != proof->checkpoint) std::abort();
      }
    }
  }
  std::vector<std::string> lines;
  std::string_view log = parts.back();
  while (!log.empty() && lines.size() < 256) {
    const std::size_t end = log.find('\n');
    lines.emplace_back(log.substr(0, end));
    log.remove_prefix(end == std::string_view::npos ? log.size() : end + 1);
  }
  const auto report = audit::VerifyCustodyLog(vault_hex, stream_hex, lines, proof ? &*proof : nullptr);
  if (report.entries > lines.size()) std::abort();
  return 0;
}
