// Prometheus metrics: the registry's text format (read back by a strict parser), the
// HTTP endpoint over a real socket (200, 404, 405, a port that is taken), and the
// server's metrics after real RPCs: counts by method and code, latency histograms, the
// store's totals, and nothing of a request in any label.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmath>

#include "server/metrics.h"
#include "server/metrics_endpoint.h"
#include "server/enroll_tokens.h"
#include "tests/server/metrics_text.h"
#include "tests/server/service_fixture.h"

namespace evault::server::testing {
namespace {

using grpc::StatusCode;

// --- the text format ----------------------------------------------------------------

TEST(Metrics, RegistryRendersCountersHistogramsAndGaugesAParserReads) {
  MetricsRegistry registry;
  auto& calls = registry.AddCounter<2>("test_calls_total", "Calls, by what and how.", {"what", "how"});
  auto& seconds = registry.AddHistogram<1>("test_seconds", "Durations.", {"what"}, {0.01, 0.1, 1});
  registry.AddGauges([] { return std::vector<GaugeSample>{{"test_things", "Things.", 42}}; });
  calls.Add({"a", "OK"});
  calls.Add({"a", "OK"}, 2);
  calls.Add({"b", "NOT_FOUND"});
  calls.Add({"c", "OK"}, 0);  // named, so present at 0
  for (double v : {0.005, 0.01, 0.05, 0.5, 7.0}) seconds.Observe({"a"}, v);

  const MetricsText m = ParseMetricsText(registry.Render());
  EXPECT_EQ(m.types.at("test_calls_total"), "counter");
  EXPECT_EQ(m.types.at("test_seconds"), "histogram");
  EXPECT_EQ(m.types.at("test_things"), "gauge");
  EXPECT_EQ(m.Find("test_calls_total", {{"what", "a"}, {"how", "OK"}}), 3);
  EXPECT_EQ(m.Find("test_calls_total", {{"what", "b"}, {"how", "NOT_FOUND"}}), 1);
  EXPECT_EQ(m.Find("test_calls_total", {{"what", "c"}, {"how", "OK"}}), 0);
  EXPECT_FALSE(m.Find("test_calls_total", {{"what", "b"}, {"how", "OK"}}).has_value());
  // Cumulative buckets; a value equal to a bound is in that bound's bucket.
  EXPECT_EQ(m.Find("test_seconds_bucket", {{"what", "a"}, {"le", "0.01"}}), 2);
  EXPECT_EQ(m.Find("test_seconds_bucket", {{"what", "a"}, {"le", "0.1"}}), 3);
  EXPECT_EQ(m.Find("test_seconds_bucket", {{"what", "a"}, {"le", "1"}}), 4);
  EXPECT_EQ(m.Find("test_seconds_bucket", {{"what", "a"}, {"le", "+Inf"}}), 5);
  EXPECT_EQ(m.Find("test_seconds_count", {{"what", "a"}}), 5);
  EXPECT_NEAR(*m.Find("test_seconds_sum", {{"what", "a"}}), 7.565, 1e-9);
  EXPECT_EQ(m.Find("test_things"), 42);
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  auto& c = registry.AddCounter<1>("test_total", "Two\nlines with a \\ backslash.", {"v"});
  const std::string awkward = "quote \" backslash \\ newline \n end";
  c.Add({awkward}, 5);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# HELP test_total Two\\nlines with a \\\\ backslash.\n"), std::string::npos) << text;
  const MetricsText m = ParseMetricsText(text);
  EXPECT_EQ(m.Find("test_total", {{"v", awkward}}), 5);
  EXPECT_EQ(m.samples.size(), 1u);
}

TEST(Metrics, NumbersUseThePrometheusSyntax) {
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(123456789012.0), "123456789012");
  EXPECT_EQ(FormatMetricValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatMetricValue(-HUGE_VAL), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(ParseMetricNumber(FormatMetricValue(0.1 + 0.2)), 0.1 + 0.2);  // round-trips
}

// --- the endpoint, over a real socket -----------------------------------------------------

struct HttpReply {
  int status = 0;
  std::string head, body;
};

// One request on a fresh connection to 127.0.0.1:port; nullopt if it cannot connect.
std::optional<HttpReply> Http(int port, const std::string& method, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string raw;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) raw.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  const auto split = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.1 ") || split == std::string::npos) {
    ADD_FAILURE() << "not an HTTP reply: " << raw;
    return HttpReply{};
  }
  return HttpReply{std::atoi(raw.c_str() + 9), raw.substr(0, split), raw.substr(split + 4)};
}

