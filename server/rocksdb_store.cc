#include "server/rocksdb_store.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <fmt/format.h>

#include "server/store_checks.h"
#include "vault/object.h"
#include "vault/rocksdb_setup.h"

namespace evault::server {

using crypto::ByteView;
using format::v1::ObjectEnvelope;
using rocksdb::Slice;

namespace fs = std::filesystem;

namespace {

std::string_view Text(ByteView b) { return crypto::AsText(b); }

void AppendBigEndian(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint64_t LoadBigEndian(std::string_view s) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[i]);
  return v;
}

std::string U64(std::uint64_t v) {
  crypto::Bytes b;
  crypto::AppendU64(b, v);
  return std::string(b.begin(), b.end());
}

std::uint64_t LoadU64(std::string_view s) {
  return crypto::LoadU64(reinterpret_cast<const std::uint8_t*>(s.data()));
}

std::string Key(char tag, ByteView vault_id, std::string_view rest = {}) {
  std::string k(1, tag);
  k.append(Text(vault_id));
  k.append(rest);
  return k;
}

std::string SeqKey(char tag, ByteView vault_id, std::uint64_t seq) {
  std::string k = Key(tag, vault_id);
  AppendBigEndian(k, seq);
  return k;
}

// In the chunks column family: no tag, the family is the namespace.
std::string ChunkKey(ByteView vault_id, std::string_view chunk_id) {
  return std::string(Text(vault_id)).append(chunk_id);
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string HeadValue(const ObjectEnvelope& e) {
  const crypto::Bytes hash = vault::ObjectCodec::ChainHash(e);
  return U64(e.author_seq()) + std::string(hash.begin(), hash.end());
}

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

std::unexpected<Error> IoError(const rocksdb::Status& s) {
  return Fail(s.IsNoSpace() ? ErrorCode::kNoSpace : ErrorCode::kIo, "storage: " + s.ToString());
}

rocksdb::WriteOptions Durable() {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

// Chunks skip the write-ahead log (see ChunkUpload below): each byte is written once.
rocksdb::WriteOptions WithoutLog() {
  rocksdb::WriteOptions w;
  w.disableWAL = true;
  return w;
}

rocksdb::Options DbOptions() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.info_log = std::make_shared<vault::SilentLogger>();
  options.keep_log_file_num = 1;
  options.paranoid_checks = true;
  options.compression = rocksdb::kNoCompression;  // ciphertext does not compress
  // Every flush of chunks makes a blob file, and RocksDB keeps each file it has read
  // open: without a bound a large store runs out of file descriptors (a client vault
  // of 400 MiB failed so under `ulimit -n 40`).
  options.max_open_files = RocksDbStore::kMaxOpenFiles;
  options.max_background_flushes = 2;
  // Chunks skip the WAL, so RocksDB would flush every memtable at close, including
  // uncommitted uploads' chunks that the next open deletes anyway. Committed chunks are
  // flushed already; the rest of the data is in the WAL.
  options.avoid_flush_during_shutdown = true;
  // A damaged WAL record fails the open rather than silently dropping acknowledged
  // writes; only a torn record at the very end (a crash mid-write) is tolerated.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  return options;
}

rocksdb::ColumnFamilyOptions ChunkFamilyOptions() {
  rocksdb::ColumnFamilyOptions cf(DbOptions());
  cf.enable_blob_files = true;  // ~1 MiB values: keep them out of compaction
  cf.min_blob_size = 4096;
  cf.blob_file_size = 256 << 20;
  // Staged chunks wait in memtables until Commit flushes them; three of 16 MiB keep
  // two flushes running while an upload fills the third, and bound the memory.
  cf.write_buffer_size = 16 << 20;
  cf.max_write_buffer_number = 3;
  return cf;
}

// 'p' vault chunk_id -> "": a chunk staged but not yet committed (see ChunkUpload).
std::string PendingKey(ByteView vault_id, std::string_view chunk_id) { return Key('p', vault_id, chunk_id); }

const std::string kIncarnationKey = "n";
constexpr std::size_t kIncarnationBytes = 16;

// 'e' token hash -> created (Unix s) i64 | revoked u8 | note.
std::string EnrollTokenValue(const IssuedEnrollToken& t) {
  return U64(static_cast<std::uint64_t>(t.created_unix)) + std::string(1, t.revoked ? '\1' : '\0') + t.note;
}

Result<IssuedEnrollToken> DecodeEnrollToken(ByteView hash, std::string_view raw) {
  if (raw.size() < 9 || static_cast<std::uint8_t>(raw[8]) > 1) {
    return Fail(ErrorCode::kCorrupt, "storage: enrollment token record is malformed");
  }
  IssuedEnrollToken t;
  t.hash.assign(hash.begin(), hash.end());
  t.created_unix = static_cast<std::int64_t>(LoadU64(raw));
  t.revoked = raw[8] == 1;
  t.note = raw.substr(9);
  return t;
}

// The number of keys that start with `prefix`.
Result<std::uint64_t> CountKeys(rocksdb::DB& db, const std::string& prefix) {
  std::uint64_t count = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++count;
  if (!it->status().ok()) return IoError(it->status());
  return count;
}

}  // namespace

// The 'v' record of a vault (see the layout in rocksdb_store.h).
struct RocksDbStore::VaultMeta {
  static constexpr std::size_t kOldSize = 16;  // head seq | bytes used, as first written
  static constexpr std::size_t kSize = 32;

