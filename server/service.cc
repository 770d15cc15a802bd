#include "server/service.h"

#include <algorithm>
#include <unordered_map>

#include "crypto/identity.h"
#include "server/enroll_tokens.h"
#include "vault/object.h"
#include "vault/read_ahead.h"

namespace evault::server {

using crypto::AsBytes;
using crypto::ByteView;
using format::v1::ObjectEnvelope;
using grpc::ServerContext;
using grpc::StatusCode;

namespace sv = sync::v1;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kNonceBytes = 32;
constexpr std::size_t kSessionTokenBytes = 32;
constexpr std::size_t kInviteIdBytes = 32;
constexpr std::size_t kBoxKeyBytes = 32;
constexpr std::size_t kMaxProofBytes = 64;
constexpr std::size_t kMaxChunkBatchCount = 1000;
constexpr std::size_t kChunkReadAhead = 3;  // chunks read ahead of the one being sent

grpc::Status Refuse(StatusCode code, const char* message) { return grpc::Status(code, message); }

ByteView View(const std::string& s) { return AsBytes(s); }

// The signed messages are defined once, in vault/membership.h, for client and server.
crypto::Bytes AuthMessage(const sv::AuthenticateRequest& r) {
  return vault::AuthSigningMessage(View(r.nonce()), View(r.vault_id()), View(r.device_key()), r.purpose());
}

bool IsVaultId(const std::string& s) { return s.size() == kIdBytes; }
bool IsDeviceKey(const std::string& s) { return s.size() == crypto::kSigningPublicKeyBytes; }

std::string ToString(const crypto::Bytes& b) { return std::string(b.begin(), b.end()); }

// Anyone can get a join session (it proves only a key), so join sessions live in a
// small table of their own: a flood of them cannot push members' sessions out.
AuthTable::Limits JoinLimits(AuthTable::Limits limits) {
  limits.max_challenges = 1;  // challenges live in the main table
  limits.max_sessions = std::min<std::size_t>(limits.max_sessions, 1000);
  return limits;
}

}  // namespace

VaultSyncService::VaultSyncService(Store& store, ServiceOptions options)
    : store_(store),
      options_(std::move(options)),
      logger_(options_.log_level, options_.log_sink, options_.rpc_observer),
      auth_(options_.auth_limits),
      join_auth_(JoinLimits(options_.auth_limits)),
      limiter_(options_.rate_limit, options_.rate_burst) {
  crypto::EnsureSodium();
}

// --- helpers ---------------------------------------------------------------------------

grpc::Status VaultSyncService::Internal(const Error& error) {
  logger_.Write(LogLevel::kError, {{"msg", "storage failure"}, {"detail", error.message}});
  if (RpcObserver* observer = logger_.observer()) observer->StorageFailed(error.code);
  // A full disk is the operator's to fix, not a server bug: the client says so.
  if (error.code == ErrorCode::kNoSpace) {
    return Refuse(StatusCode::RESOURCE_EXHAUSTED, "the server is out of storage space; its operator must free some");
  }
  return Refuse(StatusCode::INTERNAL, "the server could not complete the request");
}

bool VaultSyncService::Allowed(std::string_view device_key) { return limiter_.Allow(device_key, Clock::now()); }

Result<std::shared_ptr<VaultSyncService::VaultState>> VaultSyncService::LoadVault(const std::string& vault_id) {
  std::shared_ptr<VaultState> cached;
  {
    std::lock_guard lock(vaults_mu_);
    if (auto it = vaults_.find(vault_id); it != vaults_.end()) cached = it->second;
  }
  // Alone on its store, this process sees every membership change: it made them.
  if (cached && !options_.shared_store) return cached;
  // Absent vaults are not cached, so probing random ids costs no memory. Two threads
  // may rebuild the same vault at once; the first one in wins.
  if (!cached) {
    EVAULT_ASSIGN_OR_RETURN(bool exists, store_.VaultExists(View(vault_id)));
    if (!exists) return std::shared_ptr<VaultState>();
  }
  EVAULT_ASSIGN_OR_RETURN(auto envelopes, store_.MembershipEnvelopes(View(vault_id)));
  if (cached) {
    {
      std::shared_lock lock(cached->mu);
      if (cached->membership_ops == envelopes.size()) return cached;
    }
  }
  vault::Membership membership;
  for (const auto& e : envelopes) {
    if (auto s = membership.Apply(e); !s) {
      return Fail(ErrorCode::kCorrupt, "stored membership does not replay: " + s.error().message);
    }
  }
  if (cached) {
    // Another replica appended membership operations: take the store's state.
    std::unique_lock lock(cached->mu);
    cached->membership = std::move(membership);
    cached->membership_ops = envelopes.size();
    return cached;
  }
  auto state = std::make_shared<VaultState>();
  state->membership = std::move(membership);
  state->membership_ops = envelopes.size();
  std::lock_guard lock(vaults_mu_);
  return vaults_.emplace(vault_id, std::move(state)).first->second;
}

