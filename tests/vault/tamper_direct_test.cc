// Tampering through RocksDB itself (valid checksums, so only the vault's own
// authentication can notice): attachment chunks swapped between attachments or within
// one, truncated, altered or deleted; stored objects swapped, truncated or deleted.
#include "vault/object.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "evault_format.pb.h"
#include "tests/vault/test_util.h"
#include "tests/vault/vault_snapshot.h"
#include "vault/header.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using testing::Passphrase;
using testing::ScopedTempDir;

// Direct access to the vault's database while the vault is closed.
class RawDb {
 public:
  explicit RawDb(const fs::path& vault_dir) {
    rocksdb::DBOptions options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"chunks", rocksdb::ColumnFamilyOptions()},
    };
    families[1].options.enable_blob_files = true;
    rocksdb::DB* raw = nullptr;
    status_ = rocksdb::DB::Open(options, (vault_dir / kDatabaseDirName).string(), families, &handles_, &raw);
    db_.reset(raw);
  }
  ~RawDb() {
    if (db_) {
      for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
      db_->Close();
    }
  }
  const rocksdb::Status& status() const { return status_; }
  rocksdb::ColumnFamilyHandle* objects() { return handles_[0]; }
  rocksdb::ColumnFamilyHandle* chunks() { return handles_[1]; }

  std::vector<std::pair<std::string, std::string>> All(rocksdb::ColumnFamilyHandle* cf) {
    std::vector<std::pair<std::string, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.emplace_back(it->key().ToString(), it->value().ToString());
    return out;
  }
  void Put(rocksdb::ColumnFamilyHandle* cf, const std::string& k, const std::string& v) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), cf, k, v).ok());
  }
  void Delete(rocksdb::ColumnFamilyHandle* cf, const std::string& k) {
    ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), cf, k).ok());
  }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

class TamperDirectTest : public ::testing::Test {
 protected:
  // Builds a fresh vault in `dir`: `chunked` attachment sizes on one record each.
  void Build(const fs::path& dir, const std::vector<std::size_t>& sizes) {
    ASSERT_OK(Vault::Create(dir, Passphrase(testing::kPassphrase), testing::FastKdf()));
    ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(dir, Passphrase(testing::kPassphrase)));
    ASSERT_OK_AND_ASSIGN(CaseInfo c, vault->CreateCase("case", {"tag"}));
    ids_.cases = {c.id};
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_OK_AND_ASSIGN(RecordRevision r,
                           vault->AddRecord(c.id, testing::SimpleRecord("record " + std::to_string(i), "word")));
      ids_.records.push_back(r.record_id);
      const fs::path file = tmp_.path() / ("file" + std::to_string(i));
      testing::WriteFile(file, testing::Pattern(100 + i, sizes[i]));
      ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault->AddAttachment(r.record_id, file));
      ids_.attachments.push_back(a.id);
    }
    ASSERT_OK(vault->EditRecord(ids_.records[0], testing::SimpleRecord("edited", "word")));
    // Every token of every record, so every search segment is read back.
    ids_.words = {"word", "edited", "record", "event"};
    for (std::size_t i = 0; i < sizes.size(); ++i) ids_.words.push_back(std::to_string(i));
    original_ = testing::ReadEverything(*vault, ids_);
    for (const auto& [op, result] : original_) ASSERT_TRUE(result.has_value()) << op;
  }

  // Opens the vault and reads everything: each read must fail or match the original.
  // Returns how many reads failed (0 means the tampering went unnoticed).
  int ReadBack(const fs::path& dir) {
    auto opened = Vault::Open(dir, Passphrase(testing::kPassphrase));
    if (!opened) return 1000;
    const auto cmp = testing::Compare(original_, testing::ReadEverything(**opened, ids_));
    for (const auto& d : cmp.differing) ADD_FAILURE() << "wrong data returned: " << d;
    // Objects the read API never opens (a case-key announcement) are checked when they
    // are pushed: the client sends only what it signed, and the server verifies it.
    int unsigned_objects = 0;
    SyncState state(**opened);
    auto unpushed = state.Unpushed(1000, 64 << 20);
    if (!unpushed) return cmp.errors + 1;
    for (const auto& e : *unpushed) {
      if (!ObjectCodec::VerifySignature(e)) ++unsigned_objects;
    }
    return cmp.errors + unsigned_objects;
  }

  Status ReadAttachment(Vault& vault, const std::string& id) {
    return vault.ReadAttachment(id, [](crypto::ByteView) { return Ok(); });
  }

  ScopedTempDir tmp_;
  testing::VaultIds ids_;
  testing::Reads original_;
};

