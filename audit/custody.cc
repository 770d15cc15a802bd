#include "audit/custody.h"

#include <algorithm>
#include <map>

#include <fmt/core.h>

#include "audit/text.h"
#include "crypto/digest.h"
#include "crypto/keys.h"

namespace evault::audit {

using nlohmann::json;

namespace {

constexpr char kEntryContext[] = "evault-custody-entry-v1\n";
constexpr char kCheckpointContext[] = "evault-custody-checkpoint-v1\n";
constexpr std::size_t kDeviceIdBytes = 16;

std::string Canonical(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::strict); }

crypto::Bytes SignedMessage(std::string_view context, const json& unsigned_fields) {
  crypto::Bytes message(context.begin(), context.end());
  const std::string body = Canonical(unsigned_fields);
  message.insert(message.end(), body.begin(), body.end());
  return message;
}

std::string Sign(const crypto::SigningKeyPair& device, std::string_view context, json fields) {
  const crypto::Bytes signature = device.Sign(SignedMessage(context, fields));
  fields["sig"] = crypto::ToHex(signature);
  return Canonical(fields);
}

bool IsHex(const json& j, std::size_t bytes) {
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  return s.size() == 2 * bytes &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Entries and checkpoints nest two levels; a subject a few more. Anything deeper is
// refused before parsing, so hostile input cannot exhaust the stack of the recursive
// parser and serialiser.
constexpr std::size_t kMaxNesting = 16;
constexpr std::size_t kMaxProblems = 1000;


// Parses `line`, checks it is canonical, has exactly `fields` (plus "sig"), and that
// "sig" is the signature of its "key" over `context` | the rest.
Result<json> ParseSigned(std::string_view line, std::string_view context, std::initializer_list<const char*> fields,
                         std::string_view what) {
  if (JsonDepth(line, kMaxNesting) > kMaxNesting) return Fail(ErrorCode::kTampered, fmt::format("the {} nests too deeply", what));
  json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} is not a JSON object", what));
  }
  if (Canonical(parsed) != line) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} is not in canonical form (it was edited)", what));
  }
  if (parsed.size() != fields.size() + 1) return Fail(ErrorCode::kTampered, fmt::format("the {} has extra or missing fields", what));
  for (const char* field : fields) {
    if (!parsed.contains(field)) return Fail(ErrorCode::kTampered, fmt::format("the {} lacks \"{}\"", what, field));
  }
  // Compared as JSON: value("v", 0) threw on a "v" that is not a number.
  if (parsed["v"] != 1) return Fail(ErrorCode::kTampered, fmt::format("the {} has an unknown version", what));
  if (!IsHex(parsed["key"], crypto::kSigningPublicKeyBytes) || !IsHex(parsed["sig"], crypto::kSignatureBytes)) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} has a malformed key or signature", what));
  }
  const auto key = *crypto::FromHex(parsed["key"].get<std::string>());
  const auto signature = *crypto::FromHex(parsed["sig"].get<std::string>());
  json unsigned_fields = parsed;
  unsigned_fields.erase("sig");
  if (!crypto::VerifySignature(key, SignedMessage(context, unsigned_fields), signature)) {
    return Fail(ErrorCode::kTampered, fmt::format("the {}'s signature does not verify (it was altered)", what));
  }
  if (parsed["device"] != DeviceIdOf(key)) {
    return Fail(ErrorCode::kTampered, fmt::format("the {}'s device id does not match its key", what));
  }
  if (!parsed["vault"].is_string() || !parsed["stream"].is_string() || !parsed["time"].is_string()) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} has malformed fields", what));
  }
  return parsed;
}

std::vector<std::string> HexList(std::span<const Hash> hashes) {
  std::vector<std::string> out;
  for (const auto& h : hashes) out.push_back(crypto::ToHex(h));
  return out;
}

Result<std::vector<Hash>> HashList(const json& j, std::string_view what) {
  if (!j.is_array()) return Fail(ErrorCode::kTampered, fmt::format("the custody proof's {} is not a list", what));
  std::vector<Hash> out;
  for (const auto& item : j) {
    if (!IsHex(item, 32)) return Fail(ErrorCode::kTampered, fmt::format("the custody proof's {} holds a bad hash", what));
    auto bytes = *crypto::FromHex(item.get<std::string>());
    Hash h;
    std::copy(bytes.begin(), bytes.end(), h.begin());
    out.push_back(h);
  }
  return out;
}