std::expected<VaultSyncService::Caller, grpc::Status> VaultSyncService::Authorise(ServerContext* context, Need need,
                                                                                  RpcLog& log) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kSessionMetadataKey);
  if (it == metadata.end()) return std::unexpected(Refuse(StatusCode::UNAUTHENTICATED, "no session"));
  const auto token = crypto::FromHex(std::string_view(it->second.data(), it->second.size()));
  if (!token || token->size() != kSessionTokenBytes) {
    return std::unexpected(Refuse(StatusCode::UNAUTHENTICATED, "malformed session token"));
  }
  auto session = auth_.FindSession(*token, Clock::now());
  if (!session) session = join_auth_.FindSession(*token, Clock::now());
  if (!session) return std::unexpected(Refuse(StatusCode::UNAUTHENTICATED, "session is unknown or expired"));
  log.SetVault(View(session->vault_id));
  log.SetDevice(View(session->device_key));
  if (!Allowed(session->device_key)) {
    return std::unexpected(Refuse(StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"));
  }
  if (session->purpose != SessionPurpose::kSync) {
    return std::unexpected(Refuse(StatusCode::PERMISSION_DENIED, "a join session cannot do this"));
  }
  auto state = LoadVault(session->vault_id);
  if (!state) return std::unexpected(Internal(state.error()));
  if (!*state) return std::unexpected(Refuse(StatusCode::PERMISSION_DENIED, "not a member of this vault"));
  {
    std::shared_lock lock((*state)->mu);
    const auto& m = (*state)->membership;
    const ByteView device = View(session->device_key);
    const bool ok = need == Need::kMember   ? m.IsActive(device)
                    : need == Need::kWriter ? m.CanWrite(device)
                                            : m.CanAdmit(device);
    if (!ok) {
      return std::unexpected(Refuse(StatusCode::PERMISSION_DENIED, need == Need::kMember ? "not an active member of this vault"
                                                                   : need == Need::kWriter
                                                                       ? "this device may not write to the vault"
                                                                       : "this device may not admit members"));
    }
  }
  return Caller{std::move(*session), std::move(*state)};
}

grpc::Status VaultSyncService::CheckQuota(const std::string& vault_id, std::uint64_t adding) {
  if (adding == 0) return grpc::Status::OK;
  // Read at every check, not cached: an operator may set it while the server runs.
  auto vault = store_.FindVault(View(vault_id));
  if (!vault) return Internal(vault.error());
  if (!*vault) return Refuse(StatusCode::PERMISSION_DENIED, "not a member of this vault");
  const std::uint64_t quota = (*vault)->quota_bytes != 0 ? (*vault)->quota_bytes : options_.quota_bytes;
  if (quota == 0) return grpc::Status::OK;
  const std::uint64_t used = (*vault)->bytes_used;
  if (used > quota || adding > quota - used) {
    return Refuse(StatusCode::RESOURCE_EXHAUSTED, "the vault's storage quota is exhausted");
  }
  return grpc::Status::OK;
}

// --- authentication --------------------------------------------------------------------

grpc::Status VaultSyncService::Challenge(ServerContext*, const sv::ChallengeRequest* request,
                                         sv::ChallengeResponse* response) {
  RpcLog log(logger_, "Challenge");
  log.SetVault(View(request->vault_id()));
  log.SetDevice(View(request->device_key()));
  if (!IsVaultId(request->vault_id()) || !IsDeviceKey(request->device_key())) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "vault id or device key has the wrong size"));
  }
  if (!Allowed(request->device_key())) return log.Done(Refuse(StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"));
  response->set_nonce(ToString(auth_.IssueChallenge(request->vault_id(), request->device_key(), Clock::now())));
  return log.Done(grpc::Status::OK);
}

grpc::Status VaultSyncService::Authenticate(ServerContext*, const sv::AuthenticateRequest* request,
                                            sv::AuthenticateResponse* response) {
  RpcLog log(logger_, "Authenticate");
  log.SetVault(View(request->vault_id()));
  log.SetDevice(View(request->device_key()));
  if (!IsVaultId(request->vault_id()) || !IsDeviceKey(request->device_key()) ||
      request->nonce().size() != kNonceBytes || request->signature().size() != crypto::kSignatureBytes) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "a field has the wrong size"));
  }
  SessionPurpose purpose;
  if (request->purpose() == "sync") {
    purpose = SessionPurpose::kSync;
  } else if (request->purpose() == "join") {
    purpose = SessionPurpose::kJoin;
  } else {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "purpose must be \"sync\" or \"join\""));
  }
  if (!Allowed(request->device_key())) return log.Done(Refuse(StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"));
  // Consumed before the signature is checked: a nonce gets one attempt, good or bad.
  if (!auth_.ConsumeChallenge(View(request->nonce()), request->vault_id(), request->device_key(), Clock::now())) {
    return log.Done(Refuse(StatusCode::UNAUTHENTICATED, "no outstanding challenge for this nonce"));
  }
  if (!crypto::VerifySignature(View(request->device_key()), AuthMessage(*request), View(request->signature()))) {
    return log.Done(Refuse(StatusCode::UNAUTHENTICATED, "signature is invalid"));
  }
  if (purpose == SessionPurpose::kSync) {
    auto state = LoadVault(request->vault_id());
    if (!state) return log.Done(Internal(state.error()));
    bool active = false;
    if (*state) {
      std::shared_lock lock((*state)->mu);
      active = (*state)->membership.IsActive(View(request->device_key()));
    }
    if (!active) return log.Done(Refuse(StatusCode::PERMISSION_DENIED, "not an active member of this vault"));
  }
  AuthTable& table = purpose == SessionPurpose::kSync ? auth_ : join_auth_;
  const crypto::Bytes token =
      table.IssueSession(Session{request->vault_id(), request->device_key(), purpose}, Clock::now());
  response->set_session_token(ToString(token));
  response->set_expires_in_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(auth_.limits().session_ttl).count());
  return log.Done(grpc::Status::OK);
}

