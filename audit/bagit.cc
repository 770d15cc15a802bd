#include "audit/bagit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/core.h>

#include "audit/minisign.h"
#include "audit/sshsig.h"
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
    if (n < 0) return Fail(ErrorCode::kIo, fmt::format("writing {} failed: {}", what, std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  return Ok();
}

Result<int> CreateFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
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

std::string Today() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

struct BagWriter::Open {
  std::string path;
  int fd = -1;
  Digest sha256{Digest::Algorithm::kSha256};
  Digest sha512{Digest::Algorithm::kSha512};
  ~Open() {
    if (fd >= 0) ::close(fd);
  }
};

BagWriter::BagWriter(fs::path dir) : dir_(std::move(dir)) {}
BagWriter::~BagWriter() = default;

Result<std::unique_ptr<BagWriter>> BagWriter::Create(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                fmt::format("cannot create {}: {}", dir.string(), std::strerror(errno)));
  }
  if (::mkdir((dir / "data").c_str(), 0700) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("cannot create {}/data: {}", dir.string(), std::strerror(errno)));
  }
  return std::unique_ptr<BagWriter>(new BagWriter(dir));
}

Status BagWriter::BeginPayload(std::string_view path) {
  if (finished_ || open_) return Fail(ErrorCode::kInternal, "a payload file is already open or the bag is finished");
  EVAULT_TRY(CheckPayloadPath(path));
  if (std::find(paths_.begin(), paths_.end(), path) != paths_.end()) {
    return Fail(ErrorCode::kAlreadyExists, "a payload path is used twice");
  }
  const fs::path target = dir_ / "data" / fs::path(std::string(path));
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", target.parent_path().string(), ec.message()));
  auto open = std::make_unique<Open>();
  EVAULT_ASSIGN_OR_RETURN(open->fd, CreateFile(target));
  open->path = std::string(path);
  open_ = std::move(open);
  return Ok();
}

Status BagWriter::Write(crypto::ByteView bytes) {
  if (!open_) return Fail(ErrorCode::kInternal, "no payload file is open");
  EVAULT_TRY(WriteAll(open_->fd, bytes, open_->path));
  open_->sha256.Update(bytes);
  open_->sha512.Update(bytes);
  payload_bytes_ += bytes.size();
  return Ok();
}

Status BagWriter::EndPayload() {
  if (!open_) return Fail(ErrorCode::kInternal, "no payload file is open");
  if (::fsync(open_->fd) != 0) return Fail(ErrorCode::kIo, fmt::format("syncing {} failed", open_->path));
  const std::string manifest_path = "data/" + open_->path;
  manifest256_.push_back(crypto::ToHex(open_->sha256.Finish()) + "  " + manifest_path);
  manifest512_.push_back(crypto::ToHex(open_->sha512.Finish()) + "  " + manifest_path);
  paths_.push_back(open_->path);
  open_.reset();
  return Ok();
}

Status BagWriter::AddPayload(std::string_view path, crypto::ByteView bytes) {
  EVAULT_TRY(BeginPayload(path));
  EVAULT_TRY(Write(bytes));
  return EndPayload();
}

Status BagWriter::WriteTagFile(std::string_view name, std::string_view text, std::vector<std::string>& tag_lines) {
  EVAULT_ASSIGN_OR_RETURN(int fd, CreateFile(dir_ / std::string(name)));
  auto written = WriteAll(fd, crypto::AsBytes(text), name);
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return written;
  if (!synced) return Fail(ErrorCode::kIo, fmt::format("syncing {} failed", name));
  tag_lines.push_back(crypto::ToHex(Digest::Sha256(crypto::AsBytes(text))) + "  " + std::string(name));
  return Ok();
}

Status BagWriter::Finish(const std::vector<std::pair<std::string, std::string>>& info,
                         const crypto::SigningKeyPair& signer, std::string_view signer_identity) {
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
  EVAULT_TRY(WriteTagFile("bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", tags));
  EVAULT_TRY(WriteTagFile("bag-info.txt", bag_info, tags));
  EVAULT_TRY(WriteTagFile("manifest-sha256.txt", joined(manifest256_), tags));
  EVAULT_TRY(WriteTagFile("manifest-sha512.txt", joined(manifest512_), tags));
  EVAULT_TRY(WriteTagFile("exporter.pub", MinisignPublicKey(signer.public_key()), tags));
  EVAULT_TRY(WriteTagFile("allowed_signers",
                          AllowedSignersLine(signer_identity, kExportNamespace, signer.public_key()) + "\n", tags));
  std::vector<std::string> unused;
  const std::string tag_manifest = joined(tags);
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt", tag_manifest, unused));
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt.minisig",
                          MinisignSign(signer, crypto::AsBytes(tag_manifest),
                                       fmt::format("evault export, signed by {}", signer_identity)),
                          unused));
  EVAULT_TRY(WriteTagFile("tagmanifest-sha256.txt.sshsig",
                          SshSign(signer, kExportNamespace, crypto::AsBytes(tag_manifest)), unused));
  finished_ = true;
  return Ok();
}

}  // namespace evault::audit
