// A BagIt bag streamed as tar (BagWriter::CreateStream), alone and through AgeWriter into
// a SealedFile: the bundle on disk is ciphertext only, and the standard tools a defence
// lawyer has open and check it:
//   age -d -i key.txt bundle.tar.age | tar -x
//   sha256sum -c manifest-sha256.txt; minisign -Vm tagmanifest-sha256.txt -p exporter.pub
// The streamed bag holds exactly the files a directory bag of the same content holds; a
// failed export leaves no file behind.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "audit/age.h"
#include "audit/bagit.h"
#include "audit/sealed_file.h"
#include "tests/audit/tool_test_util.h"

namespace evault::audit {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMtime = 1700000000;
constexpr char kTop[] = "case-0123abcd";
const std::string kRecord = R"({"title":"Суд над журналистом","place":"Алматы"})";

std::string Pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 3;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

// Every regular file under `root`, by relative path.
std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) out[fs::relative(entry.path(), root).string()] = testing::ReadFile(entry.path());
  }
  return out;
}

class BagStreamTest : public testing::ToolTest {
 protected:
  void SetUp() override {
    ToolTest::SetUp();
    if (!testing::HaveTool("tar")) GTEST_SKIP() << "tar is not installed";
  }

  // The same content for every form of the bag.
  void Fill(BagWriter& bag) {
    ASSERT_TRUE(bag.AddPayload("records/record-1.json", crypto::AsBytes(kRecord)));
    const std::string video = Pattern((1 << 20) + 12345, 1);
    ASSERT_TRUE(bag.BeginPayload("attachments/video 21 September.mp4", video.size()));
    for (std::size_t at = 0; at < video.size(); at += 50000) {
      ASSERT_TRUE(bag.Write(crypto::AsBytes(std::string_view(video).substr(at, 50000))));
    }
    ASSERT_TRUE(bag.EndPayload());
    ASSERT_TRUE(bag.AddPayload("attachments/empty-note.txt", {}));
    ASSERT_TRUE(bag.AddPayload("custody.jsonl", crypto::AsBytes(std::string("{\"seq\":1}\n"))));
    ASSERT_TRUE(bag.AddTagFile("report.html", "<!doctype html><title>Export</title>\n"));
    ASSERT_TRUE(bag.Finish({{"Case-Id", "0123abcd"}, {"Purpose", "defence of the accused"}}, signer_, "evault-device"));
    EXPECT_EQ(bag.payload_bytes(), kRecord.size() + video.size() + 10);
  }

  // Runs `command` in `where` under bash with pipefail; 0 on success.
  int Run(const fs::path& where, const std::string& command) {
    return testing::RunShell("cd '" + where.string() + "' && bash -o pipefail -c '" + command + "' >/dev/null 2>&1");
  }

  // The checks an expert runs inside the unpacked bag.
  void ExpectStandardToolsAccept(const fs::path& bag) {
    EXPECT_EQ(Run(bag, "sha256sum -c manifest-sha256.txt"), 0);
    EXPECT_EQ(Run(bag, "sha512sum -c manifest-sha512.txt"), 0);
    EXPECT_EQ(Run(bag, "sha256sum -c tagmanifest-sha256.txt"), 0);
    if (testing::HaveTool("minisign")) {
      EXPECT_EQ(Run(bag, "minisign -Vm tagmanifest-sha256.txt -p exporter.pub"), 0);
    }
    if (testing::HaveTool("ssh-keygen")) {
      EXPECT_EQ(Run(bag, "ssh-keygen -Y verify -f allowed_signers -I evault-device -n evault-export "
                         "-s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"),
                0);
    }
    EXPECT_EQ(testing::ReadFile(bag / "data/records/record-1.json"), kRecord);
    EXPECT_NE(testing::ReadFile(bag / "tagmanifest-sha256.txt").find("  report.html\n"), std::string::npos);
  }

  crypto::SigningKeyPair signer_ = crypto::SigningKeyPair::Generate();
};