// --- vault creation and joining -------------------------------------------------------

grpc::Status VaultSyncService::CreateVault(ServerContext*, const sv::CreateVaultRequest* request,
                                           sv::CreateVaultResponse* response) {
  RpcLog log(logger_, "CreateVault");
  const ObjectEnvelope& genesis = request->genesis();
  log.SetVault(View(request->vault_id()));
  log.SetDevice(View(genesis.author()));
  log.AddBytes(genesis.ByteSizeLong());
  if (!Allowed(genesis.author())) return log.Done(Refuse(StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"));
  // The token first: without one, nothing is revealed, not even whether a vault exists.
  // It is one of the token file's, or one the operator issued and has not revoked (the
  // store re-checks that atomically with the creation).
  const crypto::Bytes token_hash = EnrollTokenHash(request->enroll_token());
  if (!MatchesEnrollToken(options_.enroll_token_hashes, token_hash)) {
    auto issued = store_.FindEnrollToken(token_hash);
    if (!issued) return log.Done(Internal(issued.error()));
    if (!*issued || (*issued)->revoked) {
      return log.Done(Refuse(StatusCode::PERMISSION_DENIED, "enrollment token is not valid"));
    }
  }
  if (!IsVaultId(request->vault_id())) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "vault id must be 16 bytes"));
  }
  if (genesis.vault_id() != request->vault_id() || genesis.author_seq() != 1 || !genesis.prev_hash().empty() ||
      genesis.object_id().size() != kIdBytes || !IsDeviceKey(genesis.author()) ||
      genesis.ByteSizeLong() > kMaxEnvelopeBytes) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "genesis must be its author's first object in this vault"));
  }
  auto state = std::make_shared<VaultState>();
  if (!state->membership.Apply(genesis)) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "genesis is not a valid, signed GENESIS operation"));
  }
  state->membership_ops = 1;  // the genesis, a membership operation (pushes are checked against the count)
  auto outcome = store_.CreateVault(View(request->vault_id()), genesis, token_hash);
  if (!outcome) return log.Done(Internal(outcome.error()));
  switch (*outcome) {
    case CreateOutcome::kTokenSpent:
      return log.Done(Refuse(StatusCode::PERMISSION_DENIED, "enrollment token was already used"));
    case CreateOutcome::kTokenRevoked:
      return log.Done(Refuse(StatusCode::PERMISSION_DENIED, "enrollment token is not valid"));
    case CreateOutcome::kVaultExists:
      return log.Done(Refuse(StatusCode::ALREADY_EXISTS, "the vault already exists"));
    case CreateOutcome::kCreated:
      break;
  }
  {
    std::lock_guard lock(vaults_mu_);
    vaults_.emplace(request->vault_id(), std::move(state));
  }
  response->set_server_seq(1);
  return log.Done(grpc::Status::OK);
}