  std::uint64_t head_seq = 0;
  std::uint64_t bytes_used = 0;
  std::int64_t last_write_unix = 0;
  std::uint64_t quota_bytes = 0;

  static Result<VaultMeta> Decode(std::string_view raw) {
    if (raw.size() != kSize && raw.size() != kOldSize) return Fail(ErrorCode::kCorrupt, "storage: vault record is malformed");
    VaultMeta meta{LoadU64(raw), LoadU64(raw.substr(8))};
    if (raw.size() == kSize) {
      meta.last_write_unix = static_cast<std::int64_t>(LoadU64(raw.substr(16)));
      meta.quota_bytes = LoadU64(raw.substr(24));
    }
    return meta;
  }
  // Always the current format: an old record is rewritten on the vault's next write.
  std::string Encode() const {
    return U64(head_seq) + U64(bytes_used) + U64(static_cast<std::uint64_t>(last_write_unix)) + U64(quota_bytes);
  }
  VaultSummary Summary(ByteView vault_id) const {
    return {crypto::Bytes(vault_id.begin(), vault_id.end()), head_seq, bytes_used, last_write_unix, quota_bytes};
  }
};

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create the data directory: " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot restrict the data directory: " + ec.message());

  rocksdb::Options options = DbOptions();
  // Commits flush uploaded chunks into blob files. With O_DIRECT, where the file system
  // takes it, they skip the copy into the page cache, as in the vault.
  options.use_direct_io_for_flush_and_compaction = vault::DirectWritesWork(dir);
  // And chunks are read back past it (see NewDirectBlobReadsEnv).
  std::unique_ptr<rocksdb::Env> env;
  if (options.use_direct_io_for_flush_and_compaction) {
    env = vault::NewDirectBlobReadsEnv();
    options.env = env.get();
  }
  // Else each compaction input would get a 2 MiB readahead buffer; the tables compacted
  // are small (the chunks family's hold blob references).
  options.compaction_readahead_size = 256 << 10;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
      {"chunks", ChunkFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), (dir / kDatabaseDir).string(), families, &handles, &raw);
  if (!s.ok()) return IoError(s);

  std::unique_ptr<RocksDbStore> store(new RocksDbStore());
  store->env_ = std::move(env);
  store->db_.reset(raw);
  // The default family's handle is owned by the DB; only ours must be destroyed.
  store->chunks_ = handles[1];
  delete handles[0];
  EVAULT_TRY(store->SweepUncommittedChunks());
  EVAULT_TRY(store->LoadIncarnation());
  return store;
}

// A store made before incarnations were kept gets one at its first open.
Status RocksDbStore::LoadIncarnation() {
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), kIncarnationKey, &raw);
  if (s.IsNotFound()) return WriteIncarnation(crypto::RandomBytes(kIncarnationBytes));
  if (!s.ok()) return IoError(s);
  if (raw.size() != kIncarnationBytes) return Fail(ErrorCode::kCorrupt, "storage: incarnation is malformed");
  std::lock_guard lock(incarnation_mu_);
  incarnation_.assign(raw.begin(), raw.end());
  return Ok();
}

