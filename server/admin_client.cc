#include "server/admin_client.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "crypto/bytes.h"
#include "crypto/status.h"
#include "evault_admin.grpc.pb.h"
#include "server/postgres_store.h"
#include "server/rocksdb_restore.h"
#include "server/rocksdb_store.h"
#include "server/unix_socket.h"

namespace evault::server {

namespace av = admin::v1;
namespace fs = std::filesystem;

namespace {

constexpr std::chrono::seconds kCallDeadline{60};
constexpr std::chrono::hours kBackupDeadline{6};
constexpr int kHashDigitsShown = 16;

// --- formatting -------------------------------------------------------------------------

// "2026-11-26 21:07:08" (UTC); "-" for 0, the "not known" of VaultSummary.
std::string UtcTime(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(static_cast<std::time_t>(unix_seconds)));
}

// The same in ISO 8601 for JSON; null for 0.
nlohmann::ordered_json IsoTime(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return nullptr;
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(unix_seconds)));
}

// 1023 B, 1.0 KiB, 20.5 MiB, ...
std::string Size(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  for (; value >= 1024 && unit + 1 < std::size(kUnits); ++unit) value /= 1024;
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string Hex(const std::string& bytes) { return crypto::ToHex(crypto::AsBytes(bytes)); }

const char* StateName(av::EnrollToken::State state) {
  switch (state) {
    case av::EnrollToken::UNUSED: return "unused";
    case av::EnrollToken::SPENT: return "spent";
    case av::EnrollToken::REVOKED: return "revoked";
    default: return "unknown";
  }
}

// --- the connection -----------------------------------------------------------------------

class Connection {
 public:
  // Probes the socket first, so that a server that is not there is named as such.
  static Result<Connection> Open(const std::string& socket) {
    switch (const int err = ConnectUnixSocket(socket)) {
      case 0: break;
      case ENOENT:
      case ENOTDIR:
      case ECONNREFUSED:
        return Fail(ErrorCode::kNotFound,
                    fmt::format("no server answers on {}: evault-server is not running, or runs without "
                                "--admin-socket {}",
                                socket, socket));
      case EACCES:
      case EPERM:
        return Fail(ErrorCode::kPermissionDenied,
                    fmt::format("no permission to open {}: run this as the server's user or as root", socket));
      default:
        return Fail(ErrorCode::kIo, fmt::format("cannot connect to {}: {}", socket, std::strerror(err)));
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // a long vault list
    return Connection(socket, grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args));
  }

  template <typename Request, typename Response>
  Result<Response> Call(grpc::Status (av::Admin::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                        const Request& request, std::chrono::seconds deadline = kCallDeadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    Response response;
    const grpc::Status s = (stub_.get()->*method)(&context, request, &response);
    if (s.ok()) return response;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return Fail(ErrorCode::kIo, fmt::format("the server stopped answering on {}", socket_));
    }
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Fail(ErrorCode::kIo, fmt::format("the server did not answer within {} s", deadline.count()));
    }
    return Fail(ErrorCode::kInvalidArgument, s.error_message());
  }

 private:
  Connection(std::string socket, const std::shared_ptr<grpc::Channel>& channel)
      : socket_(std::move(socket)), stub_(av::Admin::NewStub(channel)) {}

  std::string socket_;
  std::unique_ptr<av::Admin::Stub> stub_;
};

// --- the commands -------------------------------------------------------------------------

Status ListVaults(Connection& server, bool json, std::ostream& out) {
  EVAULT_ASSIGN_OR_RETURN(auto response, server.Call(&av::Admin::Stub::ListVaults, av::ListVaultsRequest()));
  const std::uint64_t default_quota = response.default_quota_bytes();
  if (json) {
    auto vaults = nlohmann::ordered_json::array();
    for (const auto& v : response.vaults()) {
      vaults.push_back({{"vault_id", Hex(v.vault_id())},
                        {"objects", v.objects()},
                        {"bytes", v.bytes_used()},
                        {"last_write", IsoTime(v.last_write_unix())},
                        {"quota_bytes", v.quota_bytes()}});
    }
    out << nlohmann::ordered_json{{"vaults", vaults}, {"default_quota_bytes", default_quota}}.dump(2) << "\n";
    return Ok();
  }
  if (response.vaults().empty()) {
    out << "no vaults yet\n";
    return Ok();
  }
  out << fmt::format("{:<32}  {:>9}  {:>10}  {:<19}  {}\n", "VAULT", "OBJECTS", "BYTES", "LAST WRITE (UTC)", "QUOTA");
  std::uint64_t total = 0;
  for (const auto& v : response.vaults()) {
    const std::string quota = v.quota_bytes() != 0 ? Size(v.quota_bytes())
                              : default_quota != 0 ? fmt::format("default ({})", Size(default_quota))
                                                   : "none";
    out << fmt::format("{:<32}  {:>9}  {:>10}  {:<19}  {}\n", Hex(v.vault_id()), v.objects(), Size(v.bytes_used()),
                       UtcTime(v.last_write_unix()), quota);
    total += v.bytes_used();
  }
  out << fmt::format("{} vault{}, {} in all\n", response.vaults_size(), response.vaults_size() == 1 ? "" : "s",
                     Size(total));
  return Ok();
}

