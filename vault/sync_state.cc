#include "vault/sync_state.h"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <set>
#include <tuple>

#include "crypto/chunk_cipher.h"
#include "vault/vault_impl.h"

namespace evault::vault {

using sync::v1::MembershipOp;

std::string DeviceIdFromKey(ByteView signing_key) {
  return Hex(ByteView(crypto::PublicHash(signing_key).data(), kIdBytes));
}

namespace {

struct Pin {
  std::uint64_t seq = 0;
  Bytes hash;
};

std::string PinValue(const Pin& p) { return fmt::format("{:016x}{}", p.seq, Hex(p.hash)); }

Result<Pin> ParsePin(std::string_view value) {
  if (value.size() < 16) return Fail(ErrorCode::kCorrupt, "a pinned head is malformed");
  Pin p;
  p.seq = std::stoull(std::string(value.substr(0, 16)), nullptr, 16);
  auto hash = crypto::FromHex(value.substr(16));
  if (!hash) return Fail(ErrorCode::kCorrupt, "a pinned head is malformed");
  p.hash = *hash;
  return p;
}

std::string Short(ByteView key) { return DeviceIdFromKey(key).substr(0, 12); }

// A server restored from a backup has a new incarnation and numbers its history anew.
// This device then keeps two heads per author: its pin (pin/<author>: the furthest it has
// verified, never going back) and where the server's copy of that chain is (spin/<author>,
// in effect once kRestoredKey is set; before, the two are the same). Local bookkeeping
// keyed by server order (smem/, queue/, rejected/) is offset by kOrderBaseKey so that a
// new incarnation's numbers sort after the old ones.
constexpr std::string_view kIncarnationKey = "sync/incarnation";
constexpr std::string_view kRestoredKey = "sync/restored";
constexpr std::string_view kOrderBaseKey = "sync/order-base";
// This device's objects the server acknowledged, then lost in a restore: those after
// this author seq up to pushed_seq are sent again, unchanged.
constexpr std::string_view kResendKey = "sync/resend-after";

std::string SeqValue(std::uint64_t seq) { return fmt::format("{:016x}", seq); }

Result<std::optional<std::uint64_t>> ReadSeq(Vault::Impl& impl, std::string_view key) {
  EVAULT_ASSIGN_OR_RETURN(auto value, impl.catalog->Get(0, key));
  if (!value) return std::optional<std::uint64_t>();
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), seq, 16);
  if (ec != std::errc() || end != value->data() + value->size()) {
    return Fail(ErrorCode::kCorrupt, fmt::format("the vault's {} is malformed", key));
  }
  return std::optional<std::uint64_t>(seq);
}

// chain/<author>/<seq>: the chain hash (hex) this device saw of that object; for other
// devices' objects also ":" <order> <object id>, what sending it back to a restored
// server (a relay) needs. Entries older than relays hold the hash alone.
struct ChainEntry {
  std::string_view hash_hex;
  std::optional<std::uint64_t> order;
  std::string_view object_hex;
};

std::string ChainValue(const Bytes& hash, std::uint64_t order, ByteView object_id) {
  return fmt::format("{}:{:016x}{}", Hex(hash), order, Hex(object_id));
}

ChainEntry ParseChainValue(std::string_view value) {
  ChainEntry entry;
  const auto colon = value.find(':');
  entry.hash_hex = value.substr(0, colon);
  if (colon == std::string_view::npos) return entry;
  const std::string_view rest = value.substr(colon + 1);
  std::uint64_t order = 0;
  if (rest.size() == 16 + 2 * kIdBytes &&
      std::from_chars(rest.data(), rest.data() + 16, order, 16).ec == std::errc()) {
    entry.order = order;
    entry.object_hex = rest.substr(16);
  }
  return entry;
}

// The server's incarnation changed: start its history again from its first object.
Status BeginRestoredServer(Vault::Impl& impl, const std::string& incarnation) {
  EVAULT_ASSIGN_OR_RETURN(auto base, ReadSeq(impl, kOrderBaseKey));
  Vault::Impl::Txn t = impl.Begin();
  impl.catalog->Put(0, std::string(kOrderBaseKey), SeqValue(base.value_or(0) + impl.state.pulled_seq()));
  impl.catalog->Put(0, std::string(kIncarnationKey), incarnation);
  impl.catalog->Put(0, std::string(kRestoredKey), "1");
  EVAULT_ASSIGN_OR_RETURN(auto spins, impl.catalog->Scan(0, "spin/"));
  for (const auto& [key, value] : spins) impl.catalog->Delete(0, key);
  const std::uint64_t previous = impl.state.pulled_seq();
  impl.state.set_pulled_seq(0);
  auto committed = impl.Commit(t);
  if (!committed) impl.state.set_pulled_seq(previous);
  return committed;
}

// After a restore: the parts of other devices' chains this device saw (up to its pins)
// that the restored server has not shown again (beyond where its copy is).
struct LostRange {
  std::string author_hex;
  std::uint64_t after = 0;  // the server holds the chain up to here
  std::uint64_t last = 0;   // this device saw it up to here
};

Result<std::vector<LostRange>> OthersLostOnServer(Vault::Impl& impl) {
  std::vector<LostRange> out;
  const std::string me = Hex(impl.signing->public_key());
  EVAULT_ASSIGN_OR_RETURN(auto pins, impl.catalog->Scan(0, "pin/"));
  for (const auto& [key, value] : pins) {
    const std::string author_hex = key.substr(4);
    if (author_hex == me) continue;
    EVAULT_ASSIGN_OR_RETURN(Pin pin, ParsePin(value));
    EVAULT_ASSIGN_OR_RETURN(auto spin_value, impl.catalog->Get(0, fmt::format("spin/{}", author_hex)));
    Pin at;
    if (spin_value) {
      EVAULT_ASSIGN_OR_RETURN(at, ParsePin(*spin_value));
    }
    if (pin.seq > at.seq) out.push_back({author_hex, at.seq, pin.seq});
  }
  return out;
}

// After a complete pull of a restored server that holds this device's chain only up to
// `server_has`: the objects it acknowledged beyond are sent again (Unpushed), and their
// attachments are queued for upload again. Staged in the caller's transaction.
Status MarkLostOwnObjects(Vault::Impl& impl, std::uint64_t server_has) {
  const std::uint64_t pushed = impl.state.pushed_seq();
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl, kResendKey));
  if (server_has >= pushed) {  // all back, from here or relayed by another device
    if (resend_after) impl.catalog->Delete(0, std::string(kResendKey));
    return Ok();
  }
  if (resend_after && *resend_after <= server_has) {  // marked before; some came back since
    if (*resend_after < server_has) impl.catalog->Put(0, std::string(kResendKey), SeqValue(server_has));
    return Ok();
  }
  impl.catalog->Put(0, std::string(kResendKey), SeqValue(server_has));
  for (std::uint64_t seq = server_has + 1; seq <= pushed; ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_hex) continue;  // purged here: Unpushed says so
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl.LoadEnvelope(*object_hex));
    if (!envelope.public_body().empty()) continue;
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl.OpenEnvelope(envelope));
    if (opened.identity.kind == ObjectKind::kAttachmentManifest) {
      impl.catalog->Put(0, fmt::format("upload/{}", Hex(opened.identity.logical_id)), *object_hex);
    }
  }
  return Ok();
}

}  // namespace

SyncState::SyncState(Vault& vault) : impl_(*vault.impl_) {}

const Bytes& SyncState::vault_id() const { return impl_.header.vault_id; }
const crypto::SigningKeyPair& SyncState::device() const { return *impl_.signing; }
const Bytes& SyncState::box_public_key() const { return impl_.box->public_key(); }
const Membership& SyncState::membership() const { return impl_.membership; }
bool SyncState::admitted() const { return impl_.MyRole().has_value(); }
std::uint64_t SyncState::author_seq() const { return impl_.state.author_seq(); }
std::uint64_t SyncState::pushed_seq() const { return impl_.state.pushed_seq(); }
std::uint64_t SyncState::pulled_seq() const { return impl_.state.pulled_seq(); }

// --- configuration -------------------------------------------------------------------

Result<std::optional<SyncState::Config>> SyncState::LoadConfig() {
  EVAULT_ASSIGN_OR_RETURN(auto server, impl_.catalog->Get(0, "config/server"));
  if (!server) return std::optional<Config>();
  Config c;
  c.server = *server;
  EVAULT_ASSIGN_OR_RETURN(auto ca, impl_.catalog->Get(0, "config/ca"));
  if (ca) c.ca_pem = *ca;
  EVAULT_ASSIGN_OR_RETURN(auto fingerprint, impl_.catalog->Get(0, "config/fingerprint"));
  if (fingerprint) c.server_fingerprint = *fingerprint;
  EVAULT_ASSIGN_OR_RETURN(auto insecure, impl_.catalog->Get(0, "config/insecure"));
  c.insecure = insecure && *insecure == "1";
  return std::optional<Config>(std::move(c));
}

Status SyncState::SaveConfig(const Config& c) {
  Vault::Impl::Txn t = impl_.Begin();
  impl_.catalog->Put(0, "config/server", c.server);
  impl_.catalog->Put(0, "config/ca", c.ca_pem);
  impl_.catalog->Put(0, "config/fingerprint", c.server_fingerprint);
  impl_.catalog->Put(0, "config/insecure", c.insecure ? "1" : "0");
  return impl_.Commit(t);
}

// --- push ----------------------------------------------------------------------------

Result<std::vector<format::v1::ObjectEnvelope>> SyncState::Unpushed(std::size_t max_objects,
                                                                    std::size_t max_bytes) {
  std::vector<format::v1::ObjectEnvelope> out;
  std::size_t bytes = 0;
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  const std::uint64_t pushed = impl_.state.pushed_seq();
  for (std::uint64_t seq = resend_after.value_or(pushed) + 1; seq <= impl_.state.author_seq(); ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_id, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_id && seq <= pushed) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("the server was restored from a backup and lost this device's objects from {} on, "
                              "which were purged here after their upload; until a device that pulled them "
                              "sends them again, this device cannot push",
                              seq));
    }
    if (!object_id) return Fail(ErrorCode::kCorrupt, fmt::format("own object {} is missing", seq));
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_id));
    bytes += envelope.ByteSizeLong();
    if (!out.empty() && (out.size() >= max_objects || bytes > max_bytes)) break;
    out.push_back(std::move(envelope));
  }
  return out;
}