Status RocksDbStore::WriteIncarnation(crypto::Bytes incarnation) {
  rocksdb::WriteBatch batch;
  batch.Put(kIncarnationKey, Text(incarnation));
  if (auto s = db_->Write(Durable(), &batch); !s.ok()) return IoError(s);
  std::lock_guard lock(incarnation_mu_);
  incarnation_ = std::move(incarnation);
  return Ok();
}

Result<crypto::Bytes> RocksDbStore::Incarnation() {
  std::lock_guard lock(incarnation_mu_);
  return incarnation_;
}

Status RocksDbStore::RenewIncarnation() { return WriteIncarnation(crypto::RandomBytes(kIncarnationBytes)); }

// A RocksDB checkpoint flushes every memtable, then links the live table and blob files
// and copies the write-ahead log. Committed chunks are the one thing written without
// the log: a commit flushes them and then writes their 'c' entries. A commit between
// the checkpoint's flush and its copy of the log could put those entries in the copy
// without the chunks' blob file, so commits wait for the checkpoint (seconds: no byte
// of a table is copied). Appends and staging go on; chunks staged but not committed
// are swept when the backup is next opened, as after a crash.
Status RocksDbStore::Backup(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Fail(ErrorCode::kAlreadyExists, fmt::format("the backup directory {} exists already", dir.string()));
  }
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) {
    return Fail(ErrorCode::kNotFound, fmt::format("the backup directory's parent {} does not exist", parent.string()));
  }
  rocksdb::Checkpoint* raw = nullptr;
  if (auto s = rocksdb::Checkpoint::Create(db_.get(), &raw); !s.ok()) return IoError(s);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  {
    std::unique_lock lock(commit_mu_);
    if (auto s = checkpoint->CreateCheckpoint(dir.string()); !s.ok()) {
      return Fail(s.IsNoSpace() ? ErrorCode::kNoSpace : ErrorCode::kIo,
                  fmt::format("cannot write the backup to {}: {}", dir.string(), s.ToString()));
    }
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot restrict the backup directory {}: {}", dir.string(), ec.message()));
  return Ok();
}

// An upload that never committed (a crash, a dropped stream) left its chunks without
// their 'c' entries: invisible, but taking space. Nothing else runs yet, so no upload
// is in flight and every pending entry without a 'c' entry is garbage.
Status RocksDbStore::SweepUncommittedChunks() {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("p"); it->Valid() && it->key().starts_with("p"); it->Next()) {
    const std::string_view rest = std::string_view(it->key().data(), it->key().size()).substr(1);
    if (rest.size() != kIdBytes + kChunkIdBytes) return Fail(ErrorCode::kCorrupt, "storage: pending chunk key is malformed");
    const ByteView vault_id = crypto::AsBytes(rest.substr(0, kIdBytes));
    const std::string_view chunk_id = rest.substr(kIdBytes);
    std::string unused;
    auto s = db_->Get(rocksdb::ReadOptions(), Key('c', vault_id, chunk_id), &unused);
    if (s.IsNotFound()) {
      batch.Delete(chunks_, ChunkKey(vault_id, chunk_id));
    } else if (!s.ok()) {
      return IoError(s);
    }
    batch.Delete(it->key());
  }
  if (!it->status().ok()) return IoError(it->status());
  if (batch.Count() == 0) return Ok();
  auto s = db_->Write(Durable(), &batch);
  if (!s.ok()) return IoError(s);
  return Ok();
}

RocksDbStore::~RocksDbStore() {
  if (!db_) return;
  if (chunks_ != nullptr) db_->DestroyColumnFamilyHandle(chunks_);
  (void)db_->Close();
}

std::mutex& RocksDbStore::VaultMutex(ByteView vault_id) {
  std::lock_guard lock(vault_mus_mu_);
  auto& mu = vault_mus_[std::string(Text(vault_id))];
  if (!mu) mu = std::make_unique<std::mutex>();
  return *mu;
}

Result<std::optional<RocksDbStore::VaultMeta>> RocksDbStore::ReadMeta(ByteView vault_id) {
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), Key('v', vault_id), &raw);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return IoError(s);
  return VaultMeta::Decode(raw);
}

