// The header's three key slots and what they are for when a device is taken: the
// recovery key, the duress passphrase, panic (crypto-shredding) and unlock-session keys.
// "Forensic" copies are hard links taken before the act: they see whatever was left in
// the blocks the files occupied, as a disk image would on a filesystem that writes in place.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "evault_format.pb.h"
#include "tests/vault/test_util.h"
#include "vault/header.h"
#include "vault/recovery_key.h"
#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using testing::FastKdf;
using testing::kPassphrase;
using testing::Passphrase;
using testing::ScopedTempDir;

constexpr std::string_view kDuress = "the duress passphrase";

// Hard links to every file of a vault: what an examiner could recover after deletion.
class ForensicCopy {
 public:
  ForensicCopy(const fs::path& vault, const fs::path& where) : where_(where) {
    for (const auto& entry : fs::recursive_directory_iterator(vault)) {
      const fs::path target = where / fs::relative(entry.path(), vault);
      if (entry.is_directory()) {
        fs::create_directories(target);
      } else {
        fs::create_directories(target.parent_path());
        fs::create_hard_link(entry.path(), target);
      }
    }
  }
  const fs::path& path() const { return where_; }

 private:
  fs::path where_;
};

class KeySlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault_dir_ = dir_.path() / "vault";
    auto v = testing::CreateAndOpen(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK_AND_ASSIGN(CaseInfo c, v->CreateCase("Detention of a journalist", {}));
    case_id_ = c.id;
    ASSERT_OK(v->AddRecord(case_id_, testing::SimpleRecord("Court hearing", "held behind closed doors")));
  }

  std::size_t CaseCount(std::string_view passphrase) {
    auto v = testing::OpenOrNull(vault_dir_, passphrase);
    if (!v) return SIZE_MAX;
    auto cases = v->ListCases();
    EXPECT_TRUE(cases.has_value());
    return cases ? cases->size() : SIZE_MAX;
  }

  ScopedTempDir dir_;
  fs::path vault_dir_;
  std::string case_id_;
};

TEST(RecoveryKeyTest, FormatsAndParsesTolerantlyButCatchesTypos) {
  const RecoveryKey key = RecoveryKey::Generate();
  const crypto::SecretBytes text = key.Format();
  const std::string shown(text.view());
  ASSERT_EQ(shown.size(), 56u + 13u);  // 14 groups of 4, 13 dashes
  for (std::size_t i = 4; i < shown.size(); i += 5) EXPECT_EQ(shown[i], '-');
  ASSERT_OK_AND_ASSIGN(RecoveryKey back, RecoveryKey::Parse(shown));
  EXPECT_TRUE(back.key().bytes().Equals(key.key().bytes()));

  // What people do copying from paper: lower case, spaces, O for 0, l or I for 1.
  std::string sloppy;
  for (char c : shown) {
    if (c == '-') {
      sloppy += ' ';
      continue;
    }
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == '0') lower = 'O';
    if (c == '1') lower = 'l';
    sloppy += lower;
  }
  ASSERT_OK_AND_ASSIGN(RecoveryKey relaxed, RecoveryKey::Parse(sloppy));
  EXPECT_TRUE(relaxed.key().bytes().Equals(key.key().bytes()));

  // Every single-character typo is caught by the checksum (or is not a character).
  int caught = 0;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] == '-') continue;
    std::string typo = shown;
    typo[i] = shown[i] == 'A' ? 'B' : 'A';
    auto parsed = RecoveryKey::Parse(typo);
    EXPECT_FALSE(parsed.has_value()) << "typo at " << i << " accepted";
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(parsed.error().message.find(typo), std::string::npos);  // never echoes the key
      ++caught;
    }
  }
  EXPECT_EQ(caught, 56);
  EXPECT_ERROR(RecoveryKey::Parse(shown.substr(0, shown.size() - 1)), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(RecoveryKey::Parse(shown + "A"), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(RecoveryKey::Parse(""), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(RecoveryKey::Parse("UUUU"), ErrorCode::kInvalidArgument);
}

TEST_F(KeySlotsTest, RecoveryKeySetsANewPassphraseAndKeepsWorking) {
  crypto::SecretBytes recovery;
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK_AND_ASSIGN(recovery, v->NewRecoveryKey());
  }
  ASSERT_OK(Vault::Recover(vault_dir_, recovery, Passphrase("a new passphrase")));
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount("a new passphrase"), 1u);
  // The recovery key is not used up.
  ASSERT_OK(Vault::Recover(vault_dir_, recovery, Passphrase("a third passphrase")));
  EXPECT_EQ(CaseCount("a third passphrase"), 1u);
  // A key of the right shape but not this vault's, and a key with a typo.
  EXPECT_ERROR(Vault::Recover(vault_dir_, RecoveryKey::Generate().Format(), Passphrase("x")), ErrorCode::kWrongPassphrase);
  std::string typo(recovery.view());
  typo[0] = typo[0] == 'A' ? 'B' : 'A';
  EXPECT_ERROR(Vault::Recover(vault_dir_, Passphrase(typo), Passphrase("x")), ErrorCode::kInvalidArgument);
  // A new recovery key replaces the old one.
  {
    auto v = testing::OpenOrNull(vault_dir_, "a third passphrase");
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->NewRecoveryKey());
  }
  EXPECT_ERROR(Vault::Recover(vault_dir_, recovery, Passphrase("x")), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount("a third passphrase"), 1u);
}

