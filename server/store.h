// The storage interface of evault-server: everything the sync service keeps, behind a
// narrow contract so that a second backend (PostgreSQL) can be added without touching
// the service. The embedded implementation is RocksDbStore (rocksdb_store.h); every
// backend must pass tests/server/store_conformance.
//
// What is stored is ciphertext and public, signed data only: envelopes, sealed chunks,
// signed join requests and hashes of spent and issued enrollment tokens (never a
// token). No key ever reaches it.
// Per vault it also keeps what the operator sees (VaultSummary): counts, a quota, and
// the second of the last write, the one timestamp the server keeps, because an
// operator must be able to tell a vault in use from an abandoned one.
//
// Contract for every backend:
//   - A write that returned success is durable (survives a crash or power loss).
//   - A multi-key update (an append, a vault creation, a chunk batch) is atomic.
//   - Per vault, server sequence numbers start at 1 (the genesis object) and are
//     gap-free and increasing in the order appends were acknowledged.
//   - Ids have fixed sizes: vault ids and object ids kIdBytes, chunk ids
//     kChunkIdBytes, author keys kAuthorBytes. Other sizes are kInvalidArgument.
//   - Calls are thread-safe. Errors are values; I/O failures are kIo, a full disk kNoSpace.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/status.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"

namespace evault::server {

inline constexpr std::size_t kIdBytes = 16;       // vault ids and object ids
inline constexpr std::size_t kChunkIdBytes = 16;
inline constexpr std::size_t kAuthorBytes = 32;   // Ed25519 public keys
inline constexpr std::size_t kEnrollTokenHashBytes = 32;  // EnrollTokenHash (enroll_tokens.h)

struct StoredObject {
  std::uint64_t server_seq = 0;
  format::v1::ObjectEnvelope envelope;
};

struct Appended {
  std::uint64_t server_seq = 0;
  bool existed = false;  // the object id was already stored: this is its old sequence
};

// The last object of one author in one vault: what the next one must chain to.
struct ChainHead {
  std::uint64_t author_seq = 0;  // 0: the author has no object yet
  crypto::Bytes hash;            // ObjectCodec::ChainHash of that object; empty at 0
};

// The operator's view of one vault: ids and counts only, since the server knows
// nothing else (`evault-server admin`, metrics).
struct VaultSummary {
  crypto::Bytes vault_id;
  std::uint64_t objects = 0;      // objects stored, the genesis included (= HeadSeq)
  std::uint64_t bytes_used = 0;   // as BytesUsed
  // Seconds since the Unix epoch, by the backend's clock, of the last write that stored
  // something new: the creation, an append, a chunk commit. 0: not known (a vault last
  // written before the store recorded it).
  std::int64_t last_write_unix = 0;
  std::uint64_t quota_bytes = 0;  // the vault's own quota; 0: the server's default
};

enum class CreateOutcome {
  kCreated,
  kVaultExists,   // nothing written, the token is not spent
  kTokenSpent,    // nothing written
  kTokenRevoked,  // nothing written: the token was issued and then revoked
};

// An enrollment token issued by the operator (`evault-server admin token create`),
// known by its hash only: a stolen store or backup holds no usable token.
inline constexpr std::size_t kMaxEnrollTokenNoteBytes = 100;
struct IssuedEnrollToken {
  crypto::Bytes hash;             // kEnrollTokenHashBytes
  std::int64_t created_unix = 0;  // as given to IssueEnrollToken
  std::string note;               // the operator's, may be empty
  bool revoked = false;
  bool spent = false;             // a vault was created with it
};

enum class RevokeOutcome {
  kRevoked,
  kAlreadyRevoked,  // nothing changed
  kSpent,           // nothing changed: a vault was created with it already
};

class Store {
 public:
  virtual ~Store() = default;

  // --- vaults and objects ---

  virtual Result<bool> VaultExists(crypto::ByteView vault_id) = 0;

