#include "vault/index.h"

#include <algorithm>
#include <set>

#include <fmt/core.h>

#include "crypto/aead.h"
#include "crypto/padding.h"
#include "crypto/secret_bytes.h"

namespace evault::vault {

using crypto::Bytes;
using crypto::ByteView;
using format::v1::SegmentRef;

namespace {

// A block is sealed exactly as a whole segment was before blocks existed, so a segment
// written then reads as a segment of one block.
constexpr std::string_view kBlockLabel = "evault-index-segment-v1";
constexpr std::string_view kHeaderLabel = "evault-index-header-v1";
constexpr std::string_view kMarkerLabel = "evault-index-write-ahead-v1";
constexpr std::size_t kIdBytes = 16;
// Per-entry bookkeeping, so the cache bound counts more than the characters.
constexpr std::size_t kEntryOverhead = 64;
// Legacy one-piece segments up to this many entries are left as they are.
constexpr std::uint64_t kLegacySplitEntries = 2048;

std::string NewId() { return std::string(crypto::AsText(crypto::RandomBytes(kIdBytes))); }

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

// --- BlockCache -----------------------------------------------------------------------

std::shared_ptr<const EncryptedIndex::Block> EncryptedIndex::BlockCache::Find(const std::string& id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->block;
}

void EncryptedIndex::BlockCache::Insert(const std::string& id, std::shared_ptr<const Block> block,
                                        std::size_t bytes) {
  if (bytes > capacity_ || slots_.contains(id)) return;
  while (bytes_ + bytes > capacity_ && !order_.empty()) Erase(order_.back().id);
  order_.push_front(Slot{id, std::move(block), bytes});
  slots_[id] = order_.begin();
  bytes_ += bytes;
}

void EncryptedIndex::BlockCache::Erase(const std::string& id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  bytes_ -= it->second->bytes;
  order_.erase(it->second);
  slots_.erase(it);
}

// --- Cursor: one segment (or the staged changes) in key order ---------------------------

class EncryptedIndex::Cursor {
 public:
  Cursor(EncryptedIndex& index, std::shared_ptr<const Header> header, bool keep)
      : index_(index), header_(std::move(header)), keep_(keep) {}
  // Over entries already in memory (the staged changes).
  Cursor(EncryptedIndex& index, std::shared_ptr<const Block> block)
      : index_(index), header_(std::make_shared<Header>()), keep_(false), block_(std::move(block)) {}

  // Positions at the first entry whose key is >= `key`.
  Status Seek(std::string_view key) {
    if (!header_->empty()) {
      auto after = std::upper_bound(header_->begin(), header_->end(), key,
                                    [](std::string_view k, const BlockRef& b) { return k < b.first_key; });
      EVAULT_TRY(LoadAt(after == header_->begin() ? 0 : static_cast<std::size_t>(after - header_->begin()) - 1));
    }
    if (!block_) return Ok();
    pos_ = static_cast<std::size_t>(
        std::lower_bound(block_->begin(), block_->end(), key,
                         [](const auto& entry, std::string_view k) { return entry.first < k; }) -
        block_->begin());
    if (pos_ == block_->size()) return LoadAt(block_index_ + 1);
    return Ok();
  }

  bool valid() const { return block_ && pos_ < block_->size(); }
  const std::string& key() const { return (*block_)[pos_].first; }
  const Entry& entry() const { return (*block_)[pos_].second; }

  Status Next() {
    if (++pos_ < block_->size()) return Ok();
    return LoadAt(block_index_ + 1);
  }

 private:
  // Moves to the start of block `i` (skipping empty blocks); past the end, invalid.
  Status LoadAt(std::size_t i) {
    pos_ = 0;
    for (; i < header_->size(); ++i) {
      EVAULT_ASSIGN_OR_RETURN(block_, index_.LoadBlock((*header_)[i].id, keep_));
      block_index_ = i;
      if (!block_->empty()) return Ok();
    }
    block_.reset();
    return Ok();
  }

