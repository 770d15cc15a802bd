#include "vault/vault.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include <fmt/core.h>
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
#include "vault/media_type.h"
#include "vault/object.h"
#include "vault/record.h"
#include "vault/tokenizer.h"

namespace evault::vault {

namespace fs = std::filesystem;
using crypto::AsBytes;
using crypto::Bytes;
using crypto::ByteView;
using crypto::SecretBytes;
using crypto::SymmetricKey;
using nlohmann::json;

namespace {

constexpr std::size_t kSearchPartitions = 16;
constexpr std::size_t kChunksPerBatch = 8;
constexpr char kChunksFamily[] = "chunks";
constexpr std::size_t kLocalSecretsBytes = 64 + 32 + 32;  // signing sk | box sk | read key

// RocksDB's info log records timestamps of activity; a seized vault should not.
class SilentLogger : public rocksdb::Logger {
 public:
  SilentLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::FATAL_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Hex(ByteView b) { return crypto::ToHex(b); }
std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

Result<Bytes> ParseId(std::string_view what, std::string_view id) {
  auto bytes = crypto::FromHex(id);
  if (!bytes || bytes->size() != kIdBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not a {} id (expected {} hex digits)",
                            id.size() > 64 ? "(too long)" : std::string(id), what, kIdBytes * 2));
  }
  return *bytes;
}

Status FromRocks(const rocksdb::Status& s, std::string_view doing) {
  if (s.ok()) return Ok();
  if (s.IsCorruption()) {
    return Fail(ErrorCode::kTampered, fmt::format("{}: the vault database is damaged ({})", doing, s.ToString()));
  }
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Fail(ErrorCode::kIo, fmt::format("{}: the vault is in use by another evault process", doing));
  }
  if (s.IsNoSpace()) return Fail(ErrorCode::kIo, fmt::format("{}: no space left on device", doing));
  return Fail(ErrorCode::kIo, fmt::format("{}: {}", doing, s.ToString()));
}

