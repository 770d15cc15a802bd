// VaultSync over a real gRPC server on 127.0.0.1: every rule of server/service.h, and
// every refusal with its status code, while other clients keep working.
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/forwarding_store.h"
#include "tests/server/interposing_store.h"
#include "tests/server/metrics_text.h"
#include "tests/server/service_fixture.h"

namespace evault::server::testing {
namespace {

using grpc::StatusCode;

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
  // The objects still open through each of their key slots (the epoch's readers key,
  // the case key, the author's self key): the server changed nothing.
  vault::ObjectCodec codec(vault_.id, &owner_.signing);
  EXPECT_EQ(all.objects(3).object().key_epoch(), 1u);
  EXPECT_EQ(all.objects(3).object().key_slots_size(), 3);
  vault::OpeningKeys by_readers, by_case, by_self, by_members;
  by_readers.readers = &vault_.Keys(1).pairs.readers;
  by_case.second = {&vault_.Keys(1).case_key};
  by_self.author = {&owner_.self};
  by_members.second = {&vault_.Keys(1).pairs.members};
  for (const vault::OpeningKeys* keys : {&by_readers, &by_case, &by_self}) {
    auto opened = codec.Open(all.objects(3).object(), ToBytes(pushed[2].object_id()), *keys);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    EXPECT_EQ(opened->body.view(), "record 2");
    EXPECT_EQ(opened->identity.kind, vault::ObjectKind::kRecordRevision);
    EXPECT_EQ(opened->identity.case_id, vault_.case_id);
  }
  // A record is not for the members key (monitors read only announcements).
  auto denied = codec.Open(all.objects(3).object(), ToBytes(pushed[2].object_id()), by_members);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);

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
  {  // Someone else's object is a relay (what a member sends back to a restored server):
     // taken only as its author's own push would be, signed by a member and extending
     // that member's chain.
    auto skipped = vault_.Sealed(owner_);  // not pushed yet: the next one leaves a gap
    const auto after_skipped = owner_.chain;
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(owner_)}), StatusCode::FAILED_PRECONDITION);
    owner_.chain = after_skipped;
    Device stranger;
    EXPECT_CODE(monitor.client->Push({vault_.Sealed(stranger)}), StatusCode::PERMISSION_DENIED);
    sv::PushResponse relayed;
    EXPECT_CODE(monitor.client->Push({skipped}, &relayed), StatusCode::OK);
    ASSERT_EQ(relayed.server_seq_size(), 1);
    // The owner's own push of it is a replay of what the server now holds.
    sv::PushResponse replayed;
    EXPECT_CODE(owner_client_->Push({skipped}, &replayed), StatusCode::OK);
    ASSERT_EQ(replayed.server_seq_size(), 1);
    EXPECT_EQ(replayed.server_seq(0), relayed.server_seq(0));
    ++head;
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

// Legal devices append sealed objects (their custody entries: views, exports; readers
// set aside anything else a legal device signs) but store no attachment chunks.
TEST_F(ServiceTest, LegalMembersReadAndLogButStoreNoChunks) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member legal = AddMember(sv::LEGAL);
  sv::PullResponse pulled;
  EXPECT_CODE(legal.client->Pull(0, 0, &pulled), StatusCode::OK);
  EXPECT_EQ(pulled.objects_size(), 3);
  EXPECT_CODE(legal.client->Push({vault_.Sealed(*legal.device)}), StatusCode::OK);
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
  vault_.epoch = 1;
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

// --- roles by keys: the server applies vault::Membership to every pushed operation ---------
//
// The second line of defence: clients refuse a bad operation when they pull it, and an
// honest server refuses it at push, so it is never stored and no one pulls it.

class RoleKeysTest : public ServiceTest {
 protected:
  // Pushes one envelope made by `make` on `d`'s chain. A refused push rewinds the chain
  // and the epoch the helpers seal in, as a client whose push failed would.
  grpc::Status PushOne(Client& client, Device& d, const std::function<ObjectEnvelope()>& make,
                       sv::PushResponse* response = nullptr) {
    const Device::Chain chain = d.chain;
    const std::uint64_t epoch = vault_.epoch;
    const grpc::Status s = client.Push({make()}, response);
    if (!s.ok()) {
      d.chain = chain;
      vault_.epoch = epoch;
    }
    return s;
  }


  struct PulledOp {
    std::uint64_t seq;
    std::string author;
    sv::MembershipOp op;
  };
  // The membership operations among `objects`, in server order.
  static std::vector<PulledOp> Ops(const std::vector<sv::PulledObject>& objects) {
    std::vector<PulledOp> out;
    for (const auto& o : objects) {
      if (o.object().public_body().empty()) continue;
      sv::MembershipOp op;
      EXPECT_TRUE(op.ParseFromString(o.object().public_body()));
      out.push_back({o.server_seq(), o.object().author(), std::move(op)});
    }
    return out;
  }
  static std::vector<PulledOp> OpsOfKind(const std::vector<sv::PulledObject>& objects, sv::MembershipOp::Kind kind) {
    std::vector<PulledOp> out;
    for (auto& p : Ops(objects)) {
      if (p.op.kind() == kind) out.push_back(std::move(p));
    }
    return out;
  }
  // Like AddMember, but its ADMIT carries no keys: a member who lacks keys, for a SHARE
  // to deliver (as a sharer does who was not the admitter).
  Member AddMemberWithoutKeys(sv::Role role) {
    Member m{std::make_unique<Device>(), NewClient()};
    const Bytes invite = crypto::RandomBytes(32);
    sv::MembershipOp admit = vault_.AdmitOp(*m.device, invite, role);
    admit.clear_keys();
    const grpc::Status s = owner_client_->Push({vault_.Invite(owner_, invite, role), vault_.Op(owner_, admit)});
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(m.client->Login(vault_, *m.device).ok());
    return m;
  }

  static int AuthoredBy(const std::vector<sv::PulledObject>& objects, const Device& d) {
    int n = 0;
    for (const auto& o : objects) n += o.object().author() == d.key() ? 1 : 0;
    return n;
  }
};

