// The Debian packages end to end, as an organisation's volunteer gets them: cpack builds
// evault and evault-server from this build tree, dpkg installs both, the installed
// evault-server starts from the installed config file (paths overridden to a temporary
// directory, and directly: systemd is not running in CI), the installed evault syncs
// with it over TLS (with the organisation CA, then with a pinned fingerprint), and
// dpkg --purge removes every installed file.
//
// It changes the machine while it runs, so it runs only as root and only when neither
// package is installed already; a guard purges them whatever happens.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"
#include "tests/sync/server_process.h"

namespace evault::deploy_test {
namespace {

namespace fs = std::filesystem;
using cli_test::Device;
using cli_test::RunProgram;
using cli_test::RunResult;

const std::vector<std::string> kPackages = {"evault", "evault-server"};

// What each package must install, and nothing else: no test or benchmark binaries.
const std::set<std::string> kClientFiles = {"/usr/bin/evault", "/usr/share/doc/evault/README.md"};
const std::set<std::string> kServerFiles = {
    "/usr/bin/evault-server",
    "/usr/sbin/evault-server-make-certs",
    "/etc/evault-server/evault-server.conf",
    "/usr/lib/systemd/system/evault-server.service",
    "/usr/share/doc/evault-server/README.md",
    "/usr/share/doc/evault-server/examples/nginx-evault-server.conf",
};

bool Installed(const std::string& package) {
  const RunResult r = RunProgram("/usr/bin/dpkg-query", {"-W", "-f=${Status}", package});
  return r.exit_code == 0 && r.out.find("install ok installed") != std::string::npos;
}

// dpkg refuses to run while another dpkg or apt holds its lock; wait for it (60 s).
RunResult Dpkg(const std::vector<std::string>& args) {
  RunResult r;
  for (int attempt = 0; attempt < 60; ++attempt) {
    r = RunProgram("/usr/bin/dpkg", args, {.timeout = std::chrono::seconds(120)});
    if (r.exit_code == 0 || r.err.find("lock") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return r;
}

// The regular files a .deb holds, as absolute paths ("./usr/bin/x" -> "/usr/bin/x").
std::set<std::string> DebFiles(const fs::path& deb) {
  const RunResult r = RunProgram("/usr/bin/dpkg-deb", {"--contents", deb.string()});
  std::set<std::string> files;
  for (const std::string& line : cli_test::Lines(r.out)) {
    if (!line.starts_with("-")) continue;  // directories and links
    const auto path = line.find(" ./");
    if (path != std::string::npos) files.insert(line.substr(path + 2));
  }
  return files;
}

// A stripped binary has neither a symbol table nor debugging sections.
bool Stripped(const fs::path& binary) {
  const std::string bytes = cli_test::ReadFile(binary);
  return bytes.find(".symtab") == std::string::npos && bytes.find(".debug_info") == std::string::npos;
}

// Purges the packages when the test ends, whichever way it ends.
struct PurgeGuard {
  bool armed = false;
  ~PurgeGuard() {
    if (armed) Dpkg({"--purge", "evault-server", "evault"});
  }
};

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "installs packages with dpkg: run as root (CI does)";
    if (!fs::exists("/usr/bin/dpkg")) GTEST_SKIP() << "not a Debian system: no dpkg";
    for (const auto& p : kPackages) {
      if (Installed(p)) GTEST_SKIP() << p << " is installed on this machine; the test would remove it";
    }
    dir_ = cli_test::MakeTempDir("evault-package-");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // The .deb cpack wrote for `package` (evault_0.1.0_amd64.deb, ...).
  fs::path Deb(const std::string& package) const {
    for (const auto& entry : fs::directory_iterator(dir_ / "debs")) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(package + "_") && name.ends_with(".deb")) return entry.path();
    }
    return {};
  }

  fs::path dir_;
};

TEST_F(PackageTest, BuildInstallRunSyncPurge) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  // gzip rather than the packages' xz: 2 s instead of 20 here, and the contents are the same.
  const RunResult packed =
      RunProgram(EVAULT_CPACK_COMMAND,
                 {"--config", EVAULT_CPACK_CONFIG, "-B", (dir_ / "debs").string(), "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=gzip"},
                 {.timeout = std::chrono::seconds(120)});
  ASSERT_EQ(packed.exit_code, 0) << packed.Describe();
  const fs::path client_deb = Deb("evault"), server_deb = Deb("evault-server");
  ASSERT_FALSE(client_deb.empty() || server_deb.empty()) << packed.out;
  std::cout << "cpack: " << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
            << " s; " << client_deb.filename().string() << " " << fs::file_size(client_deb) << " bytes, "
            << server_deb.filename().string() << " " << fs::file_size(server_deb) << " bytes\n";

