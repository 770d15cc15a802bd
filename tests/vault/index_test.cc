// EncryptedIndex: encrypted, immutable segments merged geometrically. Checked against a
// plain std::map model through hundreds of transactions, and attacked by altering,
// moving and deleting segments.
#include "vault/index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>

#include <fmt/core.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "crypto/keys.h"
#include "crypto/secret_bytes.h"
#include "tests/vault/test_util.h"

namespace evault::vault {
namespace {

using testing::ScopedTempDir;
using Entries = std::vector<std::pair<std::string, std::string>>;

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::EnsureSodium();
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(options, (dir_.path() / "db").string(), &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(raw);
  }

  std::unique_ptr<EncryptedIndex> MakeIndex(std::size_t partitions = 4, std::string name = "test",
                                            EncryptedIndex::Options options = {}) {
    return std::make_unique<EncryptedIndex>(std::move(name), partitions, db_.get(), key_.Clone(), vault_id_,
                                            options);
  }
  // Blocks of a few entries, so small tests build segments of many blocks.
  static EncryptedIndex::Options TinyBlocks(std::size_t cache_bytes = 4096) {
    EncryptedIndex::Options options;
    options.block_bytes = 64;
    options.cache_bytes = cache_bytes;
    return options;
  }

  // Stages, writes and commits, as the vault does.
  Status Commit(EncryptedIndex& index) {
    rocksdb::WriteBatch batch;
    auto root = index.Stage(batch);
    if (!root) {
      index.Abandon();
      return std::unexpected(root.error());
    }
    auto s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) {
      index.Abandon();
      return Fail(ErrorCode::kIo, s.ToString());
    }
    index.Committed(*root);
    return Ok();
  }

  std::size_t KeysInDb() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    std::size_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    return n;
  }

  static std::size_t SegmentCount(const format::v1::IndexRoot& root) {
    std::size_t n = 0;
    for (const auto& p : root.partitions()) n += static_cast<std::size_t>(p.segments_size());
    return n;
  }

  // Every RocksDB key the root's segments use (headers and blocks).
  static std::size_t SegmentKeyCount(EncryptedIndex& index) {
    std::size_t n = 0;
    for (const auto& p : index.root().partitions()) {
      for (const auto& segment : p.segments()) {
        auto keys = index.SegmentKeys(segment);
        EXPECT_TRUE(keys.has_value());
        if (keys) n += keys->size();
      }
    }
    return n;
  }

  ScopedTempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  crypto::SymmetricKey key_ = crypto::SymmetricKey::Generate();
  crypto::Bytes vault_id_ = crypto::RandomBytes(16);
};

TEST_F(IndexTest, PutCommitScanGet) {
  auto index = MakeIndex();
  index->Put(0, "case/1", "a");
  index->Put(0, "case/2", "b");
  index->Put(0, "rec/1", "c");
  index->Put(3, "case/9", "z");
  ASSERT_OK(Commit(*index));
  ASSERT_OK_AND_ASSIGN(Entries cases, index->Scan(0, "case/"));
  EXPECT_EQ(cases, (Entries{{"case/1", "a"}, {"case/2", "b"}}));
  ASSERT_OK_AND_ASSIGN(Entries p3, index->Scan(3, ""));
  EXPECT_EQ(p3, (Entries{{"case/9", "z"}}));
  ASSERT_OK_AND_ASSIGN(Entries p1, index->Scan(1, ""));
  EXPECT_TRUE(p1.empty());
  ASSERT_OK_AND_ASSIGN(auto got, index->Get(0, "rec/1"));
  EXPECT_EQ(got, std::optional<std::string>("c"));
  ASSERT_OK_AND_ASSIGN(auto missing, index->Get(0, "rec/2"));
  EXPECT_FALSE(missing.has_value());
  // Get is exact, not a prefix match.
  ASSERT_OK_AND_ASSIGN(auto prefix_only, index->Get(0, "case/"));
  EXPECT_FALSE(prefix_only.has_value());
  EXPECT_FALSE(index->Scan(4, "").has_value()) << "partition out of range accepted";
}

TEST_F(IndexTest, PrefixesDoNotBleed) {
  auto index = MakeIndex(1);
  index->Put(0, "t/ab/r1", "");
  index->Put(0, "t/abc/r2", "");
  index->Put(0, "t/a/r3", "");
  index->Put(0, "t/ab", "");
  ASSERT_OK(Commit(*index));
  ASSERT_OK_AND_ASSIGN(Entries ab, index->Scan(0, "t/ab/"));
  EXPECT_EQ(ab, (Entries{{"t/ab/r1", ""}}));
}

