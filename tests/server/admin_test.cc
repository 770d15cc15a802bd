// `evault-server admin` against a real in-process server and its real admin socket:
// the Admin service is reachable there only (mode 0600), never on the public address;
// every command's output and failure; issued tokens enroll once, revoked ones never,
// and no listing shows a token; a quota set here holds at once; a backup taken while
// a device pushes restores to a server that serves a gap-free prefix of the history
// under a new incarnation; restore refuses a data directory in use or occupied.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "evault_admin.grpc.pb.h"
#include "server/admin_client.h"
#include "server/enroll_tokens.h"
#include "server/rocksdb_restore.h"
#include "tests/server/service_fixture.h"

namespace evault::server::testing {
namespace {

using grpc::StatusCode;
using nlohmann::json;

struct AdminRun {
  int code = -1;
  std::string out, err;
};

class AdminTest : public ServiceTest {
 protected:
  void SetUp() override {
    crypto::EnsureSodium();
    admin_socket_ = (dir_.path() / "admin.sock").string();
    Start();
  }

  // `evault-server admin --socket SOCKET args...`, in this process.
  AdminRun Admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", admin_socket_});
    return AdminOffline(args);
  }
  // The same without --socket: restore and mark-restored need none.
  AdminRun AdminOffline(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    AdminRun run;
    run.code = AdminMain(args, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
  }
  json AdminJson(std::vector<std::string> args) {
    AdminRun run = Admin(std::move(args));
    EXPECT_EQ(run.code, 0) << run.err;
    return json::parse(run.out, nullptr, false);
  }

  std::string VaultHex() const { return crypto::ToHex(vault_.id); }

  std::unique_ptr<Client> ClientOf(RunningServer& server) { return std::make_unique<Client>(server.address()); }
};

// --- the socket -------------------------------------------------------------------------

TEST_F(AdminTest, TheAdminServiceIsOnTheSocketOnlyWithMode0600) {
  struct stat st {};
  ASSERT_EQ(::stat(admin_socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(server_->admin_address(), "unix:" + admin_socket_);

  admin::v1::ListVaultsResponse out;
  {
    auto tcp = admin::v1::Admin::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    EXPECT_CODE(tcp->ListVaults(&context, {}, &out), StatusCode::UNIMPLEMENTED);
  }
  auto unix_socket = admin::v1::Admin::NewStub(grpc::CreateChannel(server_->admin_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  EXPECT_CODE(unix_socket->ListVaults(&context, {}, &out), StatusCode::OK);
  // Nor does the socket serve the sync service.
  auto sync_on_socket = sv::VaultSync::NewStub(grpc::CreateChannel(server_->admin_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext sync_context;
  sv::ChallengeResponse nonce;
  EXPECT_CODE(sync_on_socket->Challenge(&sync_context, {}, &nonce), StatusCode::UNIMPLEMENTED);
}

TEST_F(AdminTest, NoServerOnTheSocketIsSaidPlainly) {
  const AdminRun missing = AdminOffline({"--socket", (dir_.path() / "nothing.sock").string(), "vaults"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_NE(missing.err.find("evault-server is not running, or runs without --admin-socket"), std::string::npos)
      << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);

  Stop();
  const AdminRun stopped = Admin({"vaults"});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("is not running"), std::string::npos) << stopped.err;
}

TEST_F(AdminTest, ALiveAdminSocketIsNotTakenOver) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.credentials = grpc::InsecureServerCredentials();
  options.admin_socket = admin_socket_;
  options.service.log_sink = [](std::string_view) {};
  auto store = RocksDbStore::Open(dir_.path() / "other");
  ASSERT_TRUE(store.has_value());
  auto second = StartServer(std::move(options), std::move(*store));
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("another process serves the admin socket"), std::string::npos);
  // The first server still answers there.
  EXPECT_EQ(Admin({"vaults"}).code, 0);
}

TEST_F(AdminTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Admin({}).code, 2);
  EXPECT_EQ(Admin({"frobnicate"}).code, 2);
  EXPECT_EQ(Admin({"quota", VaultHex()}).code, 2);
  EXPECT_EQ(Admin({"quota", VaultHex(), "lots"}).code, 2);
  EXPECT_EQ(Admin({"token"}).code, 2);
  EXPECT_EQ(AdminOffline({"mark-restored"}).code, 2);
  const AdminRun help = Admin({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* command : {"vaults", "quota", "token", "backup", "restore", "mark-restored"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  }
}

// --- vaults and quotas ------------------------------------------------------------------

TEST_F(AdminTest, VaultsListsIdsCountsLastWriteAndQuota) {
  const AdminRun empty = Admin({"vaults"});
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, "no vaults yet\n");

  Start([](ServiceOptions& o) { o.quota_bytes = 50ull << 30; });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_), vault_.Sealed(owner_)}).ok());
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);

