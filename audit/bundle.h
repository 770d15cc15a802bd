// The export bundle: a BagIt 1.0 bag (audit/bagit.h) whose payload a court's expert can
// check with standard tools, and `evault verify` checks completely, offline, with no
// vault. Layout (format 1):
//
//   bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt
//   exporter.pub  allowed_signers  report.html           (all in tagmanifest-sha256.txt)
//   tagmanifest-sha256.txt  tagmanifest-sha256.txt.minisig  tagmanifest-sha256.txt.sshsig
//   data/case.json
//       the case exactly as stored: canonical JSON (sorted keys, no spaces, no newline)
//       {"author","case_id","created","status","tags","title"}; its SHA-256 is the
//       "sha256" of the case-create custody entry.
//   data/records/<record id>/<revision, 4 digits>-<revision id>.json
//       every revision of every record, exactly as stored: canonical JSON
//       {"author","case_id","created","parents","record","record_id","revision"}; its
//       SHA-256 is the "sha256" of the record-capture or record-edit custody entry whose
//       subject names this revision_id, signed by the device named in "author".
//   data/attachments/<attachment id>/<original file name, made safe>
//       the original bytes.
//   data/attachments/<attachment id>/metadata.json
//       canonical JSON {"attachment_id","captured","case_id","device","file_name",
//       "media_type","path","record_id","sha256","sha512","size"}; "path" is the
//       original's path in the bag; sha256 and size match the attachment-capture entry.
//   data/custody/custody-log.jsonl
//       the case's custody log (audit/custody.h), one entry per line, in log order.
//   data/custody/custody-proof.json
//       CustodyProofToJson: the checkpoint signed by the exporting device over every
//       line, the leaf hashes, inclusion proofs and earlier checkpoints' consistency.
//
// bag-info.txt carries, besides Payload-Oxum and Bagging-Date: External-Identifier (the
// case id), Evault-Bundle-Format (1), Evault-Vault-Id, Evault-Case-Id,
// Evault-Exporting-Device, Evault-Signer-Key (the Ed25519 key, hex), Evault-Export-Time,
// Evault-Export-Purpose, Evault-Custody-Entries and Evault-Custody-Root.
//
// bag-info's export time and purpose are those of the export entry, and every revision
// and attachment the case's custody log records is in the bundle (the exporter refuses
// to export a case whose evidence has not all arrived yet).
//
// The exporting device signs three things with the same key: the tag manifest (minisign
// and SSH signatures), the custody checkpoint, and the export's own custody entry, the
// last entry of its own in the log. Replacing the signer therefore means forging the
// whole log; `--signer` pins the key a court was given out of band.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/status.h"

namespace evault::audit {

inline constexpr char kBundleFormat[] = "1";
inline constexpr char kCaseFile[] = "case.json";                      // under data/
inline constexpr char kRecordsDir[] = "records";                      // under data/
inline constexpr char kAttachmentsDir[] = "attachments";              // under data/
inline constexpr char kAttachmentMetadataFile[] = "metadata.json";
inline constexpr char kCustodyLogFile[] = "custody/custody-log.jsonl";    // under data/
inline constexpr char kCustodyProofFile[] = "custody/custody-proof.json";  // under data/
inline constexpr char kReportFile[] = "report.html";                  // a tag file

// A file name from a capturing device, made safe as the last component of a payload
// path: no '/', '\\', '%', control characters; not empty, ".", ".." or the metadata
// file's name in any case; valid UTF-8; at most 100 bytes (cut at a UTF-8 boundary), the
// most a ustar name field holds.
std::string SafeFileName(std::string_view original);

struct BundleReport {
  std::string case_id;
  std::string vault_id;
  std::string exporting_device;
  std::string signer_key;          // hex Ed25519 key in exporter.pub
  std::string signer_fingerprint;  // SHA256:... as ssh-keygen shows it
  std::size_t records = 0;
  std::size_t revisions = 0;
  std::size_t attachments = 0;
  std::size_t custody_entries = 0;
  std::uint64_t payload_bytes = 0;
  std::vector<std::string> problems;  // each names the file (and entry) and what failed
  bool ok() const { return problems.empty(); }
};

// Checks the bag in `dir`: bagit.txt, Payload-Oxum, every manifest line (SHA-256 and
// SHA-512) and that no payload file is unlisted, the tag manifest, both signatures of
// it with the key in exporter.pub (and the same key in allowed_signers), the custody log
// against its proof and checkpoint (signed by the same key), and every case, revision
// and attachment file against its custody entry. `expected_signer` (hex Ed25519 key, or
// the SHA256: fingerprint) pins the signer. Fails (Result error) only when `dir` is not
// a bag at all; everything else is a problem in the report.
Result<BundleReport> VerifyBundle(const std::filesystem::path& dir,
                                  const std::optional<std::string>& expected_signer);

}  // namespace evault::audit