Result<std::size_t> SyncState::ResealStaleUnpushed() {
  const std::uint64_t epoch = impl_.membership.current_epoch();
  const std::uint64_t pushed = impl_.state.pushed_seq();
  std::vector<format::v1::ObjectEnvelope> unpushed;
  std::set<std::string> stale_cases;
  bool stale = false;
  for (std::uint64_t seq = pushed + 1; seq <= impl_.state.author_seq(); ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_hex) return Fail(ErrorCode::kCorrupt, fmt::format("own object {} is missing", seq));
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_hex));
    if (envelope.public_body().empty() && envelope.key_epoch() < epoch) stale = true;
    unpushed.push_back(std::move(envelope));
  }
  if (!stale) return 0;
  // First the case keys of the current epoch, announced at the end of the chain (their
  // own transaction, so they are stored and re-chained below with everything else). A
  // legal device has only custody entries to re-seal, to keys it holds; it announces none.
  const auto role = impl_.MyRole();
  const bool legal = role && *role == sync::v1::LEGAL;
  {
    Vault::Impl::Txn announce = impl_.Begin();
    for (const auto& e : unpushed) {
      if (!e.public_body().empty() || e.key_epoch() >= epoch) continue;
      EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl_.OpenEnvelope(e));
      if (opened.identity.kind != ObjectKind::kAuditEntry) EVAULT_TRY(impl_.RequireWriter());
      if (!opened.identity.case_id.empty() && !legal) {
        EVAULT_TRY(impl_.CaseKeyFor(announce, opened.identity.case_id, epoch));
      }
    }
    if (announce.seq != impl_.state.author_seq()) {
      EVAULT_TRY(impl_.Commit(announce));
      for (std::uint64_t seq = pushed + unpushed.size() + 1; seq <= impl_.state.author_seq(); ++seq) {
        EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
        if (!object_hex) return Fail(ErrorCode::kCorrupt, fmt::format("own object {} is missing", seq));
        EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_hex));
        unpushed.push_back(std::move(envelope));
      }
    }
  }
  // Then every unpushed object again, from the last acknowledged one on.
  Vault::Impl::Txn t = impl_.Begin();
  t.seq = pushed;
  t.head.clear();
  if (pushed > 0) {
    const std::string me = Hex(impl_.signing->public_key());
    EVAULT_ASSIGN_OR_RETURN(auto hash, impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", me, pushed)));
    auto head = hash ? crypto::FromHex(ParseChainValue(*hash).hash_hex) : std::nullopt;
    if (!head) return Fail(ErrorCode::kCorrupt, "the hash of this device's last pushed object is missing");
    t.head = *head;
  }
  std::size_t resealed = 0;
  for (const auto& e : unpushed) {
    if (!e.public_body().empty() || e.key_epoch() >= epoch) {
      impl_.Append(t, impl_.codec->Rechain(e, t.seq + 1, t.head));
      continue;
    }
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl_.OpenEnvelope(e));
    EVAULT_ASSIGN_OR_RETURN(SealingKeys to, opened.identity.kind == ObjectKind::kAuditEntry
                                                ? impl_.CustodySealing(t, opened.identity.case_id)
                                                : impl_.SealingFor(t, opened.identity.case_id));
    if (t.seq != pushed + static_cast<std::uint64_t>(&e - unpushed.data())) {
      return Fail(ErrorCode::kInternal, "re-sealing announced a case key mid-chain");
    }
    const Bytes object_id(e.object_id().begin(), e.object_id().end());
    EVAULT_ASSIGN_OR_RETURN(auto sealed, impl_.codec->Seal(object_id, opened.identity, opened.body.span(), t.seq + 1,
                                                           t.head, opened.content_key, to));
    impl_.Append(t, sealed);
    ++resealed;
  }
  EVAULT_TRY(impl_.Commit(t));
  return resealed;
}

Status SyncState::MarkPushed(std::uint64_t seq) {
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  const std::uint64_t previous = impl_.state.pushed_seq();
  if (seq <= (resend_after ? *resend_after : previous)) return Ok();
  if (seq > impl_.state.author_seq()) return Fail(ErrorCode::kInternal, "acknowledged an object never written");
  Vault::Impl::Txn t = impl_.Begin();
  if (resend_after && seq >= previous) {
    impl_.catalog->Delete(0, std::string(kResendKey));
  } else if (resend_after) {
    impl_.catalog->Put(0, std::string(kResendKey), SeqValue(seq));
  }
  impl_.state.set_pushed_seq(std::max(seq, previous));  // written with the root by Commit
  auto committed = impl_.Commit(t);
  if (!committed) impl_.state.set_pushed_seq(previous);
  return committed;
}

// --- chunks --------------------------------------------------------------------------

namespace {

struct ManifestKeys {
  Vault::Impl::AttachmentKeys keys;
  std::uint64_t chunks;
};

Result<ManifestKeys> KeysOfManifest(Vault::Impl& impl, std::string_view attachment_id,
                                    std::string_view manifest_object_id) {
  EVAULT_ASSIGN_OR_RETURN(OpenedObject manifest, impl.LoadObject(manifest_object_id, ObjectKind::kAttachmentManifest));
  if (Hex(manifest.identity.logical_id) != attachment_id) {
    return Fail(ErrorCode::kTampered, "an attachment manifest belongs to another attachment");
  }
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(manifest.body));
  EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, impl.AttachmentFromBody(body, attachment_id));
  return ManifestKeys{impl.KeysFor(manifest.content_key, manifest.identity.logical_id), info.chunks};
}