  const AdminRun table = Admin({"vaults"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("VAULT"), std::string::npos);
  EXPECT_NE(table.out.find(VaultHex()), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("default (50.0 GiB)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("1 vault, "), std::string::npos) << table.out;

  const json listed = AdminJson({"vaults", "--json"});
  ASSERT_TRUE(listed.is_object()) << listed;
  EXPECT_EQ(listed["default_quota_bytes"], 50ull << 30);
  ASSERT_EQ(listed["vaults"].size(), 1u);
  const json& v = listed["vaults"][0];
  EXPECT_EQ(v["vault_id"], VaultHex());
  EXPECT_EQ(v["objects"], 3);  // genesis and two
  EXPECT_GT(v["bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(v["quota_bytes"], 0);
  // Written just now, in UTC.
  std::tm tm{};
  const std::string last = v["last_write"];
  ASSERT_NE(::strptime(last.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << last;
  const auto written = std::chrono::system_clock::from_time_t(::timegm(&tm));
  EXPECT_GE(written, std::chrono::floor<std::chrono::seconds>(before));
  EXPECT_LE(written, std::chrono::system_clock::now());
}

TEST_F(AdminTest, AQuotaSetThroughTheSocketHoldsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const AdminRun set = Admin({"quota", VaultHex(), "1"});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, "vault " + VaultHex() + ": quota 1 B (1 bytes)\n");
  const ObjectEnvelope refused = vault_.Sealed(owner_);
  EXPECT_CODE(owner_client_->Push({refused}), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(AdminJson({"vaults", "--json"})["vaults"][0]["quota_bytes"], 1);

  const AdminRun sized = Admin({"quota", VaultHex(), "50GiB"});
  ASSERT_EQ(sized.code, 0) << sized.err;
  EXPECT_EQ(AdminJson({"vaults", "--json"})["vaults"][0]["quota_bytes"], 50ull << 30);
  EXPECT_CODE(owner_client_->Push({refused}), StatusCode::OK);

  const AdminRun reset = Admin({"quota", VaultHex(), "0"});
  ASSERT_EQ(reset.code, 0) << reset.err;
  EXPECT_EQ(reset.out, "vault " + VaultHex() + ": the server's default quota\n");
  EXPECT_EQ(AdminJson({"vaults", "--json"})["vaults"][0]["quota_bytes"], 0);

  const AdminRun unknown = Admin({"quota", crypto::ToHex(crypto::RandomBytes(16)), "5"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no vault"), std::string::npos) << unknown.err;
  const AdminRun malformed = Admin({"quota", "abc", "5"});
  EXPECT_EQ(malformed.code, 1);
  EXPECT_NE(malformed.err.find("32 hex digits"), std::string::npos) << malformed.err;
}

// --- enrollment tokens ------------------------------------------------------------------

TEST_F(AdminTest, AnIssuedTokenEnrollsOnceAndIsListedAsSpent) {
  const AdminRun created = Admin({"token", "create", "--note", "for the Lagos office"});
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_EQ(created.out.size(), 2 * kEnrollTokenBytes + 1) << created.out;
  const std::string token = created.out.substr(0, 2 * kEnrollTokenBytes);
  EXPECT_EQ(created.err, "");

  json listed = AdminJson({"token", "list", "--json"});
  ASSERT_EQ(listed["tokens"].size(), 1u) << listed;
  EXPECT_EQ(listed["tokens"][0]["state"], "unused");
  EXPECT_EQ(listed["tokens"][0]["note"], "for the Lagos office");
  EXPECT_EQ(listed["tokens"][0]["hash"], crypto::ToHex(EnrollTokenHash(token)));

  TestVault v;
  Device owner;
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), token), StatusCode::OK);
  TestVault again;
  Device other_owner;
  EXPECT_CODE(CreateVault(again, again.Genesis(other_owner), token), StatusCode::PERMISSION_DENIED);

  listed = AdminJson({"token", "list", "--json"});
  EXPECT_EQ(listed["tokens"][0]["state"], "spent");
  const AdminRun table = Admin({"token", "list"});
  ASSERT_EQ(table.code, 0);
  EXPECT_NE(table.out.find(crypto::ToHex(EnrollTokenHash(token)).substr(0, 16) + "  "), std::string::npos);
  EXPECT_NE(table.out.find("spent"), std::string::npos);
  // No listing ever shows the token, nor does the log.
  for (const std::string& text : {table.out, listed.dump(), Admin({"vaults", "--json"}).out}) {
    EXPECT_EQ(text.find(token), std::string::npos);
  }
  for (const auto& line : LogLines()) EXPECT_EQ(line.find(token), std::string::npos) << line;
  // A spent token is not revoked.
  const AdminRun revoke = Admin({"token", "revoke", token});
  EXPECT_EQ(revoke.code, 1);
  EXPECT_NE(revoke.err.find("used already"), std::string::npos) << revoke.err;
}

TEST_F(AdminTest, ARevokedTokenIsRefused) {
  const std::string token = Admin({"token", "create"}).out.substr(0, 2 * kEnrollTokenBytes);
  const std::string other = Admin({"token", "create"}).out.substr(0, 2 * kEnrollTokenBytes);
  const std::string hash = crypto::ToHex(EnrollTokenHash(token));

  // By a prefix of its hash, as `token list` shows it.
  const AdminRun revoked = Admin({"token", "revoke", hash.substr(0, 12)});
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "revoked token " + hash.substr(0, 16) + "\n");
  TestVault v;
  Device owner;
  const ObjectEnvelope genesis = v.Genesis(owner);
  EXPECT_CODE(CreateVault(v, genesis, token), StatusCode::PERMISSION_DENIED);
  const json listed = AdminJson({"token", "list", "--json"});
  ASSERT_EQ(listed["tokens"].size(), 2u);
  for (const auto& t : listed["tokens"]) {
    EXPECT_EQ(t["state"], t["hash"] == hash ? "revoked" : "unused") << t;
  }
  const AdminRun twice = Admin({"token", "revoke", token});  // by the token itself
  EXPECT_EQ(twice.code, 0) << twice.err;
  EXPECT_EQ(twice.out, "token " + hash.substr(0, 16) + " was revoked already\n");

  // The other one still works.
  EXPECT_CODE(CreateVault(v, genesis, other), StatusCode::OK);

  const AdminRun file_token = Admin({"token", "revoke", kToken});
  EXPECT_EQ(file_token.code, 1);
  EXPECT_NE(file_token.err.find("enrollment token file"), std::string::npos) << file_token.err;
  const AdminRun unknown = Admin({"token", "revoke", "00000000"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no issued token"), std::string::npos) << unknown.err;
  const AdminRun too_short = Admin({"token", "revoke", hash.substr(0, 4)});
  EXPECT_EQ(too_short.code, 1);
  EXPECT_NE(too_short.err.find("at least 8 hex digits"), std::string::npos) << too_short.err;
  const AdminRun bad_note = Admin({"token", "create", "--note", std::string(101, 'x')});
  EXPECT_EQ(bad_note.code, 1);
  EXPECT_NE(bad_note.err.find("at most 100 bytes"), std::string::npos) << bad_note.err;
}

TEST_F(AdminTest, AnAmbiguousHashPrefixRevokesNothing) {
  // Two issued hashes that share their first 8 hex digits, put in the store directly.
  Store* store = nullptr;
  Start({}, [&](std::unique_ptr<Store> inner) {
    store = inner.get();
    return inner;
  });
  Bytes first = *crypto::FromHex("abcdef01" + std::string(56, '1')), second = first;
  second[4] = 0x22;  // abcdef0122...
  ASSERT_TRUE(store->IssueEnrollToken(first, 1, "").has_value());
  ASSERT_TRUE(store->IssueEnrollToken(second, 2, "").has_value());
  const AdminRun ambiguous = Admin({"token", "revoke", "ABCDEF01"});
  EXPECT_EQ(ambiguous.code, 1);
  EXPECT_NE(ambiguous.err.find("2 issued tokens' hashes start with abcdef01: give more digits"), std::string::npos)
      << ambiguous.err;
  for (const auto& t : AdminJson({"token", "list", "--json"})["tokens"]) EXPECT_EQ(t["state"], "unused");
  const AdminRun one = Admin({"token", "revoke", "abcdef0122"});
  EXPECT_EQ(one.code, 0) << one.err;
  ASSERT_OK_AND_ASSIGN(auto revoked, store->FindEnrollToken(second));
  ASSERT_TRUE(revoked.has_value());
  EXPECT_TRUE(revoked->revoked);
}

// --- backup and restore ------------------------------------------------------------------

// A device pushes objects and chunks while the backup is taken; a server on the
// restored copy serves exactly a prefix of the live history, gap-free, with every chunk
// it admits to having readable, under a new incarnation.
TEST_F(AdminTest, ABackupTakenDuringPushesRestoresAGapFreePrefix) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  std::string live_incarnation;
  PullAll(*owner_client_, &live_incarnation);
  EXPECT_EQ(live_incarnation.size(), 16u);

  std::atomic<bool> stop{false};
  std::atomic<int> pushed{0};
  std::vector<sv::Chunk> chunks;
  std::mutex chunks_mu;
  Device& owner = owner_;
  std::thread writer([&] {
    auto client = NewClient();
    if (!client->Login(vault_, owner).ok()) return;
    while (!stop) {
      if (!client->Push({vault_.Sealed(owner)}).ok()) return;
      sv::Chunk chunk;
      chunk.set_chunk_id(Str(crypto::RandomBytes(16)));
      chunk.set_data(Str(crypto::RandomBytes(64 << 10)));
      if (!client->PutChunks({chunk}).ok()) return;
      {
        std::lock_guard lock(chunks_mu);
        chunks.push_back(std::move(chunk));
      }
      ++pushed;
    }
  });
  while (pushed < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::uint64_t head_before = HeadSeq(*owner_client_);
  std::size_t chunks_before = 0;
  {
    std::lock_guard lock(chunks_mu);
    chunks_before = chunks.size();
  }
  const fs::path backup = dir_.path() / "backups" / "one";
  fs::create_directories(backup.parent_path());
  const AdminRun made = Admin({"backup", backup.string()});
  const int pushed_at_backup = pushed;
  while (pushed < pushed_at_backup + 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_TRUE(made.out.starts_with("backup written to " + backup.string() + " (")) << made.out;
  const std::vector<sv::PulledObject> live = PullAll(*owner_client_);
  ASSERT_GT(live.size(), head_before);

  const fs::path restored_dir = dir_.path() / "restored";
  const AdminRun restored = AdminOffline({"restore", "--from", backup.string(), "--data", restored_dir.string()});
  ASSERT_EQ(restored.code, 0) << restored.err;
  EXPECT_NE(restored.out.find("new incarnation"), std::string::npos);

  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.credentials = grpc::InsecureServerCredentials();
  options.service.log_sink = [](std::string_view) {};
  auto store = RocksDbStore::Open(restored_dir);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto server = StartServer(std::move(options), std::move(*store));
  ASSERT_TRUE(server.has_value()) << server.error().message;
  auto client = ClientOf(**server);
  ASSERT_TRUE(client->Login(vault_, owner_).ok());
  std::string restored_incarnation;
  const std::vector<sv::PulledObject> back = PullAll(*client, &restored_incarnation);

  // A prefix: 1, 2, ... n with n between the head before and after the backup, each
  // object the very one the live server has at that sequence.
  ASSERT_GE(back.size(), head_before);
  ASSERT_LE(back.size(), live.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i].server_seq(), i + 1);
    EXPECT_EQ(back[i].object().SerializeAsString(), live[i].object().SerializeAsString()) << "seq " << i + 1;
  }
  EXPECT_EQ(restored_incarnation.size(), 16u);
  EXPECT_NE(restored_incarnation, live_incarnation);
  std::string live_again;
  PullAll(*owner_client_, &live_again);
  EXPECT_EQ(live_again, live_incarnation);  // the live server's own is unchanged

  // Chunks: those committed before the backup are there; any chunk the restored server
  // says it has, it can give, byte for byte.
  sv::MissingChunksRequest ask;
  for (const auto& c : chunks) ask.add_chunk_ids(c.chunk_id());
  sv::MissingChunksResponse missing;
  grpc::ClientContext context;
  client->Prepare(context);
  ASSERT_TRUE(client->stub().MissingChunks(&context, ask, &missing).ok());
  std::set<std::string> absent(missing.missing().begin(), missing.missing().end());
  std::vector<Bytes> present;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (i < chunks_before) {
      EXPECT_FALSE(absent.contains(chunks[i].chunk_id())) << "chunk " << i;
    }
    if (!absent.contains(chunks[i].chunk_id())) present.push_back(ToBytes(chunks[i].chunk_id()));
  }
  std::vector<sv::Chunk> got;
  ASSERT_TRUE(client->GetChunks(present, &got).ok());
  ASSERT_EQ(got.size(), present.size());
  std::map<std::string, std::string> sent;
  for (const auto& c : chunks) sent.emplace(c.chunk_id(), c.data());
  for (const auto& c : got) EXPECT_EQ(c.data(), sent[c.chunk_id()]);
}

TEST_F(AdminTest, BackupRefusesAnExistingDirectory) {
  const fs::path backup = dir_.path() / "exists";
  fs::create_directories(backup);
  const AdminRun refused = Admin({"backup", backup.string()});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("exists already"), std::string::npos) << refused.err;
  const AdminRun no_parent = Admin({"backup", (dir_.path() / "no" / "such" / "dir").string()});
  EXPECT_EQ(no_parent.code, 1);
  EXPECT_NE(no_parent.err.find("does not exist"), std::string::npos) << no_parent.err;
}

TEST_F(AdminTest, RestoreRefusesADatabaseInUseOrInPlace) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const fs::path backup = dir_.path() / "backup";
  ASSERT_EQ(Admin({"backup", backup.string()}).code, 0);

  // The live server's own data directory: its database is locked.
  const AdminRun in_use = AdminOffline({"restore", "--from", backup.string(), "--data", (dir_.path() / "data").string(), "--replace"});
  EXPECT_EQ(in_use.code, 1);
  EXPECT_NE(in_use.err.find("stop the server first"), std::string::npos) << in_use.err;

  const fs::path target = dir_.path() / "target";
  ASSERT_EQ(AdminOffline({"restore", "--from", backup.string(), "--data", target.string()}).code, 0);
  ASSERT_OK_AND_ASSIGN(auto first, RocksDbStore::Open(target));
  ASSERT_OK_AND_ASSIGN(Bytes first_incarnation, first->Incarnation());
  first.reset();
  const AdminRun occupied = AdminOffline({"restore", "--from", backup.string(), "--data", target.string()});
  EXPECT_EQ(occupied.code, 1);
  EXPECT_NE(occupied.err.find("holds a database already; --replace moves it aside"), std::string::npos)
      << occupied.err;

  // --replace moves the old one aside, whole, and the new one has its own incarnation.
  const AdminRun replaced = AdminOffline({"restore", "--from", backup.string(), "--data", target.string(), "--replace"});
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  std::vector<fs::path> aside;
  for (const auto& e : fs::directory_iterator(target)) {
    if (e.path().filename().string().starts_with("db.replaced-")) aside.push_back(e.path());
  }
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_NE(replaced.out.find(aside[0].string()), std::string::npos) << replaced.out;
  EXPECT_TRUE(fs::exists(aside[0] / "CURRENT"));
  ASSERT_OK_AND_ASSIGN(auto second, RocksDbStore::Open(target));
  ASSERT_OK_AND_ASSIGN(Bytes second_incarnation, second->Incarnation());
  EXPECT_NE(second_incarnation, first_incarnation);
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, second->HeadSeq(vault_.id));
  EXPECT_EQ(head, 1u);
  second.reset();
  // The backup itself is as it was: it restores again.
  const AdminRun again = AdminOffline({"restore", "--from", backup.string(), "--data", (dir_.path() / "t2").string()});
  EXPECT_EQ(again.code, 0) << again.err;

  const AdminRun not_a_backup = AdminOffline({"restore", "--from", target.string(), "--data", (dir_.path() / "t3").string()});
  EXPECT_EQ(not_a_backup.code, 1);
  EXPECT_NE(not_a_backup.err.find("is not a backup"), std::string::npos) << not_a_backup.err;
}

// Every file and directory from `top` down that is not owned by uid:gid.
std::vector<std::string> NotOwnedBy(const fs::path& top, uid_t uid, gid_t gid) {
  std::vector<std::string> out;
  auto check = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || st.st_uid != uid || st.st_gid != gid) {
      out.push_back(fmt::format("{} ({}:{})", p.string(), st.st_uid, st.st_gid));
    }
  };
  check(top);
  for (const auto& e : fs::recursive_directory_iterator(top)) check(e.path());
  return out;
}

// Run as root for a server that runs as another user (systemd's dynamic user owns the
// state directory), restore leaves no file of root's behind: the server could not open
// it, and systemd does not fix ownership below a directory whose own owner is right.
TEST_F(AdminTest, RestoreAsRootGivesTheFilesToTheDataDirectorysOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "restore hands files over only when run as root, and this test is not";
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const fs::path backup = dir_.path() / "backup";
  ASSERT_EQ(Admin({"backup", backup.string()}).code, 0);
  constexpr uid_t kUid = 61234;  // a user that need not exist, as a dynamic one
  constexpr gid_t kGid = 61235;

  // The state directory exists, owned by the server's user, mode 0700, with a database
  // in it already (replaced); as /var/lib/evault-server, reached through a link.
  const fs::path state = dir_.path() / "private" / "evault-server";
  ASSERT_EQ(AdminOffline({"restore", "--from", backup.string(), "--data", state.string()}).code, 0);
  const std::vector<std::string> all_roots = NotOwnedBy(state, 0, 0);
  ASSERT_TRUE(all_roots.empty()) << "the restore for the old database, made as root, should be root's";
  ASSERT_EQ(::chown(state.c_str(), kUid, kGid), 0);
  const fs::path link = dir_.path() / "evault-server";
  fs::create_directory_symlink(state, link);
  const AdminRun replaced =
      AdminOffline({"restore", "--from", backup.string(), "--data", link.string(), "--replace"});
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  const fs::path db = state / RocksDbStore::kDatabaseDir;
  ASSERT_TRUE(fs::exists(db / "CURRENT"));
  EXPECT_EQ(NotOwnedBy(db, kUid, kGid), std::vector<std::string>{});
  struct stat st {};
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUid);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // The database moved aside stays whose it was; the backup stays root's.
  for (const auto& e : fs::directory_iterator(state)) {
    if (e.path().filename().string().starts_with("db.replaced-")) {
      EXPECT_TRUE(NotOwnedBy(e.path(), 0, 0).empty()) << e.path();
    }
  }
  EXPECT_EQ(NotOwnedBy(backup, 0, 0), std::vector<std::string>{});

