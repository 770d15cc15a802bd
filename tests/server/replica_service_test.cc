// Two VaultSync servers ("replicas", as two evault-server processes with --postgres)
// on one PostgreSQL database: a revocation made through one holds on the other at once,
// and a push through one that races a revocation through the other never lands after
// it (the store checks the membership inside the append's transaction: Store::Append).
//
// The cluster is the ctest fixture "postgres"; each test gets a schema of its own.
#include <atomic>
#include <iostream>
#include <thread>

#include "server/enroll_tokens.h"
#include "server/server.h"
#include "tests/server/interposing_store.h"
#include "tests/server/postgres_test_util.h"
#include "tests/server/service_fixture.h"

namespace evault::server::testing {
namespace {

using grpc::StatusCode;

constexpr char kToken[] = "replica-enroll-token-0123456789";

#define ASSERT_CODE_OK(status_expr)                                   \
  do {                                                                \
    const grpc::Status assert_status_ = (status_expr);                \
    ASSERT_TRUE(assert_status_.ok()) << assert_status_.error_message(); \
  } while (0)

class ReplicaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::EnsureSodium();
    ASSERT_NE(ClusterUri(), nullptr) << kNoCluster;
    schema_ = SchemaFor(dir_.path());
  }

  // A replica over the test's schema, as main.cc runs one with --postgres; its store
  // wrapped in an InterposingStore (interposer()).
  std::unique_ptr<RunningServer> StartReplica(InterposingStore** interposer = nullptr) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.credentials = grpc::InsecureServerCredentials();
    options.service.enroll_token_hashes = {EnrollTokenHash(kToken)};
    options.service.shared_store = true;
    options.service.log_sink = [](std::string_view) {};
    std::unique_ptr<Store> store = OpenSchema(schema_);
    if (store == nullptr) return nullptr;
    if (interposer != nullptr) {
      auto wrapped = std::make_unique<InterposingStore>(std::move(store));
      *interposer = wrapped.get();
      store = std::move(wrapped);
    }
    auto server = StartServer(std::move(options), std::move(store));
    if (!server) {
      ADD_FAILURE() << server.error().message;
      return nullptr;
    }
    return std::move(*server);
  }

  // Both replicas up (a_ with an interposer), the vault created through a, the owner
  // logged in on both, and device d a coordinator logged in on a.
  void StartVault() {
    a_ = StartReplica(&interposer_);
    b_ = StartReplica();
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    owner_a_ = std::make_unique<Client>(a_->address());
    owner_b_ = std::make_unique<Client>(b_->address());
    d_a_ = std::make_unique<Client>(a_->address());
    {
      sv::CreateVaultRequest request;
      request.set_vault_id(vault_.id_str());
      request.set_enroll_token(kToken);
      *request.mutable_genesis() = vault_.Genesis(owner_);
      sv::CreateVaultResponse response;
      grpc::ClientContext context;
      owner_a_->Prepare(context);
      ASSERT_CODE_OK(owner_a_->stub().CreateVault(&context, request, &response));
    }
    ASSERT_CODE_OK(owner_a_->Login(vault_, owner_));
    ASSERT_CODE_OK(owner_b_->Login(vault_, owner_));
    const Bytes invite = crypto::RandomBytes(32);
    ASSERT_CODE_OK(owner_a_->Push({vault_.Invite(owner_, invite, sv::COORDINATOR),
                                   vault_.Admit(owner_, d_, invite, sv::COORDINATOR)}));
    ASSERT_CODE_OK(d_a_->Login(vault_, d_));
  }


  // The server sequence of the REVOKE of `subject` (0: none), and how many objects of
  // `subject` follow it: what every client would refuse as tampered.
  static std::pair<std::uint64_t, int> RevokeAndAfter(const std::vector<sv::PulledObject>& objects,
                                                      const Device& subject) {
    std::uint64_t revoke = 0;
    int after = 0;
    for (const auto& o : objects) {
      if (revoke != 0 && o.object().author() == subject.key()) ++after;
      if (o.object().public_body().empty()) continue;
      sv::MembershipOp op;
      EXPECT_TRUE(op.ParseFromString(o.object().public_body()));
      if (op.kind() == sv::MembershipOp::REVOKE && op.subject().signing_key() == subject.key()) {
        revoke = o.server_seq();
      }
    }
    return {revoke, after};
  }

  TempDir dir_;
  std::string schema_;
  std::unique_ptr<RunningServer> a_, b_;
  InterposingStore* interposer_ = nullptr;
  TestVault vault_;
  Device owner_, d_;
  std::unique_ptr<Client> owner_a_, owner_b_, d_a_;
};