Status SetQuota(Connection& server, const std::string& vault_hex, std::uint64_t quota_bytes, std::ostream& out) {
  const auto vault_id = crypto::FromHex(vault_hex);
  if (!vault_id || vault_id->size() != 16) {
    return Fail(ErrorCode::kInvalidArgument, "a vault id is 32 hex digits, as `evault-server admin vaults` shows it");
  }
  av::SetVaultQuotaRequest request;
  request.set_vault_id(std::string(crypto::AsText(*vault_id)));
  request.set_quota_bytes(quota_bytes);
  EVAULT_TRY(server.Call(&av::Admin::Stub::SetVaultQuota, request));
  if (quota_bytes == 0) {
    out << fmt::format("vault {}: the server's default quota\n", crypto::ToHex(*vault_id));
  } else {
    out << fmt::format("vault {}: quota {} ({} bytes)\n", crypto::ToHex(*vault_id), Size(quota_bytes), quota_bytes);
  }
  return Ok();
}

Status CreateToken(Connection& server, const std::string& note, std::ostream& out) {
  av::CreateEnrollTokenRequest request;
  request.set_note(note);
  EVAULT_ASSIGN_OR_RETURN(auto response, server.Call(&av::Admin::Stub::CreateEnrollToken, request));
  out << response.token() << "\n";
  return Ok();
}

Status RevokeToken(Connection& server, const std::string& token_or_prefix, std::ostream& out) {
  av::RevokeEnrollTokenRequest request;
  request.set_token_or_hash_prefix(token_or_prefix);
  EVAULT_ASSIGN_OR_RETURN(auto response, server.Call(&av::Admin::Stub::RevokeEnrollToken, request));
  const std::string hash = Hex(response.token_hash()).substr(0, kHashDigitsShown);
  out << (response.already_revoked() ? fmt::format("token {} was revoked already\n", hash)
                                     : fmt::format("revoked token {}\n", hash));
  return Ok();
}

Status ListTokens(Connection& server, bool json, std::ostream& out) {
  EVAULT_ASSIGN_OR_RETURN(auto response,
                          server.Call(&av::Admin::Stub::ListEnrollTokens, av::ListEnrollTokensRequest()));
  if (json) {
    auto tokens = nlohmann::ordered_json::array();
    for (const auto& t : response.tokens()) {
      tokens.push_back({{"hash", Hex(t.token_hash())},
                        {"created", IsoTime(t.created_unix())},
                        {"state", StateName(t.state())},
                        {"note", t.note()}});
    }
    out << nlohmann::ordered_json{{"tokens", tokens}}.dump(2) << "\n";
    return Ok();
  }
  if (response.tokens().empty()) {
    out << "no tokens issued (tokens in the server's token file are not listed)\n";
    return Ok();
  }
  out << fmt::format("{:<16}  {:<19}  {:<7}  {}\n", "HASH", "CREATED (UTC)", "STATE", "NOTE");
  for (const auto& t : response.tokens()) {
    out << fmt::format("{:<16}  {:<19}  {:<7}  {}\n", Hex(t.token_hash()).substr(0, kHashDigitsShown),
                       UtcTime(t.created_unix()), StateName(t.state()), t.note());
  }
  return Ok();
}

Status Backup(Connection& server, const std::string& dir, std::ostream& out) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir, ec);  // the server's working directory is not ours
  if (ec) return Fail(ErrorCode::kInvalidArgument, fmt::format("bad path {}: {}", dir, ec.message()));
  av::BackupRequest request;
  request.set_directory(absolute.lexically_normal().string());
  EVAULT_ASSIGN_OR_RETURN(auto response, server.Call(&av::Admin::Stub::Backup, request, kBackupDeadline));
  out << fmt::format("backup written to {} ({} files, {})\n", request.directory(), response.files(),
                     Size(response.bytes()));
  return Ok();
}

Status Restore(const std::string& from, const std::string& data_dir, bool replace, std::ostream& out) {
  EVAULT_ASSIGN_OR_RETURN(RestoredStore restored, RestoreRocksDbBackup(from, data_dir, replace));
  out << fmt::format("restored {} into {} (new incarnation {})\n", from, data_dir,
                     crypto::ToHex(restored.incarnation));
  if (!restored.moved_aside.empty()) {
    out << fmt::format("the database it replaced is now {}; delete it once the restored server works\n",
                       restored.moved_aside.string());
  }
  return Ok();
}

