// TarWriter: a POSIX ustar archive (POSIX.1-1988 / IEEE 1003.1 "ustar") written as a
// stream into a ByteSink, so `tar -x` (GNU tar, bsdtar, Python tarfile) unpacks it and
// nothing is staged on disk. Entries are regular files (mode 0600) and directories
// (mode 0700), owned by uid/gid 0 with empty user and group names, all with one mtime.
//
// Contract:
// - A path is relative, '/'-separated, without empty, "." or ".." components, NUL or
//   other control bytes. It is stored in the 100-byte name field, or, if longer, split at
//   a '/' into the 155-byte prefix field and a name of at most 100 bytes (so at most 256
//   bytes in all; 255 for a directory, stored with a trailing '/'). No pax or GNU long
//   names: anything else is kInvalidArgument, and nothing is written for it.
// - A file's size is declared up front (BeginFile). Write refuses bytes beyond it and
//   EndFile refuses a file shorter than it; the archive is then unusable.
// - Sizes up to 8 GiB - 1 are written in octal as ustar specifies; larger sizes use the
//   base-256 form (first byte 0x80, then the size big-endian) that GNU tar, bsdtar, Go
//   and Python read. Nothing else leaves strict ustar.
// - After the sink fails, a size error, or Finish, every call fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "audit/sink.h"
#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::audit {

class TarWriter {
 public:
  static constexpr std::size_t kBlockBytes = 512;
  static constexpr std::uint64_t kMaxOctalSize = (std::uint64_t{1} << 33) - 1;  // 11 octal digits

  // mtime: seconds since the epoch for every entry; the current time if absent.
  explicit TarWriter(ByteSink sink, std::optional<std::uint64_t> mtime = std::nullopt);

  // Whether `path` can be stored (see the contract); kInvalidArgument says why not.
  static Status CheckPath(std::string_view path);

  // A directory entry (stored as "path/").
  Status AddDirectory(std::string_view path);

  // A regular file of exactly `size` bytes, written in pieces.
  Status BeginFile(std::string_view path, std::uint64_t size);
  Status Write(crypto::ByteView bytes);
  Status EndFile();  // pads the data to a 512-byte block
  // The same in one call.
  Status AddFile(std::string_view path, crypto::ByteView bytes);

  // The end-of-archive marker: two zero blocks. The sink is not closed.
  Status Finish();

  // Bytes handed to the sink so far.
  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  Status Usable() const;
  Status Emit(crypto::ByteView bytes);
  Status WriteHeader(std::string_view path, char type, std::uint64_t size);

  ByteSink out_;
  std::uint64_t mtime_;
  std::uint64_t bytes_written_ = 0;
  bool file_open_ = false;
  std::uint64_t file_size_ = 0;
  std::uint64_t file_written_ = 0;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace evault::audit