  // Creates the vault with `genesis` at server sequence 1 and, in the same atomic
  // write, spends the enrollment token (by its hash). A create that does not happen
  // spends nothing. Checks nothing about the envelope: that is the service's job.
  virtual Result<CreateOutcome> CreateVault(crypto::ByteView vault_id,
                                            const format::v1::ObjectEnvelope& genesis,
                                            crypto::ByteView enroll_token_hash) = 0;

  // Appends envelopes to an existing vault in one atomic, durable write, in order.
  // An envelope whose object id is already stored (or earlier in the same call) is
  // not written again: its result has existed = true and the stored sequence. Each
  // new envelope advances its author's chain head to (author_seq, ChainHash) and
  // its serialized size is added to the vault's bytes used. kNotFound: no such vault.
  // Each new envelope must extend its author's chain as stored (or as the envelopes
  // before it in the call leave it), checked inside the same atomic step: else nothing
  // is written and the error is kAborted (another process appended to that chain
  // since the caller checked it; check again).
  //
  // `membership_ops` is the number of the vault's membership envelopes (those with a
  // public body: MembershipEnvelopes().size()) that the caller checked the envelopes
  // against. The store compares it with the vault's count inside the same atomic step
  // as the write, so that no membership operation (a revocation, a new key epoch) made
  // by another process can land between the caller's check and the append: if the
  // counts differ, nothing is written and the error is kAborted (rebuild the membership
  // and check again). nullopt appends unconditionally (tests and tools only).
  virtual Result<std::vector<Appended>> Append(crypto::ByteView vault_id,
                                               std::span<const format::v1::ObjectEnvelope> envelopes,
                                               std::optional<std::uint64_t> membership_ops) = 0;

  // The newest server sequence of the vault; 0 if the vault does not exist.
  virtual Result<std::uint64_t> HeadSeq(crypto::ByteView vault_id) = 0;

  virtual Result<std::optional<StoredObject>> FindObject(crypto::ByteView vault_id,
                                                         crypto::ByteView object_id) = 0;

  // Objects with server_seq > after_seq, in order, at most max_count of them and at
  // most max_bytes of serialized envelopes in total, except that a first object
  // larger than max_bytes is still returned alone (so a scan always progresses).
  virtual Result<std::vector<StoredObject>> Scan(crypto::ByteView vault_id, std::uint64_t after_seq,
                                                 std::size_t max_count, std::size_t max_bytes) = 0;

  virtual Result<ChainHead> AuthorHead(crypto::ByteView vault_id, crypto::ByteView author) = 0;

  // The envelopes with a public body (membership operations), in server order: what
  // Membership is rebuilt from without scanning the whole vault.
  virtual Result<std::vector<format::v1::ObjectEnvelope>> MembershipEnvelopes(
      crypto::ByteView vault_id) = 0;

  // Serialized envelopes plus new chunk bytes: what quotas are measured against.
  virtual Result<std::uint64_t> BytesUsed(crypto::ByteView vault_id) = 0;

  // --- the operator's view ---

  // Every vault, in byte order of vault id. Reads a consistent state of each vault,
  // not necessarily of all of them at one instant.
  virtual Result<std::vector<VaultSummary>> ListVaults() = 0;
  // One vault (its usage and quota read together, as a quota check needs them);
  // nullopt if it does not exist.
  virtual Result<std::optional<VaultSummary>> FindVault(crypto::ByteView vault_id) = 0;
  // Sets the vault's own quota in bytes, durably; 0 returns it to the server's default.
  // Changes nothing else (not the last write time). kNotFound if no such vault.
  virtual Status SetVaultQuota(crypto::ByteView vault_id, std::uint64_t quota_bytes) = 0;

  // --- enrollment tokens issued by the operator ---
  //
  // Tokens from the server's token file are checked by the service and only their
  // spending reaches the store (CreateVault); these are the ones an operator issues
  // while the server runs, shared by every server on the same store.

