// The CRC32C that replaces librocksdb.a's (vault/rocksdb_crc32c.h) must be the same
// function: a different value would make RocksDB refuse, or worse silently drop as a torn
// tail, what an earlier build wrote.

#include "vault/rocksdb_crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "crypto/bytes.h"
#include "crypto/digest.h"
#include "tests/vault/test_util.h"
#include "vault/vault.h"

namespace rocksdb::crc32c {
std::uint32_t Extend(std::uint32_t init_crc, const char* data, std::size_t n);
std::uint32_t Crc32cCombine(std::uint32_t crc1, std::uint32_t crc2, std::size_t crc2len);
}  // namespace rocksdb::crc32c

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using testing::Passphrase;

std::uint32_t Value(const std::string& s) { return rocksdb::crc32c::Extend(0, s.data(), s.size()); }

// The textbook definition, a bit at a time: the oracle.
std::uint32_t BitwiseCrc32c(const std::string& s) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return crc ^ 0xffffffffu;
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(RocksDbCrc32cTest, KnownVectors) {
  // RFC 3720 appendix B.4, and the check value of CRC-32C; RocksDB's crc32c_test uses these.
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Value(ascending), 0x46dd794eu);
  EXPECT_EQ(Value(descending), 0x113fdb5cu);
  EXPECT_EQ(Value(""), 0u);
}

TEST(RocksDbCrc32cTest, EveryLengthAlignmentAndSplitMatchesTheDefinition) {
  std::mt19937_64 rng(20261127);
  const std::string buffer = RandomBytes(rng, 4200);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096, 4100}) {
      const std::string s = buffer.substr(offset, n);
      ASSERT_EQ(Value(s), BitwiseCrc32c(s)) << "offset " << offset << " length " << n;
      const std::size_t split = rng() % (n + 1);
      const std::uint32_t head = rocksdb::crc32c::Extend(0, s.data(), split);
      ASSERT_EQ(rocksdb::crc32c::Extend(head, s.data() + split, n - split), BitwiseCrc32c(s))
          << "offset " << offset << " length " << n << " split at " << split;
    }
  }
}

TEST(RocksDbCrc32cTest, CombineIsTheCrcOfTheConcatenation) {
  std::mt19937_64 rng(7);
  for (std::size_t a : {0, 1, 13, 4096}) {
    for (std::size_t b : {0, 1, 8, 255, 65536, 1 << 20}) {
      const std::string first = RandomBytes(rng, a), second = RandomBytes(rng, b);
      EXPECT_EQ(rocksdb::crc32c::Crc32cCombine(Value(first), Value(second), second.size()), Value(first + second))
          << a << " then " << b << " bytes";
    }
  }
}

TEST(RocksDbCrc32cTest, UsesTheCrc32InstructionWhereTheCpuHasIt) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  EXPECT_EQ(RocksDbCrc32cIsHardware(), __builtin_cpu_supports("sse4.2") != 0);
#else
  EXPECT_FALSE(RocksDbCrc32cIsHardware());
#endif
}

// A vault written by a build that linked librocksdb.a's own, software CRC32C (the evault
// CLI of commit ec19713): its write-ahead log, tables, blob file and MANIFEST must all
// check. A log record that failed its CRC would be dropped as a torn tail, so the second
// record is the witness for the log.
TEST(RocksDbCrc32cTest, OpensAVaultWrittenWithRocksDbsOwnCrc32c) {
  testing::ScopedTempDir tmp;
  const fs::path dir = tmp.path() / "vault";
  fs::copy(fs::path(EVAULT_TESTDATA_DIR) / "software-crc32c-vault", dir, fs::copy_options::recursive);

  const std::uint64_t calls_before = RocksDbCrc32cCalls();
  ASSERT_OK_AND_ASSIGN(auto vault, Vault::Open(dir, Passphrase("fixture passphrase for crc")));
  EXPECT_GT(RocksDbCrc32cCalls(), calls_before) << "RocksDB opened the vault without calling the replacement";

  ASSERT_OK_AND_ASSIGN(auto cases, vault->ListCases());
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].title, "Fixture: written with RocksDB's software CRC32C");
  ASSERT_OK_AND_ASSIGN(auto records, vault->ListRecords(std::nullopt));
  EXPECT_EQ(records.size(), 2u) << "a record in the write-ahead log was lost";

  ASSERT_OK_AND_ASSIGN(auto attachments, vault->ListAttachments("e20ad347a3af55054f74c9a80902fd33"));
  ASSERT_EQ(attachments.size(), 1u);
  crypto::Digest sha256(crypto::Digest::Algorithm::kSha256);
  std::uint64_t bytes = 0;
  ASSERT_OK(vault->ReadAttachment(attachments[0].id, [&](crypto::ByteView chunk) -> Status {
    sha256.Update(chunk);
    bytes += chunk.size();
    return {};
  }));
  EXPECT_EQ(bytes, 100000u);
  EXPECT_EQ(crypto::ToHex(sha256.Finish()), "b5ded82231f6fd0dd0ee1cd1549e704cd2d7be21367efc035bc149dd7837a84f");

  ASSERT_OK_AND_ASSIGN(auto audit, vault->VerifyAuditLog());
  EXPECT_TRUE(audit.ok()) << audit.problems.front();
}

}  // namespace
}  // namespace evault::vault