Result<std::optional<StoredObject>> RocksDbStore::ReadObjectAt(ByteView vault_id, std::uint64_t seq) {
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), SeqKey('o', vault_id, seq), &raw);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return IoError(s);
  StoredObject out{seq, {}};
  if (!out.envelope.ParseFromString(raw)) return Fail(ErrorCode::kCorrupt, "storage: object is malformed");
  return out;
}

Result<bool> RocksDbStore::VaultExists(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  return meta.has_value();
}

Result<CreateOutcome> RocksDbStore::CreateVault(ByteView vault_id, const ObjectEnvelope& genesis,
                                                ByteView enroll_token_hash) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_TRY(CheckEnvelope(genesis));
  if (enroll_token_hash.empty()) return Fail(ErrorCode::kInvalidArgument, "enrollment token hash is empty");
  std::lock_guard create_lock(create_mu_);
  std::lock_guard vault_lock(VaultMutex(vault_id));

  const std::string token_key = "t" + std::string(Text(enroll_token_hash));
  std::string unused;
  auto s = db_->Get(rocksdb::ReadOptions(), token_key, &unused);
  if (s.ok()) return CreateOutcome::kTokenSpent;
  if (!s.IsNotFound()) return IoError(s);
  EVAULT_ASSIGN_OR_RETURN(auto issued, ReadEnrollToken(enroll_token_hash));
  if (issued && issued->revoked) return CreateOutcome::kTokenRevoked;
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  if (meta) return CreateOutcome::kVaultExists;

  const std::string encoded = Serialize(genesis);
  rocksdb::WriteBatch batch;
  batch.Put(Key('v', vault_id), VaultMeta{1, encoded.size(), UnixNow(), 0}.Encode());
  batch.Put(SeqKey('o', vault_id, 1), encoded);
  batch.Put(Key('i', vault_id, genesis.object_id()), U64(1));
  batch.Put(Key('a', vault_id, genesis.author()), HeadValue(genesis));
  if (!genesis.public_body().empty()) batch.Put(SeqKey('m', vault_id, 1), "");
  batch.Put(token_key, "");
  s = db_->Write(Durable(), &batch);
  if (!s.ok()) return IoError(s);
  return CreateOutcome::kCreated;
}

Result<std::vector<Appended>> RocksDbStore::Append(ByteView vault_id, std::span<const ObjectEnvelope> envelopes,
                                                   std::optional<std::uint64_t> membership_ops) {
  EVAULT_TRY(CheckVaultId(vault_id));
  for (const auto& e : envelopes) EVAULT_TRY(CheckEnvelope(e));
  std::lock_guard lock(VaultMutex(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  if (!meta) return Fail(ErrorCode::kNotFound, "no such vault");
  if (membership_ops) {
    // Every writer of 'm' entries holds the vault's mutex, which is ours: the count
    // cannot change before this append is written. A vault has few membership
    // operations (members times a handful), so counting their empty entries is cheap.
    EVAULT_ASSIGN_OR_RETURN(std::uint64_t count, CountKeys(*db_, Key('m', vault_id)));
    if (count != *membership_ops) {
      return Fail(ErrorCode::kAborted, "the vault's membership changed since the append was checked");
    }
  }

  std::vector<Appended> out;
  out.reserve(envelopes.size());
  std::unordered_map<std::string, std::uint64_t> in_batch;  // object id -> seq
  // Heads are written under the vault's mutex, which is ours.
  ChainExtension chains([&](const std::string& author) { return AuthorHead(vault_id, crypto::AsBytes(author)); });
  rocksdb::WriteBatch batch;
  for (const auto& e : envelopes) {
    if (auto it = in_batch.find(e.object_id()); it != in_batch.end()) {
      out.push_back({it->second, true});
      continue;
    }
    std::string existing;
    auto s = db_->Get(rocksdb::ReadOptions(), Key('i', vault_id, e.object_id()), &existing);
    if (s.ok()) {
      if (existing.size() != 8) return Fail(ErrorCode::kCorrupt, "storage: object index is malformed");
      out.push_back({LoadU64(existing), true});
      continue;
    }
    if (!s.IsNotFound()) return IoError(s);
    EVAULT_TRY(chains.Check(e));

    const std::uint64_t seq = ++meta->head_seq;
    const std::string encoded = Serialize(e);
    meta->bytes_used += encoded.size();
    batch.Put(SeqKey('o', vault_id, seq), encoded);
    batch.Put(Key('i', vault_id, e.object_id()), U64(seq));
    // Later envelopes of the same author in this batch overwrite this head: the
    // batch applies in order, so the last one wins, as it should.
    batch.Put(Key('a', vault_id, e.author()), HeadValue(e));
    if (!e.public_body().empty()) batch.Put(SeqKey('m', vault_id, seq), "");
    in_batch.emplace(e.object_id(), seq);
    out.push_back({seq, false});
  }
  if (batch.Count() == 0) return out;
  meta->last_write_unix = UnixNow();
  batch.Put(Key('v', vault_id), meta->Encode());
  auto s = db_->Write(Durable(), &batch);
  if (!s.ok()) return IoError(s);
  return out;
}

Result<std::uint64_t> RocksDbStore::HeadSeq(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  return meta ? meta->head_seq : 0;
}

Result<std::optional<StoredObject>> RocksDbStore::FindObject(ByteView vault_id, ByteView object_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (object_id.size() != kIdBytes) return Fail(ErrorCode::kInvalidArgument, "object id must be 16 bytes");
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), Key('i', vault_id, Text(object_id)), &raw);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return IoError(s);
  if (raw.size() != 8) return Fail(ErrorCode::kCorrupt, "storage: object index is malformed");
  EVAULT_ASSIGN_OR_RETURN(auto object, ReadObjectAt(vault_id, LoadU64(raw)));
  if (!object) return Fail(ErrorCode::kCorrupt, "storage: indexed object is missing");
  return object;
}

