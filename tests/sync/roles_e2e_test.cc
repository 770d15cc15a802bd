// Roles enforced by keys (issue #4), end to end: a real evault-server over TLS on
// loopback and the real evault binary as an owner, two monitors, a legal device and a
// coordinator. Where the claim is about cryptography rather than about what the CLI
// chooses to show, the vault library opens a copy of the server's data with every key
// a device holds; where it is about lies, the real service runs in this process over
// a store that invents objects (a lying server), or is sent forged operations over
// gRPC by the devices whose keys signed them.
//
// "Every key a device holds" is the device's Keyring, in Vault::Impl behind a private
// member; no public API exposes it. The tests reach it through the explicit-
// instantiation access rule (TestOnlyImpl below) and change no library code; a test
// hook in the library (a keyring accessor for tests) would be cleaner.
//
// Joining the devices is done once per process (see Template) and copied for each test.
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "audit/custody.h"
#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "evault_sync.grpc.pb.h"
#include "server/enroll_tokens.h"
#include "server/forwarding_store.h"
#include "server/rocksdb_store.h"
#include "server/server.h"
#include "tests/cli/cli_fixture.h"
#include "tests/sync/server_process.h"
#include "vault/keyring.h"
#include "vault/membership.h"
#include "vault/object.h"
#include "vault/sync_state.h"
#include "vault/vault.h"
#include "vault/vault_impl.h"

#include "tests/vault/impl_access.h"

namespace evault::sync_test {
namespace {

using cli_test::RunEvault;
using cli_test::RunOptions;
using cli_test::RunResult;
using crypto::Bytes;
using format::v1::ObjectEnvelope;
using nlohmann::json;
namespace pb = evault::sync::v1;

using vault::TestOnlyImpl;

constexpr char kKdfOps[] = "2";
constexpr char kKdfMib[] = "64";

struct Device {
  std::string name;
  std::string role;  // as `member list` prints it
  fs::path home, vault, pass;
  std::string passphrase;
  std::string id;           // device id
  std::string fingerprint;  // as printed by `init --join`
  RunResult Ev(std::vector<std::string> args, const RunOptions& options = {}) const {
    args.insert(args.begin(), {"--vault", vault.string(), "--passphrase-file", pass.string()});
    return RunEvault(args, options);
  }
};

std::string FirstWord(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }
bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Every regular file under `dir` that contains `needle` (bytes, like grep -a).
std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (Contains(cli_test::ReadFile(entry.path()), needle)) hits.push_back(entry.path().string());
  }
  return hits;
}

// Concatenation of every file under `dir`, for many byte searches at once.
std::string AllBytesUnder(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) all += cli_test::ReadFile(entry.path()) + std::string(8, '\xff');
  }
  return all;
}

// `size` bytes: `marker`, then pseudo-random bytes.
std::string FileContent(const std::string& marker, std::size_t size, unsigned seed) {
  std::string out = marker;
  std::mt19937_64 rng(seed);
  while (out.size() < size) out.push_back(static_cast<char>(rng() & 0xff));
  return out;
}

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// --- the server's data, read like someone who copied it --------------------------------

struct ServerData {
  std::vector<server::StoredObject> objects;  // in server order
  std::vector<std::string> chunks;            // every sealed chunk
  std::vector<ObjectEnvelope> MembershipOps() const {
    std::vector<ObjectEnvelope> ops;
    for (const auto& o : objects) {
      if (!o.envelope.public_body().empty()) ops.push_back(o.envelope);
    }
    return ops;
  }
};

ServerData ReadServerData(const fs::path& copy, const Bytes& vault_id) {
  ServerData out;
  {
    auto store = server::RocksDbStore::Open(copy);
    if (!store) {
      ADD_FAILURE() << "cannot open the server data copy: " << store.error().message;
      return out;
    }
    auto objects = (*store)->Scan(vault_id, 0, 1000000, std::size_t{1} << 31);
    if (!objects) {
      ADD_FAILURE() << objects.error().message;
      return out;
    }
    out.objects = std::move(*objects);
  }
  std::vector<std::string> families;
  const std::string db_dir = (copy / "db").string();  // RocksDbStore keeps its database in DIR/db
  auto listed = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db_dir, &families);
  if (!listed.ok()) {
    ADD_FAILURE() << listed.ToString();
    return out;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto opened = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db_dir, descriptors, &handles, &raw);
  if (!opened.ok()) {
    ADD_FAILURE() << opened.ToString();
    return out;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  for (std::size_t i = 0; i < families.size(); ++i) {
    if (families[i] != "chunks") continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.chunks.push_back(it->value().ToString());
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return out;
}

// --- the keys a device holds, and an attacker trying them on everything ----------------

struct KeySet {
  Bytes signing_key;
  std::vector<crypto::BoxKeyPair> keys;  // every X25519 secret it holds, deduplicated

  void Add(const crypto::BoxKeyPair* k) {
    if (k == nullptr) return;
    for (const auto& have : keys) {
      if (have.public_key() == k->public_key()) return;
    }
    keys.push_back(*crypto::BoxKeyPair::FromSecretKey(k->secret_key().Clone()));
  }
  void AddAll(const vault::Keyring& keyring) {
    for (std::uint64_t epoch = 1; epoch <= 16; ++epoch) {
      const vault::OpeningKeys k = keyring.For(epoch, /*mine=*/true);
      Add(k.readers);
      for (const auto* s : k.second) Add(s);
      for (const auto* a : k.author) Add(a);
    }
  }
};

// Opens a copy of the device's vault directory (as someone holding the device and its
// passphrase would) and collects its keys: its keyring as stored, its box key, and
// every key the server's membership operations seal to it.
KeySet KeysOf(const Device& d, const fs::path& copy, const std::vector<ObjectEnvelope>& membership_ops) {
  KeySet out;
  fs::remove_all(copy);
  fs::copy(d.vault, copy, fs::copy_options::recursive);
  auto v = vault::Vault::Open(copy, crypto::SecretBytes::CopyFrom(std::string_view(d.passphrase)));
  if (!v) {
    ADD_FAILURE() << "cannot open a copy of " << d.name << "'s vault: " << v.error().message;
    return out;
  }
  auto& impl = TestOnlyImpl(**v);
  out.signing_key = impl.signing->public_key();
  out.AddAll(impl.keyring);
  out.Add(&*impl.box);
  vault::Membership membership;
  for (const auto& e : membership_ops) {
    if (auto s = membership.Apply(e); !s) ADD_FAILURE() << "server membership does not replay: " << s.error().message;
  }
  vault::Keyring fresh;
  if (auto s = fresh.Absorb(membership, impl.signing->public_key(), *impl.box); !s) {
    ADD_FAILURE() << "the keys the server holds for " << d.name << " do not open: " << s.error().message;
  }
  out.AddAll(fresh);
  return out;
}

// Tries every key of `keys` on every slot of `e`. Only "no key opens it" is an
// acceptable failure; anything else (tampering) fails the test.
std::optional<vault::OpenedObject> TryOpen(const Bytes& vault_id, const ObjectEnvelope& e, const KeySet& keys) {
  vault::ObjectCodec codec(vault_id, nullptr);
  const Bytes object_id(e.object_id().begin(), e.object_id().end());
  for (const auto& k : keys.keys) {
    vault::OpeningKeys opening;
    opening.readers = &k;
    opening.second = {&k};
    opening.author = {&k};
    auto opened = codec.Open(e, object_id, opening);
    if (opened) return std::move(*opened);
    if (opened.error().code != ErrorCode::kPermissionDenied) {
      ADD_FAILURE() << "server object " << crypto::ToHex(object_id) << ": " << opened.error().message;
    }
  }
  return std::nullopt;
}

bool IsEvidence(vault::ObjectKind kind) {
  return kind == vault::ObjectKind::kCase || kind == vault::ObjectKind::kRecordRevision ||
         kind == vault::ObjectKind::kAttachmentManifest;
}

std::string AuthorId(const ObjectEnvelope& e) { return vault::DeviceIdFromKey(crypto::AsBytes(e.author())); }

// A copy of the device's vault that is handed everything in the server's data it has
// not pulled yet, as if the server still served it: what the device's own software
// makes of the ciphertext with the keys it holds.
std::unique_ptr<vault::Vault> FedWithServerData(const Device& d, const fs::path& copy, const ServerData& data) {
  fs::remove_all(copy);
  fs::copy(d.vault, copy, fs::copy_options::recursive);
  auto v = vault::Vault::Open(copy, crypto::SecretBytes::CopyFrom(std::string_view(d.passphrase)));
  if (!v) {
    ADD_FAILURE() << v.error().message;
    return nullptr;
  }
  vault::SyncState state(**v);
  pb::PullResponse page;
  for (const auto& o : data.objects) {
    if (o.server_seq <= state.pulled_seq()) continue;
    auto* pulled = page.add_objects();
    pulled->set_server_seq(o.server_seq);
    *pulled->mutable_object() = o.envelope;
  }
  page.set_head_seq(data.objects.empty() ? 0 : data.objects.back().server_seq);
  if (auto applied = state.ApplyPulled(page); !applied) {
    ADD_FAILURE() << d.name << "'s vault refuses the server's history: " << applied.error().message;
  }
  return std::move(*v);
}

// Every record title the vault shows, and whether a search for `word` finds anything.
std::vector<std::string> Titles(vault::Vault& v) {
  std::vector<std::string> titles;
  auto records = v.ListRecords(std::nullopt);
  EXPECT_TRUE(records);
  if (records) {
    for (const auto& r : *records) titles.push_back(r.title);
  }
  return titles;
}
bool Finds(vault::Vault& v, const std::string& word) {
  auto hits = v.Search(word);
  EXPECT_TRUE(hits);
  return hits && !hits->empty();
}

// --- a lying server: the real service and store, plus objects it makes up ---------------

class LyingStore final : public server::ForwardingStore {
 public:
  explicit LyingStore(std::unique_ptr<server::Store> real) : ForwardingStore(std::move(real)) {}
  server::Store& real() { return inner(); }
  // Served after the real objects, at the next server sequences.
  void SetInvented(std::vector<ObjectEnvelope> invented) {
    std::lock_guard lock(mu_);
    invented_ = std::move(invented);
  }

  Result<std::uint64_t> HeadSeq(crypto::ByteView v) override {
    auto head = real().HeadSeq(v);
    if (!head) return head;
    std::lock_guard lock(mu_);
    return *head + invented_.size();
  }
  Result<std::vector<server::StoredObject>> Scan(crypto::ByteView v, std::uint64_t after, std::size_t max_count,
                                                 std::size_t max_bytes) override {
    auto head = real().HeadSeq(v);
    if (!head) return std::unexpected(head.error());
    auto objects = real().Scan(v, after, max_count, max_bytes);
    if (!objects) return objects;
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < invented_.size() && objects->size() < max_count; ++i) {
      const std::uint64_t seq = *head + 1 + i;
      if (seq > after) objects->push_back({seq, invented_[i]});
    }
    return objects;
  }

 private:
  std::mutex mu_;
  std::vector<ObjectEnvelope> invented_;
};