TEST_F(RoleKeysTest, GenesisMustBeginEpochOneAndSealItsSecretToTheOwner) {
  Device owner, stranger;
  auto create = [&](const std::function<void(sv::MembershipOp&)>& mutate) {
    owner.chain = {};
    sv::MembershipOp op = vault_.GenesisOp(owner);
    mutate(op);
    return CreateVault(vault_, vault_.Op(owner, op), kToken);
  };
  using Op = sv::MembershipOp;
  const std::vector<std::pair<const char*, std::function<void(Op&)>>> bad = {
      {"no keys", [](Op& op) { op.clear_keys(); }},
      {"two keys", [&](Op& op) { *op.add_keys() = vault_.EpochSecretFor(owner, 1); }},
      {"epoch 2", [](Op& op) { op.set_epoch(2); }},
      {"epoch 0", [](Op& op) { op.set_epoch(0); }},
      {"no readers key", [](Op& op) { op.clear_epoch_readers_key(); }},
      {"short members key", [](Op& op) { op.mutable_epoch_members_key()->pop_back(); }},
      {"a members seed", [&](Op& op) { *op.mutable_keys(0) = vault_.MembersSeedFor(owner, 1); }},
      {"the key of epoch 2", [](Op& op) { op.mutable_keys(0)->set_epoch(2); }},
      {"sealed to someone else", [&](Op& op) { *op.mutable_keys(0) = vault_.EpochSecretFor(stranger, 1); }},
      {"an empty sealed key", [](Op& op) { op.mutable_keys(0)->clear_sealed(); }},
      {"case tags on an epoch key", [](Op& op) { op.mutable_keys(0)->set_case_tag(std::string(16, 't')); }},
      {"role coordinator", [](Op& op) { op.set_role(sv::COORDINATOR); }},
  };
  for (const auto& [what, mutate] : bad) {
    SCOPED_TRACE(what);
    EXPECT_CODE(create(mutate), StatusCode::INVALID_ARGUMENT);
  }
  // None of that spent the token or created the vault; the well-formed GENESIS does.
  EXPECT_CODE(create([](Op&) {}), StatusCode::OK);
  auto client = NewClient();
  ASSERT_TRUE(client->Login(vault_, owner).ok());
  const auto objects = PullAll(*client);
  ASSERT_EQ(objects.size(), 1u);
  const auto ops = Ops(objects);
  ASSERT_EQ(ops.size(), 1u);
  const sv::MembershipOp& g = ops[0].op;
  EXPECT_EQ(g.epoch(), 1u);
  EXPECT_EQ(g.epoch_readers_key(), Str(vault_.Keys(1).pairs.readers.public_key()));
  ASSERT_EQ(g.keys_size(), 1);
  EXPECT_EQ(g.keys(0).recipient(), owner.key());
  // What the owner opens is the epoch secret itself.
  auto secret = owner.box.OpenSealed(crypto::AsBytes(g.keys(0).sealed()));
  ASSERT_TRUE(secret.has_value());
  EXPECT_TRUE(secret->Equals(vault_.Keys(1).secret.bytes()));
}

TEST_F(RoleKeysTest, AdmitCarriesKeysForItsSubjectOnly) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member coordinator = AddMember(sv::COORDINATOR);
  Device& c = *coordinator.device;
  const Bytes monitor_invite = crypto::RandomBytes(32), legal_invite = crypto::RandomBytes(32),
              coordinator_invite = crypto::RandomBytes(32);
  ASSERT_TRUE(owner_client_->Push({vault_.Invite(owner_, monitor_invite, sv::MONITOR),
                                   vault_.Invite(owner_, legal_invite, sv::LEGAL)})
                  .ok());
  ASSERT_TRUE(PushOne(*coordinator.client, c, [&] { return vault_.Invite(c, coordinator_invite, sv::COORDINATOR); }).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  Device monitor, legal, coordinator2;
  auto admit = [&](const Device& subject, const Bytes& invite, sv::Role role,
                   const std::vector<sv::SealedKey>& keys) {
    sv::MembershipOp op = vault_.AdmitOp(subject, invite, role);
    op.clear_keys();
    for (const auto& k : keys) *op.add_keys() = k;
    return PushOne(*owner_client_, owner_, [&] { return vault_.Op(owner_, op); });
  };
  sv::SealedKey seed_of_epoch_2 = vault_.MembersSeedFor(monitor, 1);
  seed_of_epoch_2.set_epoch(2);
  // Keys the subject's role may not hold, keys to someone else, keys of no epoch.
  EXPECT_CODE(admit(monitor, monitor_invite, sv::MONITOR, {vault_.EpochSecretFor(monitor, 1)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(admit(monitor, monitor_invite, sv::MONITOR, {vault_.MembersSeedFor(monitor, 1), vault_.EpochSecretFor(c, 1)}),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(admit(monitor, monitor_invite, sv::MONITOR, {seed_of_epoch_2}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(admit(legal, legal_invite, sv::LEGAL, {vault_.EpochSecretFor(legal, 1)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(admit(legal, legal_invite, sv::LEGAL, {vault_.MembersSeedFor(legal, 1)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(admit(coordinator2, coordinator_invite, sv::COORDINATOR, {vault_.MembersSeedFor(coordinator2, 1)}),
              StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HeadSeq(*owner_client_), head);

  // The invites are still open: the ADMITs with the right keys go through (the
  // coordinator answers its own invite).
  ASSERT_TRUE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, monitor, monitor_invite, sv::MONITOR); }).ok());
  ASSERT_TRUE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, legal, legal_invite, sv::LEGAL); }).ok());
  ASSERT_TRUE(
      PushOne(*coordinator.client, c, [&] { return vault_.Admit(c, coordinator2, coordinator_invite, sv::COORDINATOR); })
          .ok());
  const auto admits = OpsOfKind(PullAll(*owner_client_), sv::MembershipOp::ADMIT);
  ASSERT_EQ(admits.size(), 4u);  // the first coordinator's, then these three
  auto only_key = [](const sv::MembershipOp& op, const Device& to, sv::SealedKey::Kind kind) {
    ASSERT_EQ(op.keys_size(), 1);
    EXPECT_EQ(op.keys(0).recipient(), to.key());
    EXPECT_EQ(op.keys(0).kind(), kind);
    EXPECT_EQ(op.keys(0).epoch(), 1u);
  };
  only_key(admits[1].op, monitor, sv::SealedKey::MEMBERS_SEED);
  EXPECT_EQ(admits[2].op.keys_size(), 0);  // legal: cases come with grants
  only_key(admits[3].op, coordinator2, sv::SealedKey::EPOCH_SECRET);
  // The monitor's key opens to the members seed of epoch 1, and to nothing more.
  auto seed = monitor.box.OpenSealed(crypto::AsBytes(admits[1].op.keys(0).sealed()));
  ASSERT_TRUE(seed.has_value());
  EXPECT_TRUE(seed->Equals(vault::MembersSeed(vault_.Keys(1).secret)));
  EXPECT_FALSE(seed->Equals(vault_.Keys(1).secret.bytes()));
  // All three can sync.
  for (const Device* d : {&monitor, &legal, &coordinator2}) {
    auto client = NewClient();
    EXPECT_CODE(client->Login(vault_, *d), StatusCode::OK);
  }
}

TEST_F(RoleKeysTest, LegalDeviceWritesNoMembershipOrChunksWhileItsPullsWork) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member legal = AddMember(sv::LEGAL);
  Device& l = *legal.device;
  // The owner writes a record of the case and grants the case to the legal device.
  const ObjectEnvelope record = vault_.Sealed(owner_, "record for counsel");
  ASSERT_TRUE(owner_client_->Push({record, vault_.Share(owner_, {vault_.CaseKeyFor(l, 1)})}).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  ASSERT_EQ(head, 5u);

  // Membership operations (even a grant to itself) and chunks from the legal device are
  // refused. (Its sealed custody entries are accepted: LegalMembersReadAndLogButStoreNoChunks.)
  EXPECT_CODE(PushOne(*legal.client, l, [&] { return vault_.Invite(l, crypto::RandomBytes(32), sv::LEGAL); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*legal.client, l, [&] { return vault_.Share(l, {vault_.CaseKeyFor(l, 1)}); }),
              StatusCode::PERMISSION_DENIED);
  sv::Chunk chunk;
  chunk.set_chunk_id(Str(crypto::RandomBytes(16)));
  chunk.set_data("sealed chunk");
  EXPECT_CODE(legal.client->PutChunks({chunk}), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HeadSeq(*owner_client_), head);

  // Its pulls work: every object, none of its own.
  const auto objects = PullAll(*legal.client);
  ASSERT_EQ(objects.size(), head);
  EXPECT_EQ(AuthoredBy(objects, l), 0);
  EXPECT_EQ(objects[3].object().SerializeAsString(), record.SerializeAsString());
  // It opens the grant with its box key, and the record with the granted case key.
  const auto shares = OpsOfKind(objects, sv::MembershipOp::SHARE);
  ASSERT_EQ(shares.size(), 1u);
  ASSERT_EQ(shares[0].op.keys_size(), 1);
  const sv::SealedKey& grant = shares[0].op.keys(0);
  EXPECT_EQ(grant.recipient(), l.key());
  EXPECT_EQ(grant.kind(), sv::SealedKey::CASE_KEY);
  auto payload = l.box.OpenSealed(crypto::AsBytes(grant.sealed()));
  ASSERT_TRUE(payload.has_value());
  ASSERT_EQ(payload->size(), vault::kIdBytes + 32);
  EXPECT_EQ(Bytes(payload->data(), payload->data() + vault::kIdBytes), vault_.case_id);
  auto case_key = crypto::BoxKeyPair::FromSecretKey(
      crypto::SecretBytes::CopyFrom(crypto::ByteView(payload->data() + vault::kIdBytes, 32)));
  ASSERT_TRUE(case_key.has_value());
  vault::ObjectCodec codec(vault_.id, &l.signing);
  vault::OpeningKeys granted;
  granted.second = {&*case_key};
  auto opened = codec.Open(objects[3].object(), ToBytes(record.object_id()), granted);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->body.view(), "record for counsel");
  // Without the grant, its own keys open nothing of the owner's.
  vault::OpeningKeys own;
  own.author = {&l.self};
  auto denied = codec.Open(objects[3].object(), ToBytes(record.object_id()), own);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  // And it keeps pulling as the vault grows.
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_)}).ok());
  sv::PullResponse more;
  ASSERT_TRUE(legal.client->Pull(head, 0, &more).ok());
  ASSERT_EQ(more.objects_size(), 1);
  EXPECT_EQ(more.objects(0).server_seq(), head + 1);
}

