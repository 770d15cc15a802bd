#include "client/sync_client.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <set>
#include <span>
#include <thread>

#include <fmt/core.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/bytes.h"
#include "crypto/digest.h"
#include "evault_sync.grpc.pb.h"
#include "vault/membership.h"
#include "vault/read_ahead.h"

namespace evault::client {

namespace pb = evault::sync::v1;
using crypto::Bytes;
using vault::SyncState;

namespace {

constexpr int kAttempts = 5;
constexpr std::size_t kChunksPerStream = 32;
constexpr std::size_t kReadAhead = 6;  // chunks read ahead of the one being sent (vault/read_ahead.h)
constexpr std::size_t kFirstStreamChunks = 4;
constexpr auto kStreamTarget = std::chrono::seconds(20);    // an upload stream's length, at the last rate
constexpr auto kStreamDeadline = std::chrono::seconds(120);
constexpr std::size_t kPushObjects = 500;
constexpr std::size_t kPushBytes = 4 << 20;

std::string Str(crypto::ByteView b) { return std::string(crypto::AsText(b)); }

ErrorCode CodeFor(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kPermissionDenied;  // exit 5: e.g. revoked
    case grpc::StatusCode::NOT_FOUND: return ErrorCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS: return ErrorCode::kAlreadyExists;
    default: return ErrorCode::kIo;
  }
}

const char* Describe(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE: return "cannot reach the server, or its certificate did not verify";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "the server did not answer in time";
    case grpc::StatusCode::UNAUTHENTICATED: return "the server refused this device's authentication";
    case grpc::StatusCode::PERMISSION_DENIED: return "the server refused";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "the server cannot take more now";
    case grpc::StatusCode::INVALID_ARGUMENT: return "the server rejected the request";
    case grpc::StatusCode::FAILED_PRECONDITION: return "the server's state does not allow this";
    case grpc::StatusCode::ABORTED: return "a key epoch began during this sync; run `evault sync` again";
    case grpc::StatusCode::NOT_FOUND: return "the server does not have it";
    case grpc::StatusCode::ALREADY_EXISTS: return "the server already has it";
    default: return "the server failed";
  }
}

Status FromGrpc(const grpc::Status& s, std::string_view doing) {
  if (s.ok()) return Ok();
  return Fail(CodeFor(s), fmt::format("{}: {} ({})", doing, Describe(s.error_code()), s.error_message().substr(0, 200)));
}

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Accepts a server whose leaf certificate has exactly the pinned SHA-256 fingerprint,
// for organisations that cannot run a CA. Chain and host name are then not checked:
// the pin is the whole trust decision.
class PinnedCertificateVerifier : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit PinnedCertificateVerifier(std::string fingerprint_hex) : pin_(std::move(fingerprint_hex)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    const auto pem = request->peer_cert();
    auto fingerprint = CertificateFingerprint(std::string_view(pem.data(), pem.size()));
    if (fingerprint && *fingerprint == pin_) {
      *sync_status = grpc::Status::OK;
    } else {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "the server certificate does not match the pinned fingerprint");
    }
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string pin_;
};

}  // namespace

Result<std::string> CertificateFingerprint(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (cert == nullptr) return Fail(ErrorCode::kInvalidArgument, "not a PEM certificate");
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert, &der);
  X509_free(cert);
  if (length <= 0) return Fail(ErrorCode::kInvalidArgument, "not a PEM certificate");
  const Bytes digest = crypto::Digest::Sha256(crypto::ByteView(der, static_cast<std::size_t>(length)));
  OPENSSL_free(der);
  return crypto::ToHex(digest);
}

Result<std::string> NormalizeFingerprint(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.starts_with("sha256fingerprint=")) hex = hex.substr(18);
  auto bytes = crypto::FromHex(hex);
  if (!bytes || bytes->size() != 32) {
    return Fail(ErrorCode::kInvalidArgument, "the fingerprint must be a SHA-256 in hex (64 digits, colons allowed)");
  }
  return hex;
}

