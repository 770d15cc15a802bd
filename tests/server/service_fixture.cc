#include "tests/server/service_fixture.h"

#include "server/enroll_tokens.h"

namespace evault::server::testing {

Client::Client(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetMaxSendMessageSize(-1);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stub_ = sv::VaultSync::NewStub(channel_);
}

void Client::Prepare(grpc::ClientContext& context) const {
  if (!session_hex_.empty()) context.AddMetadata(kSessionMetadataKey, session_hex_);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

Bytes AuthMessage(const std::string& nonce, const std::string& vault_id, const std::string& device_key,
                  const std::string& purpose) {
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-auth-v1"));
  crypto::AppendField(m, crypto::AsBytes(nonce));
  crypto::AppendField(m, crypto::AsBytes(vault_id));
  crypto::AppendField(m, crypto::AsBytes(device_key));
  crypto::AppendField(m, crypto::AsBytes(purpose));
  return m;
}

sv::JoinRequest SignedJoin(const TestVault& v, const Bytes& invite_id, const Device& d) {
  sv::JoinRequest r;
  r.set_vault_id(v.id_str());
  r.set_invite_id(Str(invite_id));
  *r.mutable_device() = d.keys();
  r.set_proof(Str(crypto::RandomBytes(32)));  // the server cannot check it anyway
  Bytes m;
  crypto::AppendField(m, crypto::AsBytes("evault-join-v1"));
  crypto::AppendField(m, crypto::AsBytes(r.vault_id()));
  crypto::AppendField(m, crypto::AsBytes(r.invite_id()));
  crypto::AppendField(m, crypto::AsBytes(r.device().signing_key()));
  crypto::AppendField(m, crypto::AsBytes(r.device().box_key()));
  crypto::AppendField(m, crypto::AsBytes(r.proof()));
  r.set_device_signature(Str(d.signing.Sign(m)));
  return r;
}

grpc::Status Client::Login(const TestVault& v, const Device& d, const std::string& purpose) {
  sv::ChallengeRequest challenge;
  challenge.set_vault_id(v.id_str());
  challenge.set_device_key(d.key());
  sv::ChallengeResponse nonce;
  {
    grpc::ClientContext context;
    Prepare(context);
    grpc::Status s = stub_->Challenge(&context, challenge, &nonce);
    if (!s.ok()) return s;
  }
  sv::AuthenticateRequest auth;
  auth.set_vault_id(v.id_str());
  auth.set_device_key(d.key());
  auth.set_nonce(nonce.nonce());
  auth.set_purpose(purpose);
  auth.set_signature(Str(d.signing.Sign(AuthMessage(nonce.nonce(), v.id_str(), d.key(), purpose))));
  sv::AuthenticateResponse session;
  grpc::ClientContext context;
  Prepare(context);
  grpc::Status s = stub_->Authenticate(&context, auth, &session);
  if (s.ok()) session_hex_ = crypto::ToHex(crypto::AsBytes(session.session_token()));
  return s;
}

grpc::Status Client::Push(const std::vector<ObjectEnvelope>& objects, sv::PushResponse* response) {
  sv::PushRequest request;
  for (const auto& e : objects) *request.add_objects() = e;
  sv::PushResponse unused;
  grpc::ClientContext context;
  Prepare(context);
  return stub_->Push(&context, request, response ? response : &unused);
}

grpc::Status Client::Pull(std::uint64_t after_seq, std::uint32_t limit, sv::PullResponse* response) {
  sv::PullRequest request;
  request.set_after_seq(after_seq);
  request.set_limit(limit);
  grpc::ClientContext context;
  Prepare(context);
  return stub_->Pull(&context, request, response);
}

grpc::Status Client::PutChunks(const std::vector<sv::Chunk>& chunks, std::uint64_t* stored) {
  grpc::ClientContext context;
  Prepare(context);
  sv::PutChunksResponse response;
  auto writer = stub_->PutChunks(&context, &response);
  for (const auto& c : chunks) {
    if (!writer->Write(c)) break;  // the server refused; Finish says why
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (s.ok() && stored) *stored = response.stored();
  return s;
}

grpc::Status Client::GetChunks(const std::vector<Bytes>& ids, std::vector<sv::Chunk>* out) {
  sv::GetChunksRequest request;
  for (const auto& id : ids) request.add_chunk_ids(Str(id));
  grpc::ClientContext context;
  Prepare(context);
  auto reader = stub_->GetChunks(&context, request);
  sv::Chunk chunk;
  while (reader->Read(&chunk)) out->push_back(chunk);
  return reader->Finish();
}

void ServiceTest::SetUp() {
  crypto::EnsureSodium();
  Start();
}

void ServiceTest::TearDown() { Stop(); }

void ServiceTest::Start(std::function<void(ServiceOptions&)> tweak,
                        std::function<std::unique_ptr<Store>(std::unique_ptr<Store>)> wrap) {
  Stop();
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.credentials = grpc::InsecureServerCredentials();
  options.admin_socket = admin_socket_;
  options.service.enroll_token_hashes = {EnrollTokenHash(kToken), EnrollTokenHash(kToken2), EnrollTokenHash(kToken3)};
  options.service.log_sink = [this](std::string_view line) {
    std::lock_guard lock(log_mu_);
    log_lines_.emplace_back(line);
  };
  if (tweak) tweak(options.service);
  auto store = RocksDbStore::Open(dir_.path() / "data");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  std::unique_ptr<Store> base = std::move(*store);
  if (wrap) base = wrap(std::move(base));
  auto server = StartServer(std::move(options), std::move(base));
  ASSERT_TRUE(server.has_value()) << server.error().message;
  server_ = std::move(*server);
}

void ServiceTest::Stop() { server_.reset(); }

grpc::Status ServiceTest::CreateVault(const TestVault& v, const ObjectEnvelope& genesis, const std::string& token) {
  auto client = NewClient();
  sv::CreateVaultRequest request;
  request.set_vault_id(v.id_str());
  request.set_enroll_token(token);
  *request.mutable_genesis() = genesis;
  sv::CreateVaultResponse response;
  grpc::ClientContext context;
  client->Prepare(context);
  grpc::Status s = client->stub().CreateVault(&context, request, &response);
  if (s.ok()) {
    EXPECT_EQ(response.server_seq(), 1u);
  }
  return s;
}

void ServiceTest::CreateVaultWithOwner() {
  ASSERT_TRUE(CreateVault(vault_, vault_.Genesis(owner_), kToken).ok());
  owner_client_ = NewClient();
  grpc::Status s = owner_client_->Login(vault_, owner_);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

ServiceTest::Member ServiceTest::AddMember(sv::Role role) {
  Member m{std::make_unique<Device>(), NewClient()};
  const Bytes invite = crypto::RandomBytes(32);
  grpc::Status s = owner_client_->Push({vault_.Invite(owner_, invite, role), vault_.Admit(owner_, *m.device, invite, role)});
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = m.client->Login(vault_, *m.device);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return m;
}

std::uint64_t ServiceTest::HeadSeq(Client& client) {
  sv::PullResponse response;
  grpc::Status s = client.Pull(UINT64_MAX - 1, 1, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.head_seq();
}

std::vector<std::string> ServiceTest::LogLines() {
  std::lock_guard lock(log_mu_);
  return log_lines_;
}

std::vector<sv::PulledObject> PullAll(Client& client, std::string* incarnation) {
  std::vector<sv::PulledObject> out;
  std::uint64_t after = 0;
  for (int pages = 0; pages < 1000; ++pages) {
    sv::PullResponse r;
    const grpc::Status s = client.Pull(after, 0, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (incarnation) *incarnation = r.server_incarnation();
    if (!s.ok() || r.objects_size() == 0) break;
    for (const auto& o : r.objects()) out.push_back(o);
    after = out.back().server_seq();
    if (after >= r.head_seq()) break;
  }
  return out;
}

}  // namespace evault::server::testing
