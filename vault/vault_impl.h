// Internal: the state behind a Vault, shared by vault.cc (local operations) and
// vault_sync.cc (sync support). Not part of the public API.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <utility>
#include <fmt/core.h>
#include <fmt/chrono.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include "crypto/aead.h"
#include "crypto/chunk_cipher.h"
#include "crypto/digest.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/padding.h"
#include "evault_format.pb.h"
#include "vault/header.h"
#include "vault/index.h"
#include "vault/heap_trim.h"
#include "vault/media_type.h"
#include "vault/object.h"
#include "vault/record.h"
#include "vault/rocksdb_setup.h"
#include "vault/tokenizer.h"
#include "vault/testing_env.h"
#include "vault/vault.h"
#include "vault/keyring.h"
#include "vault/membership.h"
#include "audit/custody.h"

namespace evault::vault {

namespace fs = std::filesystem;
using crypto::AsBytes;
using crypto::Bytes;
using crypto::ByteView;
using crypto::SecretBytes;
using crypto::SymmetricKey;
using nlohmann::json;

namespace detail {

constexpr std::size_t kSearchPartitions = 16;
constexpr char kChunksFamily[] = "chunks";
// RocksDB's bound on the files it keeps open. Each attachment adds at least one blob
// file, and by default RocksDB keeps every file it has read open: a 400 MiB vault (67
// blob files) could not be read back under `ulimit -n 40`, so a large vault would have
// failed at the usual limit of 1024.
constexpr int kMaxOpenDbFiles = 256;
// signing sk (64) | box sk (32) | self key count (1) | self sks (32 each, newest last)
constexpr std::size_t kLocalSecretsFixedBytes = 64 + 32 + 1;
constexpr std::size_t kMaxSelfKeys = 8;

inline std::string NowUtc() { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr))); }

inline std::string Hex(ByteView b) { return crypto::ToHex(b); }
inline std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

inline Result<Bytes> ParseId(std::string_view what, std::string_view id) {
  auto bytes = crypto::FromHex(id);
  const bool lower = std::none_of(id.begin(), id.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  if (!bytes || bytes->size() != kIdBytes || !lower) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not a valid {} id (expected {} lower-case hex digits)",
                            id.size() > 64 ? "(too long)" : std::string(id), what, kIdBytes * 2));
  }
  return *bytes;
}

inline Status FromRocks(const rocksdb::Status& s, std::string_view doing) {
  if (s.ok()) return Ok();
  if (s.IsCorruption()) {
    return Fail(ErrorCode::kTampered, fmt::format("{}: the vault database is damaged ({})", doing, s.ToString()));
  }
  if (s.IsIOError() && s.ToString().find("Read-only file system") != std::string::npos) {
    return Fail(ErrorCode::kIo, fmt::format("{}: the vault is on a read-only file system", doing));
  }
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Fail(ErrorCode::kIo, fmt::format("{}: the vault is in use by another evault process", doing));
  }
  if (s.IsNoSpace()) return Fail(ErrorCode::kNoSpace, fmt::format("{}: no space left on device", doing));
  return Fail(ErrorCode::kIo, fmt::format("{}: {}", doing, s.ToString()));
}

