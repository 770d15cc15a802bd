// Attachments: byte-exact round trips at the chunk boundaries, metadata and SHA-256,
// and failed attaches that leave nothing visible.
#include "vault/vault.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/chunk_cipher.h"
#include "tests/vault/test_util.h"

namespace evault::vault {
namespace {

namespace fs = std::filesystem;
using crypto::Bytes;
using testing::CreateAndOpen;
using testing::OpenOrNull;
using testing::ScopedTempDir;

constexpr std::size_t kMiB = 1 << 20;
static_assert(crypto::kChunkSize == kMiB);

class VaultAttachmentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() / "vault";
    files_ = tmp_.path() / "files";
    fs::create_directories(files_);
    vault_ = CreateAndOpen(dir_);
    ASSERT_NE(vault_, nullptr);
    ASSERT_OK_AND_ASSIGN(CaseInfo c, vault_->CreateCase("case", {}));
    case_id_ = c.id;
    ASSERT_OK_AND_ASSIGN(RecordRevision r, vault_->AddRecord(c.id, testing::SimpleRecord("record")));
    record_id_ = r.record_id;
  }
  void Reopen() {
    vault_.reset();
    vault_ = OpenOrNull(dir_);
    ASSERT_NE(vault_, nullptr);
  }

  // Writes `content` to files_/name, attaches it, checks metadata and reads it back.
  void RoundTrip(const std::string& name, const Bytes& content, const char* media_type) {
    SCOPED_TRACE(name + " (" + std::to_string(content.size()) + " bytes)");
    const fs::path file = files_ / name;
    testing::WriteFile(file, content);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
    ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, file, [&](auto done, auto total) {
                           progress.emplace_back(done, total);
                         }));
    const std::uint64_t want_chunks = content.empty() ? 1 : (content.size() + kMiB - 1) / kMiB;
    EXPECT_EQ(a.size, content.size());
    EXPECT_EQ(a.chunks, want_chunks);
    EXPECT_EQ(a.sha256, testing::Sha256Hex(content));
    EXPECT_EQ(a.file_name, name);
    EXPECT_EQ(a.media_type, media_type);
    EXPECT_EQ(a.record_id, record_id_);
    EXPECT_EQ(a.case_id, case_id_);
    EXPECT_EQ(a.device, vault_->device_id());
    EXPECT_EQ(a.captured.size(), 20u) << a.captured;
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back().first, content.size());
    for (std::size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);

    for (int pass = 0; pass < 2; ++pass) {
      SCOPED_TRACE(pass == 0 ? "same session" : "after reopen");
      std::size_t calls = 0;
      Bytes back;
      std::uint64_t last_progress = 0;
      ASSERT_OK(vault_->ReadAttachment(
          a.id,
          [&](crypto::ByteView chunk) -> Status {
            ++calls;
            EXPECT_LE(chunk.size(), kMiB);
            back.insert(back.end(), chunk.begin(), chunk.end());
            return Ok();
          },
          [&](std::uint64_t done, std::uint64_t total) {
            EXPECT_EQ(total, content.size());
            last_progress = done;
          }));
      EXPECT_EQ(back.size(), content.size());
      EXPECT_TRUE(back == content) << "attachment bytes differ";
      EXPECT_EQ(calls, want_chunks);
      EXPECT_EQ(last_progress, content.size());
      ASSERT_OK_AND_ASSIGN(AttachmentInfo got, vault_->GetAttachment(a.id));
      EXPECT_EQ(got.sha256, a.sha256);
      EXPECT_EQ(got.size, a.size);
      EXPECT_EQ(got.file_name, a.file_name);
      EXPECT_EQ(got.captured, a.captured);
      ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListAttachments(record_id_));
      EXPECT_TRUE(std::any_of(listed.begin(), listed.end(), [&](const AttachmentInfo& x) { return x.id == a.id; }));
      if (pass == 0) Reopen();
    }
  }

  ScopedTempDir tmp_;
  fs::path dir_, files_;
  std::unique_ptr<Vault> vault_;
  std::string case_id_, record_id_;
};

TEST_F(VaultAttachmentsTest, SmallFile) {
  const std::string text = "Протокол задержания, Нұр-Сұлтан\n";
  RoundTrip("protocol.txt", Bytes(text.begin(), text.end()), "text/plain");
}

TEST_F(VaultAttachmentsTest, EmptyFile) {
  RoundTrip("empty.bin", Bytes{}, "application/octet-stream");
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListAttachments(record_id_));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(VaultAttachmentsTest, OneByteAndPaddingBoundaries) {
  RoundTrip("one.jpg", Bytes{0x80}, "image/jpeg");  // 0x80 is the padding marker
  RoundTrip("zeros.png", Bytes(300, 0x00), "image/png");
}

