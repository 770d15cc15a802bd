// age v1 encryption (c2sp.org/age, https://age-encryption.org/v1) to one X25519
// recipient, streamed into a ByteSink, so an export reaches disk only as ciphertext that
// the recipient opens with the standard tool:
//   age-keygen -o key.txt                 (prints the recipient, "age1...")
//   age -d -i key.txt bundle.tar.age | tar -x
//
// Every primitive is libsodium's: X25519 (crypto_scalarmult), ChaCha20-Poly1305 IETF,
// HMAC-SHA-256, and HKDF-SHA-256 (RFC 5869) built on that HMAC. The file key, the
// ephemeral secret, every derived key and the buffered plaintext chunk live in locked
// memory (SecretBytes) and are wiped when the writer goes away.
//
// Contract: AgeWriter::Create writes the whole header at once:
//   age-encryption.org/v1
//   -> X25519 <ephemeral share, unpadded base64>
//   <wrapped file key, unpadded base64, wrapped at 64 columns>
//   --- <header HMAC, unpadded base64>
// then the 16-byte payload nonce. Write buffers plaintext in 64 KiB chunks and seals each
// full chunk once more data follows it; Finish seals the last chunk with the final flag
// (one empty final chunk for an empty payload). Without Finish the file is truncated and
// `age -d` refuses it. After a sink error or Finish, every call fails.
// AgeFile puts an AgeWriter in front of a SealedFile: the usual way to write a bundle.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "audit/sealed_file.h"
#include "audit/sink.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"

namespace evault::audit {

// An age X25519 recipient: the 32-byte Curve25519 public key behind "age1...".
class AgeRecipient {
 public:
  static constexpr std::size_t kBytes = 32;

  // Exactly kBytes of public key, else kInvalidArgument.
  static Result<AgeRecipient> FromBytes(crypto::ByteView public_key);

  const std::array<std::uint8_t, kBytes>& key() const { return key_; }
  // The Bech32 form, "age1" and 58 lower-case characters.
  std::string ToString() const;

 private:
  explicit AgeRecipient(const std::array<std::uint8_t, kBytes>& key) : key_(key) {}
  std::array<std::uint8_t, kBytes> key_;
};

// Parses "age1..." (what age-keygen prints). kInvalidArgument, naming the problem, for a
// bad checksum, a mixed-case string, another HRP (e.g. an "AGE-SECRET-KEY-1..." identity
// pasted by mistake, or a post-quantum "age1pq1..."), characters outside the Bech32 set
// or a key that is not 32 bytes. An all-upper-case recipient is accepted (Bech32 allows it).
Result<AgeRecipient> ParseAgeRecipient(std::string_view text);

// Bech32 (BIP 173) as age uses it: no 90-character limit. Encode writes lower case
// (the HRP must be lower case); Decode accepts all-lower or all-upper case and returns the
// HRP in lower case. Exposed for tests and for parsing age identities in them.
std::string Bech32Encode(std::string_view hrp, crypto::ByteView data);
Result<std::pair<std::string, crypto::Bytes>> Bech32Decode(std::string_view text);

// HKDF-SHA-256 (RFC 5869) extract-then-expand with a 32-byte output, as age derives
// every key. Exposed for its known-answer test.
crypto::SecretBytes HkdfSha256(crypto::ByteView ikm, crypto::ByteView salt, std::string_view info);

class AgeWriter {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  // Writes the header and the payload nonce to `sink`. kInvalidArgument if the recipient
  // key is a low-order point (the shared secret would be all zeros).
  static Result<std::unique_ptr<AgeWriter>> Create(ByteSink sink, const AgeRecipient& recipient);
  ~AgeWriter();
  AgeWriter(const AgeWriter&) = delete;
  AgeWriter& operator=(const AgeWriter&) = delete;

  Status Write(crypto::ByteView plaintext);
  // Seals the final chunk. The sink is not closed or synced.
  Status Finish();

  // A ByteSink that writes into this writer, for stacking (TarWriter over AgeWriter).
  // Valid while this writer lives.
  ByteSink sink();

  std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }

 private:
  AgeWriter(ByteSink sink, crypto::SecretBytes payload_key);
  Status Usable() const;
  Status SealChunk(bool last);

  ByteSink out_;
  crypto::SecretBytes payload_key_;
  crypto::SecretBytes chunk_;  // the plaintext not yet sealed
  std::size_t chunk_used_ = 0;
  crypto::Bytes sealed_;       // one sealed chunk: public ciphertext
  std::array<std::uint8_t, 12> nonce_{};  // 11-byte big-endian counter, final flag
  std::uint64_t plaintext_bytes_ = 0;
  bool broken_ = false;
  bool finished_ = false;
};

// An age file to one recipient: a SealedFile with an AgeWriter in front of it. Create
// writes the age header; Finish seals the last chunk and then finishes the file. The
// file stays only if Finish succeeds; destroying the object before then removes it.
class AgeFile {
 public:
  static Result<std::unique_ptr<AgeFile>> Create(const std::filesystem::path& path, const AgeRecipient& recipient);

  Status Write(crypto::ByteView plaintext) { return age_->Write(plaintext); }
  // A ByteSink of plaintext into this file, valid while this object lives.
  ByteSink sink() { return age_->sink(); }
  Status Finish();
  void Discard() { file_->Discard(); }

  const std::filesystem::path& path() const { return file_->path(); }
  std::uint64_t plaintext_bytes() const { return age_->plaintext_bytes(); }

 private:
  AgeFile(std::unique_ptr<SealedFile> file, std::unique_ptr<AgeWriter> age)
      : file_(std::move(file)), age_(std::move(age)) {}

  std::unique_ptr<SealedFile> file_;  // declared first: outlives the writer into it
  std::unique_ptr<AgeWriter> age_;
};

}  // namespace evault::audit
