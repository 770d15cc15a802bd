#include "audit/tar.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>

#include <fmt/core.h>

namespace evault::audit {

namespace {

// ustar header layout (offset, width).
constexpr std::size_t kNameOff = 0, kNameLen = 100;
constexpr std::size_t kModeOff = 100, kUidOff = 108, kGidOff = 116, kIdLen = 8;
constexpr std::size_t kSizeOff = 124, kMtimeOff = 136, kNumLen = 12;
constexpr std::size_t kChecksumOff = 148, kChecksumLen = 8;
constexpr std::size_t kTypeOff = 156;
constexpr std::size_t kMagicOff = 257, kVersionOff = 263;
constexpr std::size_t kDevMajorOff = 329, kDevMinorOff = 337;
constexpr std::size_t kPrefixOff = 345, kPrefixLen = 155;

using Block = std::array<std::uint8_t, TarWriter::kBlockBytes>;

// `value` as width-1 zero-padded octal digits and a NUL. The caller checks it fits.
void PutOctal(Block& block, std::size_t offset, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width - 1; i-- > 0;) {
    block[offset + i] = static_cast<std::uint8_t>('0' + (value & 7));
    value >>= 3;
  }
  block[offset + width - 1] = 0;
}

// The GNU base-256 form: 0x80 in the first byte, the value big-endian in the rest.
void PutBase256(Block& block, std::size_t offset, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width; i-- > 1;) {
    block[offset + i] = static_cast<std::uint8_t>(value & 0xff);
    value >>= 8;
  }
  block[offset] = 0x80;
}

struct SplitPath {
  std::string_view prefix;
  std::string_view name;
};

// Where a stored path goes: the name field alone, or prefix '/' name.
std::optional<SplitPath> Split(std::string_view stored) {
  if (stored.size() <= kNameLen) return SplitPath{{}, stored};
  // The leftmost '/' that leaves at most kNameLen bytes after it, if its prefix fits.
  const std::size_t first = stored.size() - kNameLen - 1;
  for (std::size_t i = first; i < stored.size() && i <= kPrefixLen; ++i) {
    if (stored[i] != '/') continue;
    if (i == 0 || i + 1 == stored.size() || stored[i + 1] == '/') return std::nullopt;
    return SplitPath{stored.substr(0, i), stored.substr(i + 1)};
  }
  return std::nullopt;
}

Status CheckComponents(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return Fail(ErrorCode::kInvalidArgument, "a tar entry path must be relative and non-empty");
  }
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return Fail(ErrorCode::kInvalidArgument, "a tar entry path holds a control character");
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Fail(ErrorCode::kInvalidArgument, "a tar entry path has an empty, '.' or '..' component");
    }
    start = end + 1;
  }
  return Ok();
}

Status CheckStored(std::string_view path, std::string_view stored) {
  EVAULT_TRY(CheckComponents(path));
  if (!Split(stored)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("a tar entry path of {} bytes does not fit ustar (at most {} bytes, or a {}-byte prefix "
                            "and a {}-byte name split at a '/')",
                            stored.size(), kNameLen, kPrefixLen, kNameLen));
  }
  return Ok();
}

std::uint64_t Now() {
  const std::time_t t = std::time(nullptr);
  return t > 0 ? static_cast<std::uint64_t>(t) : 0;
}

}  // namespace

TarWriter::TarWriter(ByteSink sink, std::optional<std::uint64_t> mtime)
    : out_(std::move(sink)), mtime_(std::min(mtime.value_or(Now()), kMaxOctalSize)) {}

Status TarWriter::CheckPath(std::string_view path) { return CheckStored(path, path); }

Status TarWriter::Usable() const {
  if (broken_) return Fail(ErrorCode::kInternal, "the tar stream failed earlier and is unusable");
  if (finished_) return Fail(ErrorCode::kInternal, "the tar stream is finished");
  return Ok();
}

Status TarWriter::Emit(crypto::ByteView bytes) {
  if (bytes.empty()) return Ok();
  if (auto written = out_(bytes); !written) {
    broken_ = true;
    return written;
  }
  bytes_written_ += bytes.size();
  return Ok();
}