grpc::Status VaultSyncService::Join(ServerContext*, const sv::JoinRequest* request, sv::JoinResponse*) {
  RpcLog log(logger_, "Join");
  const auto& device = request->device();
  log.SetVault(View(request->vault_id()));
  log.SetDevice(View(device.signing_key()));
  if (!IsVaultId(request->vault_id()) || request->invite_id().size() != kInviteIdBytes ||
      !IsDeviceKey(device.signing_key()) || device.box_key().size() != kBoxKeyBytes || request->proof().empty() ||
      request->proof().size() > kMaxProofBytes || request->device_signature().size() != crypto::kSignatureBytes) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "a field has the wrong size"));
  }
  if (!Allowed(device.signing_key())) return log.Done(Refuse(StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"));
  if (!crypto::VerifySignature(View(device.signing_key()), vault::JoinSigningMessage(*request), View(request->device_signature()))) {
    return log.Done(Refuse(StatusCode::UNAUTHENTICATED, "device signature is invalid"));
  }
  auto state = LoadVault(request->vault_id());
  if (!state) return log.Done(Internal(state.error()));
  if (!*state) return log.Done(Refuse(StatusCode::NOT_FOUND, "no such vault"));
  {
    std::shared_lock lock((*state)->mu);
    if ((*state)->membership.FindInvite(View(request->invite_id())) == nullptr) {
      return log.Done(Refuse(StatusCode::FAILED_PRECONDITION, "the invite is not open"));
    }
    if ((*state)->membership.Find(View(device.signing_key())) != nullptr) {
      return log.Done(Refuse(StatusCode::FAILED_PRECONDITION, "the device is already a member"));
    }
  }
  auto stored = store_.PutJoinRequest(*request);
  if (!stored) return log.Done(Internal(stored.error()));
  if (!*stored) return log.Done(Refuse(StatusCode::ALREADY_EXISTS, "this invite already has a join request"));
  return log.Done(grpc::Status::OK);
}

grpc::Status VaultSyncService::ListJoinRequests(ServerContext* context, const sv::ListJoinRequestsRequest*,
                                                sv::ListJoinRequestsResponse* response) {
  RpcLog log(logger_, "ListJoinRequests");
  auto caller = Authorise(context, Need::kAdmitter, log);
  if (!caller) return log.Done(caller.error());
  auto requests = store_.ListJoinRequests(View(caller->session.vault_id));
  if (!requests) return log.Done(Internal(requests.error()));
  std::shared_lock lock(caller->state->mu);
  for (auto& r : *requests) {
    // An invite answered by an ADMIT (or never valid) is no longer anyone's business.
    if (caller->state->membership.FindInvite(View(r.invite_id())) != nullptr) {
      *response->add_requests() = std::move(r);
    }
  }
  return log.Done(grpc::Status::OK);
}

// --- objects ---------------------------------------------------------------------------

grpc::Status VaultSyncService::Push(ServerContext* context, const sv::PushRequest* request,
                                    sv::PushResponse* response) {
  RpcLog log(logger_, "Push");
  log.AddBytes(request->ByteSizeLong());
  auto caller = Authorise(context, Need::kMember, log);
  if (!caller) return log.Done(caller.error());
  if (request->objects_size() > static_cast<int>(kMaxPushObjects)) {
    return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "too many objects in one push"));
  }
  std::lock_guard push_lock(caller->state->push_mu);
  return log.Done(PushLocked(*caller, *request, *response));
}

