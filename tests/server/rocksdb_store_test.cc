// RocksDbStore against the Store contract, plus what only the embedded store promises:
// a private data directory, no info LOG, chunks written once (not through the WAL),
// staged chunks swept when an upload never commits, a bound on open files, and vault
// records of the first format still read.
#include "server/rocksdb_store.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <rocksdb/db.h>

#include "server/enroll_tokens.h"
#include "tests/server/store_conformance.h"

namespace evault::server::testing {
namespace {

std::unique_ptr<Store> OpenRocksDb(const std::filesystem::path& dir) {
  auto store = RocksDbStore::Open(dir / "data");
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformance, ::testing::Values(StoreFactory{"RocksDb", OpenRocksDb}),
                         StoreFactoryName);

TEST(RocksDbStore, DataDirectoryIsPrivateAndHasNoInfoLog) {
  crypto::EnsureSodium();
  TempDir dir;
  {
    auto store = OpenRocksDb(dir.path());
    ASSERT_NE(store, nullptr);
    TestVault v;
    Device owner;
    ASSERT_TRUE(store->CreateVault(v.id, v.Genesis(owner), EnrollTokenHash("a-token-long-enough")).has_value());
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(name == "LOG" || name.starts_with("LOG.old")) << entry.path();
  }
}

ObjectEnvelope CreateVault(Store& store, TestVault& v) {
  Device owner;
  ObjectEnvelope g = v.Genesis(owner);
  EXPECT_TRUE(store.CreateVault(v.id, g, EnrollTokenHash("a-token-long-enough-" + Str(crypto::RandomBytes(8)))).has_value());
  return g;
}

std::uintmax_t WalBytes(const std::filesystem::path& db) {
  std::uintmax_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(db)) {
    if (entry.path().extension() == ".log") total += entry.file_size();
  }
  return total;
}

// The raw chunks family, read after the store is closed: what is on disk, visible or not.
std::optional<std::string> RawChunk(const std::filesystem::path& db, const Bytes& vault_id, const std::string& chunk_id) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, {}}, {"chunks", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db.string(), families, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return std::nullopt;
  std::string value;
  s = raw->Get(rocksdb::ReadOptions(), handles[1], Str(vault_id) + chunk_id, &value);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  if (!s.ok()) return std::nullopt;
  return value;
}

TEST(RocksDbStore, ChunksAreWrittenOnceNotThroughTheLog) {
  crypto::EnsureSodium();
  TempDir dir;
  const auto db = dir.path() / "data" / "db";
  auto store = OpenRocksDb(dir.path());
  ASSERT_NE(store, nullptr);
  TestVault v;
  CreateVault(*store, v);
  const std::uintmax_t wal_before = WalBytes(db);
  const auto chunks = RandomChunks(16, 1 << 20);
  ASSERT_OK_AND_ASSIGN(std::uint64_t added, store->PutChunks(v.id, chunks));
  EXPECT_EQ(added, 16u << 20);
  // 16 MiB of chunks; the log holds only the small pending and commit entries.
  EXPECT_LT(WalBytes(db) - wal_before, 64u << 10);
  ASSERT_OK_AND_ASSIGN(auto back, store->GetChunk(v.id, crypto::AsBytes(chunks[7].chunk_id())));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, chunks[7].data());
}

TEST(RocksDbStore, StagedChunksOfADroppedUploadAreDeletedAtTheNextOpen) {
  crypto::EnsureSodium();
  TempDir dir;
  const auto db = dir.path() / "data" / "db";
  TestVault v;
  const auto dropped = RandomChunks(3, 10000);
  const auto kept = RandomChunks(1, 10000);
  {
    auto store = OpenRocksDb(dir.path());
    ASSERT_NE(store, nullptr);
    CreateVault(*store, v);
    ASSERT_OK_AND_ASSIGN(auto upload, store->BeginChunkUpload(v.id));
    ASSERT_TRUE(upload->Stage(dropped).has_value());
    // Another upload commits meanwhile: its flush writes the dropped one's chunks too.
    ASSERT_TRUE(store->PutChunks(v.id, kept).has_value());
  }  // the first upload never commits
  EXPECT_TRUE(RawChunk(db, v.id, dropped[0].chunk_id()).has_value());
  {
    auto store = OpenRocksDb(dir.path());
    ASSERT_NE(store, nullptr);
  }
  for (const auto& c : dropped) EXPECT_FALSE(RawChunk(db, v.id, c.chunk_id()).has_value());
  auto survivor = RawChunk(db, v.id, kept[0].chunk_id());
  ASSERT_TRUE(survivor.has_value());
  EXPECT_EQ(*survivor, kept[0].data());
}

