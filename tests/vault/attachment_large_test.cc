// A 200 MiB attachment: byte-exact round trip, SHA-256 against an independent
// computation, and bounded memory. The work runs in a forked child (this executable
// holds only this test, so the parent has never started RocksDB threads) whose peak
// RSS is read from /proc/self/status and sent back over a pipe.
#include "vault/vault.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "crypto/digest.h"
#include "crypto/sanitizers.h"
#include "tests/vault/test_util.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using testing::ScopedTempDir;

constexpr std::uint64_t kSize = 200ull << 20;
constexpr std::uint64_t kSeed = 0x5EED;
constexpr std::uint64_t kMemoryLimitKiB = 150 * 1024;

struct ChildReport {
  char stage[64] = "started";  // where the child got to
  char error[256] = "";
  char file_sha256[65] = "";      // computed while writing the file
  char reported_sha256[65] = "";  // AttachmentInfo::sha256
  char manifest_sha256[65] = "";  // GetAttachment after the read
  char read_sha256[65] = "";      // of the bytes ReadAttachment handed over
  std::uint64_t reported_size = 0;
  std::uint64_t reported_chunks = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t mismatched_bytes = 0;
  std::uint64_t first_mismatch = ~0ull;
  std::uint64_t max_chunk = 0;
  std::uint64_t peak_rss_setup_kib = 0;  // VmHWM before the add (includes Argon2id's 64 MiB)
  std::uint64_t peak_rss_data_kib = 0;   // VmHWM during add + read (if it could be reset)
  std::uint64_t peak_rss_kib = 0;        // the larger of the two
  bool done = false;
};

std::uint64_t ReadVmHwmKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false if not permitted.
bool ResetVmHwm() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

void Copy(char* dst, std::size_t size, const std::string& src) {
  std::strncpy(dst, src.c_str(), size - 1);
  dst[size - 1] = '\0';
}

void RunChild(const fs::path& root, ChildReport& report) {
  const fs::path file = root / "evidence.mp4";
  Copy(report.stage, sizeof report.stage, "writing the file");
  {
    crypto::Digest sha(crypto::Digest::Algorithm::kSha256);
    std::vector<std::uint8_t> block(1 << 20);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Copy(report.error, sizeof report.error, "cannot create the source file");
    for (std::uint64_t off = 0; off < kSize; off += block.size()) {
      testing::FillPattern(kSeed, off, block);
      sha.Update(block);
      if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
        ::close(fd);
        return Copy(report.error, sizeof report.error, "cannot write the source file");
      }
    }
    ::close(fd);
    Copy(report.file_sha256, sizeof report.file_sha256, crypto::ToHex(sha.Finish()));
  }

  Copy(report.stage, sizeof report.stage, "creating the vault");
  const fs::path dir = root / "vault";
  auto created = Vault::Create(dir, testing::Passphrase(testing::kPassphrase), testing::FastKdf());
  if (!created) return Copy(report.error, sizeof report.error, "Create: " + created.error().message);
  auto opened = Vault::Open(dir, testing::Passphrase(testing::kPassphrase));
  if (!opened) return Copy(report.error, sizeof report.error, "Open: " + opened.error().message);
  auto& vault = **opened;
  auto c = vault.CreateCase("large", {});
  if (!c) return Copy(report.error, sizeof report.error, "CreateCase: " + c.error().message);
  auto r = vault.AddRecord(c->id, testing::SimpleRecord("large"));
  if (!r) return Copy(report.error, sizeof report.error, "AddRecord: " + r.error().message);

  report.peak_rss_setup_kib = ReadVmHwmKiB();
  const bool reset = ResetVmHwm();
  Copy(report.stage, sizeof report.stage, "adding the attachment");
  auto a = vault.AddAttachment(r->record_id, file);
  if (!a) return Copy(report.error, sizeof report.error, "AddAttachment: " + a.error().message);
  Copy(report.reported_sha256, sizeof report.reported_sha256, a->sha256);
  report.reported_size = a->size;
  report.reported_chunks = a->chunks;

  Copy(report.stage, sizeof report.stage, "reading the attachment");
  crypto::Digest read_sha(crypto::Digest::Algorithm::kSha256);
  std::vector<std::uint8_t> expected;
  std::uint64_t offset = 0;
  auto status = vault.ReadAttachment(a->id, [&](crypto::ByteView chunk) -> Status {
    expected.resize(chunk.size());
    testing::FillPattern(kSeed, offset, expected);
    if (std::memcmp(expected.data(), chunk.data(), chunk.size()) != 0) {
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        if (expected[i] != chunk[i]) {
          report.first_mismatch = std::min(report.first_mismatch, offset + i);
          ++report.mismatched_bytes;
        }
      }
    }
    read_sha.Update(chunk);
    offset += chunk.size();
    report.max_chunk = std::max<std::uint64_t>(report.max_chunk, chunk.size());
    return Ok();
  });
  report.bytes_read = offset;
  if (!status) return Copy(report.error, sizeof report.error, "ReadAttachment: " + status.error().message);
  Copy(report.read_sha256, sizeof report.read_sha256, crypto::ToHex(read_sha.Finish()));
  auto info = vault.GetAttachment(a->id);
  if (!info) return Copy(report.error, sizeof report.error, "GetAttachment: " + info.error().message);
  Copy(report.manifest_sha256, sizeof report.manifest_sha256, info->sha256);

  report.peak_rss_data_kib = reset ? ReadVmHwmKiB() : 0;
  report.peak_rss_kib = std::max(report.peak_rss_setup_kib, ReadVmHwmKiB());
  Copy(report.stage, sizeof report.stage, "done");
  report.done = true;
}

