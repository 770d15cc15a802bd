// Chunked encryption (STREAM construction): reordering, splicing, truncating and
// extending a stream must all fail; the last chunk must hide the exact length.
#include "crypto/chunk_cipher.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "crypto/aead.h"
#include "crypto/padding.h"
#include "tests/crypto/test_util.h"

namespace evault::crypto {
namespace {

using testing::CodeName;
using testing::FailsWith;
using testing::Pattern;
using testing::WithBitFlipped;

using Chunks = std::vector<Bytes>;

Bytes StreamId(std::string_view name) { return Bytes(AsBytes(name).begin(), AsBytes(name).end()); }

// Splits `data` into kChunkSize chunks; the last one holds the remainder (possibly 0
// bytes, when the size is a multiple of kChunkSize).
Chunks SealStream(const ChunkCipher& cipher, ByteView data) {
  Chunks chunks;
  std::uint64_t index = 0;
  std::size_t offset = 0;
  while (data.size() - offset >= kChunkSize) {
    Bytes sealed;
    cipher.SealChunk(index++, false, data.subspan(offset, kChunkSize), sealed);
    chunks.push_back(std::move(sealed));
    offset += kChunkSize;
  }
  Bytes last;
  cipher.SealChunk(index, true, data.subspan(offset), last);
  chunks.push_back(std::move(last));
  return chunks;
}

// Reads a stream the way a client would: Next() per chunk, then Finish().
Result<Bytes> ReadStream(const ChunkCipher& cipher, const Chunks& chunks) {
  ChunkStreamReader reader(cipher);
  Bytes buffer(MaxSealedChunkSize());
  Bytes data;
  for (const Bytes& chunk : chunks) {
    EVAULT_ASSIGN_OR_RETURN(std::size_t n, reader.Next(chunk, buffer));
    data.insert(data.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
  }
  EVAULT_TRY(reader.Finish());
  return data;
}

// OpenChunk's verdict without its plaintext, to compare with VerifyChunk's.
Status OpenVerdict(const ChunkCipher& cipher, std::uint64_t index, bool is_last, ByteView sealed) {
  Bytes buffer(MaxSealedChunkSize());
  auto opened = cipher.OpenChunk(index, is_last, sealed, buffer);
  if (!opened) return std::unexpected(opened.error());
  return Ok();
}

// VerifyChunk stands in for OpenChunk where a chunk is stored sealed (a sync download), so
// it must accept and refuse exactly the same chunks, with the same error codes. Returns
// whether they accepted it.
bool SameVerdict(const ChunkCipher& cipher, std::uint64_t index, bool is_last, ByteView sealed,
                 const std::string& what) {
  const Status opened = OpenVerdict(cipher, index, is_last, sealed);
  const Status verified = cipher.VerifyChunk(index, is_last, sealed);
  EXPECT_EQ(opened.has_value(), verified.has_value()) << what;
  if (!opened && !verified) {
    EXPECT_EQ(CodeName(opened.error().code), CodeName(verified.error().code)) << what;
  }
  return verified.has_value();
}

// A chunk sealed by hand with the associated data chunk_cipher.h documents: what another
// implementation (a malicious member device, say) could send, which SealChunk refuses to make.
Bytes SealByHand(const SymmetricKey& key, ByteView stream_id, std::uint64_t index, bool is_last,
                 ByteView plaintext) {
  Bytes ad;
  AppendField(ad, AsBytes("evault-chunk-v1"));
  AppendField(ad, stream_id);
  AppendU64(ad, index);
  AppendU8(ad, is_last ? 1 : 0);
  return AeadSeal(key, plaintext, ad);
}

class ChunkCipherTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kDataSize = 3 * kChunkSize + 12345;

  ChunkCipherTest()
      : key_(SymmetricKey::Generate()),
        cipher_(key_.Clone(), StreamId("attachment-0001")),
        data_(Pattern(kDataSize, 42)),
        chunks_(SealStream(cipher_, data_)) {}

  SymmetricKey key_;
  ChunkCipher cipher_;
  Bytes data_;
  Chunks chunks_;
};

TEST_F(ChunkCipherTest, MultiChunkRoundTrip) {
  ASSERT_EQ(chunks_.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(chunks_[i].size(), kChunkSize + kAeadOverhead);
  EXPECT_EQ(chunks_[3].size(), PaddedSize(12345) + kAeadOverhead);
  EXPECT_LE(chunks_[3].size(), MaxSealedChunkSize());

  auto read = ReadStream(cipher_, chunks_);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(read->size(), data_.size());
  EXPECT_TRUE(*read == data_);
}

TEST_F(ChunkCipherTest, OpenChunkByIndexRoundTrip) {
  // Chunks are independent: they can be opened in any order when the index is known.
  Bytes buffer(MaxSealedChunkSize());
  for (std::size_t k = 0; k < chunks_.size(); ++k) {
    const std::size_t i = chunks_.size() - 1 - k;
    const bool is_last = i + 1 == chunks_.size();
    auto n = cipher_.OpenChunk(i, is_last, chunks_[i], buffer);
    ASSERT_TRUE(n.has_value()) << "chunk " << i << ": " << n.error().message;
    const std::size_t expected = is_last ? 12345 : kChunkSize;
    ASSERT_EQ(*n, expected);
    EXPECT_TRUE(std::equal(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n),
                           data_.begin() + static_cast<std::ptrdiff_t>(i * kChunkSize)));
  }
}

TEST_F(ChunkCipherTest, AnotherCipherWithSameKeyAndIdReads) {
  ChunkCipher again(key_.Clone(), StreamId("attachment-0001"));
  auto read = ReadStream(again, chunks_);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_TRUE(*read == data_);
}

TEST_F(ChunkCipherTest, ReorderedChunksAreRejected) {
  Chunks swapped = chunks_;
  std::swap(swapped[0], swapped[1]);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, swapped), ErrorCode::kTampered));

  swapped = chunks_;
  std::swap(swapped[1], swapped[2]);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, swapped), ErrorCode::kTampered));

  // The last chunk moved forward (which would also truncate the stream).
  swapped = chunks_;
  std::swap(swapped[2], swapped[3]);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, swapped), ErrorCode::kTampered));

  Bytes buffer(MaxSealedChunkSize());
  for (std::uint64_t i = 0; i < 3; ++i) {
    for (std::uint64_t j = 0; j < 4; ++j) {
      if (i == j) continue;
      EXPECT_TRUE(FailsWith(cipher_.OpenChunk(j, false, chunks_[i], buffer), ErrorCode::kTampered))
          << "chunk " << i << " opened at " << j;
      EXPECT_TRUE(FailsWith(cipher_.OpenChunk(j, true, chunks_[i], buffer), ErrorCode::kTampered))
          << "chunk " << i << " opened as last at " << j;
    }
  }
}

