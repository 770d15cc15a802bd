// The custody log: who did what to which evidence, when, on which device; in a form a
// court's expert can check with no vault, no network and no trust in the exporter.
//
// An entry is one line of canonical JSON (sorted keys, no spaces), signed by the acting
// device's Ed25519 key:
//   {"action","device","key","prev","seq","sig","stream","subject","time","v":1,"vault"}
// `stream` is the case id (hex), or "" for the vault's own log (sync, membership, purge).
// Each device chains its entries per stream: `seq` counts from 1 and `prev` is the
// SHA-256 (hex) of the device's previous line in that stream, so a deleted, inserted or
// reordered entry of one device breaks its chain. `sig` signs
// "evault-custody-entry-v1\n" | the line without "sig".
//
// A stream's log is a Merkle tree (RFC 6962/9162, audit/merkle.h) over its lines in
// the order the keeping device learned them; a checkpoint signs its size and root:
//   {"device","key","root","sig","size","stream","time","v":1,"vault"}
// signed over "evault-custody-checkpoint-v1\n" | the line without "sig". Consistency
// proofs from earlier checkpoints show that nothing was removed or rewritten since.
//
// Contract: the signers take the fields and return the line; the verifiers take only
// text and name, per line or entry, everything that does not hold. Nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/merkle.h"
#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"

namespace evault::audit {

// What actions are recorded. An entry with any other action is refused.
namespace action {
inline constexpr char kCaseCreate[] = "case-create";
inline constexpr char kRecordCapture[] = "record-capture";
inline constexpr char kRecordEdit[] = "record-edit";
inline constexpr char kRecordView[] = "record-view";
inline constexpr char kAttachmentCapture[] = "attachment-capture";
inline constexpr char kAttachmentRead[] = "attachment-read";
inline constexpr char kCaseGrant[] = "case-grant";
inline constexpr char kExport[] = "export";
inline constexpr char kSync[] = "sync";
inline constexpr char kMembership[] = "membership";
inline constexpr char kPurge[] = "purge";
}  // namespace action
bool IsCustodyAction(std::string_view name);

// Where a device's chain in one stream stands: its last seq and that line's SHA-256.
struct ChainHead {
  std::uint64_t seq = 0;
  std::string line_sha256;  // hex; empty before the first entry
};

// The device id evault shows for a signing key (hex of 16 bytes of its BLAKE2b hash).
std::string DeviceIdOf(crypto::ByteView signing_public_key);
// SHA-256 (hex) of a line: the `prev` of the entry that follows it.
std::string LineSha256(std::string_view line);

// A signed entry line following `head`. `subject` must be a JSON object.
std::string SignEntry(const crypto::SigningKeyPair& device, std::string_view vault_id, std::string_view stream,
                      const ChainHead& head, std::string_view time, std::string_view action,
                      const nlohmann::json& subject);
// One line on its own: canonical, complete, of a known action, device id matching its
// key, signature valid. Returns the parsed fields.
Result<nlohmann::json> ParseEntry(std::string_view line);

std::string SignCheckpoint(const crypto::SigningKeyPair& device, std::string_view vault_id, std::string_view stream,
                           std::uint64_t size, const Hash& root, std::string_view time);
Result<nlohmann::json> ParseCheckpoint(std::string_view line);

// What an export carries so the log can be held to its checkpoint: the leaf hashes the
// checkpoint signs, an inclusion proof per leaf, and the keeper's earlier checkpoints
// of the same stream with consistency proofs to this one.
struct CustodyProof {
  struct Earlier {
    std::string checkpoint;
    std::vector<Hash> consistency;
  };
  std::string checkpoint;
  std::vector<Hash> leaves;
  std::vector<std::vector<Hash>> inclusion;
  std::vector<Earlier> earlier;
};
// `earlier_checkpoints` of sizes 1..leaves.size() (others are left out).
CustodyProof MakeCustodyProof(std::span<const Hash> leaves, std::string checkpoint,
                              const std::vector<std::string>& earlier_checkpoints);
nlohmann::json CustodyProofToJson(const CustodyProof& proof);
Result<CustodyProof> CustodyProofFromJson(const nlohmann::json& json);

struct CustodyReport {
  std::size_t entries = 0;
  std::set<std::string> devices;
  std::string checkpoint_key;  // hex signing key of the checkpoint, when one was checked
  std::vector<std::string> problems;  // each names the line or entry and what failed
  bool ok() const { return problems.empty(); }
};

// Checks a stream's lines in log order: each line (ParseEntry), that it belongs to
// `vault_id` and `stream`, each device's chain (gaps, repeats, broken links), and with
// `proof`: the checkpoint's signature, that the leaves give its root, every inclusion
// and consistency proof, and line by line that the file holds exactly the signed
// entries in the signed order, naming each deleted, inserted, altered or reordered one.
// `resume_after` (device key hex -> head) names devices whose earlier entries were
// purged from this copy of the log: their chains continue from there.
CustodyReport VerifyCustodyLog(std::string_view vault_id, std::string_view stream,
                               std::span<const std::string> lines, const CustodyProof* proof,
                               const std::map<std::string, ChainHead>& resume_after = {});

}  // namespace evault::audit
