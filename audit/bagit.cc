#include "audit/bagit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>
#include <utility>

#include <fmt/core.h>
#include <fmt/chrono.h>

#include "audit/minisign.h"
#include "audit/sshsig.h"
#include "audit/tar.h"
#include "crypto/digest.h"

namespace evault::audit {

namespace fs = std::filesystem;
using crypto::Digest;

namespace {

Status WriteAll(int fd, crypto::ByteView bytes, std::string_view what) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno(errno, fmt::format("writing {} failed: {}", what, std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  return Ok();
}

Result<int> CreateFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return FailErrno(errno, fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  return fd;
}

Status CheckPayloadPath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') {
    return Fail(ErrorCode::kInvalidArgument, "a payload path must be relative and name a file");
  }
  // '%' would be percent-encoded in a BagIt manifest (RFC 8493 2.1.3), which sha256sum
  // does not decode; the exporter names payload files without it, so manifests stay literal.
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '%') {
      return Fail(ErrorCode::kInvalidArgument, "a payload path holds a control character, backslash or '%'");
    }
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Fail(ErrorCode::kInvalidArgument, "a payload path has an empty, '.' or '..' component");
    }
    start = end + 1;
  }
  return Ok();
}

std::string Today() { return fmt::format("{:%Y-%m-%d}", fmt::gmtime(std::time(nullptr))); }

}  // namespace

// Where the bag's files go. Paths reaching it are checked; it only writes.
class BagOutput {
 public:
  virtual ~BagOutput() = default;
  // data/<path>; `size` is the declared size, if the caller gave one.
  virtual Status BeginPayload(std::string_view path, std::optional<std::uint64_t> size) = 0;
  virtual Status WritePayload(crypto::ByteView bytes) = 0;
  virtual Status EndPayload() = 0;
  // A tag file at the top of the bag.
  virtual Status WriteTagFile(std::string_view name, std::string_view text) = 0;
  virtual Status Finish() = 0;
};

namespace {

// The bag as a directory: every file created with O_EXCL and synced when complete.
class DirectoryOutput final : public BagOutput {
 public:
  explicit DirectoryOutput(fs::path dir) : dir_(std::move(dir)) {}
  ~DirectoryOutput() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status BeginPayload(std::string_view path, std::optional<std::uint64_t>) override {
    const fs::path target = dir_ / "data" / fs::path(std::string(path));
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", target.parent_path().string(), ec.message()));
    EVAULT_ASSIGN_OR_RETURN(fd_, CreateFile(target));
    path_ = std::string(path);
    return Ok();
  }

  Status WritePayload(crypto::ByteView bytes) override { return WriteAll(fd_, bytes, path_); }

  Status EndPayload() override {
    const bool synced = ::fsync(fd_) == 0;
    const int err = errno;
    ::close(std::exchange(fd_, -1));
    if (!synced) return FailErrno(err, fmt::format("syncing {} failed: {}", path_, std::strerror(err)));
    return Ok();
  }

  Status WriteTagFile(std::string_view name, std::string_view text) override {
    EVAULT_ASSIGN_OR_RETURN(int fd, CreateFile(dir_ / std::string(name)));
    auto written = WriteAll(fd, crypto::AsBytes(text), name);
    const bool synced = written && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) return written;
    if (!synced) return FailErrno(err, fmt::format("syncing {} failed: {}", name, std::strerror(err)));
    return Ok();
  }

  Status Finish() override { return Ok(); }

 private:
  fs::path dir_;
  std::string path_;
  int fd_ = -1;
};

// The bag as a ustar stream, every entry under "<top>/", each directory entry once
// before the first file in it.
class StreamOutput final : public BagOutput {
 public:
  StreamOutput(ByteSink sink, std::string top, std::optional<std::uint64_t> mtime)
      : tar_(std::move(sink), mtime), top_(std::move(top)) {}

  Status Start() {
    EVAULT_TRY(AddDirectory(top_));
    return AddDirectory(top_ + "/data");
  }