Result<std::vector<SyncState::Transfer>> TransfersUnder(Vault::Impl& impl, std::string_view prefix) {
  EVAULT_ASSIGN_OR_RETURN(auto entries, impl.catalog->Scan(0, prefix));
  std::vector<SyncState::Transfer> out;
  for (const auto& [key, manifest_id] : entries) {
    SyncState::Transfer t;
    t.attachment_id = key.substr(prefix.size());
    EVAULT_ASSIGN_OR_RETURN(ManifestKeys mk, KeysOfManifest(impl, t.attachment_id, manifest_id));
    for (std::uint64_t i = 0; i < mk.chunks; ++i) t.chunk_ids.push_back(Vault::Impl::ChunkName(mk.keys.names, i));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

struct SyncState::DownloadCache {
  std::string attachment_id;
  ManifestKeys keys;
};

Result<std::vector<SyncState::Transfer>> SyncState::PendingUploads() { return TransfersUnder(impl_, "upload/"); }
Result<std::vector<SyncState::Transfer>> SyncState::PendingDownloads() { return TransfersUnder(impl_, "down/"); }

Result<std::string> SyncState::ReadChunk(ByteView chunk_id) {
  std::string value;
  auto s = impl_.db->Get(Vault::Impl::ChunkReadOptions(), impl_.chunks, Slice(Bytes(chunk_id.begin(), chunk_id.end())), &value);
  if (s.IsNotFound()) return Fail(ErrorCode::kNotFound, "a chunk to upload is missing locally");
  EVAULT_TRY(FromRocks(s, "reading a chunk"));
  return value;
}

Status SyncState::MarkUploaded(std::string_view attachment_id) {
  Vault::Impl::Txn t = impl_.Begin();
  impl_.catalog->Delete(0, fmt::format("upload/{}", attachment_id));
  return impl_.Commit(t);
}

Result<bool> SyncState::HasChunk(ByteView chunk_id) {
  std::string ignored;
  auto s = impl_.db->Get(Vault::Impl::ChunkReadOptions(), impl_.chunks, Slice(Bytes(chunk_id.begin(), chunk_id.end())), &ignored);
  if (s.IsNotFound()) return false;
  EVAULT_TRY(FromRocks(s, "reading a chunk"));
  return true;
}

Status SyncState::StoreChunk(std::string_view attachment_id, std::uint64_t index, std::uint64_t chunk_count,
                             ByteView sealed) {
  if (!download_ || download_->attachment_id != attachment_id) {  // once per attachment, not per chunk
    EVAULT_ASSIGN_OR_RETURN(auto manifest_id, impl_.catalog->Get(0, fmt::format("down/{}", attachment_id)));
    if (!manifest_id) return Fail(ErrorCode::kNotFound, "no download pending for this attachment");
    EVAULT_ASSIGN_OR_RETURN(ManifestKeys keys, KeysOfManifest(impl_, attachment_id, *manifest_id));
    download_ = std::make_shared<DownloadCache>(DownloadCache{std::string(attachment_id), std::move(keys)});
  }
  const ManifestKeys& mk = download_->keys;
  if (chunk_count != mk.chunks || index >= mk.chunks) return Fail(ErrorCode::kInternal, "chunk index out of range");
  // Checked, not opened: the chunk is stored sealed, so its plaintext is never needed here.
  if (!mk.keys.cipher.VerifyChunk(index, index + 1 == mk.chunks, sealed)) {
    return Fail(ErrorCode::kTampered,
                fmt::format("the server sent an altered chunk {} of attachment {}", index, attachment_id));
  }
  rocksdb::WriteBatch batch;
  batch.Put(impl_.chunks, Slice(Vault::Impl::ChunkName(mk.keys.names, index)),
            rocksdb::Slice(reinterpret_cast<const char*>(sealed.data()), sealed.size()));
  // Without the WAL, like a local upload: CompleteDownload flushes before the attachment
  // becomes visible. A crash before that loses only chunks still in the memtable, which
  // HasChunk then reports missing and the next sync downloads again.
  EVAULT_TRY(impl_.WriteDb(Vault::Impl::ChunkWriteOptions(), batch, "storing a chunk"));
  impl_.chunk_heap.Count(sealed.size());
  return Ok();
}

Status SyncState::CompleteDownload(std::string_view attachment_id) {
  EVAULT_ASSIGN_OR_RETURN(auto manifest_id, impl_.catalog->Get(0, fmt::format("down/{}", attachment_id)));
  if (!manifest_id) return Ok();
  EVAULT_ASSIGN_OR_RETURN(OpenedObject manifest, impl_.LoadObject(*manifest_id, ObjectKind::kAttachmentManifest));
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(manifest.body));
  const std::string record_id = Field<std::string>(body, "record_id");
  EVAULT_TRY(impl_.FlushChunks("storing downloaded chunks"));  // durable before they are listed
  Vault::Impl::Txn t = impl_.Begin();
  impl_.catalog->Delete(0, fmt::format("down/{}", attachment_id));
  impl_.catalog->Put(0, fmt::format("att/{}/{}", record_id, attachment_id), *manifest_id);
  impl_.catalog->Put(0, fmt::format("attid/{}", attachment_id), *manifest_id);
  return impl_.Commit(t);
}

// --- pull ----------------------------------------------------------------------------

namespace {

// Applies an object of another device, opened, to the catalog.
// `seen(author)` is the newest object of that author this device has seen.
Status ApplyObject(Vault::Impl& impl, Vault::Impl::Txn& t, const format::v1::ObjectEnvelope& e,
                   const OpenedObject& opened, const std::function<std::uint64_t(const std::string&)>& seen) {
  const Bytes object_id(e.object_id().begin(), e.object_id().end());
  // Another device's checkpoint is not news worth a checkpoint of our own (that would
  // have devices answering each other's checkpoints forever); anything else is.
  if (opened.identity.kind != ObjectKind::kCheckpoint) impl.catalog->Put(0, "checkpoint/due", "1");
  const std::string logical = Hex(opened.identity.logical_id);
  const std::string case_hex = Hex(opened.identity.case_id);
  const std::string object_hex = Hex(object_id);
  switch (opened.identity.kind) {
    case ObjectKind::kCase:
      if (case_hex != logical) return Fail(ErrorCode::kTampered, "a pulled case is bound to another case");
      impl.catalog->Put(0, fmt::format("case/{}", logical), object_hex);
      return Ok();
    case ObjectKind::kRecordRevision: {
      EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
      const json record = body.value("record", json::object());
      EVAULT_TRY(ValidateRecord(record));
      if (Field<std::string>(body, "record_id") != logical || Field<std::string>(body, "case_id") != case_hex) {
        return Fail(ErrorCode::kTampered, "a pulled revision names another record or case than it is bound to");
      }
      impl.IndexRevision(t, case_hex, logical, object_hex, Field<std::uint64_t>(body, "revision"),
                         Field<std::vector<std::string>>(body, "parents"), record);
      return Ok();
    }
    case ObjectKind::kAttachmentManifest: {
      EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
      if (Field<std::string>(body, "case_id") != case_hex) {
        return Fail(ErrorCode::kTampered, "a pulled attachment names another case than it is bound to");
      }
      // Visible once its chunks have arrived (CompleteDownload).
      impl.catalog->Put(0, fmt::format("down/{}", logical), object_hex);
      return Ok();
    }
    case ObjectKind::kCaseKey: {
      EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
      auto public_key = crypto::FromHex(Field<std::string>(body, "public_key"));
      if (Field<std::string>(body, "case_id") != logical || Field<std::uint64_t>(body, "epoch") != e.key_epoch() ||
          !public_key || public_key->size() != 32) {
        return Fail(ErrorCode::kTampered, "a pulled case key announcement is inconsistent");
      }
      // A reader checks that the announced key's secret really is sealed to the epoch's
      // readers; a key that is not is ignored (its case stays readable through slot 0).
      if (const auto* readers = impl.keyring.Readers(e.key_epoch())) {
        auto sealed = crypto::FromHex(Field<std::string>(body, "sealed_secret"));
        auto secret = sealed ? readers->OpenSealed(*sealed) : Result<SecretBytes>(Fail(ErrorCode::kTampered, ""));
        auto pair = secret ? crypto::BoxKeyPair::FromSecretKey(std::move(*secret))
                           : Result<crypto::BoxKeyPair>(Fail(ErrorCode::kTampered, ""));
        if (!pair || pair->public_key() != *public_key) return Ok();
      }
      impl.catalog->Put(0, fmt::format("ckey/{}/{:016x}/{}", logical, e.key_epoch(), Hex(*public_key)),
                        object_hex + "/" + Hex(crypto::AsBytes(e.author())));
      return Ok();
    }
    case ObjectKind::kAuditEntry:
      return impl.ApplyPulledAudit(t, e, opened);
    case ObjectKind::kCheckpoint: {
      sync::v1::Checkpoint checkpoint;
      if (!checkpoint.ParseFromArray(opened.body.data(), static_cast<int>(opened.body.size()))) {
        return Fail(ErrorCode::kCorrupt, "a checkpoint is malformed");
      }
      // Everything this checkpoint's author had seen precedes it in server order, so
      // this device must have seen the same, with the same hashes.
      for (const auto& head : checkpoint.heads()) {
        const std::string author_hex = Hex(crypto::AsBytes(head.author()));
        const std::uint64_t mine = seen(author_hex);
        if (head.seq() > mine) {
          return Fail(ErrorCode::kTampered,
                      fmt::format("fork or withheld history: device {} has seen device {} up to object {}, "
                                  "but this server showed only up to {}",
                                  Short(crypto::AsBytes(e.author())), Short(crypto::AsBytes(head.author())),
                                  head.seq(), mine));
        }
        EVAULT_ASSIGN_OR_RETURN(auto hash, impl.catalog->Get(0, fmt::format("chain/{}/{:016x}", author_hex, head.seq())));
        if (head.seq() > 0 && (!hash || ParseChainValue(*hash).hash_hex != Hex(crypto::AsBytes(head.hash())))) {
          return Fail(ErrorCode::kTampered,
                      fmt::format("fork detected: device {} saw a different history of device {} at object {}",
                                  Short(crypto::AsBytes(e.author())), Short(crypto::AsBytes(head.author())),
                                  head.seq()));
        }
      }
      return Ok();
    }
  }
  return Fail(ErrorCode::kCorrupt, "a pulled object has an unknown kind");
}

}  // namespace

Result<SyncState::PullOutcome> SyncState::ApplyPulled(const sync::v1::PullResponse& page) {
  PullOutcome outcome;
  // A new incarnation is a server restored from a backup: its sequence numbers start a
  // new history, so this page (asked for after an old number) is not applied; the pull
  // starts again from the beginning. Within one incarnation, going back is a rollback.
  EVAULT_ASSIGN_OR_RETURN(auto recorded, impl_.catalog->Get(0, kIncarnationKey));
  const std::string incarnation = Hex(crypto::AsBytes(page.server_incarnation()));
  if (!page.server_incarnation().empty() && recorded && *recorded != incarnation) {
    EVAULT_TRY(BeginRestoredServer(impl_, incarnation));
    outcome.server_restored = true;
    return outcome;
  }
  const bool record_incarnation = !page.server_incarnation().empty() && !recorded;
  const std::uint64_t before = impl_.state.pulled_seq();
  if (page.head_seq() < before) {
    return Fail(ErrorCode::kTampered,
                fmt::format("the server rolled back: it reports {} objects, this device has already seen {}",
                            page.head_seq(), before));
  }
  if (page.objects().empty() && page.head_seq() == before) {  // nothing new: write nothing but the incarnation
    if (!record_incarnation) return outcome;
    Vault::Impl::Txn t = impl_.Begin();
    impl_.catalog->Put(0, std::string(kIncarnationKey), incarnation);
    EVAULT_TRY(impl_.Commit(t));
    return outcome;
  }
  EVAULT_ASSIGN_OR_RETURN(auto restored_flag, impl_.catalog->Get(0, kRestoredKey));
  const bool restored = restored_flag.has_value();
  EVAULT_ASSIGN_OR_RETURN(auto order_base, ReadSeq(impl_, kOrderBaseKey));
  auto order = [base = order_base.value_or(0)](std::uint64_t server_seq) { return base + server_seq; };
  const std::string me = Hex(impl_.signing->public_key());
  const bool was_member = impl_.MyRole().has_value();
  impl_.pulled_authors.clear();
  Vault::Impl::Txn t = impl_.Begin();
  // Pulled objects are checked against membership in server order, which excludes this
  // device's own operations until the server returns them in their place.
  Membership confirmed = impl_.confirmed;
  std::map<std::string, Pin> pins;
  auto pin_of = [&](const std::string& author_hex) -> Result<Pin*> {
    auto it = pins.find(author_hex);
    if (it != pins.end()) return &it->second;
    Pin p;
    EVAULT_ASSIGN_OR_RETURN(auto stored, impl_.catalog->Get(0, fmt::format("pin/{}", author_hex)));
    if (stored) {
      EVAULT_ASSIGN_OR_RETURN(p, ParsePin(*stored));
    }
    return &(pins[author_hex] = std::move(p));
  };
  // Where the server's copy of an author's chain is: its pin, unless the server was restored.
  std::map<std::string, Pin> spins;
  auto spin_of = [&](const std::string& author_hex) -> Result<Pin*> {
    if (!restored) return pin_of(author_hex);
    auto it = spins.find(author_hex);
    if (it != spins.end()) return &it->second;
    Pin p;
    EVAULT_ASSIGN_OR_RETURN(auto stored, impl_.catalog->Get(0, fmt::format("spin/{}", author_hex)));
    if (stored) {
      EVAULT_ASSIGN_OR_RETURN(p, ParsePin(*stored));
    }
    return &(spins[author_hex] = std::move(p));
  };
  // Checkpoints compare against what this device has seen of each author: its own
  // chain in full, others up to their pins.
  auto seen = [&](const std::string& author_hex) -> std::uint64_t {
    if (author_hex == me) return impl_.state.author_seq();
    auto pin = pin_of(author_hex);
    return pin ? (*pin)->seq : 0;
  };
  struct Sealed {
    std::uint64_t order;  // its place in server order, as local keys hold it
    const format::v1::ObjectEnvelope* envelope;
    bool current_epoch;  // sealed to the key epoch current at its place in server order
  };
  std::vector<Sealed> sealed;  // others' sealed objects, opened once the page's keys are in

  std::uint64_t last = before;
  for (const auto& pulled : page.objects()) {
    const auto& e = pulled.object();
    const std::string where = fmt::format("server object {}", pulled.server_seq());
    if (pulled.server_seq() <= last) {
      return Fail(ErrorCode::kTampered, fmt::format("the server replayed or reordered history ({} after {})",
                                                    pulled.server_seq(), last));
    }
    if (pulled.server_seq() > page.head_seq()) {
      return Fail(ErrorCode::kTampered, fmt::format("the server sent {} beyond its own head", where));
    }
    last = pulled.server_seq();
    if (e.vault_id() != std::string(crypto::AsText(impl_.header.vault_id)) || e.object_id().size() != kIdBytes) {
      return Fail(ErrorCode::kTampered, fmt::format("{} belongs to another vault or is malformed", where));
    }
    const std::string author_hex = Hex(crypto::AsBytes(e.author()));
    // This device's own objects are checked against the chain hashes it stored when it
    // wrote them (below), which covers the signature; others' signatures are checked here.
    if (author_hex != me && !ObjectCodec::VerifySignature(e)) {
      return Fail(ErrorCode::kTampered, fmt::format("{} was altered: its signature is invalid", where));
    }
    EVAULT_ASSIGN_OR_RETURN(Pin * pin, pin_of(author_hex));
    EVAULT_ASSIGN_OR_RETURN(Pin * at, spin_of(author_hex));
    if (e.author_seq() <= at->seq) {
      return Fail(ErrorCode::kTampered, fmt::format("the server replayed object {} of device {}", e.author_seq(),
                                                    Short(crypto::AsBytes(e.author()))));
    }
    if (e.author_seq() != at->seq + 1) {
      return Fail(ErrorCode::kTampered,
                  fmt::format("the server dropped objects of device {}: expected object {}, got {}",
                              Short(crypto::AsBytes(e.author())), at->seq + 1, e.author_seq()));
    }
    if (e.prev_hash() != std::string(crypto::AsText(at->hash))) {
      return Fail(ErrorCode::kTampered, fmt::format("the history of device {} was altered at object {}",
                                                    Short(crypto::AsBytes(e.author())), e.author_seq()));
    }
    at->seq = e.author_seq();
    at->hash = ObjectCodec::ChainHash(e);
    if (restored && e.author_seq() <= pin->seq) {
      // Seen before the restore, sent back to the server since: it must be exactly what
      // this device saw, and is not applied again.
      EVAULT_ASSIGN_OR_RETURN(auto seen_hash,
                              impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", author_hex, e.author_seq())));
      if (!seen_hash || ParseChainValue(*seen_hash).hash_hex != Hex(at->hash)) {
        return Fail(ErrorCode::kTampered,
                    fmt::format("the restored server's history differs from what this device saw: object {} of "
                                "device {} was altered",
                                e.author_seq(), Short(crypto::AsBytes(e.author()))));
      }
      // Its place in this incarnation's order, should the server be restored again.
      impl_.catalog->Put(0, fmt::format("chain/{}/{:016x}", author_hex, e.author_seq()),
                         ChainValue(at->hash, order(pulled.server_seq()), crypto::AsBytes(e.object_id())));
      ++outcome.rechecked;
      continue;
    }
    *pin = *at;

    if (author_hex == me) {
      // This device's own object coming back: it must be exactly what was written.
      EVAULT_ASSIGN_OR_RETURN(auto hash, impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", me, e.author_seq())));
      if (!hash || ParseChainValue(*hash).hash_hex != Hex(pin->hash)) {
        return Fail(ErrorCode::kTampered,
                    fmt::format("the server holds an object {} of this device that this device never wrote",
                                e.author_seq()));
      }
      // Its place in server order, should a restored server need it back (PrepareRelay).
      impl_.catalog->Put(0, fmt::format("chain/{}/{:016x}", me, e.author_seq()),
                         ChainValue(pin->hash, order(pulled.server_seq()), crypto::AsBytes(e.object_id())));
      if (!e.public_body().empty()) {
        if (auto applied = confirmed.Apply(e); !applied) {
          return Fail(ErrorCode::kTampered, fmt::format("{}: the server placed this device's membership operation "
                                                        "where it does not apply: {}",
                                                        where, applied.error().message));
        }
        impl_.catalog->Put(0, fmt::format("smem/{:016x}", order(pulled.server_seq())), Hex(crypto::AsBytes(e.object_id())));
        impl_.catalog->Delete(0, fmt::format("myop/{:016x}", e.author_seq()));
      }
      continue;
    }
    impl_.catalog->Put(0, fmt::format("chain/{}/{:016x}", author_hex, e.author_seq()),
                       ChainValue(pin->hash, order(pulled.server_seq()), crypto::AsBytes(e.object_id())));
    ++outcome.objects;  // objects of other devices; this device's own come back uncounted

    // Never let a pulled object replace a different stored one.
    const Bytes object_id(e.object_id().begin(), e.object_id().end());
    std::string existing;
    auto s = impl_.db->Get(rocksdb::ReadOptions(), impl_.db->DefaultColumnFamily(), Slice(object_id), &existing);
    if (s.ok()) {
      return Fail(ErrorCode::kTampered, fmt::format("{} reuses the id of an object this device already holds", where));
    }
    if (!s.IsNotFound()) EVAULT_TRY(FromRocks(s, "checking a pulled object"));

    if (!e.public_body().empty()) {
      if (auto applied = confirmed.Apply(e); !applied) {
        return Fail(ErrorCode::kTampered, fmt::format("{} is a forged membership operation: {}", where,
                                                      applied.error().message));
      }
      t.batch.Put(Slice(object_id), e.SerializeAsString());
      ++outcome.membership_ops;
      impl_.catalog->Put(0, "checkpoint/due", "1");
      impl_.catalog->Put(0, fmt::format("smem/{:016x}", order(pulled.server_seq())), Hex(object_id));
      continue;
    }
    // Legal devices may append custody entries only (their views and exports); what
    // else they sign is set aside once opened shows its kind.
    if (!confirmed.IsActive(crypto::AsBytes(e.author()))) {
      return Fail(ErrorCode::kTampered, fmt::format("{} comes from a device that may not write to this vault", where));
    }
    // Roles change only with a new epoch, so an object of the epoch current at its
    // place was written in the role its author held in that epoch (the server refuses
    // an older epoch; one that places it anyway is caught here).
    sealed.push_back({order(pulled.server_seq()), &e, e.key_epoch() == confirmed.current_epoch()});
  }
  if (page.objects().empty() && page.head_seq() > before) {
    return Fail(ErrorCode::kTampered, "the server reports newer objects but sends none");
  }

  // The keys this page sealed to this device come in before anything is opened. If the
  // pull fails from here on, the keyring goes back to what the stored membership holds.
  auto restore_keyring = [&] {
    impl_.keyring.ForgetDelivered();
    (void)impl_.keyring.Absorb(impl_.membership, impl_.signing->public_key(), *impl_.box);
  };
  auto fail = [&](Error error) -> Result<PullOutcome> {
    impl_.AbandonStaged();
    restore_keyring();
    return std::unexpected(std::move(error));
  };
  auto local = impl_.WithOwnPendingOps(confirmed);
  if (!local) return fail(local.error());
  Membership& members = *local;
  // The local view is rebuilt, so its keys are read again from the start.
  const std::size_t held_before = impl_.keyring.held_count();
  impl_.keyring.ForgetDelivered();
  if (auto s = impl_.keyring.Absorb(members, impl_.signing->public_key(), *impl_.box); !s) return fail(s.error());
  const bool new_keys = impl_.keyring.held_count() > held_before;
  const auto role = members.RoleOf(impl_.signing->public_key());
  outcome.admitted_now = !was_member && role.has_value();
  // A monitor keeps nothing it cannot open: it will never hold the keys. Anyone else
  // (a joining device, a legal device awaiting a grant) queues the ciphertext.
  const bool keep_unreadable = !role || *role == sync::v1::LEGAL;

  // What a member signed but no reader can use (a malformed object, a body that does not
  // match its commitment, an invalid record) is set aside, not applied: its signature
  // proves it is its author's doing, not the server's, and one faulty member must not
  // stall everyone's sync. A checkpoint that disagrees is different: that is the
  // server showing two histories, and it stops the pull.
  auto set_aside = [&](const format::v1::ObjectEnvelope& e, std::uint64_t server_seq) {
    t.batch.Put(Slice(Bytes(e.object_id().begin(), e.object_id().end())), e.SerializeAsString());
    impl_.catalog->Put(0, fmt::format("rejected/{:016x}", server_seq), Hex(crypto::AsBytes(e.object_id())));
    ++outcome.rejected;
  };
  enum class Fate { kApplied, kUnreadable, kSetAside };
  auto open_and_apply = [&](const format::v1::ObjectEnvelope& e) -> Result<Fate> {
    if (!ObjectCodec::CheckShape(e, members.current_epoch())) return Fate::kSetAside;
    auto opened = impl_.OpenEnvelope(e);
    if (!opened && opened.error().code == ErrorCode::kPermissionDenied) return Fate::kUnreadable;
    if (!opened) return Fate::kSetAside;
    // A legal device's only objects are custody entries: judged by the role its author
    // held in the object's key epoch (it may have been revoked or changed role since).
    const Member* author = members.Find(crypto::AsBytes(e.author()));
    if (author == nullptr) return Fate::kSetAside;
    if (author->RoleAt(e.key_epoch()) == sync::v1::LEGAL) {
      if (opened->identity.kind != ObjectKind::kAuditEntry) return Fate::kSetAside;
      // A legal device reads and exports; it captures nothing.
      auto entry = audit::ParseEntry(opened->body.view());
      const std::string action = entry ? (*entry)["action"].get<std::string>() : "";
      if (action != audit::action::kRecordView && action != audit::action::kAttachmentRead &&
          action != audit::action::kExport) {
        return Fate::kSetAside;
      }
    }
    if (auto s = ApplyObject(impl_, t, e, *opened, seen); !s) {
      if (opened->identity.kind == ObjectKind::kCheckpoint) return std::unexpected(s.error());
      return Fate::kSetAside;
    }
    impl_.pulled_authors[Hex(AsBytes(e.object_id()))] = Hex(AsBytes(e.author()));
    const auto kind = opened->identity.kind;
    if (kind == ObjectKind::kCase || kind == ObjectKind::kRecordRevision || kind == ObjectKind::kAttachmentManifest) {
      ++outcome.evidence;
    }
    return Fate::kApplied;
  };

  // Objects queued earlier are retried when new keys arrived, before this page's.
  if (new_keys) {
    auto queued = impl_.catalog->Scan(0, "queue/");
    if (!queued) return fail(queued.error());
    for (const auto& [key, object_hex] : *queued) {
      auto envelope = impl_.LoadEnvelope(object_hex);
      if (!envelope) return fail(envelope.error());
      auto fate = open_and_apply(*envelope);
      if (!fate) return fail(fate.error());
      if (*fate == Fate::kUnreadable && keep_unreadable) continue;
      impl_.catalog->Delete(0, key);
      if (*fate == Fate::kUnreadable) {
        t.batch.Delete(Slice(*ParseId("object", object_hex)));
      } else if (*fate == Fate::kSetAside) {
        set_aside(*envelope, std::stoull(key.substr(6), nullptr, 16));
      }
    }
  }
  for (const auto& [server_order, e, current_epoch] : sealed) {
    const std::uint64_t server_seq = server_order;
    if (!current_epoch) {
      set_aside(*e, server_seq);
      continue;
    }
    auto fate = open_and_apply(*e);
    if (!fate) {
      return fail(Error{fate.error().code, fmt::format("pulled object {} of device {}: {}", e->author_seq(),
                                                       Short(crypto::AsBytes(e->author())), fate.error().message)});
    }
    switch (*fate) {
      case Fate::kApplied:
        t.batch.Put(Slice(Bytes(e->object_id().begin(), e->object_id().end())), e->SerializeAsString());
        break;
      case Fate::kUnreadable:
        if (keep_unreadable) {
          t.batch.Put(Slice(Bytes(e->object_id().begin(), e->object_id().end())), e->SerializeAsString());
          impl_.catalog->Put(0, fmt::format("queue/{:016x}", server_seq), Hex(crypto::AsBytes(e->object_id())));
        }
        break;
      case Fate::kSetAside:
        set_aside(*e, server_seq);
        break;
    }
  }

  for (const auto& [author_hex, pin] : pins) {
    impl_.catalog->Put(0, fmt::format("pin/{}", author_hex), PinValue(pin));
  }
  if (record_incarnation) impl_.catalog->Put(0, std::string(kIncarnationKey), incarnation);
  for (const auto& [author_hex, at] : spins) {
    impl_.catalog->Put(0, fmt::format("spin/{}", author_hex), PinValue(at));
  }
  // The whole history of a restored server is in: this device's objects it lacks are
  // sent again, with the chunks of their attachments (the server says which it lacks).
  if (restored && last == page.head_seq()) {
    auto mine = spin_of(me);
    if (!mine) return fail(mine.error());
    if (auto s = MarkLostOwnObjects(impl_, (*mine)->seq); !s) return fail(s.error());
  }
  impl_.membership_staged = std::move(members);
  impl_.confirmed_staged = std::move(confirmed);
  const std::uint64_t previous_pulled = impl_.state.pulled_seq();
  impl_.state.set_pulled_seq(last);
  if (auto s = impl_.Commit(t); !s) {
    impl_.state.set_pulled_seq(previous_pulled);
    restore_keyring();
    return std::unexpected(s.error());
  }
  return outcome;
}

// --- membership ------------------------------------------------------------------------

Result<Bytes> SyncState::CreateInvite(sync::v1::Role role) {
  if (!impl_.membership.CanAdmit(impl_.signing->public_key())) {
    return Fail(ErrorCode::kPermissionDenied, "only an owner or coordinator may invite devices");
  }
  const Bytes secret = crypto::RandomBytes(32);
  const Bytes invite_id = InviteIdFromSecret(secret);
  MembershipOp op;
  op.set_kind(MembershipOp::INVITE);
  op.set_role(role);
  op.set_invite_id(Str(invite_id));
  op.set_created(NowUtc());
  Vault::Impl::Txn t = impl_.Begin();
  EVAULT_TRY(impl_.PutMembershipOp(t, op));
  impl_.catalog->Put(0, fmt::format("invite/{}", Hex(invite_id)), Str(secret));
  EVAULT_TRY(impl_.Commit(t));
  EVAULT_TRY(AuditMembership({{"op", "invite"}, {"role", RoleName(role)}}));
  return secret;
}

Result<sync::v1::JoinRequest> SyncState::MakeJoinRequest(ByteView invite_secret) {
  sync::v1::JoinRequest r;
  r.set_vault_id(Str(impl_.header.vault_id));
  r.set_invite_id(Str(InviteIdFromSecret(invite_secret)));
  r.mutable_device()->set_signing_key(Str(impl_.signing->public_key()));
  r.mutable_device()->set_box_key(Str(impl_.box->public_key()));
  EVAULT_ASSIGN_OR_RETURN(SymmetricKey proof_key, SymmetricKey::FromBytes(SecretBytes::CopyFrom(invite_secret)));
  r.set_proof(Str(crypto::KeyedHash(proof_key, JoinProofMessage(impl_.header.vault_id, r.device()), 32)));
  r.set_device_signature(Str(impl_.signing->Sign(JoinSigningMessage(r))));
  return r;
}

namespace {

// Seals `secret` to member `to` as a key of `kind` and `epoch`.
Result<sync::v1::SealedKey> SealKeyTo(const Member& to, sync::v1::SealedKey::Kind kind, std::uint64_t epoch,
                                      ByteView secret) {
  sync::v1::SealedKey k;
  k.set_kind(kind);
  k.set_recipient(Str(to.signing_key));
  k.set_epoch(epoch);
  EVAULT_ASSIGN_OR_RETURN(Bytes sealed, crypto::SealToPublicKey(to.box_key, secret));
  k.set_sealed(Str(sealed));
  return k;
}

// The epoch keys a member of `role` holds, for epochs 1..current, that `membership`
// has not yet delivered to it; sealed from this device's epoch secrets.
Status AddMissingEpochKeys(const Membership& membership, const Keyring& keyring, const Member& m,
                           std::uint64_t current, sync::v1::MembershipOp& op) {
  const bool reader = m.role == sync::v1::OWNER || m.role == sync::v1::COORDINATOR;
  if (!reader && m.role != sync::v1::MONITOR) return Ok();
  const auto kind = reader ? sync::v1::SealedKey::EPOCH_SECRET : sync::v1::SealedKey::MEMBERS_SEED;
  for (std::uint64_t epoch = 1; epoch <= current; ++epoch) {
    if (membership.HasDelivered(m.signing_key, kind, epoch)) continue;
    const SymmetricKey* secret = keyring.EpochSecret(epoch);
    if (secret == nullptr) continue;  // another reader will share it
    const SecretBytes payload = reader ? secret->bytes().Clone() : MembersSeed(*secret);
    EVAULT_ASSIGN_OR_RETURN(auto k, SealKeyTo(m, kind, epoch, payload.span()));
    *op.add_keys() = std::move(k);
  }
  return Ok();
}

}  // namespace

Result<std::vector<SyncState::Admitted>> SyncState::AdmitJoinRequests(
    const std::vector<sync::v1::JoinRequest>& requests) {
  std::vector<Admitted> admitted;
  const std::uint64_t current = impl_.membership.current_epoch();
  if (requests.empty() || !impl_.keyring.IsReader(current)) return admitted;
  Vault::Impl::Txn t = impl_.Begin();
  for (const auto& r : requests) {
    const std::string invite_hex = Hex(crypto::AsBytes(r.invite_id()));
    EVAULT_ASSIGN_OR_RETURN(auto secret, impl_.catalog->Get(0, fmt::format("invite/{}", invite_hex)));
    if (!secret) continue;  // another coordinator's invite
    const Membership& state = impl_.membership_staged ? *impl_.membership_staged : impl_.membership;
    const OpenInvite* invite = state.FindInvite(crypto::AsBytes(r.invite_id()));
    if (invite == nullptr) continue;
    if (r.vault_id() != Str(impl_.header.vault_id) ||
        !crypto::VerifySignature(crypto::AsBytes(r.device().signing_key()), JoinSigningMessage(r),
                                 crypto::AsBytes(r.device_signature()))) {
      continue;  // not signed by the device it names: ignore, never admit
    }
    EVAULT_ASSIGN_OR_RETURN(SymmetricKey proof_key, SymmetricKey::FromBytes(SecretBytes::CopyFrom(*secret)));
    const Bytes expected = crypto::KeyedHash(proof_key, JoinProofMessage(impl_.header.vault_id, r.device()), 32);
    if (r.proof().size() != expected.size() ||
        sodium_memcmp(r.proof().data(), expected.data(), expected.size()) != 0) {
      continue;  // someone without the invite secret: ignore
    }
    MembershipOp op;
    op.set_kind(MembershipOp::ADMIT);
    *op.mutable_subject() = r.device();
    op.set_role(invite->role);
    op.set_invite_id(r.invite_id());
    op.set_created(NowUtc());
    // The new member's keys travel with its admission: every epoch secret for a
    // coordinator, every members seed for a monitor, nothing for a legal device (its
    // cases come with grants).
    const Member subject{Bytes(r.device().signing_key().begin(), r.device().signing_key().end()),
                         Bytes(r.device().box_key().begin(), r.device().box_key().end()), invite->role};
    EVAULT_TRY(AddMissingEpochKeys(state, impl_.keyring, subject, current, op));
    EVAULT_TRY(impl_.PutMembershipOp(t, op));
    impl_.catalog->Delete(0, fmt::format("invite/{}", invite_hex));
    admitted.push_back({DeviceIdFromKey(crypto::AsBytes(r.device().signing_key())),
                        Fingerprint(crypto::AsBytes(r.device().signing_key())), op.role()});
  }
  if (admitted.empty()) return admitted;
  EVAULT_TRY(impl_.Commit(t));
  for (const auto& a : admitted) {
    EVAULT_TRY(AuditMembership({{"op", "admit"}, {"device", a.device_id}, {"role", RoleName(a.role)}}));
  }
  return admitted;
}

namespace {

// The member whose device id is `device_id` (or starts with it, if unambiguous).
Result<const Member*> FindMember(const Membership& membership, std::string_view device_id) {
  if (device_id.size() < 8) return Fail(ErrorCode::kInvalidArgument, "give at least 8 characters of the device id");
  const Member* found = nullptr;
  for (const auto& [key, m] : membership.members()) {
    if (DeviceIdFromKey(m.signing_key).starts_with(device_id)) {
      if (found != nullptr) return Fail(ErrorCode::kInvalidArgument, "that device id prefix is ambiguous");
      found = &m;
    }
  }
  if (found == nullptr) return Fail(ErrorCode::kNotFound, "no member device with that id");
  return found;
}

}  // namespace

namespace {

// REVOKE or CHANGE_ROLE of `subject`: begins the next epoch with fresh keys, sealed to
// every remaining owner, coordinator and monitor as its role (after the change) asks;
// never to a revoked subject.
Result<MembershipOp> NewEpochOp(const Membership& state, MembershipOp::Kind kind, const Member& subject,
                                sync::v1::Role role, std::size_t& rekeyed) {
  const std::uint64_t epoch = state.current_epoch() + 1;
  const SymmetricKey epoch_secret = SymmetricKey::Generate();
  EVAULT_ASSIGN_OR_RETURN(EpochKeyPairs pairs, DeriveEpochKeys(epoch_secret));
  MembershipOp op;
  op.set_kind(kind);
  op.mutable_subject()->set_signing_key(Str(subject.signing_key));
  op.mutable_subject()->set_box_key(Str(subject.box_key));
  op.set_role(role);
  op.set_epoch(epoch);
  op.set_epoch_readers_key(Str(pairs.readers.public_key()));
  op.set_epoch_members_key(Str(pairs.members.public_key()));
  op.set_created(NowUtc());
  const SecretBytes members_seed = MembersSeed(epoch_secret);
  rekeyed = 0;
  for (const auto& [key, m] : state.members()) {
    const bool is_subject = m.signing_key == subject.signing_key;
    if (m.revoked || (is_subject && kind == MembershipOp::REVOKE)) continue;
    const sync::v1::Role r = is_subject ? role : m.role;
    if (r == sync::v1::OWNER || r == sync::v1::COORDINATOR) {
      EVAULT_ASSIGN_OR_RETURN(auto k, SealKeyTo(m, sync::v1::SealedKey::EPOCH_SECRET, epoch, epoch_secret.bytes().span()));
      *op.add_keys() = std::move(k);
      ++rekeyed;
    } else if (r == sync::v1::MONITOR) {
      EVAULT_ASSIGN_OR_RETURN(auto k, SealKeyTo(m, sync::v1::SealedKey::MEMBERS_SEED, epoch, members_seed.span()));
      *op.add_keys() = std::move(k);
      ++rekeyed;
    }
  }
  return op;
}

}  // namespace

Result<SyncState::EpochChange> SyncState::RevokeMember(std::string_view device_id) {
  const Membership& state = impl_.membership;
  if (!state.CanRevoke(impl_.signing->public_key())) {
    return Fail(ErrorCode::kPermissionDenied, "only the vault owner may revoke devices");
  }
  EVAULT_ASSIGN_OR_RETURN(const Member* subject, FindMember(state, device_id));
  if (subject->revoked) return Fail(ErrorCode::kInvalidArgument, "that device is already revoked");
  if (subject->signing_key == impl_.signing->public_key()) {
    return Fail(ErrorCode::kInvalidArgument, "a device cannot revoke itself");
  }
  EpochChange out{DeviceIdFromKey(subject->signing_key), state.current_epoch() + 1, 0};
  EVAULT_ASSIGN_OR_RETURN(MembershipOp op, NewEpochOp(state, MembershipOp::REVOKE, *subject, subject->role, out.rekeyed));
  Vault::Impl::Txn t = impl_.Begin();
  EVAULT_TRY(impl_.PutMembershipOp(t, op));
  EVAULT_TRY(impl_.Commit(t));
  EVAULT_TRY(AuditMembership({{"op", "revoke"}, {"device", out.device_id}, {"epoch", out.epoch}}));
  return out;
}

Result<SyncState::EpochChange> SyncState::ChangeRole(std::string_view device_id, sync::v1::Role role) {
  const Membership& state = impl_.membership;
  if (!state.CanRevoke(impl_.signing->public_key())) {
    return Fail(ErrorCode::kPermissionDenied, "only the vault owner may change roles");
  }
  if (role != sync::v1::COORDINATOR && role != sync::v1::MONITOR && role != sync::v1::LEGAL) {
    return Fail(ErrorCode::kInvalidArgument, "the role must be coordinator, monitor or legal");
  }
  EVAULT_ASSIGN_OR_RETURN(const Member* subject, FindMember(state, device_id));
  if (subject->revoked) return Fail(ErrorCode::kInvalidArgument, "that device is revoked");
  if (subject->signing_key == impl_.signing->public_key()) {
    return Fail(ErrorCode::kInvalidArgument, "the owner's role cannot change");
  }
  if (subject->role == role) return Fail(ErrorCode::kAlreadyExists, fmt::format("that device already is a {}", RoleName(role)));
  EpochChange out{DeviceIdFromKey(subject->signing_key), state.current_epoch() + 1, 0};
  EVAULT_ASSIGN_OR_RETURN(MembershipOp op, NewEpochOp(state, MembershipOp::CHANGE_ROLE, *subject, role, out.rekeyed));
  Vault::Impl::Txn t = impl_.Begin();
  EVAULT_TRY(impl_.PutMembershipOp(t, op));
  EVAULT_TRY(impl_.Commit(t));
  EVAULT_TRY(AuditMembership({{"op", "role"}, {"device", out.device_id}, {"role", RoleName(role)}, {"epoch", out.epoch}}));
  return out;
}

namespace {

struct KnownCaseKey {
  std::string case_id;  // hex
  std::uint64_t epoch;
  Bytes public_key;
  std::string object_id;  // the CASE_KEY announcement
};

Result<std::vector<KnownCaseKey>> KnownCaseKeys(Vault::Impl& impl, std::string_view case_id_hex = {}) {
  const std::string prefix = case_id_hex.empty() ? "ckey/" : fmt::format("ckey/{}/", case_id_hex);
  EVAULT_ASSIGN_OR_RETURN(auto entries, impl.catalog->Scan(0, prefix));
  std::vector<KnownCaseKey> out;
  for (const auto& [key, object_hex] : entries) {
    // ckey/<case 32>/<epoch 16>/<public key 64>
    if (key.size() != 5 + 32 + 1 + 16 + 1 + 64) return Fail(ErrorCode::kCorrupt, "a stored case key entry is malformed");
    auto pk = crypto::FromHex(std::string_view(key).substr(5 + 32 + 1 + 16 + 1));
    if (!pk) return Fail(ErrorCode::kCorrupt, "a stored case key entry is malformed");
    out.push_back({key.substr(5, 32), std::stoull(key.substr(5 + 32 + 1, 16), nullptr, 16), *pk,
                   object_hex.substr(0, object_hex.find('/'))});
  }
  return out;
}

// The secret half of an announced case key, opened with this device's readers key.
Result<crypto::BoxKeyPair> OpenCaseKey(Vault::Impl& impl, const KnownCaseKey& k) {
  const crypto::BoxKeyPair* readers = impl.keyring.Readers(k.epoch);
  if (readers == nullptr) return Fail(ErrorCode::kPermissionDenied, "this device does not hold that epoch's keys");
  EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl.LoadObject(k.object_id, ObjectKind::kCaseKey));
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
  auto sealed = crypto::FromHex(Field<std::string>(body, "sealed_secret"));
  if (!sealed) return Fail(ErrorCode::kCorrupt, "a case key announcement is malformed");
  EVAULT_ASSIGN_OR_RETURN(SecretBytes secret, readers->OpenSealed(*sealed));
  EVAULT_ASSIGN_OR_RETURN(crypto::BoxKeyPair pair, crypto::BoxKeyPair::FromSecretKey(std::move(secret)));
  if (pair.public_key() != k.public_key) return Fail(ErrorCode::kTampered, "a case key does not match its announcement");
  return pair;
}

// Seals every known key of `case_id_hex` that `legal` lacks into `op`.
Status AddCaseKeys(Vault::Impl& impl, const Membership& membership, const Member& legal,
                   const std::string& case_id_hex, sync::v1::MembershipOp& op) {
  const SymmetricKey* tag_key = impl.keyring.TagKey();
  if (tag_key == nullptr) return Fail(ErrorCode::kPermissionDenied, "this device does not hold the vault's first epoch");
  EVAULT_ASSIGN_OR_RETURN(auto keys, KnownCaseKeys(impl, case_id_hex));
  const Bytes case_id = *crypto::FromHex(case_id_hex);
  const Bytes case_tag = CaseTag(*tag_key, case_id);
  for (const auto& k : keys) {
    const Bytes key_tag = CaseKeyTag(*tag_key, k.public_key);
    if (membership.HasDelivered(legal.signing_key, sync::v1::SealedKey::CASE_KEY, k.epoch, key_tag)) continue;
    if (legal.revoked && k.epoch >= legal.revoked_in_epoch) continue;
    auto pair = OpenCaseKey(impl, k);
    if (!pair) continue;  // an announcement this device cannot vouch for is not shared
    SecretBytes payload(kIdBytes + 32);
    std::memcpy(payload.data(), case_id.data(), kIdBytes);
    std::memcpy(payload.data() + kIdBytes, pair->secret_key().data(), 32);
    EVAULT_ASSIGN_OR_RETURN(auto sealed, SealKeyTo(legal, sync::v1::SealedKey::CASE_KEY, k.epoch, payload.span()));
    sealed.set_case_tag(Str(case_tag));
    sealed.set_key_tag(Str(key_tag));
    *op.add_keys() = std::move(sealed);
  }
  return Ok();
}

}  // namespace

Result<std::size_t> SyncState::GrantCase(std::string_view case_id, std::string_view device_id) {
  if (!impl_.membership.CanAdmit(impl_.signing->public_key())) {
    return Fail(ErrorCode::kPermissionDenied, "only an owner or coordinator may grant cases");
  }
  EVAULT_ASSIGN_OR_RETURN(Bytes case_bytes, ParseId("case", case_id));
  EVAULT_TRY(impl_.LoadCase(case_id));
  EVAULT_ASSIGN_OR_RETURN(const Member* legal, FindMember(impl_.membership, device_id));
  if (legal->revoked) return Fail(ErrorCode::kInvalidArgument, "that device is revoked");
  if (legal->role != sync::v1::LEGAL) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("cases are granted to legal devices; that device is a {}", RoleName(legal->role)));
  }
  {
    // The case must have a key in the current epoch for the grant to cover what is
    // written next; announce one now if nobody has yet (committed first: the grant
    // below reads the announcement back).
    Vault::Impl::Txn announce = impl_.Begin();
    EVAULT_TRY(impl_.CaseKeyFor(announce, case_bytes, impl_.membership.current_epoch()));
    if (announce.seq != impl_.state.author_seq()) EVAULT_TRY(impl_.Commit(announce));
  }
  Vault::Impl::Txn t = impl_.Begin();
  MembershipOp op;
  op.set_kind(MembershipOp::SHARE);
  op.set_created(NowUtc());
  EVAULT_TRY(AddCaseKeys(impl_, impl_.membership, *legal, std::string(case_id), op));
  if (op.keys_size() == 0) return Fail(ErrorCode::kAlreadyExists, "that device already holds every key of this case");
  const std::size_t keys = op.keys_size();
  const std::string legal_id = DeviceIdFromKey(legal->signing_key);  // `legal` dies with the commit
  EVAULT_TRY(impl_.PutMembershipOp(t, op));
  EVAULT_TRY(impl_.Commit(t));
  EVAULT_TRY(impl_.AuditNow(std::string(case_id), audit::action::kCaseGrant,
                            {{"case_id", std::string(case_id)}, {"device", legal_id}, {"keys", keys}}));
  return keys;
}

