// NewDirectBlobReadsEnv: blob files are read with O_DIRECT and read back exactly, at any
// size and offset (RocksDB aligns the reads of a direct file), while table files stay
// buffered.
#include "vault/rocksdb_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

namespace evault::vault {
namespace {

namespace fs = std::filesystem;

// The open flags of this process's descriptors whose file name ends in `suffix`.
std::vector<long> OpenFlagsOf(const std::string& suffix) {
  std::vector<long> flags;
  for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    if (ec || target.size() < suffix.size() || target.compare(target.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::ifstream info("/proc/self/fdinfo/" + fd.path().filename().string());
    std::string key, value;
    while (info >> key >> value) {
      if (key == "flags:") flags.push_back(std::stol(value, nullptr, 8));
    }
  }
  return flags;
}

TEST(DirectBlobReadsTest, BlobFilesAreReadPastThePageCacheAndTablesAreNot) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("evault-direct-blob-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (!DirectWritesWork(dir)) GTEST_SKIP() << "this file system does not take O_DIRECT";

  std::unique_ptr<rocksdb::Env> env = NewDirectBlobReadsEnv();
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = env.get();
  options.enable_blob_files = true;
  options.min_blob_size = 1024;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.string(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);

  // Values of sizes that put every later one at an unaligned offset of the blob file.
  std::mt19937 random(7);
  std::vector<std::string> values;
  for (std::size_t size : {1500, 4096, 4097, 100000, 1 << 20, 777777}) {
    std::string value(size, '\0');
    for (auto& c : value) c = static_cast<char>(random());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "key" + std::to_string(values.size()), value).ok());
    values.push_back(std::move(value));
  }
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "small", "inline").ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());

  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string read;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "key" + std::to_string(i), &read).ok());
    EXPECT_TRUE(read == values[i]) << "value " << i << " of " << values[i].size() << " bytes";
  }
  std::string small;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "small", &small).ok());
  EXPECT_EQ(small, "inline");

  const auto blob_flags = OpenFlagsOf(".blob");
  ASSERT_FALSE(blob_flags.empty()) << "no blob file is open";
  for (long f : blob_flags) EXPECT_NE(f & O_DIRECT, 0) << "a blob file was opened without O_DIRECT";
  const auto table_flags = OpenFlagsOf(".sst");
  ASSERT_FALSE(table_flags.empty()) << "no table file is open";
  for (long f : table_flags) EXPECT_EQ(f & O_DIRECT, 0) << "a table file was opened with O_DIRECT";

  db.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace evault::vault
