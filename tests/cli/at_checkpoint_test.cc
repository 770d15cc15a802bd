// The commands for the moment a device may be taken, through the real binary: the
// recovery key printed at init, `recover`, `panic`, the duress passphrase at an unlock,
// and unlock sessions in the kernel keyring (`unlock`, `lock`, expiry).
#include <keyutils.h>

#include <chrono>
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace evault::cli_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDuress[] = "duress passphrase for the checkpoint";

class AtCheckpointTest : public CliTest {
 protected:
  // The key printed by init, from its output.
  static std::string RecoveryKeyFrom(const std::string& init_output) {
    for (const auto& line : Lines(init_output)) {
      if (line.starts_with("recovery key: ")) return line.substr(14);
    }
    return "";
  }

  // Runs evault on the vault with no passphrase source at all: only a session can open it.
  RunResult EvNoPassphrase(const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"--vault", vault_.string()};
    full.insert(full.end(), args.begin(), args.end());
    RunOptions options;
    options.new_session = true;  // no terminal to prompt on (the keyring is not the tty session)
    return EvRaw(full, options);
  }
};

TEST_F(AtCheckpointTest, InitPrintsARecoveryKeyThatSetsANewPassphrase) {
  auto init = Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64"});
  ASSERT_OK(init);
  const std::string key = RecoveryKeyFrom(init.out);
  ASSERT_EQ(key.size(), 69u) << init.out;
  const std::string case_id = NewCase("Trial of a lawyer");
  WriteFile(Path("recovery"), key + "\n");
  WriteFile(Path("new"), "the new passphrase\n");

  // A typo is caught and named, and the key is never echoed.
  std::string typo = key;
  typo[5] = typo[5] == 'A' ? 'B' : 'A';
  WriteFile(Path("typo"), typo);
  auto bad = EvRaw({"--vault", vault_.string(), "recover", "--recovery-key-file", Path("typo").string(),
                    "--new-passphrase-file", Path("new").string()});
  EXPECT_CLEAN_ERROR(bad, 1);
  EXPECT_THAT(bad.err, HasSubstr("typo"));
  EXPECT_THAT(bad.err, Not(HasSubstr(typo.substr(0, 14))));

  auto recovered = EvRaw({"--vault", vault_.string(), "recover", "--recovery-key-file", Path("recovery").string(),
                          "--new-passphrase-file", Path("new").string()});
  ASSERT_OK(recovered);
  EXPECT_CLEAN_ERROR(Ev({"case", "list"}), 3);  // the old passphrase no longer opens it
  auto listed = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("new").string(), "case", "list"});
  ASSERT_OK(listed);
  EXPECT_THAT(listed.out, HasSubstr(case_id));

  // `recovery-key new` replaces it: the printed key stops working.
  auto renewed = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("new").string(), "recovery-key", "new"});
  ASSERT_OK(renewed);
  const std::string second = RecoveryKeyFrom(renewed.out);
  EXPECT_EQ(second.size(), 69u);
  EXPECT_NE(second, key);
  EXPECT_CLEAN_ERROR(EvRaw({"--vault", vault_.string(), "recover", "--recovery-key-file", Path("recovery").string(),
                            "--new-passphrase-file", Path("new").string()}),
                     3);
}

TEST_F(AtCheckpointTest, InitWithoutRecoveryKeyPrintsNone) {
  auto init = Ev({"init", "--kdf-ops", "2", "--kdf-memory-mib", "64", "--no-recovery-key"});
  ASSERT_OK(init);
  EXPECT_EQ(RecoveryKeyFrom(init.out), "");
  EXPECT_THAT(init.out, Not(HasSubstr("recovery")));
}

TEST_F(AtCheckpointTest, PanicNeedsYesThenDestroysFast) {
  Init();
  const std::string case_id = NewCase("Surveillance of a monitor");
  const std::string record_id = AddRecord(case_id, SimpleRecord("Phone seized at the border"));
  // A large original, so that deleting is not free: panic must still be quick.
  {
    std::string big(96u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i * 7919 >> 12);
    WriteFile(Path("video.bin"), big);
  }
  Attach(record_id, Path("video.bin"));
  fs::remove(Path("video.bin"));

  auto refused = Ev({"panic"});
  EXPECT_CLEAN_ERROR(refused, 1);
  EXPECT_THAT(refused.err, HasSubstr("--yes"));
  ASSERT_OK(Ev({"case", "list"}));  // nothing happened

  const auto started = std::chrono::steady_clock::now();
  auto panic = EvRaw({"--vault", vault_.string(), "panic", "--yes"});  // no passphrase needed
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  ASSERT_OK(panic);
  std::printf("panic on a %d MiB vault: %lld ms (process included)\n", 96, static_cast<long long>(took.count()));
  EXPECT_LT(took.count(), 1000);
  EXPECT_FALSE(fs::exists(vault_));
  auto after = Ev({"case", "list"});
  EXPECT_CLEAN_ERROR(after, 1);
  EXPECT_THAT(after.err, HasSubstr("not an evault vault"));
}