TEST(MetricsEndpoint, ServesMetricsAndNothingElse) {
  int renders = 0;
  ASSERT_OK_AND_ASSIGN(auto endpoint, MetricsEndpoint::Start("127.0.0.1:0", [&renders] {
                         return "test_renders_total " + std::to_string(++renders) + "\n";
                       }));
  ASSERT_GT(endpoint->port(), 0);
  EXPECT_EQ(endpoint->address(), "127.0.0.1:" + std::to_string(endpoint->port()));

  auto ok = Http(endpoint->port(), "GET", "/metrics");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok->head;
  EXPECT_EQ(ok->body, "test_renders_total 1\n");
  auto again = Http(endpoint->port(), "GET", "/metrics?x=1");  // query strings are ignored
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->body, "test_renders_total 2\n");

  for (const char* path : {"/", "/metrics/", "/metricsx", "/Metrics", "/metrics/../etc/passwd", "/debug"}) {
    auto other = Http(endpoint->port(), "GET", path);
    ASSERT_TRUE(other.has_value()) << path;
    EXPECT_EQ(other->status, 404) << path;
    EXPECT_EQ(other->body.find("test_renders_total"), std::string::npos) << path;
  }
  auto post = Http(endpoint->port(), "POST", "/metrics");
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 405);
  EXPECT_NE(post->head.find("Allow: GET, HEAD"), std::string::npos) << post->head;
  EXPECT_EQ(renders, 2);  // only the two GETs of /metrics rendered

  const int port = endpoint->port();
  endpoint.reset();
  EXPECT_FALSE(Http(port, "GET", "/metrics").has_value());  // stopped: refused
}

TEST(MetricsEndpoint, RefusesATakenPortAndAMalformedAddress) {
  ASSERT_OK_AND_ASSIGN(auto first, MetricsEndpoint::Start("127.0.0.1:0", [] { return std::string(); }));
  auto taken = MetricsEndpoint::Start("127.0.0.1:" + std::to_string(first->port()), [] { return std::string(); });
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code, ErrorCode::kIo);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":9100", "[::1:9100", "127.0.0.1:http", "127.0.0.1:port"}) {
    auto refused = MetricsEndpoint::Start(bad, [] { return std::string(); });
    ASSERT_FALSE(refused.has_value()) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

// --- the server's metrics after real RPCs ------------------------------------------------

const std::set<std::string> kMethods = {"Challenge",   "Authenticate",  "CreateVault", "Join",
                                        "ListJoinRequests", "Push",     "Pull",        "MissingChunks",
                                        "PutChunks",   "GetChunks"};
const std::set<std::string> kCodes = {"OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED",
                                      "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
                                      "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"};

class MetricsServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    crypto::EnsureSodium();
    Start({}, [this](std::unique_ptr<Store> inner) {
      store_ = inner.get();
      return inner;
    });
  }
  MetricsText Scrape() { return ParseMetricsText(server_->metrics().Render()); }

  Store* store_ = nullptr;
};