TEST_F(RoleKeysTest, MonitorsMayNotPushMembershipOperations) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  Member other = AddMember(sv::MONITOR);
  Member legal = AddMember(sv::LEGAL);
  Device& m = *monitor.device;
  const std::uint64_t head = HeadSeq(*owner_client_);
  for (sv::Role role : {sv::COORDINATOR, sv::MONITOR, sv::LEGAL}) {
    EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Invite(m, crypto::RandomBytes(32), role); }),
                StatusCode::PERMISSION_DENIED);
  }
  // SHAREs of keys that suit their recipients: refused for the sharer.
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Share(m, {vault_.MembersSeedFor(*other.device, 1)}); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Share(m, {vault_.CaseKeyFor(*legal.device, 1)}); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Revoke(m, *other.device); }), StatusCode::PERMISSION_DENIED);
  // Nothing of it was stored.
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  const auto objects = PullAll(*owner_client_);
  EXPECT_EQ(objects.size(), head);
  EXPECT_EQ(AuthoredBy(objects, m), 0);
  EXPECT_TRUE(OpsOfKind(objects, sv::MembershipOp::SHARE).empty());
  // The other monitor and the legal device are untouched, and the monitor's own chain
  // goes on with its next sealed object.
  auto again = NewClient();
  EXPECT_CODE(again->Login(vault_, *other.device), StatusCode::OK);
  sv::PushResponse pushed;
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Sealed(m); }, &pushed), StatusCode::OK);
  ASSERT_EQ(pushed.server_seq_size(), 1);
  EXPECT_EQ(pushed.server_seq(0), head + 1);
}

TEST_F(RoleKeysTest, OnlyTheOwnerRevokesAndTheRevokedDeviceIsShutOut) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member coordinator = AddMember(sv::COORDINATOR);
  Member monitor = AddMember(sv::MONITOR);
  Member victim = AddMember(sv::MONITOR);
  Device& c = *coordinator.device;
  Device& m = *monitor.device;
  Device& v = *victim.device;
  const std::uint64_t head = HeadSeq(*owner_client_);
  const std::vector<Keep> keep = {{&c, sv::COORDINATOR}, {&m, sv::MONITOR}};

  // A coordinator's REVOKE, well formed and re-keying everyone else: refused.
  EXPECT_CODE(PushOne(*coordinator.client, c,
                      [&] { return vault_.Revoke(c, v, {{&owner_, sv::OWNER}, {&m, sv::MONITOR}}); }),
              StatusCode::PERMISSION_DENIED);
  // A monitor's, and the owner revoking itself: refused.
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Revoke(m, v); }), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, owner_, keep); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  sv::PullResponse pulled;
  EXPECT_CODE(victim.client->Pull(0, 0, &pulled), StatusCode::OK);

  // The owner's REVOKE: accepted, beginning epoch 2 (so none of the above began it).
  sv::PushResponse pushed;
  ASSERT_EQ(vault_.epoch, 1u);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, v, keep); }, &pushed), StatusCode::OK);
  ASSERT_EQ(pushed.server_seq_size(), 1);
  EXPECT_EQ(pushed.server_seq(0), head + 1);

  // The revoked device: its live session is refused at once, and it gets no new one.
  EXPECT_CODE(victim.client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(victim.client->Push({vault_.Sealed(v)}), StatusCode::PERMISSION_DENIED);
  std::vector<sv::Chunk> got;
  EXPECT_CODE(victim.client->GetChunks({crypto::RandomBytes(16)}, &got), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(victim.client->Login(vault_, v), StatusCode::PERMISSION_DENIED);
  auto fresh = NewClient();
  EXPECT_CODE(fresh->Login(vault_, v), StatusCode::PERMISSION_DENIED);

  // Everyone else goes on.
  EXPECT_CODE(PushOne(*monitor.client, m, [&] { return vault_.Sealed(m); }), StatusCode::OK);
  EXPECT_CODE(coordinator.client->Pull(0, 0, &pulled), StatusCode::OK);
  EXPECT_EQ(pulled.head_seq(), head + 2);

  // What everyone pulls: the REVOKE, with epoch 2's public keys and its keys for the
  // remaining members only, each of the kind their role holds.
  const auto objects = PullAll(*owner_client_);
  EXPECT_EQ(AuthoredBy(objects, v), 0);
  const auto revokes = OpsOfKind(objects, sv::MembershipOp::REVOKE);
  ASSERT_EQ(revokes.size(), 1u);
  const sv::MembershipOp& r = revokes[0].op;
  EXPECT_EQ(revokes[0].author, owner_.key());
  EXPECT_EQ(r.subject().signing_key(), v.key());
  EXPECT_EQ(r.epoch(), 2u);
  EXPECT_EQ(r.epoch_readers_key(), Str(vault_.Keys(2).pairs.readers.public_key()));
  EXPECT_EQ(r.epoch_members_key(), Str(vault_.Keys(2).pairs.members.public_key()));
  std::map<std::string, sv::SealedKey::Kind> to;
  for (const auto& k : r.keys()) {
    EXPECT_EQ(k.epoch(), 2u);
    to[k.recipient()] = k.kind();
  }
  EXPECT_EQ(to, (std::map<std::string, sv::SealedKey::Kind>{{owner_.key(), sv::SealedKey::EPOCH_SECRET},
                                                           {c.key(), sv::SealedKey::EPOCH_SECRET},
                                                           {m.key(), sv::SealedKey::MEMBERS_SEED}}));
  // A revoked device cannot be revoked again.
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, v, keep); }),
              StatusCode::PERMISSION_DENIED);
}

