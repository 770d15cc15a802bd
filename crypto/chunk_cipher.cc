#include "crypto/chunk_cipher.h"

#include <cstring>

#include <fmt/core.h>

#include "crypto/aead.h"
#include "crypto/padding.h"

namespace evault::crypto {
namespace {

auto FailedAuthentication(std::uint64_t index) {
  return Fail(ErrorCode::kTampered, fmt::format("chunk {} failed authentication (altered, moved or truncated)", index));
}
auto TooLarge(std::uint64_t index) {
  return Fail(ErrorCode::kTampered, fmt::format("chunk {} is too large", index));
}
auto WrongSize(std::uint64_t index) {
  return Fail(ErrorCode::kCorrupt, fmt::format("chunk {} has the wrong size", index));
}

}  // namespace

std::size_t MaxSealedChunkSize() { return PaddedSize(kChunkSize) + kAeadOverhead; }

ChunkCipher::ChunkCipher(SymmetricKey key, Bytes stream_id)
    : key_(std::move(key)), stream_id_(std::move(stream_id)) {}

Bytes ChunkCipher::AssociatedData(std::uint64_t index, bool is_last) const {
  Bytes ad;
  AppendField(ad, AsBytes("evault-chunk-v1"));
  AppendField(ad, stream_id_);
  AppendU64(ad, index);
  AppendU8(ad, is_last ? 1 : 0);
  return ad;
}

void ChunkCipher::SealChunk(std::uint64_t index, bool is_last, ByteView plaintext,
                            Bytes& out) const {
  if (plaintext.size() > kChunkSize || (!is_last && plaintext.size() != kChunkSize)) {
    std::abort();  // caller contract: fixed-size chunks
  }
  const Bytes ad = AssociatedData(index, is_last);
  if (!is_last) {
    AeadSealAppend(key_, plaintext, ad, out);
    return;
  }
  SecretBytes padded = Pad(plaintext);
  AeadSealAppend(key_, padded.span(), ad, out);
}

Result<std::size_t> ChunkCipher::OpenChunk(std::uint64_t index, bool is_last, ByteView sealed,
                                           std::span<std::uint8_t> out) const {
  if (sealed.size() > MaxSealedChunkSize()) return TooLarge(index);
  auto opened = AeadOpenInto(key_, sealed, AssociatedData(index, is_last), out);
  if (!opened) return FailedAuthentication(index);
  if (!is_last) {
    if (*opened != kChunkSize) return WrongSize(index);
    return *opened;
  }
  return UnpaddedSize(ByteView(out.data(), *opened));
}

Status ChunkCipher::VerifyChunk(std::uint64_t index, bool is_last, ByteView sealed) const {
  if (is_last) {
    SecretBytes scratch(MaxSealedChunkSize());
    EVAULT_TRY(OpenChunk(index, is_last, sealed, scratch.span()));
    return Ok();
  }
  if (sealed.size() > MaxSealedChunkSize()) return TooLarge(index);
  if (!AeadVerify(key_, sealed, AssociatedData(index, is_last))) return FailedAuthentication(index);
  if (sealed.size() != kChunkSize + kAeadOverhead) return WrongSize(index);
  return Ok();
}

Result<std::size_t> ChunkStreamReader::Next(ByteView sealed, std::span<std::uint8_t> out) {
  if (finished_) {
    return Fail(ErrorCode::kTampered, "data follows the final chunk");
  }
  if (auto middle = cipher_.OpenChunk(index_, false, sealed, out)) {
    ++index_;
    return middle;
  }
  auto last = cipher_.OpenChunk(index_, true, sealed, out);
  if (!last) return last;
  ++index_;
  finished_ = true;
  return last;
}

Status ChunkStreamReader::Finish() const {
  if (!finished_) return Fail(ErrorCode::kTampered, "stream is truncated: final chunk missing");
  return Ok();
}

}  // namespace evault::crypto
