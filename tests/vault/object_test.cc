// ObjectCodec: signed, encrypted envelopes with three key slots (the epoch's readers,
// the case or the epoch's members, the author's self key). Any change to any field, a
// body, slot or header moved to another object, or another vault's keys must fail to
// open; each slot opens alone; a device holding none of the keys is told so
// (kPermissionDenied), never handed a tampered object; and an author cannot show
// different readers different headers.
#include "vault/object.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>

#include "crypto/identity.h"
#include "crypto/keys.h"
#include "tests/vault/test_util.h"
#include "vault/header.h"

namespace evault::vault {
namespace {

using crypto::Bytes;
using crypto::BoxKeyPair;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
crypto::ByteView View(const std::string& s) { return crypto::AsBytes(s); }

// The plaintext header a key slot seals, built independently of object.cc:
// content key | kind | logical id | revision (u64 LE) | has case | case id (zeros if none).
crypto::SecretBytes Header(const crypto::SymmetricKey& content_key, const ObjectIdentity& id) {
  Bytes h(content_key.data(), content_key.data() + crypto::SymmetricKey::kBytes);
  crypto::AppendU8(h, static_cast<std::uint8_t>(id.kind));
  h.insert(h.end(), id.logical_id.begin(), id.logical_id.end());
  crypto::AppendU64(h, id.revision);
  crypto::AppendU8(h, id.case_id.empty() ? 0 : 1);
  if (id.case_id.empty()) {
    h.insert(h.end(), kIdBytes, 0);
  } else {
    h.insert(h.end(), id.case_id.begin(), id.case_id.end());
  }
  return crypto::SecretBytes::CopyFrom(h);
}

// The signed key commitment, built independently of object.cc.
Bytes Commitment(const Bytes& vault_id, crypto::ByteView object_id, std::uint64_t epoch,
                 const crypto::SecretBytes& header) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-key-commitment-v1"));
  crypto::AppendField(m, vault_id);
  crypto::AppendField(m, object_id);
  crypto::AppendU64(m, epoch);
  crypto::AppendField(m, header.span());
  return crypto::PublicHash(m);
}

class ObjectTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::EnsureSodium(); }

  ObjectIdentity CaseIdentity(ObjectKind kind = ObjectKind::kRecordRevision, std::uint64_t revision = 1) const {
    return {kind, logical_id_, revision, case_id_};
  }

  // Slot 1 goes to the case key (case content).
  SealingKeys ToCase(std::uint64_t epoch = 1) const {
    return {epoch, readers_.public_key(), case_key_.public_key(), self_.public_key()};
  }
  // Slot 1 goes to the epoch's members key (case-key announcements, checkpoints).
  SealingKeys ToMembers(std::uint64_t epoch = 1) const {
    return {epoch, readers_.public_key(), members_.public_key(), self_.public_key()};
  }

  format::v1::ObjectEnvelope SealWith(const Bytes& object_id, const ObjectIdentity& identity, std::string_view body,
                                      const crypto::SymmetricKey& content_key, const SealingKeys& to) {
    auto sealed = codec_.Seal(object_id, identity, crypto::AsBytes(body), 1, {}, content_key, to);
    EXPECT_TRUE(sealed.has_value()) << "Seal failed: " << sealed.error().message;
    return sealed ? std::move(*sealed) : format::v1::ObjectEnvelope();
  }
  format::v1::ObjectEnvelope SealBody(const Bytes& object_id, std::string_view body,
                                      ObjectKind kind = ObjectKind::kRecordRevision, std::uint64_t revision = 1) {
    return SealWith(object_id, CaseIdentity(kind, revision), body, crypto::SymmetricKey::Generate(), ToCase());
  }

  // Every key a reader of the archive could hold.
  OpeningKeys AllKeys() const { return {&readers_, {&case_key_, &members_}, {&self_}}; }
  OpeningKeys ReadersOnly() const { return {&readers_, {}, {}}; }
  OpeningKeys CaseOnly() const { return {nullptr, {&case_key_}, {}}; }
  OpeningKeys MembersOnly() const { return {nullptr, {&members_}, {}}; }
  OpeningKeys AuthorOnly() const { return {nullptr, {}, {&self_}}; }

  // Re-signs an envelope with the author's key after changing it, so only the
  // encryption layer and the key commitment can catch the change.
  void Resign(format::v1::ObjectEnvelope& e) {
    Bytes m;
    crypto::AppendField(m, crypto::AsBytes("evault-object-v2"));
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
    e.set_signature(Str(signing_.Sign(m)));
    // If the signing message changes, this copy of it must follow.
    ASSERT_TRUE(ObjectCodec::VerifySignature(e)) << "the test's Resign is out of date with object.cc";
  }

  Bytes vault_id_ = crypto::RandomBytes(16);
  Bytes logical_id_ = crypto::RandomBytes(kIdBytes);
  Bytes case_id_ = crypto::RandomBytes(kIdBytes);
  crypto::SigningKeyPair signing_ = crypto::SigningKeyPair::Generate();
  BoxKeyPair readers_ = BoxKeyPair::Generate();
  BoxKeyPair case_key_ = BoxKeyPair::Generate();
  BoxKeyPair members_ = BoxKeyPair::Generate();
  BoxKeyPair self_ = BoxKeyPair::Generate();
  ObjectCodec codec_{vault_id_, &signing_};
};