  EncryptedIndex& index_;
  std::shared_ptr<const Header> header_;
  bool keep_;
  std::shared_ptr<const Block> block_;
  std::size_t block_index_ = 0;
  std::size_t pos_ = 0;
};

// --- Writer: a sorted stream of entries into sealed blocks ----------------------------

class EncryptedIndex::Writer {
 public:
  Writer(EncryptedIndex& index, rocksdb::WriteBatch& batch, const WriteFn& write_ahead)
      : index_(index), batch_(batch), write_ahead_(write_ahead) {}

  Status Add(const std::string& key, const Entry& e) {
    if (block_.entries_size() == 0) first_key_ = key;
    auto* entry = block_.add_entries();
    entry->set_key(key);
    if (e.deleted) {
      entry->set_deleted(true);
    } else {
      entry->set_value(e.value);
    }
    block_bytes_ += key.size() + e.value.size() + 8;
    ++entries_;
    if (block_bytes_ >= index_.options_.block_bytes) return FlushBlock();
    return Ok();
  }

  // The new segment, or nullopt if nothing was added. The blocks join the commit's
  // batch only while all a Stage puts there stays within write_ahead_bytes; otherwise
  // (and once any block of this segment was written ahead) they are written ahead too.
  Result<std::optional<SegmentRef>> Finish() {
    EVAULT_TRY(FlushBlock());
    if (!wrote_ahead_ && index_.batch_block_bytes_ + blocks_bytes_ <= index_.options_.write_ahead_bytes) {
      for (const auto& [id, sealed] : blocks_) batch_.Put(id, sealed);
      index_.batch_block_bytes_ += blocks_bytes_;
    } else if (!blocks_.empty()) {
      EVAULT_TRY(index_.WriteAhead(blocks_, write_ahead_));
    }
    blocks_.clear();
    if (header_.blocks_size() == 0) return std::nullopt;
    SegmentRef ref;
    ref.set_entries(entries_);
    if (header_.blocks_size() == 1) {
      ref.set_id(header_.blocks(0).id());
      return ref;
    }
    const std::string id = NewId();
    batch_.Put(id, index_.Seal(kHeaderLabel, id, header_));
    ref.set_id(id);
    ref.set_blocked(true);
    return ref;
  }

 private:
  Status FlushBlock() {
    if (block_.entries_size() == 0) return Ok();
    const std::string id = NewId();
    blocks_.emplace_back(id, index_.Seal(kBlockLabel, id, block_));
    blocks_bytes_ += blocks_.back().second.size();
    auto* ref = header_.add_blocks();
    ref->set_first_key(first_key_);
    ref->set_id(id);
    ref->set_entries(static_cast<std::uint64_t>(block_.entries_size()));
    block_.Clear();
    block_bytes_ = 0;
    if (blocks_bytes_ < index_.options_.write_ahead_bytes) return Ok();
    EVAULT_TRY(index_.WriteAhead(blocks_, write_ahead_));
    blocks_.clear();
    blocks_bytes_ = 0;
    wrote_ahead_ = true;
    return Ok();
  }

  EncryptedIndex& index_;
  rocksdb::WriteBatch& batch_;
  const WriteFn& write_ahead_;
  format::v1::IndexSegment block_;
  std::size_t block_bytes_ = 0;
  std::string first_key_;
  // Sealed blocks (id, value) not yet written: at most about write_ahead_bytes.
  std::vector<std::pair<std::string, std::string>> blocks_;
  std::size_t blocks_bytes_ = 0;
  bool wrote_ahead_ = false;
  format::v1::IndexSegmentHeader header_;
  std::uint64_t entries_ = 0;
};

// --- EncryptedIndex ---------------------------------------------------------------------

EncryptedIndex::EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                               crypto::SymmetricKey key, Bytes vault_id)
    : EncryptedIndex(std::move(name), partitions, db, std::move(key), std::move(vault_id), Options()) {}

EncryptedIndex::EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                               crypto::SymmetricKey key, Bytes vault_id, Options options)
    : name_(std::move(name)),
      partitions_(partitions),
      db_(db),
      key_(std::move(key)),
      marker_names_(crypto::DeriveSubkey(key_, crypto::KeyPurpose::kStorageNames)),
      vault_id_(std::move(vault_id)),
      options_(options),
      cache_(options.cache_bytes) {
  for (std::size_t i = 0; i < partitions_; ++i) root_.add_partitions();
}

