// Where the passphrase comes from, changing it, and process hardening.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using ::testing::HasSubstr;

TEST_F(CliTest, PassphraseFromEnvironment) {
  Init();
  RunOptions env;
  env.env["EVAULT_PASSPHRASE"] = kPassphrase;
  auto made = EvRaw({"--vault", vault_.string(), "case", "new", "--title", "Made with env passphrase"}, env);
  ASSERT_OK(made);
  const std::string case_id = FirstWord(Lines(made.out).at(0));
  ASSERT_TRUE(IsId(case_id));

  auto listed = EvRaw({"--vault", vault_.string(), "case", "list"}, env);
  ASSERT_OK(listed);
  EXPECT_EQ(FirstWord(Lines(listed.out).at(0)), case_id);

  // And through the file, the same vault.
  auto via_file = Ev({"case", "list"});
  ASSERT_OK(via_file);
  EXPECT_EQ(via_file.out, listed.out);

  RunOptions wrong;
  wrong.env["EVAULT_PASSPHRASE"] = "not the passphrase";
  auto refused = EvRaw({"--vault", vault_.string(), "case", "list"}, wrong);
  EXPECT_CLEAN_ERROR(refused, 3);
}

TEST_F(CliTest, InitWithPassphraseFromEnvironment) {
  RunOptions env;
  env.env["EVAULT_PASSPHRASE"] = kPassphrase;
  auto init = EvRaw({"--vault", vault_.string(), "init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}, env);
  ASSERT_OK(init);
  EXPECT_TRUE(IsId(FirstWord(Lines(init.out).at(0))));
  EXPECT_OK(Ev({"case", "list"}));  // the file holds the same passphrase
}

TEST_F(CliTest, PassphraseFileTakesPrecedenceOverEnvironment) {
  Init();
  RunOptions env;
  env.env["EVAULT_PASSPHRASE"] = "a different, wrong passphrase";
  EXPECT_OK(Ev({"case", "list"}, env));
}

// No --passphrase-file, no EVAULT_PASSPHRASE, no controlling terminal (new session):
// it must fail promptly with one clear line instead of waiting for input.
TEST_F(CliTest, NoPassphraseAndNoTerminalFailsWithoutHanging) {
  Init();
  RunOptions opts;
  opts.new_session = true;
  opts.timeout = std::chrono::seconds(20);
  opts.stdin_data = std::string(kPassphrase) + "\n";  // stdin is not where a passphrase comes from
  auto r = EvRaw({"--vault", vault_.string(), "case", "list"}, opts);
  ASSERT_FALSE(r.timed_out) << "evault waited for a passphrase with no terminal";
  EXPECT_CLEAN_ERROR(r);
  EXPECT_THAT(r.err, HasSubstr("passphrase"));

  const fs::path fresh = Path("fresh-vault");
  auto init = EvRaw({"--vault", fresh.string(), "init", "--kdf-ops", "2", "--kdf-memory-mib", "64"}, opts);
  ASSERT_FALSE(init.timed_out);
  EXPECT_CLEAN_ERROR(init);
  EXPECT_THAT(init.err, HasSubstr("passphrase"));
  EXPECT_FALSE(fs::exists(fresh / "vault.header"));
}

TEST_F(CliTest, EmptyPassphraseFileIsRefused) {
  Init();
  WriteFile(Path("empty"), "");
  auto r = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("empty").string(), "case", "list"});
  EXPECT_CLEAN_ERROR(r);
}

TEST_F(CliTest, WrongPassphraseExitsThree) {
  Init();
  NewCase("Secret case");
  WriteFile(Path("wrong"), "correct horse battery stapler\n");
  auto r = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("wrong").string(), "case", "list"});
  EXPECT_CLEAN_ERROR(r, 3);
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("Secret case")));
}