TEST_F(ObjectTest, RoundTrip) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  auto e = SealBody(id, "{\"title\":\"Нұр-Сұлтан\"}", ObjectKind::kRecordRevision, 7);
  EXPECT_EQ(e.key_slots_size(), static_cast<int>(kKeySlots));
  EXPECT_EQ(e.key_epoch(), 1u);
  EXPECT_EQ(e.format_version(), kFormatVersion);
  ASSERT_OK_AND_ASSIGN(OpenedObject o, codec_.Open(e, id, AllKeys()));
  EXPECT_EQ(o.body.view(), "{\"title\":\"Нұр-Сұлтан\"}");
  EXPECT_EQ(o.identity.kind, ObjectKind::kRecordRevision);
  EXPECT_EQ(o.identity.logical_id, logical_id_);
  EXPECT_EQ(o.identity.revision, 7u);
  EXPECT_EQ(o.identity.case_id, case_id_);
  EXPECT_EQ(o.author, signing_.public_key());
  // No plaintext in the envelope, and no case id in the clear either.
  const std::string wire = e.SerializeAsString();
  EXPECT_EQ(wire.find("Нұр-Сұлтан"), std::string::npos);
  EXPECT_EQ(wire.find(Str(case_id_)), std::string::npos);
  EXPECT_EQ(wire.find(Str(logical_id_)), std::string::npos);
}

TEST_F(ObjectTest, ContentKeyRoundTrips) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const crypto::SymmetricKey content_key = crypto::SymmetricKey::Generate();
  const auto e = SealWith(id, CaseIdentity(), "x", content_key, ToCase());
  ASSERT_OK_AND_ASSIGN(OpenedObject o, codec_.Open(e, id, CaseOnly()));
  EXPECT_TRUE(o.content_key.bytes().Equals(content_key.bytes()));
}

TEST_F(ObjectTest, CaseIdRoundTripsAndEmptyCaseStaysEmpty) {
  const Bytes with_case = crypto::RandomBytes(kIdBytes);
  const auto a = SealWith(with_case, CaseIdentity(ObjectKind::kCase), "case", crypto::SymmetricKey::Generate(), ToCase());
  ASSERT_OK_AND_ASSIGN(OpenedObject oa, codec_.Open(a, with_case, ReadersOnly()));
  EXPECT_EQ(oa.identity.case_id, case_id_);
  EXPECT_EQ(oa.identity.kind, ObjectKind::kCase);

  const Bytes no_case = crypto::RandomBytes(kIdBytes);
  const auto b = SealWith(no_case, {ObjectKind::kCheckpoint, logical_id_, 3, {}}, "checkpoint",
                          crypto::SymmetricKey::Generate(), ToMembers());
  ASSERT_OK_AND_ASSIGN(OpenedObject ob, codec_.Open(b, no_case, MembersOnly()));
  EXPECT_TRUE(ob.identity.case_id.empty());
  EXPECT_EQ(ob.identity.kind, ObjectKind::kCheckpoint);
  EXPECT_EQ(ob.identity.revision, 3u);
  EXPECT_EQ(ob.body.view(), "checkpoint");
}

