// EncryptedIndex: encrypted, immutable segments merged geometrically. Checked against a
// plain std::map model through hundreds of transactions, and attacked by altering,
// moving and deleting segments.
#include "vault/index.h"

#include <gtest/gtest.h>

#include <algorithm>
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

  // Writes a large merge's blocks ahead of the commit, as the vault does (unsynced).
  EncryptedIndex::WriteFn WriteAhead() {
    return [this](rocksdb::WriteBatch& batch) -> Status {
      ++write_aheads_;
      auto s = db_->Write(rocksdb::WriteOptions(), &batch);
      if (!s.ok()) return Fail(ErrorCode::kIo, s.ToString());
      return Ok();
    };
  }

  // Stages, writes and commits, as the vault does.
  Status Commit(EncryptedIndex& index) {
    rocksdb::WriteBatch batch;
    auto root = index.Stage(batch, WriteAhead());
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
  std::size_t write_aheads_ = 0;  // batches written ahead of a commit
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
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch, WriteAhead()));
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
// large enough to hold any segment whole, with blocks of a few entries, and with those
// blocks written ahead of the commit for all but the smallest merges.
enum class Layout { kWholeSegments, kTinyBlocks, kWrittenAhead };
class IndexModelTest : public IndexTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(IndexModelTest, MatchesModelThroughManyMergingTransactions) {
  constexpr std::size_t kPartitions = 4;
  EncryptedIndex::Options options = GetParam() == Layout::kWholeSegments ? EncryptedIndex::Options() : TinyBlocks();
  if (GetParam() == Layout::kWrittenAhead) options.write_ahead_bytes = 512;
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
  // Merged-away segments (headers and blocks) are deleted from the database, and so
  // are the write-ahead markers.
  EXPECT_EQ(KeysInDb(), SegmentKeyCount(*index));
  if (GetParam() != Layout::kWholeSegments) {
    EXPECT_GT(KeysInDb(), SegmentCount(index->root())) << "no segment was cut into blocks";
    EXPECT_LE(index->cached_bytes(), options.cache_bytes);
  }
  if (GetParam() == Layout::kWrittenAhead) {
    EXPECT_GT(write_aheads_, 100u) << "merges were not written ahead";
  } else {
    EXPECT_EQ(write_aheads_, 0u) << "small merges were written ahead";
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

INSTANTIATE_TEST_SUITE_P(BlockSizes, IndexModelTest,
                         ::testing::Values(Layout::kWholeSegments, Layout::kTinyBlocks, Layout::kWrittenAhead),
                         [](const auto& info) {
                           switch (info.param) {
                             case Layout::kWholeSegments: return "WholeSegments";
                             case Layout::kTinyBlocks: return "TinyBlocks";
                             case Layout::kWrittenAhead: return "WrittenAhead";
                           }
                           return "";
                         });

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

// --- Write-ahead: a large merge's blocks reach the database before its commit -------

class IndexWriteAheadTest : public IndexTest {
 protected:
  // Blocks of about 1 KiB, 8 KiB of them at most in the commit's batch.
  static EncryptedIndex::Options SmallWriteAhead() {
    EncryptedIndex::Options options;
    options.block_bytes = 1024;
    options.write_ahead_bytes = 8 << 10;
    return options;
  }
  // About 200 KiB of entries, all in partition 0.
  static std::map<std::string, std::string> Many(std::string_view tag, int n = 4000) {
    std::map<std::string, std::string> out;
    for (int i = 0; i < n; ++i) out[fmt::format("t/{:05}/{}", i, tag)] = fmt::format("value {} of {}", i, tag);
    return out;
  }
  static void PutAll(EncryptedIndex& index, const std::map<std::string, std::string>& entries) {
    for (const auto& [k, v] : entries) index.Put(0, k, v);
  }
  void ExpectContents(const format::v1::IndexRoot& root, const std::map<std::string, std::string>& want) {
    auto fresh = MakeIndex(1, "test", SmallWriteAhead());
    ASSERT_OK(fresh->Load(root));
    ASSERT_OK_AND_ASSIGN(Entries got, fresh->Scan(0, ""));
    EXPECT_EQ(got, Entries(want.begin(), want.end()));
  }
  // The name of write-ahead marker `n` of the index "test" (a keyed hash; see
  // EncryptedIndex::MarkerKey), so tests can alter or remove one.
  std::string MarkerKey(std::size_t n) const {
    const auto names = crypto::DeriveSubkey(key_, crypto::KeyPurpose::kStorageNames);
    return std::string(crypto::AsText(crypto::KeyedHash(names, crypto::AsBytes(fmt::format("test/pending/{}", n)))));
  }
  bool Exists(const std::string& key) {
    std::string v;
    return db_->Get(rocksdb::ReadOptions(), key, &v).ok();
  }
};

// The commit's batch holds at most write_ahead_bytes of blocks (plus the header): the
// rest went ahead in batches of that size, and the segment reads back whole.
TEST_F(IndexWriteAheadTest, LargeMergeIsWrittenAheadAndReadsBack) {
  const auto options = SmallWriteAhead();
  auto index = MakeIndex(1, "test", options);
  const auto entries = Many("a");
  PutAll(*index, entries);
  rocksdb::WriteBatch batch;
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch, WriteAhead()));
  EXPECT_GT(write_aheads_, 10u);
  EXPECT_LT(batch.GetDataSize(), 2 * options.write_ahead_bytes) << "the merge's output waits in the commit's batch";
  EXPECT_TRUE(Exists(MarkerKey(0)));
  ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  index->Committed(root);
  EXPECT_FALSE(Exists(MarkerKey(0))) << "the commit left its write-ahead marker";
  EXPECT_EQ(KeysInDb(), SegmentKeyCount(*index));
  ExpectContents(index->root(), entries);
}

