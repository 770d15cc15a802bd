// VaultSync over a real gRPC server on 127.0.0.1: every rule of server/service.h, and
// every refusal with its status code, while other clients keep working.
#include <atomic>

#include <nlohmann/json.hpp>

#include "tests/server/service_fixture.h"

namespace evault::server::testing {
namespace {

using grpc::StatusCode;

#define EXPECT_CODE(status_expr, code)                                       \
  do {                                                                       \
    const grpc::Status evs_status_ = (status_expr);                          \
    EXPECT_EQ(evs_status_.error_code(), code) << evs_status_.error_message(); \
  } while (0)

// --- vault creation ------------------------------------------------------------------

TEST_F(ServiceTest, CreateVaultNeedsAnUnspentConfiguredToken) {
  Device owner;
  TestVault v;
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), "not-a-configured-token-000"), StatusCode::PERMISSION_DENIED);
  owner.chain = {};
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), ""), StatusCode::PERMISSION_DENIED);
  owner.chain = {};
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), kToken), StatusCode::OK);

  // The token is spent, even for another vault; the vault exists, even with another token.
  Device owner2;
  TestVault v2;
  EXPECT_CODE(CreateVault(v2, v2.Genesis(owner2), kToken), StatusCode::PERMISSION_DENIED);
  Device owner3;
  EXPECT_CODE(CreateVault(v, v.Genesis(owner3), kToken2), StatusCode::ALREADY_EXISTS);
  // ... and that refusal did not spend kToken2.
  owner2.chain = {};
  EXPECT_CODE(CreateVault(v2, v2.Genesis(owner2), kToken2), StatusCode::OK);
}

TEST_F(ServiceTest, CreateVaultRefusesABadGenesis) {
  TestVault v, other;
  Device owner;
  // Signed for another vault.
  EXPECT_CODE(CreateVault(v, other.Genesis(owner), kToken), StatusCode::INVALID_ARGUMENT);
  // Not the author's first object.
  owner.chain = {5, crypto::RandomBytes(32)};
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), kToken), StatusCode::INVALID_ARGUMENT);
  // Not a GENESIS at all, or its signature broken.
  owner.chain = {};
  EXPECT_CODE(CreateVault(v, v.Sealed(owner), kToken), StatusCode::INVALID_ARGUMENT);
  owner.chain = {};
  ObjectEnvelope g = v.Genesis(owner);
  g.mutable_signature()->at(3) ^= 1;
  EXPECT_CODE(CreateVault(v, g, kToken), StatusCode::INVALID_ARGUMENT);
  // A bad vault id.
  TestVault bad;
  bad.id.resize(8);
  owner.chain = {};
  EXPECT_CODE(CreateVault(bad, bad.Genesis(owner), kToken), StatusCode::INVALID_ARGUMENT);
  // None of that spent the token.
  owner.chain = {};
  EXPECT_CODE(CreateVault(v, v.Genesis(owner), kToken), StatusCode::OK);
}

// --- authentication ------------------------------------------------------------------