std::string Describe(const json& entry) {
  return fmt::format("{} #{} by device {}", entry.value("action", "?"), entry.value("seq", 0), entry.value("device", "?"));
}

}  // namespace

bool IsCustodyAction(std::string_view name) {
  for (const char* known : {action::kCaseCreate, action::kRecordCapture, action::kRecordEdit, action::kRecordView,
                            action::kAttachmentCapture, action::kAttachmentRead, action::kCaseGrant, action::kExport,
                            action::kSync, action::kMembership, action::kPurge}) {
    if (name == known) return true;
  }
  return false;
}

std::string DeviceIdOf(crypto::ByteView signing_public_key) {
  return crypto::ToHex(crypto::ByteView(crypto::PublicHash(signing_public_key).data(), kDeviceIdBytes));
}

std::string LineSha256(std::string_view line) { return crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(line))); }

std::string SignEntry(const crypto::SigningKeyPair& device, std::string_view vault_id, std::string_view stream,
                      const ChainHead& head, std::string_view time, std::string_view action_name,
                      const json& subject) {
  json fields = {{"v", 1},
                 {"vault", vault_id},
                 {"stream", stream},
                 {"device", DeviceIdOf(device.public_key())},
                 {"key", crypto::ToHex(device.public_key())},
                 {"seq", head.seq + 1},
                 {"prev", head.line_sha256},
                 {"time", time},
                 {"action", action_name},
                 {"subject", subject}};
  return Sign(device, kEntryContext, std::move(fields));
}

Result<json> ParseEntry(std::string_view line) {
  EVAULT_ASSIGN_OR_RETURN(json entry, ParseSigned(line, kEntryContext,
                                                  {"v", "vault", "stream", "device", "key", "seq", "prev", "time",
                                                   "action", "subject"},
                                                  "custody entry"));
  if (!entry["seq"].is_number_unsigned() || entry["seq"].get<std::uint64_t>() == 0 || !entry["prev"].is_string() ||
      !entry["subject"].is_object() || !entry["action"].is_string() ||
      !IsCustodyAction(entry["action"].get<std::string>())) {
    return Fail(ErrorCode::kTampered, "the custody entry has malformed fields");
  }
  const bool first = entry["seq"].get<std::uint64_t>() == 1;
  if (first ? !entry["prev"].get<std::string>().empty() : !IsHex(entry["prev"], 32)) {
    return Fail(ErrorCode::kTampered, "the custody entry's link to the previous one is malformed");
  }
  return entry;
}

std::string SignCheckpoint(const crypto::SigningKeyPair& device, std::string_view vault_id, std::string_view stream,
                           std::uint64_t size, const Hash& root, std::string_view time) {
  json fields = {{"v", 1},
                 {"vault", vault_id},
                 {"stream", stream},
                 {"device", DeviceIdOf(device.public_key())},
                 {"key", crypto::ToHex(device.public_key())},
                 {"size", size},
                 {"root", crypto::ToHex(root)},
                 {"time", time}};
  return Sign(device, kCheckpointContext, std::move(fields));
}

Result<json> ParseCheckpoint(std::string_view line) {
  EVAULT_ASSIGN_OR_RETURN(json checkpoint,
                          ParseSigned(line, kCheckpointContext,
                                      {"v", "vault", "stream", "device", "key", "size", "root", "time"},
                                      "custody checkpoint"));
  if (!checkpoint["size"].is_number_unsigned() || !IsHex(checkpoint["root"], 32)) {
    return Fail(ErrorCode::kTampered, "the custody checkpoint has malformed fields");
  }
  return checkpoint;
}

CustodyProof MakeCustodyProof(std::span<const Hash> leaves, std::string checkpoint,
                              const std::vector<std::string>& earlier_checkpoints) {
  CustodyProof proof;
  proof.checkpoint = std::move(checkpoint);
  proof.leaves.assign(leaves.begin(), leaves.end());
  for (std::uint64_t i = 0; i < leaves.size(); ++i) proof.inclusion.push_back(InclusionProof(leaves, i));
  for (const auto& line : earlier_checkpoints) {
    auto parsed = ParseCheckpoint(line);
    if (!parsed) continue;
    const std::uint64_t size = (*parsed)["size"];
    if (size == 0 || size > leaves.size()) continue;
    proof.earlier.push_back({line, ConsistencyProof(leaves, size)});
  }
  return proof;
}