Result<std::size_t> SyncState::ShareMissingKeys() {
  const Membership& state = impl_.membership;
  const std::uint64_t current = state.current_epoch();
  if (!state.CanAdmit(impl_.signing->public_key()) || !impl_.keyring.IsReader(current)) return 0;
  MembershipOp op;
  op.set_kind(MembershipOp::SHARE);
  op.set_created(NowUtc());
  std::map<std::string, std::string> case_by_tag;  // case tag -> case id (hex)
  if (const SymmetricKey* tag_key = impl_.keyring.TagKey()) {
    EVAULT_ASSIGN_OR_RETURN(auto keys, KnownCaseKeys(impl_));
    for (const auto& k : keys) case_by_tag[Str(CaseTag(*tag_key, *crypto::FromHex(k.case_id)))] = k.case_id;
  }
  for (const auto& [key, m] : state.members()) {
    if (m.revoked) continue;
    EVAULT_TRY(AddMissingEpochKeys(state, impl_.keyring, m, current, op));
    if (m.role != sync::v1::LEGAL) continue;
    for (const auto& [device, case_tag] : state.grants()) {
      if (device != key) continue;
      auto known = case_by_tag.find(case_tag);
      if (known != case_by_tag.end()) EVAULT_TRY(AddCaseKeys(impl_, state, m, known->second, op));
    }
  }
  if (op.keys_size() == 0) return 0;
  const std::size_t keys = op.keys_size();
  Vault::Impl::Txn t = impl_.Begin();
  EVAULT_TRY(impl_.PutMembershipOp(t, op));
  EVAULT_TRY(impl_.Commit(t));
  return keys;
}