TEST_F(ServiceTest, AuthenticateChecksSignatureNonceAndMembership) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  auto client = NewClient();
  auto challenge = [&](const Device& d) {
    sv::ChallengeRequest r;
    r.set_vault_id(vault_.id_str());
    r.set_device_key(d.key());
    sv::ChallengeResponse out;
    grpc::ClientContext c;
    client->Prepare(c);
    EXPECT_TRUE(client->stub().Challenge(&c, r, &out).ok());
    EXPECT_EQ(out.nonce().size(), 32u);
    return out.nonce();
  };
  auto authenticate = [&](const Device& d, const std::string& nonce, const Device& signer,
                          const std::string& purpose = "sync") {
    sv::AuthenticateRequest r;
    r.set_vault_id(vault_.id_str());
    r.set_device_key(d.key());
    r.set_nonce(nonce);
    r.set_purpose(purpose);
    r.set_signature(Str(signer.signing.Sign(AuthMessage(nonce, vault_.id_str(), d.key(), purpose))));
    sv::AuthenticateResponse out;
    grpc::ClientContext c;
    client->Prepare(c);
    grpc::Status s = client->stub().Authenticate(&c, r, &out);
    if (s.ok()) {
      EXPECT_EQ(out.session_token().size(), 32u);
      EXPECT_EQ(out.expires_in_seconds(), 900u);
    }
    return s;
  };

  Device stranger;
  // Signed by someone else: refused, and the nonce is gone.
  std::string nonce = challenge(owner_);
  EXPECT_CODE(authenticate(owner_, nonce, stranger), StatusCode::UNAUTHENTICATED);
  EXPECT_CODE(authenticate(owner_, nonce, owner_), StatusCode::UNAUTHENTICATED);
  // A good one works once; its replay does not.
  nonce = challenge(owner_);
  EXPECT_CODE(authenticate(owner_, nonce, owner_), StatusCode::OK);
  EXPECT_CODE(authenticate(owner_, nonce, owner_), StatusCode::UNAUTHENTICATED);
  // A nonce issued to another device, or never issued.
  nonce = challenge(stranger);
  EXPECT_CODE(authenticate(owner_, nonce, owner_), StatusCode::UNAUTHENTICATED);
  EXPECT_CODE(authenticate(owner_, Str(crypto::RandomBytes(32)), owner_), StatusCode::UNAUTHENTICATED);
  // A valid signature by a device that is not a member.
  nonce = challenge(stranger);
  EXPECT_CODE(authenticate(stranger, nonce, stranger), StatusCode::PERMISSION_DENIED);
  // Malformed fields and purposes.
  nonce = challenge(owner_);
  EXPECT_CODE(authenticate(owner_, nonce, owner_, "admin"), StatusCode::INVALID_ARGUMENT);
  EXPECT_CODE(authenticate(owner_, "short", owner_), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, CallsWithoutAValidSessionAreUnauthenticated) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  auto client = NewClient();
  sv::PullResponse pulled;
  EXPECT_CODE(client->Pull(0, 0, &pulled), StatusCode::UNAUTHENTICATED);
  client->set_session_hex("zz");
  EXPECT_CODE(client->Pull(0, 0, &pulled), StatusCode::UNAUTHENTICATED);
  client->set_session_hex(crypto::ToHex(crypto::RandomBytes(32)));
  EXPECT_CODE(client->Pull(0, 0, &pulled), StatusCode::UNAUTHENTICATED);
  EXPECT_CODE(client->Push({vault_.Sealed(owner_)}), StatusCode::UNAUTHENTICATED);
  std::vector<sv::Chunk> got;
  EXPECT_CODE(client->GetChunks({crypto::RandomBytes(16)}, &got), StatusCode::UNAUTHENTICATED);
  EXPECT_CODE(client->PutChunks({}), StatusCode::UNAUTHENTICATED);
}

TEST_F(ServiceTest, AJoinSessionCannotSync) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Device stranger;
  auto client = NewClient();
  ASSERT_TRUE(client->Login(vault_, stranger, "join").ok());
  sv::PullResponse pulled;
  EXPECT_CODE(client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
}

// --- push and pull ---------------------------------------------------------------------

TEST_F(ServiceTest, PushAndPullRoundTripAChain) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  std::vector<ObjectEnvelope> pushed;
  for (int i = 0; i < 5; ++i) pushed.push_back(vault_.Sealed(owner_, "record " + std::to_string(i)));
  sv::PushResponse first, second;
  ASSERT_TRUE(owner_client_->Push({pushed[0], pushed[1], pushed[2]}, &first).ok());
  ASSERT_TRUE(owner_client_->Push({pushed[3], pushed[4]}, &second).ok());
  EXPECT_EQ(std::vector<std::uint64_t>(first.server_seq().begin(), first.server_seq().end()),
            (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(std::vector<std::uint64_t>(second.server_seq().begin(), second.server_seq().end()),
            (std::vector<std::uint64_t>{5, 6}));

  sv::PullResponse all;
  ASSERT_TRUE(owner_client_->Pull(0, 0, &all).ok());
  EXPECT_EQ(all.head_seq(), 6u);
  ASSERT_EQ(all.objects_size(), 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(all.objects(i).server_seq(), static_cast<std::uint64_t>(i + 1));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all.objects(i + 1).object().SerializeAsString(), pushed[i].SerializeAsString());
  // The objects still open with the read key: the server changed nothing.
  vault::ObjectCodec codec(vault_.id, &owner_.signing, &vault_.read_key);
  auto opened = codec.Open(all.objects(3).object(), ToBytes(pushed[2].object_id()));
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->body.view(), "record 2");

  sv::PullResponse page;
  ASSERT_TRUE(owner_client_->Pull(2, 2, &page).ok());
  ASSERT_EQ(page.objects_size(), 2);
  EXPECT_EQ(page.objects(0).server_seq(), 3u);
  EXPECT_EQ(page.head_seq(), 6u);
  // Beyond the head: an empty answer with the true head, so a client sees a rollback.
  sv::PullResponse beyond;
  ASSERT_TRUE(owner_client_->Pull(40, 0, &beyond).ok());
  EXPECT_EQ(beyond.objects_size(), 0);
  EXPECT_EQ(beyond.head_seq(), 6u);
  // An empty push is fine and changes nothing.
  EXPECT_CODE(owner_client_->Push({}), StatusCode::OK);
  EXPECT_EQ(HeadSeq(*owner_client_), 6u);
}