Result<std::vector<StoredObject>> RocksDbStore::Scan(ByteView vault_id, std::uint64_t after_seq,
                                                     std::size_t max_count, std::size_t max_bytes) {
  EVAULT_TRY(CheckVaultId(vault_id));
  std::vector<StoredObject> out;
  if (max_count == 0 || after_seq == UINT64_MAX) return out;
  const std::string prefix = Key('o', vault_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::size_t bytes = 0;
  for (it->Seek(SeqKey('o', vault_id, after_seq + 1)); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    const Slice value = it->value();
    if (!out.empty() && bytes + value.size() > max_bytes) break;
    StoredObject object;
    object.server_seq = LoadBigEndian(std::string_view(it->key().data() + prefix.size(), 8));
    if (!object.envelope.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return Fail(ErrorCode::kCorrupt, "storage: object is malformed");
    }
    bytes += value.size();
    out.push_back(std::move(object));
    if (out.size() >= max_count) break;
  }
  if (!it->status().ok()) return IoError(it->status());
  return out;
}

Result<ChainHead> RocksDbStore::AuthorHead(ByteView vault_id, ByteView author) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (author.size() != kAuthorBytes) return Fail(ErrorCode::kInvalidArgument, "author must be 32 bytes");
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), Key('a', vault_id, Text(author)), &raw);
  if (s.IsNotFound()) return ChainHead{};
  if (!s.ok()) return IoError(s);
  if (raw.size() < 8) return Fail(ErrorCode::kCorrupt, "storage: chain head is malformed");
  return ChainHead{LoadU64(raw), crypto::Bytes(raw.begin() + 8, raw.end())};
}

Result<std::vector<ObjectEnvelope>> RocksDbStore::MembershipEnvelopes(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  const std::string prefix = Key('m', vault_id);
  std::vector<std::uint64_t> seqs;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != prefix.size() + 8) return Fail(ErrorCode::kCorrupt, "storage: bad membership key");
      seqs.push_back(LoadBigEndian(std::string_view(it->key().data() + prefix.size(), 8)));
    }
    if (!it->status().ok()) return IoError(it->status());
  }
  std::vector<ObjectEnvelope> out;
  out.reserve(seqs.size());
  for (std::uint64_t seq : seqs) {
    EVAULT_ASSIGN_OR_RETURN(auto object, ReadObjectAt(vault_id, seq));
    if (!object) return Fail(ErrorCode::kCorrupt, "storage: membership object is missing");
    out.push_back(std::move(object->envelope));
  }
  return out;
}

