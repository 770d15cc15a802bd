// VaultSync (proto/evault_sync.proto) over a Store: the server's whole policy.
//
// The server holds no key. It authorises from public, signed membership operations,
// replayed through the same Membership rules the clients run, and it checks every
// author's signed hash chain before it stores an object, so a client cannot make it
// hold a forged operation or a forked chain.
//
//   Challenge       32-byte nonce for (vault, device key); single use, 60 s.
//   Authenticate    Ed25519 over AppendField("evault-auth-v1", nonce, vault id, device
//                   key, purpose). "sync": the device must be an active member. Gives
//                   a 15-minute session token, sent hex-encoded as metadata
//                   "evault-session". "join": proves the key only; no RPC takes it
//                   yet, and such sessions are capped apart from members' sessions.
//   CreateVault     needs an unspent enrollment token, from the token file or issued
//                   (and not revoked) by the operator, and a valid GENESIS.
//   Join            no session; signed by the joining device; one per open invite.
//   Push            atomic: every envelope is checked (vault, author = session device,
//                   signature, size, chain, membership rules) before any is stored;
//                   replying only after the durable write. An envelope already stored
//                   with identical bytes is a replay and gets its old sequence. The
//                   store writes only if the vault's membership is still the one the
//                   push was checked against (Store::Append), else it is checked again:
//                   a revocation through another replica cannot slip in between.
//   Pull, chunks    active members read; writers (not LEGAL) upload. Pull also gives
//                   the store's incarnation (Store::Incarnation).
// Sessions are re-checked against the current membership on every call, so a revoked
// device is refused at once. Every RPC logs one line (rpc_log.h); every refusal has a
// gRPC status and none crashes the server.
#pragma once

#include <chrono>
#include <expected>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "evault_sync.grpc.pb.h"
#include "server/auth_table.h"
#include "server/rate_limiter.h"
#include "server/rpc_log.h"
#include "server/store.h"
#include "vault/membership.h"

namespace evault::server {

inline constexpr std::size_t kMaxEnvelopeBytes = 4 << 20;
inline constexpr std::size_t kMaxPushObjects = 1000;
inline constexpr std::uint32_t kDefaultPullLimit = 1000;
inline constexpr std::uint32_t kMaxPullLimit = 5000;
inline constexpr std::size_t kMaxPullBytes = 8 << 20;
inline constexpr std::size_t kMaxChunkIdsPerCall = 10000;
inline constexpr std::size_t kMaxChunkBytes = (1 << 20) + (64 << 10);
inline constexpr std::size_t kChunkBatchBytes = 8 << 20;  // staged (quota-checked) at this size
inline constexpr char kSessionMetadataKey[] = "evault-session";

struct ServiceOptions {
  std::vector<crypto::Bytes> enroll_token_hashes;  // EnrollTokenHash of each token
  // Per vault, unless the vault has its own (Store::SetVaultQuota); 0: no quota.
  std::uint64_t quota_bytes = 0;
  double rate_limit = 0;                           // requests/s per device; 0: none
  double rate_burst = 0;                           // 0: one second's worth
  AuthTable::Limits auth_limits;
  LogLevel log_level = LogLevel::kInfo;
  Logger::Sink log_sink;  // default: stderr
  RpcObserver* rpc_observer = nullptr;  // told of every RPC (metrics); must outlive the service
  // A chunk stream commits what it has staged once this long has passed since its last
  // commit (at a batch boundary), not only when it ends: over a slow link a stream may
  // outlive the client's deadline, and what arrived must not be lost with it.
  std::chrono::milliseconds chunk_commit_interval{5000};
  // Other server processes write to the same store (replicas on PostgreSQL): the cached
  // membership of a vault is checked against the store's at every call and rebuilt when
  // another process appended a membership operation, so an admission or a revocation
  // made through one replica holds on all of them from their next call.
  bool shared_store = false;
};

class VaultSyncService final : public sync::v1::VaultSync::Service {
 public:
  // `store` must outlive the service.
  VaultSyncService(Store& store, ServiceOptions options);

  Logger& logger() { return logger_; }

