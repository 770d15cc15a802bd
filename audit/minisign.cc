#include "audit/minisign.h"
#include "audit/text.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/core.h>

#include "crypto/keys.h"
#include "crypto/secret_bytes.h"

namespace evault::audit {

namespace {

using crypto::Bytes;
using crypto::ByteView;

constexpr std::size_t kKeyIdBytes = 8;

// minisign key ids are random; ours is derived from the key, so it is stable.
Bytes KeyId(ByteView pk) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-minisign-key-id-v1"));
  crypto::AppendField(m, pk);
  const Bytes h = crypto::PublicHash(m);
  return Bytes(h.begin(), h.begin() + kKeyIdBytes);
}

constexpr std::size_t kAlgorithmBytes = 2;
constexpr std::string_view kUntrustedPrefix = "untrusted comment:";
constexpr std::string_view kTrustedPrefix = "trusted comment: ";

// The file's lines, each without its line ending ("\n" or "\r\n").
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::optional<Bytes> FromBase64(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!IsStrictBase64(text)) return std::nullopt;
  Bytes out(text.size() + 1);
  std::size_t length = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

struct PublicKey {
  Bytes id;
  Bytes key;
};

Result<PublicKey> ParsePublicKey(std::string_view text) {
  const auto lines = Lines(text);
  if (lines.size() < 2 || !lines[0].starts_with(kUntrustedPrefix)) {
    return Fail(ErrorCode::kInvalidArgument, "minisign public key: no \"untrusted comment:\" line then a key line");
  }
  for (std::size_t i = 2; i < lines.size(); ++i) {
    if (!lines[i].empty()) return Fail(ErrorCode::kInvalidArgument, "minisign public key: text after the key line");
  }
  const auto blob = FromBase64(lines[1]);
  if (!blob || blob->size() != kAlgorithmBytes + kKeyIdBytes + crypto::kSigningPublicKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument, "minisign public key: the key line is not base64 of 42 bytes");
  }
  if ((*blob)[0] != 'E' || (*blob)[1] != 'd') {
    return Fail(ErrorCode::kInvalidArgument, "minisign public key: not an Ed25519 key (\"Ed\")");
  }
  PublicKey pk;
  pk.id.assign(blob->begin() + kAlgorithmBytes, blob->begin() + kAlgorithmBytes + kKeyIdBytes);
  pk.key.assign(blob->begin() + kAlgorithmBytes + kKeyIdBytes, blob->end());
  return pk;
}

// minisign prints the key id as the 8 bytes read little-endian, in upper-case hex.
std::string KeyIdText(const Bytes& id) {
  std::string out;
  for (auto it = id.rbegin(); it != id.rend(); ++it) out += fmt::format("{:02X}", *it);
  return out;
}

}  // namespace

std::string MinisignPublicKey(ByteView pk) {
  const Bytes id = KeyId(pk);
  Bytes blob = {'E', 'd'};
  blob.insert(blob.end(), id.begin(), id.end());
  blob.insert(blob.end(), pk.begin(), pk.end());
  return "untrusted comment: minisign public key " + KeyIdText(id) + "\n" + crypto::ToBase64(blob) + "\n";
}

std::string MinisignSign(const crypto::SigningKeyPair& key, ByteView message, std::string_view trusted_comment) {
  crypto::EnsureSodium();
  std::uint8_t digest[64];
  crypto_generichash(digest, sizeof digest, message.data(), message.size(), nullptr, 0);
  const Bytes signature = key.Sign(ByteView(digest, sizeof digest));
  const Bytes id = KeyId(key.public_key());
  Bytes blob = {'E', 'D'};
  blob.insert(blob.end(), id.begin(), id.end());
  blob.insert(blob.end(), signature.begin(), signature.end());
  std::string comment(trusted_comment);
  std::replace(comment.begin(), comment.end(), '\n', ' ');
  Bytes global(signature.begin(), signature.end());
  global.insert(global.end(), comment.begin(), comment.end());
  const Bytes global_signature = key.Sign(global);
  return "untrusted comment: signature from an evault device key\n" + crypto::ToBase64(blob) + "\ntrusted comment: " +
         comment + "\n" + crypto::ToBase64(global_signature) + "\n";
}

Result<Bytes> ParseMinisignPublicKey(std::string_view text) {
  EVAULT_ASSIGN_OR_RETURN(PublicKey pk, ParsePublicKey(text));
  return pk.key;
}

Status MinisignVerify(std::string_view public_key_file_text, ByteView message, std::string_view minisig_file_text) {
  crypto::EnsureSodium();
  EVAULT_ASSIGN_OR_RETURN(PublicKey pk, ParsePublicKey(public_key_file_text));
  const auto lines = Lines(minisig_file_text);
  if (lines.size() < 4 || !lines[0].starts_with(kUntrustedPrefix) || !lines[2].starts_with(kTrustedPrefix)) {
    return Fail(ErrorCode::kInvalidArgument,
                "minisign signature: not the four lines (untrusted comment, signature, trusted comment, global "
                "signature)");
  }
  for (std::size_t i = 4; i < lines.size(); ++i) {
    if (!lines[i].empty()) return Fail(ErrorCode::kInvalidArgument, "minisign signature: text after the fourth line");
  }
  const auto blob = FromBase64(lines[1]);
  if (!blob || blob->size() != kAlgorithmBytes + kKeyIdBytes + crypto::kSignatureBytes) {
    return Fail(ErrorCode::kInvalidArgument, "minisign signature: the signature line is not base64 of 74 bytes");
  }
  const bool prehashed = (*blob)[0] == 'E' && (*blob)[1] == 'D';
  const bool legacy = (*blob)[0] == 'E' && (*blob)[1] == 'd';
  if (!prehashed && !legacy) {
    return Fail(ErrorCode::kInvalidArgument, "minisign signature: unknown signature algorithm (not \"ED\" or \"Ed\")");
  }
  const ByteView id(blob->data() + kAlgorithmBytes, kKeyIdBytes);
  const ByteView signature(blob->data() + kAlgorithmBytes + kKeyIdBytes, crypto::kSignatureBytes);
  if (!std::equal(id.begin(), id.end(), pk.id.begin(), pk.id.end())) {
    return Fail(ErrorCode::kTampered, fmt::format("minisign signature: made by key id {}, but the public key is {}",
                                                  KeyIdText(Bytes(id.begin(), id.end())), KeyIdText(pk.id)));
  }
  const auto global = FromBase64(lines[3]);
  if (!global || global->size() != crypto::kSignatureBytes) {
    return Fail(ErrorCode::kInvalidArgument, "minisign signature: the global signature is not base64 of 64 bytes");
  }
  bool valid;
  if (prehashed) {
    std::uint8_t digest[64];
    crypto_generichash(digest, sizeof digest, message.data(), message.size(), nullptr, 0);
    valid = crypto::VerifySignature(pk.key, ByteView(digest, sizeof digest), signature);
  } else {
    valid = crypto::VerifySignature(pk.key, message, signature);
  }
  if (!valid) return Fail(ErrorCode::kTampered, "minisign signature: does not match the signed file");
  const std::string_view comment = lines[2].substr(kTrustedPrefix.size());
  Bytes signed_comment(signature.begin(), signature.end());
  signed_comment.insert(signed_comment.end(), comment.begin(), comment.end());
  if (!crypto::VerifySignature(pk.key, signed_comment, *global)) {
    return Fail(ErrorCode::kTampered, "minisign signature: the trusted comment was altered (global signature fails)");
  }
  return Ok();
}

}  // namespace evault::audit
