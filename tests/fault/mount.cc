#include "tests/fault/mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/core.h>

namespace evault::fault_test {

namespace fs = std::filesystem;

ScopedTmpfs::ScopedTmpfs(fs::path dir, std::uint64_t bytes) : dir_(std::move(dir)), bytes_(bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    reason_ = fmt::format("cannot create {}: {}", dir_.string(), ec.message());
    return;
  }
  const std::string options = fmt::format("size={},mode=0700", bytes);
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    reason_ = fmt::format("mount -t tmpfs -o {} on {} is not permitted here ({}); this test needs root",
                          options, dir_.string(), std::strerror(errno));
    return;
  }
  mounted_ = true;
}

ScopedTmpfs::~ScopedTmpfs() {
  if (!mounted_) return;
  if (::umount2(dir_.c_str(), 0) != 0) {
    // A child process (a server killed a moment ago) may still hold a file: detach now,
    // the kernel frees it when the last user goes.
    ::umount2(dir_.c_str(), MNT_DETACH);
  }
}

bool ScopedTmpfs::Remount(unsigned long flags, std::uint64_t bytes, std::string* error) {
  const std::string options = fmt::format("size={}", bytes);
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV | flags, options.c_str()) != 0) {
    if (error) *error = fmt::format("remount of {} failed: {}", dir_.string(), std::strerror(errno));
    return false;
  }
  bytes_ = bytes;
  return true;
}

bool ScopedTmpfs::Resize(std::uint64_t bytes, std::string* error) { return Remount(0, bytes, error); }

bool ScopedTmpfs::SetReadOnly(bool read_only, std::string* error) {
  return Remount(read_only ? MS_RDONLY : 0, bytes_, error);
}

std::uint64_t ScopedTmpfs::FreeBytes() const {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

std::uint64_t WriteBallast(const fs::path& path, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> zeros(1 << 16, 0);
  std::uint64_t written = 0;
  while (written < bytes) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), bytes - written));
    const ssize_t w = ::write(fd, zeros.data(), n);
    if (w <= 0) break;
    written += static_cast<std::uint64_t>(w);
  }
  ::close(fd);
  return written;
}

}  // namespace evault::fault_test