// Every slot opens on its own: a reader with only the epoch's readers key, a legal
// device with only the case key, a monitor with only the members key, the author
// with only its self key.
TEST_F(ObjectTest, EachSlotOpensAlone) {
  const Bytes case_object = crypto::RandomBytes(kIdBytes);
  const auto c = SealBody(case_object, "evidence");
  const Bytes members_object = crypto::RandomBytes(kIdBytes);
  const auto m = SealWith(members_object, {ObjectKind::kCaseKey, logical_id_, 1, case_id_}, "announcement",
                          crypto::SymmetricKey::Generate(), ToMembers());

  const std::pair<const char*, OpeningKeys> case_openers[] = {
      {"readers only", ReadersOnly()}, {"case key only", CaseOnly()}, {"author self key only", AuthorOnly()}};
  for (const auto& [who, keys] : case_openers) {
    SCOPED_TRACE(who);
    auto opened = codec_.Open(c, case_object, keys);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    EXPECT_EQ(opened->body.view(), "evidence");
    EXPECT_EQ(opened->identity.case_id, case_id_);
  }
  const std::pair<const char*, OpeningKeys> members_openers[] = {
      {"readers only", ReadersOnly()}, {"members key only", MembersOnly()}, {"author self key only", AuthorOnly()}};
  for (const auto& [who, keys] : members_openers) {
    SCOPED_TRACE(who);
    auto opened = codec_.Open(m, members_object, keys);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    EXPECT_EQ(opened->body.view(), "announcement");
    EXPECT_EQ(opened->identity.kind, ObjectKind::kCaseKey);
  }
  // A monitor (members key) cannot read case content; a legal device (case key) cannot
  // read what is sealed to the members key.
  EXPECT_ERROR(codec_.Open(c, case_object, MembersOnly()), ErrorCode::kPermissionDenied);
  EXPECT_ERROR(codec_.Open(m, members_object, CaseOnly()), ErrorCode::kPermissionDenied);
}

// A key is only tried on its own slot: the readers key given as a second key, or the
// case key given as an author key, opens nothing.
TEST_F(ObjectTest, KeysAreTriedOnlyOnTheirOwnSlot) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto e = SealBody(id, "x");
  EXPECT_ERROR(codec_.Open(e, id, OpeningKeys{nullptr, {&readers_}, {&case_key_}}), ErrorCode::kPermissionDenied);
  EXPECT_ERROR(codec_.Open(e, id, OpeningKeys{&self_, {&self_}, {&readers_}}), ErrorCode::kPermissionDenied);
}

// Several candidate keys per slot (an author's old and new self keys; several case keys
// of one epoch): the one that fits opens.
TEST_F(ObjectTest, AnyOfSeveralCandidateKeysOpens) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto e = SealBody(id, "x");
  const BoxKeyPair newer_self = BoxKeyPair::Generate();
  const BoxKeyPair other_case = BoxKeyPair::Generate();
  EXPECT_OK(codec_.Open(e, id, OpeningKeys{nullptr, {}, {&newer_self, &self_}}));
  EXPECT_OK(codec_.Open(e, id, OpeningKeys{nullptr, {&other_case, &members_, &case_key_}, {}}));
}

TEST_F(ObjectTest, NoKeyOrWrongKeysIsPermissionDenied) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto e = SealBody(id, "x");
  EXPECT_ERROR(codec_.Open(e, id, OpeningKeys{}), ErrorCode::kPermissionDenied);
  const BoxKeyPair r = BoxKeyPair::Generate(), c = BoxKeyPair::Generate(), a = BoxKeyPair::Generate();
  EXPECT_ERROR(codec_.Open(e, id, OpeningKeys{&r, {&c}, {&a}}), ErrorCode::kPermissionDenied);
  // Another epoch's keys (same roles, other key pairs) open nothing either.
  ObjectCodec reader_codec(vault_id_, nullptr);  // opening needs no signing key
  EXPECT_ERROR(reader_codec.Open(e, id, OpeningKeys{&r, {&c, &members_}, {}}), ErrorCode::kPermissionDenied);
  EXPECT_OK(reader_codec.Open(e, id, ReadersOnly()));
}