// Another process may commit a membership operation between a push's checks and its
// write; the store then refuses the write (kAborted) and the push is checked again
// against the membership rebuilt from the store. A few rounds: each lost one means
// another membership operation was committed meanwhile, which is rare.
constexpr int kPushAttempts = 5;

grpc::Status VaultSyncService::PushLocked(const Caller& caller, const sv::PushRequest& request,
                                          sv::PushResponse& response) {
  for (int attempt = 1; attempt <= kPushAttempts; ++attempt) {
    if (std::optional<grpc::Status> done = PushOnce(caller, request, response)) return *done;
    logger_.Write(LogLevel::kInfo, {{"msg", "membership changed during a push; checking it again"}});
    if (auto reloaded = ReloadMembership(*caller.state, caller.session.vault_id); !reloaded) {
      return Internal(reloaded.error());
    }
  }
  return Refuse(StatusCode::ABORTED, "the vault's membership kept changing during this push; sync again");
}

std::optional<grpc::Status> VaultSyncService::PushOnce(const Caller& caller, const sv::PushRequest& request,
                                                       sv::PushResponse& response) {
  const std::string& vault_id = caller.session.vault_id;
  const std::string& device = caller.session.device_key;
  // The membership and the count of operations it was built from, as one snapshot:
  // the store writes only if its count is still this one.
  vault::Membership next;
  std::uint64_t membership_ops = 0;
  {
    std::shared_lock lock(caller.state->mu);
    next = caller.state->membership;
    membership_ops = caller.state->membership_ops;
  }
  // Authorise looked before push_mu was ours; a REVOKE may have landed since.
  if (!next.IsActive(View(device))) return Refuse(StatusCode::PERMISSION_DENIED, "not an active member of this vault");
  // Each author's chain head as the store holds it. Objects of other authors are relays:
  // a member sending back to a restored server what it lost (client/sync_client.cc).
  // Each is signed by its author and must extend that author's chain, and the author
  // must still be allowed to write, so a relay is checked exactly as its author's own
  // push would be: a member can relay nothing it could not have pulled.
  std::unordered_map<std::string, ChainHead> heads;
  auto head_of = [&](const std::string& author) -> Result<ChainHead*> {
    auto it = heads.find(author);
    if (it == heads.end()) {
      EVAULT_ASSIGN_OR_RETURN(ChainHead stored, store_.AuthorHead(View(vault_id), View(author)));
      it = heads.emplace(author, std::move(stored)).first;
    }
    return &it->second;
  };

  // Every envelope is checked before any is written, against the state the ones
  // before it will have made: the push is all or nothing.
  struct Slot {
    std::uint64_t stored_seq = 0;  // a replay of a stored object: its sequence
    int fresh = -1;                // else its index in `fresh`
  };
  std::vector<Slot> slots;            // one per request object
  std::vector<ObjectEnvelope> fresh;  // to append, in order
  std::unordered_map<std::string, int> fresh_by_id;
  std::uint64_t fresh_bytes = 0;
  bool membership_changed = false;
  for (const ObjectEnvelope& e : request.objects()) {
    if (e.vault_id() != vault_id) return Refuse(StatusCode::PERMISSION_DENIED, "an object belongs to another vault");
    const bool relayed = e.author() != device;
    if (relayed && !IsDeviceKey(e.author())) return Refuse(StatusCode::INVALID_ARGUMENT, "an object's author is malformed");
    if (e.object_id().size() != kIdBytes) return Refuse(StatusCode::INVALID_ARGUMENT, "object id must be 16 bytes");
    const std::size_t size = e.ByteSizeLong();
    if (size > kMaxEnvelopeBytes) return Refuse(StatusCode::INVALID_ARGUMENT, "an object is larger than 4 MiB");

    // A replay (a push whose reply was lost) gets the sequence it already has.
    if (auto it = fresh_by_id.find(e.object_id()); it != fresh_by_id.end()) {
      if (fresh[it->second].SerializeAsString() != e.SerializeAsString()) {
        return Refuse(StatusCode::ALREADY_EXISTS, "an object id is used twice with different contents");
      }
      slots.push_back({0, it->second});
      continue;
    }
    auto existing = store_.FindObject(View(vault_id), View(e.object_id()));
    if (!existing) return Internal(existing.error());
    if (*existing) {
      if ((*existing)->envelope.SerializeAsString() != e.SerializeAsString()) {
        return Refuse(StatusCode::ALREADY_EXISTS, "an object with this id is already stored");
      }
      slots.push_back({(*existing)->server_seq, -1});
      continue;
    }

    if (!vault::ObjectCodec::VerifySignature(e)) {
      return Refuse(StatusCode::INVALID_ARGUMENT, "an object's signature is invalid");
    }
    auto head = head_of(e.author());
    if (!head) return Internal(head.error());
    if (e.author_seq() != (*head)->author_seq + 1 || e.prev_hash() != ToString((*head)->hash)) {
      return Refuse(StatusCode::FAILED_PRECONDITION, "an object does not extend its author's chain");
    }
    if (!e.public_body().empty()) {
      if (!next.Apply(e)) return Refuse(StatusCode::PERMISSION_DENIED, "membership operation refused");
      membership_changed = true;
    } else if (!next.IsActive(View(e.author()))) {
      // Any active member appends sealed objects: legal devices log their views and
      // exports in the custody log. The server cannot see kinds; readers set aside
      // anything else a legal device signs.
      return Refuse(StatusCode::PERMISSION_DENIED, "this device may not write to the vault");
    } else if (auto shape = vault::ObjectCodec::CheckShape(e, next.current_epoch()); !shape) {
      // Every reader would have to skip it; refuse it at the door instead.
      return Refuse(StatusCode::INVALID_ARGUMENT, shape.error().message.c_str());  // fixed texts, no input echoed
    } else if (e.key_epoch() < next.current_epoch()) {
      // Sealed to keys a revoked or demoted device holds: the writer must pull the new
      // epoch and seal it again (the client does, then pushes again). A relay cannot.
      if (relayed) return Refuse(StatusCode::FAILED_PRECONDITION, "a relayed object is sealed to a key epoch that has ended");
      return Refuse(StatusCode::ABORTED, "an object is sealed to a key epoch that has ended; sync again");
    }
    **head = ChainHead{e.author_seq(), vault::ObjectCodec::ChainHash(e)};
    fresh_by_id.emplace(e.object_id(), static_cast<int>(fresh.size()));
    slots.push_back({0, static_cast<int>(fresh.size())});
    fresh.push_back(e);
    fresh_bytes += size;
  }

  if (auto quota = CheckQuota(vault_id, fresh_bytes); !quota.ok()) return quota;
  std::vector<Appended> appended;
  if (!fresh.empty()) {
    auto result = store_.Append(View(vault_id), fresh, membership_ops);
    if (!result && result.error().code == ErrorCode::kAborted) return std::nullopt;  // check again
    if (!result) return Internal(result.error());
    appended = std::move(*result);
  }
  // Durable: now the new membership may take effect, unless a newer one (another
  // replica's, read by a concurrent call) is cached already.
  if (membership_changed) {
    std::uint64_t ops = membership_ops;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (!fresh[i].public_body().empty() && !appended[i].existed) ++ops;
    }
    std::unique_lock lock(caller.state->mu);
    if (caller.state->membership_ops <= ops) {
      caller.state->membership = std::move(next);
      caller.state->membership_ops = ops;
    }
  }
  for (const Slot& slot : slots) {
    response.add_server_seq(slot.fresh >= 0 ? appended[slot.fresh].server_seq : slot.stored_seq);
  }
  // Answered invites: their join requests are done with. Best effort; the list
  // filters closed invites anyway.
  for (const auto& e : fresh) {
    if (e.public_body().empty()) continue;
    auto op = vault::Membership::ParseOp(e);
    if (op && op->kind() == sv::MembershipOp::ADMIT) {
      if (auto s = store_.RemoveJoinRequest(View(vault_id), View(op->invite_id())); !s) (void)Internal(s.error());
    }
  }
  return grpc::Status::OK;
}