Result<SyncState::Purged> SyncState::PurgeSynced() {
  auto role = impl_.MyRole();
  if (!role || *role != sync::v1::MONITOR) {
    return Fail(ErrorCode::kPermissionDenied,
                "only a monitor purges: an owner's, coordinator's or legal device's copy is the archive it reads");
  }
  Purged out;
  std::map<std::string, std::string> purged_heads;  // abase/<stream>/<key> -> <seq>/<sha256>
  // What a restored server lost is kept until it is sent again.
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  const std::uint64_t pushed = resend_after.value_or(impl_.state.pushed_seq());
  const std::uint64_t written = impl_.state.author_seq();
  Vault::Impl::Txn t = impl_.Begin();
  // Delete every acknowledged object of this device, with the chunks of its attachments.
  for (std::uint64_t seq = 1; seq <= pushed; ++seq) {
    const std::string mine_key = fmt::format("mine/{:016x}", seq);
    EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, mine_key));
    if (!object_hex) continue;  // purged before
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_hex));
    if (envelope.public_body().empty()) {
      EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl_.OpenEnvelope(envelope));
      if (opened.identity.kind == ObjectKind::kAttachmentManifest) {
        EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
        EVAULT_ASSIGN_OR_RETURN(AttachmentInfo info, impl_.AttachmentFromBody(body, Hex(opened.identity.logical_id)));
        const auto keys = impl_.KeysFor(opened.content_key, opened.identity.logical_id);
        for (std::uint64_t i = 0; i < info.chunks; ++i) t.batch.Delete(impl_.chunks, Slice(Vault::Impl::ChunkName(keys.names, i)));
        ++out.attachments;
      } else if (opened.identity.kind == ObjectKind::kRecordRevision) {
        ++out.revisions;
      } else if (opened.identity.kind == ObjectKind::kCase) {
        ++out.cases;
      } else if (opened.identity.kind == ObjectKind::kAuditEntry) {
        // The log resumes after the last purged entry of each stream.
        const std::string line(opened.body.view());
        EVAULT_ASSIGN_OR_RETURN(json entry, audit::ParseEntry(line));
        const std::string case_hex = Hex(opened.identity.case_id);
        purged_heads[fmt::format("abase/{}/{}", case_hex.empty() ? "-" : case_hex, entry["key"].get<std::string>())] =
            fmt::format("{}/{}", entry["seq"].get<std::uint64_t>(), audit::LineSha256(line));
      }
    }
    t.batch.Delete(Slice(*ParseId("object", *object_hex)));
    impl_.catalog->Delete(0, mine_key);
    ++out.objects;
  }
  // The readable catalog and the search index are rebuilt from what is left: the
  // objects not yet acknowledged. Case-key entries stay, so the monitor can still add
  // evidence to the cases it knows.
  for (const char* prefix : {"case/", "rec/", "crec/", "rev/", "head/", "att/", "attid/", "alog/", "asize/", "acp/"}) {
    EVAULT_ASSIGN_OR_RETURN(auto entries, impl_.catalog->Scan(0, prefix));
    for (const auto& [key, value] : entries) impl_.catalog->Delete(0, key);
  }
  for (const auto& [key, head] : purged_heads) impl_.catalog->Put(0, key, head);
  for (std::size_t p = 0; p < impl_.search->partitions(); ++p) {
    EVAULT_ASSIGN_OR_RETURN(auto entries, impl_.search->Scan(p, ""));
    for (const auto& [key, value] : entries) impl_.search->Delete(p, key);
  }
  for (std::uint64_t seq = pushed + 1; seq <= written; ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_hex && seq <= impl_.state.pushed_seq()) continue;  // purged before the server lost it
    if (!object_hex) return Fail(ErrorCode::kCorrupt, fmt::format("own object {} is missing", seq));
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_hex));
    if (!envelope.public_body().empty()) continue;
    EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl_.OpenEnvelope(envelope));
    EVAULT_TRY(impl_.IndexOwnObject(t, opened, *object_hex));
  }
  // A fresh self key: what was purged was sealed to keys this device now forgets
  // (kept only while unacknowledged objects still need them).
  std::vector<const crypto::BoxKeyPair*> keep;
  if (written > pushed) {
    for (const auto& k : impl_.keyring.self_keys()) keep.push_back(&k);
  }
  if (keep.size() + 1 > kMaxSelfKeys) {
    return Fail(ErrorCode::kInvalidArgument, "too many purges while objects await upload; run `evault sync` first");
  }
  crypto::BoxKeyPair fresh = crypto::BoxKeyPair::Generate();
  keep.push_back(&fresh);
  t.batch.Put(Slice(impl_.Name("local-secrets")), impl_.StoreLocalSecrets(&keep));
  impl_.catalog->RewriteAll();
  impl_.search->RewriteAll();
  EVAULT_TRY(impl_.Commit(t));
  std::vector<crypto::BoxKeyPair> self;
  for (const auto* k : keep) {
    if (k == &fresh) {
      self.push_back(std::move(fresh));
    } else {
      EVAULT_ASSIGN_OR_RETURN(auto copy, crypto::BoxKeyPair::FromSecretKey(k->secret_key().Clone()));
      self.push_back(std::move(copy));
    }
  }
  impl_.keyring.SetSelfKeys(std::move(self));
  EVAULT_TRY(impl_.AuditNow("", audit::action::kPurge,
                            {{"objects", out.objects}, {"cases", out.cases}, {"revisions", out.revisions},
                             {"attachments", out.attachments}}));
  // Push the deletions out of the memtable, the WAL and every SST file that held them.
  EVAULT_TRY(impl_.CompactAll());
  return out;
}