TEST_F(ObjectTest, SealRefusesMalformedIdentityOrKeys) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto key = crypto::SymmetricKey::Generate();
  auto body = crypto::AsBytes("x");
  EXPECT_FALSE(codec_.Seal(id, {ObjectKind::kCase, crypto::RandomBytes(15), 1, {}}, body, 1, {}, key, ToCase()));
  EXPECT_FALSE(codec_.Seal(id, {ObjectKind::kCase, logical_id_, 1, crypto::RandomBytes(8)}, body, 1, {}, key, ToCase()));
  SealingKeys no_author = ToCase();
  no_author.author.clear();
  EXPECT_FALSE(codec_.Seal(id, CaseIdentity(), body, 1, {}, key, no_author));
  SealingKeys short_second = ToCase();
  short_second.second.pop_back();
  EXPECT_FALSE(codec_.Seal(id, CaseIdentity(), body, 1, {}, key, short_second));
  SealingKeys no_readers = ToCase();
  no_readers.readers.clear();
  EXPECT_FALSE(codec_.Seal(id, CaseIdentity(), body, 1, {}, key, no_readers));
}

TEST_F(ObjectTest, EveryFieldIsProtected) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto original = SealBody(id, "body text");
  using Mutation = std::function<void(format::v1::ObjectEnvelope&)>;
  auto flip = [](std::string* s, std::size_t pos) { (*s)[pos % s->size()] ^= 0x01; };
  const std::pair<const char*, Mutation> mutations[] = {
      {"vault_id", [&](auto& e) { flip(e.mutable_vault_id(), 3); }},
      {"object_id", [&](auto& e) { flip(e.mutable_object_id(), 0); }},
      {"author", [&](auto& e) { e.set_author(Str(crypto::SigningKeyPair::Generate().public_key())); }},
      {"author_seq", [&](auto& e) { e.set_author_seq(e.author_seq() + 1); }},
      {"prev_hash", [&](auto& e) { e.set_prev_hash(std::string(32, 'x')); }},
      {"key_epoch", [&](auto& e) { e.set_key_epoch(e.key_epoch() + 1); }},
      {"slot 0 start", [&](auto& e) { flip(e.mutable_key_slots(0), 0); }},
      {"slot 1 middle", [&](auto& e) { flip(e.mutable_key_slots(1), e.key_slots(1).size() / 2); }},
      {"slot 2 end", [&](auto& e) { flip(e.mutable_key_slots(2), e.key_slots(2).size() - 1); }},
      {"slots swapped", [&](auto& e) { e.mutable_key_slots()->SwapElements(0, 1); }},
      {"slot dropped", [&](auto& e) { e.mutable_key_slots()->RemoveLast(); }},
      {"slot added", [&](auto& e) { e.add_key_slots(e.key_slots(0)); }},
      {"key_commitment", [&](auto& e) { flip(e.mutable_key_commitment(), 5); }},
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
    // Whoever holds every key is told the object was tampered with.
    EXPECT_ERROR(codec_.Open(e, id, AllKeys()), ErrorCode::kTampered);
  }
  auto newer = original;
  newer.set_format_version(kFormatVersion + 1);
  EXPECT_ERROR(codec_.Open(newer, id, AllKeys()), ErrorCode::kUnsupportedVersion);
  EXPECT_ERROR(codec_.Open(original, crypto::RandomBytes(kIdBytes), AllKeys()), ErrorCode::kTampered);
  EXPECT_OK(codec_.Open(original, id, AllKeys()));
}