rocksdb::Slice Slice(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Result<json> ParseBody(const SecretBytes& body) {
  json parsed = json::parse(body.view(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Fail(ErrorCode::kCorrupt, "stored object is not valid JSON");
  }
  return parsed;
}

template <typename T>
T Field(const json& j, const char* name, T fallback = {}) {
  auto it = j.find(name);
  if (it == j.end()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

}  // namespace

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
  std::optional<SymmetricKey> read_key;
  std::unique_ptr<ObjectCodec> codec;

  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* chunks = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  std::unique_ptr<EncryptedIndex> catalog;
  std::unique_ptr<EncryptedIndex> search;
  format::v1::VaultRoot state;

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
    return crypto::KeyedHash(*token_key, AsBytes(token), 8)[0] % kSearchPartitions;
  }

  void DeriveKeys() {
    names_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kStorageNames);
    token_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kSearchTokens);
  }

  static rocksdb::Options DbOptions() {
    rocksdb::Options options;
    options.paranoid_checks = true;
    options.info_log = std::make_shared<SilentLogger>();
    options.keep_log_file_num = 1;
    options.stats_dump_period_sec = 0;
    options.stats_persist_period_sec = 0;
    options.compression = rocksdb::kNoCompression;  // ciphertext does not compress
    options.max_total_wal_size = 64 << 20;
    return options;
  }

  static rocksdb::ColumnFamilyOptions ChunkFamilyOptions() {
    rocksdb::ColumnFamilyOptions cf;
    cf.compression = rocksdb::kNoCompression;
    cf.enable_blob_files = true;  // 1 MiB values: keep them out of compaction
    cf.min_blob_size = 4096;
    cf.blob_file_size = 256 << 20;
    cf.write_buffer_size = 16 << 20;
    cf.max_write_buffer_number = 2;
    return cf;
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
    if (!secrets || secrets->size() != kLocalSecretsBytes) {
      return Fail(ErrorCode::kTampered, "the vault's device keys failed authentication");
    }
    EVAULT_ASSIGN_OR_RETURN(auto sign, crypto::SigningKeyPair::FromSecretKey(
                                           SecretBytes::CopyFrom(ByteView(secrets->data(), 64))));
    EVAULT_ASSIGN_OR_RETURN(auto boxk, crypto::BoxKeyPair::FromSecretKey(
                                           SecretBytes::CopyFrom(ByteView(secrets->data() + 64, 32))));
    EVAULT_ASSIGN_OR_RETURN(auto rk, SymmetricKey::FromBytes(
                                         SecretBytes::CopyFrom(ByteView(secrets->data() + 96, 32))));
    signing.emplace(std::move(sign));
    box.emplace(std::move(boxk));
    read_key.emplace(std::move(rk));
    return Ok();
  }

  std::string StoreLocalSecrets() const {
    const SymmetricKey local = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kLocalSecrets);
    SecretBytes secrets(kLocalSecretsBytes);
    std::memcpy(secrets.data(), signing->secret_key().data(), 64);
    std::memcpy(secrets.data() + 64, box->secret_key().data(), 32);
    std::memcpy(secrets.data() + 96, read_key->data(), 32);
    return Str(crypto::AeadSeal(local, secrets.span(), LocalSecretsAd()));
  }

  void MakeIndexesAndCodec() {
    const SymmetricKey index_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kIndex);
    catalog = std::make_unique<EncryptedIndex>("catalog", 1, db.get(), index_key.Clone(), header.vault_id);
    search = std::make_unique<EncryptedIndex>("search", kSearchPartitions, db.get(), index_key.Clone(),
                                              header.vault_id);
    codec = std::make_unique<ObjectCodec>(header.vault_id, &*signing, &*read_key);
    device_id = Hex(ByteView(crypto::PublicHash(signing->public_key()).data(), kIdBytes));
    vault_id_hex = Hex(header.vault_id);
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

  struct Txn {
    rocksdb::WriteBatch batch;
    std::uint64_t seq = 0;
    Bytes head;
  };

  Txn Begin() const {
    Txn t;
    t.seq = state.author_seq();
    t.head.assign(state.author_head().begin(), state.author_head().end());
    return t;
  }

  Bytes PutObject(Txn& t, const ObjectIdentity& identity, std::string_view body,
                  const SymmetricKey& content_key) {
    Bytes object_id = crypto::RandomBytes(kIdBytes);
    auto envelope = codec->Seal(object_id, identity, AsBytes(body), t.seq + 1, t.head, content_key);
    t.seq += 1;
    t.head = ObjectCodec::ChainHash(envelope);
    t.batch.Put(Slice(object_id), envelope.SerializeAsString());
    return object_id;
  }

  Status Commit(Txn& t) {
    const SymmetricKey index_key = crypto::DeriveSubkey(*root, crypto::KeyPurpose::kIndex);
    format::v1::VaultRoot next = state;
    auto catalog_root = catalog->Stage(t.batch);
    auto search_root = catalog_root ? search->Stage(t.batch) : decltype(catalog_root)();
    if (!catalog_root || !search_root) {
      catalog->Abandon();
      search->Abandon();
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
    auto status = FromRocks(db->Write(durable, &t.batch), "writing to the vault");
    if (!status) {
      catalog->Abandon();
      search->Abandon();
      return status;
    }
    catalog->Committed(*catalog_root);
    search->Committed(*search_root);
    state = std::move(next);
    return Ok();
  }

  std::string OrderKey() const { return fmt::format("{:016x}", state.transaction() + 1); }

  // --- reading objects ---------------------------------------------------------------

  Result<OpenedObject> LoadObject(std::string_view object_id_hex, ObjectKind kind) {
    EVAULT_ASSIGN_OR_RETURN(Bytes object_id, ParseId("object", object_id_hex));
    rocksdb::PinnableSlice raw;
    auto s = db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), Slice(object_id), &raw);
    if (s.IsNotFound()) {
      return Fail(ErrorCode::kTampered, "a stored object the catalog lists is missing");
    }
    EVAULT_TRY(FromRocks(s, "reading an object"));
    format::v1::ObjectEnvelope envelope;
    if (!envelope.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
      return Fail(ErrorCode::kTampered, "a stored object is malformed");
    }
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, codec->Open(envelope, object_id));
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

  Result<RecordSummary> Summarize(std::string_view record_id, std::string case_id) {
    EVAULT_ASSIGN_OR_RETURN(auto heads, Heads(record_id));
    RecordSummary s;
    s.record_id = std::string(record_id);
    s.case_id = std::move(case_id);
    s.conflict = heads.size() > 1;
    for (const auto& h : heads) {
      EVAULT_ASSIGN_OR_RETURN(RecordRevision r, LoadRevision(record_id, h));
      if (r.revision >= s.revision) {
        s.revision = r.revision;
        s.kind = r.data.value("kind", "");
        s.title = r.data.value("title", "");
      }
    }
    return s;
  }

  Result<RecordRevision> WriteRevision(std::string_view case_id, std::string_view record_id,
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
    Txn t = Begin();
    const std::string order = OrderKey();
    Bytes object_id = PutObject(t, {ObjectKind::kRecordRevision, *crypto::FromHex(record_id), revision},
                                CanonicalJson(body), SymmetricKey::Generate());
    r.revision_id = Hex(object_id);
    catalog->Put(0, fmt::format("rec/{}", record_id), std::string(case_id));
    catalog->Put(0, fmt::format("crec/{}/{}", case_id, record_id), "");
    catalog->Put(0, fmt::format("rev/{}/{}/{}", record_id, order, r.revision_id), r.revision_id);
    for (const auto& p : r.parents) catalog->Delete(0, fmt::format("head/{}/{}", record_id, p));
    catalog->Put(0, fmt::format("head/{}/{}", record_id, r.revision_id), "");
    std::set<std::string> tokens;
    for (const auto& text : RecordText(record)) tokens.merge(Tokenize(text));
    for (const auto& token : tokens) {
      search->Put(TokenPartition(token), fmt::format("t/{}/{}", token, record_id), "");
    }
    EVAULT_TRY(Commit(t));
    return r;
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
  // died mid-way). Chunks are written in order, so they end at the first gap.
  Status SweepInterruptedUploads() {
    EVAULT_ASSIGN_OR_RETURN(auto pending, catalog->Scan(0, "pend/"));
    if (pending.empty()) return Ok();
    Txn t = Begin();
    for (const auto& [key, names_raw] : pending) {
      EVAULT_ASSIGN_OR_RETURN(SymmetricKey names, SymmetricKey::FromBytes(SecretBytes::CopyFrom(names_raw)));
      for (std::uint64_t i = 0;; ++i) {
        const Bytes name = ChunkName(names, i);
        std::string ignored;
        auto s = db->Get(rocksdb::ReadOptions(), chunks, Slice(name), &ignored);
        if (s.IsNotFound()) break;
        EVAULT_TRY(FromRocks(s, "cleaning up an interrupted attachment"));
        t.batch.Delete(chunks, Slice(name));
      }
      catalog->Delete(0, key);
    }
    return Commit(t);
  }

  static Bytes ChunkName(const SymmetricKey& names, std::uint64_t index) {
    Bytes msg;
    crypto::AppendU64(msg, index);
    return crypto::KeyedHash(names, msg);
  }
};

