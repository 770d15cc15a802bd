#include "vault/object.h"

#include <cstring>

#include "crypto/aead.h"
#include "crypto/padding.h"
#include "vault/header.h"

namespace evault::vault {

using crypto::AsBytes;
using crypto::Bytes;
using crypto::ByteView;

namespace {

constexpr std::size_t kSealedHeaderPlainBytes = crypto::SymmetricKey::kBytes + 1 + kIdBytes + 8;

ByteView View(const std::string& s) { return AsBytes(s); }

Bytes SigningMessage(const format::v1::ObjectEnvelope& e) {
  Bytes m;
  crypto::AppendField(m, AsBytes("evault-object-v1"));
  crypto::AppendU32(m, e.format_version());
  crypto::AppendField(m, View(e.vault_id()));
  crypto::AppendField(m, View(e.object_id()));
  crypto::AppendField(m, View(e.author()));
  crypto::AppendU64(m, e.author_seq());
  crypto::AppendField(m, View(e.prev_hash()));
  crypto::AppendField(m, View(e.sealed_header()));
  crypto::AppendField(m, View(e.ciphertext()));
  crypto::AppendField(m, View(e.public_body()));
  return m;
}

Bytes HeaderAd(ByteView vault_id, ByteView object_id, std::uint32_t version) {
  Bytes ad;
  crypto::AppendField(ad, AsBytes("evault-object-header-v1"));
  crypto::AppendField(ad, vault_id);
  crypto::AppendField(ad, object_id);
  crypto::AppendU32(ad, version);
  return ad;
}

Bytes BodyAd(ByteView vault_id, ByteView object_id, const ObjectIdentity& id, std::uint32_t version) {
  Bytes ad;
  crypto::AppendField(ad, AsBytes("evault-object-body-v1"));
  crypto::AppendField(ad, vault_id);
  crypto::AppendField(ad, object_id);
  crypto::AppendU8(ad, static_cast<std::uint8_t>(id.kind));
  crypto::AppendField(ad, id.logical_id);
  crypto::AppendU64(ad, id.revision);
  crypto::AppendU32(ad, version);
  return ad;
}

std::string ToString(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

ObjectCodec::ObjectCodec(Bytes vault_id, const crypto::SigningKeyPair* author,
                         const crypto::SymmetricKey* read_key)
    : vault_id_(std::move(vault_id)), author_(author), read_key_(read_key) {}

// The routing fields every envelope of this author carries, in the clear.
format::v1::ObjectEnvelope ObjectCodec::ChainedEnvelope(const Bytes& object_id, std::uint64_t seq,
                                                        const Bytes& prev_hash) const {
  format::v1::ObjectEnvelope e;
  e.set_format_version(kFormatVersion);
  e.set_vault_id(ToString(vault_id_));
  e.set_object_id(ToString(object_id));
  e.set_author(ToString(author_->public_key()));
  e.set_author_seq(seq);
  e.set_prev_hash(ToString(prev_hash));
  return e;
}

format::v1::ObjectEnvelope ObjectCodec::Seal(const Bytes& object_id, const ObjectIdentity& identity,
                                             ByteView body, std::uint64_t seq,
                                             const Bytes& prev_hash,
                                             const crypto::SymmetricKey& content_key) const {
  if (read_key_ == nullptr) std::abort();  // callers check that the device holds the read key
  format::v1::ObjectEnvelope e = ChainedEnvelope(object_id, seq, prev_hash);

  crypto::SecretBytes header(kSealedHeaderPlainBytes);
  std::memcpy(header.data(), content_key.data(), crypto::SymmetricKey::kBytes);
  header.data()[32] = static_cast<std::uint8_t>(identity.kind);
  std::memcpy(header.data() + 33, identity.logical_id.data(), kIdBytes);
  Bytes revision;
  crypto::AppendU64(revision, identity.revision);
  std::memcpy(header.data() + 33 + kIdBytes, revision.data(), 8);
  const Bytes sealed_header =
      crypto::AeadSeal(*read_key_, header.span(), HeaderAd(vault_id_, object_id, kFormatVersion));
  e.set_sealed_header(ToString(sealed_header));

  crypto::SecretBytes padded = crypto::Pad(body);
  const Bytes ciphertext = crypto::AeadSeal(content_key, padded.span(),
                                            BodyAd(vault_id_, object_id, identity, kFormatVersion));
  e.set_ciphertext(ToString(ciphertext));
  e.set_signature(ToString(author_->Sign(SigningMessage(e))));
  return e;
}

Result<OpenedObject> ObjectCodec::Open(const format::v1::ObjectEnvelope& e,
                                       ByteView expected_object_id) const {
  if (e.format_version() > kFormatVersion) {
    return Fail(ErrorCode::kUnsupportedVersion, "object written by a newer evault");
  }
  if (View(e.object_id()).size() != expected_object_id.size() ||
      std::memcmp(e.object_id().data(), expected_object_id.data(), expected_object_id.size()) != 0 ||
      e.vault_id() != ToString(vault_id_)) {
    return Fail(ErrorCode::kTampered, "object is stored under the wrong id or vault");
  }
  if (!e.public_body().empty()) {
    return Fail(ErrorCode::kTampered, "a public object where a sealed one was expected");
  }
  if (!VerifySignature(e)) {
    return Fail(ErrorCode::kTampered, "object signature is invalid");
  }
  if (read_key_ == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "this device does not hold the vault read key yet");
  }
  auto header = crypto::AeadOpen(*read_key_, View(e.sealed_header()),
                                 HeaderAd(vault_id_, View(e.object_id()), e.format_version()));
  if (!header || header->size() != kSealedHeaderPlainBytes) {
    return Fail(ErrorCode::kTampered, "object header failed authentication");
  }
  ObjectIdentity identity;
  identity.kind = static_cast<ObjectKind>(header->data()[32]);
  identity.logical_id.assign(header->data() + 33, header->data() + 33 + kIdBytes);
  identity.revision = crypto::LoadU64(header->data() + 33 + kIdBytes);
  EVAULT_ASSIGN_OR_RETURN(
      crypto::SymmetricKey content_key,
      crypto::SymmetricKey::FromBytes(crypto::SecretBytes::CopyFrom(
          ByteView(header->data(), crypto::SymmetricKey::kBytes))));

  auto padded = crypto::AeadOpen(content_key, View(e.ciphertext()),
                                 BodyAd(vault_id_, View(e.object_id()), identity, e.format_version()));
  if (!padded) return Fail(ErrorCode::kTampered, "object body failed authentication");
  EVAULT_ASSIGN_OR_RETURN(std::size_t length, crypto::UnpaddedSize(padded->span()));
  padded->Truncate(length);
  return OpenedObject{std::move(identity), std::move(content_key), std::move(*padded),
                      Bytes(e.author().begin(), e.author().end())};
}

format::v1::ObjectEnvelope ObjectCodec::SealPublic(const Bytes& object_id, ByteView public_body,
                                                   std::uint64_t seq, const Bytes& prev_hash) const {
  format::v1::ObjectEnvelope e = ChainedEnvelope(object_id, seq, prev_hash);
  e.set_public_body(std::string(crypto::AsText(public_body)));
  e.set_signature(ToString(author_->Sign(SigningMessage(e))));
  return e;
}

bool ObjectCodec::VerifySignature(const format::v1::ObjectEnvelope& e) {
  return crypto::VerifySignature(View(e.author()), SigningMessage(e), View(e.signature()));
}

Bytes ObjectCodec::ChainHash(const format::v1::ObjectEnvelope& e) {
  Bytes m = SigningMessage(e);
  crypto::AppendField(m, View(e.signature()));
  return crypto::PublicHash(m);
}

}  // namespace evault::vault