// An unsigned change is caught before any key is tried: even a device holding no key
// learns the object was tampered with, not merely that it cannot read it.
TEST_F(ObjectTest, UnsignedChangesAreTamperedEvenWithoutKeys) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  auto e = SealBody(id, "x");
  (*e.mutable_key_slots(1))[0] ^= 1;
  EXPECT_ERROR(codec_.Open(e, id, OpeningKeys{}), ErrorCode::kTampered);
  EXPECT_ERROR(codec_.Open(e, id, CaseOnly()), ErrorCode::kTampered);
}

// Even with a valid signature (the author re-signing), a body, slot or header moved to
// another object does not open: the encryption and the key commitment bind them to
// the object's identity.
TEST_F(ObjectTest, MovedBodyOrSlotsFailEvenIfResigned) {
  const Bytes id_a = crypto::RandomBytes(kIdBytes);
  const Bytes id_b = crypto::RandomBytes(kIdBytes);
  const auto a = SealBody(id_a, "body of a");
  const auto b = SealBody(id_b, "body of b");

  auto body_moved = b;
  body_moved.set_ciphertext(a.ciphertext());
  Resign(body_moved);
  EXPECT_ERROR(codec_.Open(body_moved, id_b, AllKeys()), ErrorCode::kTampered);

  // Everything sealed moved (slots, commitment, body), routing fields kept.
  auto all_moved = b;
  *all_moved.mutable_key_slots() = a.key_slots();
  all_moved.set_key_commitment(a.key_commitment());
  all_moved.set_ciphertext(a.ciphertext());
  Resign(all_moved);
  for (const auto& keys : {ReadersOnly(), CaseOnly(), AuthorOnly()}) {
    EXPECT_ERROR(codec_.Open(all_moved, id_b, keys), ErrorCode::kTampered);
  }

  auto renamed = a;
  renamed.set_object_id(Str(id_b));
  Resign(renamed);
  EXPECT_ERROR(codec_.Open(renamed, id_b, AllKeys()), ErrorCode::kTampered);

  // Another epoch claimed for the same slots.
  auto other_epoch = a;
  other_epoch.set_key_epoch(2);
  Resign(other_epoch);
  EXPECT_ERROR(codec_.Open(other_epoch, id_a, AllKeys()), ErrorCode::kTampered);

  // The resigned envelope itself is fine when nothing was moved.
  auto same = a;
  Resign(same);
  EXPECT_OK(codec_.Open(same, id_a, AllKeys()));
}

// A slot copied from another object sealed to the same keys opens, but its header is
// not the one this object committed to.
TEST_F(ObjectTest, SlotCopiedFromAnotherObjectFailsTheCommitment) {
  const Bytes id_a = crypto::RandomBytes(kIdBytes);
  const Bytes id_b = crypto::RandomBytes(kIdBytes);
  const auto a = SealBody(id_a, "body of a");
  const auto b = SealBody(id_b, "body of b");
  for (int slot = 0; slot < static_cast<int>(kKeySlots); ++slot) {
    SCOPED_TRACE(slot);
    auto copied = a;
    copied.set_key_slots(slot, b.key_slots(slot));
    Resign(copied);
    const OpeningKeys only[] = {ReadersOnly(), CaseOnly(), AuthorOnly()};
    EXPECT_ERROR(codec_.Open(copied, id_a, only[slot]), ErrorCode::kTampered);
    // The slots left alone still open for their holders.
    EXPECT_OK(codec_.Open(copied, id_a, only[(slot + 1) % kKeySlots]));
  }
}

