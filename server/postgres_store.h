// The Store on PostgreSQL (issue #8): several evault-server processes share one
// database and serve the same vaults consistently.
//
// Consistency comes from the database's transactions (READ COMMITTED, set per session),
// never from a lock of this process: an append, a chunk commit or a quota change first
// locks its vault's row (SELECT ... FOR NO KEY UPDATE), so writers of one vault in any
// number of processes take turns, and each reads the head sequence its predecessor
// committed: sequences stay gap-free and in commit (= acknowledgement) order, and an
// append's membership check (Store::Append) counts the membership operations its
// predecessors committed, so none slips in between a replica's check and its write. Unique
// keys settle the rest (a token is spent once, a vault created once, a join request
// stored once). Every session sets synchronous_commit = on, so a COMMIT that returned
// is durable whatever the server's default; the cluster itself must run with fsync on.
//
// Chunks live in the database too (table chunk_data, ~1 MiB bytea each, stored
// uncompressed: ciphertext does not compress). An upload is one transaction on one
// leased connection: Stage inserts the bytes as they arrive (invisible to every other
// session), Commit links them to their ids under the vault's row lock and COMMITs, and
// a dropped upload is a ROLLBACK, after a crash too, with nothing to sweep. Keeping
// them here rather than on a shared filesystem makes a chunk commit atomic with the
// vault's byte count, keeps one backup (pg_dump / pg_basebackup) complete, and spares
// replicas a network filesystem whose fsync and rename semantics they would depend on.
// The cost is that PostgreSQL writes each byte twice (WAL, then the heap).
//
// Tables (vault ids, object ids, chunk ids, authors, hashes: bytea):
//   evault_schema  (version)                        one row; see kSchemaVersion
//   vaults         (vault_id, head_seq, bytes_used, last_write, quota_bytes)
//   objects        (vault_id, seq, object_id, membership, envelope)
//   author_heads   (vault_id, author, author_seq, chain_hash)
//   spent_tokens   (token_hash)
//   enroll_tokens  (token_hash, created, note, revoked)   issued by the operator
//   store_incarnation (incarnation)                 one row; see Store::Incarnation
//   chunk_data     (id, data)                       staged or committed bytes
//   chunks         (vault_id, chunk_id, size, data_id)   committed: what is visible
//   join_requests  (vault_id, invite_id, request)
// They are created in the connection's current schema (the first of search_path), so
// one database can hold several stores, e.g. with options=-csearch_path=NAME.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "server/store.h"

namespace evault::server {

class PostgresPool;

// The connections one process opens (see PostgresPool).
struct PostgresLimits {
  std::size_t max_connections = 32;  // PostgreSQL's default max_connections is 100
  // Never taken by chunk uploads, which hold theirs while a stream arrives: so at most
  // 24 uploads per process stage at once, and the other calls always find one.
  std::size_t reserved_for_calls = 8;
  std::chrono::milliseconds wait{30'000};  // for a free connection, then kIo
};

class PostgresStore final : public Store {
 public:
  // The layout this build writes; a database at a newer version is refused.
  static constexpr int kSchemaVersion = 2;
  // Connects with a libpq connection string or URI and creates the schema if missing
  // (idempotently, safe with several processes opening at once). kIo if the database
  // cannot be reached; kUnsupportedVersion if its schema is newer than kSchemaVersion.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo, PostgresLimits limits = {});
  ~PostgresStore() override;  // every ChunkUpload must have ended

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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

  // Read when the store opens; RenewIncarnation changes this process's copy too.
  Result<crypto::Bytes> Incarnation() override;
  Status RenewIncarnation() override;
  // Always kUnsupported: see the message, and deploy/README.md.
  Status Backup(const std::filesystem::path& dir) override;

  Result<bool> HasChunk(crypto::ByteView vault_id, crypto::ByteView chunk_id) override;
  Result<std::unique_ptr<ChunkUpload>> BeginChunkUpload(crypto::ByteView vault_id) override;
  Result<std::optional<std::string>> GetChunk(crypto::ByteView vault_id, crypto::ByteView chunk_id) override;

  Result<bool> PutJoinRequest(const sync::v1::JoinRequest& request) override;
  Result<std::vector<sync::v1::JoinRequest>> ListJoinRequests(crypto::ByteView vault_id) override;
  Status RemoveJoinRequest(crypto::ByteView vault_id, crypto::ByteView invite_id) override;

 private:
  class Upload;
  explicit PostgresStore(std::unique_ptr<PostgresPool> pool);

  std::unique_ptr<PostgresPool> pool_;
  std::mutex incarnation_mu_;
  crypto::Bytes incarnation_;
};

}  // namespace evault::server
