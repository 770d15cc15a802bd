#include "audit/age.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include <fmt/core.h>

namespace evault::audit {

namespace {

using crypto::Bytes;
using crypto::ByteView;
using crypto::SecretBytes;

constexpr std::string_view kRecipientHrp = "age";
constexpr std::string_view kIdentityHrp = "age-secret-key-";
constexpr std::string_view kVersionLine = "age-encryption.org/v1\n";
constexpr std::string_view kX25519Label = "age-encryption.org/v1/X25519";
constexpr std::size_t kFileKeyBytes = 16;
constexpr std::size_t kPayloadNonceBytes = 16;
constexpr std::size_t kTagBytes = crypto_aead_chacha20poly1305_ietf_ABYTES;
constexpr std::size_t kColumns = 64;

// ---- Bech32 (BIP 173) ----

constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::size_t kChecksumChars = 6;

std::uint32_t Polymod(const Bytes& values) {
  static constexpr std::uint32_t kGenerator[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  std::uint32_t chk = 1;
  for (std::uint8_t v : values) {
    const std::uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= kGenerator[i];
    }
  }
  return chk;
}

// The HRP's high bits, a zero, its low bits: what the checksum covers before the data.
Bytes HrpExpand(std::string_view hrp) {
  Bytes out;
  for (unsigned char c : hrp) out.push_back(c >> 5);
  out.push_back(0);
  for (unsigned char c : hrp) out.push_back(c & 31);
  return out;
}

// Regroups bits (8 -> 5 with zero padding; 5 -> 8 refusing padding that is not zero or
// longer than needed).
std::optional<Bytes> ConvertBits(ByteView in, unsigned from, unsigned to, bool pad) {
  Bytes out;
  std::uint32_t acc = 0;
  unsigned bits = 0;
  const std::uint32_t max = (1u << to) - 1;
  for (std::uint8_t v : in) {
    if ((v >> from) != 0) return std::nullopt;
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & max));
    }
    acc &= (1u << bits) - 1;  // keep only the bits not yet emitted
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (to - bits)) & max));
  } else if (bits >= from || acc != 0) {
    return std::nullopt;
  }
  return out;
}

// ---- HMAC-SHA-256 and HKDF through libsodium ----

class Hmac {
 public:
  explicit Hmac(ByteView key) { crypto_auth_hmacsha256_init(&state_, key.data(), key.size()); }
  ~Hmac() { sodium_memzero(&state_, sizeof state_); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  void Update(ByteView bytes) { crypto_auth_hmacsha256_update(&state_, bytes.data(), bytes.size()); }
  void Final(std::uint8_t* out) { crypto_auth_hmacsha256_final(&state_, out); }

 private:
  crypto_auth_hmacsha256_state state_;
};

std::string HeaderBody(ByteView body) {
  // Unpadded base64 in lines of 64 columns; the last line is always shorter (possibly
  // empty), which is how a reader finds the end of the stanza.
  const std::string b64 = crypto::ToBase64Unpadded(body);
  std::string out;
  std::size_t at = 0;
  for (; b64.size() - at >= kColumns; at += kColumns) out += b64.substr(at, kColumns) + "\n";
  out += b64.substr(at) + "\n";
  return out;
}

}  // namespace

// ---- Bech32 ----

std::string Bech32Encode(std::string_view hrp, ByteView data) {
  const Bytes values = *ConvertBits(data, 8, 5, true);  // 8-bit input always converts
  Bytes check = HrpExpand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  check.insert(check.end(), kChecksumChars, 0);
  const std::uint32_t mod = Polymod(check) ^ 1;
  std::string out(hrp);
  out += '1';
  for (std::uint8_t v : values) out += kCharset[v];
  for (std::size_t i = 0; i < kChecksumChars; ++i) out += kCharset[(mod >> (5 * (kChecksumChars - 1 - i))) & 31];
  return out;
}