TEST_F(AtCheckpointTest, PanicRefusesADirectoryThatIsNotAVault) {
  fs::create_directories(Path("papers"));
  WriteFile(Path("papers") / "letter.txt", "keep me");
  auto r = EvRaw({"--vault", Path("papers").string(), "panic", "--yes"});
  EXPECT_CLEAN_ERROR(r, 1);
  EXPECT_THAT(r.err, HasSubstr("nothing was destroyed"));
  EXPECT_EQ(ReadFile(Path("papers") / "letter.txt"), "keep me");
  // Nor a project whose own folder happens to be called db/.
  fs::create_directories(Path("project") / "db" / "migrate");
  WriteFile(Path("project") / "db" / "migrate" / "001.sql", "create table cases;");
  EXPECT_CLEAN_ERROR(EvRaw({"--vault", Path("project").string(), "panic", "--yes"}), 1);
  EXPECT_EQ(ReadFile(Path("project") / "db" / "migrate" / "001.sql"), "create table cases;");
}

TEST_F(AtCheckpointTest, DuressPassphraseAtUnlockLooksOrdinaryAndDestroysTheArchive) {
  Init();
  const std::string case_id = NewCase("Detention at a protest");
  AddRecord(case_id, SimpleRecord("Arrest", "names of witnesses"));
  WriteFile(Path("duress"), std::string(kDuress) + "\n");
  auto set = Ev({"duress", "set", "--duress-passphrase-file", Path("duress").string()});
  ASSERT_OK(set);
  // The duress passphrase must differ from the passphrase.
  EXPECT_CLEAN_ERROR(Ev({"duress", "set", "--duress-passphrase-file", pass_file_.string()}), 1);

  // At a checkpoint: the monitor is made to unlock and types the duress passphrase.
  RunOptions forced;
  forced.env["EVAULT_PASSPHRASE"] = kDuress;
  auto listed = EvRaw({"--vault", vault_.string(), "case", "list"}, forced);
  ASSERT_OK(listed);
  EXPECT_EQ(listed.out, "");  // an empty vault, exactly as a new one lists
  EXPECT_EQ(listed.err, "");  // and not a word about what happened
  auto records = EvRaw({"--vault", vault_.string(), "search", "witnesses"}, forced);
  ASSERT_OK(records);
  EXPECT_EQ(records.out, "");
  // The vault works as a vault: things can be added and are still there next time.
  auto decoy_case = EvRaw({"--vault", vault_.string(), "case", "new", "--title", "Shopping list"}, forced);
  ASSERT_OK(decoy_case);
  auto again = EvRaw({"--vault", vault_.string(), "case", "list"}, forced);
  ASSERT_OK(again);
  EXPECT_THAT(again.out, HasSubstr("Shopping list"));
  // The real passphrase opens nothing any more.
  EXPECT_CLEAN_ERROR(Ev({"case", "list"}), 3);
}

// Unlock sessions live in the kernel keyring of the test's own, fresh session keyring,
// which the evault processes it starts inherit.
class UnlockSessionTest : public AtCheckpointTest {
 protected:
  void SetUp() override {
    AtCheckpointTest::SetUp();
    if (keyctl_join_session_keyring(nullptr) < 0) GTEST_SKIP() << "no kernel keyring here";
  }

  // The keys in this session's keyring.
  static long SessionKeys() {
    key_serial_t ids[16];
    const long bytes = keyctl_read(KEY_SPEC_SESSION_KEYRING, reinterpret_cast<char*>(ids), sizeof ids);
    return bytes < 0 ? -1 : bytes / static_cast<long>(sizeof(key_serial_t));
  }
};

