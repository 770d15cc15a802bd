// Chunked encryption of large data (attachments) in fixed 1 MiB chunks.
//
// Each chunk is XChaCha20-Poly1305 under the stream key with associated data
// "evault-chunk-v1" | stream id | chunk index | is-last (the STREAM construction of
// Hoang, Reyhanitabar, Rogaway and Vizár). Chunks are independent — they can be
// stored, synced and checked one by one, and encrypted in parallel — yet swapping,
// reordering, truncating or extending the stream all fail authentication.
// crypto_secretstream gives the same guarantees only to a single sequential reader.
//
// Every chunk but the last carries exactly kChunkSize bytes; the last is Padmé-padded
// inside the ciphertext so the exact file size does not show.
#pragma once

#include <cstdint>

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/status.h"

namespace evault::crypto {

inline constexpr std::size_t kChunkSize = 1 << 20;

// Largest sealed chunk, for sizing buffers.
std::size_t MaxSealedChunkSize();

class ChunkCipher {
 public:
  ChunkCipher(SymmetricKey key, Bytes stream_id);

  // `plaintext` must be kChunkSize bytes unless is_last (then at most kChunkSize).
  // `scratch` must hold PaddedSize(kChunkSize) bytes; it is used for padding the last
  // chunk so the caller's plaintext buffer stays untouched.
  void SealChunk(std::uint64_t index, bool is_last, ByteView plaintext, Bytes& out) const;

  // Opens one chunk into `out` (>= MaxSealedChunkSize() bytes) and returns its content
  // length. kTampered if it was not sealed at this index with this is_last flag.
  Result<std::size_t> OpenChunk(std::uint64_t index, bool is_last, ByteView sealed,
                                std::span<std::uint8_t> out) const;

  // Accepts exactly the chunks OpenChunk opens, with the same errors, without producing
  // the plaintext: for chunks passed on sealed, as a sync download stores them. A middle
  // chunk costs only its tag check (AeadVerify); the last is opened into locked memory,
  // since its padding can only be checked in the clear.
  Status VerifyChunk(std::uint64_t index, bool is_last, ByteView sealed) const;

 private:
  Bytes AssociatedData(std::uint64_t index, bool is_last) const;

  SymmetricKey key_;
  Bytes stream_id_;
};

// Reads a chunk stream in order when the reader does not know the chunk count up
// front: each chunk is tried as "not last" and then as "last"; anything after the last
// chunk, or a stream that ends without one, is an error.
class ChunkStreamReader {
 public:
  explicit ChunkStreamReader(const ChunkCipher& cipher) : cipher_(cipher) {}
  explicit ChunkStreamReader(const ChunkCipher&& cipher) = delete;  // would dangle

  Result<std::size_t> Next(ByteView sealed, std::span<std::uint8_t> out);
  bool finished() const { return finished_; }
  // kTampered if the stream stopped before its last chunk (truncation).
  Status Finish() const;

 private:
  const ChunkCipher& cipher_;
  std::uint64_t index_ = 0;
  bool finished_ = false;
};

}  // namespace evault::crypto