TEST_F(ServiceTest, BadPushesAreRefusedWhileOthersKeepWorking) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  Device& m = *monitor.device;
  std::uint64_t head = HeadSeq(*owner_client_);
  auto others_still_work = [&] {
    ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_)}).ok());
    EXPECT_EQ(HeadSeq(*monitor.client), ++head);
  };

  ASSERT_TRUE(monitor.client->Push({vault_.Sealed(m)}).ok());
  ++head;
  const Device::Chain after_one = m.chain;
  {  // Out of order: seq 3 after 1.
    vault_.Sealed(m);  // seq 2, never pushed
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(m)}), StatusCode::FAILED_PRECONDITION);
    m.chain = after_one;
  }
  others_still_work();
  {  // Right seq, wrong previous hash.
    m.chain.head = crypto::RandomBytes(32);
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(m)}), StatusCode::FAILED_PRECONDITION);
    m.chain = after_one;
  }
  others_still_work();
  {  // Starting the chain over at 1: a fork.
    m.chain = {};
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(m)}), StatusCode::FAILED_PRECONDITION);
    m.chain = after_one;
  }
  others_still_work();
  {  // Someone else's object, even a validly signed one.
    const auto saved = owner_.chain;
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(owner_)}), StatusCode::PERMISSION_DENIED);
    owner_.chain = saved;
  }
  others_still_work();
  {  // Another vault's object.
    TestVault elsewhere;
    EXPECT_CODE(monitor.client->Push({elsewhere.Sealed(m)}), StatusCode::PERMISSION_DENIED);
    m.chain = after_one;
  }
  others_still_work();
  {  // A tampered signature, and tampered content under a good-looking signature.
    auto fix = owner_.chain;
    ObjectEnvelope e = vault_.Sealed(owner_);
    owner_.chain = fix;
    e.mutable_signature()->at(0) ^= 0x80;
    EXPECT_CODE(owner_client_->Push({e}), StatusCode::INVALID_ARGUMENT);
    e = vault_.Sealed(owner_);
    owner_.chain = fix;
    e.mutable_ciphertext()->at(5) ^= 1;
    EXPECT_CODE(owner_client_->Push({e}), StatusCode::INVALID_ARGUMENT);
  }
  others_still_work();
  {  // Malformed: a short object id.
    auto fix = owner_.chain;
    ObjectEnvelope e = vault_.Sealed(owner_);
    owner_.chain = fix;
    e.set_object_id("short");
    EXPECT_CODE(owner_client_->Push({e}), StatusCode::INVALID_ARGUMENT);
  }
  others_still_work();
  {  // All or nothing: a good object followed by a bad one stores neither.
    auto fix = owner_.chain;
    ObjectEnvelope good = vault_.Sealed(owner_);
    vault_.Sealed(owner_);  // skipped
    ObjectEnvelope bad = vault_.Sealed(owner_);
    EXPECT_CODE(owner_client_->Push({good, bad}), StatusCode::FAILED_PRECONDITION);
    owner_.chain = fix;
    EXPECT_EQ(HeadSeq(*owner_client_), head);
  }
  others_still_work();
}

