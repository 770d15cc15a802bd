// BagWriter: a BagIt 1.0 bag (RFC 8493) that a court's expert checks with standard tools:
//   sha256sum -c manifest-sha256.txt          (inside the bag: every payload byte)
//   sha256sum -c tagmanifest-sha256.txt       (bag-info, the manifests, the signer's key)
//   minisign -Vm tagmanifest-sha256.txt -p exporter.pub
//   ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n evault-export
//              -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt   (one line)
// Payload files are hashed (SHA-256 and SHA-512) as they are written, never read back.
//
// Contract: Create refuses an existing directory. A payload path is relative, under
// data/, without "..", control characters, '%' or duplicates, so every manifest line is
// literal and `sha256sum -c` reads it as written. Nothing is signed until
// Finish, which writes the manifests, bag-info.txt (with Payload-Oxum), the signer's
// public key in minisign and OpenSSH form, the tag manifest and its two signatures.
//
// The same bag can instead be streamed as a ustar archive into a ByteSink (CreateStream),
// every entry under "<top_dir>/", e.g. into an AgeWriter over a SealedFile so the bag
// reaches disk only encrypted; `tar -x` then gives the bag directory. A tar entry needs
// its size first, so a streamed payload is begun with BeginPayload(path, size) (or
// AddPayload); the one-argument BeginPayload is refused there. With a declared size,
// Write refuses bytes beyond it and EndPayload a shorter file, in both forms.
// After an output error or a size mismatch, every later call fails: discard the output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/sink.h"
#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"

namespace evault::audit {

inline constexpr char kExportNamespace[] = "evault-export";

class BagOutput;  // where the bag's files go: a directory or a tar stream (bagit.cc)

class BagWriter {
 public:
  static Result<std::unique_ptr<BagWriter>> Create(const std::filesystem::path& dir);
  // The bag as a tar stream into `sink`, under top_dir (one path component). mtime: of
  // every tar entry, seconds since the epoch; the current time if absent. Finish ends
  // the archive but does not finish or close what is behind the sink.
  static Result<std::unique_ptr<BagWriter>> CreateStream(ByteSink sink, std::string_view top_dir,
                                                         std::optional<std::uint64_t> mtime = std::nullopt);
  ~BagWriter();

  // A payload file at data/<path>, written in pieces. Directory bags only.
  Status BeginPayload(std::string_view path);
  // The same with its size declared up front: both forms.
  Status BeginPayload(std::string_view path, std::uint64_t size);
  Status Write(crypto::ByteView bytes);
  Status EndPayload();
  // The same in one call (both forms).
  Status AddPayload(std::string_view path, crypto::ByteView bytes);

  // An extra tag file at the top of the bag (e.g. report.html), covered by the tag
  // manifest and so by both signatures. One path component, a name the bag does not
  // use itself, written at once; before Finish.
  Status AddTagFile(std::string_view name, std::string_view text);

  // bag-info.txt fields (label, value), in order, after Payload-Oxum and Bagging-Date.
  Status Finish(const std::vector<std::pair<std::string, std::string>>& info, const crypto::SigningKeyPair& signer,
                std::string_view signer_identity);

  std::uint64_t payload_bytes() const { return payload_bytes_; }

 private:
  explicit BagWriter(std::unique_ptr<BagOutput> out);
  struct Open;
  Status Begin(std::string_view path, std::optional<std::uint64_t> size);
  Status Failed(Error error);
  Status WriteTagFile(std::string_view name, std::string_view text, std::vector<std::string>* tag_lines);

  std::unique_ptr<BagOutput> out_;
  std::unique_ptr<Open> open_;
  std::vector<std::string> manifest256_, manifest512_, paths_;
  std::vector<std::string> extra_tags_, extra_tag_names_;  // AddTagFile: tag manifest lines, names
  std::uint64_t payload_bytes_ = 0;
  bool finished_ = false;
  bool broken_ = false;
};

}  // namespace evault::audit