EncryptedIndex::~EncryptedIndex() = default;

Status EncryptedIndex::Load(const format::v1::IndexRoot& root) {
  if (root.partitions_size() != 0 && static_cast<std::size_t>(root.partitions_size()) != partitions_) {
    return Fail(ErrorCode::kCorrupt, fmt::format("the {} index has the wrong number of partitions", name_));
  }
  root_ = root;
  while (static_cast<std::size_t>(root_.partitions_size()) < partitions_) root_.add_partitions();
  staged_.clear();
  return Ok();
}

Bytes EncryptedIndex::Ad(std::string_view label, std::string_view id) const {
  Bytes ad;
  crypto::AppendField(ad, crypto::AsBytes(label));
  crypto::AppendField(ad, vault_id_);
  crypto::AppendField(ad, crypto::AsBytes(name_));
  crypto::AppendField(ad, crypto::AsBytes(id));
  return ad;
}

std::string EncryptedIndex::Seal(std::string_view label, const std::string& id,
                                 const google::protobuf::MessageLite& message) const {
  crypto::SecretBytes plain(message.ByteSizeLong());
  message.SerializeToArray(plain.data(), static_cast<int>(plain.size()));
  return Seal(label, id, plain.span());
}

std::string EncryptedIndex::Seal(std::string_view label, const std::string& id, ByteView plain) const {
  crypto::SecretBytes padded = crypto::Pad(plain);
  Bytes sealed = crypto::AeadSeal(key_, padded.span(), Ad(label, id));
  return std::string(sealed.begin(), sealed.end());
}

std::string EncryptedIndex::MarkerKey(std::size_t n) const {
  return std::string(crypto::AsText(crypto::KeyedHash(marker_names_, crypto::AsBytes(fmt::format("{}/pending/{}", name_, n)))));
}

Status EncryptedIndex::WriteAhead(const std::vector<std::pair<std::string, std::string>>& blocks,
                                  const WriteFn& write_ahead) {
  rocksdb::WriteBatch batch;
  std::string ids;
  for (const auto& [id, sealed] : blocks) {
    batch.Put(id, sealed);
    ids += id;
  }
  const std::string marker = MarkerKey(markers_);
  batch.Put(marker, Seal(kMarkerLabel, marker, crypto::AsBytes(ids)));
  // Counted before the write: a write that failed may still have reached the disk.
  ++markers_;
  for (const auto& [id, sealed] : blocks) written_ahead_.push_back(id);
  return write_ahead(batch);
}

Result<std::string> EncryptedIndex::ReadSealed(const std::string& id, std::string_view what) {
  rocksdb::PinnableSlice raw;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), id, &raw);
  if (s.IsNotFound()) {
    return Fail(ErrorCode::kCorrupt, fmt::format("a {} of the {} index is missing", what, name_));
  }
  EVAULT_TRY(ReadStatus(s));
  return raw.ToString();
}

Status EncryptedIndex::ReadStatus(const rocksdb::Status& s) const {
  if (s.IsCorruption()) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} index is damaged: {}", name_, s.ToString()));
  }
  if (!s.ok()) {
    return Fail(s.IsNoSpace() ? ErrorCode::kNoSpace : ErrorCode::kIo,
                fmt::format("reading the {} index failed: {}", name_, s.ToString()));
  }
  return Ok();
}

Result<std::shared_ptr<const EncryptedIndex::Header>> EncryptedIndex::LoadHeader(const SegmentRef& segment) {
  if (auto it = headers_.find(segment.id()); it != headers_.end()) return it->second;
  auto header = std::make_shared<Header>();
  if (!segment.blocked()) {
    header->push_back({"", segment.id()});
  } else {
    EVAULT_ASSIGN_OR_RETURN(std::string raw, ReadSealed(segment.id(), "segment header"));
    auto opened = crypto::AeadOpen(key_, crypto::AsBytes(raw), Ad(kHeaderLabel, segment.id()));
    if (!opened) {
      return Fail(ErrorCode::kTampered, fmt::format("a segment header of the {} index failed authentication", name_));
    }
    EVAULT_ASSIGN_OR_RETURN(std::size_t length, crypto::UnpaddedSize(opened->span()));
    format::v1::IndexSegmentHeader parsed;
    if (!parsed.ParseFromArray(opened->data(), static_cast<int>(length))) {
      return Fail(ErrorCode::kCorrupt, fmt::format("a segment header of the {} index is malformed", name_));
    }
    for (const auto& b : parsed.blocks()) {
      if (!header->empty() && b.first_key() <= header->back().first_key) {
        return Fail(ErrorCode::kCorrupt, fmt::format("a segment header of the {} index is out of order", name_));
      }
      header->push_back({b.first_key(), b.id()});
    }
  }
  headers_[segment.id()] = header;
  return std::shared_ptr<const Header>(header);
}