// Recover rewrites the header like any credential change, so it must not race an open
// vault (whose next header write would silently undo the recovery).
TEST_F(KeySlotsTest, RecoverWaitsForTheVaultToBeClosed) {
  crypto::SecretBytes recovery;
  auto open = testing::OpenOrNull(vault_dir_);
  ASSERT_NE(open, nullptr);
  ASSERT_OK_AND_ASSIGN(recovery, open->NewRecoveryKey());
  auto refused = Vault::Recover(vault_dir_, recovery, Passphrase("a new passphrase"));
  ASSERT_FALSE(refused.has_value()) << "recovered under an open vault";
  EXPECT_EQ(refused.error().code, ErrorCode::kIo);
  EXPECT_NE(refused.error().message.find("in use"), std::string::npos) << refused.error().message;
  ASSERT_OK(open->StartSession());  // the open vault writes the header: still its passphrase
  open.reset();
  EXPECT_EQ(CaseCount(kPassphrase), 1u);
  ASSERT_OK(Vault::Recover(vault_dir_, recovery, Passphrase("a new passphrase")));
  EXPECT_EQ(CaseCount("a new passphrase"), 1u);
}

TEST_F(KeySlotsTest, RecoverySlotSurvivesNewKdfParametersButNotTampering) {
  crypto::SecretBytes recovery;
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK_AND_ASSIGN(recovery, v->NewRecoveryKey());
    ASSERT_OK(v->ChangePassphrase(Passphrase("stronger now"), crypto::PassphraseKdfParams::New(3, 64ull << 20)));
  }
  ASSERT_OK(Vault::Recover(vault_dir_, recovery, Passphrase("recovered")));
  EXPECT_EQ(CaseCount("recovered"), 1u);

  ASSERT_OK_AND_ASSIGN(VaultHeader h, ReadHeader(vault_dir_));
  h.slots[kRecoverySlot][30] ^= 0x04;
  ASSERT_OK(WriteHeader(vault_dir_, h));
  EXPECT_ERROR(Vault::Recover(vault_dir_, recovery, Passphrase("y")), ErrorCode::kWrongPassphrase);
  // Another vault id: the slot is bound to it.
  h.slots[kRecoverySlot][30] ^= 0x04;
  h.vault_id[0] ^= 0x01;
  ASSERT_OK(WriteHeader(vault_dir_, h));
  EXPECT_ERROR(Vault::Recover(vault_dir_, recovery, Passphrase("y")), ErrorCode::kWrongPassphrase);
}