TEST_F(ChunkCipherTest, ReplayedChunkIsRejected) {
  Chunks replayed = chunks_;
  replayed[1] = chunks_[0];
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, replayed), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, ChunkFromAnotherStreamIsRejected) {
  // Same key, same plaintext, different stream id.
  ChunkCipher other(key_.Clone(), StreamId("attachment-0002"));
  const Chunks foreign = SealStream(other, data_);
  ASSERT_EQ(foreign.size(), chunks_.size());
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    Chunks spliced = chunks_;
    spliced[i] = foreign[i];
    EXPECT_TRUE(FailsWith(ReadStream(cipher_, spliced), ErrorCode::kTampered)) << "chunk " << i;
  }
}

TEST_F(ChunkCipherTest, StreamIdsThatShareAPrefixAreDistinct) {
  ChunkCipher longer(key_.Clone(), StreamId("attachment-00010"));
  ChunkCipher shorter(key_.Clone(), StreamId("attachment-000"));
  ChunkCipher empty(key_.Clone(), Bytes{});
  EXPECT_TRUE(FailsWith(ReadStream(longer, chunks_), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(ReadStream(shorter, chunks_), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(ReadStream(empty, chunks_), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, ChunkUnderAnotherKeyIsRejected) {
  // Same stream id, same plaintext, different key.
  ChunkCipher other(SymmetricKey::Generate(), StreamId("attachment-0001"));
  const Chunks foreign = SealStream(other, data_);
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    Chunks spliced = chunks_;
    spliced[i] = foreign[i];
    EXPECT_TRUE(FailsWith(ReadStream(cipher_, spliced), ErrorCode::kTampered)) << "chunk " << i;
  }
  EXPECT_TRUE(FailsWith(ReadStream(other, chunks_), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, DroppedLastChunkFailsFinish) {
  ChunkStreamReader reader(cipher_);
  Bytes buffer(MaxSealedChunkSize());
  for (std::size_t i = 0; i + 1 < chunks_.size(); ++i) {
    auto n = reader.Next(chunks_[i], buffer);
    ASSERT_TRUE(n.has_value()) << n.error().message;
    EXPECT_EQ(*n, kChunkSize);
    EXPECT_FALSE(reader.finished());
  }
  EXPECT_TRUE(FailsWith(reader.Finish(), ErrorCode::kTampered));

  Chunks truncated(chunks_.begin(), chunks_.end() - 1);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, truncated), ErrorCode::kTampered));
  truncated.assign(chunks_.begin(), chunks_.begin() + 1);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, truncated), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, Chunks{}), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, DroppedMiddleChunkIsRejected) {
  Chunks dropped = chunks_;
  dropped.erase(dropped.begin() + 1);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, dropped), ErrorCode::kTampered));
  dropped = chunks_;
  dropped.erase(dropped.begin());
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, dropped), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, NonLastChunkPresentedAsLastIsRejected) {
  Bytes buffer(MaxSealedChunkSize());
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(FailsWith(cipher_.OpenChunk(i, true, chunks_[i], buffer), ErrorCode::kTampered))
        << "chunk " << i;
  }
  // ... and the last chunk presented as a middle one.
  EXPECT_TRUE(FailsWith(cipher_.OpenChunk(3, false, chunks_[3], buffer), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, DataAfterLastChunkIsRejected) {
  ChunkStreamReader reader(cipher_);
  Bytes buffer(MaxSealedChunkSize());
  for (const Bytes& chunk : chunks_) ASSERT_TRUE(reader.Next(chunk, buffer).has_value());
  EXPECT_TRUE(reader.finished());
  EXPECT_TRUE(reader.Finish().has_value());

  // Anything at all after the last chunk: a replay, a valid-looking chunk at the next
  // index sealed with the right key and id, or garbage.
  EXPECT_TRUE(FailsWith(reader.Next(chunks_[3], buffer), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(reader.Next(chunks_[0], buffer), ErrorCode::kTampered));
  Bytes next_middle;
  cipher_.SealChunk(4, false, ByteView(data_).subspan(0, kChunkSize), next_middle);
  EXPECT_TRUE(FailsWith(reader.Next(next_middle, buffer), ErrorCode::kTampered));
  Bytes next_last;
  cipher_.SealChunk(4, true, AsBytes("appended"), next_last);
  EXPECT_TRUE(FailsWith(reader.Next(next_last, buffer), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(reader.Next(Bytes(100, 0), buffer), ErrorCode::kTampered));

  Chunks extended = chunks_;
  extended.push_back(next_middle);
  EXPECT_TRUE(FailsWith(ReadStream(cipher_, extended), ErrorCode::kTampered));
}

TEST_F(ChunkCipherTest, BytesAppendedToAChunkAreRejected) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    Chunks altered = chunks_;
    altered[i].push_back(0);
    EXPECT_TRUE(FailsWith(ReadStream(cipher_, altered), ErrorCode::kTampered)) << "chunk " << i;
  }
}

TEST_F(ChunkCipherTest, TruncatedChunkIsRejected) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    for (std::size_t cut : {std::size_t{1}, kAeadTagBytes, chunks_[i].size() / 2,
                            chunks_[i].size() - kAeadOverhead, chunks_[i].size() - 1,
                            chunks_[i].size()}) {
      Chunks altered = chunks_;
      altered[i].resize(altered[i].size() - cut);
      EXPECT_TRUE(FailsWith(ReadStream(cipher_, altered), ErrorCode::kTampered))
          << "chunk " << i << " cut by " << cut;
    }
  }
}

