// SealedFile: the single output file of an encrypted export (bundle.tar.age), written
// through a ByteSink so only ciphertext from AgeWriter ever reaches it (AgeFile in
// audit/age.h is the two together).
//
// Contract: Create opens a new file with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, and
// refuses an existing path or a symlink (kAlreadyExists). Finish fsyncs the file, closes
// it and fsyncs its directory; only then does the file stay. If Finish is never reached
// or fails, the destructor (or Discard) removes it, so a failed export leaves no
// half-written bundle behind. It removes the path only while it still names the file
// this object created. (A crash or power loss midway can still leave a truncated file;
// it holds only ciphertext, and `age -d` refuses it.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "audit/sink.h"
#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::audit {

class SealedFile {
 public:
  static Result<std::unique_ptr<SealedFile>> Create(const std::filesystem::path& path);
  ~SealedFile();  // Discard() unless Finish succeeded
  SealedFile(const SealedFile&) = delete;
  SealedFile& operator=(const SealedFile&) = delete;

  Status Write(crypto::ByteView bytes);
  // A ByteSink that writes into this file, valid while this object lives.
  ByteSink sink();

  Status Finish();
  // Removes the file now; later calls fail. A no-op after a successful Finish.
  void Discard();

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  SealedFile(std::filesystem::path path, int fd);

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t bytes_written_ = 0;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace evault::audit