TEST_F(KeySlotsTest, SlotsDoNotShowWhichAreInUse) {
  ASSERT_OK_AND_ASSIGN(VaultHeader bare, ReadHeader(vault_dir_));
  const auto bare_size = fs::file_size(vault_dir_ / kHeaderFileName);
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->NewRecoveryKey());
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  }
  ASSERT_OK_AND_ASSIGN(VaultHeader full, ReadHeader(vault_dir_));
  EXPECT_EQ(fs::file_size(vault_dir_ / kHeaderFileName), bare_size);
  for (std::size_t i = 0; i < kKeySlotCount; ++i) {
    EXPECT_EQ(bare.slots[i].size(), kWrappedSlotBytes);
    EXPECT_EQ(full.slots[i].size(), kWrappedSlotBytes);
  }
  // The unused slots of the bare header were random filler, not a recognisable pattern.
  EXPECT_NE(bare.slots[kRecoverySlot], bare.slots[kDuressSlot]);
  EXPECT_NE(bare.slots[kRecoverySlot], crypto::Bytes(kWrappedSlotBytes, 0));
  // The passphrase does not open the duress or recovery slots.
  ASSERT_OK_AND_ASSIGN(crypto::SymmetricKey kek, PassphraseKek(full, Passphrase(kPassphrase)));
  EXPECT_FALSE(OpenSlot(full, kDuressSlot, kek).has_value());
  EXPECT_FALSE(OpenSlot(full, kRecoverySlot, kek).has_value());
}

TEST_F(KeySlotsTest, DuressPassphraseDestroysTheRealKeysAndOpensAnEmptyVault) {
  std::string device_id, vault_id;
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    device_id = v->device_id();
    vault_id = v->vault_id();
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  }
  const std::string header_before = testing::ReadFileOrEmpty(vault_dir_ / kHeaderFileName);
  ForensicCopy copy(vault_dir_, dir_.path() / "forensic");

  const auto started = std::chrono::steady_clock::now();
  auto decoy = Vault::Open(vault_dir_, Passphrase(kDuress));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(decoy.has_value()) << decoy.error().message;
  std::printf("duress unlock took %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  // An ordinary-looking, empty vault: same vault id, no cases, its own device.
  EXPECT_EQ((*decoy)->vault_id(), vault_id);
  EXPECT_NE((*decoy)->device_id(), device_id);
  ASSERT_OK_AND_ASSIGN(auto cases, (*decoy)->ListCases());
  EXPECT_TRUE(cases.empty());
  ASSERT_OK_AND_ASSIGN(auto records, (*decoy)->ListRecords(std::nullopt));
  EXPECT_TRUE(records.empty());
  ASSERT_OK((*decoy)->CreateCase("A decoy case", {}));
  decoy->reset();

  // The real passphrase opens nothing now, and the duress passphrase opens the decoy
  // (with what was put in it), not a fresh one each time.
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount(kDuress), 1u);
  // The header looks like any other header: same size, three slots.
  EXPECT_EQ(testing::ReadFileOrEmpty(vault_dir_ / kHeaderFileName).size(), header_before.size());

  // What an examiner recovers: the old header's blocks were overwritten, so even with
  // the real passphrase and every old database file nothing opens.
  const std::string recovered = testing::ReadFileOrEmpty(copy.path() / kHeaderFileName);
  EXPECT_EQ(recovered.size(), header_before.size());
  EXPECT_NE(recovered, header_before);
  EXPECT_FALSE(ReadHeader(copy.path()).has_value());
  fs::path rebuilt = dir_.path() / "rebuilt";
  fs::create_directories(rebuilt);
  fs::copy(copy.path() / kDatabaseDirName, rebuilt / kDatabaseDirName, fs::copy_options::recursive);
  testing::WriteFile(rebuilt / kHeaderFileName, std::string_view(recovered));
  EXPECT_FALSE(Vault::Open(rebuilt, Passphrase(kPassphrase)).has_value());
  // Even the pre-duress header (which the examiner does not have) would not help with
  // the decoy's database.
  testing::WriteFile(rebuilt / kHeaderFileName, std::string_view(header_before));
  fs::remove_all(rebuilt / kDatabaseDirName);
  fs::copy(vault_dir_ / kDatabaseDirName, rebuilt / kDatabaseDirName, fs::copy_options::recursive);
  EXPECT_FALSE(Vault::Open(rebuilt, Passphrase(kPassphrase)).has_value());
}

