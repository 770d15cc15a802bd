#include "audit/sshsig.h"
#include "audit/text.h"

#include <sodium.h>

#include <cctype>
#include <cstring>
#include <optional>

#include <fmt/core.h>

#include "crypto/secret_bytes.h"

namespace evault::audit {

namespace {

using crypto::Bytes;
using crypto::ByteView;

constexpr char kMagic[] = "SSHSIG";  // 6 bytes, no terminator in the blob
constexpr char kHashAlgorithm[] = "sha512";
constexpr char kKeyType[] = "ssh-ed25519";
constexpr std::size_t kLineWidth = 70;

// SSH wire format: uint32 length (big endian) then bytes.
void PutString(Bytes& out, ByteView value) {
  const auto n = static_cast<std::uint32_t>(value.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(n >> shift));
  out.insert(out.end(), value.begin(), value.end());
}
void PutString(Bytes& out, std::string_view value) { PutString(out, crypto::AsBytes(value)); }

Bytes PublicKeyBlob(ByteView pk) {
  Bytes blob;
  PutString(blob, std::string_view(kKeyType));
  PutString(blob, pk);
  return blob;
}

Bytes SignedData(std::string_view ssh_namespace, ByteView message) {
  std::uint8_t digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(digest, message.data(), message.size());
  Bytes data(kMagic, kMagic + 6);
  PutString(data, ssh_namespace);
  PutString(data, std::string_view());
  PutString(data, std::string_view(kHashAlgorithm));
  PutString(data, ByteView(digest, sizeof digest));
  return data;
}

// A reader of SSH wire strings that fails instead of reading past the end.
struct Reader {
  ByteView rest;
  bool ok = true;
  ByteView String() {
    if (rest.size() < 4) return Bad();
    const std::uint32_t n = (std::uint32_t{rest[0]} << 24) | (std::uint32_t{rest[1]} << 16) |
                            (std::uint32_t{rest[2]} << 8) | rest[3];
    if (rest.size() - 4 < n) return Bad();
    ByteView value = rest.subspan(4, n);
    rest = rest.subspan(4 + n);
    return value;
  }
  ByteView Bad() {
    ok = false;
    rest = {};
    return {};
  }
};

bool Equals(ByteView a, std::string_view b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), b.size()) == 0;
}
bool Equals(ByteView a, ByteView b) { return a.size() == b.size() && std::memcmp(a.data(), b.data(), b.size()) == 0; }

// Whitespace-separated tokens; a double-quoted part may hold whitespace. Nullopt for
// an unterminated quote.
std::optional<std::vector<std::string_view>> Tokens(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    const std::size_t start = i;
    bool quoted = false;
    while (i < line.size() && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
      if (line[i] == '"') quoted = !quoted;
      ++i;
    }
    if (quoted) return std::nullopt;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> SplitOutsideQuotes(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '"') quoted = !quoted;
    if (i == text.size() || (text[i] == separator && !quoted)) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

Result<AllowedSigner> ParseSignerLine(std::string_view line, std::size_t number) {
  auto bad = [&](std::string_view what) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("allowed_signers line {}: {}", number, what));
  };
  const auto tokens = Tokens(line);
  if (!tokens) return bad("an unterminated quote");
  if (tokens->size() < 3) return bad("not \"PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY\"");
  AllowedSigner signer;
  signer.principals = std::string((*tokens)[0]);
  std::size_t next = 1;
  const std::string_view second = (*tokens)[1];
  const bool is_key_type = second.starts_with("ssh-") || second.starts_with("ecdsa-") || second.starts_with("sk-");
  if (!is_key_type) {
    for (std::string_view option : SplitOutsideQuotes((*tokens)[1], ',')) {
      const std::size_t eq = option.find('=');
      const std::string_view name = option.substr(0, eq);
      if (EqualsIgnoringCase(name, "namespaces") && eq != std::string_view::npos) {
        std::string_view value = option.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        for (std::string_view ns : SplitOutsideQuotes(value, ',')) signer.namespaces.emplace_back(ns);
      } else if (EqualsIgnoringCase(name, "cert-authority")) {
        return bad("a certificate authority, not a signer's own key");
      } else {
        return bad(fmt::format("an unsupported option \"{}\"", name));
      }
    }
    next = 2;
  }
  if (tokens->size() < next + 2) return bad("no key after the options");
  if ((*tokens)[next] != kKeyType) return bad("not an ssh-ed25519 key");
  const std::string_view encoded = (*tokens)[next + 1];
  Bytes blob(encoded.size() + 1);
  std::size_t length = 0;
  if (!IsStrictBase64(encoded) ||
      sodium_base642bin(blob.data(), blob.size(), encoded.data(), encoded.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return bad("the key is not base64");
  }
  blob.resize(length);
  Reader r{blob};
  const ByteView type = r.String(), key = r.String();
  if (!r.ok || !r.rest.empty() || !Equals(type, std::string_view(kKeyType)) || key.size() != crypto_sign_PUBLICKEYBYTES) {
    return bad("the key is not an ssh-ed25519 key blob");
  }
  signer.key.assign(key.begin(), key.end());
  return signer;
}

}  // namespace