TEST_F(MetricsServiceTest, CountsEveryRpcByMethodAndCode) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());  // CreateVault, Challenge, Authenticate
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_)}).ok());
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_)}).ok());
  sv::PullResponse pulled;
  ASSERT_TRUE(owner_client_->Pull(0, 0, &pulled).ok());
  auto stranger = NewClient();
  EXPECT_EQ(stranger->Pull(0, 0, &pulled).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stranger->PutChunks({}).error_code(), StatusCode::UNAUTHENTICATED);

  const MetricsText m = Scrape();
  EXPECT_EQ(m.types.at("evault_rpcs_total"), "counter");
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "CreateVault"}, {"code", "OK"}}), 1);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Challenge"}, {"code", "OK"}}), 1);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Authenticate"}, {"code", "OK"}}), 1);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Push"}, {"code", "OK"}}), 2);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Pull"}, {"code", "OK"}}), 1);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Pull"}, {"code", "UNAUTHENTICATED"}}), 1);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "PutChunks"}, {"code", "UNAUTHENTICATED"}}), 1);
  double total = 0;
  for (const auto& s : m.samples) total += s.name == "evault_rpcs_total" ? s.value : 0;
  EXPECT_EQ(total, 8);  // nothing else was counted

  // One latency observation per RPC, in cumulative buckets.
  EXPECT_EQ(m.types.at("evault_rpc_duration_seconds"), "histogram");
  EXPECT_EQ(m.Find("evault_rpc_duration_seconds_count", {{"method", "Push"}}), 2);
  EXPECT_EQ(m.Find("evault_rpc_duration_seconds_count", {{"method", "Pull"}}), 2);
  EXPECT_EQ(m.Find("evault_rpc_duration_seconds_bucket", {{"method", "Push"}, {"le", "+Inf"}}), 2);
  EXPECT_GT(*m.Find("evault_rpc_duration_seconds_sum", {{"method", "Push"}}), 0);
  double previous = 0;
  int buckets = 0;
  for (const auto& s : m.samples) {
    if (s.name != "evault_rpc_duration_seconds_bucket" || s.labels.at("method") != "Push") continue;
    EXPECT_GE(s.value, previous) << s.labels.at("le");
    previous = s.value;
    ++buckets;
  }
  EXPECT_GE(buckets, 10);

  // The store's totals, as the store itself counts them.
  ASSERT_OK_AND_ASSIGN(std::uint64_t used, store_->BytesUsed(vault_.id));
  EXPECT_EQ(m.Find("evault_store_up"), 1);
  EXPECT_EQ(m.Find("evault_vaults"), 1);
  EXPECT_EQ(m.Find("evault_objects"), 3);
  EXPECT_EQ(m.Find("evault_stored_bytes"), static_cast<double>(used));
  for (const char* kind : {"io", "no_space", "corrupt", "other"}) {
    EXPECT_EQ(m.Find("evault_storage_failures_total", {{"kind", kind}}), 0) << kind;
  }
}

TEST_F(MetricsServiceTest, GaugesFollowTheStoreAcrossVaults) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  TestVault second;
  Device owner2;
  ASSERT_TRUE(CreateVault(second, second.Genesis(owner2), kToken2).ok());
  sv::Chunk chunk;
  chunk.set_chunk_id(Str(crypto::RandomBytes(16)));
  chunk.set_data(std::string(30000, 'c'));
  ASSERT_TRUE(owner_client_->PutChunks({chunk}).ok());
  ASSERT_OK_AND_ASSIGN(std::uint64_t used1, store_->BytesUsed(vault_.id));
  ASSERT_OK_AND_ASSIGN(std::uint64_t used2, store_->BytesUsed(second.id));
  const MetricsText m = Scrape();
  EXPECT_EQ(m.Find("evault_vaults"), 2);
  EXPECT_EQ(m.Find("evault_objects"), 2);  // chunks are not objects
  EXPECT_EQ(m.Find("evault_stored_bytes"), static_cast<double>(used1 + used2));
  EXPECT_GE(used1, 30000u);
}

