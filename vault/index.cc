#include "vault/index.h"

#include <fmt/core.h>

#include "crypto/aead.h"
#include "crypto/padding.h"

namespace evault::vault {

using crypto::Bytes;
using crypto::ByteView;

EncryptedIndex::EncryptedIndex(std::string name, std::size_t partitions, rocksdb::DB* db,
                               crypto::SymmetricKey key, Bytes vault_id)
    : name_(std::move(name)),
      partitions_(partitions),
      db_(db),
      key_(std::move(key)),
      vault_id_(std::move(vault_id)) {
  for (std::size_t i = 0; i < partitions_; ++i) root_.add_partitions();
}

Status EncryptedIndex::Load(const format::v1::IndexRoot& root) {
  if (root.partitions_size() != 0 && static_cast<std::size_t>(root.partitions_size()) != partitions_) {
    return Fail(ErrorCode::kCorrupt, fmt::format("the {} index has the wrong number of partitions", name_));
  }
  root_ = root;
  while (static_cast<std::size_t>(root_.partitions_size()) < partitions_) root_.add_partitions();
  staged_.clear();
  return Ok();
}

Bytes EncryptedIndex::SegmentAd(std::string_view id) const {
  Bytes ad;
  crypto::AppendField(ad, crypto::AsBytes("evault-index-segment-v1"));
  crypto::AppendField(ad, vault_id_);
  crypto::AppendField(ad, crypto::AsBytes(name_));
  crypto::AppendField(ad, crypto::AsBytes(id));
  return ad;
}

std::string EncryptedIndex::SealSegment(const std::string& id, const EntryMap& entries) const {
  format::v1::IndexSegment segment;
  for (const auto& [k, e] : entries) {
    auto* entry = segment.add_entries();
    entry->set_key(k);
    if (e.deleted) {
      entry->set_deleted(true);
    } else {
      entry->set_value(e.value);
    }
  }
  crypto::SecretBytes plain(segment.ByteSizeLong());
  segment.SerializeToArray(plain.data(), static_cast<int>(plain.size()));
  crypto::SecretBytes padded = crypto::Pad(plain.span());
  Bytes sealed = crypto::AeadSeal(key_, padded.span(), SegmentAd(id));
  return std::string(sealed.begin(), sealed.end());
}

Result<std::shared_ptr<const EncryptedIndex::EntryMap>> EncryptedIndex::LoadSegment(
    const std::string& id) {
  if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  rocksdb::PinnableSlice raw;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), id, &raw);
  if (s.IsNotFound()) {
    return Fail(ErrorCode::kCorrupt, fmt::format("a segment of the {} index is missing", name_));
  }
  if (s.IsCorruption()) {
    return Fail(ErrorCode::kTampered, fmt::format("the {} index is damaged: {}", name_, s.ToString()));
  }
  if (!s.ok()) {
    return Fail(s.IsNoSpace() ? ErrorCode::kNoSpace : ErrorCode::kIo,
                fmt::format("reading the {} index failed: {}", name_, s.ToString()));
  }
  auto opened = crypto::AeadOpen(key_, ByteView(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()),
                                 SegmentAd(id));
  if (!opened) {
    return Fail(ErrorCode::kTampered, fmt::format("a segment of the {} index failed authentication", name_));
  }
  EVAULT_ASSIGN_OR_RETURN(std::size_t length, crypto::UnpaddedSize(opened->span()));
  format::v1::IndexSegment segment;
  if (!segment.ParseFromArray(opened->data(), static_cast<int>(length))) {
    return Fail(ErrorCode::kCorrupt, fmt::format("a segment of the {} index is malformed", name_));
  }
  auto entries = std::make_shared<EntryMap>();
  for (const auto& e : segment.entries()) {
    (*entries)[e.key()] = Entry{e.value(), e.deleted()};
  }
  cache_[id] = entries;
  return std::shared_ptr<const EntryMap>(entries);
}

Result<std::vector<std::pair<std::string, std::string>>> EncryptedIndex::Scan(
    std::size_t partition, std::string_view prefix) {
  if (partition >= partitions_) return Fail(ErrorCode::kInternal, "index partition out of range");
  // Newest first: the first value seen for a key wins.
  std::map<std::string, Entry, std::less<>> merged;
  auto absorb = [&](const EntryMap& entries) {
    for (auto it = entries.lower_bound(prefix); it != entries.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      merged.try_emplace(it->first, it->second);
    }
  };
  if (auto it = staged_.find(partition); it != staged_.end()) absorb(it->second);
  const auto& segments = root_.partitions(static_cast<int>(partition)).segments();
  for (int i = segments.size() - 1; i >= 0; --i) {
    EVAULT_ASSIGN_OR_RETURN(auto entries, LoadSegment(segments[i].id()));
    absorb(*entries);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, e] : merged) {
    if (!e.deleted) out.emplace_back(k, std::move(e.value));
  }
  return out;
}

Result<std::optional<std::string>> EncryptedIndex::Get(std::size_t partition, std::string_view key) {
  EVAULT_ASSIGN_OR_RETURN(auto found, Scan(partition, key));
  for (auto& [k, v] : found) {
    if (k == key) return std::optional<std::string>(std::move(v));
  }
  return std::optional<std::string>();
}

void EncryptedIndex::Put(std::size_t partition, std::string key, std::string value) {
  staged_[partition][std::move(key)] = Entry{std::move(value), false};
}

void EncryptedIndex::Delete(std::size_t partition, std::string key) {
  staged_[partition][std::move(key)] = Entry{{}, true};
}

Result<format::v1::IndexRoot> EncryptedIndex::Stage(rocksdb::WriteBatch& batch) {
  format::v1::IndexRoot next = root_;
  pending_deletes_.clear();
  if (rewrite_all_) {
    for (std::size_t p = 0; p < partitions_; ++p) staged_[p];
  }
  for (auto& [partition, changes] : staged_) {
    auto* segments = next.mutable_partitions(static_cast<int>(partition))->mutable_segments();
    std::string id(crypto::AsText(crypto::RandomBytes(16)));
    auto fresh = std::make_shared<EntryMap>(changes);
    std::uint64_t count = fresh->size();
    // Merge while the previous segment is not much larger than the new one.
    while (!segments->empty() && (rewrite_all_ || segments->rbegin()->entries() <= 2 * count)) {
      const std::string older_id = segments->rbegin()->id();
      EVAULT_ASSIGN_OR_RETURN(auto older, LoadSegment(older_id));
      for (const auto& [k, e] : *older) fresh->try_emplace(k, e);  // newer wins
      segments->RemoveLast();
      pending_deletes_.push_back(older_id);
      if (segments->empty()) {  // merged into the oldest: tombstones have done their job
        std::erase_if(*fresh, [](const auto& kv) { return kv.second.deleted; });
      }
      count = fresh->size();
    }
    batch.Put(id, SealSegment(id, *fresh));
    auto* ref = segments->Add();
    ref->set_id(id);
    ref->set_entries(count);
    cache_[id] = fresh;
  }
  for (const auto& old : pending_deletes_) batch.Delete(old);
  return next;
}

void EncryptedIndex::Committed(const format::v1::IndexRoot& root) {
  root_ = root;
  staged_.clear();
  for (const auto& old : pending_deletes_) cache_.erase(old);
  pending_deletes_.clear();
  rewrite_all_ = false;
}

void EncryptedIndex::Abandon() {
  staged_.clear();
  pending_deletes_.clear();
  rewrite_all_ = false;
}

}  // namespace evault::vault