json CustodyProofToJson(const CustodyProof& proof) {
  json earlier = json::array();
  for (const auto& e : proof.earlier) {
    earlier.push_back({{"checkpoint", e.checkpoint}, {"consistency", HexList(e.consistency)}});
  }
  json inclusion = json::array();
  for (const auto& path : proof.inclusion) inclusion.push_back(HexList(path));
  return {{"hashing", "RFC 9162 (SHA-256; leaf = H(0x00 | line), node = H(0x01 | left | right))"},
          {"checkpoint", proof.checkpoint},
          {"leaves", HexList(proof.leaves)},
          {"inclusion", inclusion},
          {"earlier", earlier}};
}

Result<CustodyProof> CustodyProofFromJson(const json& j) {
  if (!j.is_object() || !j.contains("checkpoint") || !j["checkpoint"].is_string()) {
    return Fail(ErrorCode::kTampered, "the custody proof has no checkpoint");
  }
  CustodyProof proof;
  proof.checkpoint = j["checkpoint"].get<std::string>();
  EVAULT_ASSIGN_OR_RETURN(proof.leaves, HashList(j.value("leaves", json()), "leaves"));
  const json& inclusion = j.value("inclusion", json());
  if (!inclusion.is_array()) return Fail(ErrorCode::kTampered, "the custody proof's inclusion proofs are not a list");
  for (const auto& path : inclusion) {
    EVAULT_ASSIGN_OR_RETURN(auto hashes, HashList(path, "inclusion proof"));
    proof.inclusion.push_back(std::move(hashes));
  }
  const json& earlier = j.value("earlier", json::array());
  if (!earlier.is_array()) return Fail(ErrorCode::kTampered, "the custody proof's earlier checkpoints are not a list");
  for (const auto& e : earlier) {
    if (!e.is_object() || !e.contains("checkpoint") || !e["checkpoint"].is_string()) {
      return Fail(ErrorCode::kTampered, "an earlier checkpoint in the custody proof is malformed");
    }
    EVAULT_ASSIGN_OR_RETURN(auto consistency, HashList(e.value("consistency", json()), "consistency proof"));
    proof.earlier.push_back({e["checkpoint"].get<std::string>(), std::move(consistency)});
  }
  return proof;
}

namespace {

// The proof on its own: the signed checkpoint, its root from the leaves, and every
// inclusion and consistency proof.
void CheckProof(std::string_view vault_id, std::string_view stream, const CustodyProof& proof, CustodyReport& report) {
  auto checkpoint = ParseCheckpoint(proof.checkpoint);
  if (!checkpoint) {
    report.problems.push_back(checkpoint.error().message);
    return;
  }
  report.checkpoint_key = (*checkpoint)["key"];
  if ((*checkpoint)["vault"] != vault_id || (*checkpoint)["stream"] != stream) {
    report.problems.push_back("the custody checkpoint belongs to another vault or case");
  }
  const std::uint64_t size = (*checkpoint)["size"];
  const Hash root = RootOf(proof.leaves);
  if (size != proof.leaves.size() || (*checkpoint)["root"] != crypto::ToHex(root)) {
    report.problems.push_back(fmt::format(
        "the custody proof's {} leaf hashes do not give the checkpoint's root over {} entries", proof.leaves.size(), size));
    return;
  }
  if (proof.inclusion.size() != proof.leaves.size()) {
    report.problems.push_back("the custody proof lacks an inclusion proof for some entries");
  }
  for (std::size_t i = 0; i < std::min(proof.inclusion.size(), proof.leaves.size()); ++i) {
    if (!VerifyInclusion(i, size, proof.leaves[i], proof.inclusion[i], root)) {
      report.problems.push_back(fmt::format("the inclusion proof of custody entry {} does not verify", i + 1));
    }
  }
  for (const auto& earlier : proof.earlier) {
    auto old = ParseCheckpoint(earlier.checkpoint);
    if (!old) {
      report.problems.push_back("an earlier checkpoint: " + old.error().message);
      continue;
    }
    if ((*old)["vault"] != vault_id || (*old)["stream"] != stream) {
      report.problems.push_back("an earlier checkpoint belongs to another vault or case");
      continue;
    }
    const std::uint64_t old_size = (*old)["size"];
    const Hash old_root = HashList(json::array({(*old)["root"]}), "root").value()[0];
    if (!VerifyConsistency(old_size, size, old_root, root, earlier.consistency)) {
      report.problems.push_back(fmt::format(
          "the checkpoint of {} entries signed {} by device {} is not a prefix of this log: entries were removed or "
          "rewritten since",
          old_size, (*old)["time"].get<std::string>(), (*old)["device"].get<std::string>()));
    }
  }
}

// The lines against the signed leaves, naming what differs.
void CompareWithLeaves(std::span<const Hash> lines_leaves, std::span<const std::string> lines,
                       std::span<const Hash> signed_leaves, CustodyReport& report) {
  std::map<Hash, std::size_t> signed_at, line_at;
  for (std::size_t j = 0; j < signed_leaves.size(); ++j) signed_at.emplace(signed_leaves[j], j);
  for (std::size_t i = 0; i < lines_leaves.size(); ++i) line_at.emplace(lines_leaves[i], i);
  for (std::size_t i = 0; i < lines_leaves.size(); ++i) {
    auto it = signed_at.find(lines_leaves[i]);
    if (it == signed_at.end()) {
      const bool same_place_missing = i < signed_leaves.size() && !line_at.contains(signed_leaves[i]);
      auto parsed = ParseEntry(lines[i]);
      if (same_place_missing || !parsed) {
        report.problems.push_back(fmt::format("custody line {} was altered: it is not entry {} of the signed log",
                                              i + 1, i + 1));
      } else {
        report.problems.push_back(fmt::format("custody line {} ({}) was inserted: the signed log does not hold it",
                                              i + 1, Describe(*parsed)));
      }
    } else if (it->second != i) {
      report.problems.push_back(fmt::format("custody line {} is entry {} of the signed log: the entries were reordered",
                                            i + 1, it->second + 1));
    }
  }
  for (std::size_t j = 0; j < signed_leaves.size(); ++j) {
    if (line_at.contains(signed_leaves[j])) continue;
    const bool replaced = j < lines_leaves.size() && !signed_at.contains(lines_leaves[j]);
    if (!replaced) {
      report.problems.push_back(fmt::format("entry {} of the signed log is missing from the custody file: it was deleted",
                                            j + 1));
    }
  }
}

}  // namespace

