#include "vault/sync_state.h"

#include <sodium.h>

#include <functional>

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

}  // namespace

SyncState::SyncState(Vault& vault) : impl_(*vault.impl_) {}

const Bytes& SyncState::vault_id() const { return impl_.header.vault_id; }
const crypto::SigningKeyPair& SyncState::device() const { return *impl_.signing; }
const Bytes& SyncState::box_public_key() const { return impl_.box->public_key(); }
const Membership& SyncState::membership() const { return impl_.membership; }
bool SyncState::admitted() const { return impl_.read_key.has_value(); }
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
  for (std::uint64_t seq = impl_.state.pushed_seq() + 1; seq <= impl_.state.author_seq(); ++seq) {
    EVAULT_ASSIGN_OR_RETURN(auto object_id, impl_.catalog->Get(0, fmt::format("mine/{:016x}", seq)));
    if (!object_id) return Fail(ErrorCode::kCorrupt, fmt::format("own object {} is missing", seq));
    EVAULT_ASSIGN_OR_RETURN(auto envelope, impl_.LoadEnvelope(*object_id));
    bytes += envelope.ByteSizeLong();
    if (!out.empty() && (out.size() >= max_objects || bytes > max_bytes)) break;
    out.push_back(std::move(envelope));
  }
  return out;
}

Status SyncState::MarkPushed(std::uint64_t seq) {
  if (seq <= impl_.state.pushed_seq()) return Ok();
  if (seq > impl_.state.author_seq()) return Fail(ErrorCode::kInternal, "acknowledged an object never written");
  Vault::Impl::Txn t = impl_.Begin();
  const std::uint64_t previous = impl_.state.pushed_seq();
  impl_.state.set_pushed_seq(seq);  // written with the root by Commit
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
  SecretBytes scratch{crypto::MaxSealedChunkSize()};
};

Result<std::vector<SyncState::Transfer>> SyncState::PendingUploads() { return TransfersUnder(impl_, "upload/"); }
Result<std::vector<SyncState::Transfer>> SyncState::PendingDownloads() { return TransfersUnder(impl_, "down/"); }

Result<std::string> SyncState::ReadChunk(ByteView chunk_id) {
  std::string value;
  auto s = impl_.db->Get(rocksdb::ReadOptions(), impl_.chunks, Slice(Bytes(chunk_id.begin(), chunk_id.end())), &value);
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
  auto s = impl_.db->Get(rocksdb::ReadOptions(), impl_.chunks, Slice(Bytes(chunk_id.begin(), chunk_id.end())), &ignored);
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
  auto opened = mk.keys.cipher.OpenChunk(index, index + 1 == mk.chunks, sealed, download_->scratch.span());
  if (!opened) {
    return Fail(ErrorCode::kTampered,
                fmt::format("the server sent an altered chunk {} of attachment {}", index, attachment_id));
  }
  auto s = impl_.db->Put(rocksdb::WriteOptions(), impl_.chunks, Slice(Vault::Impl::ChunkName(mk.keys.names, index)),
                         rocksdb::Slice(reinterpret_cast<const char*>(sealed.data()), sealed.size()));
  return FromRocks(s, "storing a chunk");
}

Status SyncState::CompleteDownload(std::string_view attachment_id) {
  EVAULT_ASSIGN_OR_RETURN(auto manifest_id, impl_.catalog->Get(0, fmt::format("down/{}", attachment_id)));
  if (!manifest_id) return Ok();
  EVAULT_ASSIGN_OR_RETURN(OpenedObject manifest, impl_.LoadObject(*manifest_id, ObjectKind::kAttachmentManifest));
  EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(manifest.body));
  const std::string record_id = Field<std::string>(body, "record_id");
  Vault::Impl::Txn t = impl_.Begin();
  impl_.catalog->Delete(0, fmt::format("down/{}", attachment_id));
  impl_.catalog->Put(0, fmt::format("att/{}/{}", record_id, attachment_id), *manifest_id);
  impl_.catalog->Put(0, fmt::format("attid/{}", attachment_id), *manifest_id);
  return impl_.Commit(t);  // synced: the chunks written before it are durable with it
}

// --- pull ----------------------------------------------------------------------------