// --- the fixture ---------------------------------------------------------------------

// Joining four devices costs a dozen runs of evault, so it is done once: the suite
// builds a template (a vault on the server with an owner, two monitors, a legal device
// and a coordinator, each synced once after its admission), and every test starts from
// a copy of the server's data and of every device's directory, on the same server
// process (same port, certificate and CA, so the devices' stored configuration holds).
struct Template {
  fs::path dir;
  std::unique_ptr<ServerProcess> server;
  fs::path data;  // the server's data directory, as the template left it
  std::vector<Device> devices;  // owner, mon1, mon2, legal, coord
  RunResult admitted;           // the owner's sync that admitted the four
  std::map<std::string, RunResult> arrived;  // each joiner's first sync after that
  std::string error;            // why the template could not be built
};

Device NewDevice(const fs::path& dir, const std::string& name, const std::string& role) {
  Device d;
  d.name = name;
  d.role = role;
  d.home = dir / name;
  d.vault = d.home / "vault";
  d.pass = d.home / "pass";
  d.passphrase = "passphrase of device " + name;
  fs::create_directories(d.home);
  cli_test::WriteFile(d.pass, d.passphrase);
  return d;
}

std::string BuildTemplate(Template& t) {
  t.dir = cli_test::MakeTempDir("evault-roles-template");
  t.server = std::make_unique<ServerProcess>(t.dir / "server");
  std::string error;
  if (!t.server->Start(&error)) return error;
  t.devices = {NewDevice(t.dir, "owner", "owner"), NewDevice(t.dir, "mon1", "monitor"),
               NewDevice(t.dir, "mon2", "monitor"), NewDevice(t.dir, "legal", "legal"),
               NewDevice(t.dir, "coord", "coordinator")};
  Device& owner = t.devices[0];
  auto created = owner.Ev({"init", "--kdf-ops", kKdfOps, "--kdf-memory-mib", kKdfMib});
  if (created.exit_code != 0) return "owner init: " + created.Describe();
  owner.id = FirstWord(created.out);
  auto enrolled = owner.Ev({"sync", "--server", t.server->address(), "--ca-file", t.server->ca_file().string(),
                            "--enroll-token", t.server->enroll_token()});
  if (enrolled.exit_code != 0) return "enrollment: " + enrolled.Describe();
  // Every invite first: `member invite` syncs, and any sync of the owner admits the
  // join requests waiting, without printing it (see the report).
  std::vector<std::string> codes;
  for (std::size_t i = 1; i < t.devices.size(); ++i) {
    auto invite = owner.Ev({"member", "invite", "--role", t.devices[i].role});
    const auto lines = cli_test::Lines(invite.out);
    if (invite.exit_code != 0 || lines.empty() || !lines.back().starts_with("evault1/")) {
      return "invite: " + invite.Describe();
    }
    codes.push_back(lines.back());
  }
  static const std::regex fingerprint(R"(fingerprint ((?:\d{5} ){5}\d{5}) \()");
  for (std::size_t i = 1; i < t.devices.size(); ++i) {
    Device& d = t.devices[i];
    auto joined = d.Ev({"init", "--join", codes[i - 1], "--ca-file", t.server->ca_file().string(), "--kdf-ops",
                        kKdfOps, "--kdf-memory-mib", kKdfMib});
    if (joined.exit_code != 0) return d.name + " init --join: " + joined.Describe();
    d.id = FirstWord(joined.out);
    std::smatch m;
    if (!cli_test::IsId(d.id) || !std::regex_search(joined.out, m, fingerprint)) {
      return d.name + " init --join printed no id or fingerprint: " + joined.out;
    }
    d.fingerprint = m[1];
  }
  t.admitted = owner.Ev({"sync"});
  if (t.admitted.exit_code != 0) return "admitting sync: " + t.admitted.Describe();
  for (std::size_t i = 1; i < t.devices.size(); ++i) {
    t.arrived[t.devices[i].name] = t.devices[i].Ev({"sync"});
    if (t.arrived[t.devices[i].name].exit_code != 0) return t.devices[i].name + " first sync: " + t.arrived[t.devices[i].name].Describe();
  }
  if (t.server->Stop() != 0) return "the template server did not stop cleanly";
  t.data = t.dir / "template-data";
  fs::copy(t.server->data_dir(), t.data, fs::copy_options::recursive);
  return "";
}

class RolesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    template_ = new Template;
    template_->error = BuildTemplate(*template_);
  }
  static void TearDownTestSuite() {
    template_->server.reset();
    fs::remove_all(template_->dir);
    delete template_;
    template_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(template_->error.empty()) << "building the vault every test starts from: " << template_->error;
    dir_ = cli_test::MakeTempDir("evault-roles");
    server_ = template_->server.get();
    server_->Stop();
    fs::remove_all(server_->data_dir());
    fs::copy(template_->data, server_->data_dir(), fs::copy_options::recursive);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    std::map<std::string, Device*> mine = {{"owner", &owner_}, {"mon1", &mon1_}, {"mon2", &mon2_},
                                           {"legal", &legal_}, {"coord", &coord_}};
    for (const Device& d : template_->devices) {
      Device copy = d;
      copy.home = dir_ / d.name;
      copy.vault = copy.home / "vault";
      copy.pass = copy.home / "pass";
      fs::copy(d.home, copy.home, fs::copy_options::recursive);
      *mine.at(d.name) = copy;
    }
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "server log (tail):\n" << Tail(server_->log(), 3000) << "\n";
    lying_server_.reset();
    if (server_) server_->Stop();
    fs::remove_all(dir_);
  }
  static std::string Tail(const std::string& s, std::size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

  ::testing::AssertionResult Sync(const Device& d) {
    auto r = d.Ev({"sync"});
    if (r.exit_code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << d.name << " sync: " << r.Describe();
  }

  std::string NewCase(const Device& d, const std::string& title) {
    auto r = d.Ev({"case", "new", "--title", title});
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    return FirstWord(r.out);
  }
  std::string AddRecord(const Device& d, const std::string& case_id, const std::string& title,
                        const std::string& narrative) {
    const json record = {{"kind", "detention"}, {"title", title}, {"narrative", narrative}};
    auto r = d.Ev({"record", "add", "--case", case_id, "--json", "-"}, {.stdin_data = record.dump()});
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    return FirstWord(r.out);
  }
  // Attaches a new file holding `content`; returns the attachment id.
  std::string Attach(const Device& d, const std::string& record_id, const std::string& file_name,
                     const std::string& content) {
    const fs::path file = d.home / file_name;
    cli_test::WriteFile(file, content);
    auto r = d.Ev({"attach", "add", "--record", record_id, file.string()});
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    fs::remove(file);
    EXPECT_TRUE(Contains(r.out, cli_test::Sha256Hex(content))) << r.out;
    return FirstWord(r.out);
  }
  // `attach get` to a fresh file: its bytes, or nullopt (and the result) on failure.
  std::optional<std::string> GetAttachment(const Device& d, const std::string& attachment_id, RunResult* result = nullptr) {
    static int n = 0;
    const fs::path out = d.home / ("restored-" + std::to_string(++n));
    auto r = d.Ev({"attach", "get", attachment_id, "--out", out.string()});
    if (result) *result = r;
    if (r.exit_code != 0) {
      EXPECT_FALSE(fs::exists(out)) << "a failed attach get left a file behind";
      return std::nullopt;
    }
    std::string bytes = cli_test::ReadFile(out);
    fs::remove(out);
    return bytes;
  }
  json Json(const Device& d, std::vector<std::string> args) {
    args.push_back("--json");
    auto r = d.Ev(args);
    EXPECT_EQ(r.exit_code, 0) << d.name << ": " << r.Describe();
    return json::parse(r.out, nullptr, false);
  }
  std::set<std::string> RecordIds(const Device& d) {
    std::set<std::string> ids;
    for (const auto& r : Json(d, {"record", "list"})) ids.insert(r["id"].get<std::string>());
    return ids;
  }
  std::set<std::string> SearchIds(const Device& d, const std::string& text) {
    std::set<std::string> ids;
    for (const auto& r : Json(d, {"search", text})) ids.insert(r["id"].get<std::string>());
    return ids;
  }
  std::string Title(const Device& d, const std::string& record_id) {
    const json shown = Json(d, {"record", "show", record_id});
    if (!shown.is_object() || !shown.contains("heads") || shown["heads"].empty()) return "";
    return shown["heads"][0]["record"].value("title", "");
  }
  std::string VaultIdHex() {
    auto r = owner_.Ev({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return json::parse(r.out).value("vault", "");
  }
  Bytes VaultId() { return *crypto::FromHex(VaultIdHex()); }

  // Stops the server, copies its data directory (what someone who seized or copied
  // the server holds), starts it again on the same port.
  fs::path CopyServerData(const std::string& name) {
    const fs::path copy = dir_ / name;
    EXPECT_EQ(server_->Stop(), 0);
    fs::copy(server_->data_dir(), copy, fs::copy_options::recursive);
    std::string error;
    EXPECT_TRUE(server_->Start(&error)) << error;
    return copy;
  }

  // The server's port (the address is "localhost:PORT").
  std::string Port() const {
    const std::string a = server_->address();
    return a.substr(a.rfind(':') + 1);
  }

  // Replaces the evault-server process by an in-process server on the same port, data
  // and certificate whose store serves invented objects after the real ones.
  LyingStore* StartLyingServer() {
    EXPECT_EQ(server_->Stop(), 0);
    auto real = server::RocksDbStore::Open(server_->data_dir());
    EXPECT_TRUE(real) << (real ? "" : real.error().message);
    if (!real) return nullptr;
    auto lying = std::make_unique<LyingStore>(std::move(*real));
    LyingStore* raw = lying.get();
    server::ServerOptions options;
    options.listen_address = "127.0.0.1:" + Port();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({cli_test::ReadFile(server_->cert_file().parent_path() / "server.key"),
                                      cli_test::ReadFile(server_->cert_file())});
    options.credentials = grpc::SslServerCredentials(ssl);
    options.service.enroll_token_hashes = {server::EnrollTokenHash(server_->enroll_token())};
    options.service.log_sink = [](std::string_view) {};
    auto running = server::StartServer(std::move(options), std::move(lying));
    EXPECT_TRUE(running) << (running ? "" : running.error().message);
    if (!running) return nullptr;
    lying_server_ = std::move(*running);
    return raw;
  }

  static Template* template_;
  fs::path dir_;
  ServerProcess* server_ = nullptr;  // the suite's server process, on this test's copy of the data
  std::unique_ptr<server::RunningServer> lying_server_;
  Device owner_, mon1_, mon2_, legal_, coord_;
};

Template* RolesTest::template_ = nullptr;

// --- 1. joining: roles and safety numbers -----------------------------------------------

TEST_F(RolesTest, EveryDeviceListsTheSameRolesAndFingerprintsAsTheJoinersSaw) {
  const std::vector<const Device*> all = {&owner_, &mon1_, &mon2_, &legal_, &coord_};
  // The owner's sync admitted each joiner with the role it was invited for, showing the
  // fingerprint the joiner was shown by `init --join`; each joiner's next sync made it
  // a member.
  for (const Device* d : all) {
    if (d == &owner_) continue;
    EXPECT_TRUE(Contains(template_->admitted.out,
                         "admitted " + d->id + " as " + d->role + " (fingerprint " + d->fingerprint + ")"))
        << d->name << ": " << template_->admitted.out;
    EXPECT_TRUE(Contains(template_->arrived.at(d->name).out, "now a member")) << template_->arrived.at(d->name).out;
  }
  std::map<std::string, std::string> expected_role;
  for (const Device* d : all) expected_role[d->id] = d->role;
  json reference;
  for (const Device* d : all) {
    ASSERT_TRUE(Sync(*d));
    const json list = Json(*d, {"member", "list"});
    ASSERT_TRUE(list.is_array()) << d->name;
    ASSERT_EQ(list.size(), all.size()) << d->name << ": " << list.dump();
    json normalized = json::array();
    for (const auto& m : list) {
      const std::string id = m["id"];
      ASSERT_TRUE(expected_role.contains(id)) << d->name << " lists an unknown device " << id;
      EXPECT_EQ(m["role"], expected_role.at(id)) << d->name << " on " << id;
      EXPECT_EQ(m["revoked"], false);
      EXPECT_EQ(m["this_device"].get<bool>(), id == d->id) << d->name << " on " << id;
      // The safety number each joiner was shown at `init --join` is what every device lists.
      for (const Device* j : all) {
        if (j->id == id && !j->fingerprint.empty()) {
          EXPECT_EQ(m["fingerprint"], j->fingerprint) << d->name << " on " << j->name;
        }
      }
      normalized.push_back({{"id", id}, {"role", m["role"]}, {"fingerprint", m["fingerprint"]}});
    }
    if (reference.is_null()) {
      reference = normalized;
    } else {
      EXPECT_EQ(normalized, reference) << d->name << " sees another membership than the owner";
    }
    // The text form names the role and the fingerprint, and marks the device itself.
    auto text = d->Ev({"member", "list"});
    ASSERT_EQ(text.exit_code, 0);
    bool own_line = false;
    for (const auto& line : cli_test::Lines(text.out)) {
      if (!line.starts_with(d->id)) continue;
      own_line = true;
      EXPECT_TRUE(Contains(line, d->role) && Contains(line, "(this device)")) << line;
      if (!d->fingerprint.empty()) {
        EXPECT_TRUE(Contains(line, d->fingerprint)) << line;
      }
    }
    EXPECT_TRUE(own_line) << text.out;
  }
  // Fingerprints differ between devices (each is the device's own key).
  std::set<std::string> fingerprints;
  for (const auto& m : reference) fingerprints.insert(m["fingerprint"].get<std::string>());
  EXPECT_EQ(fingerprints.size(), all.size());
}

// --- 2. a monitor writes, the owner reads ---------------------------------------------------

TEST_F(RolesTest, MonitorWritesAndTheOwnerReadsItAll) {
  const std::string owner_case = NewCase(owner_, "Owner case OWNCASEa2");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(mon1_));  // learns the owner's case key announcement

  const std::string mon_case = NewCase(mon1_, "Monitor case MONCASEa2");
  const std::string record = AddRecord(mon1_, mon_case, "Detention MONTITLEa2", "witness MONNARRa2 saw it");
  const std::string content = FileContent("MONFILEa2", 70000, 2);
  const std::string attachment = Attach(mon1_, record, "photo-MONNAMEa2.jpg", content);
  const std::string in_owner_case = AddRecord(mon1_, owner_case, "Trial MONINOWNERa2", "in the owner's case");
  ASSERT_TRUE(Sync(mon1_));
  ASSERT_TRUE(Sync(owner_));

  EXPECT_EQ(Title(owner_, record), "Detention MONTITLEa2");
  const json shown = Json(owner_, {"record", "show", record});
  EXPECT_EQ(shown["heads"][0]["record"]["narrative"], "witness MONNARRa2 saw it");
  EXPECT_EQ(shown["heads"][0]["author"], mon1_.id);
  EXPECT_EQ(SearchIds(owner_, "monnarra2"), std::set<std::string>{record});
  EXPECT_EQ(SearchIds(owner_, "MONINOWNERa2"), std::set<std::string>{in_owner_case});
  auto cases = owner_.Ev({"case", "list"});
  EXPECT_TRUE(Contains(cases.out, "MONCASEa2")) << cases.out;
  auto in_case = Json(owner_, {"record", "list", "--case", owner_case});
  ASSERT_EQ(in_case.size(), 1u) << in_case.dump();
  EXPECT_EQ(in_case[0]["id"], in_owner_case);
  const auto restored = GetAttachment(owner_, attachment);
  ASSERT_TRUE(restored.has_value());
  EXPECT_TRUE(*restored == content) << "the owner's copy of the monitor's attachment differs";
}

// --- 3. a monitor cannot read the others' evidence -----------------------------------------

TEST_F(RolesTest, MonitorCannotDecryptTheOwnersOrTheOtherMonitorsEvidence) {
  struct Party {
    Device* d;
    std::string case_id, record, attachment, in_owner_case;
    std::vector<std::string> markers;
  };
  std::vector<Party> parties;
  const std::string owner_case = NewCase(owner_, "Owner case OWNCASEb3");
  {
    Party p{&owner_};
    p.case_id = owner_case;
    p.record = AddRecord(owner_, owner_case, "Detention OWNTITLEb3", "owner narrative OWNNARRb3");
    p.attachment = Attach(owner_, p.record, "OWNNAMEb3.bin", FileContent("OWNFILEb3", 30000, 31));
    p.markers = {"OWNCASEb3", "OWNTITLEb3", "OWNNARRb3", "OWNFILEb3", "OWNNAMEb3"};
    parties.push_back(p);
  }
  ASSERT_TRUE(Sync(owner_));
  int seed = 40;
  for (Device* d : {&mon1_, &mon2_}) {
    ASSERT_TRUE(Sync(*d));
    const std::string tag = d->name == "mon1" ? "M1" : "M2";
    Party p{d};
    p.case_id = NewCase(*d, "Case " + tag + "CASEb3");
    p.record = AddRecord(*d, p.case_id, "Detention " + tag + "TITLEb3", "narrative " + tag + "NARRb3");
    p.attachment = Attach(*d, p.record, tag + "NAMEb3.bin", FileContent(tag + "FILEb3", 20000, ++seed));
    p.in_owner_case = AddRecord(*d, owner_case, "Trial " + tag + "INOWNb3", "in the owner's case");
    p.markers = {tag + "CASEb3", tag + "TITLEb3", tag + "NARRb3", tag + "FILEb3", tag + "NAMEb3", tag + "INOWNb3"};
    parties.push_back(p);
    ASSERT_TRUE(Sync(*d));
  }
  for (Device* d : {&owner_, &mon1_}) ASSERT_TRUE(Sync(*d));  // everyone has pulled everything

  // Control: the owner reads every party's records.
  for (const auto& p : parties) {
    EXPECT_EQ(SearchIds(owner_, p.markers[1]), std::set<std::string>{p.record}) << p.d->name;
  }

  // Through the CLI, each monitor sees its own evidence and nothing of the others'.
  for (const Party& me : parties) {
    if (me.d == &owner_) continue;
    const Device& m = *me.d;
    std::set<std::string> mine = {me.record, me.in_owner_case};
    EXPECT_EQ(RecordIds(m), mine) << m.name;
    EXPECT_EQ(SearchIds(m, me.markers[1]), std::set<std::string>{me.record}) << m.name << " cannot find its own";
    auto cases = m.Ev({"case", "list"});
    EXPECT_TRUE(Contains(cases.out, me.markers[0])) << cases.out;
    for (const Party& other : parties) {
      if (other.d == me.d) continue;
      for (const auto& marker : other.markers) {
        EXPECT_FALSE(Contains(cases.out, marker)) << m.name << " lists " << marker;
        // Nothing of it on the monitor's disk, in the clear.
        EXPECT_EQ(FilesContaining(m.vault, marker), std::vector<std::string>()) << m.name << ": " << marker;
      }
      for (std::size_t i : {1, 2}) {  // title and narrative words
        EXPECT_TRUE(SearchIds(m, other.markers[i]).empty()) << m.name << " finds " << other.markers[i];
      }
      for (const std::string& id : {other.record}) {
        auto shown = m.Ev({"record", "show", id});
        EXPECT_CLEAN_ERROR(shown);
        EXPECT_FALSE(Contains(shown.err, other.markers[1])) << shown.err;
      }
      RunResult got;
      EXPECT_FALSE(GetAttachment(m, other.attachment, &got).has_value()) << m.name << " got " << other.d->name << "'s file";
      EXPECT_NE(got.exit_code, 0);
    }
  }

  // With the raw ciphertext: the server's data directory, and every key each monitor holds.
  const Bytes vault_id = VaultId();
  const fs::path copy = CopyServerData("server-copy");
  const ServerData data = ReadServerData(copy, vault_id);
  ASSERT_GT(data.objects.size(), 20u);
  ASSERT_FALSE(data.chunks.empty());
  for (const Party& p : parties) {
    for (const auto& marker : p.markers) {
      EXPECT_EQ(FilesContaining(copy, marker), std::vector<std::string>()) << "the server holds " << marker;
    }
  }
  const auto ops = data.MembershipOps();
  const KeySet owner_keys = KeysOf(owner_, dir_ / "owner-copy", ops);
  for (Device* m : {&mon1_, &mon2_}) {
    const KeySet keys = KeysOf(*m, dir_ / (m->name + "-copy"), ops);
    ASSERT_FALSE(keys.keys.empty());
    int others_evidence = 0, own_opened = 0;
    for (const auto& o : data.objects) {
      const ObjectEnvelope& e = o.envelope;
      if (!e.public_body().empty()) continue;
      // Control: the owner, a reader of every epoch, opens every sealed object.
      auto by_owner = TryOpen(vault_id, e, owner_keys);
      ASSERT_TRUE(by_owner.has_value()) << "server object " << o.server_seq << " does not open for the owner";
      const bool mine = AuthorId(e) == m->id;
      auto opened = TryOpen(vault_id, e, keys);
      if (mine) {
        own_opened += opened.has_value() && IsEvidence(opened->identity.kind);
        continue;
      }
      if (IsEvidence(by_owner->identity.kind)) ++others_evidence;
      if (opened) {
        // By design a monitor opens case-key announcements and checkpoints (the
        // members key), never evidence.
        EXPECT_FALSE(IsEvidence(opened->identity.kind))
            << m->name << " decrypts server object " << o.server_seq << " by " << AuthorId(e) << ": "
            << opened->body.view().substr(0, 200);
      }
    }
    EXPECT_GE(others_evidence, 7) << m->name;  // 3 objects of the owner, 4 of the other monitor
    EXPECT_GE(own_opened, 4) << m->name << " cannot open its own objects: the attack harness is broken";
  }
}

// --- 4. legal: the granted case, read only -------------------------------------------------

TEST_F(RolesTest, LegalDeviceReadsOnlyTheGrantedCaseAndEveryWriteIsRefused) {
  const std::string granted = NewCase(owner_, "Granted case GRANTCASEc4");
  const std::string granted_record = AddRecord(owner_, granted, "Trial GRANTTITLEc4", "narrative GRANTNARRc4");
  const std::string content = FileContent("GRANTFILEc4", 50000, 4);
  const std::string granted_attachment = Attach(owner_, granted_record, "GRANTNAMEc4.pdf", content);
  const std::string hidden = NewCase(owner_, "Hidden case HIDDENCASEc4");
  const std::string hidden_record = AddRecord(owner_, hidden, "Detention HIDDENTITLEc4", "narrative HIDDENNARRc4");
  const std::string hidden_attachment = Attach(owner_, hidden_record, "HIDDENNAMEc4.pdf", FileContent("HIDDENFILEc4", 9000, 5));
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(mon1_));
  const std::string monitor_record = AddRecord(mon1_, granted, "Trial MONINGRANTc4", "by a monitor");
  const std::string monitor_hidden = AddRecord(mon1_, hidden, "Trial MONINHIDDENc4", "by a monitor");
  ASSERT_TRUE(Sync(mon1_));
  ASSERT_TRUE(Sync(legal_));  // before any grant: nothing readable
  EXPECT_TRUE(RecordIds(legal_).empty());

  auto grant = owner_.Ev({"case", "grant", granted, "--to", legal_.id});
  ASSERT_EQ(grant.exit_code, 0) << grant.Describe();
  EXPECT_TRUE(Contains(grant.out, "granted case " + granted)) << grant.out;
  ASSERT_TRUE(Sync(legal_));

  // Reads: the granted case, all of it, by whoever wrote it.
  EXPECT_EQ(RecordIds(legal_), (std::set<std::string>{granted_record, monitor_record}));
  EXPECT_EQ(Title(legal_, granted_record), "Trial GRANTTITLEc4");
  EXPECT_EQ(Title(legal_, monitor_record), "Trial MONINGRANTc4");
  EXPECT_EQ(SearchIds(legal_, "GRANTNARRc4"), std::set<std::string>{granted_record});
  auto cases = legal_.Ev({"case", "list"});
  EXPECT_TRUE(Contains(cases.out, "GRANTCASEc4")) << cases.out;
  const auto restored = GetAttachment(legal_, granted_attachment);
  ASSERT_TRUE(restored.has_value());
  EXPECT_TRUE(*restored == content);

  // Nothing else.
  EXPECT_FALSE(Contains(cases.out, "HIDDENCASEc4")) << cases.out;
  for (const std::string& id : {hidden_record}) {
    auto shown = legal_.Ev({"record", "show", id});
    EXPECT_CLEAN_ERROR(shown);
  }
  for (const std::string marker : {"HIDDENNARRc4", "MONINHIDDENc4"}) {
    EXPECT_TRUE(SearchIds(legal_, marker).empty()) << marker;
  }
  auto hidden_list = legal_.Ev({"record", "list", "--case", hidden});
  EXPECT_TRUE(hidden_list.exit_code != 0 || hidden_list.out.empty()) << hidden_list.Describe();
  EXPECT_FALSE(GetAttachment(legal_, hidden_attachment).has_value());
  for (const std::string marker : {"HIDDENCASEc4", "HIDDENTITLEc4", "HIDDENNARRc4", "HIDDENFILEc4", "HIDDENNAMEc4",
                                   "GRANTTITLEc4", "GRANTFILEc4"}) {
    EXPECT_EQ(FilesContaining(legal_.vault, marker), std::vector<std::string>()) << marker;
  }

  // Every write is refused with exit code 5, and nothing new waits to be pushed (its
  // custody entries of the reads above do).
  const auto unsynced_before = Json(legal_, {"status"})["unsynced_objects"];
  auto new_case = legal_.Ev({"case", "new", "--title", "legal case"});
  EXPECT_EQ(new_case.exit_code, 5) << new_case.Describe();
  auto add = legal_.Ev({"record", "add", "--case", granted, "--json", "-"},
                       {.stdin_data = R"({"kind":"trial","title":"written by legal"})"});
  EXPECT_EQ(add.exit_code, 5) << add.Describe();
  auto edit = legal_.Ev({"record", "edit", granted_record, "--json", "-"},
                        {.stdin_data = R"({"kind":"trial","title":"edited by legal"})"});
  EXPECT_EQ(edit.exit_code, 5) << edit.Describe();
  cli_test::WriteFile(legal_.home / "legal.txt", "a file from the lawyer");
  auto attach = legal_.Ev({"attach", "add", "--record", granted_record, (legal_.home / "legal.txt").string()});
  EXPECT_EQ(attach.exit_code, 5) << attach.Describe();
  for (const auto* r : {&new_case, &add, &edit, &attach}) {
    EXPECT_TRUE(r->out.empty()) << r->out;
    EXPECT_TRUE(Contains(r->err, "evault:")) << r->err;
  }
  EXPECT_EQ(Json(legal_, {"status"})["unsynced_objects"], unsynced_before);
  EXPECT_EQ(RecordIds(legal_), (std::set<std::string>{granted_record, monitor_record}));

  // Later evidence in the granted case arrives; in the other case it does not.
  const std::string later = AddRecord(owner_, granted, "Trial LATEGRANTc4", "later");
  const std::string later_hidden = AddRecord(owner_, hidden, "Trial LATEHIDDENc4", "later");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(legal_));
  EXPECT_EQ(Title(legal_, later), "Trial LATEGRANTc4");
  EXPECT_NE(legal_.Ev({"record", "show", later_hidden}).exit_code, 0);

  // With the raw ciphertext and every key the legal device holds: granted case yes,
  // the other case never.
  const Bytes vault_id = VaultId();
  const fs::path copy = CopyServerData("server-copy");
  const ServerData data = ReadServerData(copy, vault_id);
  const auto ops = data.MembershipOps();
  const KeySet owner_keys = KeysOf(owner_, dir_ / "owner-copy", ops);
  const KeySet legal_keys = KeysOf(legal_, dir_ / "legal-copy", ops);
  int granted_opened = 0, hidden_seen = 0;
  for (const auto& o : data.objects) {
    if (!o.envelope.public_body().empty()) continue;
    auto by_owner = TryOpen(vault_id, o.envelope, owner_keys);
    ASSERT_TRUE(by_owner.has_value());
    const std::string case_hex = crypto::ToHex(by_owner->identity.case_id);
    auto by_legal = TryOpen(vault_id, o.envelope, legal_keys);
    if (case_hex == hidden) {
      ++hidden_seen;
      EXPECT_FALSE(by_legal.has_value()) << "the legal device decrypts server object " << o.server_seq
                                         << " of the case it was not granted";
    } else if (case_hex == granted && IsEvidence(by_owner->identity.kind)) {
      granted_opened += by_legal.has_value();
    }
    if (by_legal) {
      // Evidence and custody entries of the granted case; of anything else, only its own
      // custody entries (its syncs).
      const bool custody = by_legal->identity.kind == vault::ObjectKind::kAuditEntry;
      const bool own = audit::DeviceIdOf(by_legal->author) == legal_.id;
      EXPECT_TRUE(case_hex == granted ? (IsEvidence(by_legal->identity.kind) || custody) : (custody && own))
          << o.server_seq;
    }
  }
  EXPECT_GE(hidden_seen, 5);
  EXPECT_GE(granted_opened, 5) << "the legal device's keys open less of its granted case than the CLI shows";
}