TEST_F(ServiceTest, RePushIsIdempotent) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  std::vector<ObjectEnvelope> batch = {vault_.Sealed(owner_), vault_.Sealed(owner_)};
  sv::PushResponse first, again;
  ASSERT_TRUE(owner_client_->Push(batch, &first).ok());
  // The reply was "lost": the client pushes the same objects again.
  ASSERT_TRUE(owner_client_->Push(batch, &again).ok());
  ASSERT_EQ(again.server_seq_size(), 2);
  EXPECT_EQ(again.server_seq(0), first.server_seq(0));
  EXPECT_EQ(again.server_seq(1), first.server_seq(1));
  // A replay followed by new objects in one push.
  ObjectEnvelope next = vault_.Sealed(owner_);
  sv::PushResponse mixed;
  ASSERT_TRUE(owner_client_->Push({batch[1], next}, &mixed).ok());
  EXPECT_EQ(mixed.server_seq(0), first.server_seq(1));
  EXPECT_EQ(mixed.server_seq(1), first.server_seq(1) + 1);
  EXPECT_EQ(HeadSeq(*owner_client_), 4u);
  // The same object twice in one push.
  ObjectEnvelope twice = vault_.Sealed(owner_);
  sv::PushResponse dup;
  ASSERT_TRUE(owner_client_->Push({twice, twice}, &dup).ok());
  EXPECT_EQ(dup.server_seq(0), dup.server_seq(1));
  // A stored object id with other contents is not a replay.
  ObjectEnvelope impostor = vault_.Sealed(owner_);
  impostor.set_object_id(batch[0].object_id());
  EXPECT_CODE(owner_client_->Push({impostor}), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(HeadSeq(*owner_client_), 5u);
}

TEST_F(ServiceTest, OversizedMessagesAndObjectsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const Device::Chain fix = owner_.chain;
  // Beyond the 16 MiB message limit: gRPC refuses before the service sees it.
  ObjectEnvelope huge = vault_.Sealed(owner_);
  huge.mutable_ciphertext()->append(17 << 20, 'x');
  EXPECT_CODE(owner_client_->Push({huge}), StatusCode::RESOURCE_EXHAUSTED);
  owner_.chain = fix;
  // Within the message limit, but an object over 4 MiB.
  ObjectEnvelope big = vault_.Sealed(owner_, std::string(5 << 20, 'y'));
  EXPECT_CODE(owner_client_->Push({big}), StatusCode::INVALID_ARGUMENT);
  owner_.chain = fix;
  // Too many objects in one push.
  std::vector<ObjectEnvelope> many;
  for (std::size_t i = 0; i <= kMaxPushObjects; ++i) many.push_back(vault_.Sealed(owner_, "x"));
  EXPECT_CODE(owner_client_->Push(many), StatusCode::INVALID_ARGUMENT);
  owner_.chain = fix;
  // The server is fine.
  EXPECT_CODE(owner_client_->Push({vault_.Sealed(owner_)}), StatusCode::OK);
}

// --- membership --------------------------------------------------------------------------

TEST_F(ServiceTest, MembershipOperationsFollowTheRules) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  // INVITE by the owner: accepted.
  const Bytes invite = crypto::RandomBytes(32);
  EXPECT_CODE(owner_client_->Push({vault_.Invite(owner_, invite, sv::MONITOR)}), StatusCode::OK);

  Member monitor = AddMember(sv::MONITOR);
  Device& m = *monitor.device;
  // INVITE by a monitor: refused.
  auto fix = m.chain;
  EXPECT_CODE(monitor.client->Push({vault_.Invite(m, crypto::RandomBytes(32), sv::MONITOR)}),
              StatusCode::PERMISSION_DENIED);
  m.chain = fix;
  // A forged ADMIT: a monitor admitting its accomplice on the owner's open invite.
  Device accomplice;
  EXPECT_CODE(monitor.client->Push({vault_.Admit(m, accomplice, invite, sv::MONITOR)}), StatusCode::PERMISSION_DENIED);
  m.chain = fix;
  // ADMIT by the owner with a role other than invited, or with no invite: refused.
  auto owner_fix = owner_.chain;
  EXPECT_CODE(owner_client_->Push({vault_.Admit(owner_, accomplice, invite, sv::COORDINATOR)}),
              StatusCode::PERMISSION_DENIED);
  owner_.chain = owner_fix;
  EXPECT_CODE(owner_client_->Push({vault_.Admit(owner_, accomplice, crypto::RandomBytes(32), sv::MONITOR)}),
              StatusCode::PERMISSION_DENIED);
  owner_.chain = owner_fix;
  // A second GENESIS: refused.
  EXPECT_CODE(owner_client_->Push({vault_.Genesis(owner_)}), StatusCode::PERMISSION_DENIED);
  owner_.chain = owner_fix;
  // The accomplice was never admitted.
  auto accomplice_client = NewClient();
  EXPECT_CODE(accomplice_client->Login(vault_, accomplice), StatusCode::PERMISSION_DENIED);
  // The monitor may still write ordinary objects.
  EXPECT_CODE(monitor.client->Push({vault_.Sealed(m)}), StatusCode::OK);
}