// An author who seals one header to the readers and another to the case key (say,
// another revision or case) is caught by whoever opens the odd slot: every reader
// must see the header the signed commitment names.
TEST_F(ObjectTest, AuthorSealingDifferentHeadersInDifferentSlotsIsCaught) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const crypto::SymmetricKey content_key = crypto::SymmetricKey::Generate();
  const ObjectIdentity identity = CaseIdentity(ObjectKind::kRecordRevision, 4);
  const auto original = SealWith(id, identity, "evidence", content_key, ToCase());

  // Control: the hand-built header is byte-for-byte what the codec seals, so a slot
  // resealed over it opens. (Otherwise the attacks below would prove nothing.)
  {
    auto resealed = original;
    ASSERT_OK_AND_ASSIGN(Bytes slot, crypto::SealToPublicKey(case_key_.public_key(), Header(content_key, identity).span()));
    resealed.set_key_slots(1, Str(slot));
    Resign(resealed);
    ASSERT_OK_AND_ASSIGN(OpenedObject o, codec_.Open(resealed, id, CaseOnly()));
    EXPECT_EQ(o.body.view(), "evidence");
    EXPECT_EQ(Str(Commitment(vault_id_, id, 1, Header(content_key, identity))), original.key_commitment());
  }

  const crypto::SymmetricKey other_key = crypto::SymmetricKey::Generate();
  const std::pair<const char*, crypto::SecretBytes> odd_headers[] = {
      {"another revision", Header(content_key, {identity.kind, identity.logical_id, 5, identity.case_id})},
      {"another case", Header(content_key, {identity.kind, identity.logical_id, 4, crypto::RandomBytes(kIdBytes)})},
      {"no case", Header(content_key, {identity.kind, identity.logical_id, 4, {}})},
      {"another kind", Header(content_key, {ObjectKind::kCase, identity.logical_id, 4, identity.case_id})},
      {"another content key", Header(other_key, identity)},
  };
  for (const auto& [what, odd] : odd_headers) {
    SCOPED_TRACE(what);
    // The odd header in slot 1, the commitment over the true header.
    auto e = original;
    ASSERT_OK_AND_ASSIGN(Bytes slot, crypto::SealToPublicKey(case_key_.public_key(), odd.span()));
    e.set_key_slots(1, Str(slot));
    Resign(e);
    EXPECT_ERROR(codec_.Open(e, id, CaseOnly()), ErrorCode::kTampered);
    EXPECT_OK(codec_.Open(e, id, ReadersOnly()));

    // The commitment over the odd header instead: now the readers' slot is the odd one.
    auto f = e;
    f.set_key_commitment(Str(Commitment(vault_id_, id, 1, odd)));
    Resign(f);
    EXPECT_ERROR(codec_.Open(f, id, ReadersOnly()), ErrorCode::kTampered);
    EXPECT_ERROR(codec_.Open(f, id, AuthorOnly()), ErrorCode::kTampered);
    // The odd slot matches the commitment, but the body was sealed for the true identity.
    EXPECT_ERROR(codec_.Open(f, id, CaseOnly()), ErrorCode::kTampered);
  }
}

TEST_F(ObjectTest, HeaderOfTheWrongSizeIsTampered) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const crypto::SymmetricKey content_key = crypto::SymmetricKey::Generate();
  auto e = SealWith(id, CaseIdentity(), "x", content_key, ToCase());
  crypto::SecretBytes header = Header(content_key, CaseIdentity());
  crypto::SecretBytes shorter = crypto::SecretBytes::CopyFrom(header.span().first(header.size() - 1));
  ASSERT_OK_AND_ASSIGN(Bytes slot, crypto::SealToPublicKey(case_key_.public_key(), shorter.span()));
  e.set_key_slots(1, Str(slot));
  e.set_key_commitment(Str(Commitment(vault_id_, id, 1, shorter)));
  Resign(e);
  EXPECT_ERROR(codec_.Open(e, id, CaseOnly()), ErrorCode::kTampered);
}

TEST_F(ObjectTest, WrongSlotCountIsTampered) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto original = SealBody(id, "x");
  auto two = original;
  two.mutable_key_slots()->RemoveLast();
  Resign(two);
  EXPECT_ERROR(codec_.Open(two, id, ReadersOnly()), ErrorCode::kTampered);
  EXPECT_ERROR(codec_.Open(two, id, OpeningKeys{}), ErrorCode::kTampered);

  auto four = original;
  four.add_key_slots(original.key_slots(1));
  Resign(four);
  EXPECT_ERROR(codec_.Open(four, id, ReadersOnly()), ErrorCode::kTampered);

  auto none = original;
  none.clear_key_slots();
  Resign(none);
  EXPECT_ERROR(codec_.Open(none, id, AllKeys()), ErrorCode::kTampered);
}

