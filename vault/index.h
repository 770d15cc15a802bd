// EncryptedIndex: a sorted key/value index kept as immutable, encrypted segments.
//
// RocksDB keys must not reveal structure (a prefix per case would show how many
// records each case has), so the catalog and the search index cannot use RocksDB's own
// ordering. Instead each transaction writes its index changes as a new small segment
// under a random id, sealed with the index key, and merges segments geometrically (an
// LSM tree in miniature: every entry is rewritten O(log n) times). The list of segments
// lives in the vault root, which each transaction replaces in the same WriteBatch, so a
// crash leaves either the old index or the new one.
//
// A segment is a sorted run cut into sealed blocks of about `block_bytes`, listed by a
// sealed header (first key and id of each block), as in an SSTable. A lookup decrypts
// one block per segment; a merge streams blocks through; decrypted blocks are kept in
// an LRU cache of at most `cache_bytes`. A run that fits one block is stored as that
// block alone, without a header.
//
// A transaction puts at most `write_ahead_bytes` of new blocks into the commit's
// WriteBatch. The rest of a merge's output (a full merge of a large index would be
// hundreds of MB there, and as much again in the memtable) is written ahead, unsynced,
// in batches of about that size, each with a sealed marker listing its block ids, so
// no crash can leave a block that no marker lists; only the header joins the commit.
// The commit's fsync makes the earlier batches durable with it, and it deletes the
// markers. Blocks whose commit never came (an abandoned transaction, a crash) are
// deleted by the next commit; after a crash FindAbandonedBlocks reads the markers at
// open. So memory does not grow with the index, except the headers (about 0.2% of it).
//
// Keys are hashed into partitions so a search reads only the segments of the
// partitions its words fall in.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "crypto/bytes.h"
#include "crypto/keys.h"
#include "crypto/status.h"
#include "evault_format.pb.h"

namespace evault::vault {

class EncryptedIndex {
 public:
  struct Entry {
    std::string value;
    bool deleted = false;
  };
  using EntryMap = std::map<std::string, Entry, std::less<>>;

  struct Options {
    std::size_t block_bytes = 32 << 10;  // plaintext target per sealed block
    std::size_t cache_bytes = 16 << 20;  // decrypted blocks kept for reuse
    std::size_t write_ahead_bytes = 1 << 20;  // a merge's output held for the commit, at most
  };
  // How blocks are written ahead of the commit: unsynced, as every other write.
  using WriteFn = std::function<Status(rocksdb::WriteBatch&)>;