// Writing ahead changes where blocks are written, not what: the same entries give
// blocks of the same sealed (padded) sizes either way.
TEST_F(IndexWriteAheadTest, WrittenAheadBlocksAreSealedAlike) {
  auto sizes = [&](std::size_t write_ahead_bytes) {
    auto options = SmallWriteAhead();
    options.write_ahead_bytes = write_ahead_bytes;
    auto index = MakeIndex(1, "test", options);
    PutAll(*index, Many("a"));
    EXPECT_OK(Commit(*index));
    std::vector<std::size_t> out;
    auto keys = index->SegmentKeys(index->root().partitions(0).segments(0));
    EXPECT_TRUE(keys.has_value());
    for (const auto& key : *keys) {
      std::string v;
      EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), key, &v).ok());
      out.push_back(v.size());
    }
    std::sort(out.begin() + 1, out.end());  // the header first, then the blocks
    return out;
  };
  const auto in_batch = sizes(std::size_t{1} << 30);
  EXPECT_EQ(write_aheads_, 0u);
  const auto ahead = sizes(8 << 10);
  EXPECT_GT(write_aheads_, 10u);
  EXPECT_GT(in_batch.size(), 100u);
  EXPECT_EQ(in_batch, ahead);
}

// A transaction abandoned after writing ahead (its commit failed) changes nothing
// visible; the next commit deletes the blocks and markers it left.
TEST_F(IndexWriteAheadTest, AbandonedWriteAheadIsDeletedByTheNextCommit) {
  auto index = MakeIndex(1, "test", SmallWriteAhead());
  index->Put(0, "base", "1");
  ASSERT_OK(Commit(*index));
  const std::size_t keys_before = KeysInDb();
  PutAll(*index, Many("a"));
  rocksdb::WriteBatch batch;
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch, WriteAhead()));
  (void)root;
  index->Abandon();
  EXPECT_GT(KeysInDb(), keys_before + 100) << "nothing was written ahead";
  ExpectContents(index->root(), {{"base", "1"}});

  index->Put(0, "next", "2");
  ASSERT_OK(Commit(*index));
  EXPECT_EQ(KeysInDb(), SegmentKeyCount(*index)) << "the abandoned blocks or markers were left behind";
  EXPECT_FALSE(Exists(MarkerKey(0)));
  ExpectContents(index->root(), {{"base", "1"}, {"next", "2"}});
}

// The process dies between writing ahead and committing: a fresh index over the old
// root reads the old contents, finds the markers, and its next commit deletes every
// block they list.
TEST_F(IndexWriteAheadTest, CrashAfterWriteAheadLeavesTheOldIndexAndIsSwept) {
  auto index = MakeIndex(1, "test", SmallWriteAhead());
  const auto base = Many("base", 500);
  PutAll(*index, base);
  ASSERT_OK(Commit(*index));
  const format::v1::IndexRoot old_root = index->root();
  const std::size_t keys_before = KeysInDb();
  PutAll(*index, Many("a"));
  rocksdb::WriteBatch batch;
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch, WriteAhead()));
  (void)root;
  index.reset();  // the crash: neither Committed nor Abandon
  EXPECT_GT(KeysInDb(), keys_before + 100);

  auto reopened = MakeIndex(1, "test", SmallWriteAhead());
  ASSERT_OK(reopened->Load(old_root));
  ExpectContents(old_root, base);
  ASSERT_OK_AND_ASSIGN(bool found, reopened->FindAbandonedBlocks());
  EXPECT_TRUE(found);
  ASSERT_OK(Commit(*reopened));  // the sweep: a commit with nothing staged
  EXPECT_EQ(KeysInDb(), keys_before) << "orphaned blocks or markers survived the sweep";
  ExpectContents(reopened->root(), base);

  auto again = MakeIndex(1, "test", SmallWriteAhead());
  ASSERT_OK(again->Load(reopened->root()));
  ASSERT_OK_AND_ASSIGN(found, again->FindAbandonedBlocks());
  EXPECT_FALSE(found);
}