Result<std::shared_ptr<const EncryptedIndex::Block>> EncryptedIndex::LoadBlock(const std::string& id, bool keep) {
  if (auto hit = cache_.Find(id)) return hit;
  EVAULT_ASSIGN_OR_RETURN(std::string raw, ReadSealed(id, "segment"));
  auto opened = crypto::AeadOpen(key_, crypto::AsBytes(raw), Ad(kBlockLabel, id));
  if (!opened) {
    return Fail(ErrorCode::kTampered, fmt::format("a segment of the {} index failed authentication", name_));
  }
  EVAULT_ASSIGN_OR_RETURN(std::size_t length, crypto::UnpaddedSize(opened->span()));
  format::v1::IndexSegment segment;
  if (!segment.ParseFromArray(opened->data(), static_cast<int>(length))) {
    return Fail(ErrorCode::kCorrupt, fmt::format("a segment of the {} index is malformed", name_));
  }
  auto block = std::make_shared<Block>();
  block->reserve(static_cast<std::size_t>(segment.entries_size()));
  std::size_t bytes = sizeof(Block);
  for (auto& e : *segment.mutable_entries()) {
    // Cursors binary-search blocks, so order is part of the format.
    if (!block->empty() && e.key() <= block->back().first) {
      return Fail(ErrorCode::kCorrupt, fmt::format("a segment of the {} index is out of order", name_));
    }
    bytes += e.key().size() + e.value().size() + kEntryOverhead;
    const bool deleted = e.deleted();
    block->emplace_back(std::move(*e.mutable_key()), Entry{std::move(*e.mutable_value()), deleted});
  }
  if (keep) cache_.Insert(id, block, bytes);
  return std::shared_ptr<const Block>(block);
}

Result<std::vector<std::string>> EncryptedIndex::SegmentKeys(const SegmentRef& segment) {
  if (!segment.blocked()) return std::vector<std::string>{segment.id()};
  EVAULT_ASSIGN_OR_RETURN(auto header, LoadHeader(segment));
  std::vector<std::string> keys{segment.id()};
  for (const auto& b : *header) keys.push_back(b.id);
  return keys;
}

Result<std::vector<std::pair<std::string, std::string>>> EncryptedIndex::Scan(
    std::size_t partition, std::string_view prefix) {
  if (partition >= partitions_) return Fail(ErrorCode::kInternal, "index partition out of range");
  // Newest first: the first value seen for a key wins.
  std::map<std::string, Entry, std::less<>> merged;
  auto absorb = [&](Cursor& cursor) -> Status {
    EVAULT_TRY(cursor.Seek(prefix));
    for (; cursor.valid() && StartsWith(cursor.key(), prefix);) {
      merged.try_emplace(cursor.key(), cursor.entry());
      EVAULT_TRY(cursor.Next());
    }
    return Ok();
  };
  if (auto it = staged_.find(partition); it != staged_.end()) {
    for (auto at = it->second.lower_bound(prefix); at != it->second.end() && StartsWith(at->first, prefix); ++at) {
      merged.try_emplace(at->first, at->second);
    }
  }
  const auto& segments = root_.partitions(static_cast<int>(partition)).segments();
  for (int i = segments.size() - 1; i >= 0; --i) {
    EVAULT_ASSIGN_OR_RETURN(auto header, LoadHeader(segments[i]));
    Cursor cursor(*this, std::move(header), true);
    EVAULT_TRY(absorb(cursor));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, e] : merged) {
    if (!e.deleted) out.emplace_back(k, std::move(e.value));
  }
  return out;
}