Vault::Vault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vault::~Vault() = default;

const std::string& Vault::device_id() const { return impl_->device_id; }
const std::string& Vault::vault_id() const { return impl_->vault_id_hex; }

Result<std::string> Vault::Create(const fs::path& dir, const SecretBytes& passphrase,
                                  const crypto::PassphraseKdfParams& kdf) {
  crypto::EnsureSodium();
  EVAULT_TRY(crypto::CheckKdfParams(kdf));
  std::error_code ec;
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
  }
  ::chmod(dir.c_str(), 0700);

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->header.vault_id = crypto::RandomBytes(kIdBytes);
  impl->root = SymmetricKey::Generate();
  impl->DeriveKeys();
  impl->signing = crypto::SigningKeyPair::Generate();
  impl->box = crypto::BoxKeyPair::Generate();
  impl->read_key = SymmetricKey::Generate();
  EVAULT_ASSIGN_OR_RETURN(VaultHeader header,
                          SealRootWithPassphrase(impl->header.vault_id, kdf, passphrase, *impl->root));
  impl->header = std::move(header);

  // The database first, the header last: an interrupted init leaves no vault behind
  // that could be mistaken for a good one.
  EVAULT_TRY(impl->OpenDb(/*create=*/true));
  impl->MakeIndexesAndCodec();
  Impl::Txn t = impl->Begin();
  t.batch.Put(Slice(impl->Name("local-secrets")), impl->StoreLocalSecrets());
  EVAULT_TRY(impl->Commit(t));
  EVAULT_TRY(WriteHeader(dir, impl->header));
  return impl->device_id;
}