Result<std::pair<std::string, Bytes>> Bech32Decode(std::string_view text) {
  bool lower = false, upper = false;
  for (unsigned char c : text) {
    if (c < 33 || c > 126) return Fail(ErrorCode::kInvalidArgument, "Bech32: a space or non-ASCII character");
    lower |= (c >= 'a' && c <= 'z');
    upper |= (c >= 'A' && c <= 'Z');
  }
  if (lower && upper) return Fail(ErrorCode::kInvalidArgument, "Bech32: mixed upper and lower case");
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::size_t sep = s.rfind('1');
  if (sep == std::string::npos || sep == 0 || sep + 1 + kChecksumChars > s.size()) {
    return Fail(ErrorCode::kInvalidArgument, "Bech32: no '1' separator with a prefix before it and a checksum after");
  }
  const std::string hrp = s.substr(0, sep);
  Bytes values;
  for (std::size_t i = sep + 1; i < s.size(); ++i) {
    const std::size_t v = kCharset.find(s[i]);
    if (v == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument, "Bech32: a character outside the Bech32 alphabet (b, i, o or 1?)");
    }
    values.push_back(static_cast<std::uint8_t>(v));
  }
  Bytes check = HrpExpand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  const bool checksum_ok = Polymod(check) == 1;
  values.resize(values.size() - kChecksumChars);
  auto data = ConvertBits(values, 5, 8, false);
  // The text may be a secret key pasted by mistake: wipe the working copies.
  sodium_memzero(s.data(), s.size());
  sodium_memzero(values.data(), values.size());
  sodium_memzero(check.data(), check.size());
  if (!checksum_ok) {
    if (data) sodium_memzero(data->data(), data->size());
    return Fail(ErrorCode::kInvalidArgument, "Bech32: the checksum does not match (a typo?)");
  }
  if (!data) return Fail(ErrorCode::kInvalidArgument, "Bech32: bad padding bits");
  return std::pair<std::string, Bytes>(hrp, std::move(*data));
}

// ---- recipients ----

Result<AgeRecipient> AgeRecipient::FromBytes(ByteView public_key) {
  if (public_key.size() != kBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("an age X25519 recipient is {} bytes, not {}", kBytes, public_key.size()));
  }
  std::array<std::uint8_t, kBytes> key;
  std::copy(public_key.begin(), public_key.end(), key.begin());
  return AgeRecipient(key);
}

std::string AgeRecipient::ToString() const { return Bech32Encode(kRecipientHrp, key_); }

Result<AgeRecipient> ParseAgeRecipient(std::string_view text) {
  // Messages never quote the input: a secret key pasted by mistake must not reach a log.
  auto decoded = Bech32Decode(text);
  if (!decoded) {
    return Fail(ErrorCode::kInvalidArgument, "not an age recipient (age1...): " + decoded.error().message);
  }
  auto& [hrp, key] = *decoded;
  if (hrp == kIdentityHrp) {
    sodium_memzero(key.data(), key.size());  // a secret key: do not leave it in the heap
    return Fail(ErrorCode::kInvalidArgument,
                "this is an age identity (a secret key); give the recipient (age1...) that age-keygen prints");
  }
  if (hrp != kRecipientHrp) {
    return Fail(ErrorCode::kInvalidArgument,
                "not an age X25519 recipient: the prefix is not \"age1\" (post-quantum and plugin recipients are "
                "not supported)");
  }
  if (key.size() != AgeRecipient::kBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("not an age X25519 recipient: it holds {} bytes, not {}", key.size(), AgeRecipient::kBytes));
  }
  return AgeRecipient::FromBytes(key);
}

// ---- HKDF ----

SecretBytes HkdfSha256(ByteView ikm, ByteView salt, std::string_view info) {
  crypto::EnsureSodium();
  // RFC 5869 2.2: an absent salt is HashLen zero bytes (HMAC pads an empty key to the
  // same block, but say it explicitly).
  static constexpr std::uint8_t kZeroSalt[crypto_auth_hmacsha256_BYTES] = {};
  SecretBytes prk(crypto_auth_hmacsha256_BYTES);
  {
    Hmac extract(salt.empty() ? ByteView(kZeroSalt, sizeof kZeroSalt) : salt);
    extract.Update(ikm);
    extract.Final(prk.data());
  }
  // Expand to one block: T(1) = HMAC(PRK, info || 0x01), exactly the 32 bytes age needs.
  SecretBytes okm(crypto_auth_hmacsha256_BYTES);
  Hmac expand(prk.span());
  expand.Update(crypto::AsBytes(info));
  static constexpr std::uint8_t kCounter = 1;
  expand.Update(ByteView(&kCounter, 1));
  expand.Final(okm.data());
  return okm;
}

// ---- the writer ----

AgeWriter::AgeWriter(ByteSink sink, SecretBytes payload_key)
    : out_(std::move(sink)), payload_key_(std::move(payload_key)), chunk_(kChunkBytes) {
  sealed_.reserve(kChunkBytes + kTagBytes);
}

AgeWriter::~AgeWriter() = default;