std::set<std::string> Names(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// The decoy is built beside the vault and exchanged in whole (one renameat2); nothing of
// the swap is left to see, beside the vault or in it.
TEST_F(KeySlotsTest, DuressSwapsTheDecoyInAndLeavesNothingBeside) {
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  }
  const auto beside = Names(dir_.path());
  const auto inside = Names(vault_dir_);
  ASSERT_OK(Vault::Open(vault_dir_, Passphrase(kDuress)));
  EXPECT_EQ(Names(dir_.path()), beside);
  EXPECT_EQ(Names(vault_dir_), inside);
  EXPECT_EQ(fs::status(vault_dir_).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount(kDuress), 0u);
}

// A staging directory left by an interrupted duress unlock is removed at the next
// unlock; a directory of that name that is not a vault's is never touched, and duress
// then builds the decoy in place.
TEST_F(KeySlotsTest, LeftoverStagingIsRemovedButNeverSomeoneElsesDirectory) {
  const fs::path staging = dir_.path() / ".vault.evault-tmp";
  fs::create_directories(staging / kDatabaseDirName);
  testing::WriteFile(staging / kDatabaseDirName / "000004.log", std::string_view("keyless ciphertext"));
  EXPECT_EQ(CaseCount(kPassphrase), 1u);
  EXPECT_FALSE(fs::exists(staging)) << "a leftover staging directory survived an unlock";

  fs::create_directories(staging);
  testing::WriteFile(staging / "notes.txt", std::string_view("someone's own file"));
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  }
  EXPECT_TRUE(fs::exists(staging / "notes.txt"));
  ASSERT_OK(Vault::Open(vault_dir_, Passphrase(kDuress)));
  EXPECT_EQ(testing::ReadFileOrEmpty(staging / "notes.txt"), "someone's own file");
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount(kDuress), 0u);
}

// Where the vault directory cannot be exchanged whole (reached through a symlink, or
// holding files that are not the vault's), the decoy is made in place: the symlink stays
// a symlink and the other files stay.
TEST_F(KeySlotsTest, DuressThroughASymlinkOrBesideOtherFilesMakesTheDecoyInPlace) {
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  }
  const fs::path link = dir_.path() / "link";
  fs::create_directory_symlink(vault_dir_, link);
  ASSERT_OK(Vault::Open(link, Passphrase(kDuress)));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount(kDuress), 0u);

  // Again, with the decoy's own duress passphrase and a file of the user's in the vault.
  {
    auto v = testing::OpenOrNull(vault_dir_, kDuress);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->SetDuressPassphrase(Passphrase("a second duress passphrase")));
  }
  testing::WriteFile(vault_dir_ / "notes.txt", std::string_view("kept"));
  ASSERT_OK(Vault::Open(vault_dir_, Passphrase("a second duress passphrase")));
  EXPECT_EQ(testing::ReadFileOrEmpty(vault_dir_ / "notes.txt"), "kept");
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kDuress)), ErrorCode::kWrongPassphrase);
}

