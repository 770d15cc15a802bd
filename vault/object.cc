#include "vault/object.h"

#include <cstring>

#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/padding.h"
#include "vault/header.h"

namespace evault::vault {

using crypto::AsBytes;
using crypto::Bytes;
using crypto::ByteView;

namespace {

// content key | kind | logical id | revision | has case | case id
constexpr std::size_t kHeaderPlainBytes = crypto::SymmetricKey::kBytes + 1 + kIdBytes + 8 + 1 + kIdBytes;

ByteView View(const std::string& s) { return AsBytes(s); }

Bytes SigningMessage(const format::v1::ObjectEnvelope& e) {
  Bytes m;
  crypto::AppendField(m, AsBytes("evault-object-v2"));
  crypto::AppendU32(m, e.format_version());
  crypto::AppendField(m, View(e.vault_id()));
  crypto::AppendField(m, View(e.object_id()));
  crypto::AppendField(m, View(e.author()));
  crypto::AppendU64(m, e.author_seq());
  crypto::AppendField(m, View(e.prev_hash()));
  crypto::AppendU64(m, e.key_epoch());
  crypto::AppendU32(m, static_cast<std::uint32_t>(e.key_slots_size()));
  for (const auto& slot : e.key_slots()) crypto::AppendField(m, View(slot));
  crypto::AppendField(m, View(e.key_commitment()));
  crypto::AppendField(m, View(e.ciphertext()));
  crypto::AppendField(m, View(e.public_body()));
  return m;
}

Bytes KeyCommitment(ByteView vault_id, ByteView object_id, std::uint64_t epoch, ByteView header) {
  Bytes m;
  crypto::AppendField(m, AsBytes("evault-key-commitment-v1"));
  crypto::AppendField(m, vault_id);
  crypto::AppendField(m, object_id);
  crypto::AppendU64(m, epoch);
  crypto::AppendField(m, header);
  return crypto::PublicHash(m);
}

Bytes BodyAd(ByteView vault_id, ByteView object_id, const ObjectIdentity& id, std::uint32_t version) {
  Bytes ad;
  crypto::AppendField(ad, AsBytes("evault-object-body-v1"));
  crypto::AppendField(ad, vault_id);
  crypto::AppendField(ad, object_id);
  crypto::AppendU8(ad, static_cast<std::uint8_t>(id.kind));
  crypto::AppendField(ad, id.logical_id);
  crypto::AppendU64(ad, id.revision);
  crypto::AppendField(ad, id.case_id);
  crypto::AppendU32(ad, version);
  return ad;
}

std::string ToString(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

ObjectCodec::ObjectCodec(Bytes vault_id, const crypto::SigningKeyPair* author)
    : vault_id_(std::move(vault_id)), author_(author) {}

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

Result<format::v1::ObjectEnvelope> ObjectCodec::Seal(const Bytes& object_id, const ObjectIdentity& identity,
                                                     ByteView body, std::uint64_t seq, const Bytes& prev_hash,
                                                     const crypto::SymmetricKey& content_key,
                                                     const SealingKeys& to) const {
  if (identity.logical_id.size() != kIdBytes || (!identity.case_id.empty() && identity.case_id.size() != kIdBytes)) {
    return Fail(ErrorCode::kInternal, "object identity has malformed ids");
  }
  format::v1::ObjectEnvelope e = ChainedEnvelope(object_id, seq, prev_hash);
  e.set_key_epoch(to.epoch);

  crypto::SecretBytes header(kHeaderPlainBytes);
  std::uint8_t* p = header.data();
  std::memcpy(p, content_key.data(), crypto::SymmetricKey::kBytes);
  p += crypto::SymmetricKey::kBytes;
  *p++ = static_cast<std::uint8_t>(identity.kind);
  std::memcpy(p, identity.logical_id.data(), kIdBytes);
  p += kIdBytes;
  Bytes revision;
  crypto::AppendU64(revision, identity.revision);
  std::memcpy(p, revision.data(), 8);
  p += 8;
  *p++ = identity.case_id.empty() ? 0 : 1;
  if (!identity.case_id.empty()) std::memcpy(p, identity.case_id.data(), kIdBytes);

  for (const Bytes* recipient : {&to.readers, &to.second, &to.author}) {
    EVAULT_ASSIGN_OR_RETURN(Bytes slot, crypto::SealToPublicKey(*recipient, header.span()));
    e.add_key_slots(ToString(slot));
  }
  e.set_key_commitment(ToString(KeyCommitment(vault_id_, object_id, to.epoch, header.span())));

  crypto::SecretBytes padded = crypto::Pad(body);
  const Bytes ciphertext = crypto::AeadSeal(content_key, padded.span(),
                                            BodyAd(vault_id_, object_id, identity, kFormatVersion));
  e.set_ciphertext(ToString(ciphertext));
  e.set_signature(ToString(author_->Sign(SigningMessage(e))));
  return e;
}

Result<OpenedObject> ObjectCodec::Open(const format::v1::ObjectEnvelope& e, ByteView expected_object_id,
                                       const OpeningKeys& keys) const {
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
  if (e.key_slots_size() != static_cast<int>(kKeySlots)) {
    return Fail(ErrorCode::kTampered, "object has the wrong number of key slots");
  }
  std::optional<crypto::SecretBytes> header;
  auto try_slot = [&](int slot, const crypto::BoxKeyPair* key) {
    if (header || key == nullptr) return;
    if (auto opened = key->OpenSealed(View(e.key_slots(slot)))) header = std::move(*opened);
  };
  try_slot(0, keys.readers);
  for (const auto* key : keys.second) try_slot(1, key);
  for (const auto* key : keys.author) try_slot(2, key);
  if (!header) return Fail(ErrorCode::kPermissionDenied, "this device holds no key for this object");
  const Bytes commitment = KeyCommitment(vault_id_, View(e.object_id()), e.key_epoch(), header->span());
  if (header->size() != kHeaderPlainBytes || e.key_commitment() != ToString(commitment)) {
    return Fail(ErrorCode::kTampered, "object header does not match its signed commitment");
  }
  const std::uint8_t* p = header->data() + crypto::SymmetricKey::kBytes;
  ObjectIdentity identity;
  identity.kind = static_cast<ObjectKind>(*p++);
  identity.logical_id.assign(p, p + kIdBytes);
  p += kIdBytes;
  identity.revision = crypto::LoadU64(p);
  p += 8;
  if (*p++ == 1) identity.case_id.assign(p, p + kIdBytes);
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

format::v1::ObjectEnvelope ObjectCodec::Rechain(format::v1::ObjectEnvelope e, std::uint64_t seq,
                                                const Bytes& prev_hash) const {
  e.set_author_seq(seq);
  e.set_prev_hash(ToString(prev_hash));
  e.set_signature(ToString(author_->Sign(SigningMessage(e))));
  return e;
}

Status ObjectCodec::CheckShape(const format::v1::ObjectEnvelope& e, std::uint64_t current_epoch) {
  constexpr std::size_t kSlotBytes = kHeaderPlainBytes + crypto_box_SEALBYTES;
  if (!e.public_body().empty()) return Fail(ErrorCode::kInvalidArgument, "a sealed object carries a public body");
  if (e.key_slots_size() != static_cast<int>(kKeySlots)) {
    return Fail(ErrorCode::kInvalidArgument, "a sealed object needs exactly three key slots");
  }
  for (const auto& slot : e.key_slots()) {
    if (slot.size() != kSlotBytes) return Fail(ErrorCode::kInvalidArgument, "a key slot has the wrong size");
  }
  if (e.key_commitment().size() != 32 || e.ciphertext().empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a sealed object lacks its commitment or ciphertext");
  }
  if (e.key_epoch() == 0 || e.key_epoch() > current_epoch) {
    return Fail(ErrorCode::kInvalidArgument, "a sealed object names a key epoch that has not begun");
  }
  return Ok();
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