namespace {

// Applies an opened object of another device to the catalog.
// `seen(author)` is the newest object of that author this device has seen.
Status ApplyObject(Vault::Impl& impl, Vault::Impl::Txn& t, const format::v1::ObjectEnvelope& e,
                   const std::function<std::uint64_t(const std::string&)>& seen) {
  const Bytes object_id(e.object_id().begin(), e.object_id().end());
  EVAULT_ASSIGN_OR_RETURN(OpenedObject opened, impl.codec->Open(e, object_id));
  // Another device's checkpoint is not news worth a checkpoint of our own (that would
  // have devices answering each other's checkpoints forever); anything else is.
  if (opened.identity.kind != ObjectKind::kCheckpoint) impl.catalog->Put(0, "checkpoint/due", "1");
  const std::string logical = Hex(opened.identity.logical_id);
  const std::string object_hex = Hex(object_id);
  switch (opened.identity.kind) {
    case ObjectKind::kCase:
      impl.catalog->Put(0, fmt::format("case/{}", logical), object_hex);
      return Ok();
    case ObjectKind::kRecordRevision: {
      EVAULT_ASSIGN_OR_RETURN(json body, ParseBody(opened.body));
      const json record = body.value("record", json::object());
      EVAULT_TRY(ValidateRecord(record));
      if (Field<std::string>(body, "record_id") != logical) {
        return Fail(ErrorCode::kTampered, "a pulled revision names another record than it is bound to");
      }
      impl.IndexRevision(t, Field<std::string>(body, "case_id"), logical, object_hex,
                         Field<std::vector<std::string>>(body, "parents"), record);
      return Ok();
    }
    case ObjectKind::kAttachmentManifest:
      // Visible once its chunks have arrived (CompleteDownload).
      impl.catalog->Put(0, fmt::format("down/{}", logical), object_hex);
      return Ok();
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
        if (head.seq() > 0 && (!hash || *hash != Hex(crypto::AsBytes(head.hash())))) {
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
  const std::uint64_t before = impl_.state.pulled_seq();
  if (page.head_seq() < before) {
    return Fail(ErrorCode::kTampered,
                fmt::format("the server rolled back: it reports {} objects, this device has already seen {}",
                            page.head_seq(), before));
  }
  if (page.objects().empty() && page.head_seq() == before) return outcome;  // nothing new: write nothing
  const std::string me = Hex(impl_.signing->public_key());
  Vault::Impl::Txn t = impl_.Begin();
  Membership members = impl_.membership;
  std::optional<SymmetricKey> new_read_key;
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
  // Checkpoints compare against what this device has seen of each author: its own
  // chain in full, others up to their pins.
  auto seen = [&](const std::string& author_hex) -> std::uint64_t {
    if (author_hex == me) return impl_.state.author_seq();
    auto pin = pin_of(author_hex);
    return pin ? (*pin)->seq : 0;
  };
  std::vector<const format::v1::ObjectEnvelope*> deferred;  // sealed objects awaiting the read key

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
    if (e.author_seq() <= pin->seq) {
      return Fail(ErrorCode::kTampered, fmt::format("the server replayed object {} of device {}", e.author_seq(),
                                                    Short(crypto::AsBytes(e.author()))));
    }
    if (e.author_seq() != pin->seq + 1) {
      return Fail(ErrorCode::kTampered,
                  fmt::format("the server dropped objects of device {}: expected object {}, got {}",
                              Short(crypto::AsBytes(e.author())), pin->seq + 1, e.author_seq()));
    }
    if (e.prev_hash() != std::string(crypto::AsText(pin->hash))) {
      return Fail(ErrorCode::kTampered, fmt::format("the history of device {} was altered at object {}",
                                                    Short(crypto::AsBytes(e.author())), e.author_seq()));
    }
    pin->seq = e.author_seq();
    pin->hash = ObjectCodec::ChainHash(e);

    if (author_hex == me) {
      // This device's own object coming back: it must be exactly what was written.
      EVAULT_ASSIGN_OR_RETURN(auto hash, impl_.catalog->Get(0, fmt::format("chain/{}/{:016x}", me, e.author_seq())));
      if (!hash || *hash != Hex(pin->hash)) {
        return Fail(ErrorCode::kTampered,
                    fmt::format("the server holds an object {} of this device that this device never wrote",
                                e.author_seq()));
      }
      continue;
    }
    impl_.catalog->Put(0, fmt::format("chain/{}/{:016x}", author_hex, e.author_seq()), Hex(pin->hash));
    ++outcome.objects;  // objects of other devices; this device's own come back uncounted

    // Never let a pulled object replace a different stored one.
    const Bytes object_id(e.object_id().begin(), e.object_id().end());
    std::string existing;
    auto s = impl_.db->Get(rocksdb::ReadOptions(), impl_.db->DefaultColumnFamily(), Slice(object_id), &existing);
    if (s.ok()) {
      return Fail(ErrorCode::kTampered, fmt::format("{} reuses the id of an object this device already holds", where));
    }
    if (!s.IsNotFound()) EVAULT_TRY(FromRocks(s, "checking a pulled object"));
    t.batch.Put(Slice(object_id), e.SerializeAsString());

    if (!e.public_body().empty()) {
      if (auto applied = members.Apply(e); !applied) {
        return Fail(ErrorCode::kTampered, fmt::format("{} is a forged membership operation: {}", where,
                                                      applied.error().message));
      }
      ++outcome.membership_ops;
      impl_.catalog->Put(0, "checkpoint/due", "1");
      impl_.catalog->Put(0, fmt::format("mem/{}", impl_.OrderKey(t)), Hex(object_id));
      EVAULT_ASSIGN_OR_RETURN(MembershipOp op, Membership::ParseOp(e));
      if (op.kind() == MembershipOp::ADMIT && op.subject().signing_key() == Str(impl_.signing->public_key()) &&
          !impl_.read_key && !new_read_key) {
        auto key = impl_.box->OpenSealed(crypto::AsBytes(op.sealed_read_key()));
        if (!key) return Fail(ErrorCode::kTampered, "the vault key sealed to this device does not open");
        EVAULT_ASSIGN_OR_RETURN(SymmetricKey read_key, SymmetricKey::FromBytes(std::move(*key)));
        new_read_key = std::move(read_key);
        outcome.admitted_now = true;
      }
      continue;
    }
    if (!members.CanWrite(crypto::AsBytes(e.author()))) {
      return Fail(ErrorCode::kTampered, fmt::format("{} comes from a device that may not write to this vault", where));
    }
    if (impl_.read_key || new_read_key) {
      deferred.push_back(&e);
    } else {
      impl_.catalog->Put(0, fmt::format("queue/{:016x}", pulled.server_seq()), Hex(object_id));
    }
  }
  if (page.objects().empty() && page.head_seq() > before) {
    return Fail(ErrorCode::kTampered, "the server reports newer objects but sends none");
  }

  // Sealed objects are opened with the read key: the one held, or the one that just
  // arrived (then also everything queued while waiting for it).
  const bool had_key = impl_.read_key.has_value();
  if (new_read_key) {
    impl_.read_key = new_read_key->Clone();
    impl_.MakeCodec();
    t.batch.Put(Slice(impl_.Name("local-secrets")), impl_.StoreLocalSecrets());
  }
  auto rollback_key = [&] {
    if (!had_key && impl_.read_key) {
      impl_.read_key.reset();
      impl_.MakeCodec();
    }
  };
  auto fail = [&](Error error) -> Result<PullOutcome> {
    impl_.catalog->Abandon();
    impl_.search->Abandon();
    rollback_key();
    return std::unexpected(std::move(error));
  };

  if (impl_.read_key) {
    // Re-apply this page's membership ops to the catalog state above (already staged);
    // now the queued objects from before admission, then this page's sealed objects.
    auto queued = impl_.catalog->Scan(0, "queue/");
    if (!queued) return fail(queued.error());
    std::map<std::string, const format::v1::ObjectEnvelope*> in_page;
    for (const auto& pulled : page.objects()) in_page[Hex(crypto::AsBytes(pulled.object().object_id()))] = &pulled.object();
    for (const auto& [key, object_hex] : *queued) {
      auto envelope = impl_.LoadEnvelope(object_hex);
      if (!envelope) {
        // Queued in this same transaction: still in the batch, not yet in RocksDB.
        auto staged = in_page.find(object_hex);
        if (staged == in_page.end()) return fail(envelope.error());
        envelope = *staged->second;
      }
      if (auto s = ApplyObject(impl_, t, *envelope, seen); !s) return fail(s.error());
      impl_.catalog->Delete(0, key);
    }
    for (const auto* e : deferred) {
      if (auto s = ApplyObject(impl_, t, *e, seen); !s) return fail(s.error());
    }
  }

  for (const auto& [author_hex, pin] : pins) {
    impl_.catalog->Put(0, fmt::format("pin/{}", author_hex), PinValue(pin));
  }
  impl_.membership_staged = std::move(members);
  const std::uint64_t previous_pulled = impl_.state.pulled_seq();
  impl_.state.set_pulled_seq(last);
  if (auto s = impl_.Commit(t); !s) {
    impl_.state.set_pulled_seq(previous_pulled);
    rollback_key();
    return std::unexpected(s.error());
  }
  return outcome;
}

// --- membership ------------------------------------------------------------------------

Result<Bytes> SyncState::CreateInvite(sync::v1::Role role) {
  if (!impl_.membership.CanAdmit(impl_.signing->public_key())) {
    return Fail(ErrorCode::kInvalidArgument, "only an owner or coordinator may invite devices");
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

Result<std::vector<SyncState::Admitted>> SyncState::AdmitJoinRequests(
    const std::vector<sync::v1::JoinRequest>& requests) {
  std::vector<Admitted> admitted;
  if (requests.empty() || !impl_.read_key) return admitted;
  Vault::Impl::Txn t = impl_.Begin();
  for (const auto& r : requests) {
    const std::string invite_hex = Hex(crypto::AsBytes(r.invite_id()));
    EVAULT_ASSIGN_OR_RETURN(auto secret, impl_.catalog->Get(0, fmt::format("invite/{}", invite_hex)));
    if (!secret) continue;  // another coordinator's invite
    const Membership& current = impl_.membership_staged ? *impl_.membership_staged : impl_.membership;
    const OpenInvite* invite = current.FindInvite(crypto::AsBytes(r.invite_id()));
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
    EVAULT_ASSIGN_OR_RETURN(Bytes sealed, crypto::SealToPublicKey(crypto::AsBytes(r.device().box_key()),
                                                                  impl_.read_key->bytes().span()));
    MembershipOp op;
    op.set_kind(MembershipOp::ADMIT);
    *op.mutable_subject() = r.device();
    op.set_role(invite->role);
    op.set_invite_id(r.invite_id());
    op.set_sealed_read_key(Str(sealed));
    op.set_created(NowUtc());
    EVAULT_TRY(impl_.PutMembershipOp(t, op));
    impl_.catalog->Delete(0, fmt::format("invite/{}", invite_hex));
    admitted.push_back({DeviceIdFromKey(crypto::AsBytes(r.device().signing_key())),
                        Fingerprint(crypto::AsBytes(r.device().signing_key())), op.role()});
  }
  if (admitted.empty()) return admitted;
  EVAULT_TRY(impl_.Commit(t));
  return admitted;
}

Result<bool> SyncState::WriteCheckpointIfNeeded() {
  if (!impl_.read_key) return false;
  EVAULT_ASSIGN_OR_RETURN(auto stored, impl_.catalog->Scan(0, "pin/"));
  sync::v1::Checkpoint checkpoint;
  std::string summary;
  const std::string me = Hex(impl_.signing->public_key());
  for (const auto& [key, value] : stored) {
    if (key.substr(4) == me) continue;  // own head is added below, as of now
    EVAULT_ASSIGN_OR_RETURN(Pin p, ParsePin(value));
    auto* head = checkpoint.add_heads();
    head->set_author(Str(*crypto::FromHex(key.substr(4))));
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
  impl_.PutObject(t, {ObjectKind::kCheckpoint, checkpoint_id, 1}, checkpoint.SerializeAsString(),
                  SymmetricKey::Generate());
  impl_.catalog->Delete(0, "checkpoint/due");
  EVAULT_TRY(impl_.Commit(t));
  return true;
}

Result<SyncState::Summary> SyncState::Pending() {
  Summary s;
  s.unpushed_objects = impl_.state.author_seq() - impl_.state.pushed_seq();
  EVAULT_ASSIGN_OR_RETURN(auto uploads, impl_.catalog->Scan(0, "upload/"));
  EVAULT_ASSIGN_OR_RETURN(auto downloads, impl_.catalog->Scan(0, "down/"));
  EVAULT_ASSIGN_OR_RETURN(auto queued, impl_.catalog->Scan(0, "queue/"));
  s.pending_uploads = uploads.size();
  s.pending_downloads = downloads.size();
  s.queued_objects = queued.size();
  return s;
}

}  // namespace evault::vault
