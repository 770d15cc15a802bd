#include "audit/sealed_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/core.h>

namespace evault::audit {

namespace fs = std::filesystem;

SealedFile::SealedFile(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}

Result<std::unique_ptr<SealedFile>> SealedFile::Create(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  return std::unique_ptr<SealedFile>(new SealedFile(path, fd));
}

SealedFile::~SealedFile() { Discard(); }

Status SealedFile::Write(crypto::ByteView bytes) {
  if (fd_ < 0 || broken_ || finished_) {
    return Fail(ErrorCode::kInternal, fmt::format("{} is finished, discarded or failed earlier", path_.string()));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      broken_ = true;
      return FailErrno(errno, fmt::format("writing {} failed: {}", path_.string(), std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  bytes_written_ += bytes.size();
  return Ok();
}

ByteSink SealedFile::sink() {
  return [this](crypto::ByteView bytes) { return Write(bytes); };
}

Status SealedFile::Finish() {
  if (fd_ < 0 || broken_ || finished_) {
    return Fail(ErrorCode::kInternal, fmt::format("{} is finished, discarded or failed earlier", path_.string()));
  }
  if (::fsync(fd_) != 0) {
    broken_ = true;
    return FailErrno(errno, fmt::format("syncing {} failed: {}", path_.string(), std::strerror(errno)));
  }
  // The name must be durable too; a filesystem that cannot sync a directory (EINVAL)
  // gives no stronger promise than the file's own fsync.
  const fs::path parent = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const bool synced = ::fsync(dir) == 0 || errno == EINVAL;
    const int err = errno;
    ::close(dir);
    if (!synced) {
      broken_ = true;
      return Fail(ErrorCode::kIo, fmt::format("syncing {} failed: {}", parent.string(), std::strerror(err)));
    }
  }
  if (::close(std::exchange(fd_, -1)) != 0) {
    // The descriptor is gone either way, so the file can no longer be matched for
    // removal; remove it by name (it is still the one we made a moment ago).
    ::unlink(path_.c_str());
    broken_ = true;
    return Fail(ErrorCode::kIo, fmt::format("closing {} failed", path_.string()));
  }
  finished_ = true;
  return Ok();
}

void SealedFile::Discard() {
  if (finished_ || fd_ < 0) return;
  // Remove the path only if it still names the file we created, not something put in
  // its place since.
  struct stat ours {}, now {};
  if (::fstat(fd_, &ours) == 0 && ::lstat(path_.c_str(), &now) == 0 && ours.st_dev == now.st_dev &&
      ours.st_ino == now.st_ino) {
    ::unlink(path_.c_str());
  }
  ::close(std::exchange(fd_, -1));
  broken_ = true;
}

}  // namespace evault::audit
