// ObjectCodec: signed, encrypted envelopes. Any change to any field, a body or header
// moved to another object, or another vault's keys must fail to open.
#include "vault/object.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "crypto/identity.h"
#include "crypto/keys.h"
#include "tests/vault/test_util.h"
#include "vault/header.h"

namespace evault::vault {
namespace {

using crypto::Bytes;

class ObjectTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::EnsureSodium(); }

  format::v1::ObjectEnvelope SealBody(const Bytes& object_id, std::string_view body,
                                      ObjectKind kind = ObjectKind::kRecordRevision,
                                      std::uint64_t revision = 1) {
    return codec_.Seal(object_id, {kind, logical_id_, revision}, crypto::AsBytes(body), 1, {},
                       crypto::SymmetricKey::Generate());
  }

  // Re-signs an envelope with the device key after changing it, so only the
  // encryption layer can catch the change.
  void Resign(format::v1::ObjectEnvelope& e) {
    Bytes m;
    auto view = [](const std::string& s) { return crypto::AsBytes(s); };
    crypto::AppendField(m, crypto::AsBytes("evault-object-v1"));
    crypto::AppendU32(m, e.format_version());
    crypto::AppendField(m, view(e.vault_id()));
    crypto::AppendField(m, view(e.object_id()));
    crypto::AppendField(m, view(e.author()));
    crypto::AppendU64(m, e.author_seq());
    crypto::AppendField(m, view(e.prev_hash()));
    crypto::AppendField(m, view(e.sealed_header()));
    crypto::AppendField(m, view(e.ciphertext()));
    crypto::AppendField(m, view(e.public_body()));
    const Bytes sig = signing_.Sign(m);
    e.set_signature(std::string(sig.begin(), sig.end()));
    // If the signing message changes, this copy of it must follow.
    ASSERT_TRUE(ObjectCodec::VerifySignature(e)) << "the test's Resign is out of date with object.cc";
  }

  Bytes vault_id_ = crypto::RandomBytes(16);
  Bytes logical_id_ = crypto::RandomBytes(kIdBytes);
  crypto::SigningKeyPair signing_ = crypto::SigningKeyPair::Generate();
  crypto::SymmetricKey read_key_ = crypto::SymmetricKey::Generate();
  ObjectCodec codec_{vault_id_, &signing_, &read_key_};
};

TEST_F(ObjectTest, RoundTrip) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  auto e = SealBody(id, "{\"title\":\"Нұр-Сұлтан\"}", ObjectKind::kRecordRevision, 7);
  ASSERT_OK_AND_ASSIGN(OpenedObject o, codec_.Open(e, id));
  EXPECT_EQ(o.body.view(), "{\"title\":\"Нұр-Сұлтан\"}");
  EXPECT_EQ(o.identity.kind, ObjectKind::kRecordRevision);
  EXPECT_EQ(o.identity.logical_id, logical_id_);
  EXPECT_EQ(o.identity.revision, 7u);
  EXPECT_EQ(o.author, signing_.public_key());
  // No plaintext in the envelope.
  EXPECT_EQ(e.SerializeAsString().find("Нұр-Сұлтан"), std::string::npos);
}