bool IsLoopbackTarget(std::string_view target) {
  std::string host(target);
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

class SyncConnection {
 public:
  static Result<std::unique_ptr<SyncConnection>> Open(const SyncState::Config& config) {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (config.insecure) {
      if (!IsLoopbackTarget(config.server)) {
        return Fail(ErrorCode::kInvalidArgument, "--insecure is only allowed for a loopback server (tests)");
      }
      credentials = grpc::InsecureChannelCredentials();
    } else if (!config.server_fingerprint.empty()) {
      grpc::experimental::TlsChannelCredentialsOptions options;
      options.set_verify_server_certs(false);  // the pin below is the whole decision
      options.set_check_call_host(false);
      options.set_certificate_verifier(
          grpc::experimental::ExternalCertificateVerifier::Create<PinnedCertificateVerifier>(config.server_fingerprint));
      credentials = grpc::experimental::TlsCredentials(options);
    } else {
      if (config.ca_pem.empty()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "no way to verify the server: pass --ca-file FILE or --server-fingerprint SHA256");
      }
      grpc::SslCredentialsOptions options;
      options.pem_root_certs = config.ca_pem;
      credentials = grpc::SslCredentials(options);
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(32 << 20);
    args.SetMaxSendMessageSize(32 << 20);
    auto conn = std::unique_ptr<SyncConnection>(new SyncConnection());
    conn->stub_ = pb::VaultSync::NewStub(grpc::CreateCustomChannel(config.server, credentials, args));
    return conn;
  }

  // Runs a unary call with a deadline, retrying transient failures with backoff.
  template <typename Request, typename Response, typename Method>
  Status Call(std::string_view doing, Method method, const Request& request, Response* response,
              std::chrono::seconds deadline = std::chrono::seconds(30)) {
    return FromGrpc(CallWithRetries(method, request, response, deadline), doing);
  }

  template <typename Request, typename Response, typename Method>
  grpc::Status CallWithRetries(Method method, const Request& request, Response* response,
                               std::chrono::seconds deadline = std::chrono::seconds(30)) {
    grpc::Status status;
    auto delay = std::chrono::milliseconds(200);
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      grpc::ClientContext ctx;
      Prepare(ctx, deadline);
      status = (stub_.get()->*method)(&ctx, request, response);
      if (status.ok() || !Retryable(status)) break;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    return status;
  }

  void Prepare(grpc::ClientContext& ctx, std::chrono::seconds deadline) const {
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    if (!session_.empty()) ctx.AddMetadata("evault-session", session_);
  }

  Status Authenticate(SyncState& state, std::string_view purpose) {
    pb::ChallengeRequest challenge;
    challenge.set_vault_id(Str(state.vault_id()));
    challenge.set_device_key(Str(state.device().public_key()));
    pb::ChallengeResponse nonce;
    EVAULT_TRY(Call("asking the server for a challenge", &pb::VaultSync::Stub::Challenge, challenge, &nonce));
    pb::AuthenticateRequest auth;
    auth.set_vault_id(challenge.vault_id());
    auth.set_device_key(challenge.device_key());
    auth.set_nonce(nonce.nonce());
    auth.set_purpose(std::string(purpose));
    auth.set_signature(Str(state.device().Sign(vault::AuthSigningMessage(
        crypto::AsBytes(nonce.nonce()), state.vault_id(), state.device().public_key(), purpose))));
    pb::AuthenticateResponse session;
    EVAULT_TRY(Call("authenticating to the server", &pb::VaultSync::Stub::Authenticate, auth, &session));
    session_ = crypto::ToHex(crypto::AsBytes(session.session_token()));
    return Ok();
  }

  pb::VaultSync::Stub& stub() { return *stub_; }

 private:
  SyncConnection() = default;
  std::unique_ptr<pb::VaultSync::Stub> stub_;
  std::string session_;
};

namespace {

// Which of `ids` the server lacks, in order.
Result<std::vector<std::string>> MissingOnServer(SyncConnection& conn, std::span<const std::string> ids) {
  pb::MissingChunksRequest ask;
  for (const auto& id : ids) ask.add_chunk_ids(id);
  pb::MissingChunksResponse missing;
  EVAULT_TRY(conn.Call("asking which chunks the server lacks", &pb::VaultSync::Stub::MissingChunks, ask, &missing));
  return std::vector<std::string>(missing.missing().begin(), missing.missing().end());
}

// One PutChunks stream, written to its end but not yet finished: the server commits it
// (a flush and an fsync) while the client writes the next stream, so the link does not
// idle during commits. Finish() waits for the commit.
struct WrittenStream {
  std::size_t begin = 0;  // where its chunks start in the upload's list
  std::size_t count = 0;
  std::uint64_t bytes = 0;
  double write_seconds = 0;
  // Declared in this order so that the writer is destroyed before what it refers to.
  std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<pb::PutChunksResponse> stored = std::make_unique<pb::PutChunksResponse>();
  std::unique_ptr<grpc::ClientWriter<pb::Chunk>> writer;

  grpc::Status Finish() { return writer->Finish(); }
};

// Writes the chunks `ids[begin, begin + count)` as one stream. A failed write is not an
// error here: Finish() reports it.
Result<WrittenStream> WriteStream(SyncConnection& conn, SyncState& state, std::span<const std::string> ids,
                                  std::size_t begin, std::size_t count) {
  WrittenStream stream;
  stream.begin = begin;
  stream.count = count;
  const auto chunk_ids = ids.subspan(begin, count);
  const auto began = std::chrono::steady_clock::now();
  conn.Prepare(*stream.ctx, kStreamDeadline);
  stream.writer = conn.stub().PutChunks(stream.ctx.get(), stream.stored.get());
  vault::ReadAhead<Result<std::string>> chunks(chunk_ids.size(), kReadAhead, [&state, &chunk_ids](std::size_t i) {
    return state.ReadChunk(crypto::AsBytes(chunk_ids[i]));
  });
  bool write_failed = false;
  for (std::size_t i = 0; i < chunk_ids.size(); ++i) {
    EVAULT_ASSIGN_OR_RETURN(std::string data, chunks.Next());
    pb::Chunk chunk;
    chunk.set_chunk_id(chunk_ids[i]);
    stream.bytes += data.size();
    chunk.set_data(std::move(data));
    if (!stream.writer->Write(chunk)) {
      write_failed = true;
      break;
    }
  }
  if (!write_failed) stream.writer->WritesDone();
  stream.write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return stream;
}

// Streams are sized to the link: each should take about kStreamTarget at the rate the
// last one was written (1 to kChunksPerStream chunks), so that a slow link, such as a
// phone's, stays well inside the deadline and a broken stream costs little. The first
// stream is short, to measure. At most two streams are open: the one being written and
// the one the server is committing. After a failure the server may have committed part
// of either (it commits every few seconds), so the client asks again what it lacks and
// sends only that, in shorter streams.
Status UploadChunks(SyncConnection& conn, SyncState& state, SyncReport& report, const SyncProgress& progress) {
  EVAULT_ASSIGN_OR_RETURN(auto uploads, state.PendingUploads());
  for (const auto& transfer : uploads) {
    // Chunks stored before an interruption are not sent again.
    std::vector<std::string> ids;
    for (const auto& id : transfer.chunk_ids) ids.push_back(Str(id));
    EVAULT_ASSIGN_OR_RETURN(std::vector<std::string> todo, MissingOnServer(conn, ids));
    const std::uint64_t total = todo.size();
    std::uint64_t done = 0;
    std::size_t per_stream = kFirstStreamChunks;
    std::size_t next = 0;  // todo[next...] is not written yet
    std::optional<WrittenStream> committing;
    int failures = 0;
    auto delay = std::chrono::milliseconds(200);
    while (next < todo.size() || committing) {
      std::optional<WrittenStream> written;
      if (next < todo.size()) {
        const std::size_t count = std::min(per_stream, todo.size() - next);
        EVAULT_ASSIGN_OR_RETURN(written, WriteStream(conn, state, todo, next, count));
        next += count;
        per_stream = std::clamp<std::size_t>(
            static_cast<std::size_t>(std::chrono::duration<double>(kStreamTarget).count() * static_cast<double>(count) /
                                     std::max(written->write_seconds, 1e-3)),
            1, kChunksPerStream);
      }
      if (committing) {
        const grpc::Status status = committing->Finish();
        if (status.ok()) {
          report.uploaded_chunks += committing->count;
          report.uploaded_bytes += committing->bytes;
          done += committing->count;
          failures = 0;
          delay = std::chrono::milliseconds(200);
          if (progress) progress("upload", done, total);
        } else {
          // The stream written meanwhile is finished too; what either kept is asked below.
          if (written) (void)written->Finish();
          written.reset();
          if (!Retryable(status) || ++failures >= kAttempts) {
            return FromGrpc(status, "uploading attachment chunks");
          }
          std::this_thread::sleep_for(delay);
          delay *= 2;
          per_stream = std::max<std::size_t>(1, committing->count / 2);
          const auto first = todo.begin() + static_cast<std::ptrdiff_t>(committing->begin);
          const auto last = todo.begin() + static_cast<std::ptrdiff_t>(next);
          EVAULT_ASSIGN_OR_RETURN(std::vector<std::string> still,
                                  MissingOnServer(conn, std::span<const std::string>(&*first, last - first)));
          const std::size_t kept = static_cast<std::size_t>(last - first) - still.size();
          report.uploaded_chunks += kept;
          done += kept;
          next = committing->begin;
          todo.erase(first, last);
          todo.insert(todo.begin() + static_cast<std::ptrdiff_t>(next), still.begin(), still.end());
          if (progress) progress("upload", done, total);
        }
      }
      committing = std::move(written);
    }
    EVAULT_TRY(state.MarkUploaded(transfer.attachment_id));
  }
  return Ok();
}

Status PushObjects(SyncConnection& conn, SyncState& state, SyncReport& report) {
  while (true) {
    EVAULT_ASSIGN_OR_RETURN(auto objects, state.Unpushed(kPushObjects, kPushBytes));
    if (objects.empty()) return Ok();
    pb::PushRequest push;
    for (auto& o : objects) *push.add_objects() = std::move(o);
    pb::PushResponse acknowledged;
    EVAULT_TRY(conn.Call("pushing objects", &pb::VaultSync::Stub::Push, push, &acknowledged));
    if (acknowledged.server_seq_size() != push.objects_size()) {
      return Fail(ErrorCode::kTampered, "the server acknowledged a different number of objects than pushed");
    }
    EVAULT_TRY(state.MarkPushed(push.objects(push.objects_size() - 1).author_seq()));
    report.pushed_objects += push.objects_size();
  }
}

// Sends back to a restored server what it lost and this device holds: its own objects
// and other devices' (SyncState::PrepareRelay), in the order the server first had them.
// The server takes an object on its author's behalf only if it extends that author's
// chain and the author may still write; an author whose object it refuses is skipped
// from there on (its later objects could not follow) and stays in report.server_gap
// (this device's own: PushObjects then says why).
Status RelayObjects(SyncConnection& conn, SyncState& state, const std::vector<std::string>& held,
                    SyncReport& report) {
  auto refusal = [](const grpc::Status& s) {
    switch (s.error_code()) {
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::FAILED_PRECONDITION:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::ALREADY_EXISTS:
      case grpc::StatusCode::ABORTED: return true;
      default: return false;
    }
  };
  const std::string me = Str(state.device().public_key());
  // This device's own objects among them count as acknowledged once the server has them.
  auto push = [&](const pb::PushRequest& request) -> Result<grpc::Status> {
    pb::PushResponse acknowledged;
    grpc::Status s = conn.CallWithRetries(&pb::VaultSync::Stub::Push, request, &acknowledged);
    if (!s.ok()) return s;
    if (acknowledged.server_seq_size() != request.objects_size()) {
      return Fail(ErrorCode::kTampered, "the server acknowledged a different number of objects than sent");
    }
    std::uint64_t own = 0;
    for (const auto& e : request.objects()) {
      if (e.author() == me) {
        own = e.author_seq();
        ++report.resent_objects;
      } else {
        ++report.relayed_objects;
      }
    }
    if (own > 0) EVAULT_TRY(state.MarkPushed(own));
    return s;
  };
  std::set<std::string> refused;  // authors
  std::size_t next = 0;
  while (next < held.size()) {
    pb::PushRequest batch;
    std::size_t bytes = 0;
    while (next < held.size() && batch.objects_size() < static_cast<int>(kPushObjects) && bytes < kPushBytes) {
      EVAULT_ASSIGN_OR_RETURN(auto envelope, state.HeldObject(held[next]));
      ++next;
      if (refused.contains(envelope.author())) continue;
      bytes += envelope.ByteSizeLong();
      *batch.add_objects() = std::move(envelope);
    }
    if (batch.objects().empty()) break;
    EVAULT_ASSIGN_OR_RETURN(grpc::Status s, push(batch));
    if (s.ok()) continue;
    if (!refusal(s)) return FromGrpc(s, "sending back what the restored server lost");
    // One at a time, to find whose objects the server refuses.
    for (const auto& envelope : batch.objects()) {
      if (refused.contains(envelope.author())) continue;
      pb::PushRequest one;
      *one.add_objects() = envelope;
      EVAULT_ASSIGN_OR_RETURN(s, push(one));
      if (refusal(s)) {
        refused.insert(envelope.author());
      } else if (!s.ok()) {
        return FromGrpc(s, "sending back what the restored server lost");
      }
    }
  }
  return Ok();
}

Status PullObjects(SyncConnection& conn, SyncState& state, SyncReport& report, const SyncProgress& progress) {
  while (true) {
    pb::PullRequest request;
    request.set_after_seq(state.pulled_seq());
    request.set_limit(1000);
    pb::PullResponse page;
    EVAULT_TRY(conn.Call("pulling objects", &pb::VaultSync::Stub::Pull, request, &page));
    EVAULT_ASSIGN_OR_RETURN(auto outcome, state.ApplyPulled(page));
    if (outcome.server_restored) {
      report.server_restored = true;  // pulled_seq is back at 0: the loop starts over
      continue;
    }
    report.rechecked_objects += outcome.rechecked;
    report.pulled_objects += outcome.objects;
    report.pulled_evidence += outcome.evidence;
    report.admitted_now = report.admitted_now || outcome.admitted_now;
    report.rejected_objects += outcome.rejected;
    report.server_head = page.head_seq();
    if (progress) progress("pull", state.pulled_seq(), page.head_seq());
    if (state.pulled_seq() >= page.head_seq()) return Ok();
  }
}

Status DownloadChunks(SyncConnection& conn, SyncState& state, SyncReport& report, const SyncProgress& progress) {
  EVAULT_ASSIGN_OR_RETURN(auto downloads, state.PendingDownloads());
  for (const auto& transfer : downloads) {
    std::vector<std::uint64_t> needed;
    for (std::uint64_t i = 0; i < transfer.chunk_ids.size(); ++i) {
      EVAULT_ASSIGN_OR_RETURN(bool have, state.HasChunk(transfer.chunk_ids[i]));
      if (!have) needed.push_back(i);
    }
    std::uint64_t done = 0;
    for (std::size_t start = 0; start < needed.size(); start += kChunksPerStream) {
      const std::size_t end = std::min(needed.size(), start + kChunksPerStream);
      pb::GetChunksRequest request;
      for (std::size_t k = start; k < end; ++k) request.add_chunk_ids(Str(transfer.chunk_ids[needed[k]]));
      grpc::ClientContext ctx;
      conn.Prepare(ctx, std::chrono::seconds(120));
      auto reader = conn.stub().GetChunks(&ctx, request);
      pb::Chunk chunk;
      std::size_t k = start;
      while (reader->Read(&chunk)) {
        if (k >= end || chunk.chunk_id() != Str(transfer.chunk_ids[needed[k]])) {
          ctx.TryCancel();
          return Fail(ErrorCode::kTampered, "the server sent a chunk that was not asked for");
        }
        EVAULT_TRY(state.StoreChunk(transfer.attachment_id, needed[k], transfer.chunk_ids.size(),
                                    crypto::AsBytes(chunk.data())));
        report.downloaded_chunks += 1;
        report.downloaded_bytes += chunk.data().size();
        ++k;
        if (progress) progress("download", ++done, needed.size());
      }
      EVAULT_TRY(FromGrpc(reader->Finish(), "downloading attachment chunks"));
      if (k != end) return Fail(ErrorCode::kTampered, "the server withheld attachment chunks");
    }
    EVAULT_TRY(state.CompleteDownload(transfer.attachment_id));
  }
  return Ok();
}

}  // namespace

Result<SyncReport> RunSync(vault::Vault& v, const SyncState::Config& config,
                           const std::optional<std::string>& enroll_token, const SyncProgress& progress) {
  SyncState state(v);
  SyncReport report;
  EVAULT_ASSIGN_OR_RETURN(auto conn, SyncConnection::Open(config));

  if (enroll_token) {
    if (state.pushed_seq() != 0) {
      return Fail(ErrorCode::kInvalidArgument, "this vault is already on a server; --enroll-token is for its first sync");
    }
    EVAULT_ASSIGN_OR_RETURN(auto first, state.Unpushed(1, kPushBytes));
    if (first.empty() || first[0].author_seq() != 1 || first[0].public_body().empty()) {
      return Fail(ErrorCode::kInvalidArgument, "only the device that created the vault can enroll it on a server");
    }
    pb::CreateVaultRequest create;
    create.set_vault_id(Str(state.vault_id()));
    create.set_enroll_token(*enroll_token);
    *create.mutable_genesis() = first[0];
    pb::CreateVaultResponse created;
    EVAULT_TRY(conn->Call("creating the vault on the server", &pb::VaultSync::Stub::CreateVault, create, &created));
    EVAULT_TRY(state.MarkPushed(1));
    report.created_vault = true;
  }

  if (auto auth = conn->Authenticate(state, "sync"); !auth) {
    if (!state.admitted()) {
      report.awaiting_admission = true;  // the inviter has not synced since our request
      return report;
    }
    return std::unexpected(auth.error());
  }
  // A server restored from a backup (found by a complete pull) gets back what it lost
  // and this device holds, before anything new; each sync tries again while a gap
  // remains. Returns whether anything was sent.
  auto catch_up = [&]() -> Result<bool> {
    EVAULT_ASSIGN_OR_RETURN(report.server_gap, state.GapOnServer());
    if (report.server_gap.own_objects == 0 && report.server_gap.others_objects == 0) return false;
    EVAULT_ASSIGN_OR_RETURN(auto held, state.PrepareRelay());
    if (held.empty()) return false;
    EVAULT_TRY(UploadChunks(*conn, state, report, progress));
    EVAULT_TRY(RelayObjects(*conn, state, held, report));
    return true;
  };
  // Pull first with something to push, to learn whether a key epoch began (a revocation
  // or role change) and seal what is unpushed to it, so nothing new reaches a departed
  // device; and with lost objects to send again, since another device may have sent them
  // back already.
  EVAULT_ASSIGN_OR_RETURN(auto gap_before, state.GapOnServer());
  const bool pull_first = state.author_seq() > state.pushed_seq() || gap_before.own_objects > 0;
  if (pull_first) {
    EVAULT_TRY(PullObjects(*conn, state, report, progress));
  }
  EVAULT_TRY(catch_up());
  if (pull_first) {
    EVAULT_ASSIGN_OR_RETURN(report.resealed_objects, state.ResealStaleUnpushed());
  }
  EVAULT_TRY(UploadChunks(*conn, state, report, progress));
  EVAULT_TRY(PushObjects(*conn, state, report));
  EVAULT_TRY(PullObjects(*conn, state, report, progress));
  EVAULT_ASSIGN_OR_RETURN(bool sent, catch_up());
  if (sent) {
    // What went back comes back once more, each object checked against what this device saw.
    EVAULT_TRY(PullObjects(*conn, state, report, progress));
    EVAULT_ASSIGN_OR_RETURN(report.server_gap, state.GapOnServer());
  }
  EVAULT_TRY(DownloadChunks(*conn, state, report, progress));

  if (state.admitted() && state.membership().CanAdmit(state.device().public_key())) {
    pb::ListJoinRequestsResponse joins;
    EVAULT_TRY(conn->Call("listing join requests", &pb::VaultSync::Stub::ListJoinRequests,
                          pb::ListJoinRequestsRequest(), &joins));
    std::vector<pb::JoinRequest> requests(joins.requests().begin(), joins.requests().end());
    EVAULT_ASSIGN_OR_RETURN(report.admitted, state.AdmitJoinRequests(requests));
  }
  // Keys members lack (a new epoch after a revocation, new keys of granted cases).
  EVAULT_ASSIGN_OR_RETURN(report.shared_keys, state.ShareMissingKeys());
  EVAULT_ASSIGN_OR_RETURN(bool checkpointed, state.WriteCheckpointIfNeeded());
  // The sync's own custody entry (when evidence moved; custody entries and checkpoints
  // alone do not count, or two devices would log each other's syncs forever).
  EVAULT_TRY(state.RecordSync(report.pushed_objects, report.pulled_evidence, report.uploaded_chunks,
                              report.downloaded_chunks));
  if (checkpointed || state.author_seq() > state.pushed_seq()) {
    const auto before = report.pushed_objects;
    EVAULT_TRY(PushObjects(*conn, state, report));
    report.pushed_objects = before;  // bookkeeping objects are not the user's
  }
  return report;
}

Status FileJoinRequest(const SyncState::Config& config, const pb::JoinRequest& request) {
  EVAULT_ASSIGN_OR_RETURN(auto conn, SyncConnection::Open(config));
  pb::JoinResponse response;
  auto s = conn->Call("filing the join request", &pb::VaultSync::Stub::Join, request, &response);
  if (!s && s.error().code == ErrorCode::kAlreadyExists) return Ok();  // filed before
  return s;
}

std::string FormatInviteCode(std::string_view vault_id_hex, crypto::ByteView secret, std::string_view server) {
  return fmt::format("evault1/{}/{}/{}", vault_id_hex, crypto::ToHex(secret), server);
}

Result<InviteCode> ParseInviteCode(std::string_view code) {
  auto bad = [] { return Fail(ErrorCode::kInvalidArgument, "the invite code is malformed"); };
  if (!code.starts_with("evault1/")) return bad();
  code.remove_prefix(8);
  const auto a = code.find('/');
  if (a == std::string_view::npos) return bad();
  const auto b = code.find('/', a + 1);
  if (b == std::string_view::npos) return bad();
  InviteCode out;
  out.vault_id_hex = std::string(code.substr(0, a));
  auto vault_id = crypto::FromHex(out.vault_id_hex);
  auto secret = crypto::FromHex(code.substr(a + 1, b - a - 1));
  out.server = std::string(code.substr(b + 1));
  if (!vault_id || vault_id->size() != 16 || !secret || secret->size() != 32 || out.server.empty() ||
      out.server.size() > 255) {
    return bad();
  }
  out.secret = *secret;
  return out;
}

}  // namespace evault::client
