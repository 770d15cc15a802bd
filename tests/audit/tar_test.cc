// ustar archives from TarWriter, unpacked and listed by the standard `tar` (-x, -tv):
// contents byte-exact (an empty file, one over 1 MiB written in uneven pieces, a path
// over 100 bytes stored with the prefix split), modes, owners and mtime as documented;
// size mismatches, unstorable and unsafe paths refused; a failing sink stops the archive.
#include "audit/tar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/audit/tool_test_util.h"

namespace evault::audit {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMtime = 1700000000;  // 2023-11-14 22:13:20 UTC

std::string Pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

class TarTest : public testing::ToolTest {
 protected:
  void SetUp() override {
    ToolTest::SetUp();
    if (!testing::HaveTool("tar")) GTEST_SKIP() << "tar is not installed";
  }

  ByteSink StringSink() {
    return [this](crypto::ByteView bytes) {
      archive_.append(crypto::AsText(bytes));
      return Ok();
    };
  }

  // Writes archive_ to a.tar and runs `tar` on it; stdout and stderr go to `out`.
  int Tar(const std::string& args, std::string* out = nullptr) {
    testing::WriteFile(dir_ / "a.tar", archive_);
    const int status = testing::RunShell("cd '" + dir_.string() + "' && TZ=UTC LC_ALL=C tar " + args +
                                         " > tar.out 2>&1");
    if (out != nullptr) *out = testing::ReadFile(dir_ / "tar.out");
    return status;
  }