Result<std::unique_ptr<Vault>> Vault::Open(const fs::path& dir, const SecretBytes& passphrase) {
  crypto::EnsureSodium();
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  EVAULT_ASSIGN_OR_RETURN(impl->header, ReadHeader(dir));
  EVAULT_ASSIGN_OR_RETURN(SymmetricKey root, UnlockRoot(impl->header, passphrase));
  impl->root = std::move(root);
  impl->DeriveKeys();
  EVAULT_TRY(impl->OpenDb(/*create=*/false));
  EVAULT_TRY(impl->LoadLocalSecrets());
  impl->MakeIndexesAndCodec();
  EVAULT_TRY(impl->LoadRoot());
  EVAULT_TRY(impl->SweepInterruptedUploads());
  return std::unique_ptr<Vault>(new Vault(std::move(impl)));
}

Status Vault::ChangePassphrase(const SecretBytes& new_passphrase, const crypto::PassphraseKdfParams& kdf) {
  EVAULT_TRY(crypto::CheckKdfParams(kdf));
  EVAULT_ASSIGN_OR_RETURN(VaultHeader header,
                          SealRootWithPassphrase(impl_->header.vault_id, kdf, new_passphrase, *impl_->root));
  EVAULT_TRY(WriteHeader(impl_->dir, header));
  impl_->header = std::move(header);
  return Ok();
}