// What PushLocked falls back on when the store refused a write: the membership as the
// store holds it now, whatever this process cached.
Status VaultSyncService::ReloadMembership(VaultState& state, const std::string& vault_id) {
  EVAULT_ASSIGN_OR_RETURN(auto envelopes, store_.MembershipEnvelopes(View(vault_id)));
  vault::Membership membership;
  for (const auto& e : envelopes) {
    if (auto s = membership.Apply(e); !s) {
      return Fail(ErrorCode::kCorrupt, "stored membership does not replay: " + s.error().message);
    }
  }
  // Taken even if the cache claims more operations: the store refused a write checked
  // against the cache, so the store is right.
  std::unique_lock lock(state.mu);
  state.membership = std::move(membership);
  state.membership_ops = envelopes.size();
  return Ok();
}

grpc::Status VaultSyncService::Pull(ServerContext* context, const sv::PullRequest* request,
                                    sv::PullResponse* response) {
  RpcLog log(logger_, "Pull");
  auto caller = Authorise(context, Need::kMember, log);
  if (!caller) return log.Done(caller.error());
  const std::uint32_t limit =
      request->limit() == 0 ? kDefaultPullLimit : std::min(request->limit(), kMaxPullLimit);
  const ByteView vault_id = View(caller->session.vault_id);
  auto objects = store_.Scan(vault_id, request->after_seq(), limit, kMaxPullBytes);
  if (!objects) return log.Done(Internal(objects.error()));
  // The head is read after the scan, so it is never below the last object returned.
  auto head = store_.HeadSeq(vault_id);
  if (!head) return log.Done(Internal(head.error()));
  for (auto& o : *objects) {
    auto* pulled = response->add_objects();
    pulled->set_server_seq(o.server_seq);
    *pulled->mutable_object() = std::move(o.envelope);
  }
  response->set_head_seq(*head);
  auto incarnation = store_.Incarnation();
  if (!incarnation) return log.Done(Internal(incarnation.error()));
  response->set_server_incarnation(std::string(crypto::AsText(*incarnation)));
  log.AddBytes(response->ByteSizeLong());
  return log.Done(grpc::Status::OK);
}