TEST_F(RoleKeysTest, KeysOfANewEpochNeverReachARevokedDevice) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member coordinator = AddMemberWithoutKeys(sv::COORDINATOR);  // lacks epoch 1's secret
  Member coordinator2 = AddMember(sv::COORDINATOR);
  Member monitor = AddMember(sv::MONITOR);
  Member legal = AddMember(sv::LEGAL);
  Device& c = *coordinator.device;
  Device& c2 = *coordinator2.device;
  Device& m = *monitor.device;
  Device& l = *legal.device;
  auto share = [&](Client& client, Device& by, const std::vector<sv::SealedKey>& keys) {
    return PushOne(client, by, [&] { return vault_.Share(by, keys); });
  };

  // The owner revokes the coordinator: epoch 2 begins, re-keying the other coordinator
  // (the monitor's key of epoch 2 is left for a later SHARE).
  ASSERT_TRUE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, c, {{&c2, sv::COORDINATOR}}); }).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  // Epoch 2's secret to the revoked coordinator: refused, from the owner or another
  // coordinator, alone or next to a good key (an operation is refused whole).
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.EpochSecretFor(c, 2)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*coordinator2.client, c2, {vault_.EpochSecretFor(c, 2)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.CaseKeyFor(l, 2), vault_.EpochSecretFor(c, 2)}),
              StatusCode::PERMISSION_DENIED);
  // A REVOKE sealing its new epoch to its own subject: refused.
  EXPECT_CODE(PushOne(*owner_client_, owner_,
                      [&] {
                        sv::MembershipOp op = vault_.RevokeOp(owner_, m, {{&c2, sv::COORDINATOR}});
                        *op.add_keys() = vault_.MembersSeedFor(m, 3);
                        return vault_.Op(owner_, op);
                      }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(vault_.epoch, 2u);
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  // A key of an epoch before its revocation may still name it (vault/membership.h: an
  // honest sharer that had not seen the revocation; the device could read that epoch).
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.EpochSecretFor(c, 1)}), StatusCode::OK);

  // Then the monitor (epoch 3) and the legal device (epoch 4) are revoked.
  ASSERT_TRUE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, m, {{&c2, sv::COORDINATOR}}); }).ok());
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.MembersSeedFor(m, 3)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.MembersSeedFor(m, 2)}), StatusCode::OK);
  ASSERT_TRUE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, l); }).ok());
  EXPECT_CODE(share(*coordinator2.client, c2, {vault_.CaseKeyFor(l, 4)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*coordinator2.client, c2, {vault_.CaseKeyFor(l, 3)}), StatusCode::OK);
  // A key for a member still active: fine in the newest epoch.
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.EpochSecretFor(c2, 4)}), StatusCode::OK);

  // In everything the server holds, no revoked device is named by a key of an epoch
  // that began with or after its revocation.
  const std::map<std::string, std::uint64_t> revoked_in = {{c.key(), 2}, {m.key(), 3}, {l.key(), 4}};
  int keys_seen = 0;
  for (const auto& p : Ops(PullAll(*owner_client_))) {
    for (const auto& k : p.op.keys()) {
      ++keys_seen;
      auto it = revoked_in.find(k.recipient());
      if (it != revoked_in.end()) {
        EXPECT_LT(k.epoch(), it->second) << "a key for a revoked device";
      }
    }
  }
  EXPECT_EQ(keys_seen, 12);  // genesis 1, admits 2, revokes 2+2+1, shares 4
  EXPECT_EQ(vault_.epoch, 4u);
}

TEST_F(RoleKeysTest, SealedKeysMustFitTheirRecipientsRole) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member coordinator = AddMember(sv::COORDINATOR);
  Member monitor = AddMember(sv::MONITOR);
  Member legal = AddMember(sv::LEGAL);
  Member coordinator2 = AddMemberWithoutKeys(sv::COORDINATOR);
  Member monitor2 = AddMemberWithoutKeys(sv::MONITOR);
  Device& c = *coordinator.device;
  Device& m = *monitor.device;
  Device& l = *legal.device;
  Device& c2 = *coordinator2.device;
  Device& m2 = *monitor2.device;
  Device stranger;
  auto share = [&](Client& client, Device& by, const std::vector<sv::SealedKey>& keys) {
    return PushOne(client, by, [&] { return vault_.Share(by, keys); });
  };
  auto with = [](sv::SealedKey k, const std::function<void(sv::SealedKey&)>& change) {
    change(k);
    return k;
  };
  const std::uint64_t head = HeadSeq(*owner_client_);
  const std::vector<std::pair<const char*, sv::SealedKey>> refused = {
      {"an epoch secret to a monitor", vault_.EpochSecretFor(m, 1)},
      {"an epoch secret to a legal device", vault_.EpochSecretFor(l, 1)},
      {"a members seed to a coordinator", vault_.MembersSeedFor(c, 1)},
      {"a members seed to a legal device", vault_.MembersSeedFor(l, 1)},
      {"a case key to a monitor", vault_.CaseKeyFor(m, 1)},
      {"a case key to a coordinator", vault_.CaseKeyFor(c, 1)},
      {"a case key with a short case tag",
       with(vault_.CaseKeyFor(l, 1), [](sv::SealedKey& k) { k.mutable_case_tag()->pop_back(); })},
      {"a case key without a key tag", with(vault_.CaseKeyFor(l, 1), [](sv::SealedKey& k) { k.clear_key_tag(); })},
      {"an epoch key with case tags",
       with(vault_.EpochSecretFor(c2, 1), [](sv::SealedKey& k) { k.set_key_tag(std::string(16, 'k')); })},
      {"a key to a non-member", vault_.EpochSecretFor(stranger, 1)},
      {"a key of epoch 0", with(vault_.MembersSeedFor(m2, 1), [](sv::SealedKey& k) { k.set_epoch(0); })},
      {"a key of an epoch not begun", with(vault_.MembersSeedFor(m2, 1), [](sv::SealedKey& k) { k.set_epoch(2); })},
      {"an empty sealed key", with(vault_.MembersSeedFor(m2, 1), [](sv::SealedKey& k) { k.clear_sealed(); })},
      {"an oversized sealed key",
       with(vault_.MembersSeedFor(m2, 1), [](sv::SealedKey& k) { k.set_sealed(std::string(129, 's')); })},
      {"a key of no kind",
       with(vault_.MembersSeedFor(m2, 1), [](sv::SealedKey& k) { k.set_kind(sv::SealedKey::KIND_UNSPECIFIED); })},
  };
  for (const auto& [what, key] : refused) {
    SCOPED_TRACE(what);
    EXPECT_CODE(share(*owner_client_, owner_, {key}), StatusCode::PERMISSION_DENIED);
  }
  // From a coordinator too; a good key does not carry a bad one through; no keys at all.
  EXPECT_CODE(share(*coordinator.client, c, {vault_.EpochSecretFor(m, 1)}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.MembersSeedFor(m2, 1), vault_.EpochSecretFor(m, 1)}),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(share(*owner_client_, owner_, {}), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HeadSeq(*owner_client_), head);

  // The keys that fit their recipients, which lack them: accepted from the owner and
  // from a coordinator.
  EXPECT_CODE(share(*owner_client_, owner_, {vault_.MembersSeedFor(m2, 1), vault_.CaseKeyFor(l, 1)}), StatusCode::OK);
  EXPECT_CODE(share(*coordinator.client, c, {vault_.EpochSecretFor(c2, 1)}), StatusCode::OK);
  const auto shares = OpsOfKind(PullAll(*monitor.client), sv::MembershipOp::SHARE);
  ASSERT_EQ(shares.size(), 2u);
  ASSERT_EQ(shares[0].op.keys_size(), 2);
  EXPECT_EQ(shares[0].op.keys(0).recipient(), m2.key());
  EXPECT_EQ(shares[0].op.keys(0).kind(), sv::SealedKey::MEMBERS_SEED);
  EXPECT_EQ(shares[0].op.keys(1).recipient(), l.key());
  EXPECT_EQ(shares[0].op.keys(1).kind(), sv::SealedKey::CASE_KEY);
  EXPECT_EQ(shares[1].author, c.key());
  ASSERT_EQ(shares[1].op.keys_size(), 1);
  EXPECT_EQ(shares[1].op.keys(0).recipient(), c2.key());
  // The monitor's share opens to the members seed, which derives epoch 1's members key
  // (what the monitor may read), not its readers key.
  auto seed = m2.box.OpenSealed(crypto::AsBytes(shares[0].op.keys(0).sealed()));
  ASSERT_TRUE(seed.has_value());
  auto members = crypto::BoxKeyPair::FromSeed(*seed);
  ASSERT_TRUE(members.has_value());
  EXPECT_EQ(members->public_key(), vault_.Keys(1).pairs.members.public_key());
  EXPECT_NE(members->public_key(), vault_.Keys(1).pairs.readers.public_key());
}