Result<std::uint64_t> RocksDbStore::BytesUsed(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  return meta ? meta->bytes_used : 0;
}

Result<std::vector<VaultSummary>> RocksDbStore::ListVaults() {
  std::vector<VaultSummary> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("v"); it->Valid() && it->key().starts_with("v"); it->Next()) {
    if (it->key().size() != 1 + kIdBytes) return Fail(ErrorCode::kCorrupt, "storage: vault key is malformed");
    EVAULT_ASSIGN_OR_RETURN(VaultMeta meta, VaultMeta::Decode(std::string_view(it->value().data(), it->value().size())));
    out.push_back(meta.Summary(crypto::AsBytes(std::string_view(it->key().data() + 1, kIdBytes))));
  }
  if (!it->status().ok()) return IoError(it->status());
  return out;
}

Result<std::optional<VaultSummary>> RocksDbStore::FindVault(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  if (!meta) return std::nullopt;
  return meta->Summary(vault_id);
}

Status RocksDbStore::SetVaultQuota(ByteView vault_id, std::uint64_t quota_bytes) {
  EVAULT_TRY(CheckVaultId(vault_id));
  std::lock_guard lock(VaultMutex(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  if (!meta) return Fail(ErrorCode::kNotFound, "no such vault");
  meta->quota_bytes = quota_bytes;
  rocksdb::WriteBatch batch;
  batch.Put(Key('v', vault_id), meta->Encode());
  if (auto s = db_->Write(Durable(), &batch); !s.ok()) return IoError(s);
  return Ok();
}

// --- enrollment tokens issued by the operator ------------------------------------------

Result<std::optional<IssuedEnrollToken>> RocksDbStore::ReadEnrollToken(ByteView token_hash) {
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), Key('e', token_hash), &raw);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return IoError(s);
  EVAULT_ASSIGN_OR_RETURN(IssuedEnrollToken token, DecodeEnrollToken(token_hash, raw));
  std::string unused;
  s = db_->Get(rocksdb::ReadOptions(), Key('t', token_hash), &unused);
  if (!s.ok() && !s.IsNotFound()) return IoError(s);
  token.spent = s.ok();
  return token;
}

Status RocksDbStore::IssueEnrollToken(ByteView token_hash, std::int64_t created_unix, std::string_view note) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  EVAULT_TRY(CheckEnrollTokenNote(note));
  std::lock_guard lock(create_mu_);
  EVAULT_ASSIGN_OR_RETURN(auto existing, ReadEnrollToken(token_hash));
  if (existing) return Fail(ErrorCode::kAlreadyExists, "that enrollment token is issued already");
  rocksdb::WriteBatch batch;
  batch.Put(Key('e', token_hash), EnrollTokenValue({{}, created_unix, std::string(note), false, false}));
  if (auto s = db_->Write(Durable(), &batch); !s.ok()) return IoError(s);
  return Ok();
}

Result<std::optional<IssuedEnrollToken>> RocksDbStore::FindEnrollToken(ByteView token_hash) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  return ReadEnrollToken(token_hash);
}

Result<std::vector<IssuedEnrollToken>> RocksDbStore::ListEnrollTokens() {
  std::vector<IssuedEnrollToken> out;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("e"); it->Valid() && it->key().starts_with("e"); it->Next()) {
      const ByteView hash = crypto::AsBytes(std::string_view(it->key().data() + 1, it->key().size() - 1));
      EVAULT_ASSIGN_OR_RETURN(auto token, DecodeEnrollToken(hash, std::string_view(it->value().data(), it->value().size())));
      out.push_back(std::move(token));
    }
    if (!it->status().ok()) return IoError(it->status());
  }
  for (auto& token : out) {
    std::string unused;
    auto s = db_->Get(rocksdb::ReadOptions(), Key('t', token.hash), &unused);
    if (!s.ok() && !s.IsNotFound()) return IoError(s);
    token.spent = s.ok();
  }
  std::ranges::sort(out, {}, [](const IssuedEnrollToken& t) { return std::tie(t.created_unix, t.hash); });
  return out;
}

