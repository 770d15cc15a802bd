#include "server/admin_service.h"

#include <chrono>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "crypto/secret_bytes.h"
#include "server/enroll_tokens.h"
#include "server/store_checks.h"

namespace evault::server {

namespace av = admin::v1;
namespace fs = std::filesystem;
using grpc::StatusCode;

namespace {

// The operator is the caller: the error's own message, under the closest gRPC code.
grpc::Status ToStatus(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument: return {StatusCode::INVALID_ARGUMENT, error.message};
    case ErrorCode::kNotFound: return {StatusCode::NOT_FOUND, error.message};
    case ErrorCode::kAlreadyExists: return {StatusCode::ALREADY_EXISTS, error.message};
    case ErrorCode::kPermissionDenied: return {StatusCode::PERMISSION_DENIED, error.message};
    case ErrorCode::kUnsupported: return {StatusCode::FAILED_PRECONDITION, error.message};
    case ErrorCode::kNoSpace: return {StatusCode::RESOURCE_EXHAUSTED, error.message};
    default: return {StatusCode::INTERNAL, error.message};
  }
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Str(crypto::ByteView b) { return std::string(crypto::AsText(b)); }

bool IsHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

AdminService::AdminService(Store& store, AdminOptions options, Logger& logger)
    : store_(store), options_(std::move(options)), logger_(logger) {
  crypto::EnsureSodium();
}

grpc::Status AdminService::ListVaults(grpc::ServerContext*, const av::ListVaultsRequest*,
                                      av::ListVaultsResponse* response) {
  RpcLog log(logger_, "Admin.ListVaults");
  auto vaults = store_.ListVaults();
  if (!vaults) return log.Done(ToStatus(vaults.error()));
  for (const VaultSummary& v : *vaults) {
    av::VaultSummary* out = response->add_vaults();
    out->set_vault_id(Str(v.vault_id));
    out->set_objects(v.objects);
    out->set_bytes_used(v.bytes_used);
    out->set_last_write_unix(v.last_write_unix);
    out->set_quota_bytes(v.quota_bytes);
  }
  response->set_default_quota_bytes(options_.default_quota_bytes);
  return log.Done(grpc::Status::OK);
}

grpc::Status AdminService::SetVaultQuota(grpc::ServerContext*, const av::SetVaultQuotaRequest* request,
                                         av::SetVaultQuotaResponse*) {
  RpcLog log(logger_, "Admin.SetVaultQuota");
  const crypto::ByteView vault_id = crypto::AsBytes(request->vault_id());
  log.SetVault(vault_id);
  if (vault_id.size() != kIdBytes) {
    return log.Done({StatusCode::INVALID_ARGUMENT, "a vault id is 16 bytes (32 hex digits)"});
  }
  if (auto s = store_.SetVaultQuota(vault_id, request->quota_bytes()); !s) {
    if (s.error().code == ErrorCode::kNotFound) {
      return log.Done({StatusCode::NOT_FOUND, fmt::format("no vault {} on this server", crypto::ToHex(vault_id))});
    }
    return log.Done(ToStatus(s.error()));
  }
  return log.Done(grpc::Status::OK);
}

grpc::Status AdminService::CreateEnrollToken(grpc::ServerContext*, const av::CreateEnrollTokenRequest* request,
                                             av::CreateEnrollTokenResponse* response) {
  RpcLog log(logger_, "Admin.CreateEnrollToken");
  if (auto s = CheckEnrollTokenNote(request->note()); !s) return log.Done(ToStatus(s.error()));
  const std::string token = crypto::ToHex(crypto::RandomBytes(kEnrollTokenBytes));
  const crypto::Bytes hash = EnrollTokenHash(token);
  if (auto s = store_.IssueEnrollToken(hash, UnixNow(), request->note()); !s) return log.Done(ToStatus(s.error()));
  response->set_token(token);
  response->set_token_hash(Str(hash));
  return log.Done(grpc::Status::OK);
}

std::expected<crypto::Bytes, grpc::Status> AdminService::ResolveToken(const std::string& given) {
  // The token itself? (A full hash in hex is not a token: its hash matches nothing.)
  const crypto::Bytes hash = EnrollTokenHash(given);
  auto issued = store_.FindEnrollToken(hash);
  if (!issued) return std::unexpected(ToStatus(issued.error()));
  if (*issued) return hash;
  if (MatchesEnrollToken(options_.file_token_hashes, hash)) {
    return std::unexpected(grpc::Status(StatusCode::FAILED_PRECONDITION,
                                        "that token is in the server's enrollment token file: remove it from the "
                                        "file and restart the server"));
  }
  // A prefix of its hash, as `token list` shows it.
  if (!IsHex(given) || given.size() < kMinHashPrefixDigits) {
    return std::unexpected(grpc::Status(
        StatusCode::NOT_FOUND, fmt::format("no issued token is that token, and it is not a hash prefix of at least {} "
                                           "hex digits (see `token list`)",
                                           kMinHashPrefixDigits)));
  }
  const std::string prefix = Lower(given);
  auto tokens = store_.ListEnrollTokens();
  if (!tokens) return std::unexpected(ToStatus(tokens.error()));
  std::vector<crypto::Bytes> matches;
  for (const auto& t : *tokens) {
    if (crypto::ToHex(t.hash).starts_with(prefix)) matches.push_back(t.hash);
  }
  if (matches.empty()) {
    return std::unexpected(grpc::Status(StatusCode::NOT_FOUND, fmt::format("no issued token's hash starts with {}", prefix)));
  }
  if (matches.size() > 1) {
    return std::unexpected(grpc::Status(
        StatusCode::INVALID_ARGUMENT,
        fmt::format("{} issued tokens' hashes start with {}: give more digits", matches.size(), prefix)));
  }
  return matches.front();
}

grpc::Status AdminService::RevokeEnrollToken(grpc::ServerContext*, const av::RevokeEnrollTokenRequest* request,
                                             av::RevokeEnrollTokenResponse* response) {
  RpcLog log(logger_, "Admin.RevokeEnrollToken");
  auto hash = ResolveToken(request->token_or_hash_prefix());
  if (!hash) return log.Done(hash.error());
  auto outcome = store_.RevokeEnrollToken(*hash);
  if (!outcome) return log.Done(ToStatus(outcome.error()));
  if (*outcome == RevokeOutcome::kSpent) {
    return log.Done({StatusCode::FAILED_PRECONDITION,
                     fmt::format("token {} was used already: a vault was created with it", crypto::ToHex(*hash).substr(0, 16))});
  }
  response->set_token_hash(Str(*hash));
  response->set_already_revoked(*outcome == RevokeOutcome::kAlreadyRevoked);
  return log.Done(grpc::Status::OK);
}

grpc::Status AdminService::ListEnrollTokens(grpc::ServerContext*, const av::ListEnrollTokensRequest*,
                                            av::ListEnrollTokensResponse* response) {
  RpcLog log(logger_, "Admin.ListEnrollTokens");
  auto tokens = store_.ListEnrollTokens();
  if (!tokens) return log.Done(ToStatus(tokens.error()));
  for (const auto& t : *tokens) {
    av::EnrollToken* out = response->add_tokens();
    out->set_token_hash(Str(t.hash));
    out->set_created_unix(t.created_unix);
    out->set_note(t.note);
    out->set_state(t.spent ? av::EnrollToken::SPENT : t.revoked ? av::EnrollToken::REVOKED : av::EnrollToken::UNUSED);
  }
  return log.Done(grpc::Status::OK);
}

grpc::Status AdminService::Backup(grpc::ServerContext*, const av::BackupRequest* request, av::BackupResponse* response) {
  RpcLog log(logger_, "Admin.Backup");
  const fs::path dir(request->directory());
  if (!dir.is_absolute()) {
    return log.Done({StatusCode::INVALID_ARGUMENT, "the backup directory must be an absolute path"});
  }
  if (auto s = store_.Backup(dir); !s) return log.Done(ToStatus(s.error()));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    response->set_files(response->files() + 1);
    response->set_bytes(response->bytes() + it->file_size(ec));
  }
  log.AddBytes(response->bytes());
  return log.Done(grpc::Status::OK);
}

}  // namespace evault::server
