#include "server/enroll_tokens.h"

#include <sodium.h>

#include <fstream>

#include <fmt/core.h>

#include "crypto/keys.h"
#include "crypto/secret_bytes.h"

namespace evault::server {

crypto::Bytes EnrollTokenHash(std::string_view token) {
  crypto::Bytes message;
  crypto::AppendField(message, crypto::AsBytes("evault-enroll-token-v1"));
  crypto::AppendField(message, crypto::AsBytes(token));
  crypto::Bytes hash = crypto::PublicHash(message);
  sodium_memzero(message.data(), message.size());
  return hash;
}

Result<std::vector<crypto::Bytes>> LoadEnrollTokenHashes(const std::filesystem::path& file) {
  crypto::EnsureSodium();
  std::ifstream in(file);
  if (!in) return Fail(ErrorCode::kIo, fmt::format("cannot read the enrollment token file {}", file.string()));
  std::vector<crypto::Bytes> hashes;
  std::string line;
  int number = 0;
  Status status = Ok();
  while (std::getline(in, line)) {
    ++number;
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') {
      const auto last = line.find_last_not_of(" \t\r");
      const std::string_view token = std::string_view(line).substr(first, last - first + 1);
      if (token.size() < kMinEnrollTokenChars) {
        status = Fail(ErrorCode::kInvalidArgument,
                      fmt::format("enrollment token on line {} is shorter than {} characters", number,
                                  kMinEnrollTokenChars));
      } else {
        hashes.push_back(EnrollTokenHash(token));
      }
    }
    sodium_memzero(line.data(), line.size());
  }
  if (!status) return std::unexpected(status.error());
  if (hashes.empty()) return Fail(ErrorCode::kInvalidArgument, "the enrollment token file holds no token");
  return hashes;
}

bool MatchesEnrollToken(const std::vector<crypto::Bytes>& hashes, crypto::ByteView candidate) {
  int matches = 0;
  for (const auto& h : hashes) {
    if (h.size() == candidate.size()) matches |= (sodium_memcmp(h.data(), candidate.data(), h.size()) == 0);
  }
  return matches != 0;
}

}  // namespace evault::server