  Status BeginPayload(std::string_view path, std::optional<std::uint64_t> size) override {
    if (!size) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a bag streamed as tar needs each payload's size up front: BeginPayload(path, size)");
    }
    const std::string full = top_ + "/data/" + std::string(path);
    // Everything is checked before the first byte of any entry for it.
    EVAULT_TRY(TarWriter::CheckPath(full));
    std::vector<std::string> parents;
    for (std::size_t slash = full.find('/', top_.size() + 6); slash != std::string::npos;
         slash = full.find('/', slash + 1)) {
      parents.push_back(full.substr(0, slash));
    }
    // A file and a directory of one name would not unpack (a directory bag cannot
    // hold them either).
    if (dirs_.contains(full) || std::any_of(parents.begin(), parents.end(),
                                            [&](const std::string& p) { return files_.contains(p); })) {
      return Fail(ErrorCode::kAlreadyExists, "a payload path is both a file and a directory");
    }
    for (const auto& parent : parents) EVAULT_TRY(AddDirectory(parent));
    EVAULT_TRY(tar_.BeginFile(full, *size));
    files_.insert(full);
    return Ok();
  }

  Status WritePayload(crypto::ByteView bytes) override { return tar_.Write(bytes); }
  Status EndPayload() override { return tar_.EndFile(); }

  Status WriteTagFile(std::string_view name, std::string_view text) override {
    return tar_.AddFile(top_ + "/" + std::string(name), crypto::AsBytes(text));
  }

  Status Finish() override { return tar_.Finish(); }

 private:
  Status AddDirectory(const std::string& path) {
    if (!dirs_.insert(path).second) return Ok();
    return tar_.AddDirectory(path);
  }

  TarWriter tar_;
  std::string top_;
  std::set<std::string> dirs_, files_;
};

}  // namespace

struct BagWriter::Open {
  std::string path;
  std::optional<std::uint64_t> size;  // declared
  std::uint64_t written = 0;
  Digest sha256{Digest::Algorithm::kSha256};
  Digest sha512{Digest::Algorithm::kSha512};
};

BagWriter::BagWriter(std::unique_ptr<BagOutput> out) : out_(std::move(out)) {}
BagWriter::~BagWriter() = default;

Result<std::unique_ptr<BagWriter>> BagWriter::Create(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                fmt::format("cannot create {}: {}", dir.string(), std::strerror(errno)));
  }
  if (::mkdir((dir / "data").c_str(), 0700) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("cannot create {}/data: {}", dir.string(), std::strerror(errno)));
  }
  return std::unique_ptr<BagWriter>(new BagWriter(std::make_unique<DirectoryOutput>(dir)));
}

Result<std::unique_ptr<BagWriter>> BagWriter::CreateStream(ByteSink sink, std::string_view top_dir,
                                                           std::optional<std::uint64_t> mtime) {
  if (top_dir.find('/') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "a streamed bag's top directory is one path component");
  }
  EVAULT_TRY(CheckPayloadPath(top_dir));
  auto out = std::make_unique<StreamOutput>(std::move(sink), std::string(top_dir), mtime);
  EVAULT_TRY(out->Start());
  return std::unique_ptr<BagWriter>(new BagWriter(std::move(out)));
}

Status BagWriter::Failed(Error error) {
  broken_ = true;
  open_.reset();
  return std::unexpected(std::move(error));
}

Status BagWriter::BeginPayload(std::string_view path) { return Begin(path, std::nullopt); }

Status BagWriter::BeginPayload(std::string_view path, std::uint64_t size) { return Begin(path, size); }

Status BagWriter::Begin(std::string_view path, std::optional<std::uint64_t> size) {
  if (broken_) return Fail(ErrorCode::kInternal, "the bag failed earlier and is unusable");
  if (finished_ || open_) return Fail(ErrorCode::kInternal, "a payload file is already open or the bag is finished");
  EVAULT_TRY(CheckPayloadPath(path));
  if (std::find(paths_.begin(), paths_.end(), path) != paths_.end()) {
    return Fail(ErrorCode::kAlreadyExists, "a payload path is used twice");
  }
  EVAULT_TRY(out_->BeginPayload(path, size));
  auto open = std::make_unique<Open>();
  open->path = std::string(path);
  open->size = size;
  open_ = std::move(open);
  return Ok();
}

Status BagWriter::Write(crypto::ByteView bytes) {
  if (!open_) return Fail(ErrorCode::kInternal, "no payload file is open");
  if (open_->size && bytes.size() > *open_->size - open_->written) {
    return Failed(Error{ErrorCode::kInvalidArgument,
                        fmt::format("payload {} got more than its declared {} bytes", open_->path, *open_->size)});
  }
  if (auto written = out_->WritePayload(bytes); !written) return Failed(std::move(written.error()));
  open_->sha256.Update(bytes);
  open_->sha512.Update(bytes);
  open_->written += bytes.size();
  payload_bytes_ += bytes.size();
  return Ok();
}

