// The argument checks of the Store contract (store.h: ids have fixed sizes, other sizes
// are kInvalidArgument), shared by the backends so that each refuses the same input
// with the same error before touching its storage.
#pragma once

#include <string>
#include <string_view>

#include "server/store.h"

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

}  // namespace evault::server
