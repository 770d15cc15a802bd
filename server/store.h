// The storage interface of evault-server: everything the sync service keeps, behind a
// narrow contract so that a second backend (PostgreSQL) can be added without touching
// the service. The embedded implementation is RocksDbStore (rocksdb_store.h); every
// backend must pass tests/server/store_conformance.
//
// What is stored is ciphertext and public, signed data only: envelopes, sealed chunks,
// signed join requests and hashes of spent enrollment tokens. No key ever reaches it.
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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/status.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"

namespace evault::server {

inline constexpr std::size_t kIdBytes = 16;       // vault ids and object ids
inline constexpr std::size_t kChunkIdBytes = 16;
inline constexpr std::size_t kAuthorBytes = 32;   // Ed25519 public keys

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

enum class CreateOutcome {
  kCreated,
  kVaultExists,  // nothing written, the token is not spent
  kTokenSpent,   // nothing written
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
  virtual Result<std::vector<Appended>> Append(
      crypto::ByteView vault_id, std::span<const format::v1::ObjectEnvelope> envelopes) = 0;

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
