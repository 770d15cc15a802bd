// Local vault operations: create, open, cases, records, search, attachments.
#include "vault/vault.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <memory>

#include "vault/recovery_key.h"
#include "vault/vault_impl.h"

namespace evault::vault {

Vault::Vault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vault::~Vault() = default;

const std::string& Vault::device_id() const { return impl_->device_id; }
const std::string& Vault::vault_id() const { return impl_->vault_id_hex; }

namespace {

Result<std::string> CreateVaultFiles(const fs::path& dir, const VaultHeader& header, SymmetricKey root,
                                     bool founding);

// Creates the directory, keys and database of a new vault. A founding device (no
// vault id given) generates the vault read key and signs GENESIS; a joining device
// gets the read key later, sealed to it in the ADMIT that answers its invite.
Result<std::string> CreateVaultIn(const fs::path& dir, const SecretBytes& passphrase,
                                  const crypto::PassphraseKdfParams& kdf,
                                  const std::optional<Bytes>& joining_vault_id) {
  crypto::EnsureSodium();
  EVAULT_TRY(crypto::CheckKdfParams(kdf));
  if (passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  std::error_code ec;
  bool created_dir = false;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Fail(ErrorCode::kAlreadyExists, fmt::format("{} exists and is not a directory", dir.string()));
    }
    if (fs::exists(dir / kHeaderFileName, ec)) {
      return Fail(ErrorCode::kAlreadyExists, fmt::format("{} already holds a vault", dir.string()));
    }
    if (!fs::is_empty(dir, ec)) {
      return Fail(ErrorCode::kAlreadyExists, fmt::format("{} is not empty", dir.string()));
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
    created_dir = true;
  }
  ::chmod(dir.c_str(), 0700);
  SymmetricKey root = SymmetricKey::Generate();
  VaultHeader header = NewHeader(joining_vault_id ? *joining_vault_id : crypto::RandomBytes(kIdBytes), kdf);
  auto created = [&]() -> Result<std::string> {
    EVAULT_ASSIGN_OR_RETURN(SymmetricKey kek, PassphraseKek(header, passphrase));
    SealSlot(header, kPassphraseSlot, kek, root);
    return CreateVaultFiles(dir, header, std::move(root), /*founding=*/!joining_vault_id);
  }();
  if (!created) {
    // Leave nothing behind: a half-made vault must not be mistaken for one.
    if (created_dir) {
      fs::remove_all(dir, ec);
    } else {
      fs::remove_all(dir / kDatabaseDirName, ec);
      fs::remove(dir / kHeaderFileName, ec);
    }
  }
  return created;
}

Result<std::string> CreateVaultFiles(const fs::path& dir, const VaultHeader& header, SymmetricKey root,
                                     bool founding) {
  auto impl = std::make_unique<Vault::Impl>();
  impl->dir = dir;
  impl->header = header;
  impl->root = std::move(root);
  impl->DeriveKeys();
  impl->signing = crypto::SigningKeyPair::Generate();
  impl->box = crypto::BoxKeyPair::Generate();
  {
    std::vector<crypto::BoxKeyPair> self;
    self.push_back(crypto::BoxKeyPair::Generate());
    impl->keyring.SetSelfKeys(std::move(self));
  }

  // The database first, the header last: an interrupted init leaves no vault behind
  // that could be mistaken for a good one.
  EVAULT_TRY(impl->OpenDb(/*create=*/true));
  impl->MakeIndexesAndCodec();
  Vault::Impl::Txn t = impl->Begin();
  t.batch.Put(Slice(impl->Name("local-secrets")), impl->StoreLocalSecrets());
  if (founding) {
    sync::v1::MembershipOp genesis;
    genesis.set_kind(sync::v1::MembershipOp::GENESIS);
    genesis.mutable_subject()->set_signing_key(Str(impl->signing->public_key()));
    genesis.mutable_subject()->set_box_key(Str(impl->box->public_key()));
    genesis.set_role(sync::v1::OWNER);
    genesis.set_created(NowUtc());
    // Epoch 1 begins: its public keys are published, its secret sealed to the owner.
    const SymmetricKey epoch_secret = SymmetricKey::Generate();
    EVAULT_ASSIGN_OR_RETURN(EpochKeyPairs epoch, DeriveEpochKeys(epoch_secret));
    genesis.set_epoch(1);
    genesis.set_epoch_readers_key(Str(epoch.readers.public_key()));
    genesis.set_epoch_members_key(Str(epoch.members.public_key()));
    auto* key = genesis.add_keys();
    key->set_kind(sync::v1::SealedKey::EPOCH_SECRET);
    key->set_recipient(Str(impl->signing->public_key()));
    key->set_epoch(1);
    EVAULT_ASSIGN_OR_RETURN(Bytes sealed, crypto::SealToPublicKey(impl->box->public_key(), epoch_secret.bytes().span()));
    key->set_sealed(Str(sealed));
    EVAULT_TRY(impl->PutMembershipOp(t, genesis));
  }
  EVAULT_TRY(impl->Commit(t));
  EVAULT_TRY(WriteHeader(dir, impl->header));
  return impl->device_id;
}

// Index blocks written ahead for a commit that never came (the process died during a
// large merge) are listed by markers, which the next commit deletes with them: one is
// made now, so they do not wait for the next write.
Status SweepIndexWriteAhead(Vault::Impl& impl) {
  bool found = false;
  for (EncryptedIndex* index : {impl.catalog.get(), impl.search.get()}) {
    EVAULT_ASSIGN_OR_RETURN(bool left, index->FindAbandonedBlocks());
    found = found || left;
  }
  if (!found) return Ok();
  Vault::Impl::Txn t = impl.Begin();
  return impl.Commit(t);
}

// Everything after the root key is known: the database, the device keys, the state.
Result<std::unique_ptr<Vault::Impl>> OpenUnlocked(const fs::path& dir, VaultHeader header, SymmetricKey root) {
  auto impl = std::make_unique<Vault::Impl>();
  impl->dir = dir;
  impl->header = std::move(header);
  impl->root = std::move(root);
  impl->DeriveKeys();
  EVAULT_TRY(impl->OpenDb(/*create=*/false));
  EVAULT_TRY(impl->LoadLocalSecrets());
  impl->MakeIndexesAndCodec();
  EVAULT_TRY(impl->LoadRoot());
  EVAULT_TRY(SweepIndexWriteAhead(*impl));
  EVAULT_TRY(impl->SplitLegacyIndexSegments());
  EVAULT_TRY(impl->LoadMembership());
  EVAULT_TRY(impl->SweepInterruptedUploads());
  return impl;
}

// Where a duress unlock builds the decoy: beside the vault (so on the same file system,
// where one rename(2) can exchange the two), under a name that does not say "decoy".
fs::path DecoyStagingDir(const fs::path& dir) {
  fs::path abs = fs::absolute(dir).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();  // "vault/" names "vault"
  return abs.parent_path() / ("." + abs.filename().string() + ".evault-tmp");
}

// Whether `dir` can be swapped whole for the staged decoy: a real directory (not a
// symlink: the link would move, not the vault) holding nothing but the vault's own
// files, since whatever it holds is deleted with the real database afterwards.
bool SwappableVaultDir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_symlink(dir, ec) || !fs::is_directory(dir, ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name != kHeaderFileName && name != kDatabaseDirName && name != std::string(kHeaderFileName) + ".new") {
      return false;
    }
  }
  return !ec;
}