  EXPECT_EQ(DebFiles(client_deb), kClientFiles);
  EXPECT_EQ(DebFiles(server_deb), kServerFiles);
  // Depends comes from dpkg-shlibdeps: the runtime libraries, not the -dev packages.
  const RunResult depends = RunProgram("/usr/bin/dpkg-deb", {"--field", server_deb.string(), "Depends"});
  EXPECT_NE(depends.out.find("libgrpc++"), std::string::npos) << depends.out;
  EXPECT_NE(depends.out.find("libsodium"), std::string::npos) << depends.out;
  EXPECT_EQ(depends.out.find("-dev"), std::string::npos) << depends.out;

  PurgeGuard guard;
  guard.armed = true;
  const RunResult installed = Dpkg({"--install", client_deb.string(), server_deb.string()});
  ASSERT_EQ(installed.exit_code, 0) << installed.Describe();
  for (const auto& p : kPackages) EXPECT_TRUE(Installed(p)) << p;
  for (const auto& files : {kClientFiles, kServerFiles}) {
    for (const auto& f : files) EXPECT_TRUE(fs::is_regular_file(f)) << f;
  }
  EXPECT_TRUE(Stripped("/usr/bin/evault"));
  EXPECT_TRUE(Stripped("/usr/bin/evault-server"));
  EXPECT_EQ(cli_test::ReadFile("/etc/evault-server/evault-server.conf"),
            cli_test::ReadFile(fs::path(EVAULT_SOURCE_DIR) / "deploy" / "evault-server.conf"));
  const RunResult conffiles = RunProgram("/usr/bin/dpkg-query", {"-W", "-f=${Conffiles}", "evault-server"});
  EXPECT_NE(conffiles.out.find("/etc/evault-server/evault-server.conf"), std::string::npos) << conffiles.out;
  if (fs::exists("/usr/bin/systemd-analyze")) {
    const RunResult verified =
        RunProgram("/usr/bin/systemd-analyze", {"verify", "/usr/lib/systemd/system/evault-server.service"});
    EXPECT_EQ(verified.exit_code, 0) << verified.Describe();
    EXPECT_EQ(verified.err.find("evault-server.service"), std::string::npos) << verified.err;
  }
  const RunResult certs = RunProgram("/usr/sbin/evault-server-make-certs", {(dir_ / "certs").string(), "localhost"});
  EXPECT_EQ(certs.exit_code, 0) << certs.Describe();
  EXPECT_NE(certs.out.find("Fingerprint="), std::string::npos) << certs.out;
  EXPECT_TRUE(fs::exists(dir_ / "certs" / "server.key"));

  // The installed server from the installed config; where it keeps data, listens and
  // finds its certificate and tokens is overridden on the command line.
  {
    sync_test::ServerProcess server(dir_ / "server", {"--config", "/etc/evault-server/evault-server.conf"});
    std::string error;
    ASSERT_TRUE(server.Start(&error)) << error;
    const Device device = Device::Make(dir_, "device");
    ASSERT_EQ(device.Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}).exit_code, 0);
    const RunResult enrolled = device.Ev({"sync", "--server", server.address(), "--ca-file",
                                          server.ca_file().string(), "--enroll-token", server.enroll_token()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.Describe() << server.log();
    ASSERT_EQ(device.Ev({"case", "new", "--title", "Packaged"}).exit_code, 0);
    // The pin exactly as the README says to get it, from openssl.
    const RunResult pin = RunProgram("/usr/bin/openssl", {"x509", "-in", server.cert_file().string(), "-noout",
                                                          "-fingerprint", "-sha256"});
    ASSERT_EQ(pin.exit_code, 0) << pin.Describe();
    const RunResult pinned = device.Ev({"sync", "--server-fingerprint", pin.out.substr(0, pin.out.find('\n'))});
    ASSERT_EQ(pinned.exit_code, 0) << pinned.Describe();
    EXPECT_NE(pinned.out.find("pushed"), std::string::npos) << pinned.out;
    const RunResult status = device.Ev({"status", "--json"});
    ASSERT_EQ(status.exit_code, 0) << status.Describe();
    EXPECT_EQ(nlohmann::json::parse(status.out, nullptr, false).value("unsynced_objects", -1), 0) << status.out;
    EXPECT_EQ(server.Stop(), 0);
  }

  guard.armed = false;
  const RunResult purged = Dpkg({"--purge", "evault-server", "evault"});
  ASSERT_EQ(purged.exit_code, 0) << purged.Describe();
  for (const auto& p : kPackages) EXPECT_FALSE(Installed(p)) << p;
  for (const auto& files : {kClientFiles, kServerFiles}) {
    for (const auto& f : files) EXPECT_FALSE(fs::exists(f)) << f;
  }
  for (const char* d : {"/etc/evault-server", "/usr/share/doc/evault-server", "/usr/share/doc/evault"}) {
    EXPECT_FALSE(fs::exists(d)) << d;
  }
  std::cout << "whole test: " << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
            << " s\n";
}

}  // namespace
}  // namespace evault::deploy_test