  std::string archive_;
};

TEST_F(TarTest, TarUnpacksEveryFileByteExact) {
  const std::string small = "Суд над журналистом\n";
  const std::string big = Pattern((1 << 20) + 4097, 1);
  const std::string long_dir = "records/" + std::string(60, 'd') + "/" + std::string(50, 'e');
  const std::string long_path = long_dir + "/evidence-" + std::string(40, 'f') + ".bin";
  ASSERT_GT(long_path.size(), 100u);
  const std::string deep = Pattern(777, 2);

  TarWriter tar(StringSink(), kMtime);
  ASSERT_TRUE(tar.AddDirectory("bag"));
  ASSERT_TRUE(tar.AddFile("bag/small.txt", crypto::AsBytes(small)));
  ASSERT_TRUE(tar.AddFile("bag/empty", {}));
  ASSERT_TRUE(tar.BeginFile("bag/big.bin", big.size()));
  for (std::size_t at = 0; at < big.size();) {  // uneven pieces across block boundaries
    const std::size_t n = std::min<std::size_t>(big.size() - at, 1 + (at % 9973));
    ASSERT_TRUE(tar.Write(crypto::AsBytes(std::string_view(big).substr(at, n))));
    at += n;
  }
  ASSERT_TRUE(tar.EndFile());
  ASSERT_TRUE(tar.AddFile(long_path, crypto::AsBytes(deep)));
  ASSERT_TRUE(tar.Finish());
  EXPECT_EQ(tar.bytes_written(), archive_.size());
  ASSERT_EQ(archive_.size() % 512, 0u);
  EXPECT_EQ(archive_.substr(archive_.size() - 1024), std::string(1024, '\0'));

  fs::create_directories(dir_ / "out");
  std::string out;
  ASSERT_EQ(Tar("-xf a.tar -C out", &out), 0) << out;
  EXPECT_EQ(testing::ReadFile(dir_ / "out/bag/small.txt"), small);
  EXPECT_TRUE(fs::is_regular_file(dir_ / "out/bag/empty"));
  EXPECT_EQ(fs::file_size(dir_ / "out/bag/empty"), 0u);
  EXPECT_TRUE(testing::ReadFile(dir_ / "out/bag/big.bin") == big);
  EXPECT_EQ(testing::ReadFile(dir_ / "out" / long_path), deep);
  EXPECT_EQ(fs::status(dir_ / "out/bag/small.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_ / "out/bag").permissions() & fs::perms::all, fs::perms::owner_all);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "out/bag/small.txt").c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_mtime), kMtime);

  // The listing: type and mode, numeric owner 0/0, size, the fixed mtime, the full path.
  ASSERT_EQ(Tar("--numeric-owner -tvf a.tar", &out), 0) << out;
  EXPECT_NE(out.find("drwx------ 0/0"), std::string::npos) << out;
  EXPECT_NE(out.find(" 2023-11-14 22:13 bag/\n"), std::string::npos) << out;
  EXPECT_NE(out.find("-rw------- 0/0"), std::string::npos) << out;
  EXPECT_NE(out.find(std::to_string(big.size()) + " 2023-11-14 22:13 bag/big.bin\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" 0 2023-11-14 22:13 bag/empty\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" 2023-11-14 22:13 " + long_path + "\n"), std::string::npos) << out;
}

TEST_F(TarTest, PathsUpToTheUstarLimitUsePrefixAndName) {
  // A 155-byte prefix, '/', a 100-byte name: 256 bytes, the longest ustar can hold.
  const std::string prefix = std::string(100, 'p') + "/" + std::string(54, 'q');
  ASSERT_EQ(prefix.size(), 155u);
  const std::string longest = prefix + "/" + std::string(100, 'n');
  TarWriter tar(StringSink(), kMtime);
  ASSERT_TRUE(tar.AddFile(longest, crypto::AsBytes(std::string("x"))));
  ASSERT_TRUE(tar.AddFile(std::string(100, 'a'), crypto::AsBytes(std::string("y"))));  // fills the name field
  ASSERT_TRUE(tar.Finish());
  fs::create_directories(dir_ / "out");
  std::string out;
  ASSERT_EQ(Tar("-xf a.tar -C out", &out), 0) << out;
  EXPECT_EQ(testing::ReadFile(dir_ / "out" / longest), "x");
  EXPECT_EQ(testing::ReadFile(dir_ / "out" / std::string(100, 'a')), "y");
}

TEST_F(TarTest, RefusesPathsItCannotStoreSafely) {
  TarWriter tar(StringSink(), kMtime);
  const std::vector<std::string> bad = {
      "",
      "/etc/passwd",
      "../escape",
      "a/../../b",
      "a//b",
      "./x",
      "dir/",
      std::string("nul\0byte", 8),
      "line\nbreak",
      std::string(101, 'n'),                               // one component over 100 bytes
      std::string(156, 'p') + "/" + std::string(10, 'n'),  // prefix over 155 bytes
      std::string(150, 'p') + "/" + std::string(101, 'n'), // name over 100 bytes
      std::string(100, 'a') + "/" + std::string(100, 'b') + "/" + std::string(100, 'c'),  // 302 bytes
  };
  for (const auto& path : bad) {
    auto begun = tar.BeginFile(path, 1);
    ASSERT_FALSE(begun) << path;
    EXPECT_EQ(begun.error().code, ErrorCode::kInvalidArgument) << path;
    EXPECT_FALSE(TarWriter::CheckPath(path)) << path;
  }
  EXPECT_FALSE(tar.AddDirectory(std::string(255, 'd')));  // 256 with its '/': no '/' to split at
  EXPECT_EQ(archive_, "");                                // nothing written for any of them
  // Refusals leave the writer usable.
  ASSERT_TRUE(tar.AddFile("fine", crypto::AsBytes(std::string("ok"))));
  ASSERT_TRUE(tar.Finish());
  EXPECT_EQ(Tar("-tf a.tar"), 0);
}

TEST_F(TarTest, RefusesSizeMismatchesAndThenEverything) {
  {
    TarWriter tar(StringSink(), kMtime);
    ASSERT_TRUE(tar.BeginFile("short", 10));
    ASSERT_TRUE(tar.Write(crypto::AsBytes(std::string("123456789"))));
    auto ended = tar.EndFile();
    ASSERT_FALSE(ended);
    EXPECT_EQ(ended.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(tar.AddFile("next", {}));
    EXPECT_FALSE(tar.Finish());
  }
  {
    TarWriter tar(StringSink(), kMtime);
    ASSERT_TRUE(tar.BeginFile("long", 4));
    ASSERT_TRUE(tar.Write(crypto::AsBytes(std::string("1234"))));
    auto written = tar.Write(crypto::AsBytes(std::string("5")));
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(tar.EndFile());
    EXPECT_FALSE(tar.Finish());
  }
  {
    TarWriter tar(StringSink(), kMtime);
    EXPECT_FALSE(tar.Write(crypto::AsBytes(std::string("x"))));  // no file open
    EXPECT_FALSE(tar.EndFile());
    ASSERT_TRUE(tar.BeginFile("a", 0));
    EXPECT_FALSE(tar.BeginFile("b", 0));  // one at a time
    EXPECT_FALSE(tar.Finish());
    ASSERT_TRUE(tar.EndFile());
    ASSERT_TRUE(tar.Finish());
    EXPECT_FALSE(tar.AddFile("after", {}));
  }
}

TEST_F(TarTest, SizesPastEightGibUseBase256) {
  // The size field of the header, as written: octal up to 8 GiB - 1, base-256 beyond.
  auto size_field = [&](std::uint64_t size) {
    archive_.clear();
    TarWriter tar(StringSink(), kMtime);
    EXPECT_TRUE(tar.BeginFile("huge", size));
    return archive_.size() == 512 ? archive_.substr(124, 12) : std::string();
  };
  EXPECT_EQ(size_field(TarWriter::kMaxOctalSize), std::string("77777777777") + '\0');
  const std::string field = size_field(TarWriter::kMaxOctalSize + 1);
  ASSERT_EQ(field.size(), 12u);
  EXPECT_EQ(static_cast<unsigned char>(field[0]), 0x80u);
  std::uint64_t decoded = 0;
  for (std::size_t i = 1; i < 12; ++i) decoded = (decoded << 8) | static_cast<unsigned char>(field[i]);
  EXPECT_EQ(decoded, std::uint64_t{1} << 33);
  // GNU tar reads the header (and then reports the archive truncated, as it is).
  std::string out;
  Tar("--numeric-owner -tvf a.tar", &out);
  EXPECT_NE(out.find(" 8589934592 2023-11-14 22:13 huge"), std::string::npos) << out;
}

TEST_F(TarTest, AFailingSinkStopsTheArchive) {
  std::size_t calls = 0;
  TarWriter tar(
      [&](crypto::ByteView) -> Status {
        if (++calls == 3) return Fail(ErrorCode::kIo, "disk full");
        return Ok();
      },
      kMtime);
  ASSERT_TRUE(tar.BeginFile("a", 3));                                // header
  ASSERT_TRUE(tar.Write(crypto::AsBytes(std::string("ab"))));       // data
  auto failed = tar.Write(crypto::AsBytes(std::string("c")));        // the sink fails
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kIo);
  EXPECT_FALSE(tar.EndFile());
  EXPECT_FALSE(tar.Finish());
  EXPECT_EQ(tar.bytes_written(), 512u + 2u);
}

}  // namespace
}  // namespace evault::audit