CustodyReport VerifyCustodyLog(std::string_view vault_id, std::string_view stream, std::span<const std::string> lines,
                               const CustodyProof* proof, const std::map<std::string, ChainHead>& resume_after) {
  CustodyReport report;
  std::vector<Hash> leaves;
  std::map<std::string, ChainHead> chains = resume_after;  // device key -> where its chain stands
  for (std::size_t i = 0; i < lines.size(); ++i) {
    leaves.push_back(LeafHash(crypto::AsBytes(lines[i])));
    auto entry = ParseEntry(lines[i]);
    if (!entry) {
      report.problems.push_back(fmt::format("custody line {}: {}", i + 1, entry.error().message));
      continue;
    }
    ++report.entries;
    report.devices.insert((*entry)["device"].get<std::string>());
    if ((*entry)["vault"] != vault_id || (*entry)["stream"] != stream) {
      report.problems.push_back(fmt::format("custody line {} ({}) belongs to another vault or case", i + 1, Describe(*entry)));
      continue;
    }
    ChainHead& head = chains[(*entry)["key"].get<std::string>()];
    const std::uint64_t seq = (*entry)["seq"];
    if (seq != head.seq + 1) {
      if (seq <= head.seq) {
        report.problems.push_back(fmt::format("custody line {} ({}) comes after that device's entry #{}: repeated or "
                                              "reordered",
                                              i + 1, Describe(*entry), head.seq));
      } else {
        report.problems.push_back(fmt::format("custody line {} ({}): that device's entries #{} to #{} are missing "
                                              "(deleted)",
                                              i + 1, Describe(*entry), head.seq + 1, seq - 1));
      }
    } else if ((*entry)["prev"] != head.line_sha256) {
      report.problems.push_back(fmt::format("custody line {} ({}) does not follow that device's entry #{}: its chain is "
                                            "broken",
                                            i + 1, Describe(*entry), head.seq));
    }
    head = {std::max(seq, head.seq), LineSha256(lines[i])};
  }
  if (proof != nullptr) {
    CheckProof(vault_id, stream, *proof, report);
    CompareWithLeaves(leaves, lines, proof->leaves, report);
  }
  // A hostile log could name a problem per line; the first ones say what happened.
  if (report.problems.size() > kMaxProblems) {
    const std::size_t more = report.problems.size() - kMaxProblems;
    report.problems.resize(kMaxProblems);
    report.problems.push_back(fmt::format("... and {} more problems", more));
  }
  return report;
}

}  // namespace evault::audit
