// An attachment upload killed mid-way (SIGKILL, no chance to clean up) must leave no
// visible attachment, and the next Open must remove its orphaned chunks.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "vault/vault.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;

const crypto::PassphraseKdfParams kFastKdf() { return crypto::PassphraseKdfParams::New(2, 64ull << 20); }
crypto::SecretBytes Passphrase() { return crypto::SecretBytes::CopyFrom(std::string_view("crash test passphrase")); }

constexpr char kRecord[] = R"({"kind":"detention","title":"crash test record"})";

// Counts the keys in the vault's chunk column family, straight from RocksDB.
std::size_t CountChunks(const fs::path& vault_dir) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"chunks", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::DBOptions options;
  auto s = rocksdb::DB::OpenForReadOnly(options, (vault_dir / "db").string(), families, &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return SIZE_MAX;
  std::size_t count = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[1]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++count;
  it.reset();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return count;
}

class InterruptedAttachTest : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("evault-crash-" + std::to_string(::getpid()) + "-" +
                                             std::to_string(GetParam()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    vault_ = dir_ / "vault";
    file_ = dir_ / "video.bin";
    std::ofstream out(file_, std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
    for (int i = 0; i < 24; ++i) {
      for (auto& w : block) w = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * sizeof(std::uint64_t));
    }
    out.close();
    ASSERT_TRUE(Vault::Create(vault_, Passphrase(), kFastKdf()));
    auto v = Vault::Open(vault_, Passphrase());
    ASSERT_TRUE(v);
    auto c = (*v)->CreateCase("crash case", {});
    ASSERT_TRUE(c);
    auto r = (*v)->AddRecord(c->id, kRecord);
    ASSERT_TRUE(r);
    record_id_ = r->record_id;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_, vault_, file_;
  std::string record_id_;
};

TEST_P(InterruptedAttachTest, KilledUploadLeavesNothingBehind) {
  const std::uint64_t kill_after_bytes = GetParam() << 20;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto v = Vault::Open(vault_, Passphrase());
    if (!v) ::_exit(2);
    (void)(*v)->AddAttachment(record_id_, file_, [&](std::uint64_t done, std::uint64_t) {
      if (done >= kill_after_bytes) ::kill(::getpid(), SIGKILL);
    });
    ::_exit(3);  // the upload finished before the kill point: a test bug
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  {
    auto v = Vault::Open(vault_, Passphrase());  // sweeps the orphaned chunks
    ASSERT_TRUE(v) << v.error().message;
    auto list = (*v)->ListAttachments(record_id_);
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty()) << "a half-written attachment is visible";
    auto record = (*v)->GetRecord(record_id_, true);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->heads.at(0).data["title"], "crash test record");
  }
  EXPECT_EQ(CountChunks(vault_), 0u) << "orphaned chunks were not removed";

  // The vault still takes the same file afterwards, whole.
  auto v = Vault::Open(vault_, Passphrase());
  ASSERT_TRUE(v);
  auto added = (*v)->AddAttachment(record_id_, file_);
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->size, 24u << 20);
  EXPECT_EQ(added->chunks, 24u);
  v->reset();
  EXPECT_EQ(CountChunks(vault_), 24u);
}

// Kill after the first chunk, mid-way through a batch, after several batches, and
// after the last chunk but before the manifest commits.
INSTANTIATE_TEST_SUITE_P(KillPoints, InterruptedAttachTest, ::testing::Values(1, 5, 17, 24));

}  // namespace
}  // namespace evault::vault