  // `name` separates the associated data of different indexes in one vault.
  EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                 crypto::SymmetricKey key, crypto::Bytes vault_id);
  EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                 crypto::SymmetricKey key, crypto::Bytes vault_id, Options options);
  ~EncryptedIndex();

  std::size_t partitions() const { return partitions_; }

  // Replaces the segment lists (after opening, or after a committed transaction).
  Status Load(const format::v1::IndexRoot& root);
  const format::v1::IndexRoot& root() const { return root_; }

  // Live entries of `partition` whose key starts with `prefix`, newest segment winning
  // and staged changes included.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(std::size_t partition,
                                                                std::string_view prefix);
  Result<std::optional<std::string>> Get(std::size_t partition, std::string_view key);

  // Staged changes, visible to Scan/Get at once, durable only after Stage + commit.
  void Put(std::size_t partition, std::string key, std::string value);
  void Delete(std::size_t partition, std::string key);
  bool has_staged() const { return !staged_.empty(); }
  // Makes the next Stage merge every partition into a single segment without
  // tombstones, so nothing deleted survives in an older segment (a purge).
  void RewriteAll() { rewrite_all_ = true; }

  // Writes staged changes as new segments (merging where due) into `batch`, the blocks
  // of a large merge through `write_ahead` first, and returns the root to store with
  // it. Call Committed(root) once the batch is durable, or Abandon() if it was not.
  Result<format::v1::IndexRoot> Stage(rocksdb::WriteBatch& batch, const WriteFn& write_ahead);
  void Committed(const format::v1::IndexRoot& root);
  void Abandon();

  // After Load at open: reads the markers of blocks written ahead for a commit that
  // never came (a crash), so the next Stage deletes them with the markers. Blocks the
  // root uses are never deleted, whatever a marker says; a marker that fails
  // authentication is deleted without deleting what it lists. True if there are
  // markers, which only a commit removes.
  Result<bool> FindAbandonedBlocks();

  // Segments written before blocks existed hold a whole run in one sealed value, which
  // every lookup would decrypt whole. Their count, if larger than a few blocks:
  std::size_t oversized_legacy_segments() const;
  // Makes the next Stage, with nothing else staged, rewrite one of them as blocks (so
  // no batch holds more than one of them).
  void SplitNextLegacySegment() { split_legacy_ = true; }

  // The RocksDB keys of one segment: its header (if any) and its blocks.
  Result<std::vector<std::string>> SegmentKeys(const format::v1::SegmentRef& segment);
  // Bytes of decrypted blocks held in the cache now (for tests and benchmarks).
  std::size_t cached_bytes() const { return cache_.bytes(); }

 private:
  // One decrypted block: entries sorted by key.
  using Block = std::vector<std::pair<std::string, Entry>>;
  struct BlockRef {
    std::string first_key;
    std::string id;
  };
  using Header = std::vector<BlockRef>;  // in key order
  class Cursor;
  class Writer;

  // Least-recently-used decrypted blocks, bounded by their approximate size.
  class BlockCache {
   public:
    explicit BlockCache(std::size_t capacity) : capacity_(capacity) {}
    std::shared_ptr<const Block> Find(const std::string& id);
    void Insert(const std::string& id, std::shared_ptr<const Block> block, std::size_t bytes);
    void Erase(const std::string& id);
    std::size_t bytes() const { return bytes_; }

   private:
    struct Slot {
      std::string id;
      std::shared_ptr<const Block> block;
      std::size_t bytes;
    };
    std::size_t capacity_;
    std::size_t bytes_ = 0;
    std::list<Slot> order_;  // most recent first
    std::unordered_map<std::string, std::list<Slot>::iterator> slots_;
  };

  Result<std::shared_ptr<const Header>> LoadHeader(const format::v1::SegmentRef& segment);
  // `keep` false: read for a merge, which would only flush the cache.
  Result<std::shared_ptr<const Block>> LoadBlock(const std::string& id, bool keep);
  Result<std::string> ReadSealed(const std::string& id, std::string_view what);
  Status ReadStatus(const rocksdb::Status& s) const;  // a failed read as an error, else Ok
  crypto::Bytes Ad(std::string_view label, std::string_view id) const;
  std::string Seal(std::string_view label, const std::string& id, const google::protobuf::MessageLite& message) const;
  std::string Seal(std::string_view label, const std::string& id, crypto::ByteView plain) const;
  // RocksDB key of the write-ahead marker number `n`: a keyed hash, like every fixed name.
  std::string MarkerKey(std::size_t n) const;
  // Writes `blocks` (id, sealed) ahead of the commit, with a marker listing them.
  Status WriteAhead(const std::vector<std::pair<std::string, std::string>>& blocks, const WriteFn& write_ahead);
  Status SplitOneLegacySegment(format::v1::IndexRoot& next, rocksdb::WriteBatch& batch,
                               const WriteFn& write_ahead, std::vector<format::v1::SegmentRef>& replaced);
  // Streams the staged changes and the segments being merged away into new segments.
  Result<std::optional<format::v1::SegmentRef>> Merge(
      const EntryMap& changes, const std::vector<format::v1::SegmentRef>& older, bool drop_tombstones,
      rocksdb::WriteBatch& batch, const WriteFn& write_ahead);

  std::string name_;
  std::size_t partitions_;
  rocksdb::DB* db_;
  crypto::SymmetricKey key_;
  crypto::SymmetricKey marker_names_;  // keys the names of write-ahead markers
  crypto::Bytes vault_id_;
  Options options_;
  format::v1::IndexRoot root_;
  std::map<std::size_t, EntryMap> staged_;
  BlockCache cache_;
  std::unordered_map<std::string, std::shared_ptr<const Header>> headers_;  // of live segments
  std::vector<std::string> pending_deletes_;  // RocksDB keys of merged-away segments
  // Blocks written ahead by this Stage (the new segments'), and by stages that were
  // abandoned or cut short by a crash (for the next commit to delete).
  std::vector<std::string> written_ahead_;
  std::vector<std::string> abandoned_;
  std::size_t markers_ = 0;  // write-ahead markers 0..markers_-1 may be on disk
  std::size_t batch_block_bytes_ = 0;  // sealed blocks this Stage put in the commit's batch
  bool rewrite_all_ = false;
  bool split_legacy_ = false;
};

}  // namespace evault::vault
