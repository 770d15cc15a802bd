// BagWriter: a BagIt 1.0 bag (RFC 8493) that a court's expert checks with standard tools:
//   sha256sum -c manifest-sha256.txt          (inside the bag: every payload byte)
//   sha256sum -c tagmanifest-sha256.txt       (bag-info, the manifests, the signer's key)
//   minisign -Vm tagmanifest-sha256.txt -p exporter.pub
//   ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n evault-export \
//              -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt
// Payload files are hashed (SHA-256 and SHA-512) as they are written, never read back.
//
// Contract: Create refuses an existing directory. A payload path is relative, under
// data/, without "..", control characters, '%' or duplicates, so every manifest line is
// literal and `sha256sum -c` reads it as written. Nothing is signed until
// Finish, which writes the manifests, bag-info.txt (with Payload-Oxum), the signer's
// public key in minisign and OpenSSH form, the tag manifest and its two signatures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"

namespace evault::audit {

inline constexpr char kExportNamespace[] = "evault-export";

class BagWriter {
 public:
  static Result<std::unique_ptr<BagWriter>> Create(const std::filesystem::path& dir);
  ~BagWriter();

  // A payload file at data/<path>, written in pieces.
  Status BeginPayload(std::string_view path);
  Status Write(crypto::ByteView bytes);
  Status EndPayload();
  // The same in one call.
  Status AddPayload(std::string_view path, crypto::ByteView bytes);

  // bag-info.txt fields (label, value), in order, after Payload-Oxum and Bagging-Date.
  Status Finish(const std::vector<std::pair<std::string, std::string>>& info, const crypto::SigningKeyPair& signer,
                std::string_view signer_identity);

  std::uint64_t payload_bytes() const { return payload_bytes_; }

 private:
  explicit BagWriter(std::filesystem::path dir);
  struct Open;
  Status WriteTagFile(std::string_view name, std::string_view text, std::vector<std::string>& tag_lines);

  std::filesystem::path dir_;
  std::unique_ptr<Open> open_;
  std::vector<std::string> manifest256_, manifest512_, paths_;
  std::uint64_t payload_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace evault::audit