// Markers are only trusted to name blocks nobody uses: an altered marker is deleted
// without deleting what it lists, a missing one leaves its blocks (and stops the
// sweep, which expects markers 0..n-1), and a replayed marker of a committed merge,
// whose blocks are now in use, deletes none of them. Open never fails for it.
TEST_F(IndexWriteAheadTest, AlteredMissingOrReplayedMarkersNeverBreakTheIndex) {
  auto index = MakeIndex(1, "test", SmallWriteAhead());
  const auto base = Many("base");
  PutAll(*index, base);
  rocksdb::WriteBatch batch;
  ASSERT_OK_AND_ASSIGN(auto root, index->Stage(batch, WriteAhead()));
  std::string replayed;
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), MarkerKey(0), &replayed).ok());
  ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  index->Committed(root);
  const std::size_t keys_committed = KeysInDb();

  // A replayed marker: found, but what it lists is in use.
  ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), MarkerKey(0), replayed).ok());
  {
    auto reopened = MakeIndex(1, "test", SmallWriteAhead());
    ASSERT_OK(reopened->Load(root));
    ASSERT_OK_AND_ASSIGN(bool found, reopened->FindAbandonedBlocks());
    EXPECT_TRUE(found);
    ASSERT_OK(Commit(*reopened));
    EXPECT_EQ(KeysInDb(), keys_committed) << "the replayed marker was not deleted";
    ExpectContents(reopened->root(), base);
  }

  // A crash after writing ahead, then marker 0 altered: the blocks it lists stay, the
  // rest are swept, and the index reads as before.
  auto crashed = MakeIndex(1, "test", SmallWriteAhead());
  ASSERT_OK(crashed->Load(root));
  PutAll(*crashed, Many("a"));
  rocksdb::WriteBatch lost;
  ASSERT_OK_AND_ASSIGN(auto unused, crashed->Stage(lost, WriteAhead()));
  (void)unused;
  crashed.reset();
  ASSERT_TRUE(Exists(MarkerKey(2)));
  std::string marker0;
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), MarkerKey(0), &marker0).ok());
  std::string altered = marker0;
  altered[altered.size() / 2] ^= 0x01;
  ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), MarkerKey(0), altered).ok());
  const std::size_t keys_crashed = KeysInDb();
  {
    auto reopened = MakeIndex(1, "test", SmallWriteAhead());
    ASSERT_OK(reopened->Load(root));
    ASSERT_OK_AND_ASSIGN(bool found, reopened->FindAbandonedBlocks());
    EXPECT_TRUE(found);
    ASSERT_OK(Commit(*reopened));
    EXPECT_FALSE(Exists(MarkerKey(0)));
    EXPECT_FALSE(Exists(MarkerKey(2)));
    EXPECT_GT(KeysInDb(), keys_committed) << "the blocks an altered marker lists were deleted";
    EXPECT_LT(KeysInDb(), keys_crashed - 2) << "the blocks of authentic markers were not swept";
    ExpectContents(reopened->root(), base);
  }

  // Marker 0 gone: the sweep finds nothing and changes nothing.
  auto crashed_again = MakeIndex(1, "test", SmallWriteAhead());
  ASSERT_OK(crashed_again->Load(root));
  PutAll(*crashed_again, Many("b"));
  rocksdb::WriteBatch lost_again;
  ASSERT_OK_AND_ASSIGN(unused, crashed_again->Stage(lost_again, WriteAhead()));
  crashed_again.reset();
  ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), MarkerKey(0)).ok());
  auto reopened = MakeIndex(1, "test", SmallWriteAhead());
  ASSERT_OK(reopened->Load(root));
  ASSERT_OK_AND_ASSIGN(bool found, reopened->FindAbandonedBlocks());
  EXPECT_FALSE(found);
  ExpectContents(root, base);
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
