#include "audit/sshsig.h"

#include <sodium.h>

#include <cstring>

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

}  // namespace

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
  Bytes blob(encoded.size());
  std::size_t length = 0;
  if (sodium_base642bin(blob.data(), blob.size(), encoded.data(), encoded.size(), nullptr, &length, nullptr,
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
