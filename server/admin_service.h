// The Admin service (proto/evault_admin.proto) over a Store: what `evault-server admin`
// asks a running server. It is served only on the admin socket (server.h), whose file
// mode (0600) has already decided who the operator is, so it trusts its caller and its
// errors say exactly what went wrong. It never sees a key.
//
//   ListVaults         every vault's counts, last write and quota; the default quota
//   SetVaultQuota      0: back to the default. The sync service reads quotas at every
//                      check, so it holds from the next upload on.
//   CreateEnrollToken  a new token (kEnrollTokenBytes random bytes, hex) for one vault;
//                      the store keeps only its hash and the note: the reply is the one
//                      place the token ever appears
//   RevokeEnrollToken  an issued token, by the token or a unique hex prefix of its hash
//                      (at least kMinHashPrefixDigits). Tokens from the token file are
//                      not the store's to revoke: the error says to edit the file.
//   ListEnrollTokens   issued tokens: hash, creation time, note, state; never a token
//   Backup             Store::Backup into an absolute path the server can write
//
// Every call logs one line (rpc_log.h) named "Admin.<method>", with no token in it.
#pragma once

#include <cstdint>
#include <expected>
#include <vector>

#include "evault_admin.grpc.pb.h"
#include "server/rpc_log.h"
#include "server/store.h"

namespace evault::server {

inline constexpr std::size_t kEnrollTokenBytes = 16;    // 128 bits, 32 hex digits
inline constexpr std::size_t kMinHashPrefixDigits = 8;

struct AdminOptions {
  std::vector<crypto::Bytes> file_token_hashes;  // from --enroll-token-file
  std::uint64_t default_quota_bytes = 0;         // --quota-bytes
};

class AdminService final : public admin::v1::Admin::Service {
 public:
  // `store` and `logger` must outlive the service.
  AdminService(Store& store, AdminOptions options, Logger& logger);

  grpc::Status ListVaults(grpc::ServerContext*, const admin::v1::ListVaultsRequest*,
                          admin::v1::ListVaultsResponse* response) override;
  grpc::Status SetVaultQuota(grpc::ServerContext*, const admin::v1::SetVaultQuotaRequest* request,
                             admin::v1::SetVaultQuotaResponse*) override;
  grpc::Status CreateEnrollToken(grpc::ServerContext*, const admin::v1::CreateEnrollTokenRequest* request,
                                 admin::v1::CreateEnrollTokenResponse* response) override;
  grpc::Status RevokeEnrollToken(grpc::ServerContext*, const admin::v1::RevokeEnrollTokenRequest* request,
                                 admin::v1::RevokeEnrollTokenResponse* response) override;
  grpc::Status ListEnrollTokens(grpc::ServerContext*, const admin::v1::ListEnrollTokensRequest*,
                                admin::v1::ListEnrollTokensResponse* response) override;
  grpc::Status Backup(grpc::ServerContext*, const admin::v1::BackupRequest* request,
                      admin::v1::BackupResponse* response) override;

 private:
  // The hash of the issued token that `token_or_hash_prefix` names, or the status to
  // reply with.
  std::expected<crypto::Bytes, grpc::Status> ResolveToken(const std::string& token_or_hash_prefix);

  Store& store_;
  const AdminOptions options_;
  Logger& logger_;
};

}  // namespace evault::server