TEST_F(IndexTest, StagedChangesVisibleAndAbandonDiscards) {
  auto index = MakeIndex(1);
  index->Put(0, "k1", "v1");
  ASSERT_OK(Commit(*index));
  index->Put(0, "k2", "v2");
  index->Delete(0, "k1");
  EXPECT_TRUE(index->has_staged());
  ASSERT_OK_AND_ASSIGN(Entries staged, index->Scan(0, "k"));
  EXPECT_EQ(staged, (Entries{{"k2", "v2"}}));
  // Stage, then abandon (the write "failed"): nothing changes.
  rocksdb::WriteBatch batch;
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch));
  (void)root;
  index->Abandon();
  EXPECT_FALSE(index->has_staged());
  ASSERT_OK_AND_ASSIGN(Entries after, index->Scan(0, "k"));
  EXPECT_EQ(after, (Entries{{"k1", "v1"}}));
  // A fresh index over the committed root agrees.
  auto reloaded = MakeIndex(1);
  ASSERT_OK(reloaded->Load(index->root()));
  ASSERT_OK_AND_ASSIGN(Entries again, reloaded->Scan(0, "k"));
  EXPECT_EQ(again, (Entries{{"k1", "v1"}}));
}

TEST_F(IndexTest, NewestWinsAndDeletesHideOlderSegments) {
  auto index = MakeIndex(1);
  for (int i = 0; i < 10; ++i) index->Put(0, "key/" + std::to_string(i), "old");
  ASSERT_OK(Commit(*index));
  index->Put(0, "key/3", "new");
  ASSERT_OK(Commit(*index));
  index->Delete(0, "key/5");
  ASSERT_OK(Commit(*index));
  ASSERT_OK_AND_ASSIGN(auto v3, index->Get(0, "key/3"));
  EXPECT_EQ(v3, std::optional<std::string>("new"));
  ASSERT_OK_AND_ASSIGN(auto v5, index->Get(0, "key/5"));
  EXPECT_FALSE(v5.has_value());
  ASSERT_OK_AND_ASSIGN(Entries all, index->Scan(0, "key/"));
  EXPECT_EQ(all.size(), 9u);
  // Re-adding a deleted key brings it back with the new value.
  index->Put(0, "key/5", "again");
  ASSERT_OK(Commit(*index));
  ASSERT_OK_AND_ASSIGN(auto v5b, index->Get(0, "key/5"));
  EXPECT_EQ(v5b, std::optional<std::string>("again"));
}

// Hundreds of small transactions of random puts and deletes, compared after every one
// with a std::map, and again through a freshly loaded index at the end; with blocks
// large enough to hold any segment whole, and with blocks of a few entries.
class IndexModelTest : public IndexTest, public ::testing::WithParamInterface<bool> {};