TEST_F(RoleKeysTest, AReplayedOperationIsStoredAndAppliedOnce) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  Member victim = AddMember(sv::MONITOR);
  Member legal = AddMember(sv::LEGAL);
  Device& m = *monitor.device;
  const Bytes invite = crypto::RandomBytes(32);
  // An INVITE whose reply was lost, pushed again: the same sequence, nothing new.
  const ObjectEnvelope inv = vault_.Invite(owner_, invite, sv::COORDINATOR);
  sv::PushResponse first, again;
  ASSERT_TRUE(owner_client_->Push({inv}, &first).ok());
  ASSERT_TRUE(owner_client_->Push({inv}, &again).ok());
  ASSERT_EQ(again.server_seq_size(), 1);
  EXPECT_EQ(again.server_seq(0), first.server_seq(0));
  EXPECT_EQ(HeadSeq(*owner_client_), first.server_seq(0));
  // The invite is answered once; its replay afterwards does not reopen it.
  Device joiner;
  const ObjectEnvelope adm = vault_.Admit(owner_, joiner, invite, sv::COORDINATOR);
  sv::PushResponse admitted;
  ASSERT_TRUE(owner_client_->Push({adm}, &admitted).ok());
  sv::PushResponse late;
  ASSERT_TRUE(owner_client_->Push({inv, adm}, &late).ok());
  ASSERT_EQ(late.server_seq_size(), 2);
  EXPECT_EQ(late.server_seq(0), first.server_seq(0));
  EXPECT_EQ(late.server_seq(1), admitted.server_seq(0));
  {
    auto anonymous = NewClient();
    sv::JoinResponse out;
    grpc::ClientContext context;
    anonymous->Prepare(context);
    Device late_joiner;
    EXPECT_CODE(anonymous->stub().Join(&context, SignedJoin(vault_, invite, late_joiner), &out),
                StatusCode::FAILED_PRECONDITION);
    EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, late_joiner, invite, sv::COORDINATOR); }),
                StatusCode::PERMISSION_DENIED);
  }
  // A REVOKE replayed, alone and ahead of a new object; a SHARE twice in one push.
  const ObjectEnvelope rev = vault_.Revoke(owner_, *victim.device, {{&m, sv::MONITOR}, {&joiner, sv::COORDINATOR}});
  sv::PushResponse revoked, replayed;
  ASSERT_TRUE(owner_client_->Push({rev}, &revoked).ok());
  ASSERT_TRUE(owner_client_->Push({rev, vault_.Sealed(owner_)}, &replayed).ok());
  ASSERT_EQ(replayed.server_seq_size(), 2);
  EXPECT_EQ(replayed.server_seq(0), revoked.server_seq(0));
  EXPECT_EQ(replayed.server_seq(1), revoked.server_seq(0) + 1);
  const ObjectEnvelope shr = vault_.Share(owner_, {vault_.CaseKeyFor(*legal.device, 1)});
  sv::PushResponse shared;
  ASSERT_TRUE(owner_client_->Push({shr, shr}, &shared).ok());
  ASSERT_EQ(shared.server_seq_size(), 2);
  EXPECT_EQ(shared.server_seq(0), shared.server_seq(1));
  ASSERT_TRUE(owner_client_->Push({shr}).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  EXPECT_EQ(head, shared.server_seq(0));

  // Each operation is stored once.
  const auto objects = PullAll(*owner_client_);
  EXPECT_EQ(objects.size(), head);
  std::set<std::string> ids;
  for (const auto& o : objects) EXPECT_TRUE(ids.insert(o.object().object_id()).second) << "stored twice";
  EXPECT_EQ(OpsOfKind(objects, sv::MembershipOp::INVITE).size(), 4u);  // three by AddMember, this one
  EXPECT_EQ(OpsOfKind(objects, sv::MembershipOp::REVOKE).size(), 1u);
  EXPECT_EQ(OpsOfKind(objects, sv::MembershipOp::SHARE).size(), 1u);

  // After a restart the server rebuilds the same membership from its store (a stored
  // duplicate would not replay): the joiner is in, the victim out, the epoch is 2.
  Start();
  owner_client_ = NewClient();
  ASSERT_TRUE(owner_client_->Login(vault_, owner_).ok());
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  auto joined = NewClient();
  EXPECT_CODE(joined->Login(vault_, joiner), StatusCode::OK);
  auto out = NewClient();
  EXPECT_CODE(out->Login(vault_, *victim.device), StatusCode::PERMISSION_DENIED);
  sv::PushResponse replayed_after_restart;
  ASSERT_TRUE(owner_client_->Push({rev}, &replayed_after_restart).ok());
  EXPECT_EQ(replayed_after_restart.server_seq(0), revoked.server_seq(0));
  // The same operations signed anew (new envelopes) are applied to the present state:
  // an existing member, a revoked device. (An INVITE re-signed with its answered invite
  // id: see AnAnsweredInviteIdIsNotReopened.)
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, joiner, invite, sv::COORDINATOR); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, *victim.device); }),
              StatusCode::PERMISSION_DENIED);
  // Another member sending the owner's stored operations again (a relay of what the
  // server holds): answered with their places, nothing written.
  auto monitor_again = NewClient();
  ASSERT_TRUE(monitor_again->Login(vault_, m).ok());
  sv::PushResponse relayed;
  EXPECT_CODE(monitor_again->Push({rev, inv}, &relayed), StatusCode::OK);
  ASSERT_EQ(relayed.server_seq_size(), 2);
  EXPECT_EQ(relayed.server_seq(0), revoked.server_seq(0));
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  // The next epoch is 3: the owner's REVOKE beginning it is accepted.
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, m, {{&joiner, sv::COORDINATOR}}); }),
              StatusCode::OK);
  EXPECT_EQ(vault_.epoch, 3u);
}

