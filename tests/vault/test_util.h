// Helpers shared by the vault tests: temp directories, fast KDF parameters, a
// deterministic byte pattern for attachments, record JSON builders and a byte scanner.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "crypto/bytes.h"
#include "crypto/digest.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secret_bytes.h"
#include "crypto/status.h"
#include "vault/vault.h"

namespace evault {

// So that gtest prints error codes by name.
inline std::ostream& operator<<(std::ostream& os, ErrorCode code) { return os << ErrorCodeName(code); }

}  // namespace evault

namespace evault::vault::testing {

namespace fs = std::filesystem;

// Result/Status helpers: fail the test with the error's code and message.
#define VT_CONCAT_INNER_(a, b) a##b
#define VT_CONCAT_(a, b) VT_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(decl, expr)                                              \
  auto VT_CONCAT_(vt_result_, __LINE__) = (expr);                                     \
  ASSERT_TRUE(VT_CONCAT_(vt_result_, __LINE__).has_value())                           \
      << #expr << " failed: " << VT_CONCAT_(vt_result_, __LINE__).error().code << ": " \
      << VT_CONCAT_(vt_result_, __LINE__).error().message;                            \
  decl = std::move(*VT_CONCAT_(vt_result_, __LINE__))
#define ASSERT_OK(expr)                                                                       \
  do {                                                                                        \
    const auto& vt_status_ = (expr);                                                                 \
    ASSERT_TRUE(vt_status_.has_value())                                                       \
        << #expr << " failed: " << vt_status_.error().code << ": " << vt_status_.error().message; \
  } while (0)
#define EXPECT_OK(expr)                                                                       \
  do {                                                                                        \
    const auto& vt_status_ = (expr);                                                                 \
    EXPECT_TRUE(vt_status_.has_value())                                                       \
        << #expr << " failed: " << vt_status_.error().code << ": " << vt_status_.error().message; \
  } while (0)
// Expects `expr` to fail with `code`.
#define EXPECT_ERROR(expr, expected_code)                                          \
  do {                                                                             \
    const auto& vt_status_ = (expr);                                                      \
    EXPECT_FALSE(vt_status_.has_value()) << #expr << " succeeded unexpectedly";    \
    if (!vt_status_.has_value()) {                                                 \
      EXPECT_EQ(vt_status_.error().code, (expected_code))                          \
          << #expr << ": " << vt_status_.error().message;                          \
    }                                                                              \
  } while (0)

// The cheapest parameters the KDF floor allows, so tests stay fast.
inline crypto::PassphraseKdfParams FastKdf() { return crypto::PassphraseKdfParams::New(2, 64ull << 20); }

inline crypto::SecretBytes Passphrase(std::string_view text) { return crypto::SecretBytes::CopyFrom(text); }

inline constexpr std::string_view kPassphrase = "correct horse battery staple";

// A fresh directory under ::testing::TempDir(), removed with everything in it.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = ::testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
    tmpl += "evault-vt-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << tmpl << ") failed: " << std::strerror(errno);
      return;
    }
    path_ = buf.data();
  }
  ~ScopedTempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Creates a vault in `dir` and opens it.
inline std::unique_ptr<Vault> CreateAndOpen(const fs::path& dir,
                                            std::string_view passphrase = kPassphrase) {
  auto created = Vault::Create(dir, Passphrase(passphrase), FastKdf());
  EXPECT_TRUE(created.has_value()) << "Create: " << created.error().message;
  if (!created) return nullptr;
  auto opened = Vault::Open(dir, Passphrase(passphrase));
  EXPECT_TRUE(opened.has_value()) << "Open: " << opened.error().message;
  if (!opened) return nullptr;
  return std::move(*opened);
}

inline std::unique_ptr<Vault> OpenOrNull(const fs::path& dir, std::string_view passphrase = kPassphrase) {
  auto opened = Vault::Open(dir, Passphrase(passphrase));
  EXPECT_TRUE(opened.has_value()) << "Open: " << opened.error().message;
  if (!opened) return nullptr;
  return std::move(*opened);
}

// Keys in one column family of a closed vault, read straight from RocksDB: the default
// family (objects, index, root) or the chunks.
enum class Family { kDefault = 0, kChunks = 1 };
inline std::size_t CountKeys(const fs::path& vault_dir, Family family) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}, {"chunks", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), (vault_dir / "db").string(), families, &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return SIZE_MAX;
  std::size_t count = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[static_cast<int>(family)]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++count;
  it.reset();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return count;
}
inline std::size_t CountChunks(const fs::path& vault_dir) { return CountKeys(vault_dir, Family::kChunks); }

// A minimal valid record.
inline std::string SimpleRecord(std::string_view title, std::string_view narrative = "") {
  nlohmann::json j = {{"kind", "event"}, {"title", std::string(title)}};
  if (!narrative.empty()) j["narrative"] = std::string(narrative);
  return j.dump();
}

// Deterministic, non-trivial content: byte `offset` of stream `seed` (splitmix64 of the
// 8-byte word index). Any range can be regenerated without holding the rest.
inline std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline void FillPattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t word = SplitMix64(seed * 0x100000001B3ull ^ (pos >> 3));
    std::size_t k = pos & 7;
    for (; k < 8 && i < out.size(); ++k, ++i) out[i] = static_cast<std::uint8_t>(word >> (8 * k));
  }
}
inline crypto::Bytes Pattern(std::uint64_t seed, std::size_t size) {
  crypto::Bytes out(size);
  FillPattern(seed, 0, out);
  return out;
}

inline void WriteFile(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}
inline void WriteFile(const fs::path& path, crypto::ByteView content) {
  WriteFile(path, crypto::AsText(content));
}
inline std::string ReadFileOrEmpty(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Reads an attachment into memory (small attachments only).
inline Result<crypto::Bytes> ReadAll(Vault& vault, std::string_view attachment_id) {
  crypto::Bytes out;
  auto status = vault.ReadAttachment(attachment_id, [&](crypto::ByteView chunk) -> Status {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return Ok();
  });
  if (!status) return std::unexpected(status.error());
  return out;
}

inline std::string Sha256Hex(crypto::ByteView bytes) { return crypto::ToHex(crypto::Digest::Sha256(bytes)); }

// Which of `needles` occur anywhere in the file (streamed, so large files are fine).
// Returns false in `readable` if the file could not be opened.
inline std::vector<std::string> FindNeedlesInFile(const fs::path& path,
                                                  const std::vector<std::string>& needles,
                                                  bool* readable = nullptr) {
  std::vector<std::string> found;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (readable) *readable = fd >= 0;
  if (fd < 0) return found;
  std::size_t longest = 0;
  for (const auto& n : needles) longest = std::max(longest, n.size());
  std::vector<bool> hit(needles.size(), false);
  std::string window;  // the tail of the previous block + the current block
  std::vector<char> block(1 << 20);
  while (true) {
    const ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    window.append(block.data(), static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < needles.size(); ++i) {
      if (!hit[i] && !needles[i].empty() && window.find(needles[i]) != std::string::npos) hit[i] = true;
    }
    if (longest > 1 && window.size() > longest - 1) window.erase(0, window.size() - (longest - 1));
  }
  ::close(fd);
  for (std::size_t i = 0; i < needles.size(); ++i) {
    if (hit[i]) found.push_back(needles[i]);
  }
  return found;
}

}  // namespace evault::vault::testing