TEST_F(KeySlotsTest, DuressPassphraseRulesAndPassphraseChanges) {
  auto v = testing::OpenOrNull(vault_dir_);
  ASSERT_NE(v, nullptr);
  EXPECT_ERROR(v->SetDuressPassphrase(Passphrase(kPassphrase)), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(v->SetDuressPassphrase(Passphrase("")), ErrorCode::kInvalidArgument);
  ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
  // The passphrase cannot become the duress passphrase.
  EXPECT_ERROR(v->ChangePassphrase(Passphrase(kDuress)), ErrorCode::kInvalidArgument);
  // A change with the same cost keeps the duress passphrase armed...
  ASSERT_OK(v->ChangePassphrase(Passphrase("second passphrase"), FastKdf()));
  ASSERT_OK_AND_ASSIGN(VaultHeader h, ReadHeader(vault_dir_));
  ASSERT_OK_AND_ASSIGN(UnlockedRoot duress, UnlockWithPassphrase(h, Passphrase(kDuress)));
  EXPECT_EQ(duress.slot, kDuressSlot);
  // ...a change of cost clears it (its slot was bound to the old cost).
  ASSERT_OK(v->ChangePassphrase(Passphrase("third passphrase"), crypto::PassphraseKdfParams::New(3, 64ull << 20)));
  v.reset();
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kDuress)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount("third passphrase"), 1u);
  // Cleared explicitly.
  {
    auto again = testing::OpenOrNull(vault_dir_, "third passphrase");
    ASSERT_NE(again, nullptr);
    ASSERT_OK(again->SetDuressPassphrase(Passphrase(kDuress)));
    ASSERT_OK(again->ClearDuressPassphrase());
  }
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase(kDuress)), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount("third passphrase"), 1u);
}

TEST_F(KeySlotsTest, PanicShredsTheKeysThenDeletesTheVault) {
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->NewRecoveryKey());
  }
  const std::string header_before = testing::ReadFileOrEmpty(vault_dir_ / kHeaderFileName);
  ForensicCopy copy(vault_dir_, dir_.path() / "forensic");
  ASSERT_OK(Vault::Panic(vault_dir_));
  EXPECT_FALSE(fs::exists(vault_dir_));

  // Every database file survives in the examiner's copy, but the header's blocks hold
  // random bytes: with the passphrase and everything else, nothing opens.
  const std::string recovered = testing::ReadFileOrEmpty(copy.path() / kHeaderFileName);
  EXPECT_EQ(recovered.size(), header_before.size());
  EXPECT_NE(recovered, header_before);
  EXPECT_EQ(recovered.find("EVAULT"), std::string::npos);
  EXPECT_ERROR(Vault::Open(copy.path(), Passphrase(kPassphrase)), ErrorCode::kNotAVault);
  // Re-adding the magic and structure does not bring the keys back.
  ASSERT_OK_AND_ASSIGN(VaultHeader shape, ParseHeader(header_before));
  for (auto& slot : shape.slots) {
    for (std::size_t i = 0; i < slot.size(); ++i) slot[i] = static_cast<std::uint8_t>(recovered[i % recovered.size()]);
  }
  ASSERT_OK(WriteHeader(copy.path(), shape));
  EXPECT_ERROR(Vault::Open(copy.path(), Passphrase(kPassphrase)), ErrorCode::kWrongPassphrase);
}

TEST_F(KeySlotsTest, PanicTouchesOnlyAVaultsOwnFiles) {
  EXPECT_ERROR(Vault::Panic(dir_.path() / "nowhere"), ErrorCode::kNotAVault);
  const fs::path not_a_vault = dir_.path() / "documents";
  fs::create_directories(not_a_vault);
  testing::WriteFile(not_a_vault / "letter.txt", std::string_view("keep me"));
  EXPECT_ERROR(Vault::Panic(not_a_vault), ErrorCode::kNotAVault);
  EXPECT_EQ(testing::ReadFileOrEmpty(not_a_vault / "letter.txt"), "keep me");
  // A project with a db/ folder of its own is not a vault either.
  const fs::path project = dir_.path() / "project";
  fs::create_directories(project / "db" / "migrate");
  testing::WriteFile(project / "db" / "migrate" / "001.sql", std::string_view("create table t;"));
  EXPECT_ERROR(Vault::Panic(project), ErrorCode::kNotAVault);
  EXPECT_EQ(testing::ReadFileOrEmpty(project / "db" / "migrate" / "001.sql"), "create table t;");
  // Things planted where the header's temporary file goes are not followed or opened.
  ::mkfifo((vault_dir_ / "vault.header.new").c_str(), 0600);
  // A vault directory with someone's file in it: the vault goes, the file stays.
  testing::WriteFile(vault_dir_ / "notes.txt", std::string_view("mine"));
  ASSERT_OK(Vault::Panic(vault_dir_));
  EXPECT_FALSE(fs::exists(vault_dir_ / kHeaderFileName));
  EXPECT_FALSE(fs::exists(vault_dir_ / kDatabaseDirName));
  EXPECT_EQ(testing::ReadFileOrEmpty(vault_dir_ / "notes.txt"), "mine");
  // A second panic (say, a retry after an interruption) finds nothing and says so.
  EXPECT_ERROR(Vault::Panic(vault_dir_), ErrorCode::kNotAVault);
}