Result<std::unique_ptr<AgeWriter>> AgeWriter::Create(ByteSink sink, const AgeRecipient& recipient) {
  crypto::EnsureSodium();
  const SecretBytes file_key = SecretBytes::Random(kFileKeyBytes);

  // The X25519 stanza: a fresh ephemeral share and the file key wrapped under
  // HKDF(shared secret, share || recipient, "age-encryption.org/v1/X25519").
  const SecretBytes ephemeral = SecretBytes::Random(crypto_scalarmult_SCALARBYTES);
  std::array<std::uint8_t, crypto_scalarmult_BYTES> share;
  crypto_scalarmult_base(share.data(), ephemeral.data());
  SecretBytes shared(crypto_scalarmult_BYTES);
  if (crypto_scalarmult(shared.data(), ephemeral.data(), recipient.key().data()) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "the age recipient is not a usable X25519 key (a low-order point)");
  }
  Bytes salt(share.begin(), share.end());
  salt.insert(salt.end(), recipient.key().begin(), recipient.key().end());
  const SecretBytes wrap_key = HkdfSha256(shared.span(), salt, kX25519Label);
  Bytes wrapped(kFileKeyBytes + kTagBytes);
  static constexpr std::uint8_t kZeroNonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
  unsigned long long wrapped_len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(wrapped.data(), &wrapped_len, file_key.data(), file_key.size(), nullptr,
                                            0, nullptr, kZeroNonce, wrap_key.data());

  std::string header(kVersionLine);
  header += "-> X25519 " + crypto::ToBase64Unpadded(share) + "\n";
  header += HeaderBody(wrapped);
  header += "---";
  // The MAC covers the header up to and including "---", keyed by HKDF(file key, "", "header").
  const SecretBytes mac_key = HkdfSha256(file_key.span(), {}, "header");
  std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac;
  {
    Hmac hmac(mac_key.span());
    hmac.Update(crypto::AsBytes(header));
    hmac.Final(mac.data());
  }
  header += " " + crypto::ToBase64Unpadded(mac) + "\n";

  // The payload: a fresh nonce, and the key HKDF(file key, nonce, "payload").
  const Bytes nonce = crypto::RandomBytes(kPayloadNonceBytes);
  SecretBytes payload_key = HkdfSha256(file_key.span(), nonce, "payload");

  EVAULT_TRY(sink(crypto::AsBytes(header)));
  EVAULT_TRY(sink(nonce));
  return std::unique_ptr<AgeWriter>(new AgeWriter(std::move(sink), std::move(payload_key)));
}

Status AgeWriter::Usable() const {
  if (broken_) return Fail(ErrorCode::kInternal, "the age stream failed earlier and is unusable");
  if (finished_) return Fail(ErrorCode::kInternal, "the age stream is finished");
  return Ok();
}

Status AgeWriter::SealChunk(bool last) {
  if (last) nonce_.back() = 0x01;
  sealed_.resize(chunk_used_ + kTagBytes);
  unsigned long long sealed_len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(sealed_.data(), &sealed_len, chunk_.data(), chunk_used_, nullptr, 0,
                                            nullptr, nonce_.data(), payload_key_.data());
  sodium_memzero(chunk_.data(), chunk_used_);
  chunk_used_ = 0;
  // The 11-byte big-endian chunk counter (2^88 chunks: never wraps in practice).
  for (std::size_t i = nonce_.size() - 1; i-- > 0;) {
    if (++nonce_[i] != 0) break;
  }
  if (auto written = out_(sealed_); !written) {
    broken_ = true;
    return written;
  }
  return Ok();
}

Status AgeWriter::Write(ByteView plaintext) {
  EVAULT_TRY(Usable());
  while (!plaintext.empty()) {
    // A full chunk is sealed only once more data follows, so that the final chunk is
    // never empty unless the whole payload is.
    if (chunk_used_ == kChunkBytes) EVAULT_TRY(SealChunk(false));
    const std::size_t n = std::min(plaintext.size(), kChunkBytes - chunk_used_);
    std::memcpy(chunk_.data() + chunk_used_, plaintext.data(), n);
    chunk_used_ += n;
    plaintext_bytes_ += n;
    plaintext = plaintext.subspan(n);
  }
  return Ok();
}

Status AgeWriter::Finish() {
  EVAULT_TRY(Usable());
  EVAULT_TRY(SealChunk(true));
  finished_ = true;
  return Ok();
}

ByteSink AgeWriter::sink() {
  return [this](ByteView bytes) { return Write(bytes); };
}

Result<std::unique_ptr<AgeFile>> AgeFile::Create(const std::filesystem::path& path, const AgeRecipient& recipient) {
  EVAULT_ASSIGN_OR_RETURN(auto file, SealedFile::Create(path));
  EVAULT_ASSIGN_OR_RETURN(auto age, AgeWriter::Create(file->sink(), recipient));  // on failure, file is removed
  return std::unique_ptr<AgeFile>(new AgeFile(std::move(file), std::move(age)));
}

Status AgeFile::Finish() {
  if (auto sealed = age_->Finish(); !sealed) {
    file_->Discard();
    return sealed;
  }
  return file_->Finish();  // on failure, Discard follows when this object goes
}

}  // namespace evault::audit