TEST_F(ChunkCipherTest, FlippedBitInAnyChunkIsRejected) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    const std::size_t size = chunks_[i].size();
    // Nonce, first ciphertext byte, middle, padding area (last chunk), tag.
    for (std::size_t pos : {std::size_t{0}, kAeadNonceBytes - 1, kAeadNonceBytes, size / 2,
                            size - kAeadTagBytes - 1, size - kAeadTagBytes, size - 1}) {
      for (int bit : {0, 7}) {
        Chunks altered = chunks_;
        altered[i] = WithBitFlipped(chunks_[i], pos, bit);
        EXPECT_TRUE(FailsWith(ReadStream(cipher_, altered), ErrorCode::kTampered))
            << "chunk " << i << " byte " << pos << " bit " << bit;
      }
    }
  }
}

TEST_F(ChunkCipherTest, VerifyChunkAgreesWithOpenChunkOnEveryAlteration) {
  const std::size_t last = chunks_.size() - 1;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    const std::size_t size = chunks_[i].size();
    std::vector<std::pair<std::string, Bytes>> variants = {{"as sealed", chunks_[i]}};
    for (std::size_t pos : {std::size_t{0}, kAeadNonceBytes, size / 2, size - kAeadTagBytes - 1, size - 1}) {
      variants.emplace_back(fmt::format("byte {} flipped", pos), WithBitFlipped(chunks_[i], pos, 0));
    }
    for (std::size_t cut : {std::size_t{1}, kAeadTagBytes, size - kAeadOverhead, size - kAeadOverhead + 1, size}) {
      variants.emplace_back(fmt::format("cut by {}", cut), Bytes(chunks_[i].begin(), chunks_[i].end() - static_cast<std::ptrdiff_t>(cut)));
    }
    Bytes extended = chunks_[i];
    extended.push_back(0);
    variants.emplace_back("extended by a byte", extended);
    for (const auto& [what, sealed] : variants) {
      for (std::uint64_t index : {i, i + 1, i == 0 ? i + 2 : i - 1}) {
        for (bool is_last : {false, true}) {
          const bool ok = SameVerdict(cipher_, index, is_last, sealed,
                                      fmt::format("chunk {} {} at index {}{}", i, what, index, is_last ? " as last" : ""));
          if (ok) {
            ++accepted;
            EXPECT_EQ(what, "as sealed");
            EXPECT_EQ(index, i);
            EXPECT_EQ(is_last, i == last);
          }
        }
      }
    }
  }
  EXPECT_EQ(accepted, chunks_.size());  // each chunk exactly once: at its own place
  // A chunk of another stream under the same key, or of this stream under another key.
  ChunkCipher other_stream(key_.Clone(), StreamId("attachment-0002"));
  ChunkCipher other_key(SymmetricKey::Generate(), StreamId("attachment-0001"));
  EXPECT_FALSE(SameVerdict(other_stream, 0, false, chunks_[0], "another stream"));
  EXPECT_FALSE(SameVerdict(other_key, 0, false, chunks_[0], "another key"));
}