TEST_P(IndexModelTest, MatchesModelThroughManyMergingTransactions) {
  constexpr std::size_t kPartitions = 4;
  const EncryptedIndex::Options options = GetParam() ? TinyBlocks() : EncryptedIndex::Options();
  auto index = MakeIndex(kPartitions, "test", options);
  std::map<std::string, std::string> model[kPartitions];
  std::mt19937_64 rng(20240611);
  std::size_t max_segments_seen = 0;
  std::size_t operations = 0;
  for (int txn = 0; txn < 400; ++txn) {
    const int ops = 1 + static_cast<int>(rng() % 6);
    for (int op = 0; op < ops; ++op) {
      const std::size_t p = rng() % kPartitions;
      const std::string key = "k/" + std::to_string(rng() % 250);
      if (rng() % 4 == 0) {
        index->Delete(p, key);
        model[p].erase(key);
      } else {
        const std::string value = "v" + std::to_string(txn) + "." + std::to_string(op);
        index->Put(p, key, value);
        model[p][key] = value;
      }
      ++operations;
    }
    ASSERT_OK(Commit(*index));
    for (std::size_t p = 0; p < kPartitions; ++p) {
      ASSERT_OK_AND_ASSIGN(Entries got, index->Scan(p, ""));
      const Entries want(model[p].begin(), model[p].end());
      ASSERT_EQ(got, want) << "partition " << p << " after transaction " << txn;
    }
    for (const auto& part : index->root().partitions()) {
      max_segments_seen = std::max<std::size_t>(max_segments_seen, part.segments_size());
    }
  }
  // Geometric merging keeps O(log n) segments per partition; without merging there
  // would be ~100 per partition.
  const auto bound = static_cast<std::size_t>(2 * std::log2(static_cast<double>(operations)) + 2);
  EXPECT_LE(max_segments_seen, bound);
  // Merged-away segments (headers and blocks) are deleted from the database.
  EXPECT_EQ(KeysInDb(), SegmentKeyCount(*index));
  if (GetParam()) {
    EXPECT_GT(KeysInDb(), SegmentCount(index->root())) << "no segment was cut into blocks";
    EXPECT_LE(index->cached_bytes(), options.cache_bytes);
  }

  auto reloaded = MakeIndex(kPartitions, "test", options);
  ASSERT_OK(reloaded->Load(index->root()));
  for (std::size_t p = 0; p < kPartitions; ++p) {
    ASSERT_OK_AND_ASSIGN(Entries got, reloaded->Scan(p, ""));
    EXPECT_EQ(got, Entries(model[p].begin(), model[p].end())) << "partition " << p;
    for (const auto& [key, value] : model[p]) {
      ASSERT_OK_AND_ASSIGN(auto one, reloaded->Get(p, key));
      EXPECT_EQ(one, std::optional<std::string>(value)) << key;
    }
    ASSERT_OK_AND_ASSIGN(auto absent, reloaded->Get(p, "k/absent"));
    EXPECT_FALSE(absent.has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, IndexModelTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "TinyBlocks" : "WholeSegments"; });

// A large segment is read a block at a time: lookups and prefix scans anywhere in it
// are right, and the decrypted blocks kept never exceed the cache bound.
TEST_F(IndexTest, LargeSegmentsAreReadABlockAtATimeWithinTheCacheBound) {
  constexpr std::size_t kCache = 2048;
  auto index = MakeIndex(1, "test", TinyBlocks(kCache));
  std::map<std::string, std::string> model;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = fmt::format("t/{:03}/{:05}", i % 97, i);
    model[key] = std::to_string(i);
    index->Put(0, key, std::to_string(i));
  }
  ASSERT_OK(Commit(*index));
  ASSERT_EQ(index->root().partitions(0).segments_size(), 1);
  ASSERT_TRUE(index->root().partitions(0).segments(0).blocked());
  ASSERT_OK_AND_ASSIGN(auto keys, index->SegmentKeys(index->root().partitions(0).segments(0)));
  EXPECT_GT(keys.size(), 100u);

  auto fresh = MakeIndex(1, "test", TinyBlocks(kCache));
  ASSERT_OK(fresh->Load(index->root()));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    const int n = static_cast<int>(rng() % 3000);
    ASSERT_OK_AND_ASSIGN(auto got, fresh->Get(0, fmt::format("t/{:03}/{:05}", n % 97, n)));
    EXPECT_EQ(got, std::optional<std::string>(std::to_string(n)));
    EXPECT_LE(fresh->cached_bytes(), kCache);
  }
  for (int group : {0, 41, 96}) {
    const std::string prefix = fmt::format("t/{:03}/", group);
    ASSERT_OK_AND_ASSIGN(Entries got, fresh->Scan(0, prefix));
    Entries want;
    for (auto it = model.lower_bound(prefix); it != model.end() && it->first.starts_with(prefix); ++it) {
      want.push_back(*it);
    }
    EXPECT_EQ(got, want) << prefix;
  }
  ASSERT_OK_AND_ASSIGN(Entries none, fresh->Scan(0, "t/0415"));
  EXPECT_TRUE(none.empty());
  EXPECT_LE(fresh->cached_bytes(), kCache);
}

TEST_F(IndexTest, SegmentsAreCiphertext) {
  auto index = MakeIndex(1);
  index->Put(0, "t/MARKERkeyq7/rec", "MARKERvalueq7");
  ASSERT_OK(Commit(*index));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::size_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++n) {
    EXPECT_EQ(it->key().ToString().find("MARKER"), std::string::npos);
    EXPECT_EQ(it->value().ToString().find("MARKER"), std::string::npos);
  }
  EXPECT_EQ(n, 1u);
}

class IndexAttackTest : public IndexTest {
 protected:
  void SetUp() override {
    IndexTest::SetUp();
    if (HasFatalFailure()) return;
    index_ = MakeIndex(2);
    index_->Put(0, "a", "1");
    index_->Put(1, "b", "2");
    ASSERT_OK(Commit(*index_));
    root_ = index_->root();
    ASSERT_EQ(root_.partitions(0).segments_size(), 1);
    ASSERT_EQ(root_.partitions(1).segments_size(), 1);
    seg0_ = root_.partitions(0).segments(0).id();
    seg1_ = root_.partitions(1).segments(0).id();
  }

  std::string Value(const std::string& key) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), key, &v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }
  void Put(const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), key, value).ok());
  }
  // Scans partition 0 through a fresh index (no cache).
  Result<Entries> FreshScan(std::unique_ptr<EncryptedIndex> index, std::size_t partition = 0) {
    auto loaded = index->Load(root_);
    if (!loaded) return std::unexpected(loaded.error());
    return index->Scan(partition, "");
  }

  std::unique_ptr<EncryptedIndex> index_;
  format::v1::IndexRoot root_;
  std::string seg0_, seg1_;
};