// A staging directory left by an interrupted duress unlock holds a decoy being built or,
// after the exchange, the real database without its keys: never anything that opens the
// real vault. Removed only if it holds nothing but a vault's files.
void RemoveLeftoverStaging(const fs::path& dir) {
  const fs::path staging = DecoyStagingDir(dir);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(staging, ec)) && SwappableVaultDir(staging)) fs::remove_all(staging, ec);
}

// The duress passphrase was entered: the real keys are destroyed and an empty vault
// whose passphrase is the duress passphrase takes the real one's place. Nothing is
// printed or returned that differs from an ordinary unlock.
//
// The decoy is made first, beside the vault, while the real vault is still whole; then
// the real header is overwritten in place and synced (the keys are gone from here on);
// then one renameat2(RENAME_EXCHANGE) puts the decoy where the vault was, and the real,
// keyless database is deleted last. So a power cut leaves the real vault (before the
// header is shredded: entering the duress passphrase again redoes it), the decoy
// (after the exchange), or, only between two consecutive syscalls, a directory without
// a header. Where the exchange is impossible (another file system, a symlinked or
// shared directory) the decoy is made in place after deleting the real database, as
// before: the window without a header is then that long.
Status ReplaceWithDecoy(const fs::path& dir, const VaultHeader& real, const UnlockedRoot& unlocked) {
  VaultHeader decoy = NewHeader(real.vault_id, real.kdf);
  SealSlot(decoy, kPassphraseSlot, unlocked.kek, unlocked.root);
  std::error_code ec;
  const fs::path staging = DecoyStagingDir(dir);
  RemoveLeftoverStaging(dir);
  // Made here, or not used: a directory of that name that is not a vault's is never
  // touched.
  const bool created = SwappableVaultDir(dir) && fs::create_directory(staging, ec) && !ec;
  bool staged = false;
  if (created) {
    ::chmod(staging.c_str(), 0700);
    staged = CreateVaultFiles(staging, decoy, unlocked.root.Clone(), /*founding=*/true).has_value();
  }
  EVAULT_TRY(ShredHeader(dir));
  if (staged && ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    if (const int parent = ::open(staging.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); parent >= 0) {
      ::fsync(parent);
      ::close(parent);
    }
    // The real database, keyless ciphertext now. Best effort: an error here would make
    // this unlock look different from an ordinary one; the next unlock removes a leftover.
    fs::remove_all(staging, ec);
    return Ok();
  }
  if (created) fs::remove_all(staging, ec);
  fs::remove_all(dir / kDatabaseDirName, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot open the vault in {}", dir.string()));
  EVAULT_TRY(CreateVaultFiles(dir, decoy, unlocked.root.Clone(), /*founding=*/true));
  return Ok();
}

}  // namespace