TEST_F(CliTest, PasswdChangesThePassphrase) {
  Init();
  const std::string case_id = NewCase("Survives a passphrase change");
  const std::string record_id = AddRecord(case_id, SimpleRecord("Record", "Текст записи"));
  const std::string before = Ev({"record", "show", record_id}).out;

  const fs::path new_pass = Path("new-passphrase");
  WriteFile(new_pass, "a brand new passphrase, longer\n");
  auto passwd = Ev({"passwd", "--new-passphrase-file", new_pass.string(), "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  ASSERT_OK(passwd);

  auto old_fails = Ev({"case", "list"});
  EXPECT_CLEAN_ERROR(old_fails, 3);

  auto with_new = EvRaw({"--vault", vault_.string(), "--passphrase-file", new_pass.string(), "record", "show", record_id});
  ASSERT_OK(with_new);
  EXPECT_EQ(with_new.out, before);
  auto list = EvRaw({"--vault", vault_.string(), "--passphrase-file", new_pass.string(), "case", "list"});
  ASSERT_OK(list);
  EXPECT_EQ(FirstWord(Lines(list.out).at(0)), case_id);
}

TEST_F(CliTest, PasswdWithWrongOldPassphraseChangesNothing) {
  Init();
  WriteFile(Path("wrong"), "not the old passphrase\n");
  WriteFile(Path("new"), "a brand new passphrase\n");
  const std::string header = ReadFile(vault_ / "vault.header");
  auto r = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("wrong").string(), "passwd",
                  "--new-passphrase-file", Path("new").string(), "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  EXPECT_CLEAN_ERROR(r, 3);
  EXPECT_EQ(ReadFile(vault_ / "vault.header"), header);
  EXPECT_OK(Ev({"case", "list"}));
}

TEST_F(CliTest, PasswdRefusesShortNewPassphrase) {
  Init();
  WriteFile(Path("short"), "short\n");
  auto r = Ev({"passwd", "--new-passphrase-file", Path("short").string(), "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  EXPECT_CLEAN_ERROR(r);
  EXPECT_OK(Ev({"case", "list"}));  // the old passphrase still works
}

// The process turns off core dumps before it reads the passphrase: while evault waits
// on a FIFO passphrase file, its RLIMIT_CORE is already 0.
TEST_F(CliTest, CoreDumpsAreDisabledBeforeThePassphraseIsRead) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &limit), 0);
  if (limit.rlim_max == 0) GTEST_SKIP() << "the hard core limit is already 0 here";
  const rlimit saved = limit;
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &limit), 0);

  Init();
  const fs::path fifo = Path("passphrase.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

  std::string limits_seen;
  bool dumps_off = false;
  RunOptions opts;
  opts.timeout = std::chrono::seconds(20);
  opts.on_started = [&](pid_t pid) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && !dumps_off) {
      try {
        limits_seen = ReadFile(fmt::format("/proc/{}/limits", pid));
      } catch (const std::exception&) {
      }
      for (const auto& line : Lines(limits_seen)) {
        if (line.starts_with("Max core file size")) {
          std::istringstream words(line.substr(18));
          std::string soft, hard;
          words >> soft >> hard;
          dumps_off = soft == "0" && hard == "0";
        }
      }
      if (!dumps_off) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Let it go on: hand it the passphrase through the FIFO.
    // (Non-blocking open, retried: it fails with ENXIO until evault opens the reading end.)
    int fd = -1;
    while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(5)) {
      fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0 || errno != ENXIO) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (fd >= 0) {
      ::fcntl(fd, F_SETFL, 0);
      const std::string pass = std::string(kPassphrase) + "\n";
      (void)!::write(fd, pass.data(), pass.size());
      ::close(fd);
    }
  };
  auto r = EvRaw({"--vault", vault_.string(), "--passphrase-file", fifo.string(), "case", "list"}, opts);
  ::setrlimit(RLIMIT_CORE, &saved);
  EXPECT_TRUE(dumps_off) << "RLIMIT_CORE of the running evault:\n" << limits_seen;
  EXPECT_OK(r);
}

}  // namespace
}  // namespace evault::cli_test