TEST_F(IndexAttackTest, UntouchedReadsBack) {
  ASSERT_OK_AND_ASSIGN(Entries got, FreshScan(MakeIndex(2)));
  EXPECT_EQ(got, (Entries{{"a", "1"}}));
}

TEST_F(IndexAttackTest, FlippedByteDetected) {
  const std::string original = Value(seg0_);
  for (std::size_t pos : {std::size_t{0}, std::size_t{23}, std::size_t{24}, original.size() / 2,
                          original.size() - 17, original.size() - 1}) {
    std::string bad = original;
    bad[pos] ^= 0x01;
    Put(seg0_, bad);
    EXPECT_ERROR(FreshScan(MakeIndex(2)), ErrorCode::kTampered);
  }
  Put(seg0_, original.substr(0, original.size() - 1));
  EXPECT_ERROR(FreshScan(MakeIndex(2)), ErrorCode::kTampered);
  Put(seg0_, "");
  EXPECT_ERROR(FreshScan(MakeIndex(2)), ErrorCode::kTampered);
}

TEST_F(IndexAttackTest, SegmentMovedToAnotherIdDetected) {
  Put(seg0_, Value(seg1_));  // partition 1's segment under partition 0's id
  EXPECT_ERROR(FreshScan(MakeIndex(2)), ErrorCode::kTampered);
}

TEST_F(IndexAttackTest, WrongKeyNameOrVaultDetected) {
  {
    auto other_key = std::make_unique<EncryptedIndex>("test", 2, db_.get(), crypto::SymmetricKey::Generate(),
                                                      vault_id_);
    EXPECT_ERROR(FreshScan(std::move(other_key)), ErrorCode::kTampered);
  }
  EXPECT_ERROR(FreshScan(MakeIndex(2, "other-index")), ErrorCode::kTampered);
  {
    auto other_vault = std::make_unique<EncryptedIndex>("test", 2, db_.get(), key_.Clone(), crypto::RandomBytes(16));
    EXPECT_ERROR(FreshScan(std::move(other_vault)), ErrorCode::kTampered);
  }
}

TEST_F(IndexAttackTest, MissingSegmentIsAnError) {
  ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), seg0_).ok());
  auto got = FreshScan(MakeIndex(2));
  EXPECT_FALSE(got.has_value()) << "a missing segment read as an empty index";
}

// The same attacks on a segment cut into blocks: its header and its blocks.
TEST_F(IndexTest, AlteredMovedOrMissingHeadersAndBlocksAreDetected) {
  auto index = MakeIndex(1, "test", TinyBlocks());
  for (int i = 0; i < 40; ++i) index->Put(0, fmt::format("k/{:02}", i), fmt::format("value {}", i));
  ASSERT_OK(Commit(*index));
  const auto segment = index->root().partitions(0).segments(0);
  ASSERT_TRUE(segment.blocked());
  ASSERT_OK_AND_ASSIGN(auto keys, index->SegmentKeys(segment));
  ASSERT_GE(keys.size(), 4u);  // the header, then the blocks
  auto read_all = [&]() -> Status {
    auto fresh = MakeIndex(1, "test", TinyBlocks());
    EVAULT_TRY(fresh->Load(index->root()));
    auto all = fresh->Scan(0, "");
    if (!all) return std::unexpected(all.error());
    return Ok();
  };
  auto get = [&](const std::string& key) {
    std::string v;
    EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), key, &v).ok());
    return v;
  };
  auto put = [&](const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), key, value).ok());
  };
  ASSERT_OK(read_all());
  for (const std::string& target : {keys[0], keys[1], keys.back()}) {  // header, first and last block
    const std::string original = get(target);
    std::string flipped = original;
    flipped[flipped.size() / 2] ^= 0x20;
    put(target, flipped);
    EXPECT_ERROR(read_all(), ErrorCode::kTampered);
    put(target, original);
  }
  // Two blocks swapped, and a block standing in for the header.
  const std::string first = get(keys[1]), second = get(keys[2]), header = get(keys[0]);
  put(keys[1], second);
  put(keys[2], first);
  EXPECT_ERROR(read_all(), ErrorCode::kTampered);
  put(keys[1], first);
  put(keys[2], second);
  put(keys[0], first);
  EXPECT_ERROR(read_all(), ErrorCode::kTampered);
  put(keys[0], header);
  ASSERT_OK(read_all());
  // A block or the header gone.
  ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), keys[2]).ok());
  EXPECT_ERROR(read_all(), ErrorCode::kCorrupt);
  put(keys[2], second);
  ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), keys[0]).ok());
  EXPECT_ERROR(read_all(), ErrorCode::kCorrupt);
}

TEST_F(IndexAttackTest, RootWithWrongPartitionCountRejected) {
  auto index = MakeIndex(3);
  EXPECT_ERROR(index->Load(root_), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace evault::vault
