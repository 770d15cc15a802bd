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
// Keys are hashed into partitions so a search reads only the segments of the
// partitions its words fall in.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

  // `name` separates the associated data of different indexes in one vault.
  EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                 crypto::SymmetricKey key, crypto::Bytes vault_id);

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

  // Writes staged changes as new segments (merging where due) into `batch` and returns
  // the root to store with it. Call Committed(root) once the batch is durable, or
  // Abandon() if it was not.
  Result<format::v1::IndexRoot> Stage(rocksdb::WriteBatch& batch);
  void Committed(const format::v1::IndexRoot& root);
  void Abandon();

 private:
  Result<std::shared_ptr<const EntryMap>> LoadSegment(const std::string& id);
  crypto::Bytes SegmentAd(std::string_view id) const;
  std::string SealSegment(const std::string& id, const EntryMap& entries) const;

  std::string name_;
  std::size_t partitions_;
  rocksdb::DB* db_;
  crypto::SymmetricKey key_;
  crypto::Bytes vault_id_;
  format::v1::IndexRoot root_;
  std::map<std::size_t, EntryMap> staged_;
  std::map<std::string, std::shared_ptr<const EntryMap>> cache_;
  std::vector<std::string> pending_deletes_;
  bool rewrite_all_ = false;
};

}  // namespace evault::vault