Result<std::optional<std::string>> EncryptedIndex::Get(std::size_t partition, std::string_view key) {
  if (partition >= partitions_) return Fail(ErrorCode::kInternal, "index partition out of range");
  auto found = [](const Entry& e) {
    return e.deleted ? std::optional<std::string>() : std::optional<std::string>(e.value);
  };
  if (auto it = staged_.find(partition); it != staged_.end()) {
    if (auto at = it->second.find(key); at != it->second.end()) return found(at->second);
  }
  const auto& segments = root_.partitions(static_cast<int>(partition)).segments();
  for (int i = segments.size() - 1; i >= 0; --i) {  // newest first; the first hit wins
    EVAULT_ASSIGN_OR_RETURN(auto header, LoadHeader(segments[i]));
    Cursor cursor(*this, std::move(header), true);
    EVAULT_TRY(cursor.Seek(key));
    if (cursor.valid() && cursor.key() == key) return found(cursor.entry());
  }
  return std::optional<std::string>();
}

void EncryptedIndex::Put(std::size_t partition, std::string key, std::string value) {
  staged_[partition][std::move(key)] = Entry{std::move(value), false};
}

void EncryptedIndex::Delete(std::size_t partition, std::string key) {
  staged_[partition][std::move(key)] = Entry{{}, true};
}

Result<std::optional<SegmentRef>> EncryptedIndex::Merge(const EntryMap& changes,
                                                        const std::vector<SegmentRef>& older,
                                                        bool drop_tombstones, rocksdb::WriteBatch& batch,
                                                        const WriteFn& write_ahead) {
  // Sources newest first; on equal keys the newest wins and the others skip theirs.
  std::vector<Cursor> sources;
  sources.reserve(older.size() + 1);
  auto staged = std::make_shared<Block>(changes.begin(), changes.end());
  sources.emplace_back(*this, std::move(staged));
  for (const auto& segment : older) {
    EVAULT_ASSIGN_OR_RETURN(auto header, LoadHeader(segment));
    sources.emplace_back(*this, std::move(header), false);
    EVAULT_TRY(sources.back().Seek(""));
  }
  Writer writer(*this, batch, write_ahead);
  while (true) {
    Cursor* newest = nullptr;
    for (auto& source : sources) {
      if (source.valid() && (newest == nullptr || source.key() < newest->key())) newest = &source;
    }
    if (newest == nullptr) break;
    const std::string key = newest->key();
    if (!(drop_tombstones && newest->entry().deleted)) EVAULT_TRY(writer.Add(key, newest->entry()));
    for (auto& source : sources) {
      if (source.valid() && source.key() == key) EVAULT_TRY(source.Next());
    }
  }
  return writer.Finish();
}

std::size_t EncryptedIndex::oversized_legacy_segments() const {
  std::size_t n = 0;
  for (const auto& partition : root_.partitions()) {
    for (const auto& segment : partition.segments()) {
      if (!segment.blocked() && segment.entries() > kLegacySplitEntries) ++n;
    }
  }
  return n;
}

Status EncryptedIndex::SplitOneLegacySegment(format::v1::IndexRoot& next, rocksdb::WriteBatch& batch,
                                             const WriteFn& write_ahead, std::vector<SegmentRef>& replaced) {
  for (auto& partition : *next.mutable_partitions()) {
    for (auto& segment : *partition.mutable_segments()) {
      if (segment.blocked() || segment.entries() <= kLegacySplitEntries) continue;
      EVAULT_ASSIGN_OR_RETURN(auto blocked, Merge({}, {segment}, /*drop_tombstones=*/false, batch, write_ahead));
      if (!blocked) return Fail(ErrorCode::kCorrupt, fmt::format("a segment of the {} index is empty", name_));
      replaced.push_back(segment);
      segment = std::move(*blocked);  // same place in the list: same age
      return Ok();
    }
  }
  return Ok();
}