// --- attachment chunks ----------------------------------------------------------------

namespace {
// A list of chunk ids a client may ask about in one call: bounded, each 16 bytes.
grpc::Status CheckChunkIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (ids.size() > static_cast<int>(kMaxChunkIdsPerCall)) {
    return Refuse(StatusCode::INVALID_ARGUMENT, "too many chunk ids in one call");
  }
  for (const auto& id : ids) {
    if (id.size() != kChunkIdBytes) return Refuse(StatusCode::INVALID_ARGUMENT, "chunk id must be 16 bytes");
  }
  return grpc::Status::OK;
}
}  // namespace

grpc::Status VaultSyncService::MissingChunks(ServerContext* context, const sv::MissingChunksRequest* request,
                                             sv::MissingChunksResponse* response) {
  RpcLog log(logger_, "MissingChunks");
  auto caller = Authorise(context, Need::kMember, log);
  if (!caller) return log.Done(caller.error());
  if (auto checked = CheckChunkIds(request->chunk_ids()); !checked.ok()) return log.Done(checked);
  for (const auto& id : request->chunk_ids()) {
    auto has = store_.HasChunk(View(caller->session.vault_id), View(id));
    if (!has) return log.Done(Internal(has.error()));
    if (!*has) response->add_missing(id);
  }
  return log.Done(grpc::Status::OK);
}

grpc::Status VaultSyncService::StageChunks(const Caller& caller, Store::ChunkUpload& upload,
                                           std::vector<sv::Chunk>& batch) {
  if (batch.empty()) return grpc::Status::OK;
  const ByteView vault_id = View(caller.session.vault_id);
  std::uint64_t adding = upload.staged_bytes();
  for (const auto& c : batch) {
    auto has = store_.HasChunk(vault_id, View(c.chunk_id()));
    if (!has) return Internal(has.error());
    if (!*has) adding += c.data().size();
  }
  // Checked per batch: concurrent uploads to one vault may overshoot by an upload each.
  if (auto quota = CheckQuota(caller.session.vault_id, adding); !quota.ok()) return quota;
  if (auto staged = upload.Stage(batch); !staged) return Internal(staged.error());
  batch.clear();
  return grpc::Status::OK;
}