// An invite id is single use: once answered it cannot be announced again, so no
// second device can be admitted under it.
TEST_F(RoleKeysTest, AnAnsweredInviteIdIsNotReopened) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  const Bytes invite = crypto::RandomBytes(32);
  Device joiner, second;
  ASSERT_TRUE(owner_client_->Push({vault_.Invite(owner_, invite, sv::MONITOR),
                                   vault_.Admit(owner_, joiner, invite, sv::MONITOR)})
                  .ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Invite(owner_, invite, sv::COORDINATOR); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  auto anonymous = NewClient();
  sv::JoinResponse out;
  grpc::ClientContext context;
  anonymous->Prepare(context);
  EXPECT_CODE(anonymous->stub().Join(&context, SignedJoin(vault_, invite, second), &out),
              StatusCode::FAILED_PRECONDITION);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, second, invite, sv::COORDINATOR); }),
              StatusCode::PERMISSION_DENIED);
}

TEST_F(RoleKeysTest, OperationsOutOfOrderAreRefused) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member a = AddMember(sv::MONITOR);
  Member b = AddMember(sv::MONITOR);
  Device& ad = *a.device;
  Device& bd = *b.device;
  const std::uint64_t head = HeadSeq(*owner_client_);
  auto revoke_op = [&](const std::function<void(sv::MembershipOp&)>& change) {
    return PushOne(*owner_client_, owner_, [&] {
      sv::MembershipOp op = vault_.RevokeOp(owner_, ad, {{&bd, sv::MONITOR}});
      change(op);
      return vault_.Op(owner_, op);
    });
  };
  // A REVOKE whose epoch skips one, repeats the current one, or is missing: refused.
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, ad, {{&bd, sv::MONITOR}}, 3); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Revoke(owner_, ad, {{&bd, sv::MONITOR}}, 1); }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(revoke_op([](sv::MembershipOp& op) { op.clear_epoch(); }), StatusCode::PERMISSION_DENIED);
  // ... or comes without the new epoch's public keys.
  EXPECT_CODE(revoke_op([](sv::MembershipOp& op) { op.clear_epoch_readers_key(); }), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(revoke_op([](sv::MembershipOp& op) { op.set_epoch_members_key("short"); }), StatusCode::PERMISSION_DENIED);
  // A SHARE of an epoch that has not begun.
  EXPECT_CODE(PushOne(*owner_client_, owner_,
                      [&] {
                        sv::SealedKey k = vault_.MembersSeedFor(bd, 1);
                        k.set_epoch(2);
                        return vault_.Share(owner_, {k});
                      }),
              StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(vault_.epoch, 1u);
  EXPECT_EQ(HeadSeq(*owner_client_), head);

  // Two REVOKEs pushed in the wrong order: the later one first is refused (its
  // author's chain is not there yet), in one push or alone.
  const Device::Chain before = owner_.chain;
  const ObjectEnvelope r2 = vault_.Revoke(owner_, ad, {{&bd, sv::MONITOR}});  // epoch 2
  const ObjectEnvelope r3 = vault_.Revoke(owner_, bd);                        // epoch 3
  const Device::Chain after = owner_.chain;
  EXPECT_CODE(owner_client_->Push({r3}), StatusCode::FAILED_PRECONDITION);
  EXPECT_CODE(owner_client_->Push({r3, r2}), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  sv::PullResponse pulled;
  EXPECT_CODE(a.client->Pull(0, 0, &pulled), StatusCode::OK);  // not revoked
  // An ADMIT before its INVITE, in one push, on the right chain: refused by the rules,
  // and neither is stored.
  {
    owner_.chain = before;
    const std::uint64_t epoch = vault_.epoch;
    vault_.epoch = 1;  // the keys the joiner would get now
    Device joiner;
    const Bytes invite = crypto::RandomBytes(32);
    const ObjectEnvelope admit = vault_.Admit(owner_, joiner, invite, sv::MONITOR);
    const ObjectEnvelope inv = vault_.Invite(owner_, invite, sv::MONITOR);
    EXPECT_CODE(owner_client_->Push({admit, inv}), StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(HeadSeq(*owner_client_), head);
    auto joined = NewClient();
    EXPECT_CODE(joined->Login(vault_, joiner), StatusCode::PERMISSION_DENIED);
    owner_.chain = after;
    vault_.epoch = epoch;
  }
  // In order they are accepted, one after the other.
  sv::PushResponse pushed;
  ASSERT_TRUE(owner_client_->Push({r2, r3}, &pushed).ok());
  ASSERT_EQ(pushed.server_seq_size(), 2);
  EXPECT_EQ(pushed.server_seq(0), head + 1);
  EXPECT_EQ(pushed.server_seq(1), head + 2);
  std::vector<std::uint64_t> epochs;
  for (const auto& p : OpsOfKind(PullAll(*owner_client_), sv::MembershipOp::REVOKE)) epochs.push_back(p.op.epoch());
  EXPECT_EQ(epochs, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_CODE(a.client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(b.client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
}

TEST_F(RoleKeysTest, AForgedOperationFromANonMemberIsRefused) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  const Bytes invite = crypto::RandomBytes(32);
  ASSERT_TRUE(owner_client_->Push({vault_.Invite(owner_, invite, sv::COORDINATOR)}).ok());
  const std::uint64_t head = HeadSeq(*owner_client_);
  Device stranger;

  // It gets no sync session; a join session (anyone may have one) cannot push.
  auto sync_client = NewClient();
  EXPECT_CODE(sync_client->Login(vault_, stranger), StatusCode::PERMISSION_DENIED);
  auto join_client = NewClient();
  ASSERT_TRUE(join_client->Login(vault_, stranger, "join").ok());
  EXPECT_CODE(join_client->Push({vault_.Admit(stranger, stranger, invite, sv::COORDINATOR)}),
              StatusCode::PERMISSION_DENIED);
  // Through a member's session: operations it did not sign are refused.
  stranger.chain = {};
  EXPECT_CODE(monitor.client->Push({vault_.Admit(stranger, stranger, invite, sv::COORDINATOR)}),
              StatusCode::PERMISSION_DENIED);
  stranger.chain = {};
  EXPECT_CODE(monitor.client->Push({vault_.Share(stranger, {vault_.MembersSeedFor(*monitor.device, 1)})}),
              StatusCode::PERMISSION_DENIED);
  // An ADMIT of itself naming the owner as author, signed by the stranger: the owner's
  // session (a stolen token, say) pushes it, and the signature gives it away.
  {
    vault::ObjectCodec codec(vault_.id, &stranger.signing);
    const sv::MembershipOp op = vault_.AdmitOp(stranger, invite, sv::COORDINATOR);
    ObjectEnvelope forged = codec.SealPublic(crypto::RandomBytes(vault::kIdBytes), crypto::AsBytes(op.SerializeAsString()),
                                             owner_.chain.seq + 1, owner_.chain.head);
    forged.set_author(owner_.key());
    EXPECT_CODE(owner_client_->Push({forged}), StatusCode::INVALID_ARGUMENT);
  }
  // A GENESIS of its own for this vault: the vault exists.
  stranger.chain = {};
  EXPECT_CODE(CreateVault(vault_, vault_.Genesis(stranger), kToken2), StatusCode::ALREADY_EXISTS);

  // Nothing of it is stored; the invite is still open for an honest ADMIT, and the
  // stranger stays out.
  EXPECT_EQ(HeadSeq(*owner_client_), head);
  EXPECT_EQ(AuthoredBy(PullAll(*owner_client_), stranger), 0);
  Device joiner;
  EXPECT_CODE(PushOne(*owner_client_, owner_, [&] { return vault_.Admit(owner_, joiner, invite, sv::COORDINATOR); }),
              StatusCode::OK);
  auto joined = NewClient();
  EXPECT_CODE(joined->Login(vault_, joiner), StatusCode::OK);
  auto still_out = NewClient();
  EXPECT_CODE(still_out->Login(vault_, stranger), StatusCode::PERMISSION_DENIED);
}

// --- chunks ------------------------------------------------------------------------------

// A stream that breaks off keeps what it committed: with a commit interval of zero the
// server commits after every 8 MiB batch, as it would on a slow link after 5 s.
TEST_F(ServiceTest, ABrokenChunkStreamKeepsItsCommittedBatches) {
  Start([](ServiceOptions& o) { o.chunk_commit_interval = std::chrono::milliseconds(0); });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  std::vector<Bytes> ids;
  grpc::ClientContext context;
  owner_client_->Prepare(context);
  sv::PutChunksResponse response;
  auto writer = owner_client_->stub().PutChunks(&context, &response);
  for (int i = 0; i < 9; ++i) {  // one full batch of 8 MiB, then one more chunk
    sv::Chunk c;
    ids.push_back(crypto::RandomBytes(16));
    c.set_chunk_id(Str(ids.back()));
    c.set_data(Str(crypto::RandomBytes(1 << 20)));
    ASSERT_TRUE(writer->Write(c));
  }
  // The batch is committed while the stream is still open; then the connection breaks.
  sv::MissingChunksRequest ask;
  for (const auto& id : ids) ask.add_chunk_ids(Str(id));
  sv::MissingChunksResponse missing;
  for (int tries = 0; tries < 200; ++tries) {
    grpc::ClientContext c;
    owner_client_->Prepare(c);
    missing.Clear();
    ASSERT_TRUE(owner_client_->stub().MissingChunks(&c, ask, &missing).ok());
    if (missing.missing_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  context.TryCancel();
  (void)writer->Finish();
  ASSERT_EQ(missing.missing_size(), 1);
  EXPECT_EQ(missing.missing(0), Str(ids[8]));
}

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

// Pushes objects of about 1.6 KB until the server refuses one (at most `limit`): how
// many it took. The refused object's chain step is undone.
int PushUntilRefused(Client& client, TestVault& v, Device& d, grpc::Status& refusal, int limit = 100) {
  int pushed = 0;
  for (; pushed < limit; ++pushed) {
    const auto fix = d.chain;
    refusal = client.Push({v.Sealed(d, std::string(1500, 'q'))});
    if (!refusal.ok()) {
      d.chain = fix;
      break;
    }
  }
  return pushed;
}

sv::Chunk ChunkOf(std::size_t bytes) {
  sv::Chunk c;
  c.set_chunk_id(Str(crypto::RandomBytes(16)));
  c.set_data(std::string(bytes, 'c'));
  return c;
}

TEST_F(ServiceTest, QuotaExceededReturnsResourceExhausted) {
  Start([](ServiceOptions& o) { o.quota_bytes = 16 << 10; });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  grpc::Status s;
  const int pushed = PushUntilRefused(*owner_client_, vault_, owner_, s);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_GT(pushed, 3);
  EXPECT_EQ(HeadSeq(*owner_client_), static_cast<std::uint64_t>(pushed + 1));
  EXPECT_CODE(owner_client_->PutChunks({ChunkOf(20 << 10)}), StatusCode::RESOURCE_EXHAUSTED);
  // Replays cost nothing, so they still go through; reads too.
  sv::PullResponse pulled;
  ASSERT_TRUE(owner_client_->Pull(1, 1, &pulled).ok());
  EXPECT_CODE(owner_client_->Push({pulled.objects(0).object()}), StatusCode::OK);
}

// A vault's own quota (Store::SetVaultQuota) replaces the server's default for it alone,
// either way, and takes effect at once on a running server.
TEST_F(ServiceTest, AVaultsOwnQuotaOverridesTheServerDefault) {
  Store* store = nullptr;
  Start([](ServiceOptions& o) { o.quota_bytes = 16 << 10; },
        [&](std::unique_ptr<Store> inner) {
          store = inner.get();
          return inner;
        });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  TestVault small;
  Device small_owner;
  ASSERT_TRUE(CreateVault(small, small.Genesis(small_owner), kToken2).ok());
  auto small_client = NewClient();
  ASSERT_TRUE(small_client->Login(small, small_owner).ok());

  // Each vault filled up to its quota: under it, and less than one more object short.
  TestVault scratch;
  Device scratch_device;
  const std::uint64_t object_bytes = scratch.Sealed(scratch_device, std::string(1500, 'q')).ByteSizeLong() + 16;
  auto expect_filled_to = [&](const TestVault& v, std::uint64_t quota) {
    auto found = store->FindVault(v.id);
    ASSERT_TRUE(found.has_value() && found->has_value());
    EXPECT_LE((*found)->bytes_used, quota);
    EXPECT_GT((*found)->bytes_used + object_bytes, quota);
  };
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 48 << 10).has_value());
  grpc::Status s;
  EXPECT_GT(PushUntilRefused(*owner_client_, vault_, owner_, s), 20);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  expect_filled_to(vault_, 48 << 10);
  EXPECT_GT(PushUntilRefused(*small_client, small, small_owner, s), 3);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  expect_filled_to(small, 16 << 10);

  // Lowered below what the vault holds: refused at once. Back to the default: still
  // over it. Raised: accepted again, chunks too.
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 20 << 10).has_value());
  EXPECT_EQ(PushUntilRefused(*owner_client_, vault_, owner_, s), 0);
  EXPECT_CODE(s, StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 0).has_value());
  EXPECT_EQ(PushUntilRefused(*owner_client_, vault_, owner_, s), 0);
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 1 << 20).has_value());
  EXPECT_EQ(PushUntilRefused(*owner_client_, vault_, owner_, s, 3), 3);
  EXPECT_CODE(owner_client_->PutChunks({ChunkOf(100 << 10)}), StatusCode::OK);
  EXPECT_CODE(small_client->PutChunks({ChunkOf(20 << 10)}), StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServiceTest, AVaultsOwnQuotaAppliesWhenTheServerHasNone) {
  Store* store = nullptr;
  Start({}, [&](std::unique_ptr<Store> inner) {
    store = inner.get();
    return inner;
  });
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 8 << 10).has_value());
  EXPECT_CODE(owner_client_->PutChunks({ChunkOf(20 << 10)}), StatusCode::RESOURCE_EXHAUSTED);
  grpc::Status s;
  EXPECT_GT(PushUntilRefused(*owner_client_, vault_, owner_, s), 0);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store->BytesUsed(vault_.id));
  EXPECT_LE(used, 8u << 10);
  // Without its quota the vault takes what it was refused.
  ASSERT_TRUE(store->SetVaultQuota(vault_.id, 0).has_value());
  EXPECT_CODE(owner_client_->PutChunks({ChunkOf(20 << 10)}), StatusCode::OK);
}