TEST_F(TamperDirectTest, ChunksSwappedBetweenAttachments) {
  const fs::path dir = tmp_.path() / "v";
  Build(dir, {1000, 1000});
  if (HasFatalFailure()) return;
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    auto chunks = raw.All(raw.chunks());
    ASSERT_EQ(chunks.size(), 2u);  // one chunk per attachment
    raw.Put(raw.chunks(), chunks[0].first, chunks[1].second);
    raw.Put(raw.chunks(), chunks[1].first, chunks[0].second);
  }
  ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(dir, Passphrase(testing::kPassphrase)));
  EXPECT_ERROR(ReadAttachment(*vault, ids_.attachments[0]), ErrorCode::kTampered);
  EXPECT_ERROR(ReadAttachment(*vault, ids_.attachments[1]), ErrorCode::kTampered);
  // The rest of the vault is unaffected.
  EXPECT_OK(vault->ListRecords(std::nullopt));
}

TEST_F(TamperDirectTest, ChunksReorderedTruncatedAlteredOrDeleted) {
  const fs::path dir = tmp_.path() / "v";
  Build(dir, {3u << 20});  // three full chunks
  if (HasFatalFailure()) return;
  std::vector<std::pair<std::string, std::string>> chunks;
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    chunks = raw.All(raw.chunks());
  }
  ASSERT_EQ(chunks.size(), 3u);
  const auto& id = ids_.attachments[0];
  using Edit = std::function<void(RawDb&)>;
  const std::pair<const char*, Edit> edits[] = {
      {"swap 0<->1", [&](RawDb& r) { r.Put(r.chunks(), chunks[0].first, chunks[1].second);
                                     r.Put(r.chunks(), chunks[1].first, chunks[0].second); }},
      {"swap 1<->2", [&](RawDb& r) { r.Put(r.chunks(), chunks[1].first, chunks[2].second);
                                     r.Put(r.chunks(), chunks[2].first, chunks[1].second); }},
      {"duplicate", [&](RawDb& r) { r.Put(r.chunks(), chunks[2].first, chunks[0].second); }},
      {"truncate", [&](RawDb& r) { r.Put(r.chunks(), chunks[1].first, chunks[1].second.substr(0, chunks[1].second.size() - 1)); }},
      {"truncate to nothing", [&](RawDb& r) { r.Put(r.chunks(), chunks[0].first, ""); }},
      {"extend", [&](RawDb& r) { r.Put(r.chunks(), chunks[2].first, chunks[2].second + "x"); }},
      {"flip", [&](RawDb& r) { std::string v = chunks[1].second; v[v.size() / 2] ^= 0x20;
                               r.Put(r.chunks(), chunks[1].first, v); }},
      {"delete", [&](RawDb& r) { r.Delete(r.chunks(), chunks[2].first); }},
  };
  for (const auto& [what, edit] : edits) {
    SCOPED_TRACE(what);
    {
      RawDb raw(dir);
      ASSERT_TRUE(raw.status().ok());
      for (const auto& [k, v] : chunks) raw.Put(raw.chunks(), k, v);  // restore
      edit(raw);
    }
    ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(dir, Passphrase(testing::kPassphrase)));
    std::uint64_t handed_over = 0;
    auto status = vault->ReadAttachment(id, [&](crypto::ByteView c) -> Status {
      handed_over += c.size();
      return Ok();
    });
    EXPECT_FALSE(status.has_value()) << "tampered attachment read successfully";
    if (!status) {
      EXPECT_EQ(status.error().code, ErrorCode::kTampered) << status.error().message;
    }
  }
  // Restored: reads fine again (the edits above were the only cause).
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok());
    for (const auto& [k, v] : chunks) raw.Put(raw.chunks(), k, v);
  }
  EXPECT_EQ(ReadBack(dir), 0);
}