  // Records a token by its hash (kEnrollTokenHashBytes) with the operator's note (at
  // most kMaxEnrollTokenNoteBytes, no control characters). kAlreadyExists if that hash
  // is issued already.
  virtual Status IssueEnrollToken(crypto::ByteView token_hash, std::int64_t created_unix,
                                  std::string_view note) = 0;
  // The issued token with that hash; nullopt if none was issued.
  virtual Result<std::optional<IssuedEnrollToken>> FindEnrollToken(crypto::ByteView token_hash) = 0;
  // Every issued token, oldest first (ties in hash order).
  virtual Result<std::vector<IssuedEnrollToken>> ListEnrollTokens() = 0;
  // Revokes an issued token, durably. Atomic with respect to CreateVault: once this
  // returned kRevoked, no CreateVault spends the token (it answers kTokenRevoked), and
  // a token a CreateVault spent first is kSpent. kNotFound if it was never issued.
  virtual Result<RevokeOutcome> RevokeEnrollToken(crypto::ByteView token_hash) = 0;

  // --- the store's identity, backups ---

  // 16 random bytes made when the store is created (or first opened by a server that
  // keeps one) and replaced only by RenewIncarnation. Clients see it in every Pull: a
  // new value tells them the server's history may have gone back (a restored backup)
  // rather than letting a rollback pass silently.
  virtual Result<crypto::Bytes> Incarnation() = 0;
  // A new random incarnation, durably: run once on a restored store, before it serves.
  virtual Status RenewIncarnation() = 0;
  // Writes a consistent copy of the whole store, taken while it serves, into the new
  // directory `dir` (its parent must exist). kAlreadyExists if `dir` exists;
  // kUnsupported for a backend that its database's own tools back up (PostgreSQL:
  // pg_dump or pg_basebackup), with a message that names them.
  virtual Status Backup(const std::filesystem::path& dir) = 0;

  // --- attachment chunks, keyed by (vault, chunk id) ---

  virtual Result<bool> HasChunk(crypto::ByteView vault_id, crypto::ByteView chunk_id) = 0;
  // Chunks arrive as an upload: Stage writes them as they come (not yet visible to
  // HasChunk or GetChunk, and not yet durable), Commit makes every staged chunk durable
  // and visible in one atomic step. So a backend can write each byte once, streaming,
  // and pay for durability once per upload. Chunks already stored are left as they are
  // (a chunk id names sealed content, so a re-upload is the same data) and not counted
  // again. An upload dropped without Commit leaves nothing visible; the backend
  // reclaims its staged bytes (RocksDbStore: when it next opens).
  class ChunkUpload {
   public:
    virtual ~ChunkUpload() = default;
    virtual Status Stage(std::span<const sync::v1::Chunk> chunks) = 0;
    // Bytes of chunks staged so far that the vault did not hold when staged: what a
    // quota check must add to BytesUsed.
    virtual std::uint64_t staged_bytes() const = 0;
    // Returns the bytes newly stored. Once only.
    virtual Result<std::uint64_t> Commit() = 0;
  };
  // kNotFound if the vault does not exist.
  virtual Result<std::unique_ptr<ChunkUpload>> BeginChunkUpload(crypto::ByteView vault_id) = 0;
  // One upload of `chunks`, committed: one atomic, durable write.
  Result<std::uint64_t> PutChunks(crypto::ByteView vault_id, std::span<const sync::v1::Chunk> chunks) {
    EVAULT_ASSIGN_OR_RETURN(auto upload, BeginChunkUpload(vault_id));
    EVAULT_TRY(upload->Stage(chunks));
    return upload->Commit();
  }
  virtual Result<std::optional<std::string>> GetChunk(crypto::ByteView vault_id,
                                                      crypto::ByteView chunk_id) = 0;

  // --- join requests, at most one per (vault, invite id) ---

  // Stores the request unless one exists for its invite id: the first one wins.
  // Returns whether it was stored. The request's vault_id and invite_id are the key.
  virtual Result<bool> PutJoinRequest(const sync::v1::JoinRequest& request) = 0;
  virtual Result<std::vector<sync::v1::JoinRequest>> ListJoinRequests(crypto::ByteView vault_id) = 0;
  virtual Status RemoveJoinRequest(crypto::ByteView vault_id, crypto::ByteView invite_id) = 0;
};

}  // namespace evault::server
