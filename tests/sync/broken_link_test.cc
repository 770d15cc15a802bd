// An attachment upload over a link that breaks (issue #7): the real client (RunSync, in
// process) against a real evault-server over TLS, through a TCP relay in this test that
// cuts every connection once the client has sent a given number of bytes. The client
// must reconnect, ask the server what it kept, and send only the rest: a link that
// breaks near the end of a long upload must not cost the whole upload again.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/sync_client.h"
#include "tests/sync/server_process.h"
#include "tests/vault/test_util.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::sync_test {
namespace {

namespace vt = vault::testing;
using vault::SyncState;
using vault::Vault;

// Relays TCP connections from a port of its own to `target_port`, counting the bytes the
// client sends. While armed, it cuts the connection carrying the byte that crosses
// `cut_after` (counted over all connections), then disarms: one break per arming.
class BreakingRelay {
 public:
  explicit BreakingRelay(int target_port) : target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "relay: cannot listen";
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~BreakingRelay() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : pipes_) t.join();
    ::close(listener_);
  }

  int port() const { return port_; }
  void CutAfter(std::uint64_t client_bytes) { cut_at_ = client_bytes_ + client_bytes; }
  std::uint64_t client_bytes() const { return client_bytes_; }
  int cuts() const { return cuts_; }

 private:
  void Accept() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(target_port_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      std::lock_guard lock(mu_);
      pipes_.emplace_back([this, client, server] { Pump(client, server); });
    }
  }

  // Copies both ways until either side closes, or the cut.
  void Pump(int client, int server) {
    std::vector<char> buffer(64 << 10);
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    while (!stopping_) {
      if (::poll(fds, 2, 100) < 0) break;
      bool open = true;
      for (int side = 0; side < 2 && open; ++side) {
        if (!(fds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        std::size_t want = buffer.size();
        if (side == 0 && cut_at_ > client_bytes_) want = std::min<std::uint64_t>(want, cut_at_ - client_bytes_);
        const ssize_t n = ::read(fds[side].fd, buffer.data(), want);
        if (n <= 0) {
          open = false;
          break;
        }
        if (side == 0) {
          client_bytes_ += static_cast<std::uint64_t>(n);
          if (cut_at_ != 0 && client_bytes_ >= cut_at_) {
            cut_at_ = 0;
            ++cuts_;
            open = false;
            break;
          }
        }
        if (!WriteAll(fds[1 - side].fd, buffer.data(), static_cast<std::size_t>(n))) open = false;
      }
      if (!open) break;
    }
    ::close(client);
    ::close(server);
  }

  static bool WriteAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> client_bytes_{0};
  std::atomic<std::uint64_t> cut_at_{0};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::thread acceptor_;
  std::vector<std::thread> pipes_;
};

class BrokenLinkTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kMiB = 1 << 20;
  static constexpr std::uint64_t kAttachmentBytes = 24 * kMiB;

  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() / "server", std::vector<std::string>{"--log-level", "warn"});
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    const auto colon = server_->address().rfind(':');
    relay_ = std::make_unique<BreakingRelay>(std::stoi(server_->address().substr(colon + 1)));
    // The certificate names localhost; the relay is transparent to TLS.
    config_.server = "localhost:" + std::to_string(relay_->port());
    config_.ca_pem = vt::ReadFileOrEmpty(server_->ca_file());
    vault_ = vt::CreateAndOpen(dir_.path() / "vault");
    ASSERT_TRUE(vault_);
    auto enrolled = client::RunSync(*vault_, config_, server_->enroll_token(), {});
    ASSERT_TRUE(enrolled) << enrolled.error().message;
    auto created = vault_->CreateCase("Detention of a journalist", {});
    ASSERT_TRUE(created) << created.error().message;
    auto record = vault_->AddRecord(created->id, vt::SimpleRecord("Hearing", "video of the hearing"));
    ASSERT_TRUE(record) << record.error().message;
    // Random bytes: the size on the wire is the size of the file.
    const auto file = dir_.path() / "hearing.mp4";
    std::ofstream out(file, std::ios::binary);
    std::mt19937_64 random(7);
    std::vector<std::uint64_t> block(kMiB / 8);
    for (std::uint64_t i = 0; i < kAttachmentBytes / kMiB; ++i) {
      for (auto& word : block) word = random();
      out.write(reinterpret_cast<const char*>(block.data()), kMiB);
    }
    out.close();
    auto added = vault_->AddAttachment(record->record_id, file);
    ASSERT_TRUE(added) << added.error().message;
  }

  // Syncs through the relay, which cuts the link once after `cut_after` client bytes;
  // returns the bytes the client sent.
  std::uint64_t SyncThroughACut(std::uint64_t cut_after) {
    const std::uint64_t before = relay_->client_bytes();
    relay_->CutAfter(cut_after);
    auto report = client::RunSync(*vault_, config_, std::nullopt, {});
    EXPECT_TRUE(report) << report.error().message;
    EXPECT_EQ(relay_->cuts(), 1) << "the relay never cut the link";
    auto pending = SyncState(*vault_).PendingUploads();
    EXPECT_TRUE(pending && pending->empty()) << "the attachment is not marked uploaded";
    // Nothing is left to send: the server holds every chunk.
    auto again = client::RunSync(*vault_, config_, std::nullopt, {});
    EXPECT_TRUE(again) << again.error().message;
    if (again) {
      EXPECT_EQ(again->uploaded_chunks, 0u);
    }
    return relay_->client_bytes() - before;
  }

  vt::ScopedTempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<BreakingRelay> relay_;
  SyncState::Config config_;
  std::unique_ptr<Vault> vault_;
};

TEST_F(BrokenLinkTest, ACutInTheFirstStreamIsRecovered) {
  const std::uint64_t sent = SyncThroughACut(1 * kMiB);
  EXPECT_LT(sent, kAttachmentBytes + 3 * kMiB);
}

// The first stream (4 chunks) is committed before the cut, at 14 MiB; what the server
// kept is not sent again, so the client sends well under 24 + 14 MiB.
TEST_F(BrokenLinkTest, ACutLateInTheUploadResendsOnlyWhatTheServerLacks) {
  const std::uint64_t sent = SyncThroughACut(14 * kMiB);
  EXPECT_GE(sent, kAttachmentBytes);
  EXPECT_LT(sent, kAttachmentBytes + 14 * kMiB - 3 * kMiB)
      << "the client sent " << sent << " bytes: it resent chunks the server had";
}

}  // namespace
}  // namespace evault::sync_test