// --- 5. revocation ------------------------------------------------------------------------

TEST_F(RolesTest, RevokedMonitorIsRefusedAndCannotDecryptWhatIsWrittenAfter) {
  const std::string owner_case = NewCase(owner_, "Owner case BEFORECASEd5");
  AddRecord(owner_, owner_case, "Detention BEFORETITLEd5", "before");
  ASSERT_TRUE(Sync(owner_));
  auto grant = owner_.Ev({"case", "grant", owner_case, "--to", legal_.id});
  ASSERT_EQ(grant.exit_code, 0) << grant.Describe();
  for (Device* d : {&mon1_, &mon2_, &legal_}) ASSERT_TRUE(Sync(*d));
  const std::string mon2_case = NewCase(mon2_, "Monitor case M2BEFOREd5");
  AddRecord(mon2_, mon2_case, "Detention M2BEFORETITLEd5", "before");
  ASSERT_TRUE(Sync(mon2_));
  ASSERT_TRUE(Sync(owner_));  // the owner has pulled everything before it revokes (else: the test below)

  auto revoked = owner_.Ev({"member", "revoke", mon2_.id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.Describe();
  EXPECT_TRUE(Contains(revoked.out, "revoked " + mon2_.id)) << revoked.out;
  EXPECT_TRUE(Contains(revoked.out, "key epoch 2")) << revoked.out;
  EXPECT_TRUE(Contains(revoked.out, "synced with")) << "revoke did not sync at once: " << revoked.out;

  // The server refuses the revoked device at once.
  auto refused = mon2_.Ev({"sync"});
  EXPECT_NE(refused.exit_code, 0) << refused.Describe();
  EXPECT_TRUE(Contains(refused.err, "not an active member")) << refused.err;
  // Local writes still work on the seized device, but can never reach the server.
  NewCase(mon2_, "written after revocation");
  EXPECT_NE(mon2_.Ev({"sync"}).exit_code, 0);

  // Everyone else carries on in epoch 2.
  const json members = Json(owner_, {"member", "list"});
  for (const auto& m : members) EXPECT_EQ(m["revoked"].get<bool>(), m["id"] == mon2_.id) << m.dump();
  const std::string after_case = NewCase(owner_, "After case AFTERCASEd5");
  const std::string after_record = AddRecord(owner_, after_case, "Detention AFTERTITLEd5", "narrative AFTERNARRd5");
  const std::string after_content = FileContent("AFTERFILEd5", 40000, 5);
  Attach(owner_, after_record, "AFTERNAMEd5.mp4", after_content);
  const std::string after_granted = AddRecord(owner_, owner_case, "Trial AFTERINGRANTd5", "narrative AFTERGRANTNARRd5");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_TRUE(Sync(mon1_));
  for (const auto& m : Json(mon1_, {"member", "list"})) EXPECT_EQ(m["revoked"].get<bool>(), m["id"] == mon2_.id);
  const std::string mon1_after = AddRecord(mon1_, NewCase(mon1_, "Monitor case M1AFTERCASEd5"), "Detention M1AFTERd5", "n");
  ASSERT_TRUE(Sync(mon1_));
  auto shared = owner_.Ev({"sync"});
  ASSERT_EQ(shared.exit_code, 0) << shared.Describe();
  EXPECT_EQ(Title(owner_, mon1_after), "Detention M1AFTERd5") << "a monitor's epoch-2 evidence is unreadable to the owner";
  ASSERT_TRUE(Sync(legal_));
  EXPECT_EQ(Title(legal_, after_granted), "Trial AFTERINGRANTd5")
      << "the legal device did not receive its granted case's key of the new epoch";

  const std::vector<std::string> after_markers = {"AFTERCASEd5", "AFTERTITLEd5", "AFTERNARRd5", "AFTERFILEd5",
                                                  "AFTERNAMEd5", "AFTERINGRANTd5", "AFTERGRANTNARRd5", "M1AFTERd5",
                                                  "M1AFTERCASEd5"};
  // The revoked device, with its vault and a copy of the server's data.
  const Bytes vault_id = VaultId();
  const fs::path copy = CopyServerData("server-copy");
  EXPECT_NE(mon2_.Ev({"sync"}).exit_code, 0) << "the restarted server forgot the revocation";
  const ServerData data = ReadServerData(copy, vault_id);
  const auto ops = data.MembershipOps();
  std::uint64_t revoke_seq = 0;
  for (const auto& o : data.objects) {
    if (o.envelope.public_body().empty()) continue;
    auto op = vault::Membership::ParseOp(o.envelope);
    if (op && op->kind() == pb::MembershipOp::REVOKE) revoke_seq = o.server_seq;
  }
  ASSERT_GT(revoke_seq, 0u);
  for (const auto& marker : after_markers) {
    EXPECT_EQ(FilesContaining(mon2_.vault, marker), std::vector<std::string>()) << marker;
    EXPECT_EQ(FilesContaining(copy, marker), std::vector<std::string>()) << marker;
    EXPECT_TRUE(SearchIds(mon2_, marker).empty()) << marker;
  }
  const KeySet owner_keys = KeysOf(owner_, dir_ / "owner-copy", ops);
  const KeySet mon2_keys = KeysOf(mon2_, dir_ / "mon2-copy", ops);
  int after = 0, epoch2 = 0;
  for (const auto& o : data.objects) {
    if (o.server_seq <= revoke_seq || !o.envelope.public_body().empty()) continue;
    ++after;
    epoch2 += o.envelope.key_epoch() == 2;
    auto by_owner = TryOpen(vault_id, o.envelope, owner_keys);
    ASSERT_TRUE(by_owner.has_value()) << o.server_seq;
    auto by_revoked = TryOpen(vault_id, o.envelope, mon2_keys);
    EXPECT_FALSE(by_revoked.has_value()) << "the revoked monitor decrypts server object " << o.server_seq << " (epoch "
                                         << o.envelope.key_epoch() << "): " << by_owner->body.view().substr(0, 200);
  }
  EXPECT_GE(after, 8);
  EXPECT_EQ(epoch2, after) << "objects written after the revocation by devices that had seen it use the old epoch";

  // The revoked monitor's own software, handed the whole server copy.
  auto fed = FedWithServerData(mon2_, dir_ / "mon2-fed", data);
  ASSERT_NE(fed, nullptr);
  EXPECT_FALSE(vault::SyncState(*fed).admitted());
  for (const auto& marker : after_markers) EXPECT_FALSE(Finds(*fed, marker)) << marker;
  for (const auto& title : Titles(*fed)) EXPECT_FALSE(Contains(title, "AFTER")) << title;
  auto cases = fed->ListCases();
  ASSERT_TRUE(cases);
  for (const auto& c : *cases) EXPECT_FALSE(Contains(c.title, "AFTER")) << c.title;
}

// A device that has not yet seen the revocation writes to a case the revoked legal
// device held the key of. The issue: "the revoked device cannot decrypt anything
// written after".
TEST_F(RolesTest, RevokedLegalDeviceCannotDecryptTheGrantedCaseWrittenAfterItsRevocation) {
  const std::string granted = NewCase(owner_, "Granted case GRANTCASEe6");
  const std::string before = AddRecord(owner_, granted, "Trial GRANTBEFOREe6", "before");
  ASSERT_TRUE(Sync(owner_));
  ASSERT_EQ(owner_.Ev({"case", "grant", granted, "--to", legal_.id}).exit_code, 0);
  ASSERT_TRUE(Sync(legal_));
  ASSERT_EQ(Title(legal_, before), "Trial GRANTBEFOREe6");
  ASSERT_TRUE(Sync(mon1_));  // knows the case's key; will not sync again before writing

  auto revoked = owner_.Ev({"member", "revoke", legal_.id.substr(0, 12)});  // a prefix is enough
  ASSERT_EQ(revoked.exit_code, 0) << revoked.Describe();
  auto refused = legal_.Ev({"sync"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(Contains(refused.err, "not an active member")) << refused.err;

  AddRecord(owner_, granted, "Trial OWNERAFTERe6", "written after the revocation by the owner");
  ASSERT_TRUE(Sync(owner_));
  // mon1 has not synced since the revocation: it writes, then syncs.
  AddRecord(mon1_, granted, "Trial STALEMONITORe6", "written after the revocation by a monitor");
  auto stale = mon1_.Ev({"sync"});
  EXPECT_EQ(stale.exit_code, 0) << stale.Describe();
  AddRecord(mon1_, granted, "Trial FRESHMONITORe6", "written after the monitor saw the revocation");
  ASSERT_TRUE(Sync(mon1_));
  ASSERT_TRUE(Sync(owner_));
  EXPECT_EQ(SearchIds(owner_, "STALEMONITORe6").size(), 1u);

  const Bytes vault_id = VaultId();
  const fs::path copy = CopyServerData("server-copy");
  const ServerData data = ReadServerData(copy, vault_id);
  const auto ops = data.MembershipOps();
  std::uint64_t revoke_seq = 0;
  for (const auto& o : data.objects) {
    if (o.envelope.public_body().empty()) continue;
    auto op = vault::Membership::ParseOp(o.envelope);
    if (op && op->kind() == pb::MembershipOp::REVOKE) revoke_seq = o.server_seq;
  }
  ASSERT_GT(revoke_seq, 0u);
  const KeySet owner_keys = KeysOf(owner_, dir_ / "owner-copy", ops);
  const KeySet legal_keys = KeysOf(legal_, dir_ / "legal-copy", ops);
  int before_opened = 0;
  std::vector<std::string> leaked;
  for (const auto& o : data.objects) {
    if (!o.envelope.public_body().empty()) continue;
    auto by_owner = TryOpen(vault_id, o.envelope, owner_keys);
    ASSERT_TRUE(by_owner.has_value());
    auto by_legal = TryOpen(vault_id, o.envelope, legal_keys);
    if (o.server_seq < revoke_seq) {
      before_opened += by_legal.has_value();  // control: it held the case's old key
    } else if (by_legal) {
      const json body = json::parse(by_owner->body.view(), nullptr, false);
      const std::string title = body.is_object() ? body.value("record", json::object()).value("title", "?") : "?";
      leaked.push_back("server object " + std::to_string(o.server_seq) + " (key epoch " +
                       std::to_string(o.envelope.key_epoch()) + ") by " +
                       (AuthorId(o.envelope) == mon1_.id ? "mon1" : AuthorId(o.envelope)) + ": \"" + title + "\"");
    }
  }
  EXPECT_GE(before_opened, 2) << "the legal device's keys did not even open what it was granted";
  EXPECT_EQ(leaked, std::vector<std::string>())
      << "the revoked legal device decrypts evidence written after its revocation";

  // The revoked legal device's own software, handed the whole server copy, shows it.
  auto fed = FedWithServerData(legal_, dir_ / "legal-fed", data);
  ASSERT_NE(fed, nullptr);
  EXPECT_TRUE(Finds(*fed, "GRANTBEFOREe6")) << "control: what it was granted before stays readable";
  EXPECT_FALSE(Finds(*fed, "OWNERAFTERe6"));
  EXPECT_FALSE(Finds(*fed, "FRESHMONITORe6"));
  EXPECT_FALSE(Finds(*fed, "STALEMONITORe6")) << "the revoked legal device reads a record written after its revocation";
}

// The owner revokes a device right after that device synced: the owner has not yet
// pulled the device's last objects, which the server holds before the REVOKE.
TEST_F(RolesTest, OwnerCanRevokeADeviceWhoseLastObjectsItHasNotPulledYet) {
  const std::string mon2_case = NewCase(mon2_, "Monitor case M2LASTh9");
  const std::string mon2_record = AddRecord(mon2_, mon2_case, "Detention M2LASTTITLEh9", "submitted before revocation");
  ASSERT_TRUE(Sync(mon2_));
  auto revoked = owner_.Ev({"member", "revoke", mon2_.id});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.Describe();
  auto next = owner_.Ev({"sync"});
  EXPECT_EQ(next.exit_code, 0) << "the owner cannot sync any more: " << next.Describe();
  // What the monitor submitted while it was a member stays evidence for the owner.
  EXPECT_EQ(Title(owner_, mon2_record), "Detention M2LASTTITLEh9");
  // The revocation reached everyone else.
  ASSERT_TRUE(Sync(mon1_));
  for (const auto& m : Json(mon1_, {"member", "list"})) EXPECT_EQ(m["revoked"].get<bool>(), m["id"] == mon2_.id);
  EXPECT_NE(mon2_.Ev({"sync"}).exit_code, 0);
}

// --- 6. forged membership operations -----------------------------------------------------

TEST_F(RolesTest, ForgedMembershipOperationsAreRefusedByClientsAndServer) {
  const std::string owner_case = NewCase(owner_, "Owner case FORGEf7");
  AddRecord(owner_, owner_case, "Detention FORGETITLEf7", "n");
  ASSERT_TRUE(Sync(owner_));

  // The signing keys of the devices whose names the forgeries use, from copies of
  // their vaults.
  const Bytes vault_id = VaultId();
  auto signing_key_of = [&](const Device& d) {
    const fs::path copy = dir_ / (d.name + "-keys");
    fs::copy(d.vault, copy, fs::copy_options::recursive);
    auto v = vault::Vault::Open(copy, crypto::SecretBytes::CopyFrom(std::string_view(d.passphrase)));
    EXPECT_TRUE(v);
    vault::SyncState state(**v);
    return *crypto::SigningKeyPair::FromSecretKey(state.device().secret_key().Clone());
  };
  const auto owner_key = signing_key_of(owner_);
  const auto coord_key = signing_key_of(coord_);
  const auto mon2_key = signing_key_of(mon2_);

  // From here the server is the real service in this process, over the same data;
  // its store can invent objects.
  LyingStore* lying = StartLyingServer();
  ASSERT_NE(lying, nullptr);
  server::Store& store = lying->real();
  auto real_head = [&] { return *store.HeadSeq(vault_id); };

  // Through the CLI: only the owner revokes; only owners and coordinators grant and
  // invite; only monitors purge. Each refusal is exit code 5 and leaves nothing behind,
  // neither on the server nor queued on the device.
  const std::uint64_t head_before_cli = real_head();
  for (const Device* d : {&mon1_, &legal_, &coord_}) {
    auto revoke = d->Ev({"member", "revoke", mon2_.id});
    EXPECT_EQ(revoke.exit_code, 5) << d->name << ": " << revoke.Describe();
  }
  for (const Device* d : {&mon1_, &legal_}) {
    auto grant = d->Ev({"case", "grant", owner_case, "--to", legal_.id});
    EXPECT_EQ(grant.exit_code, 5) << d->name << ": " << grant.Describe();
    auto invite = d->Ev({"member", "invite", "--role", "monitor"});
    EXPECT_EQ(invite.exit_code, 5) << d->name << ": " << invite.Describe();
    EXPECT_FALSE(Contains(invite.out, "evault1/")) << invite.out;
  }
  auto legal_purge = legal_.Ev({"purge", "--synced"});
  EXPECT_EQ(legal_purge.exit_code, 5) << legal_purge.Describe();
  for (const Device* d : {&mon1_, &legal_, &coord_}) {
    EXPECT_EQ(Json(*d, {"status"})["unsynced_objects"], 0) << d->name << " queued a refused operation";
  }
  EXPECT_EQ(real_head(), head_before_cli) << "a refused operation reached the server";

  auto membership_ops = store.MembershipEnvelopes(vault_id);
  ASSERT_TRUE(membership_ops);
  vault::Membership membership;
  for (const auto& e : *membership_ops) ASSERT_TRUE(membership.Apply(e));
  const vault::Member* mon2_member = nullptr;
  for (const auto& [key, m] : membership.members()) {
    if (vault::DeviceIdFromKey(m.signing_key) == mon2_.id) mon2_member = &m;
  }
  ASSERT_NE(mon2_member, nullptr);
  const ObjectEnvelope* admit_mon1 = nullptr;
  for (const auto& e : *membership_ops) {
    auto op = vault::Membership::ParseOp(e);
    if (op && op->kind() == pb::MembershipOp::ADMIT &&
        vault::DeviceIdFromKey(crypto::AsBytes(op->subject().signing_key())) == mon1_.id) {
      admit_mon1 = &e;
    }
  }
  ASSERT_NE(admit_mon1, nullptr);
  const std::uint64_t epoch = membership.current_epoch();
  ASSERT_EQ(epoch, 1u);

  // A signed operation that continues its signer's chain as the server holds it now.
  auto forge = [&](const crypto::SigningKeyPair& signer, const pb::MembershipOp& op) {
    auto head = store.AuthorHead(vault_id, signer.public_key());
    EXPECT_TRUE(head);
    vault::ObjectCodec codec(vault_id, &signer);
    return codec.SealPublic(crypto::RandomBytes(vault::kIdBytes), crypto::AsBytes(op.SerializeAsString()),
                            head->author_seq + 1, head->hash);
  };
  auto revoke_mon2 = [&](std::uint64_t new_epoch) {
    pb::MembershipOp op;
    op.set_kind(pb::MembershipOp::REVOKE);
    op.mutable_subject()->set_signing_key(Str(mon2_member->signing_key));
    op.mutable_subject()->set_box_key(Str(mon2_member->box_key));
    op.set_role(pb::MONITOR);
    op.set_epoch(new_epoch);
    op.set_epoch_readers_key(Str(crypto::BoxKeyPair::Generate().public_key()));
    op.set_epoch_members_key(Str(crypto::BoxKeyPair::Generate().public_key()));
    op.set_created("2030-01-01T00:00:00Z");
    return op;
  };
  struct Forgery {
    std::string what;
    const crypto::SigningKeyPair* signer;  // it signs, and pushes it to the honest service
    pb::MembershipOp op;
    std::string client_reason;
  };
  std::vector<Forgery> forgeries;
  forgeries.push_back({"REVOKE signed by a coordinator", &coord_key, revoke_mon2(epoch + 1),
                       "REVOKE signed by a device that may not revoke"});
  forgeries.push_back({"REVOKE by the owner that skips an epoch", &owner_key, revoke_mon2(epoch + 2),
                       "must begin the next epoch"});
  {
    auto op = revoke_mon2(epoch + 1);
    auto* key = op.add_keys();
    key->set_kind(pb::SealedKey::MEMBERS_SEED);
    key->set_recipient(Str(mon2_member->signing_key));
    key->set_epoch(epoch + 1);
    key->set_sealed(Str(*crypto::SealToPublicKey(mon2_member->box_key, crypto::RandomBytes(32))));
    forgeries.push_back({"REVOKE by the owner that hands the new epoch to the revoked device", &owner_key, op,
                         "sealed to a revoked device"});
  }
  forgeries.push_back({"replayed ADMIT (mon1's admission, signed again by the owner)", &owner_key,
                       *vault::Membership::ParseOp(*admit_mon1), "ADMIT answers no open invite"});
  {
    pb::MembershipOp op;
    op.set_kind(pb::MembershipOp::SHARE);
    op.set_created("2030-01-01T00:00:00Z");
    auto* key = op.add_keys();
    key->set_kind(pb::SealedKey::EPOCH_SECRET);
    key->set_recipient(Str(mon2_member->signing_key));
    key->set_epoch(1);
    key->set_sealed(Str(*crypto::SealToPublicKey(mon2_member->box_key, crypto::RandomBytes(32))));
    forgeries.push_back({"SHARE by a monitor of the epoch secret, to itself", &mon2_key, op,
                         "SHARE signed by a device that may not share keys"});
  }

  // A lying server shows each forgery to honest clients: they refuse the whole page
  // (exit 4) naming the rule it breaks, and apply nothing of it.
  auto seen = [&](const Device& d) { return Json(d, {"status"})["server_objects_seen"].get<std::uint64_t>(); };
  std::map<const Device*, std::uint64_t> seen_before;
  for (const Device* d : {&mon1_, &owner_, &legal_}) seen_before[d] = seen(*d);
  const json members_before = Json(mon1_, {"member", "list"});
  for (std::size_t i = 0; i < forgeries.size(); ++i) {
    const Forgery& f = forgeries[i];
    lying->SetInvented({forge(*f.signer, f.op)});
    // The coordinator's REVOKE is shown to every kind of device; the rest to a monitor.
    const auto victims = i == 0 ? std::vector<const Device*>{&mon1_, &owner_, &legal_} : std::vector<const Device*>{&mon1_};
    for (const Device* victim : victims) {
      auto r = victim->Ev({"sync"});
      EXPECT_EQ(r.exit_code, 4) << f.what << ", shown to " << victim->name << ": " << r.Describe();
      EXPECT_TRUE(Contains(r.err, "forged membership operation")) << f.what << ": " << r.err;
      EXPECT_TRUE(Contains(r.err, f.client_reason)) << f.what << ": " << r.err;
      if (i == 0 || victim != &mon1_ || i + 1 == forgeries.size()) {
        EXPECT_EQ(seen(*victim), seen_before[victim]) << f.what << ": part of the refused page was applied";
      }
    }
  }
  // The very same ADMIT envelope served again is a replay of history.
  lying->SetInvented({*admit_mon1});
  auto replayed = mon1_.Ev({"sync"});
  EXPECT_EQ(replayed.exit_code, 4) << replayed.Describe();
  EXPECT_TRUE(Contains(replayed.err, "replayed")) << replayed.err;
  EXPECT_EQ(Json(mon1_, {"member", "list"}), members_before);
  lying->SetInvented({});
  ASSERT_TRUE(Sync(mon1_)) << "the honest history is refused after the lies stopped";
  EXPECT_EQ(Json(mon1_, {"member", "list"}), members_before);

  // The honest service refuses each forgery pushed by the device that signed it.
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = cli_test::ReadFile(server_->ca_file());
  auto stub = pb::VaultSync::NewStub(grpc::CreateChannel(server_->address(), grpc::SslCredentials(tls)));
  auto session = [&](const crypto::SigningKeyPair& key, grpc::Status* status) -> std::string {
    pb::ChallengeRequest challenge;
    challenge.set_vault_id(Str(vault_id));
    challenge.set_device_key(Str(key.public_key()));
    pb::ChallengeResponse nonce;
    grpc::ClientContext c1;
    *status = stub->Challenge(&c1, challenge, &nonce);
    if (!status->ok()) return "";
    pb::AuthenticateRequest auth;
    auth.set_vault_id(Str(vault_id));
    auth.set_device_key(Str(key.public_key()));
    auth.set_nonce(nonce.nonce());
    auth.set_purpose("sync");
    auth.set_signature(Str(key.Sign(vault::AuthSigningMessage(crypto::AsBytes(nonce.nonce()), vault_id,
                                                              key.public_key(), "sync"))));
    pb::AuthenticateResponse token;
    grpc::ClientContext c2;
    *status = stub->Authenticate(&c2, auth, &token);
    return status->ok() ? crypto::ToHex(crypto::AsBytes(token.session_token())) : "";
  };
  const std::uint64_t stored_before = real_head();
  for (const auto& f : forgeries) {
    grpc::Status status;
    const std::string token = session(*f.signer, &status);
    ASSERT_TRUE(status.ok()) << f.what << ": " << status.error_message();
    pb::PushRequest push;
    *push.add_objects() = forge(*f.signer, f.op);
    pb::PushResponse pushed;
    grpc::ClientContext ctx;
    ctx.AddMetadata("evault-session", token);
    status = stub->Push(&ctx, push, &pushed);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << f.what << ": " << status.error_message();
    EXPECT_TRUE(Contains(status.error_message(), "membership operation refused")) << status.error_message();
  }
  EXPECT_EQ(real_head(), stored_before) << "the server stored a forged membership operation";

  // A rogue key that was never admitted cannot even get a session.
  const auto rogue = crypto::SigningKeyPair::Generate();
  grpc::Status rogue_status;
  EXPECT_TRUE(session(rogue, &rogue_status).empty());
  EXPECT_EQ(rogue_status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << rogue_status.error_message();

  // Back on the evault-server process: the honest devices saw no change.
  lying_server_.reset();
  std::string error;
  ASSERT_TRUE(server_->Start(&error)) << error;
  ASSERT_TRUE(Sync(owner_));
  const json members = Json(owner_, {"member", "list"});
  EXPECT_EQ(members.size(), 5u);
  for (const auto& m : members) EXPECT_FALSE(m["revoked"].get<bool>()) << m.dump();
}

// --- 7. purge ---------------------------------------------------------------------------------

TEST_F(RolesTest, PurgeLeavesNothingOfSyncedEvidenceOnTheMonitorAndKeepsWhatIsUnsynced) {
  const std::string mon_case = NewCase(mon1_, "Monitor case PCASEg8");
  const std::string record = AddRecord(mon1_, mon_case, "Detention PTITLEg8", "witness PNARRg8 testified");
  const std::string content = FileContent("PFILEg8", 300000, 8);
  const std::string attachment = Attach(mon1_, record, "PNAMEg8.jpg", content);
  ASSERT_TRUE(Sync(mon1_));
  ASSERT_TRUE(Sync(owner_));
  ASSERT_EQ(Title(owner_, record), "Detention PTITLEg8");

  // What the server holds of the monitor: its envelopes and the attachment's chunks,
  // byte for byte the same as in the monitor's own database.
  const Bytes vault_id = VaultId();
  const fs::path copy = CopyServerData("server-copy");
  const ServerData data = ReadServerData(copy, vault_id);
  std::vector<std::string> needles;  // signatures and ciphertext of the monitor's synced objects, chunk slices
  for (const auto& o : data.objects) {
    if (AuthorId(o.envelope) != mon1_.id) continue;
    needles.push_back(o.envelope.signature());
    if (o.envelope.ciphertext().size() >= 48) needles.push_back(o.envelope.ciphertext().substr(8, 40));
  }
  ASSERT_GE(needles.size(), 6u);
  ASSERT_FALSE(data.chunks.empty());
  for (const auto& c : data.chunks) {
    ASSERT_GE(c.size(), 1024u);
    needles.push_back(c.substr(100, 48));
    needles.push_back(c.substr(c.size() - 200, 48));
  }
  auto found_in_monitor = [&] {
    const std::string all = AllBytesUnder(mon1_.vault);
    std::size_t found = 0;
    for (const auto& n : needles) found += Contains(all, n);
    return found;
  };
  const std::size_t found_before = found_in_monitor();
  EXPECT_EQ(found_before, needles.size()) << "control: the monitor's disk holds its synced ciphertext before the purge";

  // Evidence written after the last sync.
  const std::string unsynced = AddRecord(mon1_, mon_case, "Detention UNSYNCg8", "narrative UNSYNCNARRg8");
  const std::string unsynced_content = FileContent("UNSYNCFILEg8", 20000, 9);
  const std::string unsynced_attachment = Attach(mon1_, unsynced, "UNSYNCNAMEg8.jpg", unsynced_content);

  auto purged = mon1_.Ev({"purge", "--synced"});
  ASSERT_EQ(purged.exit_code, 0) << purged.Describe();
  EXPECT_TRUE(Contains(purged.out, "1 cases, 1 record revisions, 1 attachments")) << purged.out;

  for (const std::string marker : {"PCASEg8", "PTITLEg8", "PNARRg8", "PFILEg8", "PNAMEg8", "testified"}) {
    EXPECT_EQ(FilesContaining(mon1_.vault, marker), std::vector<std::string>()) << marker;
  }
  EXPECT_EQ(found_in_monitor(), 0u) << "ciphertext of purged objects or chunks is still in the monitor's files";
  EXPECT_EQ(RecordIds(mon1_), std::set<std::string>{unsynced});
  EXPECT_TRUE(SearchIds(mon1_, "PTITLEg8").empty());
  EXPECT_TRUE(SearchIds(mon1_, "PNARRg8").empty());
  EXPECT_NE(mon1_.Ev({"record", "show", record}).exit_code, 0);
  EXPECT_FALSE(GetAttachment(mon1_, attachment).has_value());
  EXPECT_FALSE(Contains(mon1_.Ev({"case", "list"}).out, "PCASEg8"));
  // What was not yet synced is all still there.
  EXPECT_EQ(Title(mon1_, unsynced), "Detention UNSYNCg8");
  EXPECT_EQ(SearchIds(mon1_, "UNSYNCNARRg8"), std::set<std::string>{unsynced});
  auto kept = GetAttachment(mon1_, unsynced_attachment);
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(*kept == unsynced_content);
  // The monitor can still add to its (purged) case.
  const std::string after_purge = AddRecord(mon1_, mon_case, "Detention AFTERPURGEg8", "n");
  ASSERT_TRUE(Sync(mon1_));
  ASSERT_TRUE(Sync(owner_));
  // The owner still has everything.
  EXPECT_EQ(Title(owner_, record), "Detention PTITLEg8");
  EXPECT_EQ(Title(owner_, unsynced), "Detention UNSYNCg8");
  EXPECT_EQ(Title(owner_, after_purge), "Detention AFTERPURGEg8");
  auto owner_copy = GetAttachment(owner_, unsynced_attachment);
  ASSERT_TRUE(owner_copy.has_value());
  EXPECT_TRUE(*owner_copy == unsynced_content);

  // Only monitors purge.
  EXPECT_EQ(owner_.Ev({"purge", "--synced"}).exit_code, 5);
  EXPECT_EQ(owner_.Ev({"purge", "--auto", "on"}).exit_code, 5);

  // Automatic purge: the next sync purges.
  auto on = mon1_.Ev({"purge", "--auto", "on"});
  ASSERT_EQ(on.exit_code, 0) << on.Describe();
  const std::string automatic = AddRecord(mon1_, mon_case, "Detention AUTOg8", "narrative AUTONARRg8");
  EXPECT_EQ(Title(mon1_, automatic), "Detention AUTOg8");
  auto synced = mon1_.Ev({"sync"});
  ASSERT_EQ(synced.exit_code, 0) << synced.Describe();
  EXPECT_TRUE(Contains(synced.out, "purged ")) << synced.out;
  EXPECT_TRUE(RecordIds(mon1_).empty());
  EXPECT_TRUE(SearchIds(mon1_, "AUTONARRg8").empty());
  EXPECT_NE(mon1_.Ev({"record", "show", automatic}).exit_code, 0);
  ASSERT_TRUE(Sync(owner_));
  EXPECT_EQ(Title(owner_, automatic), "Detention AUTOg8");
}

}  // namespace
}  // namespace evault::sync_test