Status BagWriter::EndPayload() {
  if (!open_) return Fail(ErrorCode::kInternal, "no payload file is open");
  if (open_->size && open_->written != *open_->size) {
    return Failed(Error{ErrorCode::kInvalidArgument, fmt::format("payload {} declared {} bytes but got {}", open_->path,
                                                                 *open_->size, open_->written)});
  }
  if (auto ended = out_->EndPayload(); !ended) return Failed(std::move(ended.error()));
  const std::string manifest_path = "data/" + open_->path;
  manifest256_.push_back(crypto::ToHex(open_->sha256.Finish()) + "  " + manifest_path);
  manifest512_.push_back(crypto::ToHex(open_->sha512.Finish()) + "  " + manifest_path);
  paths_.push_back(open_->path);
  open_.reset();
  return Ok();
}

Status BagWriter::AddPayload(std::string_view path, crypto::ByteView bytes) {
  EVAULT_TRY(BeginPayload(path, bytes.size()));
  EVAULT_TRY(Write(bytes));
  return EndPayload();
}

Status BagWriter::WriteTagFile(std::string_view name, std::string_view text, std::vector<std::string>* tag_lines) {
  if (auto written = out_->WriteTagFile(name, text); !written) return Failed(std::move(written.error()));
  if (tag_lines != nullptr) {
    tag_lines->push_back(crypto::ToHex(Digest::Sha256(crypto::AsBytes(text))) + "  " + std::string(name));
  }
  return Ok();
}

Status BagWriter::AddTagFile(std::string_view name, std::string_view text) {
  if (broken_) return Fail(ErrorCode::kInternal, "the bag failed earlier and is unusable");
  if (finished_ || open_) return Fail(ErrorCode::kInternal, "a payload file is open or the bag is finished");
  EVAULT_TRY(CheckPayloadPath(name));
  static constexpr std::string_view kReserved[] = {"data", "bagit.txt", "bag-info.txt", "allowed_signers",
                                                   "exporter.pub", "fetch.txt"};
  if (name.find('/') != std::string_view::npos || std::ranges::find(kReserved, name) != std::end(kReserved) ||
      name.starts_with("manifest-") || name.starts_with("tagmanifest-")) {
    return Fail(ErrorCode::kInvalidArgument, "an extra tag file is one path component the bag does not use itself");
  }
  if (std::ranges::find(extra_tag_names_, name) != extra_tag_names_.end()) {
    return Fail(ErrorCode::kAlreadyExists, "a tag file name is used twice");
  }
  EVAULT_TRY(WriteTagFile(name, text, &extra_tags_));
  extra_tag_names_.emplace_back(name);
  return Ok();
}

Status BagWriter::Finish(const std::vector<std::pair<std::string, std::string>>& info,
                         const crypto::SigningKeyPair& signer, std::string_view signer_identity) {
  if (broken_) return Fail(ErrorCode::kInternal, "the bag failed earlier and is unusable");
  if (finished_ || open_) return Fail(ErrorCode::kInternal, "the bag is finished or a payload file is open");
  for (const auto& [label, value] : info) {
    if (label.empty() || label.find_first_of(":\r\n") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument, "a bag-info field has a bad label or a line break");
    }
  }
  if (signer_identity.empty() || signer_identity.find_first_of(" \t\r\n\"") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "the signer identity must be one word");
  }
  auto joined = [](const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  };
  std::string bag_info = fmt::format("Payload-Oxum: {}.{}\nBagging-Date: {}\n", payload_bytes_, paths_.size(), Today());
  for (const auto& [label, value] : info) bag_info += label + ": " + value + "\n";

  std::vector<std::string> tags;
  EVAULT_TRY(WriteTagFile("bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", &tags));
  EVAULT_TRY(WriteTagFile("bag-info.txt", bag_info, &tags));
  EVAULT_TRY(WriteTagFile("manifest-sha256.txt", joined(manifest256_), &tags));
  EVAULT_TRY(WriteTagFile("manifest-sha512.txt", joined(manifest512_), &tags));
  EVAULT_TRY(WriteTagFile("exporter.pub", MinisignPublicKey(signer.public_key()), &tags));
  EVAULT_TRY(WriteTagFile("allowed_signers",
                          AllowedSignersLine(signer_identity, kExportNamespace, signer.public_key()) + "\n", &tags));
  tags.insert(tags.end(), extra_tags_.begin(), extra_tags_.end());
  const std::string tag_manifest = joined(tags);
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt", tag_manifest, nullptr));
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt.minisig",
                          MinisignSign(signer, crypto::AsBytes(tag_manifest),
                                       fmt::format("evault export, signed by {}", signer_identity)),
                          nullptr));
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt.sshsig",
                          SshSign(signer, kExportNamespace, crypto::AsBytes(tag_manifest)), nullptr));
  if (auto done = out_->Finish(); !done) return Failed(std::move(done.error()));
  finished_ = true;
  return Ok();
}

}  // namespace evault::audit