TEST_F(KeySlotsTest, ReplacedHeaderLeavesNoOldKeyBehind) {
  const std::string header_before = testing::ReadFileOrEmpty(vault_dir_ / kHeaderFileName);
  // An open descriptor sees the replaced file's blocks after the rename, as a disk image
  // would see freed blocks.
  const int old_fd = ::open((vault_dir_ / kHeaderFileName).c_str(), O_RDONLY);
  ASSERT_GE(old_fd, 0);
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->ChangePassphrase(Passphrase("after a leak")));
  }
  std::string old_blocks(header_before.size(), '\0');
  ASSERT_EQ(::pread(old_fd, old_blocks.data(), old_blocks.size(), 0), static_cast<ssize_t>(old_blocks.size()));
  ::close(old_fd);
  EXPECT_NE(old_blocks, header_before);
  EXPECT_EQ(old_blocks.find("EVAULT"), std::string::npos);
  EXPECT_EQ(CaseCount("after a leak"), 1u);

  // A hard-linked copy is someone's backup, not freed blocks: it is left alone.
  const fs::path backup = dir_.path() / "backup.header";
  fs::create_hard_link(vault_dir_ / kHeaderFileName, backup);
  const std::string linked_before = testing::ReadFileOrEmpty(backup);
  {
    auto v = testing::OpenOrNull(vault_dir_, "after a leak");
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->ChangePassphrase(Passphrase("once more")));
  }
  EXPECT_EQ(testing::ReadFileOrEmpty(backup), linked_before);
}

TEST_F(KeySlotsTest, SessionKeyOpensTheVaultUntilTheSessionEnds) {
  // Each session is started from a vault opened with the passphrase, then closed (one
  // process at a time holds the database).
  const auto start_session = [&](std::string_view passphrase) {
    auto v = testing::OpenOrNull(vault_dir_, passphrase);
    EXPECT_NE(v, nullptr);
    auto key = v ? v->StartSession() : Result<crypto::SecretBytes>(Fail(ErrorCode::kIo, "not open"));
    EXPECT_TRUE(key.has_value());
    return key ? std::move(*key) : crypto::SecretBytes();
  };
  crypto::SecretBytes first = start_session(kPassphrase);
  {
    ASSERT_OK_AND_ASSIGN(auto opened, Vault::OpenWithSessionKey(vault_dir_, first));
    ASSERT_OK_AND_ASSIGN(auto cases, opened->ListCases());
    EXPECT_EQ(cases.size(), 1u);
  }
  // A new session replaces the old: the first key opens nothing.
  crypto::SecretBytes second = start_session(kPassphrase);
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, first), ErrorCode::kWrongPassphrase);
  EXPECT_OK(Vault::OpenWithSessionKey(vault_dir_, second));
  // Not a key, another vault's session, and after EndSessions: nothing.
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, Passphrase("short")), ErrorCode::kWrongPassphrase);
  {
    auto other = testing::CreateAndOpen(dir_.path() / "other");
    ASSERT_NE(other, nullptr);
    ASSERT_OK_AND_ASSIGN(crypto::SecretBytes foreign, other->StartSession());
    EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, foreign), ErrorCode::kWrongPassphrase);
  }
  ASSERT_OK(Vault::EndSessions(vault_dir_));
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, second), ErrorCode::kWrongPassphrase);
  // A new passphrase ends a session too.
  crypto::SecretBytes third = start_session(kPassphrase);
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->ChangePassphrase(Passphrase("changed after a leak")));
  }
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, third), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount("changed after a leak"), 1u);
}