Result<RevokeOutcome> RocksDbStore::RevokeEnrollToken(ByteView token_hash) {
  EVAULT_TRY(CheckTokenHash(token_hash));
  std::lock_guard lock(create_mu_);  // so no CreateVault spends it meanwhile
  EVAULT_ASSIGN_OR_RETURN(auto token, ReadEnrollToken(token_hash));
  if (!token) return Fail(ErrorCode::kNotFound, "no enrollment token with that hash was issued");
  if (token->spent) return RevokeOutcome::kSpent;
  if (token->revoked) return RevokeOutcome::kAlreadyRevoked;
  token->revoked = true;
  rocksdb::WriteBatch batch;
  batch.Put(Key('e', token_hash), EnrollTokenValue(*token));
  if (auto s = db_->Write(Durable(), &batch); !s.ok()) return IoError(s);
  return RevokeOutcome::kRevoked;
}

// --- attachment chunks ------------------------------------------------------------------

Result<bool> RocksDbStore::HasChunk(ByteView vault_id, ByteView chunk_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (chunk_id.size() != kChunkIdBytes) return Fail(ErrorCode::kInvalidArgument, "chunk id must be 16 bytes");
  std::string unused;
  auto s = db_->Get(rocksdb::ReadOptions(), Key('c', vault_id, Text(chunk_id)), &unused);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return IoError(s);
  return true;
}

// An upload writes each chunk once, without the write-ahead log, into the chunks
// family's memtables; RocksDB flushes them in the background to blob files while more
// arrive. Before a group's chunks are written, its 'p' entries are (synced, a few bytes
// each), so a crash can always find what it left behind. Commit waits for the flush
// (then every staged byte is in a synced blob file), and only then writes the 'c'
// entries that make the chunks visible, with the vault's byte count, in one synced
// batch. A crash before that leaves the chunks invisible, and the sweep at the next
// open deletes them; a crash after leaves them durable. A server that wrote every
// chunk into the WAL and again into a blob file wrote 2.11 GB for a 1 GiB push.
class RocksDbStore::Upload final : public ChunkUpload {
 public:
  Upload(RocksDbStore& store, ByteView vault_id) : store_(store), vault_id_(vault_id.begin(), vault_id.end()) {}

  Status Stage(std::span<const sync::v1::Chunk> chunks) override {
    if (committed_) return Fail(ErrorCode::kInvalidArgument, "the upload is already committed");
    for (const auto& c : chunks) {
      if (c.chunk_id().size() != kChunkIdBytes) return Fail(ErrorCode::kInvalidArgument, "chunk id must be 16 bytes");
    }
    rocksdb::WriteBatch pending;
    rocksdb::WriteBatch data;
    std::vector<std::pair<std::string, std::uint64_t>> fresh;
    for (const auto& c : chunks) {
      if (staged_ids_.contains(c.chunk_id())) continue;
      EVAULT_ASSIGN_OR_RETURN(bool present, store_.HasChunk(vault(), crypto::AsBytes(c.chunk_id())));
      if (present) continue;
      pending.Put(PendingKey(vault(), c.chunk_id()), Slice());
      data.Put(store_.chunks_, ChunkKey(vault(), c.chunk_id()), c.data());
      staged_ids_.insert(c.chunk_id());
      fresh.emplace_back(c.chunk_id(), c.data().size());
    }
    if (fresh.empty()) return Ok();
    if (auto s = store_.db_->Write(Durable(), &pending); !s.ok()) return IoError(s);
    if (auto s = store_.db_->Write(WithoutLog(), &data); !s.ok()) return IoError(s);
    for (auto& f : fresh) {
      staged_bytes_ += f.second;
      staged_.push_back(std::move(f));
    }
    return Ok();
  }

  std::uint64_t staged_bytes() const override { return staged_bytes_; }