TEST_F(BagStreamTest, EncryptedBundleOpensAndVerifiesWithStandardTools) {
  if (!testing::HaveTool("age") || !testing::HaveTool("age-keygen")) {
    GTEST_SKIP() << "age is not installed (deploy/install-deps.sh installs it)";
  }
  ASSERT_EQ(Run(dir_, "age-keygen -o key.txt && age-keygen -y key.txt > key.pub"), 0);
  std::string pub = testing::ReadFile(dir_ / "key.pub");
  pub.erase(pub.find_last_not_of('\n') + 1);
  auto recipient = ParseAgeRecipient(pub);
  ASSERT_TRUE(recipient) << recipient.error().message;

  fs::create_directories(dir_ / "export");
  {
    auto bundle = AgeFile::Create(dir_ / "export/bundle.tar.age", *recipient);
    ASSERT_TRUE(bundle) << bundle.error().message;
    auto bag = BagWriter::CreateStream((*bundle)->sink(), kTop, kMtime);
    ASSERT_TRUE(bag) << bag.error().message;
    ASSERT_NO_FATAL_FAILURE(Fill(**bag));
    ASSERT_TRUE((*bundle)->Finish());
  }

  // On disk: the one bundle, and none of the plaintext.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_ / "export")) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"bundle.tar.age"});
  const std::string bundle = testing::ReadFile(dir_ / "export/bundle.tar.age");
  EXPECT_EQ(bundle.rfind("age-encryption.org/v1\n-> X25519 ", 0), 0u);
  for (const char* plain : {"журналист", "Payload-Oxum", "BagIt-Version", "ustar", "case-0123abcd", "defence"}) {
    EXPECT_EQ(bundle.find(plain), std::string::npos) << plain;
  }

  fs::create_directories(dir_ / "unpacked");
  ASSERT_EQ(Run(dir_, "age -d -i key.txt export/bundle.tar.age | tar -x -C unpacked"), 0);
  const fs::path bag = dir_ / "unpacked" / kTop;
  ASSERT_TRUE(fs::is_directory(bag));
  ExpectStandardToolsAccept(bag);
  const std::string info = testing::ReadFile(bag / "bag-info.txt");
  EXPECT_NE(info.find("Payload-Oxum: " + std::to_string(kRecord.size() + (1 << 20) + 12345 + 10) + ".4\n"),
            std::string::npos)
      << info;
  EXPECT_EQ(fs::file_size(bag / "data/attachments/empty-note.txt"), 0u);

  // And a changed byte in the unpacked bag is caught, as in a directory bag.
  {
    std::fstream f(bag / "data/records/record-1.json", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  EXPECT_NE(Run(bag, "sha256sum -c manifest-sha256.txt"), 0);
}

TEST_F(BagStreamTest, TheTarHoldsWhatADirectoryBagHolds) {
  std::string archive;
  {
    auto bag = BagWriter::CreateStream(
        [&](crypto::ByteView b) {
          archive.append(crypto::AsText(b));
          return Ok();
        },
        kTop, kMtime);
    ASSERT_TRUE(bag) << bag.error().message;
    ASSERT_NO_FATAL_FAILURE(Fill(**bag));
  }
  {
    auto bag = BagWriter::Create(dir_ / "dirbag");
    ASSERT_TRUE(bag);
    ASSERT_NO_FATAL_FAILURE(Fill(**bag));
  }
  testing::WriteFile(dir_ / "bag.tar", archive);
  fs::create_directories(dir_ / "unpacked");
  ASSERT_EQ(Run(dir_, "tar -xf bag.tar -C unpacked"), 0);
  ExpectStandardToolsAccept(dir_ / "unpacked" / kTop);
  // Byte for byte the same files (Ed25519 signatures are deterministic), bar the date
  // should the two bags straddle midnight.
  auto streamed = Tree(dir_ / "unpacked" / kTop);
  auto directory = Tree(dir_ / "dirbag");
  EXPECT_EQ(streamed.size(), 14u);
  ASSERT_EQ(streamed.size(), directory.size());
  for (const auto& [path, text] : directory) {
    ASSERT_TRUE(streamed.contains(path)) << path;
    if (streamed[path] != text && directory["bag-info.txt"] == streamed["bag-info.txt"]) ADD_FAILURE() << path;
  }

  // The listing: everything under the top directory, directories 0700, files 0600, owner 0/0.
  ASSERT_EQ(testing::RunShell("cd '" + dir_.string() + "' && TZ=UTC tar --numeric-owner -tvf bag.tar > list"), 0);
  std::istringstream list(testing::ReadFile(dir_ / "list"));
  int dirs = 0, files = 0;
  for (std::string line; std::getline(list, line);) {
    EXPECT_NE(line.find(" 0/0 "), std::string::npos) << line;
    EXPECT_NE(line.find(" 2023-11-14 22:13 case-0123abcd/"), std::string::npos) << line;
    if (line.rfind("drwx------", 0) == 0) ++dirs;
    else if (line.rfind("-rw-------", 0) == 0) ++files;
    else ADD_FAILURE() << line;
  }
  EXPECT_EQ(dirs, 4);  // top, data, data/records, data/attachments
  EXPECT_EQ(files, 14);
}

TEST_F(BagStreamTest, StreamRefusals) {
  std::string archive;
  auto sink = [&](crypto::ByteView b) {
    archive.append(crypto::AsText(b));
    return Ok();
  };
  for (const char* bad : {"", ".", "..", "a/b", "/abs", "x\ny"}) {
    EXPECT_FALSE(BagWriter::CreateStream(sink, bad, kMtime)) << bad;
  }
  EXPECT_EQ(archive, "");

  auto bag = BagWriter::CreateStream(sink, kTop, kMtime);
  ASSERT_TRUE(bag);
  // A tar entry needs its size first.
  auto unsized = (*bag)->BeginPayload("a.txt");
  ASSERT_FALSE(unsized);
  EXPECT_EQ(unsized.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unsized.error().message.find("size"), std::string::npos);
  // Longer than ustar can store.
  auto too_long = (*bag)->AddPayload(std::string(120, 'a') + "/" + std::string(120, 'b'), {});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  // A file and a directory of one name.
  ASSERT_TRUE((*bag)->AddPayload("x", crypto::AsBytes(std::string("1"))));
  EXPECT_FALSE((*bag)->AddPayload("x/y", {}));
  // Extra tag files: one new name at the top.
  for (const char* bad : {"bagit.txt", "bag-info.txt", "manifest-md5.txt", "tagmanifest-sha256.txt", "data",
                          "exporter.pub", "a/b", "../x", ""}) {
    EXPECT_FALSE((*bag)->AddTagFile(bad, "x")) << bad;
  }
  ASSERT_TRUE((*bag)->AddTagFile("report.html", "x"));
  EXPECT_FALSE((*bag)->AddTagFile("report.html", "x"));
  // None of those broke the bag.
  ASSERT_TRUE((*bag)->AddPayload("a.txt", crypto::AsBytes(std::string("fine"))));
  // A payload shorter than declared does: the stream is unusable from there on.
  ASSERT_TRUE((*bag)->BeginPayload("short.bin", 10));
  ASSERT_TRUE((*bag)->Write(crypto::AsBytes(std::string("12345"))));
  auto ended = (*bag)->EndPayload();
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE((*bag)->AddPayload("later.txt", {}));
  EXPECT_FALSE((*bag)->Finish({}, signer_, "evault-device"));

  // Longer than declared, in a directory bag too.
  auto dirbag = BagWriter::Create(dir_ / "dirbag");
  ASSERT_TRUE(dirbag);
  ASSERT_TRUE((*dirbag)->BeginPayload("long.bin", 3));
  auto over = (*dirbag)->Write(crypto::AsBytes(std::string("1234")));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE((*dirbag)->Finish({}, signer_, "evault-device"));
}

TEST_F(BagStreamTest, AFailedExportLeavesNoBundle) {
  const auto recipient = AgeRecipient::FromBytes(crypto::Bytes(32, 9));  // any usable key
  ASSERT_TRUE(recipient);
  fs::create_directories(dir_ / "export");
  const fs::path path = dir_ / "export/bundle.tar.age";
  {
    auto bundle = AgeFile::Create(path, *recipient);
    ASSERT_TRUE(bundle);
    auto bag = BagWriter::CreateStream((*bundle)->sink(), kTop, kMtime);
    ASSERT_TRUE(bag);
    ASSERT_TRUE((*bag)->AddPayload("records/record-1.json", crypto::AsBytes(Pattern(300000, 2))));
    ASSERT_TRUE((*bag)->BeginPayload("attachments/photo.jpg", 1000));
    ASSERT_TRUE((*bag)->Write(crypto::AsBytes(Pattern(400, 3))));
    EXPECT_GT(fs::file_size(path), 4u * AgeWriter::kChunkBytes);  // the full chunks are already on disk
    // The vault fails to deliver the rest of the attachment; the export gives up.
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "export"));

  // The same with the stacking spelled out, and a sink failure under it: the bag and the
  // age stream both refuse to go on, and the file goes.
  {
    auto sealed = SealedFile::Create(path);
    ASSERT_TRUE(sealed);
    auto age = AgeWriter::Create((*sealed)->sink(), *recipient);
    ASSERT_TRUE(age);
    auto bag = BagWriter::CreateStream((*age)->sink(), kTop, kMtime);
    ASSERT_TRUE(bag);
    (*sealed)->Discard();  // as if the disk went away
    auto written = (*bag)->AddPayload("records/big.json", crypto::AsBytes(Pattern(200000, 4)));
    ASSERT_FALSE(written);
    EXPECT_FALSE((*bag)->AddPayload("records/next.json", {}));
    EXPECT_FALSE((*age)->Finish());
    EXPECT_FALSE((*sealed)->Finish());
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "export"));

  // Nothing is created for an unusable recipient, and nothing is overwritten.
  EXPECT_FALSE(AgeFile::Create(path, *AgeRecipient::FromBytes(crypto::Bytes(32, 0))));
  EXPECT_TRUE(fs::is_empty(dir_ / "export"));
  testing::WriteFile(path, "an earlier export");
  auto again = AgeFile::Create(path, *recipient);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(testing::ReadFile(path), "an earlier export");
}

}  // namespace
}  // namespace evault::audit
