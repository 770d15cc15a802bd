// A real VaultSync server in-process on 127.0.0.1 (plaintext: TLS is tested end to
// end elsewhere), over a RocksDbStore in a temporary directory or any Store a test
// wraps around it, and clients that speak to it the way `evault` will.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "evault_sync.grpc.pb.h"
#include "server/rocksdb_store.h"
#include "server/server.h"
#include "tests/server/test_util.h"

// Expects a gRPC call's status code, and prints the server's message when it differs.
#define EXPECT_CODE(status_expr, code)                                       \
  do {                                                                       \
    const grpc::Status evs_status_ = (status_expr);                          \
    EXPECT_EQ(evs_status_.error_code(), code) << evs_status_.error_message(); \
  } while (0)

namespace evault::server::testing {

namespace sv = sync::v1;

// A client of one device: logs in with Challenge/Authenticate and sends its session
// token with every later call.
class Client {
 public:
  explicit Client(const std::string& address);

  sv::VaultSync::Stub& stub() { return *stub_; }
  // Adds the session metadata (if logged in) and a deadline.
  void Prepare(grpc::ClientContext& context) const;

  grpc::Status Login(const TestVault& v, const Device& d, const std::string& purpose = "sync");
  void set_session_hex(std::string hex) { session_hex_ = std::move(hex); }
  const std::string& session_hex() const { return session_hex_; }

  grpc::Status Push(const std::vector<ObjectEnvelope>& objects, sv::PushResponse* response = nullptr);
  grpc::Status Pull(std::uint64_t after_seq, std::uint32_t limit, sv::PullResponse* response);
  grpc::Status PutChunks(const std::vector<sv::Chunk>& chunks, std::uint64_t* stored = nullptr);
  grpc::Status GetChunks(const std::vector<Bytes>& ids, std::vector<sv::Chunk>* out);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sv::VaultSync::Stub> stub_;
  std::string session_hex_;
};

// Everything the vault holds, in server order, as `client` pulls it (in pages), and
// the server's incarnation if asked.
std::vector<sv::PulledObject> PullAll(Client& client, std::string* incarnation = nullptr);

// The message a device signs to authenticate (service.h).
Bytes AuthMessage(const std::string& nonce, const std::string& vault_id, const std::string& device_key,
                  const std::string& purpose);
// A join request signed by `d` (service.h).
sv::JoinRequest SignedJoin(const TestVault& v, const Bytes& invite_id, const Device& d);

class ServiceTest : public ::testing::Test {
 protected:
  static constexpr char kToken[] = "enroll-token-one-0123456789";
  static constexpr char kToken2[] = "enroll-token-two-0123456789";
  static constexpr char kToken3[] = "enroll-token-three-01234567";

  void SetUp() override;
  void TearDown() override;

  // (Re)starts the server over the same data directory. `tweak` adjusts the options;
  // `wrap` may decorate the store.
  void Start(std::function<void(ServiceOptions&)> tweak = {},
             std::function<std::unique_ptr<Store>(std::unique_ptr<Store>)> wrap = {});
  void Stop();

  std::unique_ptr<Client> NewClient() { return std::make_unique<Client>(server_->address()); }

  grpc::Status CreateVault(const TestVault& v, const ObjectEnvelope& genesis, const std::string& token);

  // A vault with its owner logged in on owner_client_.
  void CreateVaultWithOwner();
  // Invites and admits a new device with `role` (pushed by the owner), logs it in on
  // a client of its own.
  struct Member {
    std::unique_ptr<Device> device;
    std::unique_ptr<Client> client;
  };
  Member AddMember(sv::Role role);

  std::uint64_t HeadSeq(Client& client);
  std::vector<std::string> LogLines();

  TempDir dir_;
  std::string admin_socket_;  // ServerOptions::admin_socket of the next Start()
  std::unique_ptr<RunningServer> server_;
  TestVault vault_;
  Device owner_;
  std::unique_ptr<Client> owner_client_;

 private:
  std::mutex log_mu_;
  std::vector<std::string> log_lines_;
};

}  // namespace evault::server::testing