TEST_F(ObjectTest, EveryFieldIsProtected) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto original = SealBody(id, "body text");
  using Mutation = std::function<void(format::v1::ObjectEnvelope&)>;
  auto flip = [](std::string* s, std::size_t pos) { (*s)[pos % s->size()] ^= 0x01; };
  const std::pair<const char*, Mutation> mutations[] = {
      {"vault_id", [&](auto& e) { flip(e.mutable_vault_id(), 3); }},
      {"object_id", [&](auto& e) { flip(e.mutable_object_id(), 0); }},
      {"author", [&](auto& e) {
         const Bytes other = crypto::SigningKeyPair::Generate().public_key();
         e.set_author(std::string(other.begin(), other.end()));
       }},
      {"author_seq", [&](auto& e) { e.set_author_seq(e.author_seq() + 1); }},
      {"prev_hash", [&](auto& e) { e.set_prev_hash(std::string(32, 'x')); }},
      {"sealed_header start", [&](auto& e) { flip(e.mutable_sealed_header(), 0); }},
      {"sealed_header end", [&](auto& e) { flip(e.mutable_sealed_header(), e.sealed_header().size() - 1); }},
      {"ciphertext middle", [&](auto& e) { flip(e.mutable_ciphertext(), e.ciphertext().size() / 2); }},
      {"ciphertext truncated", [&](auto& e) { e.mutable_ciphertext()->pop_back(); }},
      {"signature", [&](auto& e) { flip(e.mutable_signature(), 10); }},
      {"signature empty", [&](auto& e) { e.clear_signature(); }},
      {"public body added", [&](auto& e) { e.set_public_body("x"); }},
  };
  for (const auto& [what, mutate] : mutations) {
    SCOPED_TRACE(what);
    auto e = original;
    mutate(e);
    auto opened = codec_.Open(e, id);
    EXPECT_FALSE(opened.has_value());
    if (!opened) {
      EXPECT_EQ(opened.error().code, ErrorCode::kTampered) << opened.error().message;
    }
  }
  auto newer = original;
  newer.set_format_version(kFormatVersion + 1);
  EXPECT_ERROR(codec_.Open(newer, id), ErrorCode::kUnsupportedVersion);
  EXPECT_ERROR(codec_.Open(original, crypto::RandomBytes(kIdBytes)), ErrorCode::kTampered);
  EXPECT_OK(codec_.Open(original, id));
}

// Even with a valid signature (a device re-signing), a body or header moved to another
// object does not open: the encryption binds them to the object's identity.
TEST_F(ObjectTest, MovedBodyOrHeaderFailsEvenIfResigned) {
  const Bytes id_a = crypto::RandomBytes(kIdBytes);
  const Bytes id_b = crypto::RandomBytes(kIdBytes);
  const auto a = SealBody(id_a, "body of a");
  const auto b = SealBody(id_b, "body of b");

  auto body_moved = b;
  body_moved.set_ciphertext(a.ciphertext());
  Resign(body_moved);
  EXPECT_ERROR(codec_.Open(body_moved, id_b), ErrorCode::kTampered);

  auto both_moved = b;
  both_moved.set_ciphertext(a.ciphertext());
  both_moved.set_sealed_header(a.sealed_header());
  Resign(both_moved);
  EXPECT_ERROR(codec_.Open(both_moved, id_b), ErrorCode::kTampered);

  auto renamed = a;
  renamed.set_object_id(std::string(id_b.begin(), id_b.end()));
  Resign(renamed);
  EXPECT_ERROR(codec_.Open(renamed, id_b), ErrorCode::kTampered);

  // The resigned envelope itself is fine when nothing was moved.
  auto same = a;
  Resign(same);
  EXPECT_OK(codec_.Open(same, id_a));
}

TEST_F(ObjectTest, OtherVaultCannotOpen) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto e = SealBody(id, "secret");
  crypto::SymmetricKey other_read = crypto::SymmetricKey::Generate();
  ObjectCodec other_key(vault_id_, &signing_, &other_read);
  EXPECT_ERROR(other_key.Open(e, id), ErrorCode::kTampered);
  ObjectCodec other_vault(crypto::RandomBytes(16), &signing_, &read_key_);
  EXPECT_ERROR(other_vault.Open(e, id), ErrorCode::kTampered);
}

TEST_F(ObjectTest, ChainHashCoversSignature) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  auto e = SealBody(id, "x");
  const Bytes h = ObjectCodec::ChainHash(e);
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(ObjectCodec::ChainHash(e), h);
  auto changed = e;
  changed.set_author_seq(2);
  EXPECT_NE(ObjectCodec::ChainHash(changed), h);
  auto sig = e;
  (*sig.mutable_signature())[0] ^= 1;
  EXPECT_NE(ObjectCodec::ChainHash(sig), h);
}

}  // namespace
}  // namespace evault::vault