inline rocksdb::Slice Slice(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

inline Result<json> ParseBody(const SecretBytes& body) {
  json parsed = json::parse(body.view(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Fail(ErrorCode::kCorrupt, "stored object is not valid JSON");
  }
  return parsed;
}

template <typename T>
inline T Field(const json& j, const char* name, T fallback = {}) {
  auto it = j.find(name);
  if (it == j.end()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

}  // namespace detail

using namespace detail;

struct Vault::Impl {
  fs::path dir;
  VaultHeader header;
  std::string vault_id_hex;
  std::string device_id;
  std::optional<SymmetricKey> root;
  std::optional<SymmetricKey> names_key;
  std::optional<SymmetricKey> token_key;
  std::optional<crypto::SigningKeyPair> signing;
  std::optional<crypto::BoxKeyPair> box;
  Keyring keyring;
  std::unique_ptr<ObjectCodec> codec;

  std::unique_ptr<rocksdb::Env> env;  // reads blob files with O_DIRECT; outlives db
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* chunks = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  Membership membership;
  // Membership in server order (what pulled objects are checked against), and the
  // local view: that plus this device's own operations the server has not yet returned.
  Membership confirmed;
  std::optional<Membership> confirmed_staged;
  std::optional<Membership> membership_staged;  // becomes `membership` when its transaction commits
  std::unique_ptr<EncryptedIndex> catalog;
  std::unique_ptr<EncryptedIndex> search;
  format::v1::VaultRoot state;

  // Set by the first failed write. RocksDB 7.8 does not reliably refuse writes after a
  // failed WAL append or fsync (ENOSPC): a later write can abort the process or reuse
  // sequence numbers and corrupt the log. So after one failure this handle writes
  // nothing more; reopening the vault recovers from the log as it is on disk.
  std::optional<Error> write_failed;  // the first failure, as reported
  HeapTrimmer chunk_heap;             // counts chunk bytes written (added or pulled)

  // Every write to the database goes through here.
  Status WriteDb(const rocksdb::WriteOptions& options, rocksdb::WriteBatch& batch, std::string_view doing) {
    if (write_failed) {
      return Fail(write_failed->code, fmt::format("an earlier write to the vault failed ({}); close and reopen the "
                                                  "vault before writing again",
                                                  write_failed->message));
    }
    auto status = FromRocks(db->Write(options, &batch), doing);
    if (!status) write_failed = status.error();
    return status;
  }

  ~Impl() {
    if (db) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      db->Close();
    }
  }

  // --- storage names and root ------------------------------------------------------

  Bytes Name(std::string_view what) const { return crypto::KeyedHash(*names_key, AsBytes(what)); }

  Bytes RootAd() const {
    Bytes ad;
    crypto::AppendField(ad, AsBytes("evault-vault-root-v1"));
    crypto::AppendField(ad, header.vault_id);
    return ad;
  }

  Bytes LocalSecretsAd() const {
    Bytes ad;
    crypto::AppendField(ad, AsBytes("evault-local-secrets-v1"));
    crypto::AppendField(ad, header.vault_id);
    return ad;
  }

  std::size_t TokenPartition(std::string_view token) const {
    return crypto::KeyedHash(*token_key, AsBytes(token))[0] % kSearchPartitions;
  }

  void DeriveKeys() {
    names_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kStorageNames);
    token_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kSearchTokens);
  }

  static rocksdb::Options DbOptions() {
    rocksdb::Options options;
    options.paranoid_checks = true;
    // A damaged WAL record must fail the open, not silently drop every later write;
    // only a torn record at the very end (a crash mid-write) is tolerated.
    options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    options.info_log = std::make_shared<SilentLogger>();
    options.keep_log_file_num = 1;
    options.stats_dump_period_sec = 0;
    options.stats_persist_period_sec = 0;
    options.compression = rocksdb::kNoCompression;  // ciphertext does not compress
    options.max_total_wal_size = 64 << 20;
    // Objects and index blocks: every transaction is synced anyway, so a large memtable
    // buys little; RocksDB's default (64 MiB, two of them) was most of an import's heap.
    options.write_buffer_size = 16 << 20;
    options.max_background_flushes = 2;  // see ChunkFamilyOptions
    options.max_open_files = kMaxOpenDbFiles;
    if (rocksdb::Env* env = testing::DatabaseEnv()) options.env = env;
    return options;
  }

  // Chunks are written once, into blob files (integrated BlobDB), and never through the
  // write-ahead log (ChunkWriteOptions): a WAL would write every byte twice. Each 6 MiB
  // memtable is flushed in the background to a blob file (its sealed chunks) and a small
  // table of references, synced, then recorded in the MANIFEST, while the writer seals
  // the next chunks. Two flushes run at once, so one computes RocksDB's record checksums
  // while the other waits for the disk; three memtables bound the memory (18 MiB; a
  // 1 GiB add peaked at 54 MiB RSS; 8 MiB memtables, 68 MiB). The freed memtable blocks
  // fragment the heap: see HeapTrimmer (an 8 GiB add, 51-55 MiB; 51-61 without it).
  // Without the WAL a chunk is durable only once flushed, so whatever refers to chunks
  // commits after FlushChunks: the object that names them (WAL, synced) can never
  // survive a crash that its chunks did not. No atomic_flush is needed for that: the
  // order is explicit, not left to RocksDB's flush scheduling.
  static rocksdb::ColumnFamilyOptions ChunkFamilyOptions() {
    rocksdb::ColumnFamilyOptions cf;
    cf.compression = rocksdb::kNoCompression;
    cf.enable_blob_files = true;  // 1 MiB values: keep them out of compaction
    cf.min_blob_size = 4096;
    cf.blob_file_size = 256 << 20;
    cf.write_buffer_size = 6 << 20;
    cf.max_write_buffer_number = 3;  // one filling, two flushing (DbOptions: two flush threads)
    return cf;
  }

  // How chunks are written: see ChunkFamilyOptions.
  static rocksdb::WriteOptions ChunkWriteOptions() {
    rocksdb::WriteOptions options;
    options.disableWAL = true;
    return options;
  }

  // How chunks are read: with RocksDB's checksums, although every chunk carries an AEAD
  // tag checked before a byte of it is used. RocksDB has one switch for blob CRCs and for
  // the checksums of the table blocks that point to the blobs, and without the latter a
  // damaged block reaches RocksDB's decoder unchecked, which aborts the process (Debian's
  // librocksdb keeps its assertions; found by the tamper sweep). The blob CRC costs about
  // 4% of a sync's CPU per side, in software: a crash on a damaged vault costs more.
  static rocksdb::ReadOptions ChunkReadOptions() { return rocksdb::ReadOptions(); }

  // Waits until every chunk written so far is in a synced blob file recorded in the
  // MANIFEST (RocksDB's Flush also waits for the background flushes already running).
  // A failure counts as a failed write: this handle writes nothing more.
  Status FlushChunks(std::string_view doing) {
    if (write_failed) {
      return Fail(write_failed->code, fmt::format("an earlier write to the vault failed ({}); close and reopen the "
                                                  "vault before writing again",
                                                  write_failed->message));
    }
    rocksdb::FlushOptions options;
    options.wait = true;
    auto status = FromRocks(db->Flush(options, chunks), doing);
    if (!status) write_failed = status.error();
    return status;
  }

  Status OpenDb(bool create) {
    rocksdb::DBOptions db_options(DbOptions());
    db_options.create_if_missing = create;
    db_options.create_missing_column_families = create;
    db_options.error_if_exists = create;
    rocksdb::ColumnFamilyOptions default_cf(DbOptions());
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, default_cf},
        {kChunksFamily, ChunkFamilyOptions()},
    };
    // Flushes and compactions write their files with O_DIRECT where the file system
    // takes it: the copy into the page cache was half the flush's CPU time here.
    db_options.use_direct_io_for_flush_and_compaction = DirectWritesWork(dir);
    // And chunks are read back past the page cache (NewDirectBlobReadsEnv), unless a test
    // put its own Env in (testing::DatabaseEnv).
    if (db_options.use_direct_io_for_flush_and_compaction && db_options.env == rocksdb::Env::Default()) {
      env = NewDirectBlobReadsEnv();
      db_options.env = env.get();
    }
    // With direct I/O RocksDB would give each compaction input a 2 MiB readahead buffer;
    // the tables it compacts here are small (the chunks family's hold blob references).
    db_options.compaction_readahead_size = 256 << 10;
    rocksdb::DB* raw = nullptr;
    const fs::path db_path = dir / kDatabaseDirName;
    if (!create && !fs::exists(db_path)) {
      return Fail(ErrorCode::kCorrupt, fmt::format("{} has a header but no database", dir.string()));
    }
    EVAULT_TRY(FromRocks(rocksdb::DB::Open(db_options, db_path.string(), families, &handles, &raw),
                         "opening the vault database"));
    db.reset(raw);
    chunks = handles[1];
    return Ok();
  }

  Status LoadLocalSecrets() {
    const SymmetricKey local = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kLocalSecrets);
    rocksdb::PinnableSlice raw;
    auto s = db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), Slice(Name("local-secrets")), &raw);
    if (s.IsNotFound()) return Fail(ErrorCode::kCorrupt, "the vault's device keys are missing");
    EVAULT_TRY(FromRocks(s, "reading the device keys"));
    auto secrets = crypto::AeadOpen(local, AsBytes(std::string_view(raw.data(), raw.size())), LocalSecretsAd());
    if (!secrets || secrets->size() < kLocalSecretsFixedBytes ||
        secrets->size() != kLocalSecretsFixedBytes + 32 * secrets->data()[96]) {
      return Fail(ErrorCode::kTampered, "the vault's device keys failed authentication");
    }
    EVAULT_ASSIGN_OR_RETURN(auto sign, crypto::SigningKeyPair::FromSecretKey(
                                           SecretBytes::CopyFrom(ByteView(secrets->data(), 64))));
    EVAULT_ASSIGN_OR_RETURN(auto boxk, crypto::BoxKeyPair::FromSecretKey(
                                           SecretBytes::CopyFrom(ByteView(secrets->data() + 64, 32))));
    signing.emplace(std::move(sign));
    box.emplace(std::move(boxk));
    std::vector<crypto::BoxKeyPair> self;
    for (std::size_t i = 0; i < secrets->data()[96]; ++i) {
      EVAULT_ASSIGN_OR_RETURN(auto key, crypto::BoxKeyPair::FromSecretKey(SecretBytes::CopyFrom(
                                            ByteView(secrets->data() + kLocalSecretsFixedBytes + 32 * i, 32))));
      self.push_back(std::move(key));
    }
    if (self.empty()) return Fail(ErrorCode::kCorrupt, "the vault's device keys are incomplete");
    keyring.SetSelfKeys(std::move(self));
    return Ok();
  }

  // The device's secrets, sealed under the local-secrets subkey. `self` replaces the
  // self keys when given (a purge), so the old ones are never written again.
  std::string StoreLocalSecrets(const std::vector<const crypto::BoxKeyPair*>* self = nullptr) const {
    const SymmetricKey local = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kLocalSecrets);
    std::vector<const crypto::BoxKeyPair*> keys;
    if (self != nullptr) {
      keys = *self;
    } else {
      for (const auto& k : keyring.self_keys()) keys.push_back(&k);
    }
    SecretBytes secrets(kLocalSecretsFixedBytes + 32 * keys.size());
    std::memcpy(secrets.data(), signing->secret_key().data(), 64);
    std::memcpy(secrets.data() + 64, box->secret_key().data(), 32);
    secrets.data()[96] = static_cast<std::uint8_t>(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      std::memcpy(secrets.data() + kLocalSecretsFixedBytes + 32 * i, keys[i]->secret_key().data(), 32);
    }
    return Str(crypto::AeadSeal(local, secrets.span(), LocalSecretsAd()));
  }

  void MakeIndexesAndCodec() {
    const SymmetricKey index_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kIndex);
    catalog = std::make_unique<EncryptedIndex>("catalog", 1, db.get(), index_key.Clone(), header.vault_id);
    search = std::make_unique<EncryptedIndex>("search", kSearchPartitions, db.get(), index_key.Clone(),
                                              header.vault_id);
    MakeCodec();
    device_id = Hex(ByteView(crypto::PublicHash(signing->public_key()).data(), kIdBytes));
    vault_id_hex = Hex(header.vault_id);
  }

  void MakeCodec() { codec = std::make_unique<ObjectCodec>(header.vault_id, &*signing); }

  // Vaults written before the index had blocks: each large one-piece segment is
  // rewritten as blocks, one per transaction so no batch holds two of them.
  Status SplitLegacyIndexSegments() {
    for (EncryptedIndex* index : {catalog.get(), search.get()}) {
      for (std::size_t n = index->oversized_legacy_segments(); n > 0; --n) {
        Txn t = Begin();
        index->SplitNextLegacySegment();
        EVAULT_TRY(Commit(t));
      }
    }
    return Ok();
  }

  Status LoadRoot() {
    const SymmetricKey index_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kIndex);
    rocksdb::PinnableSlice raw;
    auto s = db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), Slice(Name("vault-root")), &raw);
    if (s.IsNotFound()) return Fail(ErrorCode::kCorrupt, "the vault root is missing");
    EVAULT_TRY(FromRocks(s, "reading the vault root"));
    auto plain = crypto::AeadOpen(index_key, AsBytes(std::string_view(raw.data(), raw.size())), RootAd());
    if (!plain) return Fail(ErrorCode::kTampered, "the vault root failed authentication");
    EVAULT_ASSIGN_OR_RETURN(std::size_t length, crypto::UnpaddedSize(plain->span()));
    if (!state.ParseFromArray(plain->data(), static_cast<int>(length))) {
      return Fail(ErrorCode::kCorrupt, "the vault root is malformed");
    }
    EVAULT_TRY(catalog->Load(state.catalog()));
    return search->Load(state.search());
  }

  // --- transactions ----------------------------------------------------------------

  // One atomic change. Index entries and membership operations staged while a Txn is
  // open are dropped if it ends without a successful Commit (an early error return),
  // so they can never leak into a later transaction.
  struct Txn {
    rocksdb::WriteBatch batch;
    std::uint64_t seq = 0;
    Bytes head;
    std::uint32_t ordinal = 0;  // orders several entries written by one transaction
    Impl* owner = nullptr;
    bool finished = false;

    Txn() = default;
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    Txn(Txn&& other) noexcept
        : batch(std::move(other.batch)),
          seq(other.seq),
          head(std::move(other.head)),
          ordinal(other.ordinal),
          owner(std::exchange(other.owner, nullptr)),
          finished(other.finished) {}
    ~Txn() {
      if (owner != nullptr && !finished) owner->AbandonStaged();
    }
  };

  Txn Begin() {
    Txn t;
    t.seq = state.author_seq();
    t.head.assign(state.author_head().begin(), state.author_head().end());
    t.owner = this;
    return t;
  }

  void AbandonStaged() {
    catalog->Abandon();
    search->Abandon();
    membership_staged.reset();
    confirmed_staged.reset();
  }

  // Records one of this device's new objects: stored, chained, and queued for push.
  Bytes Append(Txn& t, const format::v1::ObjectEnvelope& envelope) {
    Bytes object_id(envelope.object_id().begin(), envelope.object_id().end());
    t.seq = envelope.author_seq();
    t.head = ObjectCodec::ChainHash(envelope);
    t.batch.Put(Slice(object_id), envelope.SerializeAsString());
    catalog->Put(0, fmt::format("mine/{:016x}", t.seq), Hex(object_id));
    catalog->Put(0, fmt::format("chain/{}/{:016x}", Hex(signing->public_key()), t.seq), Hex(t.head));
    return object_id;
  }

  // Seals and appends an object: case content to the case's key of the current epoch
  // (made here if this device is the first to write to the case in this epoch), other
  // objects to the epoch's members key.
  Result<Bytes> PutObject(Txn& t, const ObjectIdentity& identity, std::string_view body,
                          const SymmetricKey& content_key) {
    EVAULT_ASSIGN_OR_RETURN(SealingKeys to, SealingFor(t, identity.case_id));
    Bytes object_id = crypto::RandomBytes(kIdBytes);
    EVAULT_ASSIGN_OR_RETURN(auto envelope,
                            codec->Seal(object_id, identity, AsBytes(body), t.seq + 1, t.head, content_key, to));
    return Append(t, envelope);
  }

  Result<SealingKeys> SealingFor(Txn& t, const Bytes& case_id) {
    const std::uint64_t epoch = membership.current_epoch();
    const EpochPublicKeys* keys = membership.Epoch(epoch);
    if (keys == nullptr) return Fail(ErrorCode::kInvalidArgument, "this device has not been admitted to the vault yet");
    SealingKeys to;
    to.epoch = epoch;
    to.readers = keys->readers;
    to.author = keyring.self_keys().back().public_key();
    if (case_id.empty()) {
      to.second = keys->members;
    } else {
      EVAULT_ASSIGN_OR_RETURN(to.second, CaseKeyFor(t, case_id, epoch));
    }
    return to;
  }

  // The public key of `case_id` in `epoch`: a known one, or a new one announced in a
  // CASE_KEY object (its secret sealed to the epoch's readers) in this transaction.
  // Only keys announced by this device or by an owner or coordinator are used: a
  // monitor could announce a key whose secret it kept, to read what others seal to it.
  // Catalog: ckey/<case>/<epoch>/<public key> -> <announcement object id>/<announcer key>.
  Result<Bytes> CaseKeyFor(Txn& t, const Bytes& case_id, std::uint64_t epoch) {
    if (epoch != membership.current_epoch()) return Fail(ErrorCode::kInternal, "case keys are made for the current epoch");
    const std::string prefix = fmt::format("ckey/{}/{:016x}/", Hex(case_id), epoch);
    EVAULT_ASSIGN_OR_RETURN(auto known, catalog->Scan(0, prefix));
    for (const auto& [key, value] : known) {
      const std::size_t slash = value.find('/');
      auto announcer = crypto::FromHex(slash == std::string::npos ? "" : std::string_view(value).substr(slash + 1));
      if (!announcer) return Fail(ErrorCode::kCorrupt, "a stored case key entry is malformed");
      const Member* m = membership.Find(*announcer);
      const bool trusted = *announcer == signing->public_key() ||
                           (m != nullptr && (m->RoleAt(epoch) == sync::v1::OWNER || m->RoleAt(epoch) == sync::v1::COORDINATOR));
      if (!trusted) continue;
      auto pk = crypto::FromHex(std::string_view(key).substr(prefix.size()));
      if (!pk || pk->size() != 32) return Fail(ErrorCode::kCorrupt, "a stored case key is malformed");
      return *pk;
    }
    EVAULT_ASSIGN_OR_RETURN(SealingKeys to, SealingFor(t, {}));  // the epoch's readers and members
    crypto::BoxKeyPair pair = crypto::BoxKeyPair::Generate();
    EVAULT_ASSIGN_OR_RETURN(Bytes sealed, crypto::SealToPublicKey(to.readers, pair.secret_key().span()));
    json body = {{"case_id", Hex(case_id)}, {"epoch", epoch}, {"public_key", Hex(pair.public_key())},
                 {"sealed_secret", Hex(sealed)}, {"created", NowUtc()}};
    Bytes object_id = crypto::RandomBytes(kIdBytes);
    EVAULT_ASSIGN_OR_RETURN(auto envelope, codec->Seal(object_id, {ObjectKind::kCaseKey, case_id, 1, {}},
                                                       AsBytes(body.dump()), t.seq + 1, t.head,
                                                       SymmetricKey::Generate(), to));
    Append(t, envelope);
    catalog->Put(0, prefix + Hex(pair.public_key()), Hex(object_id) + "/" + Hex(signing->public_key()));
    return pair.public_key();
  }

  std::optional<sync::v1::Role> MyRole() const { return membership.RoleOf(signing->public_key()); }

  // Evidence may be written by admitted members that are not legal devices.
  Status RequireWriter() const {
    auto role = MyRole();
    if (!role) {
      return Fail(ErrorCode::kInvalidArgument,
                  "this device has not been admitted to the vault yet (or was revoked); run `evault sync` after "
                  "the inviter has synced");
    }
    if (*role == sync::v1::LEGAL) {
      return Fail(ErrorCode::kPermissionDenied, "a legal device reads the cases granted to it; it cannot write evidence");
    }
    return Ok();
  }

  Result<OpenedObject> OpenEnvelope(const format::v1::ObjectEnvelope& e) const {
    const Bytes object_id(e.object_id().begin(), e.object_id().end());
    return codec->Open(e, object_id, keyring.For(e.key_epoch(), e.author() == Str(signing->public_key())));
  }

  // A membership operation by this device: checked against the rules first.
  Result<Bytes> PutMembershipOp(Txn& t, const sync::v1::MembershipOp& op) {
    Bytes object_id = crypto::RandomBytes(kIdBytes);
    auto envelope = codec->SealPublic(object_id, AsBytes(op.SerializeAsString()), t.seq + 1, t.head);
    Membership next = membership_staged ? *membership_staged : membership;  // several ops per transaction
    EVAULT_TRY(next.Apply(envelope));
    membership_staged = std::move(next);
    catalog->Put(0, fmt::format("myop/{:016x}", envelope.author_seq()), Hex(object_id));
    return Append(t, envelope);
  }

  // Membership in server order: smem/<server seq> -> operation.
  Result<Membership> LoadConfirmedMembership() {
    EVAULT_ASSIGN_OR_RETURN(auto ops, catalog->Scan(0, "smem/"));
    Membership loaded;
    for (const auto& [key, object_id_hex] : ops) {
      EVAULT_ASSIGN_OR_RETURN(auto envelope, LoadEnvelope(object_id_hex));
      EVAULT_TRY(loaded.Apply(envelope));
    }
    return loaded;
  }

  // The local view: `base` (in server order) plus this device's own operations not yet
  // returned by the server (myop/<author seq>), in the order written. One that no longer
  // applies (the server's order made it stale) is left out here; the server will refuse it.
  Result<Membership> WithOwnPendingOps(Membership base) {
    EVAULT_ASSIGN_OR_RETURN(auto mine, catalog->Scan(0, "myop/"));
    for (const auto& [key, object_id_hex] : mine) {
      EVAULT_ASSIGN_OR_RETURN(auto envelope, LoadEnvelope(object_id_hex));
      (void)base.Apply(envelope);
    }
    return base;
  }

  Status LoadMembership() {
    EVAULT_ASSIGN_OR_RETURN(confirmed, LoadConfirmedMembership());
    EVAULT_ASSIGN_OR_RETURN(membership, WithOwnPendingOps(confirmed));
    return keyring.Absorb(membership, signing->public_key(), *box);
  }

  Result<format::v1::ObjectEnvelope> LoadEnvelope(std::string_view object_id_hex) {
    EVAULT_ASSIGN_OR_RETURN(Bytes object_id, ParseId("object", object_id_hex));
    rocksdb::PinnableSlice raw;
    auto s = db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), Slice(object_id), &raw);
    if (s.IsNotFound()) return Fail(ErrorCode::kTampered, "a stored object the catalog lists is missing");
    EVAULT_TRY(FromRocks(s, "reading an object"));
    format::v1::ObjectEnvelope envelope;
    if (!envelope.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
        envelope.object_id() != std::string(crypto::AsText(object_id))) {
      return Fail(ErrorCode::kTampered, "a stored object is malformed or misplaced");
    }
    return envelope;
  }

  Status Commit(Txn& t) {
    t.finished = true;  // from here Commit itself abandons on failure
    const SymmetricKey index_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kIndex);
    format::v1::VaultRoot next = state;
    // A large merge writes its blocks ahead, unsynced (EncryptedIndex::Stage); the
    // synced write below makes them durable with the root that uses them.
    const EncryptedIndex::WriteFn write_ahead = [this](rocksdb::WriteBatch& ahead) {
      return WriteDb(rocksdb::WriteOptions(), ahead, "writing to the vault");
    };
    auto catalog_root = catalog->Stage(t.batch, write_ahead);
    auto search_root = catalog_root ? search->Stage(t.batch, write_ahead) : decltype(catalog_root)();
    if (!catalog_root || !search_root) {
      catalog->Abandon();
      search->Abandon();
      membership_staged.reset();
      confirmed_staged.reset();
      return std::unexpected(!catalog_root ? catalog_root.error() : search_root.error());
    }
    *next.mutable_catalog() = *catalog_root;
    *next.mutable_search() = *search_root;
    next.set_author_seq(t.seq);
    next.set_author_head(Str(t.head));
    next.set_transaction(state.transaction() + 1);
    SecretBytes plain(next.ByteSizeLong());
    next.SerializeToArray(plain.data(), static_cast<int>(plain.size()));
    SecretBytes padded = crypto::Pad(plain.span());
    t.batch.Put(Slice(Name("vault-root")), Str(crypto::AeadSeal(index_key, padded.span(), RootAd())));

    rocksdb::WriteOptions durable;
    durable.sync = true;
    auto status = WriteDb(durable, t.batch, "writing to the vault");
    if (!status) {
      catalog->Abandon();
      search->Abandon();
      membership_staged.reset();
      confirmed_staged.reset();
      return status;
    }
    catalog->Committed(*catalog_root);
    search->Committed(*search_root);
    state = std::move(next);
    if (confirmed_staged) {
      confirmed = std::move(*confirmed_staged);
      confirmed_staged.reset();
    }
    if (membership_staged) {
      membership = std::move(*membership_staged);
      membership_staged.reset();
      EVAULT_TRY(keyring.Absorb(membership, signing->public_key(), *box));  // keys this device sealed to itself
    }
    return Ok();
  }

  std::string OrderKey(Txn& t) const { return fmt::format("{:016x}{:08x}", state.transaction() + 1, t.ordinal++); }

  // --- reading objects ---------------------------------------------------------------

  Result<OpenedObject> LoadObject(std::string_view object_id_hex, ObjectKind kind) {
    EVAULT_ASSIGN_OR_RETURN(format::v1::ObjectEnvelope envelope, LoadEnvelope(object_id_hex));
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, OpenEnvelope(envelope));
    if (opened.identity.kind != kind) {
      return Fail(ErrorCode::kTampered, "a stored object has the wrong kind");
    }
    return opened;
  }

  Result<json> LoadBody(std::string_view object_id_hex, ObjectKind kind, std::string_view logical_id_hex) {
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, LoadObject(object_id_hex, kind));
    if (Hex(opened.identity.logical_id) != logical_id_hex) {
      return Fail(ErrorCode::kTampered, "a stored object belongs to another id");
    }
    return ParseBody(opened.body);
  }

  Result<CaseInfo> LoadCase(std::string_view case_id) {
    EVAULT_ASSIGN_OR_RETURN(auto object_id, catalog->Get(0, fmt::format("case/{}", case_id)));
    if (!object_id) return Fail(ErrorCode::kNotFound, fmt::format("no case with id {}", case_id));
    EVAULT_ASSIGN_OR_RETURN(json body, LoadBody(*object_id, ObjectKind::kCase, case_id));
    return CaseInfo{std::string(case_id), Field<std::string>(body, "title"),
                    Field<std::string>(body, "status"), Field<std::vector<std::string>>(body, "tags"),
                    Field<std::string>(body, "created"), Field<std::string>(body, "author")};
  }

  Result<RecordRevision> LoadRevision(std::string_view record_id, std::string_view revision_id) {
    EVAULT_ASSIGN_OR_RETURN(json body, LoadBody(revision_id, ObjectKind::kRecordRevision, record_id));
    RecordRevision r;
    r.record_id = std::string(record_id);
    r.revision_id = std::string(revision_id);
    r.case_id = Field<std::string>(body, "case_id");
    r.revision = Field<std::uint64_t>(body, "revision");
    r.parents = Field<std::vector<std::string>>(body, "parents");
    r.created = Field<std::string>(body, "created");
    r.author = Field<std::string>(body, "author");
    r.data = body.value("record", json::object());
    EVAULT_TRY(ValidateRecord(r.data));
    return r;
  }

  // A case this device may add records to: one it can read, or (a monitor) one whose
  // key it has seen announced.
  // The local catalog and search entries of one of this device's own objects (when
  // the catalog is rebuilt after a purge).
  Status IndexOwnObject(Txn& t, const OpenedObject& opened, const std::string& object_hex) {
    const std::string logical = Hex(opened.identity.logical_id);
    switch (opened.identity.kind) {
      case ObjectKind::kCase:
        catalog->Put(0, fmt::format("case/{}", logical), object_hex);
        return Ok();
      case ObjectKind::kRecordRevision: {
        EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
        IndexRevision(t, Field<std::string>(body, "case_id"), logical, object_hex, Field<std::uint64_t>(body, "revision"),
                      Field<std::vector<std::string>>(body, "parents"), body.value("record", json::object()));
        return Ok();
      }
      case ObjectKind::kAttachmentManifest: {
        EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
        catalog->Put(0, fmt::format("att/{}/{}", Field<std::string>(body, "record_id"), logical), object_hex);
        catalog->Put(0, fmt::format("attid/{}", logical), object_hex);
        return Ok();
      }
      case ObjectKind::kAuditEntry:
        return AppendAuditLine(t, Hex(opened.identity.case_id), std::string(opened.body.view()), object_hex);
      default:
        return Ok();
    }
  }

  // Flushes and compacts both column families, so deleted values leave the WAL and the
  // table files (a purge).
  Status CompactAll() {
    EVAULT_TRY(FromRocks(db->Flush(rocksdb::FlushOptions(), handles), "flushing the vault database"));
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
    options.blob_garbage_collection_age_cutoff = 1.0;  // every blob file: purged chunks must go
    for (auto* h : handles) {
      EVAULT_TRY(FromRocks(db->CompactRange(options, h, nullptr, nullptr), "compacting the vault database"));
    }
    return Ok();
  }

  Status RequireKnownCase(std::string_view case_id) {
    EVAULT_ASSIGN_OR_RETURN(auto readable, catalog->Get(0, fmt::format("case/{}", case_id)));
    if (readable) return Ok();
    EVAULT_ASSIGN_OR_RETURN(auto announced, catalog->Scan(0, fmt::format("ckey/{}/", case_id)));
    if (!announced.empty()) return Ok();
    return Fail(ErrorCode::kNotFound, fmt::format("no case with id {}", case_id));
  }

  Result<std::string> RecordCase(std::string_view record_id) {
    EVAULT_TRY(ParseId("record", record_id));
    EVAULT_ASSIGN_OR_RETURN(auto case_id, catalog->Get(0, fmt::format("rec/{}", record_id)));
    if (!case_id) return Fail(ErrorCode::kNotFound, fmt::format("no record with id {}", record_id));
    return *case_id;
  }

  Result<std::vector<std::string>> Heads(std::string_view record_id) {
    const std::string prefix = fmt::format("head/{}/", record_id);
    EVAULT_ASSIGN_OR_RETURN(auto entries, catalog->Scan(0, prefix));
    std::vector<std::string> heads;
    for (auto& [k, v] : entries) heads.push_back(k.substr(prefix.size()));
    if (heads.empty()) return Fail(ErrorCode::kCorrupt, "a record has no current revision");
    return heads;
  }

  // What a listing shows of a head revision, kept as its catalog value so listings and
  // searches open no objects.
  static std::string HeadSummary(std::uint64_t revision, const json& record) {
    return json{{"revision", revision}, {"kind", record.value("kind", "")}, {"title", record.value("title", "")}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }

  Result<RecordSummary> Summarize(std::string_view record_id, std::string case_id) {
    const std::string prefix = fmt::format("head/{}/", record_id);
    EVAULT_ASSIGN_OR_RETURN(auto heads, catalog->Scan(0, prefix));
    if (heads.empty()) return Fail(ErrorCode::kCorrupt, "a record has no current revision");
    RecordSummary s;
    s.record_id = std::string(record_id);
    s.case_id = std::move(case_id);
    s.conflict = heads.size() > 1;
    for (const auto& [key, summary] : heads) {
      std::uint64_t revision = 0;
      json data;
      if (summary.empty()) {  // indexed before heads carried their summary
        EVAULT_ASSIGN_OR_RETURN(RecordRevision r, LoadRevision(record_id, key.substr(prefix.size())));
        revision = r.revision;
        data = std::move(r.data);
      } else {
        json parsed = json::parse(summary, nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_object() || !parsed.value("revision", json()).is_number_unsigned()) {
          return Fail(ErrorCode::kCorrupt, "a record's catalog entry is malformed");
        }
        revision = parsed["revision"].get<std::uint64_t>();
        data = std::move(parsed);
      }
      if (revision >= s.revision) {
        s.revision = revision;
        s.kind = data.value("kind", "");
        s.title = data.value("title", "");
      }
    }
    return s;
  }

  Result<RecordRevision> WriteRevision(std::string_view case_id, std::string_view record_id,
                                       const json& record, std::vector<std::string> parents,
                                       std::uint64_t revision) {
    EVAULT_TRY(RequireWriter());
    Txn t = Begin();
    EVAULT_ASSIGN_OR_RETURN(RecordRevision r, StageRevision(t, case_id, record_id, record, std::move(parents), revision));
    EVAULT_TRY(Commit(t));
    return r;
  }

  // A new revision staged in `t`: its object, its catalog and search entries and its
  // custody entry (several per transaction for a batch of records). The caller checks
  // the role and commits.
  Result<RecordRevision> StageRevision(Txn& t, std::string_view case_id, std::string_view record_id,
                                       const json& record, std::vector<std::string> parents,
                                       std::uint64_t revision) {
    RecordRevision r;
    r.record_id = std::string(record_id);
    r.case_id = std::string(case_id);
    r.revision = revision;
    r.parents = std::move(parents);
    r.created = NowUtc();
    r.author = device_id;
    r.data = record;
    json body = {{"record_id", r.record_id}, {"case_id", r.case_id}, {"revision", r.revision},
                 {"parents", r.parents},     {"created", r.created}, {"author", r.author},
                 {"record", record}};
    EVAULT_ASSIGN_OR_RETURN(Bytes object_id,
                            PutObject(t, {ObjectKind::kRecordRevision, *crypto::FromHex(record_id), revision,
                                          *crypto::FromHex(case_id)},
                                      CanonicalJson(body), SymmetricKey::Generate()));
    r.revision_id = Hex(object_id);
    IndexRevision(t, r.case_id, r.record_id, r.revision_id, r.revision, r.parents, record);
    EVAULT_TRY(Audit(t, r.case_id, r.parents.empty() ? audit::action::kRecordCapture : audit::action::kRecordEdit,
                     {{"record_id", r.record_id},
                      {"revision_id", r.revision_id},
                      {"revision", r.revision},
                      {"sha256", audit::LineSha256(CanonicalJson(body))}}));
    return r;
  }

  // Catalog and search entries of a revision, written locally or pulled: it replaces its
  // parents among the record's heads; a revision whose parents are not all heads (a
  // concurrent edit) becomes a sibling head, i.e. a visible conflict.
  void IndexRevision(Txn& t, const std::string& case_id, const std::string& record_id,
                     const std::string& revision_id, std::uint64_t revision,
                     const std::vector<std::string>& parents, const json& record) {
    catalog->Put(0, fmt::format("rec/{}", record_id), case_id);
    catalog->Put(0, fmt::format("crec/{}/{}", case_id, record_id), "");
    catalog->Put(0, fmt::format("rev/{}/{}/{}", record_id, OrderKey(t), revision_id), revision_id);
    for (const auto& p : parents) catalog->Delete(0, fmt::format("head/{}/{}", record_id, p));
    catalog->Put(0, fmt::format("head/{}/{}", record_id, revision_id), HeadSummary(revision, record));
    std::set<std::string> tokens;
    for (const auto& text : RecordText(record)) tokens.merge(Tokenize(text));
    for (const auto& token : tokens) {
      search->Put(TokenPartition(token), fmt::format("t/{}/{}", token, record_id), "");
    }
  }

  Result<AttachmentInfo> AttachmentFromBody(const json& body, std::string_view id) {
    AttachmentInfo a;
    a.id = std::string(id);
    a.record_id = Field<std::string>(body, "record_id");
    a.case_id = Field<std::string>(body, "case_id");
    a.sha256 = Field<std::string>(body, "sha256");
    a.size = Field<std::uint64_t>(body, "size");
    a.chunks = Field<std::uint64_t>(body, "chunks");
    a.media_type = Field<std::string>(body, "media_type");
    a.file_name = Field<std::string>(body, "file_name");
    a.captured = Field<std::string>(body, "captured");
    a.device = Field<std::string>(body, "device");
    const std::uint64_t expected_chunks = a.size == 0 ? 1 : (a.size + crypto::kChunkSize - 1) / crypto::kChunkSize;
    if (a.chunks != expected_chunks || a.sha256.size() != 64) {
      return Fail(ErrorCode::kCorrupt, "an attachment manifest is inconsistent");
    }
    return a;
  }

  struct AttachmentKeys {
    crypto::ChunkCipher cipher;
    SymmetricKey names;
  };

  AttachmentKeys KeysFor(const SymmetricKey& content_key, const Bytes& attachment_id) const {
    Bytes stream_id = header.vault_id;
    stream_id.insert(stream_id.end(), attachment_id.begin(), attachment_id.end());
    return {crypto::ChunkCipher(crypto::DeriveSubkey(content_key, crypto::KeyPurpose::kAttachmentData),
                                std::move(stream_id)),
            crypto::DeriveSubkey(content_key, crypto::KeyPurpose::kChunkNames)};
  }

  // Removes the chunks of uploads that never committed their manifest (the process
  // died mid-way). Their "pend/" entry holds the chunk-name key and the number of chunks
  // the file had when the upload began; every name below that count is deleted, whether
  // or not it reached the disk. Beyond it (a file that grew while it was read), and for
  // entries of older versions that hold only the key, chunks are looked up until the
  // first gap: chunks are written in order, by one writer, and RocksDB records a
  // family's flushes in the order of its memtables, so the ones a crash kept are a prefix.
  Status SweepInterruptedUploads() {
    EVAULT_ASSIGN_OR_RETURN(auto pending, catalog->Scan(0, "pend/"));
    if (pending.empty()) return Ok();
    Txn t = Begin();
    for (const auto& [key, announced] : pending) {
      const bool counted = announced.size() == SymmetricKey::kBytes + 8;
      const std::string_view key_bytes = std::string_view(announced).substr(0, counted ? SymmetricKey::kBytes : announced.size());
      EVAULT_ASSIGN_OR_RETURN(SymmetricKey names, SymmetricKey::FromBytes(SecretBytes::CopyFrom(key_bytes)));
      const std::uint64_t count =
          counted ? crypto::LoadU64(reinterpret_cast<const std::uint8_t*>(announced.data()) + SymmetricKey::kBytes) : 0;
      for (std::uint64_t i = 0; i < count; ++i) t.batch.Delete(chunks, Slice(ChunkName(names, i)));
      for (std::uint64_t i = count;; ++i) {
        const Bytes name = ChunkName(names, i);
        std::string ignored;
        auto s = db->Get(ChunkReadOptions(), chunks, Slice(name), &ignored);
        if (s.IsNotFound()) break;
        EVAULT_TRY(FromRocks(s, "cleaning up an interrupted attachment"));
        t.batch.Delete(chunks, Slice(name));
      }
      catalog->Delete(0, key);
    }
    return Commit(t);
  }

  // Hands an attachment's original bytes to `sink`, each chunk authenticated first;
  // kTampered if a chunk, the size or the SHA-256 differs. Not logged (callers log).
  Status StreamAttachment(std::string_view attachment_id, const SinkFn& sink, const ProgressFn& progress);

  // --- custody log (audit_log.cc) ------------------------------------------------------
  // Each stream (a case, or "" for the vault's own log) is kept in the order this device
  // learned its entries. Catalog:
  //   alog/<stream>/<index %016x> -> <object id>/<leaf hash>     (index from 0)
  //   asize/<stream>              -> entries in the local log
  //   ahead/<stream>/<device key> -> <seq>/<line sha256>         (a device's chain head)
  //   abase/<stream>/<device key> -> <seq>/<line sha256>         (where a purged log resumes)
  //   acp/<stream>/<size %016x>   -> a signed checkpoint line
  // where <stream> is the case id or "-".

  // Signs this device's entry for `action` on `case_hex` ("" for the vault), seals it
  // like the case's evidence (the vault's log: to readers only) and appends it to the
  // local log, in transaction `t`: the action and its entry commit together.
  Status Audit(Txn& t, const std::string& case_hex, std::string_view action, const json& subject);
  // The keys a custody entry of `case_id` (empty: the vault's log) is sealed to.
  Result<SealingKeys> CustodySealing(Txn& t, const Bytes& case_id);
  // The same in a transaction of its own (views and reads, which write nothing else).
  Status AuditNow(const std::string& case_hex, std::string_view action, const json& subject);
  // Appends a verified entry line (this device's or pulled) to the local log.
  Status AppendAuditLine(Txn& t, const std::string& case_hex, const std::string& line, const std::string& object_hex);
  // A pulled entry: checked against its envelope and, for a capture, against the object
  // it names (which must exist and be by the same author), then appended.
  Status ApplyPulledAudit(Txn& t, const format::v1::ObjectEnvelope& e, const OpenedObject& opened);
  // Authors of the objects applied by the pull in progress (object id hex -> author key
  // hex): not in the database until the pull commits.
  std::map<std::string, std::string> pulled_authors;
  Result<std::optional<std::string>> AuthorOf(const std::string& object_hex);
  // The local log of a stream: its lines (opened from their objects) and leaf hashes.
  struct AuditStream {
    std::vector<std::string> lines;
    std::vector<audit::Hash> leaves;
  };
  Result<AuditStream> LoadAuditStream(const std::string& case_hex);
  Result<std::vector<std::string>> AuditStreams();  // case ids, and "" for the vault log
  // Signs a checkpoint of every stream whose log grew since its last one.
  Status CheckpointAuditLogs(Txn& t);
  Result<std::vector<std::string>> AuditCheckpoints(const std::string& case_hex);  // oldest first
  Result<std::map<std::string, audit::ChainHead>> AuditBases(const std::string& case_hex);

  static Bytes ChunkName(const SymmetricKey& names, std::uint64_t index) {
    Bytes msg;
    crypto::AppendU64(msg, index);
    return crypto::KeyedHash(names, msg);
  }
};

}  // namespace evault::vault