  Result<std::uint64_t> Commit() override {
    if (committed_) return Fail(ErrorCode::kInvalidArgument, "the upload is already committed");
    committed_ = true;
    if (staged_.empty()) return std::uint64_t{0};
    std::shared_lock no_backup(store_.commit_mu_);  // see Backup
    rocksdb::FlushOptions wait;
    wait.wait = true;
    if (auto s = store_.db_->Flush(wait, store_.chunks_); !s.ok()) return IoError(s);

    std::lock_guard lock(store_.VaultMutex(vault()));
    EVAULT_ASSIGN_OR_RETURN(auto meta, store_.ReadMeta(vault()));
    if (!meta) return Fail(ErrorCode::kNotFound, "no such vault");
    rocksdb::WriteBatch batch;
    std::uint64_t added = 0;
    for (const auto& [id, size] : staged_) {
      // Another upload of the same chunk may have committed it meanwhile.
      EVAULT_ASSIGN_OR_RETURN(bool present, store_.HasChunk(vault(), crypto::AsBytes(id)));
      if (!present) {
        batch.Put(Key('c', vault(), id), U64(size));
        added += size;
      }
      batch.Delete(PendingKey(vault(), id));
    }
    if (added > 0) {
      meta->bytes_used += added;
      meta->last_write_unix = UnixNow();
    }
    batch.Put(Key('v', vault()), meta->Encode());
    if (auto s = store_.db_->Write(Durable(), &batch); !s.ok()) return IoError(s);
    return added;
  }

 private:
  ByteView vault() const { return vault_id_; }

  RocksDbStore& store_;
  crypto::Bytes vault_id_;
  std::unordered_set<std::string> staged_ids_;
  std::vector<std::pair<std::string, std::uint64_t>> staged_;  // chunk id, size
  std::uint64_t staged_bytes_ = 0;
  bool committed_ = false;
};

Result<std::unique_ptr<Store::ChunkUpload>> RocksDbStore::BeginChunkUpload(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  EVAULT_ASSIGN_OR_RETURN(auto meta, ReadMeta(vault_id));
  if (!meta) return Fail(ErrorCode::kNotFound, "no such vault");
  return std::make_unique<Upload>(*this, vault_id);
}

Result<std::optional<std::string>> RocksDbStore::GetChunk(ByteView vault_id, ByteView chunk_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  if (chunk_id.size() != kChunkIdBytes) return Fail(ErrorCode::kInvalidArgument, "chunk id must be 16 bytes");
  EVAULT_ASSIGN_OR_RETURN(bool committed, HasChunk(vault_id, chunk_id));
  if (!committed) return std::nullopt;  // absent, or staged by an upload not yet committed
  std::string data;
  // With RocksDB's checksums on, although the client checks each chunk's AEAD tag: the
  // same switch guards the table blocks that point to the blobs, and a damaged block read
  // unchecked aborts the process in RocksDB's decoder (Debian's build keeps assertions).
  auto s = db_->Get(rocksdb::ReadOptions(), chunks_, ChunkKey(vault_id, Text(chunk_id)), &data);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return IoError(s);
  return data;
}

Result<bool> RocksDbStore::PutJoinRequest(const sync::v1::JoinRequest& request) {
  const ByteView vault_id = crypto::AsBytes(request.vault_id());
  EVAULT_TRY(CheckVaultId(vault_id));
  if (request.invite_id().empty() || request.invite_id().size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "invite id must be 1 to 64 bytes");
  }
  std::lock_guard lock(VaultMutex(vault_id));
  const std::string key = Key('j', vault_id, request.invite_id());
  std::string unused;
  auto s = db_->Get(rocksdb::ReadOptions(), key, &unused);
  if (s.ok()) return false;
  if (!s.IsNotFound()) return IoError(s);
  rocksdb::WriteBatch batch;
  batch.Put(key, Serialize(request));
  s = db_->Write(Durable(), &batch);
  if (!s.ok()) return IoError(s);
  return true;
}

Result<std::vector<sync::v1::JoinRequest>> RocksDbStore::ListJoinRequests(ByteView vault_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  const std::string prefix = Key('j', vault_id);
  std::vector<sync::v1::JoinRequest> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    sync::v1::JoinRequest request;
    if (!request.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Fail(ErrorCode::kCorrupt, "storage: join request is malformed");
    }
    out.push_back(std::move(request));
  }
  if (!it->status().ok()) return IoError(it->status());
  return out;
}

Status RocksDbStore::RemoveJoinRequest(ByteView vault_id, ByteView invite_id) {
  EVAULT_TRY(CheckVaultId(vault_id));
  std::lock_guard lock(VaultMutex(vault_id));
  rocksdb::WriteBatch batch;
  batch.Delete(Key('j', vault_id, Text(invite_id)));
  auto s = db_->Write(Durable(), &batch);
  if (!s.ok()) return IoError(s);
  return Ok();
}

}  // namespace evault::server