Result<CaseInfo> Vault::CreateCase(std::string_view title, const std::vector<std::string>& tags) {
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
  Bytes object_id = impl_->PutObject(t, {ObjectKind::kCase, case_id, 1}, CanonicalJson(body),
                                     SymmetricKey::Generate());
  impl_->catalog->Put(0, fmt::format("case/{}", c.id), Hex(object_id));
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
  EVAULT_TRY(ParseId("case", case_id));
  EVAULT_ASSIGN_OR_RETURN(json record, ParseRecordJson(record_json));
  EVAULT_TRY(impl_->LoadCase(case_id));
  const std::string record_id = Hex(crypto::RandomBytes(kIdBytes));
  return impl_->WriteRevision(case_id, record_id, record, {}, 1);
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
  if (with_history) {
    EVAULT_ASSIGN_OR_RETURN(auto revisions, impl_->catalog->Scan(0, fmt::format("rev/{}/", record_id)));
    for (const auto& [key, revision_id] : revisions) {
      EVAULT_ASSIGN_OR_RETURN(RecordRevision r, impl_->LoadRevision(record_id, revision_id));
      view.history.push_back(std::move(r));
    }
  }
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

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<AttachmentInfo> Vault::AddAttachment(std::string_view record_id, const fs::path& file,
                                            const ProgressFn& progress) {
  EVAULT_ASSIGN_OR_RETURN(std::string case_id, impl_->RecordCase(record_id));
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  FileCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a regular file", file.string()));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const std::uint64_t expected_size = static_cast<std::uint64_t>(st.st_size);

  const Bytes attachment_id = crypto::RandomBytes(kIdBytes);
  SymmetricKey content_key = SymmetricKey::Generate();
  auto keys = impl_->KeysFor(content_key, attachment_id);

  // Announce the upload first, so chunks orphaned by a crash are found and removed at
  // the next Open (they would otherwise only waste space and hint at a file's size).
  const std::string pending_key = fmt::format("pend/{}", Hex(attachment_id));
  {
    Impl::Txn t = impl_->Begin();
    impl_->catalog->Put(0, pending_key, std::string(keys.names.bytes().view()));
    EVAULT_TRY(impl_->Commit(t));
  }

  // Two locked buffers: the current chunk is sealed once the next read tells whether
  // it is the last one.
  SecretBytes current(crypto::kChunkSize), next(crypto::kChunkSize);
  crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
  Bytes sealed;
  sealed.reserve(crypto::MaxSealedChunkSize());
  rocksdb::WriteBatch batch;
  std::vector<Bytes> written_names;
  std::uint64_t index = 0, total = 0;

  auto cleanup = [&]() {
    // Best effort: remove the chunks of an attachment that will never be visible.
    rocksdb::WriteBatch undo;
    for (const auto& name : written_names) undo.Delete(impl_->chunks, Slice(name));
    (void)impl_->db->Write(rocksdb::WriteOptions(), &undo);
    Impl::Txn t = impl_->Begin();
    impl_->catalog->Delete(0, pending_key);
    (void)impl_->Commit(t);
  };
  auto flush = [&]() -> Status {
    if (batch.Count() == 0) return Ok();
    rocksdb::WriteOptions options;
    auto s = FromRocks(impl_->db->Write(options, &batch), "storing attachment chunks");
    batch.Clear();
    return s;
  };

  EVAULT_ASSIGN_OR_RETURN(std::size_t current_len, ReadFull(fd, current.span()));
  while (true) {
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
    sha256.Update(plain);
    sealed.clear();
    keys.cipher.SealChunk(index, is_last, plain, sealed);
    Bytes name = Impl::ChunkName(keys.names, index);
    batch.Put(impl_->chunks, Slice(name), Slice(sealed));
    written_names.push_back(std::move(name));
    total += current_len;
    ++index;
    if (progress) progress(total, std::max(total, expected_size));
    if (batch.Count() >= kChunksPerBatch) {
      if (auto s = flush(); !s) {
        cleanup();
        return std::unexpected(s.error());
      }
    }
    if (is_last) break;
    std::swap(current, next);
    current_len = next_len;
  }
  if (auto s = flush(); !s) {
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
  Bytes object_id = impl_->PutObject(t, {ObjectKind::kAttachmentManifest, attachment_id, 1},
                                     body.dump(-1, ' ', false, json::error_handler_t::replace),
                                     content_key);
  impl_->catalog->Put(0, fmt::format("att/{}/{}", record_id, a.id), Hex(object_id));
  impl_->catalog->Put(0, fmt::format("attid/{}", a.id), Hex(object_id));
  impl_->catalog->Delete(0, pending_key);
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
  EVAULT_TRY(ParseId("attachment", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(auto object_id, impl_->catalog->Get(0, fmt::format("attid/{}", attachment_id)));
  if (!object_id) return Fail(ErrorCode::kNotFound, fmt::format("no attachment with id {}", attachment_id));
  EVAULT_ASSIGN_OR_RETURN(OpenedObject manifest,
                          impl_->LoadObject(*object_id, ObjectKind::kAttachmentManifest));
  if (Hex(manifest.identity.logical_id) != attachment_id) {
    return Fail(ErrorCode::kTampered, "the attachment manifest belongs to another attachment");
  }
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(manifest.body));
  EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, impl_->AttachmentFromBody(body, attachment_id));
  auto keys = impl_->KeysFor(manifest.content_key, manifest.identity.logical_id);

  SecretBytes plain(crypto::MaxSealedChunkSize());
  crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < info.chunks; ++i) {
    rocksdb::PinnableSlice raw;
    const Bytes name = Impl::ChunkName(keys.names, i);
    auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->chunks, Slice(name), &raw);
    if (s.IsNotFound()) {
      return Fail(ErrorCode::kTampered, fmt::format("attachment {}: chunk {} is missing", attachment_id, i));
    }
    EVAULT_TRY(FromRocks(s, "reading an attachment chunk"));
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