Status TarWriter::WriteHeader(std::string_view stored, char type, std::uint64_t size) {
  const auto split = Split(stored);
  if (!split) return Fail(ErrorCode::kInternal, "tar path was not checked");
  Block block{};
  std::memcpy(block.data() + kNameOff, split->name.data(), split->name.size());
  // Most paths have no prefix: an empty view's data() may be null, which memcpy must not get.
  if (!split->prefix.empty()) std::memcpy(block.data() + kPrefixOff, split->prefix.data(), split->prefix.size());
  PutOctal(block, kModeOff, kIdLen, type == '5' ? 0700 : 0600);
  PutOctal(block, kUidOff, kIdLen, 0);
  PutOctal(block, kGidOff, kIdLen, 0);
  if (size <= kMaxOctalSize) {
    PutOctal(block, kSizeOff, kNumLen, size);
  } else {
    PutBase256(block, kSizeOff, kNumLen, size);
  }
  PutOctal(block, kMtimeOff, kNumLen, mtime_);
  block[kTypeOff] = static_cast<std::uint8_t>(type);
  std::memcpy(block.data() + kMagicOff, "ustar", 6);  // with its NUL
  std::memcpy(block.data() + kVersionOff, "00", 2);
  PutOctal(block, kDevMajorOff, kIdLen, 0);
  PutOctal(block, kDevMinorOff, kIdLen, 0);
  // The checksum: the byte sum of the header with the checksum field read as spaces,
  // stored as six octal digits, a NUL and a space.
  std::memset(block.data() + kChecksumOff, ' ', kChecksumLen);
  unsigned sum = 0;
  for (std::uint8_t b : block) sum += b;
  PutOctal(block, kChecksumOff, 7, sum);
  block[kChecksumOff + 7] = ' ';
  return Emit(block);
}

Status TarWriter::AddDirectory(std::string_view path) {
  EVAULT_TRY(Usable());
  if (file_open_) return Fail(ErrorCode::kInternal, "a tar file entry is still open");
  const std::string stored = std::string(path) + "/";
  EVAULT_TRY(CheckStored(path, stored));
  return WriteHeader(stored, '5', 0);
}

Status TarWriter::BeginFile(std::string_view path, std::uint64_t size) {
  EVAULT_TRY(Usable());
  if (file_open_) return Fail(ErrorCode::kInternal, "a tar file entry is still open");
  EVAULT_TRY(CheckPath(path));
  EVAULT_TRY(WriteHeader(path, '0', size));
  file_open_ = true;
  file_size_ = size;
  file_written_ = 0;
  return Ok();
}

Status TarWriter::Write(crypto::ByteView bytes) {
  EVAULT_TRY(Usable());
  if (!file_open_) return Fail(ErrorCode::kInternal, "no tar file entry is open");
  if (bytes.size() > file_size_ - file_written_) {
    broken_ = true;
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("a tar file entry got more than its declared {} bytes", file_size_));
  }
  EVAULT_TRY(Emit(bytes));
  file_written_ += bytes.size();
  return Ok();
}

Status TarWriter::EndFile() {
  EVAULT_TRY(Usable());
  if (!file_open_) return Fail(ErrorCode::kInternal, "no tar file entry is open");
  if (file_written_ != file_size_) {
    broken_ = true;
    return Fail(ErrorCode::kInvalidArgument, fmt::format("a tar file entry declared {} bytes but got {}",
                                                         file_size_, file_written_));
  }
  file_open_ = false;
  static constexpr Block kZeros{};
  const std::size_t tail = static_cast<std::size_t>(file_size_ % kBlockBytes);
  return Emit(crypto::ByteView(kZeros.data(), tail == 0 ? 0 : kBlockBytes - tail));
}

Status TarWriter::AddFile(std::string_view path, crypto::ByteView bytes) {
  EVAULT_TRY(BeginFile(path, bytes.size()));
  EVAULT_TRY(Write(bytes));
  return EndFile();
}

Status TarWriter::Finish() {
  EVAULT_TRY(Usable());
  if (file_open_) return Fail(ErrorCode::kInternal, "a tar file entry is still open");
  static constexpr std::array<std::uint8_t, 2 * kBlockBytes> kEnd{};
  EVAULT_TRY(Emit(kEnd));
  finished_ = true;
  return Ok();
}

}  // namespace evault::audit