Status SyncState::SetAutoPurge(bool on) {
  Vault::Impl::Txn t = impl_.Begin();
  if (on) {
    impl_.catalog->Put(0, "config/auto-purge", "1");
  } else {
    impl_.catalog->Delete(0, "config/auto-purge");
  }
  return impl_.Commit(t);
}

Result<bool> SyncState::AutoPurge() {
  EVAULT_ASSIGN_OR_RETURN(auto on, impl_.catalog->Get(0, "config/auto-purge"));
  return on.has_value() && impl_.MyRole() == sync::v1::MONITOR;
}

Result<bool> SyncState::WriteCheckpointIfNeeded() {
  if (impl_.RequireWriter().has_value() == false) return false;  // legal devices and outsiders write nothing
  // What this server has shown: after a restore, the heads of its own history (pins may
  // be further on, in what it lost), so the checkpoint holds in its server order.
  EVAULT_ASSIGN_OR_RETURN(auto restored, impl_.catalog->Get(0, kRestoredKey));
  EVAULT_ASSIGN_OR_RETURN(auto stored, impl_.catalog->Scan(0, restored ? "spin/" : "pin/"));
  sync::v1::Checkpoint checkpoint;
  std::string summary;
  const std::string me = Hex(impl_.signing->public_key());
  for (const auto& [key, value] : stored) {
    if (key.substr(key.find('/') + 1) == me) continue;  // own head is added below, as of now
    EVAULT_ASSIGN_OR_RETURN(Pin p, ParsePin(value));
    if (p.seq == 0) continue;
    auto* head = checkpoint.add_heads();
    head->set_author(Str(*crypto::FromHex(key.substr(key.find('/') + 1))));
    head->set_seq(p.seq);
    head->set_hash(Str(p.hash));
    summary += key + value;
  }
  EVAULT_ASSIGN_OR_RETURN(auto due, impl_.catalog->Get(0, "checkpoint/due"));
  if (summary.empty() || !due) return false;
  // Own head last: the checkpoint itself is the next object of this chain.
  auto* own = checkpoint.add_heads();
  own->set_author(Str(impl_.signing->public_key()));
  own->set_seq(impl_.state.author_seq());
  own->set_hash(impl_.state.author_head());
  checkpoint.set_created(NowUtc());
  Vault::Impl::Txn t = impl_.Begin();
  const Bytes checkpoint_id = crypto::RandomBytes(kIdBytes);
  EVAULT_TRY(impl_.PutObject(t, {ObjectKind::kCheckpoint, checkpoint_id, 1, {}}, checkpoint.SerializeAsString(),
                             SymmetricKey::Generate()));
  impl_.catalog->Delete(0, "checkpoint/due");
  EVAULT_TRY(impl_.Commit(t));
  return true;
}