// What a server checks without keys: three slots of the sealed-header size, a 32-byte
// commitment, a ciphertext, and an epoch that has begun.
TEST_F(ObjectTest, CheckShape) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto original = SealWith(id, CaseIdentity(), "x", crypto::SymmetricKey::Generate(), ToCase(2));
  EXPECT_OK(ObjectCodec::CheckShape(original, 2));
  EXPECT_OK(ObjectCodec::CheckShape(original, 5));
  EXPECT_ERROR(ObjectCodec::CheckShape(original, 1), ErrorCode::kInvalidArgument);  // epoch 2 not begun
  EXPECT_ERROR(ObjectCodec::CheckShape(original, 0), ErrorCode::kInvalidArgument);
  using Mutation = std::function<void(format::v1::ObjectEnvelope&)>;
  const std::pair<const char*, Mutation> mutations[] = {
      {"epoch 0", [](auto& e) { e.set_key_epoch(0); }},
      {"two slots", [](auto& e) { e.mutable_key_slots()->RemoveLast(); }},
      {"four slots", [](auto& e) { e.add_key_slots(e.key_slots(0)); }},
      {"short slot", [](auto& e) { e.mutable_key_slots(1)->pop_back(); }},
      {"long slot", [](auto& e) { e.mutable_key_slots(2)->push_back('x'); }},
      {"empty slot", [](auto& e) { e.mutable_key_slots(0)->clear(); }},
      {"short commitment", [](auto& e) { e.mutable_key_commitment()->pop_back(); }},
      {"no commitment", [](auto& e) { e.clear_key_commitment(); }},
      {"no ciphertext", [](auto& e) { e.clear_ciphertext(); }},
      {"public body", [](auto& e) { e.set_public_body("op"); }},
  };
  for (const auto& [what, mutate] : mutations) {
    SCOPED_TRACE(what);
    auto e = original;
    mutate(e);
    EXPECT_ERROR(ObjectCodec::CheckShape(e, 2), ErrorCode::kInvalidArgument);
  }
  EXPECT_ERROR(ObjectCodec::CheckShape(codec_.SealPublic(id, crypto::AsBytes("op"), 1, {}), 2),
               ErrorCode::kInvalidArgument);
}

TEST_F(ObjectTest, OtherVaultCannotOpen) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto e = SealBody(id, "secret");
  ObjectCodec other_vault(crypto::RandomBytes(16), &signing_);
  EXPECT_ERROR(other_vault.Open(e, id, AllKeys()), ErrorCode::kTampered);
  // Re-labelled as the other vault and re-signed: the commitment and body name the first.
  auto relabelled = e;
  const Bytes other_id = crypto::RandomBytes(16);
  relabelled.set_vault_id(Str(other_id));
  Resign(relabelled);
  ObjectCodec other(other_id, &signing_);
  EXPECT_ERROR(other.Open(relabelled, id, AllKeys()), ErrorCode::kTampered);
  EXPECT_OK(codec_.Open(e, id, AllKeys()));
}

// A public (membership) object is not an encrypted one, and vice versa.
TEST_F(ObjectTest, PublicObjectsAreSignedAndNotOpenable) {
  const Bytes id = crypto::RandomBytes(kIdBytes);
  const auto p = codec_.SealPublic(id, crypto::AsBytes("public op"), 3, Bytes(32, 7));
  EXPECT_TRUE(ObjectCodec::VerifySignature(p));
  EXPECT_EQ(p.public_body(), "public op");
  EXPECT_EQ(p.key_slots_size(), 0);
  EXPECT_EQ(p.author_seq(), 3u);
  EXPECT_EQ(p.author(), Str(signing_.public_key()));
  EXPECT_ERROR(codec_.Open(p, id, AllKeys()), ErrorCode::kTampered);
  auto changed = p;
  changed.set_public_body("public oq");
  EXPECT_FALSE(ObjectCodec::VerifySignature(changed));
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
  auto slot = e;
  (*slot.mutable_key_slots(2))[0] ^= 1;
  EXPECT_NE(ObjectCodec::ChainHash(slot), h);
}

}  // namespace
}  // namespace evault::vault