  grpc::Status Challenge(grpc::ServerContext* context, const sync::v1::ChallengeRequest* request,
                         sync::v1::ChallengeResponse* response) override;
  grpc::Status Authenticate(grpc::ServerContext* context, const sync::v1::AuthenticateRequest* request,
                            sync::v1::AuthenticateResponse* response) override;
  grpc::Status CreateVault(grpc::ServerContext* context, const sync::v1::CreateVaultRequest* request,
                           sync::v1::CreateVaultResponse* response) override;
  grpc::Status Join(grpc::ServerContext* context, const sync::v1::JoinRequest* request,
                    sync::v1::JoinResponse* response) override;
  grpc::Status ListJoinRequests(grpc::ServerContext* context, const sync::v1::ListJoinRequestsRequest* request,
                                sync::v1::ListJoinRequestsResponse* response) override;
  grpc::Status Push(grpc::ServerContext* context, const sync::v1::PushRequest* request,
                    sync::v1::PushResponse* response) override;
  grpc::Status Pull(grpc::ServerContext* context, const sync::v1::PullRequest* request,
                    sync::v1::PullResponse* response) override;
  grpc::Status MissingChunks(grpc::ServerContext* context, const sync::v1::MissingChunksRequest* request,
                             sync::v1::MissingChunksResponse* response) override;
  grpc::Status PutChunks(grpc::ServerContext* context, grpc::ServerReader<sync::v1::Chunk>* reader,
                         sync::v1::PutChunksResponse* response) override;
  grpc::Status GetChunks(grpc::ServerContext* context, const sync::v1::GetChunksRequest* request,
                         grpc::ServerWriter<sync::v1::Chunk>* writer) override;

 private:
  // The in-memory state of one vault: its membership, rebuilt from the store's
  // membership envelopes on first use. Pushes are serialised by push_mu (the chain
  // and membership checks must see the state they will extend); readers take mu
  // shared and are blocked only while a push swaps in the new membership.
  struct VaultState {
    std::mutex push_mu;
    mutable std::shared_mutex mu;
    vault::Membership membership;
    std::size_t membership_ops = 0;  // the store's membership envelopes it was built from
  };

  // What an authorised call knows about its caller.
  struct Caller {
    Session session;
    std::shared_ptr<VaultState> state;
  };
  enum class Need { kMember, kWriter, kAdmitter };

  // Session from metadata, rate limit, vault state and `need`, checked in turn; the
  // error is the status to reply with.
  std::expected<Caller, grpc::Status> Authorise(grpc::ServerContext* context, Need need, RpcLog& log);
  bool Allowed(std::string_view device_key);
  // The cached state, else rebuilt from the store; nullptr if the vault does not exist.
  Result<std::shared_ptr<VaultState>> LoadVault(const std::string& vault_id);

  // A push with the vault's push_mu held: checked and appended by PushOnce, again
  // after ReloadMembership when the store refused the write because another process
  // changed the membership in between (Store::Append's membership_ops).
  grpc::Status PushLocked(const Caller& caller, const sync::v1::PushRequest& request,
                          sync::v1::PushResponse& response);
  // The reply; nullopt if the store refused the write with kAborted (nothing written).
  std::optional<grpc::Status> PushOnce(const Caller& caller, const sync::v1::PushRequest& request,
                                       sync::v1::PushResponse& response);
  // Rebuilds `state`'s membership from the store's membership envelopes.
  Status ReloadMembership(VaultState& state, const std::string& vault_id);
  grpc::Status StageChunks(const Caller& caller, Store::ChunkUpload& upload, std::vector<sync::v1::Chunk>& batch);
  grpc::Status CheckQuota(const std::string& vault_id, std::uint64_t adding);
  // Logs the detail (for the operator) and returns a bare INTERNAL (for the client), or
  // RESOURCE_EXHAUSTED for a full disk.
  grpc::Status Internal(const Error& error);

  Store& store_;
  const ServiceOptions options_;
  Logger logger_;
  AuthTable auth_;       // challenges and sync sessions
  AuthTable join_auth_;  // join sessions, capped apart
  RateLimiter limiter_;

  std::mutex vaults_mu_;
  std::map<std::string, std::shared_ptr<VaultState>> vaults_;  // by vault id bytes
};

}  // namespace evault::server