TEST_F(VaultAttachmentsTest, ChunkBoundarySizes) {
  RoundTrip("exactly-1MiB.pdf", testing::Pattern(1, kMiB), "application/pdf");
  RoundTrip("1MiB-plus-1.mp4", testing::Pattern(2, kMiB + 1), "video/mp4");
  RoundTrip("1MiB-minus-1.MOV", testing::Pattern(3, kMiB - 1), "video/quicktime");
  RoundTrip("3MiB.wav", testing::Pattern(4, 3 * kMiB), "audio/wav");
  ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListAttachments(record_id_));
  EXPECT_EQ(listed.size(), 4u);
}

TEST_F(VaultAttachmentsTest, SameContentTwiceIsTwoAttachments) {
  const Bytes content = testing::Pattern(9, 5000);
  testing::WriteFile(files_ / "a.bin", content);
  ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, files_ / "a.bin"));
  ASSERT_OK_AND_ASSIGN(AttachmentInfo b, vault_->AddAttachment(record_id_, files_ / "a.bin"));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.sha256, b.sha256);
  ASSERT_OK_AND_ASSIGN(Bytes ra, testing::ReadAll(*vault_, a.id));
  ASSERT_OK_AND_ASSIGN(Bytes rb, testing::ReadAll(*vault_, b.id));
  EXPECT_TRUE(ra == content);
  EXPECT_TRUE(rb == content);
}

TEST_F(VaultAttachmentsTest, AttachmentsBelongToTheirRecord) {
  ASSERT_OK_AND_ASSIGN(RecordRevision other, vault_->AddRecord(case_id_, testing::SimpleRecord("other")));
  testing::WriteFile(files_ / "x.txt", std::string_view("x"));
  ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, files_ / "x.txt"));
  ASSERT_OK_AND_ASSIGN(auto on_other, vault_->ListAttachments(other.record_id));
  EXPECT_TRUE(on_other.empty());
  ASSERT_OK_AND_ASSIGN(auto on_record, vault_->ListAttachments(record_id_));
  ASSERT_EQ(on_record.size(), 1u);
  EXPECT_EQ(on_record[0].id, a.id);
  // Attaching to an unknown record fails.
  EXPECT_ERROR(vault_->AddAttachment(std::string(32, 'c'), files_ / "x.txt"), ErrorCode::kNotFound);
  // An edit of the record keeps its attachments.
  ASSERT_OK(vault_->EditRecord(record_id_, testing::SimpleRecord("edited")));
  ASSERT_OK_AND_ASSIGN(auto after_edit, vault_->ListAttachments(record_id_));
  EXPECT_EQ(after_edit.size(), 1u);
}

TEST_F(VaultAttachmentsTest, MissingFileOrDirectoryStoresNothing) {
  EXPECT_ERROR(vault_->AddAttachment(record_id_, files_ / "does-not-exist.pdf"), ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->AddAttachment(record_id_, files_), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(vault_->AddAttachment(record_id_, "/dev/null").has_value()) << "a device is not a file";
  EXPECT_FALSE(vault_->AddAttachment(record_id_, "").has_value());
  // Unreadable file (skipped when running as root, who can read anything).
  testing::WriteFile(files_ / "secret.txt", std::string_view("x"));
  ::chmod((files_ / "secret.txt").c_str(), 0);
  if (::geteuid() != 0) {
    EXPECT_FALSE(vault_->AddAttachment(record_id_, files_ / "secret.txt").has_value());
  }
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK_AND_ASSIGN(auto listed, vault_->ListAttachments(record_id_));
    EXPECT_TRUE(listed.empty());
    Reopen();
  }
}

TEST_F(VaultAttachmentsTest, ReadErrorsAndSinkFailure) {
  EXPECT_ERROR(vault_->ReadAttachment(std::string(32, 'd'), [](crypto::ByteView) { return Ok(); }),
               ErrorCode::kNotFound);
  EXPECT_ERROR(vault_->GetAttachment(std::string(32, 'd')), ErrorCode::kNotFound);
  // A record id is not an attachment id.
  EXPECT_ERROR(vault_->GetAttachment(record_id_), ErrorCode::kNotFound);

  testing::WriteFile(files_ / "three.bin", testing::Pattern(5, 3 * kMiB));
  ASSERT_OK_AND_ASSIGN(AttachmentInfo a, vault_->AddAttachment(record_id_, files_ / "three.bin"));
  int calls = 0;
  auto status = vault_->ReadAttachment(a.id, [&](crypto::ByteView) -> Status {
    if (++calls == 2) return Fail(ErrorCode::kIo, "disk full");
    return Ok();
  });
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kIo);
  EXPECT_EQ(status.error().message, "disk full");
  EXPECT_EQ(calls, 2) << "reading went on after the sink failed";
}

TEST_F(VaultAttachmentsTest, FileNameKeptAsGiven) {
  const std::string name = "Видео «допрос» 2019.MP4";
  RoundTrip(name, testing::Pattern(6, 1234), "video/mp4");
}

}  // namespace
}  // namespace evault::vault
