// RocksDbStore against the Store contract, plus what only the embedded store promises:
// a private data directory and no info LOG.
#include "server/rocksdb_store.h"

#include <sys/stat.h>

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

}  // namespace
}  // namespace evault::server::testing