TEST(AttachmentLargeTest, TwoHundredMiBRoundTripInBoundedMemory) {
  ScopedTempDir tmp;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ChildReport report;
    RunChild(tmp.path(), report);
    const char* p = reinterpret_cast<const char*>(&report);
    std::size_t left = sizeof report;
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);  // no gtest teardown, no destructors of the parent's objects
  }
  ::close(fds[1]);
  ChildReport report;
  std::size_t got = 0;
  while (got < sizeof report) {
    const ssize_t n = ::read(fds[0], reinterpret_cast<char*>(&report) + got, sizeof report - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "child crashed (signal " << (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0) << ")";
  ASSERT_EQ(got, sizeof report) << "child sent no report";
  ASSERT_TRUE(report.done) << "child stopped while " << report.stage << ": " << report.error;

  EXPECT_EQ(report.reported_size, kSize);
  EXPECT_EQ(report.reported_chunks, kSize >> 20);
  EXPECT_EQ(report.bytes_read, kSize);
  EXPECT_EQ(report.mismatched_bytes, 0u) << "first mismatch at byte " << report.first_mismatch;
  EXPECT_LE(report.max_chunk, 1u << 20);
  EXPECT_EQ(std::strlen(report.file_sha256), 64u);
  EXPECT_STREQ(report.reported_sha256, report.file_sha256);
  EXPECT_STREQ(report.manifest_sha256, report.file_sha256);
  EXPECT_STREQ(report.read_sha256, report.file_sha256);
  EXPECT_GT(report.peak_rss_kib, 0u);
  // AddressSanitizer's quarantine keeps freed memory mapped: the bound is measured in the
  // normal build; there only the round trip is checked.
  const bool measure_memory = !crypto::kAddressSanitizer;
  if (measure_memory) {
    EXPECT_LT(report.peak_rss_kib, kMemoryLimitKiB) << "peak RSS " << report.peak_rss_kib / 1024 << " MiB";
  }
  if (measure_memory && report.peak_rss_data_kib > 0) {
    EXPECT_LT(report.peak_rss_data_kib, kMemoryLimitKiB)
        << "peak RSS while adding and reading: " << report.peak_rss_data_kib / 1024 << " MiB";
  }
  RecordProperty("peak_rss_kib", std::to_string(report.peak_rss_kib));
  RecordProperty("peak_rss_data_kib", std::to_string(report.peak_rss_data_kib));
  std::printf("peak RSS %llu KiB overall, %llu KiB before the add, %llu KiB during add+read\n",
              static_cast<unsigned long long>(report.peak_rss_kib),
              static_cast<unsigned long long>(report.peak_rss_setup_kib),
              static_cast<unsigned long long>(report.peak_rss_data_kib));
}

}  // namespace
}  // namespace evault::vault