TEST_F(UnlockSessionTest, UnlockThenCommandsNeedNoPassphraseUntilLock) {
  Init();
  const std::string case_id = NewCase("Harassment of a defender");
  // Without a session and without a passphrase source, a command cannot open the vault.
  EXPECT_CLEAN_ERROR(EvNoPassphrase({"case", "list"}));
  ASSERT_EQ(SessionKeys(), 0);

  auto unlocked = Ev({"unlock", "--for", "5m"});
  ASSERT_OK(unlocked);
  EXPECT_THAT(unlocked.out, HasSubstr("unlocked for 5m"));
  EXPECT_EQ(SessionKeys(), 1);
  auto listed = EvNoPassphrase({"case", "list"});
  ASSERT_OK(listed);
  EXPECT_THAT(listed.out, HasSubstr(case_id));
  ASSERT_OK(EvNoPassphrase({"record", "add", "--case", case_id, "--json", (DemoDir() / "01-batyrbekov-libel" / "01-record.json").string()}));

  // The key is nowhere on disk: not in the vault directory, not in the test's files.
  key_serial_t id = 0;
  ASSERT_EQ(keyctl_read(KEY_SPEC_SESSION_KEYRING, reinterpret_cast<char*>(&id), sizeof id), 4);
  std::string key(64, '\0');
  const long size = keyctl_read(id, key.data(), key.size());
  ASSERT_EQ(size, 32);
  key.resize(32);
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file()) {
      EXPECT_EQ(ReadFile(entry.path()).find(key), std::string::npos) << entry.path();
    }
  }

  auto locked = EvNoPassphrase({"lock"});
  ASSERT_OK(locked);
  EXPECT_THAT(locked.out, HasSubstr("locked"));
  EXPECT_EQ(SessionKeys(), 0);
  EXPECT_CLEAN_ERROR(EvNoPassphrase({"case", "list"}));
  auto again = EvNoPassphrase({"lock"});
  ASSERT_OK(again);
  EXPECT_THAT(again.out, HasSubstr("no unlock session"));
}

TEST_F(UnlockSessionTest, SessionEndsByItselfAndWithPanic) {
  Init();
  ASSERT_OK(Ev({"unlock", "--for", "2s"}));
  ASSERT_OK(EvNoPassphrase({"case", "list"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  EXPECT_CLEAN_ERROR(EvNoPassphrase({"case", "list"}));  // the kernel dropped it

  ASSERT_OK(Ev({"unlock"}));
  EXPECT_EQ(SessionKeys(), 1);
  ASSERT_OK(EvNoPassphrase({"panic", "--yes"}));
  EXPECT_EQ(SessionKeys(), 0);
}

TEST_F(UnlockSessionTest, BadLengthsAreRefused) {
  Init();
  for (const char* length : {"0", "25h", "5x", "m", "-3m", "99999999999999999999s"}) {
    auto r = Ev({"unlock", "--for", length});
    EXPECT_CLEAN_ERROR(r, 1);
    EXPECT_THAT(r.err, HasSubstr("session length")) << length;
  }
  EXPECT_EQ(SessionKeys(), 0);
}

TEST_F(UnlockSessionTest, AnotherLoginSessionCannotUseIt) {
  Init();
  ASSERT_OK(Ev({"unlock", "--for", "5m"}));
  ASSERT_OK(EvNoPassphrase({"case", "list"}));
  // A process of the same user in another session keyring: nothing to find.
  ASSERT_GE(keyctl_join_session_keyring(nullptr), 0);
  EXPECT_CLEAN_ERROR(EvNoPassphrase({"case", "list"}));
}

TEST_F(UnlockSessionTest, AGivenPassphraseOutranksTheSessionAndCredentialsNeedIt) {
  Init();
  NewCase("Case the examiner must not see");
  WriteFile(Path("duress"), std::string(kDuress) + "\n");
  ASSERT_OK(Ev({"duress", "set", "--duress-passphrase-file", Path("duress").string()}));
  ASSERT_OK(Ev({"unlock", "--for", "5m"}));
  // Changing credentials on an unlocked laptop needs the passphrase itself.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"passwd"}, {"recovery-key", "new"}, {"duress", "clear"}}) {
    EXPECT_CLEAN_ERROR(EvNoPassphrase(args)) << args[0];
  }
  // Made to type a passphrase while a session is open: the duress passphrase still counts.
  RunOptions forced;
  forced.env["EVAULT_PASSPHRASE"] = kDuress;
  auto listed = EvRaw({"--vault", vault_.string(), "case", "list"}, forced);
  ASSERT_OK(listed);
  EXPECT_EQ(listed.out, "");
  // The session died with the real keys: nothing opens without a passphrase now.
  EXPECT_CLEAN_ERROR(EvNoPassphrase({"case", "list"}));
}

TEST_F(UnlockSessionTest, DuressPassphraseAtUnlockStartsADecoySession) {
  Init();
  NewCase("Case the examiner must not see");
  WriteFile(Path("duress"), std::string(kDuress) + "\n");
  ASSERT_OK(Ev({"duress", "set", "--duress-passphrase-file", Path("duress").string()}));
  auto unlocked = EvRaw({"--vault", vault_.string(), "--passphrase-file", Path("duress").string(), "unlock"});
  ASSERT_OK(unlocked);
  EXPECT_THAT(unlocked.out, HasSubstr("unlocked for 15m"));
  auto listed = EvNoPassphrase({"case", "list"});
  ASSERT_OK(listed);
  EXPECT_EQ(listed.out, "");
}

}  // namespace
}  // namespace evault::cli_test
