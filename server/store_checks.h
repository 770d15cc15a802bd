// The argument checks of the Store contract (store.h: ids have fixed sizes, other sizes
// are kInvalidArgument), shared by the backends so that each refuses the same input
// with the same error before touching its storage.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "server/store.h"
#include "vault/object.h"

namespace evault::server {

inline Status CheckVaultId(crypto::ByteView vault_id) {
  if (vault_id.size() != kIdBytes) return Fail(ErrorCode::kInvalidArgument, "vault id must be 16 bytes");
  return Ok();
}

inline Status CheckEnvelope(const format::v1::ObjectEnvelope& e) {
  if (e.object_id().size() != kIdBytes || e.author().size() != kAuthorBytes) {
    return Fail(ErrorCode::kInvalidArgument, "envelope has a bad object id or author");
  }
  return Ok();
}

inline Status CheckChunkId(std::string_view chunk_id) {
  if (chunk_id.size() != kChunkIdBytes) return Fail(ErrorCode::kInvalidArgument, "chunk id must be 16 bytes");
  return Ok();
}

inline Status CheckTokenHash(crypto::ByteView hash) {
  if (hash.size() != kEnrollTokenHashBytes) {
    return Fail(ErrorCode::kInvalidArgument, "an enrollment token hash must be 32 bytes");
  }
  return Ok();
}

// The note is printed in the operator's terminal: short, and no control characters.
inline Status CheckEnrollTokenNote(std::string_view note) {
  if (note.size() > kMaxEnrollTokenNoteBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "a token's note may have at most " + std::to_string(kMaxEnrollTokenNoteBytes) + " bytes");
  }
  for (const unsigned char c : note) {
    if (c < 0x20 || c == 0x7f) return Fail(ErrorCode::kInvalidArgument, "a token's note may not hold control characters");
  }
  return Ok();
}

// Append's chain rule, inside the backend's atomic step: each new envelope must extend
// its author's chain as stored, or as the envelopes before it in the same call leave it.
// `stored` reads an author's head within that step. A mismatch means another process
// appended to the chain since the caller checked it (two replicas, one faulty device
// pushing two objects at one place): kAborted, nothing written, the caller checks again.
template <typename ReadHead>
class ChainExtension {
 public:
  explicit ChainExtension(ReadHead stored) : stored_(std::move(stored)) {}

  Status Check(const format::v1::ObjectEnvelope& e) {
    auto it = heads_.find(e.author());
    if (it == heads_.end()) {
      Result<ChainHead> head = stored_(e.author());
      if (!head) return std::unexpected(head.error());
      it = heads_.emplace(e.author(), std::move(*head)).first;
    }
    ChainHead& head = it->second;
    if (e.author_seq() != head.author_seq + 1 ||
        e.prev_hash() != std::string_view(reinterpret_cast<const char*>(head.hash.data()), head.hash.size())) {
      return Fail(ErrorCode::kAborted, "an object no longer extends its author's chain");
    }
    head = ChainHead{e.author_seq(), vault::ObjectCodec::ChainHash(e)};
    return Ok();
  }

 private:
  ReadHead stored_;
  std::unordered_map<std::string, ChainHead> heads_;
};

}  // namespace evault::server
