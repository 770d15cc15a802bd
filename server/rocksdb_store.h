// The embedded Store: one RocksDB database in a directory the server owns.
//
// Every acknowledged write is a single WriteBatch written with sync = true (chunks are
// staged without the WAL and made durable by a flush before their commit: see Upload). Appends,
// chunk writes and join requests of one vault are serialised by a per-vault mutex, so
// server sequences stay gap-free and in acknowledgement order, and read-modify-write
// of the vault's counters is safe. An append's membership check (Store::Append)
// counts the vault's 'm' entries under that mutex. Chunks live in their own column family with
// integrated blob files, so compaction never rewrites megabytes of ciphertext.
// RocksDB's info LOG is silenced: its timestamped lines are activity metadata.
//
// Layout (default column family; vault ids are fixed-size, sequences big-endian so
// that byte order is numeric order):
//   'v' vault                   -> head seq u64 | bytes used u64 | last write (Unix s) i64 |
//                                  quota u64; a vault written before the last two were kept
//                                  has only the first two (read as 0: not known, default)
//   'o' vault seq               -> ObjectEnvelope
//   'i' vault object_id         -> seq u64
//   'a' vault author            -> author_seq u64 | chain hash
//   'm' vault seq               -> "" (the object at seq is a membership operation)
//   'j' vault invite_id         -> JoinRequest
//   'c' vault chunk_id          -> chunk size u64 (committed; cheap existence checks)
//   'p' vault chunk_id          -> "" (staged by an upload not yet committed)
//   't' enroll token hash       -> "" (spent)
//   'e' enroll token hash       -> created (Unix s) i64 | revoked u8 | note (issued by
//                                  the operator; spent when its 't' entry exists)
//   'n'                         -> the store's incarnation (16 bytes)
// "chunks" column family: vault chunk_id -> sealed chunk.
//
// Backup writes a RocksDB checkpoint (hard links to the immutable table and blob
// files, copies of the rest) while the store serves; chunk commits wait for it (see
// Backup in the .cc). The checkpoint is a database directory of this layout:
// rocksdb_restore.h puts one back.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "server/store.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
}  // namespace rocksdb

namespace evault::server {

class RocksDbStore final : public Store {
 public:
  // RocksDB's bound on the files it keeps open (tables and blob files).
  static constexpr int kMaxOpenFiles = 256;

  // Opens (creating if needed, mode 0700) the database in `dir`: in its subdirectory
  // kDatabaseDir, which RocksDB locks while the store is open.
  static Result<std::unique_ptr<RocksDbStore>> Open(const std::filesystem::path& dir);
  static constexpr char kDatabaseDir[] = "db";
  ~RocksDbStore() override;

  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  Result<bool> VaultExists(crypto::ByteView vault_id) override;
  Result<CreateOutcome> CreateVault(crypto::ByteView vault_id, const format::v1::ObjectEnvelope& genesis,
                                    crypto::ByteView enroll_token_hash) override;
  Result<std::vector<Appended>> Append(crypto::ByteView vault_id,
                                       std::span<const format::v1::ObjectEnvelope> envelopes,
                                       std::optional<std::uint64_t> membership_ops) override;
  Result<std::uint64_t> HeadSeq(crypto::ByteView vault_id) override;
  Result<std::optional<StoredObject>> FindObject(crypto::ByteView vault_id, crypto::ByteView object_id) override;
  Result<std::vector<StoredObject>> Scan(crypto::ByteView vault_id, std::uint64_t after_seq,
                                         std::size_t max_count, std::size_t max_bytes) override;
  Result<ChainHead> AuthorHead(crypto::ByteView vault_id, crypto::ByteView author) override;
  Result<std::vector<format::v1::ObjectEnvelope>> MembershipEnvelopes(crypto::ByteView vault_id) override;
  Result<std::uint64_t> BytesUsed(crypto::ByteView vault_id) override;

  Result<std::vector<VaultSummary>> ListVaults() override;
  Result<std::optional<VaultSummary>> FindVault(crypto::ByteView vault_id) override;
  Status SetVaultQuota(crypto::ByteView vault_id, std::uint64_t quota_bytes) override;

  Status IssueEnrollToken(crypto::ByteView token_hash, std::int64_t created_unix, std::string_view note) override;
  Result<std::optional<IssuedEnrollToken>> FindEnrollToken(crypto::ByteView token_hash) override;
  Result<std::vector<IssuedEnrollToken>> ListEnrollTokens() override;
  Result<RevokeOutcome> RevokeEnrollToken(crypto::ByteView token_hash) override;

  Result<crypto::Bytes> Incarnation() override;
  Status RenewIncarnation() override;
  Status Backup(const std::filesystem::path& dir) override;

  Result<bool> HasChunk(crypto::ByteView vault_id, crypto::ByteView chunk_id) override;
  Result<std::unique_ptr<ChunkUpload>> BeginChunkUpload(crypto::ByteView vault_id) override;
  Result<std::optional<std::string>> GetChunk(crypto::ByteView vault_id, crypto::ByteView chunk_id) override;

  Result<bool> PutJoinRequest(const sync::v1::JoinRequest& request) override;
  Result<std::vector<sync::v1::JoinRequest>> ListJoinRequests(crypto::ByteView vault_id) override;
  Status RemoveJoinRequest(crypto::ByteView vault_id, crypto::ByteView invite_id) override;

 private:
  struct VaultMeta;
  class Upload;
  RocksDbStore() = default;

  Status SweepUncommittedChunks();
  Status LoadIncarnation();
  Status WriteIncarnation(crypto::Bytes incarnation);
  Result<std::optional<IssuedEnrollToken>> ReadEnrollToken(crypto::ByteView token_hash);

  std::mutex& VaultMutex(crypto::ByteView vault_id);
  Result<std::optional<VaultMeta>> ReadMeta(crypto::ByteView vault_id);
  Result<std::optional<StoredObject>> ReadObjectAt(crypto::ByteView vault_id, std::uint64_t seq);

  std::unique_ptr<rocksdb::Env> env_;  // declared before db_: outlives it
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* chunks_ = nullptr;

  std::mutex create_mu_;  // vault creation, token spending and revocation, across vaults
  // Chunk commits take it shared, Backup exclusively: see Backup.
  std::shared_mutex commit_mu_;
  std::mutex incarnation_mu_;
  crypto::Bytes incarnation_;  // read at Open, kept in memory
  std::mutex vault_mus_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> vault_mus_;
};

}  // namespace evault::server