std::string SshFingerprint(ByteView pk) {
  crypto::EnsureSodium();
  const Bytes blob = PublicKeyBlob(pk);
  std::uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, blob.data(), blob.size());
  return "SHA256:" + crypto::ToBase64Unpadded(ByteView(digest, sizeof digest));
}

Result<std::vector<AllowedSigner>> ParseAllowedSigners(std::string_view text) {
  std::vector<AllowedSigner> signers;
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    EVAULT_ASSIGN_OR_RETURN(AllowedSigner signer, ParseSignerLine(line.substr(first), number));
    signers.push_back(std::move(signer));
  }
  return signers;
}

std::string SshPublicKey(ByteView pk) { return std::string(kKeyType) + " " + crypto::ToBase64(PublicKeyBlob(pk)); }

std::string AllowedSignersLine(std::string_view identity, std::string_view ssh_namespace, ByteView pk) {
  return std::string(identity) + " namespaces=\"" + std::string(ssh_namespace) + "\" " + SshPublicKey(pk);
}

std::string SshSign(const crypto::SigningKeyPair& key, std::string_view ssh_namespace, ByteView message) {
  crypto::EnsureSodium();
  const Bytes signature = key.Sign(SignedData(ssh_namespace, message));
  Bytes signature_blob;
  PutString(signature_blob, std::string_view(kKeyType));
  PutString(signature_blob, signature);
  Bytes blob(kMagic, kMagic + 6);
  for (int shift = 24; shift >= 0; shift -= 8) blob.push_back(static_cast<std::uint8_t>(1u >> shift));  // version 1
  PutString(blob, PublicKeyBlob(key.public_key()));
  PutString(blob, ssh_namespace);
  PutString(blob, std::string_view());
  PutString(blob, std::string_view(kHashAlgorithm));
  PutString(blob, signature_blob);
  const std::string encoded = crypto::ToBase64(blob);
  std::string out = "-----BEGIN SSH SIGNATURE-----\n";
  for (std::size_t i = 0; i < encoded.size(); i += kLineWidth) out += encoded.substr(i, kLineWidth) + "\n";
  out += "-----END SSH SIGNATURE-----\n";
  return out;
}

Status SshVerify(ByteView pk, std::string_view ssh_namespace, ByteView message, std::string_view armored) {
  crypto::EnsureSodium();
  constexpr std::string_view kBegin = "-----BEGIN SSH SIGNATURE-----", kEnd = "-----END SSH SIGNATURE-----";
  const auto begin = armored.find(kBegin), end = armored.find(kEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return Fail(ErrorCode::kTampered, "not an SSH signature (no armor)");
  }
  std::string encoded;
  for (char c : armored.substr(begin + kBegin.size(), end - begin - kBegin.size())) {
    if (c != '\n' && c != '\r') encoded += c;
  }
  // One spare byte, as in ParseSignerLine: an empty armor must not hand libsodium a
  // null buffer (its nonnull contract).
  Bytes blob(encoded.size() + 1);
  std::size_t length = 0;
  if (!IsStrictBase64(encoded) ||
      sodium_base642bin(blob.data(), blob.size(), encoded.data(), encoded.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Fail(ErrorCode::kTampered, "SSH signature: bad base64");
  }
  blob.resize(length);
  if (blob.size() < 10 || std::memcmp(blob.data(), kMagic, 6) != 0 || blob[6] != 0 || blob[7] != 0 || blob[8] != 0 ||
      blob[9] != 1) {
    return Fail(ErrorCode::kTampered, "SSH signature: wrong magic or version");
  }
  Reader r{ByteView(blob).subspan(10)};
  Reader key{r.String()};
  const ByteView ns = r.String();
  r.String();  // reserved
  const ByteView hash = r.String();
  Reader sig{r.String()};
  if (!r.ok || !r.rest.empty()) return Fail(ErrorCode::kTampered, "SSH signature: malformed");
  const ByteView key_type = key.String(), key_bytes = key.String();
  const ByteView sig_type = sig.String(), sig_bytes = sig.String();
  if (!key.ok || !sig.ok || !Equals(key_type, kKeyType) || !Equals(sig_type, kKeyType)) {
    return Fail(ErrorCode::kTampered, "SSH signature: not an Ed25519 signature");
  }
  if (!Equals(key_bytes, pk)) return Fail(ErrorCode::kTampered, "SSH signature: made by another key");
  if (!Equals(ns, ssh_namespace)) return Fail(ErrorCode::kTampered, "SSH signature: made for another namespace");
  if (!Equals(hash, std::string_view(kHashAlgorithm))) return Fail(ErrorCode::kTampered, "SSH signature: unexpected hash");
  if (!crypto::VerifySignature(pk, SignedData(ssh_namespace, message), sig_bytes)) {
    return Fail(ErrorCode::kTampered, "SSH signature: does not match the signed file");
  }
  return Ok();
}

}  // namespace evault::audit