TEST_F(ReplicaServiceTest, ARevocationThroughOneReplicaHoldsOnTheOther) {
  ASSERT_NO_FATAL_FAILURE(StartVault());
  auto d_b = std::make_unique<Client>(b_->address());
  ASSERT_CODE_OK(d_b->Login(vault_, d_));
  EXPECT_CODE(d_a_->Push({vault_.Sealed(d_)}), StatusCode::OK);

  EXPECT_CODE(owner_b_->Push({vault_.Revoke(owner_, d_)}), StatusCode::OK);

  // On the other replica, d's live session is refused at once: push and pull.
  const ObjectEnvelope late = vault_.Sealed(d_);
  EXPECT_CODE(d_a_->Push({late}), StatusCode::PERMISSION_DENIED);
  sv::PullResponse pulled;
  EXPECT_CODE(d_a_->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(d_b->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(Client(a_->address()).Login(vault_, d_), StatusCode::PERMISSION_DENIED);
  EXPECT_CODE(Client(b_->address()).Login(vault_, d_), StatusCode::PERMISSION_DENIED);

  const auto objects = PullAll(*owner_a_);
  const auto [revoke, after] = RevokeAndAfter(objects, d_);
  EXPECT_NE(revoke, 0u);
  EXPECT_EQ(after, 0);
  EXPECT_EQ(objects.back().server_seq(), revoke);
  // The owner goes on through either replica.
  EXPECT_CODE(owner_a_->Push({vault_.Sealed(owner_)}), StatusCode::OK);
}

// The race itself, made deterministic: d's push through replica a is checked, and just
// before a writes it, the owner's REVOKE of d is committed through replica b.
TEST_F(ReplicaServiceTest, APushRacingARevocationThroughTheOtherReplicaNeverLandsAfterIt) {
  ASSERT_NO_FATAL_FAILURE(StartVault());
  const ObjectEnvelope mine = vault_.Sealed(d_);
  const ObjectEnvelope revoke = vault_.Revoke(owner_, d_);
  grpc::Status revoked = grpc::Status(StatusCode::UNKNOWN, "the hook did not run");
  interposer_->BeforeNextAppend([&] { revoked = owner_b_->Push({revoke}); });

  EXPECT_CODE(d_a_->Push({mine}), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(interposer_->hooks_run(), 1);
  EXPECT_CODE(revoked, StatusCode::OK);
  EXPECT_EQ(interposer_->aborted(), 1);

  const auto objects = PullAll(*owner_a_);
  const auto [revoke_seq, after] = RevokeAndAfter(objects, d_);
  EXPECT_NE(revoke_seq, 0u);
  EXPECT_EQ(after, 0);
  for (const auto& o : objects) EXPECT_NE(o.object().object_id(), mine.object_id());
  sv::PullResponse pulled;
  EXPECT_CODE(d_a_->Pull(0, 0, &pulled), StatusCode::PERMISSION_DENIED);
}

// The same race with an operation that leaves d a member: d's push is checked again
// inside replica a and stored after it, and d never hears of the race.
TEST_F(ReplicaServiceTest, AnUnrelatedOperationThroughTheOtherReplicaDoesNotFailAPush) {
  ASSERT_NO_FATAL_FAILURE(StartVault());
  const ObjectEnvelope invite = vault_.Invite(owner_, crypto::RandomBytes(32), sv::MONITOR);
  grpc::Status invited = grpc::Status(StatusCode::UNKNOWN, "the hook did not run");
  interposer_->BeforeNextAppend([&] { invited = owner_b_->Push({invite}); });

  sv::PushResponse pushed;
  EXPECT_CODE(d_a_->Push({vault_.Sealed(d_)}, &pushed), StatusCode::OK);
  EXPECT_CODE(invited, StatusCode::OK);
  EXPECT_EQ(interposer_->aborted(), 1);
  const auto objects = PullAll(*owner_a_);
  ASSERT_GE(objects.size(), 2u);
  EXPECT_EQ(objects[objects.size() - 2].object().object_id(), invite.object_id());
  ASSERT_EQ(pushed.server_seq_size(), 1);
  EXPECT_EQ(pushed.server_seq(0), objects.back().server_seq());
}

// Without a hook: d pushes through replica a as fast as it can while the owner revokes
// it through replica b. Whatever the timing, nothing of d follows the REVOKE.
TEST_F(ReplicaServiceTest, PushesRacingARevocationStopAtIt) {
  ASSERT_NO_FATAL_FAILURE(StartVault());
  const ObjectEnvelope revoke = vault_.Revoke(owner_, d_);  // before d's objects: sealed to epoch 1
  vault_.epoch = 1;
  std::atomic<int> pushed{0};
  std::atomic<bool> stopped{false};
  grpc::Status revoked = grpc::Status(StatusCode::UNKNOWN, "not sent: d's pushes failed first");
  std::thread owner([&] {
    while (pushed < 5 && !stopped) std::this_thread::yield();
    if (!stopped) revoked = owner_b_->Push({revoke});
  });
  grpc::Status last;
  for (int i = 0; i < 5000; ++i) {
    const Device::Chain chain = d_.chain;
    last = d_a_->Push({vault_.Sealed(d_)});
    if (!last.ok()) {
      d_.chain = chain;
      break;
    }
    ++pushed;
  }
  stopped = true;
  owner.join();
  EXPECT_CODE(revoked, StatusCode::OK);
  EXPECT_EQ(last.error_code(), StatusCode::PERMISSION_DENIED) << last.error_message();
  const auto [revoke_seq, after] = RevokeAndAfter(PullAll(*owner_a_), d_);
  EXPECT_NE(revoke_seq, 0u);
  EXPECT_EQ(after, 0);
  std::cout << "d's pushes before the REVOKE: " << pushed << ", stores that refused a write: "
            << interposer_->aborted() << "\n";
}

}  // namespace
}  // namespace evault::server::testing