TEST_F(ChunkCipherTest, FailedNextDoesNotAdvanceOrFinish) {
  ChunkStreamReader reader(cipher_);
  Bytes buffer(MaxSealedChunkSize());
  ASSERT_TRUE(reader.Next(chunks_[0], buffer).has_value());
  EXPECT_TRUE(FailsWith(reader.Next(chunks_[2], buffer), ErrorCode::kTampered));
  EXPECT_FALSE(reader.finished());
  EXPECT_TRUE(FailsWith(reader.Finish(), ErrorCode::kTampered));
  // The failed chunk did not consume index 1.
  EXPECT_TRUE(reader.Next(chunks_[1], buffer).has_value());
}

TEST(ChunkCipherEdgeTest, EmptyLastChunkAfterFullChunks) {
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("exact-multiple"));
  const Bytes data = Pattern(2 * kChunkSize, 9);
  const Chunks chunks = SealStream(cipher, data);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[2].size(), PaddedSize(0) + kAeadOverhead);
  auto read = ReadStream(cipher, chunks);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_TRUE(*read == data);
  // Without its empty last chunk the stream is truncated.
  EXPECT_TRUE(FailsWith(ReadStream(cipher, Chunks(chunks.begin(), chunks.begin() + 2)),
                        ErrorCode::kTampered));
}

