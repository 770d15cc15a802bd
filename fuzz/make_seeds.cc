// Writes the seed corpora under fuzz/corpus/<target>/ with the project's own code: valid
// inputs made the way evault makes them (sealed and signed with the fuzz world's fixed
// keys, so the targets reach past their signature and key checks), and a few damaged
// copies. Run by hand after a format change (`cmake --build build-sanitize --target
// fuzz_seeds`); the seeds are committed.
//
//   make_seeds <corpus dir>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/age.h"
#include "audit/bagit.h"
#include "audit/bundle.h"
#include "audit/custody.h"
#include "audit/merkle.h"
#include "audit/minisign.h"
#include "audit/sshsig.h"
#include "client/sync_client.h"
#include "crypto/digest.h"
#include "fuzz/fuzz_world.h"
#include "vault/header.h"
#include "vault/membership.h"

namespace {

namespace fs = std::filesystem;
using namespace evault;
using nlohmann::json;

fs::path root;

void Seed(const std::string& target, const std::string& name, std::string_view content) {
  const fs::path dir = root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
}

// Parts joined by the separator; a binary part that happens to hold it would be cut.
std::string Parts(const std::vector<std::string>& parts) {
  for (const auto& p : parts) {
    if (p.find(fuzz::kSeparator) != std::string::npos) {
      std::cerr << "make_seeds: a part contains the separator\n";
      std::exit(1);
    }
  }
  return fuzz::Join(parts);
}

std::string Text(const crypto::Bytes& b) { return std::string(crypto::AsText(b)); }
std::string Canonical(const json& j) { return vault::CanonicalJson(j); }
std::string Sha256Hex(std::string_view s) { return crypto::ToHex(crypto::Digest::Sha256(crypto::AsBytes(s))); }
std::string Sha512Hex(std::string_view s) {
  crypto::Digest d(crypto::Digest::Algorithm::kSha512);
  d.Update(crypto::AsBytes(s));
  return crypto::ToHex(d.Finish());
}
std::string Hex(const crypto::Bytes& b) { return crypto::ToHex(b); }

const fuzz::World& W() { return fuzz::World::Get(); }
const std::string& VaultHex() {
  static const std::string s = Hex(fuzz::FixedId(0));
  return s;
}
const std::string& CaseHex() {
  static const std::string s = Hex(fuzz::FixedId(3));
  return s;
}

const json kRecordFull = {
    {"kind", "arrest"},
    {"title", "Detention of a journalist at the border crossing"},
    {"occurred", {{"from", "2023-03-14T09:30Z"}, {"to", "2023-03-15"}, {"precision", "day"}}},
    {"location", {{"country", "KZ"}, {"region", "Almaty"}, {"city", "Алматы"}, {"place", "Checkpoint 4"}}},
    {"people",
     {{{"name", "A. B."}, {"role", "victim"}, {"affiliation", "Free Press"}, {"notes", "held 36 hours"}},
      {{"name", "Officer C"}, {"role", "official"}}}},
    {"legal",
     {{"charges", {{{"code", "CC"}, {"article", "274"}, {"description", "false information"}}}},
      {"court", "District court"},
      {"outcome", "convicted"},
      {"sentence", "2 years"}}},
    {"narrative", "Stopped at 09:30.\nPhone seized.\tNo lawyer."},
    {"sources", {{{"kind", "witness"}, {"reference", "interview 7"}, {"reliability", "high"}}}},
    {"tags", {"border", "press"}}};

void RecordSeeds() {
  const std::string t = "record_json";
  Seed(t, "minimal", R"({"kind":"incident","title":"Raid"})");
  Seed(t, "full", kRecordFull.dump(2));
  Seed(t, "dates", R"({"kind":"k","title":"t","occurred":{"from":"2021","to":"2021-06-30T23:59:60+05:00"}})");
  Seed(t, "unknown_field", R"({"kind":"k","title":"t","secret":1})");
  Seed(t, "wrong_type", R"({"kind":"k","title":["t"],"people":[{"name":"x","role":"judge"}]})");
  Seed(t, "bad_date", R"({"kind":"k","title":"t","occurred":{"from":"2021-13-01"}})");
  Seed(t, "duplicate", R"({"kind":"k","title":"t","title":"u"})");
  Seed(t, "nulls", R"({"kind":"k","title":"t","legal":null,"tags":[]})");
  Seed(t, "escapes", "{\"kind\":\"k\\u0000\",\"title\":\"\\ud83d\\ude00 \\\"x\\\"\"}");
  Seed(t, "truncated", R"({"kind":"k","title":"t","sources":[{"reference":)");
  Seed(t, "numbers", R"({"kind":"k","title":"t","narrative":-12.5e3,"tags":[1,2]})");
}

// Files for `evault import`: the first byte picks the format ('c' CSV, 'j' JSON Lines).
void ImportSeeds() {
  const std::string t = "import_reader";
  const std::string bom = "\xEF\xBB\xBF";
  Seed(t, "jsonl_two",
       "j{\"kind\":\"detention\",\"title\":\"Raid\"}\n"
       "{\"kind\":\"conviction\",\"title\":\"Libel\",\"occurred\":{\"from\":\"2019-10-21\"}}\n");
  Seed(t, "jsonl_crlf_bom_blank",
       "j" + bom + "{\"kind\":\"k\",\"title\":\"Алматы\"}\r\n\r\n  \n{\"kind\":\"k\",\"title\":\"t\"}");
  Seed(t, "jsonl_bad_line",
       "j{\"kind\":\"k\",\"title\":\"t\"}\n{\"kind\":\"k\",\"title\":}\n"
       "{\"kind\":\"k\",\"title\":\"t\",\"people\":[{\"name\":\"x\",\"role\":\"judge\"}]}\n");
  Seed(t, "jsonl_bad_utf8", "j{\"kind\":\"k\",\"title\":\"\xff\"}\n");
  Seed(t, "csv_basic",
       "ckind,title,occurred.from,location.city,narrative\ndetention,Raid,2019-09-21,Almaty,Phones seized\n");
  Seed(t, "csv_quoting",
       "ckind,title,narrative\r\n\"a,b\",\"He said \"\"no\"\"\",\"line one\nline two\r\nline three\"\r\n\r\n,,\r\n"
       "x,\"\",\"\"\"\"\r\n");
  Seed(t, "csv_bom_all_columns",
       "c" + bom +
           "kind,title,occurred.from,occurred.to,occurred.precision,location.country,location.region,location.city,"
           "location.place,legal.court,legal.outcome,legal.sentence,narrative\n"
           "k,t,2019,2019-10,month,KZ,,Nur-Sultan,court,Local court,convicted,1 year,text\n");
  Seed(t, "csv_bad_header", "ckind,title,tags,kind\nk,t,a,k\n");
  Seed(t, "csv_unclosed", "ckind,title\nk,\"never closed\n");
  Seed(t, "csv_quote_in_cell", "ckind,title\nk,a\"b\nk,\"a\"b\n");
  Seed(t, "csv_wrong_width", "ckind,title\nk\nk,t,u\n");
}

// Built from the format's proto (vault/header.h owns the writer, which is being
// reworked): the current three-slot layout and the one-slot layout of older vaults.
void HeaderSeeds() {
  const std::string t = "vault_header";
  const std::string magic("EVAULT\0\1", 8);
  auto header = [&](int slots, int kind, std::size_t wrapped_bytes) {
    format::v1::VaultHeader proto;
    proto.set_format_version(vault::kFormatVersion);
    proto.set_vault_id(Text(fuzz::FixedId(0)));
    for (int i = 0; i < slots; ++i) {
      auto* slot = proto.add_slots();
      slot->set_kind(static_cast<format::v1::KeySlot::Kind>(kind));
      slot->mutable_kdf()->set_ops_limit(crypto::PassphraseKdfParams::kDefaultOps);
      slot->mutable_kdf()->set_mem_limit_bytes(crypto::PassphraseKdfParams::kDefaultMemBytes);
      slot->mutable_kdf()->set_salt(std::string(crypto::PassphraseKdfParams::kSaltBytes, 'Z'));
      slot->set_wrapped_root(std::string(wrapped_bytes, static_cast<char>(0xa0 + i)));
    }
    return magic + proto.SerializeAsString();
  };
  const std::string current = header(3, 2, 24 + 32 + 16);  // SEALED slots: nonce | key | tag
  Seed(t, "three_slots", current);
  Seed(t, "one_slot_legacy", header(1, 1, 24 + 32 + 16));
  Seed(t, "short_slot", header(3, 2, 40));
  Seed(t, "truncated", current.substr(0, current.size() / 2));
  Seed(t, "magic_only", magic);
  std::string newer = current;
  newer[9] = 9;  // the format version's varint
  Seed(t, "newer_version", newer);
}

void InviteSeeds() {
  const std::string t = "invite_code";
  const crypto::Bytes secret(32, 0x33);
  Seed(t, "valid", client::FormatInviteCode(VaultHex(), secret, "vault.example.org:8443"));
  Seed(t, "ipv6", client::FormatInviteCode(VaultHex(), secret, "[::1]:50051"));
  Seed(t, "short_secret", client::FormatInviteCode(VaultHex(), crypto::Bytes(16, 1), "h:1"));
  Seed(t, "no_server", "evault1/" + VaultHex() + "/" + Hex(secret) + "/");
  Seed(t, "wrong_prefix", "evault2/" + VaultHex() + "/" + Hex(secret) + "/h:1");
}

crypto::SymmetricKey ContentKey() {
  auto key = crypto::SymmetricKey::FromBytes(
      crypto::SecretBytes::CopyFrom(std::string_view("evault fuzz content key 32 bytes")));
  return std::move(*key);
}

std::string AuditLine(const crypto::SigningKeyPair& device, const std::string& stream, std::uint64_t seq,
                      const std::string& prev, const char* action, const json& subject) {
  return audit::SignEntry(device, VaultHex(), stream, {seq - 1, prev}, "2024-05-01T10:00:00Z", action, subject);
}

// Bodies of each kind of object, as a client writes them.
std::vector<std::pair<vault::ObjectKind, std::string>> ObjectBodies() {
  const std::string record_id = Hex(W().logical_id);
  sync::v1::Checkpoint checkpoint;
  auto* head = checkpoint.add_heads();
  head->set_author(Text(W().owner.public_key()));
  head->set_seq(3);
  head->set_hash(std::string(32, 'h'));
  checkpoint.set_created("2024-05-01T10:00:00Z");
  return {
      {vault::ObjectKind::kCase,
       Canonical({{"case_id", CaseHex()}, {"title", "Border detentions"}, {"status", "open"}, {"tags", {"press"}}})},
      {vault::ObjectKind::kRecordRevision,
       Canonical({{"record_id", record_id},
                  {"case_id", CaseHex()},
                  {"revision", 1},
                  {"parents", json::array()},
                  {"created", "2024-05-01T10:00:00Z"},
                  {"record", kRecordFull}})},
      {vault::ObjectKind::kAttachmentManifest,
       Canonical({{"attachment_id", record_id}, {"record_id", record_id}, {"case_id", CaseHex()},
                  {"sha256", std::string(64, 'a')}, {"size", 1234}, {"chunks", 1}, {"file_name", "photo.jpg"},
                  {"media_type", "image/jpeg"}})},
      {vault::ObjectKind::kCaseKey, Canonical({{"case_id", record_id},
                                               {"epoch", 1},
                                               {"public_key", Hex(W().members.public_key())},
                                               {"sealed_secret", std::string(160, 'b')}})},
      {vault::ObjectKind::kAuditEntry,
       AuditLine(W().owner, CaseHex(), 1, "", audit::action::kRecordCapture,
                 {{"record_id", record_id}, {"revision_id", Hex(W().object_id)}, {"revision", 1},
                  {"sha256", std::string(64, 'c')}})},
      {vault::ObjectKind::kCheckpoint, checkpoint.SerializeAsString()},
  };
}

void ObjectSeeds() {
  int n = 0;
  for (const auto& [kind, body] : ObjectBodies()) {
    const std::string name = "kind" + std::to_string(static_cast<int>(kind));
    // object_body: kind, flags (bit 0: has a case; revision - 1 in the rest), the body
    Seed("object_body", name, std::string{static_cast<char>(kind), 1} + body);
    vault::ObjectIdentity id{kind, W().logical_id, 1, W().case_id};
    auto sealed = W().codec.Seal(W().object_id, id, crypto::AsBytes(body), 1 + n, crypto::Bytes(32 * (n > 0), 7),
                                 ContentKey(), W().sealing());
    if (!sealed) std::exit(1);
    const std::string wire = sealed->SerializeAsString();
    Seed("object_envelope", name, std::string(1, '\0') + wire);
    Seed("object_envelope", name + "_resign", std::string(1, '\7') + wire);
    ++n;
  }
  Seed("object_body", "record_invalid",
       std::string{2, 1} + R"({"record":{"kind":"k","title":"t","people":[{"name":1}]},"record_id":"x"})");
  Seed("object_body", "entry_wrong_types", std::string{6, 1} + R"({"action":1,"subject":[]})");
  // A membership operation and an object for another vault, as a server may send.
  const auto genesis = W().codec.SealPublic(W().object_id, crypto::AsBytes("\x08\x01"), 1, {});
  Seed("object_envelope", "public", std::string(1, '\0') + genesis.SerializeAsString());
  vault::ObjectCodec other(fuzz::FixedId(9), &W().second_device);
  auto foreign = other.Seal(W().object_id, {vault::ObjectKind::kCase, W().logical_id, 1, {}},
                            crypto::AsBytes("{}"), 1, {}, ContentKey(), W().sealing());
  Seed("object_envelope", "other_vault", std::string(1, '\0') + foreign->SerializeAsString());
}

sync::v1::SealedKey Key(sync::v1::SealedKey::Kind kind, const crypto::SigningKeyPair& to, std::uint64_t epoch,
                        const crypto::BoxKeyPair& box) {
  sync::v1::SealedKey k;
  k.set_kind(kind);
  k.set_recipient(Text(to.public_key()));
  k.set_epoch(epoch);
  k.set_sealed(Text(*crypto::SealToPublicKey(box.public_key(), crypto::Bytes(32, 0x77))));
  if (kind == sync::v1::SealedKey::CASE_KEY) {
    k.set_case_tag(std::string(16, 'c'));
    k.set_key_tag(std::string(16, 'k'));
  }
  return k;
}

void MembershipSeeds() {
  using Op = sync::v1::MembershipOp;
  const auto& w = W();
  auto subject = [](Op& op, const crypto::SigningKeyPair& s, const crypto::BoxKeyPair& b) {
    op.mutable_subject()->set_signing_key(Text(s.public_key()));
    op.mutable_subject()->set_box_key(Text(b.public_key()));
  };
  auto epoch_keys = [](Op& op, std::uint64_t epoch, std::uint8_t n) {
    op.set_epoch(epoch);
    op.set_epoch_readers_key(Text(fuzz::FixedBoxKey(n).public_key()));
    op.set_epoch_members_key(Text(fuzz::FixedBoxKey(n + 1).public_key()));
  };
  std::vector<std::string> ops;  // signer byte | MembershipOp
  auto add = [&](char signer, Op op) {
    op.set_created("2024-05-01T10:00:00Z");
    ops.push_back(std::string(1, signer) + op.SerializeAsString());
  };
  Op genesis;
  genesis.set_kind(Op::GENESIS);
  subject(genesis, w.owner, w.owner_box);
  genesis.set_role(sync::v1::OWNER);
  epoch_keys(genesis, 1, 0);
  *genesis.add_keys() = Key(sync::v1::SealedKey::EPOCH_SECRET, w.owner, 1, w.owner_box);
  add(0, genesis);
  const crypto::Bytes invite1 = vault::InviteIdFromSecret(crypto::Bytes(32, 1));
  const crypto::Bytes invite2 = vault::InviteIdFromSecret(crypto::Bytes(32, 2));
  Op invite;
  invite.set_kind(Op::INVITE);
  invite.set_role(sync::v1::COORDINATOR);
  invite.set_invite_id(Text(invite1));
  add(0, invite);
  Op admit;
  admit.set_kind(Op::ADMIT);
  subject(admit, w.second_device, w.second_box);
  admit.set_role(sync::v1::COORDINATOR);
  admit.set_invite_id(Text(invite1));
  *admit.add_keys() = Key(sync::v1::SealedKey::EPOCH_SECRET, w.second_device, 1, w.second_box);
  add(0, admit);
  Op invite_monitor = invite;
  invite_monitor.set_role(sync::v1::MONITOR);
  invite_monitor.set_invite_id(Text(invite2));
  add(1, invite_monitor);
  Op admit_monitor;
  admit_monitor.set_kind(Op::ADMIT);
  subject(admit_monitor, w.third_device, w.third_box);
  admit_monitor.set_role(sync::v1::MONITOR);
  admit_monitor.set_invite_id(Text(invite2));
  *admit_monitor.add_keys() = Key(sync::v1::SealedKey::MEMBERS_SEED, w.third_device, 1, w.third_box);
  add(1, admit_monitor);
  Op change;
  change.set_kind(Op::CHANGE_ROLE);
  subject(change, w.third_device, w.third_box);
  change.set_role(sync::v1::LEGAL);
  epoch_keys(change, 2, 6);
  *change.add_keys() = Key(sync::v1::SealedKey::EPOCH_SECRET, w.owner, 2, w.owner_box);
  *change.add_keys() = Key(sync::v1::SealedKey::EPOCH_SECRET, w.second_device, 2, w.second_box);
  add(0, change);
  Op share;
  share.set_kind(Op::SHARE);
  *share.add_keys() = Key(sync::v1::SealedKey::CASE_KEY, w.third_device, 2, w.third_box);
  add(1, share);
  Op revoke;
  revoke.set_kind(Op::REVOKE);
  subject(revoke, w.second_device, w.second_box);
  epoch_keys(revoke, 3, 8);
  *revoke.add_keys() = Key(sync::v1::SealedKey::EPOCH_SECRET, w.owner, 3, w.owner_box);
  add(0, revoke);

  const std::string t = "membership_ops";
  for (std::size_t n : {1, 3, 5, 7, 8}) {
    Seed(t, "ops" + std::to_string(n), Parts(std::vector<std::string>(ops.begin(), ops.begin() + n)));
  }
  // Refused: a second GENESIS, an ADMIT of an unknown invite, an op signed by a stranger.
  Seed(t, "second_genesis", Parts({ops[0], ops[0]}));
  Seed(t, "admit_without_invite", Parts({ops[0], ops[2]}));
  Seed(t, "stranger", Parts({ops[0], std::string(1, 2) + ops[1].substr(1)}));
  // As sent: the genesis envelope itself (signer byte 3).
  const auto envelope = W().codec.SealPublic(fuzz::FixedId(0x20), crypto::AsBytes(ops[0].substr(1)), 1, {});
  Seed(t, "raw_envelope", Parts({std::string(1, 3) + envelope.SerializeAsString(), ops[1]}));
}

struct Device {
  const crypto::SigningKeyPair* key;
  audit::ChainHead head;
  std::string id() const { return audit::DeviceIdOf(key->public_key()); }
};

struct CustodyWorld {
  std::vector<std::string> lines;
  int clock = 0;
  std::string Time() {
    char buf[32];
    ++clock;
    std::snprintf(buf, sizeof buf, "2024-05-01T10:%02d:%02dZ", clock / 60, clock % 60);
    return buf;
  }
  std::string Log(Device& d, const char* action, const json& subject) {
    const std::string line = audit::SignEntry(*d.key, VaultHex(), CaseHex(), d.head, Time(), action, subject);
    d.head = {d.head.seq + 1, audit::LineSha256(line)};
    lines.push_back(line);
    return line;
  }
  std::vector<audit::Hash> Leaves() const {
    std::vector<audit::Hash> leaves;
    for (const auto& l : lines) leaves.push_back(audit::LeafHash(crypto::AsBytes(l)));
    return leaves;
  }
};

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string RevisionPath(const std::string& record, int n, const std::string& id) {
  char number[8];
  std::snprintf(number, sizeof number, "%04d", n);
  return "data/records/" + record + "/" + number + "-" + id + ".json";
}

// The bundle of tests/audit/bundle_verify_test.cc, small: a case, a record captured on
// device b and edited on a, an attachment, the custody log and its proof, signed by a.
void BundleAndCustodySeeds() {
  Device a{&W().owner, {}}, b{&W().second_device, {}};
  CustodyWorld cw;
  const std::string record = Hex(fuzz::FixedId(4)), rev1 = Hex(fuzz::FixedId(5)), rev2 = Hex(fuzz::FixedId(6)),
                    attachment = Hex(fuzz::FixedId(7));
  const std::string case_json = Canonical({{"author", a.id()}, {"case_id", CaseHex()}, {"created", cw.Time()},
                                           {"status", "open"}, {"tags", {"press"}}, {"title", "Border detentions"}});
  const json record1 = {{"kind", "incident"}, {"title", "Приговор"}};
  const std::string rev1_json = Canonical({{"author", b.id()}, {"case_id", CaseHex()}, {"created", cw.Time()},
                                           {"parents", json::array()}, {"record", record1}, {"record_id", record},
                                           {"revision", 1}});
  json record2 = record1;
  record2["tags"] = {"appeal"};
  const std::string rev2_json = Canonical({{"author", a.id()}, {"case_id", CaseHex()}, {"created", cw.Time()},
                                           {"parents", {rev1}}, {"record", record2}, {"record_id", record},
                                           {"revision", 2}});
  const std::string original("\xff\xd8\xff\xe0 not really a jpeg \x00\x01 but bytes", 35);
  const std::string file_name = "фото 1.jpg";
  const std::string original_path = "data/attachments/" + attachment + "/" + audit::SafeFileName(file_name);
  const std::string metadata_json =
      Canonical({{"attachment_id", attachment}, {"captured", cw.Time()}, {"case_id", CaseHex()}, {"device", a.id()},
                 {"file_name", file_name}, {"media_type", "image/jpeg"}, {"path", original_path},
                 {"record_id", record}, {"sha256", Sha256Hex(original)}, {"sha512", Sha512Hex(original)},
                 {"size", original.size()}});
  cw.Log(a, audit::action::kCaseCreate, {{"case_id", CaseHex()}, {"sha256", Sha256Hex(case_json)}});
  cw.Log(b, audit::action::kRecordCapture,
         {{"record_id", record}, {"revision_id", rev1}, {"revision", 1}, {"sha256", Sha256Hex(rev1_json)}});
  cw.Log(a, audit::action::kRecordEdit,
         {{"record_id", record}, {"revision_id", rev2}, {"revision", 2}, {"sha256", Sha256Hex(rev2_json)}});
  cw.Log(a, audit::action::kAttachmentCapture,
         {{"attachment_id", attachment}, {"record_id", record}, {"sha256", Sha256Hex(original)},
          {"size", original.size()}, {"media_type", "image/jpeg"}, {"file_name", file_name}});
  const std::string earlier =
      audit::SignCheckpoint(*a.key, VaultHex(), CaseHex(), cw.lines.size(), audit::RootOf(cw.Leaves()), cw.Time());
  cw.Log(b, audit::action::kRecordView, {{"record_id", record}, {"revisions", {rev1, rev2}}});
  const std::string export_line = cw.Log(a, audit::action::kExport,
                                         {{"case_id", CaseHex()}, {"purpose", "appeal"}, {"bundle", "bagit"}});
  const auto leaves = cw.Leaves();
  const std::string checkpoint =
      audit::SignCheckpoint(*a.key, VaultHex(), CaseHex(), leaves.size(), audit::RootOf(leaves), cw.Time());
  const std::string proof_json =
      audit::CustodyProofToJson(audit::MakeCustodyProof(leaves, checkpoint, {earlier})).dump(2) + "\n";

  // custody_line and custody_log
  Seed("custody_line", "entry_first", cw.lines[0]);
  Seed("custody_line", "entry_later", cw.lines[2]);
  Seed("custody_line", "checkpoint", checkpoint);
  Seed("custody_line", "not_canonical", json::parse(cw.lines[1]).dump(1));
  std::string altered = cw.lines[3];
  altered[altered.find("image/jpeg")] = 'I';
  Seed("custody_line", "altered", altered);
  std::string numeric = cw.lines[0];
  numeric.replace(numeric.find("\"seq\":1"), 7, "\"seq\":1.5");
  Seed("custody_line", "float_seq", numeric);
  Seed("custody_log", "valid", Parts({proof_json, JoinLines(cw.lines)}));
  Seed("custody_log", "no_proof", JoinLines(cw.lines));
  std::vector<std::string> reordered = cw.lines;
  std::swap(reordered[1], reordered[2]);
  Seed("custody_log", "reordered", Parts({proof_json, JoinLines(reordered)}));
  std::vector<std::string> deleted(cw.lines.begin(), cw.lines.end() - 2);
  Seed("custody_log", "deleted", Parts({proof_json, JoinLines(deleted)}));

  // merkle_proof: mode 1 trees, and mode 0 with a real inclusion proof
  Seed("merkle_proof", "tree7", std::string{static_cast<char>(1 | (6 << 2)), 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 3,
                                            0, 0, 0, 0, 0, 0, 0, 5});
  Seed("merkle_proof", "tree64", std::string{static_cast<char>(1 | (63 << 2)), 'x', 'y', 0, 0, 0, 0, 0, 0, 0, 40,
                                             0, 0, 0, 0, 0, 0, 0, 33});
  {
    const auto proof = audit::InclusionProof(leaves, 2);
    std::string in(1, '\0');
    for (std::uint64_t v : {std::uint64_t{2}, std::uint64_t{leaves.size()}}) {
      for (int s = 56; s >= 0; s -= 8) in.push_back(static_cast<char>(v >> s));
    }
    const auto root = audit::RootOf(leaves);
    in.append(reinterpret_cast<const char*>(leaves[2].data()), 32);
    in.append(reinterpret_cast<const char*>(root.data()), 32);
    for (const auto& h : proof) in.append(reinterpret_cast<const char*>(h.data()), 32);
    Seed("merkle_proof", "inclusion", in);
  }

  // sshsig and minisign over the tag-manifest-like text
  const std::string message = "0123abcd  bagit.txt\n4567ef01  bag-info.txt\n";
  const std::string identity = "evault-device-" + a.id();
  const std::string signers = "# exporter\n" + audit::AllowedSignersLine(identity, audit::kExportNamespace,
                                                                         a.key->public_key()) + "\n";
  const std::string sshsig = audit::SshSign(*a.key, audit::kExportNamespace, crypto::AsBytes(message));
  Seed("sshsig", "valid", Parts({signers, sshsig, message}));
  Seed("sshsig", "other_message", Parts({signers, sshsig, message + "x"}));
  Seed("sshsig", "options", Parts({"alice@example.org,bob namespaces=\"git,evault-export\" " +
                                       audit::SshPublicKey(a.key->public_key()) + "\r\n",
                                   sshsig, message}));
  Seed("sshsig", "cert_authority", "* cert-authority " + audit::SshPublicKey(a.key->public_key()) + "\n");
  const std::string pub = audit::MinisignPublicKey(a.key->public_key());
  const std::string minisig = audit::MinisignSign(*a.key, crypto::AsBytes(message), "evault export, signed by x");
  Seed("minisign", "valid", Parts({pub, minisig, message}));
  Seed("minisign", "other_key", Parts({audit::MinisignPublicKey(b.key->public_key()), minisig, message}));
  Seed("minisign", "key_only", pub);

  // age_recipient
  const auto recipient = *audit::AgeRecipient::FromBytes(W().readers.public_key());
  Seed("age_recipient", "valid", recipient.ToString());
  std::string upper = recipient.ToString();
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Seed("age_recipient", "upper", upper);
  std::string identity_key = audit::Bech32Encode("age-secret-key-", crypto::Bytes(32, 9));
  for (auto& c : identity_key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Seed("age_recipient", "identity", identity_key);
  std::string typo = recipient.ToString();
  typo[10] = typo[10] == 'q' ? 'p' : 'q';
  Seed("age_recipient", "typo", typo);

  // bundle: the bag's files as "<path>\n<content>" parts
  const fs::path dir = fuzz::ScratchDir("seeds-bundle");
  const fs::path bag = dir / "bag";
  {
    auto writer = audit::BagWriter::Create(bag);
    if (!writer) std::exit(1);
    audit::BagWriter& w = **writer;
    bool ok = w.AddPayload(audit::kCaseFile, crypto::AsBytes(case_json)) &&
              w.AddPayload(RevisionPath(record, 1, rev1).substr(5), crypto::AsBytes(rev1_json)) &&
              w.AddPayload(RevisionPath(record, 2, rev2).substr(5), crypto::AsBytes(rev2_json)) &&
              w.AddPayload(original_path.substr(5), crypto::AsBytes(original)) &&
              w.AddPayload("attachments/" + attachment + "/metadata.json", crypto::AsBytes(metadata_json)) &&
              w.AddPayload(audit::kCustodyLogFile, crypto::AsBytes(JoinLines(cw.lines))) &&
              w.AddPayload(audit::kCustodyProofFile, crypto::AsBytes(proof_json)) &&
              w.AddTagFile(audit::kReportFile, "<!doctype html><title>Custody report</title>\n") &&
              w.Finish({{"External-Identifier", CaseHex()},
                        {"Evault-Bundle-Format", audit::kBundleFormat},
                        {"Evault-Vault-Id", VaultHex()},
                        {"Evault-Case-Id", CaseHex()},
                        {"Evault-Exporting-Device", a.id()},
                        {"Evault-Signer-Key", Hex(a.key->public_key())},
                        {"Evault-Export-Time", json::parse(export_line)["time"].get<std::string>()},
                        {"Evault-Export-Purpose", "appeal"},
                        {"Evault-Custody-Entries", std::to_string(leaves.size())},
                        {"Evault-Custody-Root", crypto::ToHex(audit::RootOf(leaves))}},
                       *a.key, identity);
    if (!ok) {
      std::cerr << "make_seeds: writing the bundle failed\n";
      std::exit(1);
    }
  }
  auto report = audit::VerifyBundle(bag, std::nullopt);
  if (!report || !report->ok()) {
    std::cerr << "make_seeds: the seed bundle does not verify\n";
    if (report) {
      for (const auto& p : report->problems) std::cerr << "  " << p << "\n";
    }
    std::exit(1);
  }
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::recursive_directory_iterator(bag)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    files.emplace_back(fs::relative(e.path(), bag).string(),
                       std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  std::sort(files.begin(), files.end());
  auto pack = [](const std::vector<std::pair<std::string, std::string>>& fs_) {
    std::vector<std::string> parts;
    for (const auto& [path, content] : fs_) parts.push_back(path + "\n" + content);
    return Parts(parts);
  };
  Seed("bundle", "valid", pack(files));
  auto no_custody = files;
  std::erase_if(no_custody, [](const auto& f) { return f.first.starts_with("data/custody/"); });
  Seed("bundle", "no_custody", pack(no_custody));
  auto edited = files;
  for (auto& [path, content] : edited) {
    if (path.find("0002-") != std::string::npos) content.replace(content.find("appeal"), 6, "Appeal");
  }
  Seed("bundle", "revision_edited", pack(edited));
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <corpus dir>\n";
    return 2;
  }
  root = argv[1];
  RecordSeeds();
  HeaderSeeds();
  InviteSeeds();
  ImportSeeds();
  ObjectSeeds();
  MembershipSeeds();
  BundleAndCustodySeeds();
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