TEST_F(TamperDirectTest, ObjectsSwappedTruncatedOrDeleted) {
  const fs::path dir = tmp_.path() / "v";
  Build(dir, {10, 20});
  if (HasFatalFailure()) return;
  // Find the object envelopes among the default family's values (the rest are index
  // segments, the root and the device keys, all opaque).
  std::vector<std::pair<std::string, std::string>> objects, all;
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    all = raw.All(raw.objects());
    for (const auto& [k, v] : all) {
      format::v1::ObjectEnvelope e;
      // Sealed objects only: public ones (membership operations) are not read by the
      // case/record/attachment API.
      if (e.ParseFromString(v) && e.object_id() == k && !e.signature().empty() && e.public_body().empty()) {
        objects.emplace_back(k, v);
      }
    }
  }
  // A case, its key announcement, three revisions (2 records + 1 edit), two attachment
  // manifests, and ten custody entries: case-create, 2 record-capture, 2
  // attachment-capture, record-edit, and the 2 record-view and 2 attachment-read of the
  // reads that took the original snapshot.
  ASSERT_EQ(objects.size(), 17u);
  auto restore = [&](RawDb& r) {
    for (const auto& [k, v] : all) r.Put(r.objects(), k, v);
  };
  int trial = 0;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    // Every object is swapped with the next; one other damage each, in rotation.
    static const char* const kDamage[] = {"truncate", "delete", "flip"};
    for (const char* what : {"swap", kDamage[i % 3]}) {
      SCOPED_TRACE(std::string(what) + " object " + std::to_string(i));
      {
        RawDb raw(dir);
        ASSERT_TRUE(raw.status().ok());
        restore(raw);
        const auto& [k, v] = objects[i];
        const auto& other = objects[(i + 1) % objects.size()];
        if (std::string(what) == "swap") {
          raw.Put(raw.objects(), k, other.second);
          raw.Put(raw.objects(), other.first, v);
        } else if (std::string(what) == "truncate") {
          raw.Put(raw.objects(), k, v.substr(0, v.size() - 10));
        } else if (std::string(what) == "delete") {
          raw.Delete(raw.objects(), k);
        } else {
          std::string bad = v;
          bad[(trial * 7919) % bad.size()] ^= 0x04;
          raw.Put(raw.objects(), k, bad);
        }
      }
      ++trial;
      EXPECT_GT(ReadBack(dir), 0) << "tampering went unnoticed";
    }
  }
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok());
    restore(raw);
  }
  EXPECT_EQ(ReadBack(dir), 0);
}

TEST_F(TamperDirectTest, EveryOpaqueValueIsAuthenticated) {
  // Flip a byte in each value of the default family in turn (objects, index segments,
  // root, device keys): something must fail, and nothing may read back different.
  const fs::path dir = tmp_.path() / "v";
  Build(dir, {10});
  if (HasFatalFailure()) return;
  std::vector<std::pair<std::string, std::string>> all;
  {
    RawDb raw(dir);
    ASSERT_TRUE(raw.status().ok());
    all = raw.All(raw.objects());
  }
  ASSERT_GE(all.size(), 5u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE("value " + std::to_string(i));
    {
      RawDb raw(dir);
      ASSERT_TRUE(raw.status().ok());
      for (const auto& [k, v] : all) raw.Put(raw.objects(), k, v);
      std::string bad = all[i].second;
      bad[bad.size() - 1 - (i % 16)] ^= 0x01;  // inside the AEAD tag or signature region
      raw.Put(raw.objects(), all[i].first, bad);
    }
    EXPECT_GT(ReadBack(dir), 0) << "a flipped value went unnoticed";
  }
}

}  // namespace
}  // namespace evault::vault