Result<format::v1::IndexRoot> EncryptedIndex::Stage(rocksdb::WriteBatch& batch, const WriteFn& write_ahead) {
  format::v1::IndexRoot next = root_;
  pending_deletes_.clear();
  batch_block_bytes_ = 0;
  if (rewrite_all_) {
    for (std::size_t p = 0; p < partitions_; ++p) staged_[p];
  }
  std::vector<SegmentRef> merged_away;
  if (std::exchange(split_legacy_, false) && staged_.empty()) {
    EVAULT_TRY(SplitOneLegacySegment(next, batch, write_ahead, merged_away));
  }
  for (auto& [partition, changes] : staged_) {
    auto* segments = next.mutable_partitions(static_cast<int>(partition))->mutable_segments();
    // Merge while the previous segment is not much larger than what is merged so far.
    std::vector<SegmentRef> older;  // newest first
    std::uint64_t count = changes.size();
    while (!segments->empty() && (rewrite_all_ || segments->rbegin()->entries() <= 2 * count)) {
      older.push_back(*segments->rbegin());
      count += segments->rbegin()->entries();
      segments->RemoveLast();
    }
    // With nothing older left, tombstones have done their job.
    EVAULT_ASSIGN_OR_RETURN(auto fresh, Merge(changes, older, segments->empty(), batch, write_ahead));
    if (fresh) *segments->Add() = std::move(*fresh);
    merged_away.insert(merged_away.end(), older.begin(), older.end());
  }
  for (const auto& old : merged_away) {
    EVAULT_ASSIGN_OR_RETURN(auto keys, SegmentKeys(old));
    for (auto& key : keys) {
      batch.Delete(key);
      pending_deletes_.push_back(std::move(key));
    }
  }
  // What earlier stages wrote ahead in vain, and every marker: the new segments' blocks
  // are in use from this commit on.
  for (const auto& id : abandoned_) batch.Delete(id);
  for (std::size_t n = 0; n < markers_; ++n) batch.Delete(MarkerKey(n));
  return next;
}

void EncryptedIndex::Committed(const format::v1::IndexRoot& root) {
  root_ = root;
  staged_.clear();
  for (const auto& old : pending_deletes_) {
    cache_.Erase(old);
    headers_.erase(old);
  }
  pending_deletes_.clear();
  written_ahead_.clear();
  abandoned_.clear();
  markers_ = 0;
  rewrite_all_ = false;
}

void EncryptedIndex::Abandon() {
  staged_.clear();
  pending_deletes_.clear();
  // Still listed by their markers; the next commit deletes them.
  abandoned_.insert(abandoned_.end(), written_ahead_.begin(), written_ahead_.end());
  written_ahead_.clear();
  rewrite_all_ = false;
}

Result<bool> EncryptedIndex::FindAbandonedBlocks() {
  std::set<std::string> live;
  bool live_loaded = false;
  // Markers are written in order, each with its blocks, so a crash leaves 0..n-1.
  for (std::size_t n = markers_;; ++n) {
    const std::string marker = MarkerKey(n);
    rocksdb::PinnableSlice raw;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), marker, &raw);
    if (s.IsNotFound()) break;
    EVAULT_TRY(ReadStatus(s));
    markers_ = n + 1;
    auto opened = crypto::AeadOpen(key_, crypto::AsBytes(std::string_view(raw.data(), raw.size())), Ad(kMarkerLabel, marker));
    if (!opened) continue;  // not ours to trust: only the marker goes
    auto length = crypto::UnpaddedSize(opened->span());
    if (!length || *length % kIdBytes != 0) continue;
    if (!live_loaded) {
      for (const auto& partition : root_.partitions()) {
        for (const auto& segment : partition.segments()) {
          EVAULT_ASSIGN_OR_RETURN(auto keys, SegmentKeys(segment));
          live.insert(keys.begin(), keys.end());
        }
      }
      live_loaded = true;
    }
    const std::string_view ids(reinterpret_cast<const char*>(opened->data()), *length);
    for (std::size_t at = 0; at < ids.size(); at += kIdBytes) {
      std::string id(ids.substr(at, kIdBytes));
      if (!live.contains(id)) abandoned_.push_back(std::move(id));
    }
  }
  return markers_ > 0;
}

}  // namespace evault::vault