// --- robustness ------------------------------------------------------------------------------

// A Store that forwards to a real one, failing appends and listings on demand.
class FlakyStore final : public ForwardingStore {
 public:
  FlakyStore(std::unique_ptr<Store> inner, std::atomic<bool>* fail) : ForwardingStore(std::move(inner)), fail_(fail) {}
  Result<std::vector<Appended>> Append(crypto::ByteView v, std::span<const ObjectEnvelope> e,
                                       std::optional<std::uint64_t> membership_ops) override {
    if (*fail_) return Fail(ErrorCode::kIo, "disk on fire at /secret/path");
    return ForwardingStore::Append(v, e, membership_ops);
  }
  Result<std::vector<VaultSummary>> ListVaults() override {
    if (*fail_) return Fail(ErrorCode::kIo, "disk on fire at /secret/path");
    return ForwardingStore::ListVaults();
  }

 private:
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
  // The operator's metrics count it, and a scrape that cannot read the store says so.
  const std::string text = server_->metrics().Render();
  const MetricsText metrics = ParseMetricsText(text);
  EXPECT_EQ(metrics.Find("evault_rpcs_total", {{"method", "Push"}, {"code", "INTERNAL"}}), 1);
  EXPECT_EQ(metrics.Find("evault_store_up"), 0);
  EXPECT_FALSE(metrics.Find("evault_vaults").has_value());
  EXPECT_EQ(metrics.Find("evault_storage_failures_total", {{"kind", "io"}}), 2);  // the push, the scrape
  EXPECT_EQ(text.find("secret"), std::string::npos);
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

// --- a membership operation between a push's checks and its write -------------------
//
// What another replica (another process on the same store) may commit while a push is
// checked: the store refuses the push's write (Store::Append's membership count) and
// the push is checked again against the membership as stored. Here the "other replica"
// is a hook that writes to the store beneath the service, at the last moment.

class PushRaceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    Start({}, [this](std::unique_ptr<Store> inner) {
      auto store = std::make_unique<InterposingStore>(std::move(inner));
      store_ = store.get();
      return store;
    });
    ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  }
  // Makes `e` land in the store, beneath the service, in the next Append.
  void CommitBeforeNextAppend(const ObjectEnvelope& e) {
    store_->BeforeNextAppend([this, e] {
      committed_ = store_->inner().Append(vault_.id, std::span(&e, 1), std::nullopt);
    });
  }
  // The vault in server order.
  std::vector<StoredObject> Stored() {
    auto all = store_->Scan(vault_.id, 0, 10000, std::size_t{1} << 30);
    EXPECT_TRUE(all.has_value());
    return all ? *all : std::vector<StoredObject>{};
  }

  InterposingStore* store_ = nullptr;
  Result<std::vector<Appended>> committed_ = std::vector<Appended>{};
};