Status SyncState::AuditMembership(const json& subject) {
  return impl_.AuditNow("", audit::action::kMembership, subject);
}

namespace {

// Whether some custody log has entries its newest checkpoint does not cover. A log of n
// entries checkpointed in full has its checkpoint under acp/<stream>/<n> (see
// CheckpointAuditLogs), so one lookup per log answers this; CheckpointAuditLogs itself
// reads every entry of every log, which made each sync, even one that moved nothing,
// grow with the number of records. Anything unexpected answers true: the full check
// then decides, as before.
Result<bool> CustodyLogsGrew(Vault::Impl& impl) {
  EVAULT_ASSIGN_OR_RETURN(auto sizes, impl.catalog->Scan(0, "asize/"));
  for (const auto& [key, value] : sizes) {
    std::uint64_t size = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), size);
    if (error != std::errc() || end != value.data() + value.size()) return true;
    EVAULT_ASSIGN_OR_RETURN(auto checkpoint,
                            impl.catalog->Get(0, fmt::format("acp/{}/{:016x}", key.substr(6), size)));
    if (!checkpoint) return true;
  }
  return false;
}

}  // namespace

Status SyncState::RecordSync(std::size_t pushed, std::size_t pulled, std::size_t uploaded, std::size_t downloaded) {
  Vault::Impl::Txn t = impl_.Begin();
  if ((pushed | pulled | uploaded | downloaded) != 0 && admitted()) {
    EVAULT_TRY(impl_.Audit(t, "", audit::action::kSync,
                           {{"pushed_objects", pushed}, {"pulled_evidence", pulled}, {"uploaded_chunks", uploaded},
                            {"downloaded_chunks", downloaded}}));
  }
  EVAULT_ASSIGN_OR_RETURN(bool grew, CustodyLogsGrew(impl_));
  if (grew) EVAULT_TRY(impl_.CheckpointAuditLogs(t));
  if (!impl_.catalog->has_staged()) return Ok();
  return impl_.Commit(t);
}