TEST(ChunkCipherEdgeTest, EmptyStreamIsOneEmptyLastChunk) {
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("empty-file"));
  const Chunks chunks = SealStream(cipher, {});
  ASSERT_EQ(chunks.size(), 1u);
  Bytes buffer(MaxSealedChunkSize(), 0xee);
  auto n = cipher.OpenChunk(0, true, chunks[0], buffer);
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 0u);
  auto read = ReadStream(cipher, chunks);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_TRUE(read->empty());
}

TEST(ChunkCipherEdgeTest, FullSizeLastChunkUsesMaxSealedSize) {
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("one-full-chunk"));
  const Bytes data = Pattern(kChunkSize, 3);
  Bytes sealed;
  cipher.SealChunk(0, true, data, sealed);
  EXPECT_EQ(sealed.size(), MaxSealedChunkSize());
  EXPECT_GT(MaxSealedChunkSize(), kChunkSize + kAeadOverhead);
  Bytes buffer(MaxSealedChunkSize());
  auto n = cipher.OpenChunk(0, true, sealed, buffer);
  ASSERT_TRUE(n.has_value()) << n.error().message;
  ASSERT_EQ(*n, kChunkSize);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buffer.begin()));
}

TEST(ChunkCipherEdgeTest, LastChunkSizeHidesExactLength) {
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("size-hiding"));
  auto sealed_size = [&](std::size_t n) {
    Bytes sealed;
    cipher.SealChunk(0, true, Pattern(n, static_cast<std::uint32_t>(n)), sealed);
    return sealed.size();
  };
  // All small files look alike.
  const std::size_t small = sealed_size(0);
  for (std::size_t n : {1, 7, 100, 200, 255}) EXPECT_EQ(sealed_size(n), small) << n;
  EXPECT_EQ(small, kMinPaddedSize + kAeadOverhead);
  // Larger ones fall into Padmé buckets.
  EXPECT_EQ(sealed_size(1000), sealed_size(1010));
  EXPECT_EQ(sealed_size(500000), sealed_size(500001));
  EXPECT_EQ(sealed_size(500000), PaddedSize(500000) + kAeadOverhead);
  // ... and the content length still comes back exactly.
  for (std::size_t n : {0, 1, 100, 1000, 1010}) {
    Bytes sealed;
    const Bytes content = Pattern(n, 5);
    cipher.SealChunk(0, true, content, sealed);
    Bytes buffer(MaxSealedChunkSize());
    auto opened = cipher.OpenChunk(0, true, sealed, buffer);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(*opened, n);
    EXPECT_TRUE(std::equal(content.begin(), content.end(), buffer.begin()));
  }
}

TEST(ChunkCipherEdgeTest, ChunkIndexIsBoundAsFull64Bits) {
  // A chunk at index 2^32 + 1 must not open at index 1 (nor at 2^32 + 1 + 2^56).
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("wide-index"));
  const std::uint64_t index = (std::uint64_t{1} << 32) + 1;
  Bytes sealed;
  cipher.SealChunk(index, true, AsBytes("x"), sealed);
  Bytes buffer(MaxSealedChunkSize());
  EXPECT_TRUE(cipher.OpenChunk(index, true, sealed, buffer).has_value());
  EXPECT_TRUE(FailsWith(cipher.OpenChunk(1, true, sealed, buffer), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(cipher.OpenChunk(index + (std::uint64_t{1} << 56), true, sealed, buffer),
                        ErrorCode::kTampered));
}