// The stream is one upload: chunks are staged in batches as they arrive and become
// durable and visible together when the stream ends, before the reply, so a fast
// stream pays for one flush. A slow one also commits every chunk_commit_interval; a
// stream that breaks off loses only what arrived since its last commit, and the client
// asks MissingChunks and sends that again.
grpc::Status VaultSyncService::PutChunks(ServerContext* context, grpc::ServerReader<sv::Chunk>* reader,
                                         sv::PutChunksResponse* response) {
  RpcLog log(logger_, "PutChunks");
  auto caller = Authorise(context, Need::kWriter, log);
  if (!caller) return log.Done(caller.error());
  auto upload = store_.BeginChunkUpload(View(caller->session.vault_id));
  if (!upload) return log.Done(Internal(upload.error()));
  std::vector<sv::Chunk> batch;
  std::size_t batch_bytes = 0;
  std::uint64_t received = 0;
  auto last_commit = Clock::now();
  sv::Chunk chunk;
  while (reader->Read(&chunk)) {
    log.AddBytes(chunk.ByteSizeLong());
    if (chunk.chunk_id().size() != kChunkIdBytes) {
      return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "chunk id must be 16 bytes"));
    }
    if (chunk.data().size() > kMaxChunkBytes) {
      return log.Done(Refuse(StatusCode::INVALID_ARGUMENT, "a chunk is larger than 1 MiB + 64 KiB"));
    }
    batch_bytes += chunk.data().size();
    batch.push_back(std::move(chunk));
    chunk.Clear();
    ++received;
    if (batch_bytes >= kChunkBatchBytes || batch.size() >= kMaxChunkBatchCount) {
      if (auto s = StageChunks(*caller, **upload, batch); !s.ok()) return log.Done(s);
      batch_bytes = 0;
      if (Clock::now() - last_commit >= options_.chunk_commit_interval) {
        if (auto committed = (*upload)->Commit(); !committed) return log.Done(Internal(committed.error()));
        upload = store_.BeginChunkUpload(View(caller->session.vault_id));
        if (!upload) return log.Done(Internal(upload.error()));
        last_commit = Clock::now();
      }
    }
  }
  if (context->IsCancelled()) return log.Done(Refuse(StatusCode::CANCELLED, "the upload was cancelled"));
  if (auto s = StageChunks(*caller, **upload, batch); !s.ok()) return log.Done(s);
  if (auto committed = (*upload)->Commit(); !committed) return log.Done(Internal(committed.error()));
  response->set_stored(received);
  return log.Done(grpc::Status::OK);
}

grpc::Status VaultSyncService::GetChunks(ServerContext* context, const sv::GetChunksRequest* request,
                                         grpc::ServerWriter<sv::Chunk>* writer) {
  RpcLog log(logger_, "GetChunks");
  auto caller = Authorise(context, Need::kMember, log);
  if (!caller) return log.Done(caller.error());
  if (auto checked = CheckChunkIds(request->chunk_ids()); !checked.ok()) return log.Done(checked);
  // Streams the chunks in the order asked, stopping at the first missing one. Blob files
  // are written past the page cache, so the next chunks are read while one is sent.
  const auto& ids = request->chunk_ids();
  const std::string& vault_id = caller->session.vault_id;
  vault::ReadAhead<Result<std::optional<std::string>>> chunks(
      static_cast<std::size_t>(ids.size()), kChunkReadAhead,
      [this, &ids, &vault_id](std::size_t i) { return store_.GetChunk(View(vault_id), View(ids[static_cast<int>(i)])); });
  for (const auto& id : ids) {
    if (context->IsCancelled()) return log.Done(Refuse(StatusCode::CANCELLED, "the download was cancelled"));
    auto data = chunks.Next();
    if (!data) return log.Done(Internal(data.error()));
    if (!*data) return log.Done(Refuse(StatusCode::NOT_FOUND, "a chunk is not stored"));
    sv::Chunk chunk;
    chunk.set_chunk_id(id);
    chunk.set_data(std::move(**data));
    log.AddBytes(chunk.ByteSizeLong());
    if (!writer->Write(chunk)) return log.Done(Refuse(StatusCode::CANCELLED, "the client went away"));
  }
  return log.Done(grpc::Status::OK);
}

}  // namespace evault::server