TEST_F(KeySlotsTest, DuressAndPanicEndEverySession) {
  crypto::SecretBytes key;
  {
    auto v = testing::OpenOrNull(vault_dir_);
    ASSERT_NE(v, nullptr);
    ASSERT_OK(v->SetDuressPassphrase(Passphrase(kDuress)));
    ASSERT_OK_AND_ASSIGN(key, v->StartSession());
  }
  ASSERT_OK(Vault::Open(vault_dir_, Passphrase(kDuress)));
  // A copy of the session key kept anywhere (another keyring, an examiner's memory
  // dump) opens neither the decoy nor the old database.
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, key), ErrorCode::kWrongPassphrase);
  {
    auto decoy = testing::OpenOrNull(vault_dir_, kDuress);
    ASSERT_NE(decoy, nullptr);
    ASSERT_OK_AND_ASSIGN(key, decoy->StartSession());
  }
  ASSERT_OK(Vault::Panic(vault_dir_));
  EXPECT_ERROR(Vault::OpenWithSessionKey(vault_dir_, key), ErrorCode::kNotAVault);
}

// A vault made before recovery keys (one PASSPHRASE slot, v1 associated data) opens,
// and its header is rewritten with three slots.
TEST_F(KeySlotsTest, OneSlotHeaderIsUpgradedAtOpen) {
  ASSERT_OK_AND_ASSIGN(VaultHeader h, ReadHeader(vault_dir_));
  ASSERT_OK_AND_ASSIGN(UnlockedRoot unlocked, UnlockWithPassphrase(h, Passphrase(kPassphrase)));
  crypto::Bytes v1_context;
  crypto::AppendField(v1_context, crypto::AsBytes("evault-root-slot-v1"));
  crypto::AppendU32(v1_context, h.format_version);
  crypto::AppendField(v1_context, h.vault_id);
  crypto::AppendU64(v1_context, h.kdf.ops_limit);
  crypto::AppendU64(v1_context, h.kdf.mem_limit_bytes);
  crypto::AppendField(v1_context, h.kdf.salt);
  evault::format::v1::VaultHeader proto;
  proto.set_format_version(h.format_version);
  proto.set_vault_id(std::string(h.vault_id.begin(), h.vault_id.end()));
  auto* slot = proto.add_slots();
  slot->set_kind(evault::format::v1::KeySlot::PASSPHRASE);
  slot->mutable_kdf()->set_ops_limit(h.kdf.ops_limit);
  slot->mutable_kdf()->set_mem_limit_bytes(h.kdf.mem_limit_bytes);
  slot->mutable_kdf()->set_salt(std::string(h.kdf.salt.begin(), h.kdf.salt.end()));
  const crypto::Bytes wrapped = crypto::WrapKey(unlocked.kek, unlocked.root, v1_context);
  slot->set_wrapped_root(std::string(wrapped.begin(), wrapped.end()));
  testing::WriteFile(vault_dir_ / kHeaderFileName,
                     std::string_view(std::string("EVAULT\0\1", 8) + proto.SerializeAsString()));

  ASSERT_OK_AND_ASSIGN(VaultHeader legacy, ReadHeader(vault_dir_));
  EXPECT_TRUE(legacy.legacy);
  EXPECT_ERROR(WriteHeader(vault_dir_, legacy), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(Vault::Recover(vault_dir_, RecoveryKey::Generate().Format(), Passphrase("x")), ErrorCode::kNotFound);
  EXPECT_ERROR(Vault::Open(vault_dir_, Passphrase("wrong")), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(CaseCount(kPassphrase), 1u);
  ASSERT_OK_AND_ASSIGN(VaultHeader upgraded, ReadHeader(vault_dir_));
  EXPECT_FALSE(upgraded.legacy);
  EXPECT_EQ(upgraded.vault_id, h.vault_id);
  EXPECT_EQ(CaseCount(kPassphrase), 1u);
}

}  // namespace
}  // namespace evault::vault