  // A data directory the restore makes (with a directory above it) takes the owner of
  // the nearest one that existed, itself included.
  const fs::path parent = dir_.path() / "srv";
  fs::create_directories(parent);
  ASSERT_EQ(::chown(parent.c_str(), kUid + 1, kGid + 1), 0);
  const fs::path made = parent / "evault" / "data";
  ASSERT_EQ(AdminOffline({"restore", "--from", backup.string(), "--data", made.string()}).code, 0);
  EXPECT_EQ(NotOwnedBy(parent / "evault", kUid + 1, kGid + 1), std::vector<std::string>{});
  ASSERT_TRUE(fs::exists(made / RocksDbStore::kDatabaseDir / "CURRENT"));

  // The restored store opens and holds the vault (as root here: ownership is not access).
  ASSERT_OK_AND_ASSIGN(auto store, RocksDbStore::Open(state));
  ASSERT_OK_AND_ASSIGN(std::uint64_t head, store->HeadSeq(vault_.id));
  EXPECT_EQ(head, 1u);
}

TEST_F(AdminTest, MarkRestoredRenewsAStoppedStoresIncarnation) {
  std::string before;
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  PullAll(*owner_client_, &before);
  const std::string data = (dir_.path() / "data").string();
  const AdminRun running = AdminOffline({"mark-restored", "--data", data});
  EXPECT_EQ(running.code, 1);
  EXPECT_NE(running.err.find("is the server still running?"), std::string::npos) << running.err;

  Stop();
  const AdminRun marked = AdminOffline({"mark-restored", "--data", data});
  ASSERT_EQ(marked.code, 0) << marked.err;
  Start();
  auto client = NewClient();
  ASSERT_TRUE(client->Login(vault_, owner_).ok());
  std::string after;
  PullAll(*client, &after);
  EXPECT_EQ(after.size(), 16u);
  EXPECT_NE(after, before);
  EXPECT_EQ(marked.out, "new incarnation " + crypto::ToHex(crypto::AsBytes(after)) + "\n");
}

}  // namespace
}  // namespace evault::server::testing