// Labels are method names, code names, failure kinds and bucket bounds; no vault id,
// device, session or token appears anywhere in the text.
TEST_F(MetricsServiceTest, NoRequestContentInAnyLabel) {
  ASSERT_NO_FATAL_FAILURE(CreateVaultWithOwner());
  ASSERT_TRUE(owner_client_->Push({vault_.Sealed(owner_, "marker-plaintext")}).ok());
  Member monitor = AddMember(sv::MONITOR);
  // Refusals carry the most request-shaped input: a bad vault id, a forged token.
  TestVault bogus;
  bogus.id = crypto::RandomBytes(9);
  Device nobody;
  EXPECT_FALSE(CreateVault(bogus, bogus.Genesis(nobody), "forged-token-0123456789").ok());
  auto forged = NewClient();
  forged->set_session_hex(std::string(64, 'a'));
  sv::PullResponse pulled;
  EXPECT_FALSE(forged->Pull(0, 0, &pulled).ok());

  const std::string text = server_->metrics().Render();
  const MetricsText m = ParseMetricsText(text);
  ASSERT_FALSE(m.samples.empty());
  for (const auto& s : m.samples) {
    for (const auto& [name, value] : s.labels) {
      if (name == "method") {
        EXPECT_TRUE(kMethods.contains(value)) << value;
      } else if (name == "code") {
        EXPECT_TRUE(kCodes.contains(value)) << value;
      } else if (name == "kind") {
        EXPECT_TRUE(value == "io" || value == "no_space" || value == "corrupt" || value == "other") << value;
      } else if (name == "le") {
        EXPECT_TRUE(s.name.ends_with("_bucket")) << s.name;
        EXPECT_TRUE(ParseMetricNumber(value).has_value()) << value;
      } else {
        ADD_FAILURE() << "unexpected label " << name << " on " << s.name;
      }
    }
  }
  for (const Bytes* id : {&vault_.id, &bogus.id}) {
    const std::string hex = crypto::ToHex(*id);
    EXPECT_EQ(text.find(hex.substr(0, 8)), std::string::npos);
  }
  for (const Device* d : {&owner_, monitor.device.get(), &nobody}) {
    EXPECT_EQ(text.find(crypto::ToHex(d->signing.public_key()).substr(0, 16)), std::string::npos);
  }
  EXPECT_EQ(text.find(owner_client_->session_hex().substr(0, 16)), std::string::npos);
  EXPECT_EQ(text.find(std::string(64, 'a')), std::string::npos);
  EXPECT_EQ(text.find("forged-token"), std::string::npos);
  EXPECT_EQ(text.find(kToken), std::string::npos);
  EXPECT_EQ(text.find("marker-plaintext"), std::string::npos);
}

// --- the endpoint with the server ------------------------------------------------------------

Result<std::unique_ptr<RunningServer>> StartWithMetrics(const std::filesystem::path& dir, const std::string& listen) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.credentials = grpc::InsecureServerCredentials();
  options.metrics_listen = listen;
  options.service.enroll_token_hashes = {EnrollTokenHash("metrics-test-token-0123456789")};
  options.service.log_level = LogLevel::kOff;
  EVAULT_ASSIGN_OR_RETURN(auto store, RocksDbStore::Open(dir));
  return StartServer(std::move(options), std::move(store));
}

TEST(MetricsServer, ServesItsMetricsOverHttpUntilItStops) {
  crypto::EnsureSodium();
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto server, StartWithMetrics(dir.path() / "data", "127.0.0.1:0"));
  const std::string address = server->metrics_address();
  ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;
  const int port = std::stoi(address.substr(address.rfind(':') + 1));

  Client client(server->address());
  sv::PullResponse pulled;
  EXPECT_EQ(client.Pull(0, 0, &pulled).error_code(), StatusCode::UNAUTHENTICATED);
  auto reply = Http(port, "GET", "/metrics");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  const MetricsText m = ParseMetricsText(reply->body);
  EXPECT_EQ(m.Find("evault_rpcs_total", {{"method", "Pull"}, {"code", "UNAUTHENTICATED"}}), 1);
  EXPECT_EQ(m.Find("evault_store_up"), 1);
  EXPECT_EQ(m.Find("evault_vaults"), 0);
  auto missing = Http(port, "GET", "/");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);

  server->Shutdown(std::chrono::system_clock::now());
  server->Wait();
  EXPECT_EQ(server->metrics_address(), "");
  EXPECT_FALSE(Http(port, "GET", "/metrics").has_value());
}

TEST(MetricsServer, WithoutAnAddressThereIsNoEndpointAndATakenOneFailsTheStart) {
  crypto::EnsureSodium();
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto quiet, StartWithMetrics(dir.path() / "quiet", ""));
    EXPECT_EQ(quiet->metrics_address(), "");
  }
  ASSERT_OK_AND_ASSIGN(auto taken, MetricsEndpoint::Start("127.0.0.1:0", [] { return std::string(); }));
  auto refused = StartWithMetrics(dir.path() / "refused", taken->address());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kIo);
  EXPECT_NE(refused.error().message.find("metrics"), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace evault::server::testing
