// Vault: an encrypted evidence store in one directory.
//
// The directory holds `vault.header` (KDF parameters, salt, the wrapped device root
// key) and `db/`, a RocksDB database whose keys are random ids or keyed hashes and
// whose values are ciphertext. Nothing in it names a case, person, place, date or file,
// or shows how many records a case has; a seized copy reveals that a vault exists and
// its rough size.
//
// Contract: every method returns a Result; on error nothing was written. A successful
// write is durable (synced) before it returns. A Vault is used by one thread at a time;
// RocksDB's lock keeps a second process out.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/bytes.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::vault {

struct CaseInfo {
  std::string id;
  std::string title;
  std::string status;
  std::vector<std::string> tags;
  std::string created;
  std::string author;
};

struct RecordRevision {
  std::string record_id;
  std::string revision_id;  // the id of this immutable revision
  std::string case_id;
  std::uint64_t revision = 0;  // 1 for the first; max(parents) + 1 after
  std::vector<std::string> parents;
  std::string created;
  std::string author;
  nlohmann::json data;  // the validated record fields
};

struct RecordView {
  std::string record_id;
  std::string case_id;
  std::vector<RecordRevision> heads;    // more than one: concurrent edits (a conflict)
  std::vector<RecordRevision> history;  // every revision, oldest first (when asked for)
  bool conflict() const { return heads.size() > 1; }
};

struct RecordSummary {
  std::string record_id;
  std::string case_id;
  std::string kind;
  std::string title;
  std::uint64_t revision = 0;
  bool conflict = false;
};

struct AttachmentInfo {
  std::string id;
  std::string record_id;
  std::string case_id;
  std::string sha256;  // hex, of the original bytes
  std::uint64_t size = 0;
  std::uint64_t chunks = 0;
  std::string media_type;
  std::string file_name;
  std::string captured;  // UTC, ISO 8601
  std::string device;
};

// One signed custody entry (audit/custody.h) as this device's log holds it.
struct AuditEntry {
  std::string case_id;  // empty: the vault's own log (sync, membership, purge)
  std::uint64_t index = 0;  // its position in that log, from 1
  std::string line;     // the signed entry, exactly as exported
  nlohmann::json fields;
};

struct AuditCheck {
  std::size_t logs = 0;
  std::size_t entries = 0;
  std::size_t devices = 0;
  std::size_t checkpoints = 0;
  std::vector<std::string> problems;  // each names the log, the entry and what failed
  bool ok() const { return problems.empty(); }
};

struct ExportOptions {
  std::filesystem::path out;  // a new directory; with age_recipient, a new file
  std::string purpose;        // one line, recorded in bag-info, the report and the custody log
  std::string age_recipient;  // "age1...": the bag as a tar stream encrypted to this key
};

struct ExportSummary {
  std::string case_id;
  std::size_t records = 0;
  std::size_t revisions = 0;
  std::size_t attachments = 0;
  std::size_t custody_entries = 0;
  std::uint64_t payload_bytes = 0;
  std::string signer_identity;     // the allowed_signers identity
  std::string signer_fingerprint;  // SHA256:... of the signing key
};

using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;
using SinkFn = std::function<Status(crypto::ByteView)>;

class Vault {
 public:
  // Creates a new vault in `dir` (which must not exist or be empty) and returns the
  // new device's id.
  static Result<std::string> Create(const std::filesystem::path& dir,
                                    const crypto::SecretBytes& passphrase,
                                    const crypto::PassphraseKdfParams& kdf);
  // Creates the local vault of a device joining an existing vault (`init --join`): it
  // can read and write only once an ADMIT sealing the vault key to it has been synced.
  static Result<std::string> CreateJoining(const std::filesystem::path& dir,
                                           const crypto::SecretBytes& passphrase,
                                           const crypto::PassphraseKdfParams& kdf,
                                           std::string_view vault_id);
  static Result<std::unique_ptr<Vault>> Open(const std::filesystem::path& dir,
                                             const crypto::SecretBytes& passphrase);
  ~Vault();

  const std::string& device_id() const;
  const std::string& vault_id() const;

  // Re-wraps the device root key; nothing else is re-encrypted. Without `kdf`, or with
  // the same Argon2id cost, the header's parameters and salt are kept; with new ones
  // the duress passphrase stops working (its slot is bound to them) and is cleared.
  Status ChangePassphrase(const crypto::SecretBytes& new_passphrase,
                          const std::optional<crypto::PassphraseKdfParams>& kdf = std::nullopt);

