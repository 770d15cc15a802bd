#include "audit/minisign.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

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

}  // namespace evault::audit