TEST_F(ServiceTest, LegalMembersReadButDoNotWrite) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member legal = AddMember(sv::LEGAL);
  sv::PullResponse pulled;
  EXPECT_CODE(legal.client->Pull(0, 0, &pulled), StatusCode::OK);
  EXPECT_EQ(pulled.objects_size(), 3);
  EXPECT_CODE(legal.client->Push({vault_.Sealed(*legal.device)}), StatusCode::PERMISSION_DENIED);
  sv::Chunk c;
  c.set_chunk_id(Str(crypto::RandomBytes(16)));
  c.set_data("sealed");
  EXPECT_CODE(legal.client->PutChunks({c}), StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceTest, RevokedDevicesAreRefusedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member coordinator = AddMember(sv::COORDINATOR);
  sv::PullResponse pulled;
  EXPECT_CODE(coordinator.client->Pull(0, 0, &pulled), StatusCode::OK);
  // A coordinator may not revoke; the owner may.
  auto fix = coordinator.device->chain;
  EXPECT_CODE(coordinator.client->Push({vault_.Revoke(*coordinator.device, owner_)}), StatusCode::PERMISSION_DENIED);
  coordinator.device->chain = fix;
  EXPECT_CODE(owner_client_->Push({vault_.Revoke(owner_, *coordinator.device)}), StatusCode::OK);
  // The live session stops working, and no new one is given.
  EXPECT_CODE(coordinator.client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(coordinator.client->Push({vault_.Sealed(*coordinator.device)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(coordinator.client->Login(vault_, *coordinator.device), StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceTest, JoinRequestFlow) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const Bytes invite = crypto::RandomBytes(32);
  Device joiner, squatter;
  auto anonymous = NewClient();
  auto join = [&](const sv::JoinRequest& r) {
    sv::JoinResponse out;
    grpc::ClientContext c;
    anonymous->Prepare(c);
    return anonymous->stub().Join(&c, r, &out);
  };
  auto list = [&](Client& client, sv::ListJoinRequestsResponse* out) {
    grpc::ClientContext c;
    client.Prepare(c);
    return client.stub().ListJoinRequests(&c, sv::ListJoinRequestsRequest(), out);
  };

  // Before the invite is published: not open.
  EXPECT_CODE(join(SignedJoin(vault_, invite, joiner)), StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(owner_client_->Push({vault_.Invite(owner_, invite, sv::MONITOR)}).ok());

  TestVault nowhere;
  EXPECT_CODE(join(SignedJoin(nowhere, invite, joiner)), StatusCode::NOT_FOUND);
  sv::JoinRequest forged = SignedJoin(vault_, invite, joiner);
  forged.set_proof(Str(crypto::RandomBytes(32)));  // changed after signing
  EXPECT_CODE(join(forged), StatusCode::UNAUTHENTICATED);
  sv::JoinRequest malformed = SignedJoin(vault_, invite, joiner);
  malformed.mutable_device()->set_box_key("short");
  EXPECT_CODE(join(malformed), StatusCode::INVALID_ARGUMENT);
  EXPECT_CODE(join(SignedJoin(vault_, invite, owner_)), StatusCode::FAILED_PRECONDITION);  // already a member

  const sv::JoinRequest request = SignedJoin(vault_, invite, joiner);
  EXPECT_CODE(join(request), StatusCode::OK);
  EXPECT_CODE(join(request), StatusCode::ALREADY_EXISTS);
  EXPECT_CODE(join(SignedJoin(vault_, invite, squatter)), StatusCode::ALREADY_EXISTS);

  // The owner sees the request, exactly as signed; a monitor may not list.
  sv::ListJoinRequestsResponse listed;
  ASSERT_TRUE(list(*owner_client_, &listed).ok());
  ASSERT_EQ(listed.requests_size(), 1);
  EXPECT_EQ(listed.requests(0).SerializeAsString(), request.SerializeAsString());
  Member monitor = AddMember(sv::MONITOR);
  sv::ListJoinRequestsResponse denied;
  EXPECT_CODE(list(*monitor.client, &denied), StatusCode::PERMISSION_DENIED);

  // The owner admits the joiner: the request is done, and the joiner can sync.
  ASSERT_TRUE(owner_client_->Push({vault_.Admit(owner_, joiner, invite, sv::MONITOR)}).ok());
  sv::ListJoinRequestsResponse after;
  ASSERT_TRUE(list(*owner_client_, &after).ok());
  EXPECT_EQ(after.requests_size(), 0);
  auto joined = NewClient();
  ASSERT_TRUE(joined->Login(vault_, joiner).ok());
  sv::PullResponse pulled;
  ASSERT_TRUE(joined->Pull(0, 0, &pulled).ok());
  EXPECT_EQ(pulled.head_seq(), HeadSeq(*owner_client_));
  // The invite is closed now.
  Device late;
  EXPECT_CODE(join(SignedJoin(vault_, invite, late)), StatusCode::FAILED_PRECONDITION);
}

// --- chunks ------------------------------------------------------------------------------

TEST_F(ServiceTest, ChunksMissingPutGet) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  std::vector<sv::Chunk> chunks;
  std::vector<Bytes> ids;
  for (std::size_t size : {100u, 1u << 20, 300000u}) {
    sv::Chunk c;
    ids.push_back(crypto::RandomBytes(16));
    c.set_chunk_id(Str(ids.back()));
    c.set_data(Str(crypto::RandomBytes(size)));
    chunks.push_back(c);
  }
  auto missing = [&](const std::vector<Bytes>& asked, sv::MissingChunksResponse* out) {
    sv::MissingChunksRequest r;
    for (const auto& id : asked) r.add_chunk_ids(Str(id));
    grpc::ClientContext c;
    owner_client_->Prepare(c);
    return owner_client_->stub().MissingChunks(&c, r, out);
  };
  sv::MissingChunksResponse before;
  ASSERT_TRUE(missing(ids, &before).ok());
  EXPECT_EQ(before.missing_size(), 3);

  std::uint64_t stored = 0;
  ASSERT_TRUE(owner_client_->PutChunks({chunks[0], chunks[1]}, &stored).ok());
  EXPECT_EQ(stored, 2u);
  sv::MissingChunksResponse after;
  ASSERT_TRUE(missing(ids, &after).ok());
  ASSERT_EQ(after.missing_size(), 1);
  EXPECT_EQ(after.missing(0), Str(ids[2]));
  ASSERT_TRUE(owner_client_->PutChunks(chunks, &stored).ok());  // a re-upload is harmless
  EXPECT_EQ(stored, 3u);

  std::vector<sv::Chunk> got;
  ASSERT_TRUE(owner_client_->GetChunks({ids[2], ids[0], ids[1]}, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data(), chunks[2].data());
  EXPECT_EQ(got[1].data(), chunks[0].data());
  EXPECT_EQ(got[2].chunk_id(), chunks[1].chunk_id());
  EXPECT_EQ(got[2].data(), chunks[1].data());

  got.clear();
  EXPECT_CODE(owner_client_->GetChunks({ids[0], crypto::RandomBytes(16)}, &got), StatusCode::NOT_FOUND);
  // Malformed: bad ids, an oversized chunk, too many ids.
  got.clear();
  EXPECT_CODE(owner_client_->GetChunks({crypto::RandomBytes(15)}, &got), StatusCode::INVALID_ARGUMENT);
  sv::Chunk bad = chunks[0];
  bad.set_chunk_id("short");
  EXPECT_CODE(owner_client_->PutChunks({bad}), StatusCode::INVALID_ARGUMENT);
  sv::Chunk too_big = chunks[0];
  too_big.set_chunk_id(Str(crypto::RandomBytes(16)));
  too_big.set_data(std::string(kMaxChunkBytes + 1, 'z'));
  EXPECT_CODE(owner_client_->PutChunks({too_big}), StatusCode::INVALID_ARGUMENT);
  std::vector<Bytes> lots(kMaxChunkIdsPerCall + 1, crypto::RandomBytes(16));
  sv::MissingChunksResponse refused;
  EXPECT_CODE(missing(lots, &refused), StatusCode::INVALID_ARGUMENT);

  // Another vault's member sees none of it.
  TestVault other;
  Device other_owner;
  ASSERT_TRUE(CreateVault(other, other.Genesis(other_owner), kToken2).ok());
  auto outsider = NewClient();
  ASSERT_TRUE(outsider->Login(other, other_owner).ok());
  got.clear();
  EXPECT_CODE(outsider->GetChunks({ids[0]}, &got), StatusCode::NOT_FOUND);
}

// --- limits --------------------------------------------------------------------------------

TEST_F(ServiceTest, RateLimitReturnsResourceExhausted) {
  Start([](ServiceOptions& o) { o.rate_limit = 5; });
  EXPECT_CODE(CreateVault(vault_, vault_.Genesis(owner_), kToken), StatusCode::OK);
  auto client = NewClient();
  int refused = 0;
  for (int i = 0; i < 30; ++i) {
    sv::ChallengeRequest r;
    r.set_vault_id(vault_.id_str());
    r.set_device_key(owner_.key());
    sv::ChallengeResponse out;
    grpc::ClientContext c;
    client->Prepare(c);
    const grpc::Status s = client->stub().Challenge(&c, r, &out);
    if (s.error_code() == StatusCode::RESOURCE_EXHAUSTED) ++refused;
    else EXPECT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_GE(refused, 15);
  // Another device has its own bucket.
  Device other;
  auto other_client = NewClient();
  EXPECT_CODE(other_client->Login(vault_, other), StatusCode::PERMISSION_DENIED);  // allowed through, not a member
}

TEST_F(ServiceTest, QuotaExceededReturnsResourceExhausted) {
  Start([](ServiceOptions& o) { o.quota_bytes = 16 << 10; });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  int pushed = 0;
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    const auto fix = owner_.chain;
    s = owner_client_->Push({vault_.Sealed(owner_, std::string(1500, 'q'))});
    if (!s.ok()) {
      owner_.chain = fix;
      break;
    }
    ++pushed;
  }
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_GT(pushed, 3);
  EXPECT_EQ(HeadSeq(*owner_client_), static_cast<std::uint64_t>(pushed + 1));
  sv::Chunk c;
  c.set_chunk_id(Str(crypto::RandomBytes(16)));
  c.set_data(std::string(20 << 10, 'c'));
  EXPECT_CODE(owner_client_->PutChunks({c}), StatusCode::RESOURCE_EXHAUSTED);
  // Replays cost nothing, so they still go through; reads too.
  sv::PullResponse pulled;
  ASSERT_TRUE(owner_client_->Pull(1, 1, &pulled).ok());
  EXPECT_CODE(owner_client_->Push({pulled.objects(0).object()}), StatusCode::OK);
}

// --- robustness ------------------------------------------------------------------------------

// A Store that forwards to a real one, failing appends on demand.
class FlakyStore final : public Store {
 public:
  FlakyStore(std::unique_ptr<Store> inner, std::atomic<bool>* fail) : inner_(std::move(inner)), fail_(fail) {}
  Result<bool> VaultExists(crypto::ByteView v) override { return inner_->VaultExists(v); }
  Result<CreateOutcome> CreateVault(crypto::ByteView v, const ObjectEnvelope& g, crypto::ByteView t) override {
    return inner_->CreateVault(v, g, t);
  }
  Result<std::vector<Appended>> Append(crypto::ByteView v, std::span<const ObjectEnvelope> e) override {
    if (*fail_) return Fail(ErrorCode::kIo, "disk on fire at /secret/path");
    return inner_->Append(v, e);
  }
  Result<std::uint64_t> HeadSeq(crypto::ByteView v) override { return inner_->HeadSeq(v); }
  Result<std::optional<StoredObject>> FindObject(crypto::ByteView v, crypto::ByteView o) override {
    return inner_->FindObject(v, o);
  }
  Result<std::vector<StoredObject>> Scan(crypto::ByteView v, std::uint64_t a, std::size_t c, std::size_t b) override {
    return inner_->Scan(v, a, c, b);
  }
  Result<ChainHead> AuthorHead(crypto::ByteView v, crypto::ByteView a) override { return inner_->AuthorHead(v, a); }
  Result<std::vector<ObjectEnvelope>> MembershipEnvelopes(crypto::ByteView v) override {
    return inner_->MembershipEnvelopes(v);
  }
  Result<std::uint64_t> BytesUsed(crypto::ByteView v) override { return inner_->BytesUsed(v); }
  Result<bool> HasChunk(crypto::ByteView v, crypto::ByteView c) override { return inner_->HasChunk(v, c); }
  Result<std::uint64_t> PutChunks(crypto::ByteView v, std::span<const sv::Chunk> c) override {
    return inner_->PutChunks(v, c);
  }
  Result<std::optional<std::string>> GetChunk(crypto::ByteView v, crypto::ByteView c) override {
    return inner_->GetChunk(v, c);
  }
  Result<bool> PutJoinRequest(const sv::JoinRequest& r) override { return inner_->PutJoinRequest(r); }
  Result<std::vector<sv::JoinRequest>> ListJoinRequests(crypto::ByteView v) override {
    return inner_->ListJoinRequests(v);
  }
  Status RemoveJoinRequest(crypto::ByteView v, crypto::ByteView i) override { return inner_->RemoveJoinRequest(v, i); }

 private:
  std::unique_ptr<Store> inner_;
  std::atomic<bool>* fail_;
};

TEST_F(ServiceTest, AStoreFailureIsInternalAndChangesNothing) {
  std::atomic<bool> fail{false};
  Start({}, [&](std::unique_ptr<Store> inner) { return std::make_unique<FlakyStore>(std::move(inner), &fail); });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const Bytes invite = crypto::RandomBytes(32);
  const ObjectEnvelope op = vault_.Invite(owner_, invite, sv::MONITOR);
  fail = true;
  const grpc::Status s = owner_client_->Push({op});
  EXPECT_EQ(s.error_code(), StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message().find("secret"), std::string::npos);  // no detail for the client
  // The membership did not take the invite the store never wrote.
  Device joiner;
  auto anonymous = NewClient();
  sv::JoinResponse out;
  grpc::ClientContext c;
  EXPECT_CODE(anonymous->stub().Join(&c, SignedJoin(vault_, invite, joiner), &out), StatusCode::FAILED_PRECONDITION);
  // Once the store recovers, the same push works.
  fail = false;
  EXPECT_CODE(owner_client_->Push({op}), StatusCode::OK);
}

TEST_F(ServiceTest, MembershipIsRebuiltFromTheStoreAfterARestart) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  Member revoked = AddMember(sv::MONITOR);
  ASSERT_TRUE(owner_client_->Push({vault_.Revoke(owner_, *revoked.device)}).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);

  Start();  // a new server process over the same data: sessions are gone

  auto owner_again = NewClient();
  ASSERT_TRUE(owner_again->Login(vault_, owner_).ok());
  EXPECT_EQ(HeadSeq(*owner_again), head);
  auto monitor_again = NewClient();
  ASSERT_TRUE(monitor_again->Login(vault_, *monitor.device).ok());
  EXPECT_CODE(monitor_again->Push({vault_.Sealed(*monitor.device)}), StatusCode::OK);
  auto revoked_again = NewClient();
  EXPECT_CODE(revoked_again->Login(vault_, *revoked.device), StatusCode::PERMISSION_DENIED);
  // Chains continue where they were.
  EXPECT_CODE(owner_again->Push({vault_.Sealed(owner_)}), StatusCode::OK);
  EXPECT_EQ(HeadSeq(*owner_again), head + 2);
}

TEST_F(ServiceTest, EveryRpcLogsOneLineWithoutSecrets) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_, "Батырбеков marker-plaintext")}).ok());
  sv::PullResponse pulled;
  ASSERT_TRUE(owner_client_->Pull(0, 0, &pulled).ok());
  auto stranger = NewClient();
  EXPECT_FALSE(stranger->Pull(0, 0, &pulled).ok());

  const auto lines = LogLines();
  std::vector<std::string> rpcs;
  for (const auto& line : lines) {
    const auto j = nlohmann::json::parse(line);
    for (const char* field : {"ts", "level", "rpc", "code", "vault", "device", "bytes", "ms"}) {
      EXPECT_TRUE(j.contains(field)) << field << " in " << line;
    }
    rpcs.push_back(j["rpc"]);
    EXPECT_EQ(line.find(owner_client_->session_hex()), std::string::npos);
    EXPECT_EQ(line.find(kToken), std::string::npos);
    EXPECT_EQ(line.find(crypto::ToHex(owner_.signing.public_key())), std::string::npos);
  }
  EXPECT_EQ(rpcs, (std::vector<std::string>{"CreateVault", "Challenge", "Authenticate", "Push", "Pull", "Pull"}));
  const auto last = nlohmann::json::parse(lines.back());
  EXPECT_EQ(last["code"], "UNAUTHENTICATED");
  EXPECT_EQ(last["level"], "warn");
  const auto create = nlohmann::json::parse(lines.front());
  EXPECT_EQ(create["vault"], crypto::ToHex(vault_.id).substr(0, 8));
}

}  // namespace
}  // namespace evault::server::testing