  // --- For the person holding the device ---------------------------------------
  // Destroys the vault in `dir` without asking for its passphrase: the header's wrapped
  // keys are overwritten in place and synced first (after that nothing in the database
  // can be decrypted, even with the passphrase), then the database is deleted. Only a
  // vault's own files are removed; a directory that is not a vault is left alone.
  static Status Panic(const std::filesystem::path& dir);
  // A new recovery key (header slot 1), replacing any earlier one; its printable form
  // (recovery_key.h) is returned once and stored nowhere.
  Result<crypto::SecretBytes> NewRecoveryKey();
  // Sets a new passphrase with the printed recovery key, which keeps working. Like any
  // unlock it takes the vault's lock: kIo while another process has the vault open.
  static Status Recover(const std::filesystem::path& dir, const crypto::SecretBytes& recovery_key,
                        const crypto::SecretBytes& new_passphrase);
  // Entered where the passphrase is asked for, the duress passphrase silently destroys
  // this vault's keys and data and opens an empty vault instead, whose passphrase it
  // then is. Evidence already synced stays on the server and with the other offices.
  Status SetDuressPassphrase(const crypto::SecretBytes& duress_passphrase);
  Status ClearDuressPassphrase();
  // Unlock sessions: a fresh random key (kept by the caller in the kernel keyring,
  // never on disk) that opens this vault without the passphrase. It seals the root in
  // header slot 3, replacing any earlier session, so the root never leaves the library,
  // and a panic, a duress unlock, a new passphrase or EndSessions ends every copy of
  // the key at once, wherever it was kept.
  Result<crypto::SecretBytes> StartSession();
  static Status EndSessions(const std::filesystem::path& dir);
  // kWrongPassphrase if the session has ended.
  static Result<std::unique_ptr<Vault>> OpenWithSessionKey(const std::filesystem::path& dir,
                                                           const crypto::SecretBytes& session_key);

  Result<CaseInfo> CreateCase(std::string_view title, const std::vector<std::string>& tags);
  Result<std::vector<CaseInfo>> ListCases();
  Result<CaseInfo> GetCase(std::string_view case_id);

  // `record_json` is parsed and validated (see record.h).
  Result<RecordRevision> AddRecord(std::string_view case_id, std::string_view record_json);
  // Adds new records to one case in a single atomic write (AddRecord is the batch of
  // one): every record is parsed and validated before anything is written, so one bad
  // record fails the call (its message starts "record N: ", N counting from 1, in a
  // batch of more than one) and nothing is stored. Roles are checked as for AddRecord;
  // an empty batch checks only that this device may add records to the case. The
  // whole batch is held in memory until it commits: an import of many records calls
  // this once per few thousand.
  Result<std::vector<RecordRevision>> AddRecords(std::string_view case_id,
                                                 std::span<const std::string> record_jsons);
  // A new revision whose parents are all current heads (so it also resolves a conflict).
  Result<RecordRevision> EditRecord(std::string_view record_id, std::string_view record_json);
  Result<RecordView> GetRecord(std::string_view record_id, bool with_history);
  Result<std::vector<RecordSummary>> ListRecords(std::optional<std::string_view> case_id);
  // Records any revision of which contains every word of `text` (case-insensitive).
  Result<std::vector<RecordSummary>> Search(std::string_view text);

  // Streams `file` in 1 MiB chunks; memory use does not grow with its size. The
  // attachment becomes visible only once every chunk and its manifest are durable.
  Result<AttachmentInfo> AddAttachment(std::string_view record_id,
                                       const std::filesystem::path& file,
                                       const ProgressFn& progress = {});
  Result<AttachmentInfo> GetAttachment(std::string_view attachment_id);
  Result<std::vector<AttachmentInfo>> ListAttachments(std::string_view record_id);
  // Hands the original bytes to `sink` chunk by chunk, each chunk authenticated before
  // it is handed over; fails with kTampered if a chunk, the size or the SHA-256 differs.
  Status ReadAttachment(std::string_view attachment_id, const SinkFn& sink,
                        const ProgressFn& progress = {});

  // The custody log. Creating a case, capturing and editing a record, viewing a record
  // (GetRecord), capturing and reading an attachment, granting a case, exporting,
  // syncing, membership changes and purges each append an entry signed by this device,
  // in the same transaction as the action (a view: before anything is shown). Listings
  // and searches, which show titles only, are not logged.
  // Entries in log order: of one case, or of every log this device holds.
  Result<std::vector<AuditEntry>> AuditLog(std::optional<std::string_view> case_id);
  // Checks every log: each entry's signature, each device's chain, and every checkpoint
  // this device signed against the entries now in the log.
  Result<AuditCheck> VerifyAuditLog();

  // Writes the case as a signed BagIt bundle (audit/bundle.h): every revision of every
  // record, every original attachment byte for byte, the case's custody log with a
  // checkpoint this device signs now, and report.html. The export is logged first, so
  // the bundle's log includes it. On error nothing is left at `options.out`.
  Result<ExportSummary> Export(std::string_view case_id, const ExportOptions& options,
                               const ProgressFn& progress = {});

 public:
  struct Impl;  // defined in vault_impl.h; named here only for the implementation files

 private:
  friend class SyncState;
  explicit Vault(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace evault::vault