Result<std::string> Vault::Create(const fs::path& dir, const SecretBytes& passphrase,
                                  const crypto::PassphraseKdfParams& kdf) {
  return CreateVaultIn(dir, passphrase, kdf, std::nullopt);
}

Result<std::string> Vault::CreateJoining(const fs::path& dir, const SecretBytes& passphrase,
                                         const crypto::PassphraseKdfParams& kdf,
                                         std::string_view vault_id) {
  EVAULT_ASSIGN_OR_RETURN(Bytes id, ParseId("vault", vault_id));
  return CreateVaultIn(dir, passphrase, kdf, id);
}

Result<std::unique_ptr<Vault>> Vault::Open(const fs::path& dir, const SecretBytes& passphrase) {
  crypto::EnsureSodium();
  EVAULT_ASSIGN_OR_RETURN(VaultHeader header, ReadHeader(dir));
  EVAULT_ASSIGN_OR_RETURN(UnlockedRoot unlocked, UnlockWithPassphrase(header, passphrase));
  if (unlocked.slot == kDuressSlot) {
    EVAULT_TRY(ReplaceWithDecoy(dir, header, unlocked));
    EVAULT_ASSIGN_OR_RETURN(header, ReadHeader(dir));
  } else if (header.legacy) {
    // A header from before recovery keys and duress: rewritten with three slots, the
    // new two random filler, so it looks like every other header.
    VaultHeader upgraded = NewHeader(header.vault_id, header.kdf);
    upgraded.format_version = header.format_version;
    SealSlot(upgraded, kPassphraseSlot, unlocked.kek, unlocked.root);
    EVAULT_TRY(WriteHeader(dir, upgraded));
    header = std::move(upgraded);
  }
  EVAULT_ASSIGN_OR_RETURN(auto impl, OpenUnlocked(dir, std::move(header), std::move(unlocked.root)));
  RemoveLeftoverStaging(dir);
  return std::unique_ptr<Vault>(new Vault(std::move(impl)));
}

Result<std::unique_ptr<Vault>> Vault::OpenWithSessionKey(const fs::path& dir, const SecretBytes& session_key) {
  crypto::EnsureSodium();
  EVAULT_ASSIGN_OR_RETURN(VaultHeader header, ReadHeader(dir));
  auto key = SymmetricKey::FromBytes(session_key.Clone());
  if (!key || header.legacy) return Fail(ErrorCode::kWrongPassphrase, "the unlock session has ended");
  auto root = OpenSlot(header, kSessionSlot, *key);
  if (!root) return Fail(ErrorCode::kWrongPassphrase, "the unlock session has ended");
  EVAULT_ASSIGN_OR_RETURN(auto impl, OpenUnlocked(dir, std::move(header), std::move(*root)));
  return std::unique_ptr<Vault>(new Vault(std::move(impl)));
}

Result<SecretBytes> Vault::StartSession() {
  SymmetricKey key = SymmetricKey::Generate();
  VaultHeader h = impl_->header;
  SealSlot(h, kSessionSlot, key, *impl_->root);
  EVAULT_TRY(WriteHeader(impl_->dir, h));
  impl_->header = std::move(h);
  return key.bytes().Clone();
}

Status Vault::EndSessions(const fs::path& dir) {
  EVAULT_ASSIGN_OR_RETURN(VaultHeader h, ReadHeader(dir));
  if (h.legacy) return Ok();  // a one-slot header has no session slot
  ClearSlot(h, kSessionSlot);
  return WriteHeader(dir, h);
}