TEST_F(PushRaceTest, ARevocationCommittedDuringAPushRefusesIt) {
  Member member = AddMember(sv::COORDINATOR);
  Device& d = *member.device;
  const ObjectEnvelope mine = vault_.Sealed(d);  // sealed in epoch 1, checked before the REVOKE
  const std::uint64_t head = HeadSeq(*owner_client_);
  CommitBeforeNextAppend(vault_.Revoke(owner_, d));

  EXPECT_CODE(member.client->Push({mine}), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(store_->hooks_run(), 1);
  ASSERT_TRUE(committed_.has_value()) << committed_.error().message;
  ASSERT_EQ(committed_->size(), 1u);
  EXPECT_EQ((*committed_)[0].server_seq, head + 1);
  EXPECT_EQ(store_->aborted(), 1);  // the push's write was refused once, then checked again
  // The REVOKE is the vault's last object: nothing of the revoked device follows it.
  const auto stored = Stored();
  ASSERT_EQ(stored.size(), head + 1);
  EXPECT_EQ(stored.back().envelope.author(), owner_.key());
  ASSERT_OK_AND_ASSIGN(auto found, store_->FindObject(vault_.id, ToBytes(mine.object_id())));
  EXPECT_FALSE(found.has_value());
  // And the revoked device is shut out from then on.
  sv::PullResponse pulled;
  EXPECT_CODE(member.client->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(member.client->Push({mine}), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(NewClient()->Login(vault_, d), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(owner_client_->Push({vault_.Sealed(owner_)}), StatusCode::OK);
}

TEST_F(PushRaceTest, AnUnrelatedOperationDuringAPushCostsTheClientNothing) {
  Member member = AddMember(sv::MONITOR);
  Device& d = *member.device;
  const std::uint64_t head = HeadSeq(*owner_client_);
  CommitBeforeNextAppend(vault_.Invite(owner_, crypto::RandomBytes(32), sv::MONITOR));

  sv::PushResponse pushed;
  EXPECT_CODE(member.client->Push({vault_.Sealed(d), vault_.Sealed(d)}, &pushed), StatusCode::OK);
  EXPECT_EQ(store_->hooks_run(), 1);
  EXPECT_EQ(store_->aborted(), 1);
  ASSERT_TRUE(committed_.has_value()) << committed_.error().message;
  EXPECT_EQ((*committed_)[0].server_seq, head + 1);
  // Stored after the INVITE, in one piece.
  ASSERT_EQ(pushed.server_seq_size(), 2);
  EXPECT_EQ(pushed.server_seq(0), head + 2);
  EXPECT_EQ(pushed.server_seq(1), head + 3);
  EXPECT_EQ(HeadSeq(*owner_client_), head + 3);
  // The service took the store's membership: the next pushes need no second round.
  EXPECT_CODE(member.client->Push({vault_.Sealed(d)}), StatusCode::OK);
  EXPECT_CODE(owner_client_->Push({vault_.Invite(owner_, crypto::RandomBytes(32), sv::MONITOR)}), StatusCode::OK);
  EXPECT_EQ(store_->aborted(), 1);
}

TEST_F(PushRaceTest, ANewKeyEpochDuringAPushRefusesObjectsSealedToTheOldOne) {
  Member member = AddMember(sv::COORDINATOR);
  Member other = AddMember(sv::MONITOR);
  Device& d = *member.device;
  const ObjectEnvelope old_epoch = vault_.Sealed(d);
  const std::uint64_t head = HeadSeq(*owner_client_);
  CommitBeforeNextAppend(vault_.Revoke(owner_, *other.device, {{&d, sv::COORDINATOR}}));  // epoch 2

  grpc::Status s = member.client->Push({old_epoch});
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED) << s.error_message();
  EXPECT_NE(s.error_message().find("key epoch"), std::string::npos) << s.error_message();
  EXPECT_EQ(store_->aborted(), 1);
  EXPECT_EQ(HeadSeq(*owner_client_), head + 1);  // the REVOKE only
  // Sealed again to epoch 2 (as the client does after pulling), it is stored.
  d.chain = {old_epoch.author_seq() - 1, Bytes(old_epoch.prev_hash().begin(), old_epoch.prev_hash().end())};
  EXPECT_CODE(member.client->Push({vault_.Sealed(d)}), StatusCode::OK);
  EXPECT_EQ(HeadSeq(*owner_client_), head + 2);
}

TEST_F(ServiceTest, MembershipIsRebuiltFromTheStoreAfterARestart) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  Member monitor = AddMember(sv::MONITOR);
  Member revoked = AddMember(sv::MONITOR);
  ASSERT_TRUE(owner_client_->Push({vault_.Revoke(owner_, *revoked.device, {{monitor.device.get(), sv::MONITOR}})}).ok());
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