Result<SyncState::ServerGap> SyncState::GapOnServer() {
  ServerGap gap;
  EVAULT_ASSIGN_OR_RETURN(auto restored, impl_.catalog->Get(0, kRestoredKey));
  if (!restored) return gap;
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  if (resend_after) {
    for (std::uint64_t seq = *resend_after + 1; seq <= impl_.state.pushed_seq(); ++seq) {
      ++gap.own_objects;
      EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
      if (!object_hex) ++gap.own_purged;
    }
  }
  EVAULT_ASSIGN_OR_RETURN(auto lost, OthersLostOnServer(impl_));
  for (const auto& range : lost) gap.others_objects += range.last - range.after;
  gap.other_devices = lost.size();
  return gap;
}

Result<std::vector<std::string>> SyncState::PrepareRelay() {
  std::vector<std::string> out;
  EVAULT_ASSIGN_OR_RETURN(auto restored, impl_.catalog->Get(0, kRestoredKey));
  if (!restored) return out;
  struct Held {
    std::uint64_t order;
    std::string author_hex;
    std::uint64_t seq;
    std::string object_hex;
  };
  std::vector<Held> held;
  const std::string me = Hex(impl_.signing->public_key());
  EVAULT_ASSIGN_OR_RETURN(auto lost, OthersLostOnServer(impl_));
  for (const auto& [author_hex, after, last] : lost) {
    // The lost part of the chain, up to the first object not held here (a monitor keeps
    // nothing it cannot read; entries older than relays lack the object id).
    for (std::uint64_t seq = after + 1; seq <= last; ++seq) {
      EVAULT_ASSIGN_OR_RETURN(auto chain, impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", author_hex, seq)));
      if (!chain) break;
      const ChainEntry entry = ParseChainValue(*chain);
      if (!entry.order) break;
      auto id = ParseId("object", entry.object_hex);
      if (!id) break;
      std::string ignored;
      if (!impl_.db->Get(rocksdb::ReadOptions(), impl_.db->DefaultColumnFamily(), Slice(*id), &ignored).ok()) break;
      held.push_back({*entry.order, author_hex, seq, std::string(entry.object_hex)});
    }
  }
  // This device's own lost objects, where the server first placed them (after the rest
  // where that is not known), up to the first purged here.
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  for (std::uint64_t seq = resend_after.value_or(impl_.state.pushed_seq()) + 1; seq <= impl_.state.pushed_seq();
       ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_hex, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_hex) break;
    EVAULT_ASSIGN_OR_RETURN(auto chain, impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", me, seq)));
    const auto order = chain ? ParseChainValue(*chain).order : std::nullopt;
    held.push_back({order.value_or(UINT64_MAX), me, seq, *object_hex});
  }
  std::sort(held.begin(), held.end(), [](const Held& x, const Held& y) {
    return std::tie(x.order, x.author_hex, x.seq) < std::tie(y.order, y.author_hex, y.seq);
  });
  Vault::Impl::Txn t = impl_.Begin();
  for (const auto& h : held) {
    out.push_back(h.object_hex);
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(h.object_hex));
    if (!envelope.public_body().empty()) continue;
    auto opened = impl_.OpenEnvelope(envelope);
    if (!opened || opened->identity.kind != ObjectKind::kAttachmentManifest) continue;
    const std::string attachment_id = Hex(opened->identity.logical_id);
    auto keys = KeysOfManifest(impl_, attachment_id, h.object_hex);
    if (!keys) continue;
    bool all_here = true;
    for (std::uint64_t i = 0; i < keys->chunks && all_here; ++i) {
      EVAULT_ASSIGN_OR_RETURN(all_here, HasChunk(Vault::Impl::ChunkName(keys->keys.names, i)));
    }
    if (all_here) impl_.catalog->Put(0, fmt::format("upload/{}", attachment_id), h.object_hex);
  }
  if (impl_.catalog->has_staged()) {
    EVAULT_TRY(impl_.Commit(t));
  }
  return out;
}

Result<format::v1::ObjectEnvelope> SyncState::HeldObject(std::string_view object_id_hex) {
  return impl_.LoadEnvelope(object_id_hex);
}

Result<SyncState::Summary> SyncState::Pending() {
  Summary s;
  EVAULT_ASSIGN_OR_RETURN(auto resend_after, ReadSeq(impl_, kResendKey));
  s.unpushed_objects = impl_.state.author_seq() - resend_after.value_or(impl_.state.pushed_seq());
  EVAULT_ASSIGN_OR_RETURN(auto uploads, impl_.catalog->Scan(0, "upload/"));
  EVAULT_ASSIGN_OR_RETURN(auto downloads, impl_.catalog->Scan(0, "down/"));
  EVAULT_ASSIGN_OR_RETURN(auto queued, impl_.catalog->Scan(0, "queue/"));
  s.pending_uploads = uploads.size();
  s.pending_downloads = downloads.size();
  s.queued_objects = queued.size();
  return s;
}

}  // namespace evault::vault