TEST(ChunkCipherEdgeTest, OversizedChunkIsRejected) {
  ChunkCipher cipher(SymmetricKey::Generate(), StreamId("oversized"));
  Bytes buffer(MaxSealedChunkSize() + 64);
  const Bytes huge(MaxSealedChunkSize() + 1, 0);
  EXPECT_TRUE(FailsWith(cipher.OpenChunk(0, true, huge, buffer), ErrorCode::kTampered));
  EXPECT_TRUE(FailsWith(cipher.OpenChunk(0, false, huge, buffer), ErrorCode::kTampered));
  ChunkStreamReader reader(cipher);
  EXPECT_TRUE(FailsWith(reader.Next(huge, buffer), ErrorCode::kTampered));
}

TEST(ChunkCipherEdgeTest, VerifyChunkRefusesAnAuthenticMiddleChunkOfTheWrongSize) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes stream = StreamId("hand-made");
  ChunkCipher cipher(key.Clone(), stream);
  // The hand-made associated data is right: a full middle chunk sealed so opens.
  const Bytes full = SealByHand(key, stream, 4, false, Pattern(kChunkSize));
  ASSERT_TRUE(OpenVerdict(cipher, 4, false, full).has_value());
  EXPECT_TRUE(SameVerdict(cipher, 4, false, full, "a full middle chunk"));
  for (std::size_t size : {std::size_t{0}, kChunkSize - 1, kChunkSize + 1}) {
    const Bytes odd = SealByHand(key, stream, 4, false, Pattern(size));
    EXPECT_TRUE(FailsWith(cipher.VerifyChunk(4, false, odd), ErrorCode::kCorrupt)) << "size " << size;
    SameVerdict(cipher, 4, false, odd, fmt::format("a middle chunk of {} bytes", size));
  }
}

TEST(ChunkCipherEdgeTest, VerifyChunkChecksTheLastChunksPadding) {
  const SymmetricKey key = SymmetricKey::Generate();
  const Bytes stream = StreamId("hand-made");
  ChunkCipher cipher(key.Clone(), stream);
  SecretBytes padded = Pad(AsBytes("content"));
  const Bytes good = SealByHand(key, stream, 2, true, padded.span());
  EXPECT_TRUE(SameVerdict(cipher, 2, true, good, "well padded"));
  // Authentic, but without the padding marker: only opening can see that.
  Bytes unpadded(padded.span().begin(), padded.span().end());
  std::fill(unpadded.begin(), unpadded.end(), 0);
  const Bytes bad = SealByHand(key, stream, 2, true, unpadded);
  EXPECT_TRUE(FailsWith(cipher.VerifyChunk(2, true, bad), ErrorCode::kCorrupt));
  SameVerdict(cipher, 2, true, bad, "without padding");
}

TEST(ChunkCipherEdgeTest, ChunkIsNotAPlainAeadMessage) {
  // A chunk's associated data is its position, so it does not open as a bare AEAD
  // message under the same key, and a bare AEAD message is not a chunk.
  const SymmetricKey key = SymmetricKey::Generate();
  ChunkCipher cipher(key.Clone(), StreamId("domain"));
  Bytes sealed;
  cipher.SealChunk(0, true, AsBytes("content"), sealed);
  EXPECT_TRUE(FailsWith(AeadOpen(key, sealed, {}), ErrorCode::kTampered));
  const Bytes bare = AeadSeal(key, Pattern(300), {});
  Bytes buffer(MaxSealedChunkSize());
  EXPECT_TRUE(FailsWith(cipher.OpenChunk(0, true, bare, buffer), ErrorCode::kTampered));
}

}  // namespace
}  // namespace evault::crypto