Status MarkRestored(const std::string& data_dir, const std::string& postgres, std::ostream& out) {
  std::unique_ptr<Store> store;
  if (!postgres.empty()) {
    EVAULT_ASSIGN_OR_RETURN(store, PostgresStore::Open(postgres));
  } else {
    if (!fs::is_directory(fs::path(data_dir) / RocksDbStore::kDatabaseDir)) {
      return Fail(ErrorCode::kNotFound, fmt::format("{} holds no evault-server database", data_dir));
    }
    auto opened = RocksDbStore::Open(data_dir);
    if (!opened) {
      return Fail(opened.error().code,
                  fmt::format("cannot open the store in {} (is the server still running?): {}", data_dir,
                              opened.error().message));
    }
    store = std::move(*opened);
  }
  EVAULT_TRY(store->RenewIncarnation());
  EVAULT_ASSIGN_OR_RETURN(auto incarnation, store->Incarnation());
  out << fmt::format("new incarnation {}\n", crypto::ToHex(incarnation));
  return Ok();
}

}  // namespace

int AdminMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"Operator commands for evault-server: vaults, quota, token and backup talk to a running server over "
               "its admin socket (its --admin-socket); restore and mark-restored work on a stopped server's store.",
               "evault-server admin"};
  app.fallthrough();  // --socket after the command works too
  app.require_subcommand(1);
  std::string socket = kDefaultAdminSocket;
  app.add_option("--socket", socket, "the server's admin socket (its --admin-socket)")->capture_default_str();

  bool json = false;
  auto* vaults = app.add_subcommand("vaults", "list the vaults: id, objects, bytes, last write (UTC), quota");
  vaults->add_flag("--json", json, "as JSON, for scripts");

  std::string vault_hex;
  std::uint64_t quota_bytes = 0;
  auto* quota = app.add_subcommand("quota", "set a vault's storage quota");
  quota->add_option("VAULT_ID", vault_hex, "32 hex digits, as `vaults` lists")->required();
  quota->add_option("BYTES", quota_bytes, "e.g. 53687091200 or 50GiB; 0: back to the server's default (--quota-bytes)")
      ->required()
      ->transform(CLI::AsSizeValue(false));

  auto* token = app.add_subcommand("token", "enrollment tokens, each letting one device create one vault");
  token->require_subcommand(1);
  std::string note;
  auto* token_create = token->add_subcommand("create", "issue a token; it is printed once, on stdout");
  token_create->add_option("--note", note, "a short note for your records (at most 100 bytes), e.g. who gets it");
  std::string token_or_prefix;
  auto* token_revoke = token->add_subcommand("revoke", "revoke an issued token that was not used yet");
  token_revoke->add_option("TOKEN_OR_HASH_PREFIX", token_or_prefix, "the token, or its hash's start as `token list` shows")
      ->required();
  bool tokens_json = false;
  auto* token_list = token->add_subcommand("list", "issued tokens: hash, created (UTC), state, note; never the token");
  token_list->add_flag("--json", tokens_json, "as JSON, for scripts");

  std::string backup_dir;
  auto* backup = app.add_subcommand(
      "backup", "write a consistent copy of the running server's store into DIR, which must not exist; the server "
                "writes it, so DIR must be where the server may write (under systemd: inside /var/lib/evault-server)");
  backup->add_option("DIR", backup_dir, "the new backup directory")->required();

  std::string from, data_dir, postgres;
  bool replace = false;
  auto* restore = app.add_subcommand(
      "restore", "put a backup in place as the store of a stopped server (RocksDB), with a new incarnation");
  restore->add_option("--from", from, "the backup directory")->required();
  restore->add_option("--data", data_dir, "the server's data directory (its --data)")->required();
  restore->add_flag("--replace", replace, "move a database already there aside (to db.replaced-TIME) instead of refusing");

  std::string mark_data;
  auto* mark = app.add_subcommand(
      "mark-restored", "give a store restored by other means (pg_restore, a file system snapshot) a new incarnation, "
                       "with every server on it stopped");
  auto* mark_data_option = mark->add_option("--data", mark_data, "the server's data directory (its --data)");
  mark->add_option("--postgres", postgres, "the PostgreSQL connection string (its --postgres)")
      ->excludes(mark_data_option);
  mark->require_option(1);

  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them so
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help
    err << "evault-server admin: " << e.what() << " (see evault-server admin --help)\n";
    return 2;
  }

  auto run = [&]() -> Status {
    if (restore->parsed()) return Restore(from, data_dir, replace, out);
    if (mark->parsed()) return MarkRestored(mark_data, postgres, out);
    EVAULT_ASSIGN_OR_RETURN(Connection server, Connection::Open(socket));
    if (vaults->parsed()) return ListVaults(server, json, out);
    if (quota->parsed()) return SetQuota(server, vault_hex, quota_bytes, out);
    if (token_create->parsed()) return CreateToken(server, note, out);
    if (token_revoke->parsed()) return RevokeToken(server, token_or_prefix, out);
    if (token_list->parsed()) return ListTokens(server, tokens_json, out);
    return Backup(server, backup_dir, out);
  };
  if (auto s = run(); !s) {
    err << "evault-server admin: " << s.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace evault::server