// A deployment's vaults were written when the 'v' record held only head seq | bytes
// used: they read as last write unknown (0) and the default quota, and their next write
// brings the record up to date.
TEST(RocksDbStore, ReadsVaultRecordsOfTheFirstFormat) {
  crypto::EnsureSodium();
  TempDir dir;
  TestVault v;
  std::uint64_t genesis_bytes = 0;
  {
    auto store = OpenRocksDb(dir.path());
    ASSERT_NE(store, nullptr);
    genesis_bytes = CreateVault(*store, v).ByteSizeLong();
  }
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, {}}, {"chunks", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), (dir.path() / "data" / "db").string(), families, &handles, &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    Bytes old;
    crypto::AppendU64(old, 1);
    crypto::AppendU64(old, genesis_bytes);
    s = raw->Put(rocksdb::WriteOptions(), "v" + Str(v.id), Str(old));
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto store = OpenRocksDb(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto list, store->ListVaults());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].vault_id, v.id);
  EXPECT_EQ(list[0].objects, 1u);
  EXPECT_EQ(list[0].bytes_used, genesis_bytes);
  EXPECT_EQ(list[0].last_write_unix, 0);
  EXPECT_EQ(list[0].quota_bytes, 0u);

  ASSERT_TRUE(store->SetVaultQuota(v.id, 5000000).has_value());
  Device author;
  std::vector<ObjectEnvelope> batch = {v.Sealed(author)};
  ASSERT_OK_AND_ASSIGN(auto appended, store->Append(v.id, batch, std::nullopt));
  EXPECT_EQ(appended[0].server_seq, 2u);
  ASSERT_OK_AND_ASSIGN(auto found, store->FindVault(v.id));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->objects, 2u);
  EXPECT_EQ(found->bytes_used, genesis_bytes + batch[0].ByteSizeLong());
  EXPECT_GT(found->last_write_unix, 0);
  EXPECT_EQ(found->quota_bytes, 5000000u);
}

// Every commit flushes a blob file. With RocksDB's default (keep every file open) a
// store of more files than the process may open fails its reads; the bound keeps it
// readable under a descriptor limit smaller than its file count.
TEST(RocksDbStore, ReadsAllChunksWithFewerDescriptorsThanFiles) {
  crypto::EnsureSodium();
  TempDir dir;
  auto store = OpenRocksDb(dir.path());
  ASSERT_NE(store, nullptr);
  TestVault v;
  CreateVault(*store, v);
  constexpr std::size_t kUploads = RocksDbStore::kMaxOpenFiles + 150;
  std::vector<sync::v1::Chunk> all;
  for (std::size_t i = 0; i < kUploads; ++i) {
    auto one = RandomChunks(1, 5000);  // above min_blob_size: a blob file each
    ASSERT_TRUE(store->PutChunks(v.id, one).has_value());
    all.push_back(std::move(one[0]));
  }
  std::size_t blob_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "data" / "db")) {
    blob_files += entry.path().extension() == ".blob";
  }
  ASSERT_GE(blob_files, kUploads);

  std::size_t open_now = 0;
  for ([[maybe_unused]] const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) ++open_now;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = open_now + RocksDbStore::kMaxOpenFiles + 64;
  ASSERT_LT(tight.rlim_cur, open_now + blob_files);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::size_t read_back = 0;
  for (const auto& c : all) {
    auto data = store->GetChunk(v.id, crypto::AsBytes(c.chunk_id()));
    if (!data.has_value()) {
      ADD_FAILURE() << data.error().message;
      break;
    }
    read_back += data->has_value() && **data == c.data();
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(read_back, all.size());
}

}  // namespace
}  // namespace evault::server::testing
