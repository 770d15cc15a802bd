// The Store contract (server/store.h) as a parameterised test suite, written against
// Store& only: a new backend passes it by instantiating StoreConformance with a
// factory, as rocksdb_store_test.cc does:
//
//   INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
//                            ::testing::Values(StoreFactory{"Postgres", OpenPostgres}),
//                            StoreFactoryName);
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/store.h"
#include "tests/server/test_util.h"

namespace evault::server::testing {

struct StoreFactory {
  std::string name;
  // Opens the store kept under `dir` (a fresh, empty directory for each test), or
  // reopens it after the previous instance was destroyed: what was written must be
  // there again.
  std::function<std::unique_ptr<Store>(const std::filesystem::path& dir)> open;
};

inline std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; }

// For a backend's own tests beside the suite: `count` chunks of `size` random bytes.
inline std::vector<sync::v1::Chunk> RandomChunks(std::size_t count, std::size_t size) {
  std::vector<sync::v1::Chunk> chunks(count);
  for (auto& c : chunks) {
    c.set_chunk_id(Str(crypto::RandomBytes(kChunkIdBytes)));
    c.set_data(Str(crypto::RandomBytes(size)));
  }
  return chunks;
}

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void Reopen();
  Store& store() { return *store_; }

 private:
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace evault::server::testing