Status Vault::ChangePassphrase(const SecretBytes& new_passphrase,
                               const std::optional<crypto::PassphraseKdfParams>& kdf) {
  if (new_passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  VaultHeader h = impl_->header;
  const bool new_params =
      kdf && (kdf->ops_limit != h.kdf.ops_limit || kdf->mem_limit_bytes != h.kdf.mem_limit_bytes);
  if (new_params) {
    // The duress slot is bound to the old parameters, and its passphrase is not known
    // here to re-seal it: it is cleared (the CLI says so).
    EVAULT_TRY(crypto::CheckKdfParams(*kdf));
    h.kdf = *kdf;
    ClearSlot(h, kDuressSlot);
  }
  EVAULT_ASSIGN_OR_RETURN(SymmetricKey kek, PassphraseKek(h, new_passphrase));
  if (!new_params && OpenSlot(h, kDuressSlot, kek)) {
    return Fail(ErrorCode::kInvalidArgument, "the new passphrase is the duress passphrase; choose another");
  }
  SealSlot(h, kPassphraseSlot, kek, *impl_->root);
  ClearSlot(h, kSessionSlot);  // a new passphrase (say, after a leak) ends every unlock session
  EVAULT_TRY(WriteHeader(impl_->dir, h));
  impl_->header = std::move(h);
  return Ok();
}

Result<SecretBytes> Vault::NewRecoveryKey() {
  RecoveryKey key = RecoveryKey::Generate();
  VaultHeader h = impl_->header;
  SealSlot(h, kRecoverySlot, RecoveryKek(key.key()), *impl_->root);
  EVAULT_TRY(WriteHeader(impl_->dir, h));
  impl_->header = std::move(h);
  return key.Format();
}

Status Vault::Recover(const fs::path& dir, const SecretBytes& recovery_key, const SecretBytes& new_passphrase) {
  crypto::EnsureSodium();
  if (new_passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  EVAULT_ASSIGN_OR_RETURN(VaultHeader h, ReadHeader(dir));
  if (h.legacy) {
    return Fail(ErrorCode::kNotFound, "this vault has no recovery key (it was made before recovery keys)");
  }
  EVAULT_ASSIGN_OR_RETURN(RecoveryKey key, RecoveryKey::Parse(recovery_key.view()));
  auto root = OpenSlot(h, kRecoverySlot, RecoveryKek(key.key()));
  if (!root) return Fail(ErrorCode::kWrongPassphrase, "wrong recovery key (or the vault header was altered)");
  // Opened like any unlock: it holds the database's lock, so no running evault rewrites
  // the header under this one, and it proves the recovered root fits the database.
  EVAULT_ASSIGN_OR_RETURN(auto impl, OpenUnlocked(dir, std::move(h), std::move(*root)));
  Vault vault(std::move(impl));
  return vault.ChangePassphrase(new_passphrase, std::nullopt);
}

Status Vault::SetDuressPassphrase(const SecretBytes& duress_passphrase) {
  if (duress_passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the duress passphrase is empty");
  VaultHeader h = impl_->header;
  EVAULT_ASSIGN_OR_RETURN(SymmetricKey kek, PassphraseKek(h, duress_passphrase));
  if (OpenSlot(h, kPassphraseSlot, kek)) {
    return Fail(ErrorCode::kInvalidArgument, "the duress passphrase must differ from the passphrase");
  }
  // The decoy's root: a fresh key nothing else uses; the decoy vault is made with it
  // only when the duress passphrase is entered.
  SealSlot(h, kDuressSlot, kek, SymmetricKey::Generate());
  EVAULT_TRY(WriteHeader(impl_->dir, h));
  impl_->header = std::move(h);
  return Ok();
}

Status Vault::ClearDuressPassphrase() {
  VaultHeader h = impl_->header;
  ClearSlot(h, kDuressSlot);
  EVAULT_TRY(WriteHeader(impl_->dir, h));
  impl_->header = std::move(h);
  return Ok();
}

Status Vault::Panic(const fs::path& dir) {
  std::error_code ec;
  // A vault is a header with evault's magic (damaged or not), or, after an interrupted
  // panic, a header-less RocksDB database. Any other db/ is someone else's.
  std::string magic(8, '\0');
  {
    std::ifstream in(dir / kHeaderFileName, std::ios::binary);
    in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  }
  const bool has_header = magic == std::string("EVAULT\0\1", 8);
  const bool has_orphan_db = !fs::exists(fs::symlink_status(dir / kHeaderFileName, ec)) &&
                             fs::is_regular_file(dir / kDatabaseDirName / "CURRENT", ec) &&
                             fs::is_regular_file(dir / kDatabaseDirName / "IDENTITY", ec);
  if (!has_header && !has_orphan_db) {
    return Fail(ErrorCode::kNotAVault, fmt::format("{} is not an evault vault; nothing was destroyed", dir.string()));
  }
  // Keys first: once the wrapped root is overwritten, nothing in db/ can be decrypted,
  // with or without the passphrase, and the rest is only deleting ciphertext.
  EVAULT_TRY(ShredHeader(dir));
  fs::remove_all(dir / kDatabaseDirName, ec);
  if (ec) {
    return Fail(ErrorCode::kIo, fmt::format("the keys are destroyed, but {} could not be deleted: {}",
                                            (dir / kDatabaseDirName).string(), ec.message()));
  }
  fs::remove(dir, ec);  // only if empty: never delete what is not the vault's
  return Ok();
}

Result<CaseInfo> Vault::CreateCase(std::string_view title, const std::vector<std::string>& tags) {
  EVAULT_TRY(impl_->RequireWriter());
  EVAULT_TRY(ValidateLabel("case title", title, 1000));
  for (const auto& tag : tags) EVAULT_TRY(ValidateLabel("tag", tag, 200));
  CaseInfo c;
  const Bytes case_id = crypto::RandomBytes(kIdBytes);
  c.id = Hex(case_id);
  c.title = std::string(title);
  c.status = "open";
  c.tags = tags;
  c.created = NowUtc();
  c.author = impl_->device_id;
  json body = {{"case_id", c.id}, {"title", c.title},     {"status", c.status},
               {"tags", c.tags},  {"created", c.created}, {"author", c.author}};
  Impl::Txn t = impl_->Begin();
  EVAULT_ASSIGN_OR_RETURN(Bytes object_id, impl_->PutObject(t, {ObjectKind::kCase, case_id, 1, case_id},
                                                            CanonicalJson(body), SymmetricKey::Generate()));
  impl_->catalog->Put(0, fmt::format("case/{}", c.id), Hex(object_id));
  EVAULT_TRY(impl_->Audit(t, c.id, audit::action::kCaseCreate,
                          {{"case_id", c.id}, {"sha256", audit::LineSha256(CanonicalJson(body))}}));
  EVAULT_TRY(impl_->Commit(t));
  return c;
}

Result<CaseInfo> Vault::GetCase(std::string_view case_id) {
  EVAULT_TRY(ParseId("case", case_id));
  return impl_->LoadCase(case_id);
}

Result<std::vector<CaseInfo>> Vault::ListCases() {
  EVAULT_ASSIGN_OR_RETURN(auto entries, impl_->catalog->Scan(0, "case/"));
  std::vector<CaseInfo> out;
  for (const auto& [key, object_id] : entries) {
    EVAULT_ASSIGN_OR_RETURN(CaseInfo c, impl_->LoadCase(std::string_view(key).substr(5)));
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(), [](const CaseInfo& a, const CaseInfo& b) { return a.created < b.created; });
  return out;
}

Result<RecordRevision> Vault::AddRecord(std::string_view case_id, std::string_view record_json) {
  const std::string one[] = {std::string(record_json)};
  EVAULT_ASSIGN_OR_RETURN(auto added, AddRecords(case_id, one));
  return std::move(added.front());
}

Result<std::vector<RecordRevision>> Vault::AddRecords(std::string_view case_id,
                                                      std::span<const std::string> record_jsons) {
  EVAULT_TRY(ParseId("case", case_id));
  std::vector<json> records;
  records.reserve(record_jsons.size());
  for (std::size_t i = 0; i < record_jsons.size(); ++i) {
    auto record = ParseRecordJson(record_jsons[i]);
    if (!record && record_jsons.size() > 1) {
      return Fail(record.error().code, fmt::format("record {}: {}", i + 1, record.error().message));
    }
    if (!record) return std::unexpected(std::move(record.error()));
    records.push_back(std::move(*record));
  }
  EVAULT_TRY(impl_->RequireWriter());
  EVAULT_TRY(impl_->RequireKnownCase(case_id));
  std::vector<RecordRevision> added;
  if (records.empty()) return added;
  // One transaction: the objects, index entries and custody entries of every record
  // commit together (one fsync), or none of them does.
  Impl::Txn t = impl_->Begin();
  for (const json& record : records) {
    const std::string record_id = Hex(crypto::RandomBytes(kIdBytes));
    EVAULT_ASSIGN_OR_RETURN(RecordRevision r, impl_->StageRevision(t, case_id, record_id, record, {}, 1));
    added.push_back(std::move(r));
  }
  EVAULT_TRY(impl_->Commit(t));
  return added;
}

Result<RecordRevision> Vault::EditRecord(std::string_view record_id, std::string_view record_json) {
  EVAULT_ASSIGN_OR_RETURN(std::string case_id, impl_->RecordCase(record_id));
  EVAULT_ASSIGN_OR_RETURN(json record, ParseRecordJson(record_json));
  EVAULT_ASSIGN_OR_RETURN(auto heads, impl_->Heads(record_id));
  std::uint64_t revision = 0;
  for (const auto& h : heads) {
    EVAULT_ASSIGN_OR_RETURN(RecordRevision r, impl_->LoadRevision(record_id, h));
    revision = std::max(revision, r.revision);
  }
  return impl_->WriteRevision(case_id, record_id, record, std::move(heads), revision + 1);
}

Result<RecordView> Vault::GetRecord(std::string_view record_id, bool with_history) {
  EVAULT_ASSIGN_OR_RETURN(std::string case_id, impl_->RecordCase(record_id));
  RecordView view;
  view.record_id = std::string(record_id);
  view.case_id = case_id;
  EVAULT_ASSIGN_OR_RETURN(auto heads, impl_->Heads(record_id));
  for (const auto& h : heads) {
    EVAULT_ASSIGN_OR_RETURN(RecordRevision r, impl_->LoadRevision(record_id, h));
    view.heads.push_back(std::move(r));
  }
  std::sort(view.heads.begin(), view.heads.end(),
            [](const RecordRevision& a, const RecordRevision& b) { return a.created < b.created; });
  json shown = json::array();
  if (with_history) {
    EVAULT_ASSIGN_OR_RETURN(auto revisions, impl_->catalog->Scan(0, fmt::format("rev/{}/", record_id)));
    for (const auto& [key, revision_id] : revisions) {
      EVAULT_ASSIGN_OR_RETURN(RecordRevision r, impl_->LoadRevision(record_id, revision_id));
      view.history.push_back(std::move(r));
    }
    for (const auto& r : view.history) shown.push_back(r.revision_id);
  } else {
    for (const auto& r : view.heads) shown.push_back(r.revision_id);
  }
  // Logged before anything is shown: no view without its custody entry.
  EVAULT_TRY(impl_->AuditNow(case_id, audit::action::kRecordView, {{"record_id", view.record_id}, {"revisions", shown}}));
  return view;
}

Result<std::vector<RecordSummary>> Vault::ListRecords(std::optional<std::string_view> case_id) {
  std::vector<RecordSummary> out;
  if (case_id) {
    EVAULT_TRY(ParseId("case", *case_id));
    EVAULT_TRY(impl_->LoadCase(*case_id));
    const std::string prefix = fmt::format("crec/{}/", *case_id);
    EVAULT_ASSIGN_OR_RETURN(auto entries, impl_->catalog->Scan(0, prefix));
    for (const auto& [key, unused] : entries) {
      EVAULT_ASSIGN_OR_RETURN(auto s, impl_->Summarize(key.substr(prefix.size()), std::string(*case_id)));
      out.push_back(std::move(s));
    }
    return out;
  }
  EVAULT_ASSIGN_OR_RETURN(auto entries, impl_->catalog->Scan(0, "rec/"));
  for (const auto& [key, case_of] : entries) {
    EVAULT_ASSIGN_OR_RETURN(auto s, impl_->Summarize(key.substr(4), case_of));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<RecordSummary>> Vault::Search(std::string_view text) {
  const auto words = Tokenize(text);
  if (words.empty()) return Fail(ErrorCode::kInvalidArgument, "the search has no words to look for");
  std::optional<std::set<std::string>> matches;
  for (const auto& word : words) {
    const std::string prefix = fmt::format("t/{}/", word);
    EVAULT_ASSIGN_OR_RETURN(auto entries, impl_->search->Scan(impl_->TokenPartition(word), prefix));
    std::set<std::string> ids;
    for (const auto& [key, unused] : entries) ids.insert(key.substr(prefix.size()));
    if (matches) {
      std::erase_if(*matches, [&](const std::string& id) { return !ids.contains(id); });
    } else {
      matches = std::move(ids);
    }
    if (matches->empty()) break;
  }
  std::vector<RecordSummary> out;
  for (const auto& record_id : *matches) {
    EVAULT_ASSIGN_OR_RETURN(std::string case_id, impl_->RecordCase(record_id));
    EVAULT_ASSIGN_OR_RETURN(auto s, impl_->Summarize(record_id, case_id));
    out.push_back(std::move(s));
  }
  return out;
}

// --- attachments ---------------------------------------------------------------------

namespace {

// Reads until `buffer` is full or the file ends; returns the bytes read.
Result<std::size_t> ReadFull(int fd, std::span<std::uint8_t> buffer) {
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIo, fmt::format("reading the file failed: {}", std::strerror(errno)));
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  return filled;
}

// Chunks of a file of `size` bytes: an empty file is one (padded) chunk.
std::uint64_t ChunkCount(std::uint64_t size) {
  return size == 0 ? 1 : (size + crypto::kChunkSize - 1) / crypto::kChunkSize;
}

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<AttachmentInfo> Vault::AddAttachment(std::string_view record_id, const fs::path& file,
                                            const ProgressFn& progress) {
  EVAULT_TRY(impl_->RequireWriter());
  EVAULT_ASSIGN_OR_RETURN(std::string case_id, impl_->RecordCase(record_id));
  // O_NONBLOCK: opening a FIFO must not hang; only regular files are accepted below.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  FileCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a regular file", file.string()));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const std::uint64_t expected_size = static_cast<std::uint64_t>(st.st_size);

  const Bytes attachment_id = crypto::RandomBytes(kIdBytes);
  SymmetricKey content_key = SymmetricKey::Generate();
  auto keys = impl_->KeysFor(content_key, attachment_id);

  // Announce the upload first, so chunks orphaned by a crash are found and removed at
  // the next Open (they would otherwise only waste space and hint at a file's size):
  // the chunk-name key and the number of chunks the file has now.
  const std::string pending_key = fmt::format("pend/{}", Hex(attachment_id));
  {
    Bytes announced(keys.names.bytes().data(), keys.names.bytes().data() + keys.names.bytes().size());
    crypto::AppendU64(announced, ChunkCount(expected_size));
    Impl::Txn t = impl_->Begin();
    impl_->catalog->Put(0, pending_key, Str(announced));
    EVAULT_TRY(impl_->Commit(t));
  }

  // Two locked buffers: the current chunk is sealed once the next read tells whether
  // it is the last one.
  SecretBytes current(crypto::kChunkSize), next(crypto::kChunkSize);
  crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
  Bytes sealed;
  sealed.reserve(crypto::MaxSealedChunkSize());
  rocksdb::WriteBatch batch;  // one chunk at a time: without the WAL, batching saves nothing
  std::vector<Bytes> written_names;
  std::uint64_t index = 0, total = 0;

  auto cleanup = [&]() {
    // Best effort: remove the chunks of an attachment that will never be visible. The
    // deletes go through the WAL, so the Commit below (synced) makes them durable
    // before the "pend/" entry goes; if either fails, the next Open sweeps.
    rocksdb::WriteBatch undo;
    for (const auto& name : written_names) undo.Delete(impl_->chunks, Slice(name));
    (void)impl_->WriteDb(rocksdb::WriteOptions(), undo, "removing unfinished attachment chunks");
    Impl::Txn t = impl_->Begin();
    impl_->catalog->Delete(0, pending_key);
    (void)impl_->Commit(t);
  };

  // Each chunk goes to the chunks family without the write-ahead log (Impl::
  // ChunkWriteOptions): RocksDB's background flushes write it once, into a blob file,
  // while this thread reads and seals the next ones. FlushChunks below waits until all
  // of them are synced; only then does the manifest commit.
  // The SHA-256 of the original runs on the other core while this one seals (it was a
  // third of this thread's time). One chunk at a time, in order: the hash of a chunk
  // ends before its buffer is read into again. Declared after the buffers, so an early
  // return waits for it before they go.
  std::future<void> hashing;
  auto hashed = [&hashing] {
    if (hashing.valid()) hashing.get();
  };
  EVAULT_ASSIGN_OR_RETURN(std::size_t current_len, ReadFull(fd, current.span()));
  while (true) {
    hashed();  // `next` holds the chunk hashed last
    std::size_t next_len = 0;
    if (current_len == crypto::kChunkSize) {
      auto n = ReadFull(fd, next.span());
      if (!n) {
        cleanup();
        return std::unexpected(n.error());
      }
      next_len = *n;
    }
    const bool is_last = next_len == 0;
    const ByteView plain(current.data(), current_len);
    hashing = std::async(std::launch::async, [&sha256, plain] { sha256.Update(plain); });
    sealed.clear();
    keys.cipher.SealChunk(index, is_last, plain, sealed);
    Bytes name = Impl::ChunkName(keys.names, index);
    batch.Clear();
    batch.Put(impl_->chunks, Slice(name), Slice(sealed));
    written_names.push_back(std::move(name));
    if (auto s = impl_->WriteDb(Impl::ChunkWriteOptions(), batch, "storing attachment chunks"); !s) {
      cleanup();
      return std::unexpected(s.error());
    }
    impl_->chunk_heap.Count(sealed.size());
    total += current_len;
    ++index;
    if (progress) progress(total, std::max(total, expected_size));
    if (is_last) break;
    std::swap(current, next);
    current_len = next_len;
  }
  hashed();
  if (auto s = impl_->FlushChunks("storing attachment chunks"); !s) {
    cleanup();
    return std::unexpected(s.error());
  }

  AttachmentInfo a;
  a.id = Hex(attachment_id);
  a.record_id = std::string(record_id);
  a.case_id = case_id;
  a.sha256 = Hex(sha256.Finish());
  a.size = total;
  a.chunks = index;
  a.file_name = file.filename().string();
  a.media_type = MediaTypeForFileName(a.file_name);
  a.captured = NowUtc();
  a.device = impl_->device_id;
  json body = {{"attachment_id", a.id}, {"record_id", a.record_id}, {"case_id", a.case_id},
               {"sha256", a.sha256},    {"size", a.size},           {"chunks", a.chunks},
               {"file_name", a.file_name}, {"media_type", a.media_type},
               {"captured", a.captured}, {"device", a.device}};
  Impl::Txn t = impl_->Begin();
  // The manifest shares the attachment's content key, so whoever can open it can
  // derive the chunk keys, and nobody else.
  auto manifest_id = impl_->PutObject(t, {ObjectKind::kAttachmentManifest, attachment_id, 1, *crypto::FromHex(case_id)},
                                      body.dump(-1, ' ', false, json::error_handler_t::replace), content_key);
  if (!manifest_id) {
    cleanup();
    return std::unexpected(manifest_id.error());
  }
  const Bytes& object_id = *manifest_id;
  impl_->catalog->Put(0, fmt::format("att/{}/{}", record_id, a.id), Hex(object_id));
  impl_->catalog->Put(0, fmt::format("attid/{}", a.id), Hex(object_id));
  impl_->catalog->Delete(0, pending_key);
  impl_->catalog->Put(0, fmt::format("upload/{}", a.id), Hex(object_id));  // for the next sync
  auto audited = impl_->Audit(t, case_id, audit::action::kAttachmentCapture,
                              {{"attachment_id", a.id}, {"record_id", a.record_id}, {"sha256", a.sha256},
                               {"size", a.size}, {"media_type", a.media_type}, {"file_name", a.file_name}});
  if (!audited) {
    cleanup();
    return std::unexpected(audited.error());
  }
  if (auto s = impl_->Commit(t); !s) {
    cleanup();
    return std::unexpected(s.error());
  }
  return a;
}

Result<AttachmentInfo> Vault::GetAttachment(std::string_view attachment_id) {
  EVAULT_TRY(ParseId("attachment", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(auto object_id, impl_->catalog->Get(0, fmt::format("attid/{}", attachment_id)));
  if (!object_id) return Fail(ErrorCode::kNotFound, fmt::format("no attachment with id {}", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(json body,
                          impl_->LoadBody(*object_id, ObjectKind::kAttachmentManifest, attachment_id));
  return impl_->AttachmentFromBody(body, attachment_id);
}

Result<std::vector<AttachmentInfo>> Vault::ListAttachments(std::string_view record_id) {
  EVAULT_TRY(impl_->RecordCase(record_id));
  const std::string prefix = fmt::format("att/{}/", record_id);
  EVAULT_ASSIGN_OR_RETURN(auto entries, impl_->catalog->Scan(0, prefix));
  std::vector<AttachmentInfo> out;
  for (const auto& [key, object_id] : entries) {
    const std::string id = key.substr(prefix.size());
    EVAULT_ASSIGN_OR_RETURN(json body, impl_->LoadBody(object_id, ObjectKind::kAttachmentManifest, id));
    EVAULT_ASSIGN_OR_RETURN(auto a, impl_->AttachmentFromBody(body, id));
    out.push_back(std::move(a));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AttachmentInfo& a, const AttachmentInfo& b) { return a.captured < b.captured; });
  return out;
}

Status Vault::ReadAttachment(std::string_view attachment_id, const SinkFn& sink, const ProgressFn& progress) {
  EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, GetAttachment(attachment_id));
  EVAULT_TRY(impl_->AuditNow(info.case_id, audit::action::kAttachmentRead,
                             {{"attachment_id", info.id}, {"record_id", info.record_id}, {"sha256", info.sha256}}));
  return impl_->StreamAttachment(attachment_id, sink, progress);
}

Status Vault::Impl::StreamAttachment(std::string_view attachment_id, const SinkFn& sink, const ProgressFn& progress) {
  EVAULT_TRY(ParseId("attachment", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(auto object_id, catalog->Get(0, fmt::format("attid/{}", attachment_id)));
  if (!object_id) return Fail(ErrorCode::kNotFound, fmt::format("no attachment with id {}", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(OpenedObject manifest,
                          LoadObject(*object_id, ObjectKind::kAttachmentManifest));
  if (Hex(manifest.identity.logical_id) != attachment_id) {
    return Fail(ErrorCode::kTampered, "the attachment manifest belongs to another attachment");
  }
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(manifest.body));
  EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, AttachmentFromBody(body, attachment_id));
  auto keys = KeysFor(manifest.content_key, manifest.identity.logical_id);

  // Chunk i+1 is read (disk, RocksDB's checksum) on another thread while this one opens,
  // hashes and hands on chunk i, so reading and decrypting overlap on two cores. Only
  // this thread sees plaintext; a pending read is waited for on every return (a
  // std::async future's destructor). Where no thread can be started (libstdc++), the
  // read runs deferred, in get().
  struct Fetched {
    rocksdb::Status status;
    rocksdb::PinnableSlice raw;
  };
  auto fetch = [this, &keys](std::uint64_t i) {
    auto f = std::make_unique<Fetched>();
    f->status = db->Get(Impl::ChunkReadOptions(), chunks, Slice(Impl::ChunkName(keys.names, i)), &f->raw);
    return f;
  };
  constexpr auto kOverlap = std::launch::async | std::launch::deferred;
  SecretBytes plain(crypto::MaxSealedChunkSize());
  crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
  std::uint64_t total = 0;
  std::future<std::unique_ptr<Fetched>> next = std::async(kOverlap, fetch, 0);
  for (std::uint64_t i = 0; i < info.chunks; ++i) {
    const std::unique_ptr<Fetched> got = next.get();
    if (i + 1 < info.chunks) next = std::async(kOverlap, fetch, i + 1);
    const rocksdb::PinnableSlice& raw = got->raw;
    if (got->status.IsNotFound()) {
      return Fail(ErrorCode::kTampered, fmt::format("attachment {}: chunk {} is missing", attachment_id, i));
    }
    EVAULT_TRY(FromRocks(got->status, "reading an attachment chunk"));
    auto length = keys.cipher.OpenChunk(i, i + 1 == info.chunks,
                                        AsBytes(std::string_view(raw.data(), raw.size())), plain.span());
    if (!length) {
      return Fail(length.error().code, fmt::format("attachment {}: {}", attachment_id, length.error().message));
    }
    const ByteView chunk(plain.data(), *length);
    sha256.Update(chunk);
    total += *length;
    if (total > info.size) {
      return Fail(ErrorCode::kTampered, fmt::format("attachment {} is longer than recorded", attachment_id));
    }
    EVAULT_TRY(sink(chunk));
    if (progress) progress(total, info.size);
  }
  if (total != info.size || Hex(sha256.Finish()) != info.sha256) {
    return Fail(ErrorCode::kTampered,
                fmt::format("attachment {} does not match its recorded size and SHA-256", attachment_id));
  }
  return Ok();
}

}  // namespace evault::vault
