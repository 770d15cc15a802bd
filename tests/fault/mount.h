// A tmpfs mounted for one test and always unmounted again (RAII), for a full disk and a
// read-only file system under a vault or a server's data directory. Mounting needs root
// (CI runs as root); ok() is false with the reason otherwise, so the test can skip.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace evault::fault_test {

class ScopedTmpfs {
 public:
  // Mounts a tmpfs of `bytes` at `dir` (created if missing).
  ScopedTmpfs(std::filesystem::path dir, std::uint64_t bytes);
  ~ScopedTmpfs();  // unmounts; lazily if something still holds it open
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;

  bool ok() const { return mounted_; }
  const std::string& reason() const { return reason_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Remounts with another size (growing it frees space) or read-only / read-write.
  bool Resize(std::uint64_t bytes, std::string* error);
  bool SetReadOnly(bool read_only, std::string* error);
  std::uint64_t FreeBytes() const;

 private:
  bool Remount(unsigned long flags, std::uint64_t bytes, std::string* error);

  std::filesystem::path dir_;
  std::uint64_t bytes_ = 0;
  bool mounted_ = false;
  std::string reason_;
};

// Writes `bytes` of zeros to `path` (a ballast file to delete later, freeing space);
// stops quietly at a full disk. Returns the bytes written.
std::uint64_t WriteBallast(const std::filesystem::path& path, std::uint64_t bytes);

}  // namespace evault::fault_test
