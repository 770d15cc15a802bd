// Enrollment tokens: the operator's permission to create a vault on this server.
//
// The server keeps only hashes of the configured tokens, compares them in constant
// time, and records a spent token by its hash (Store::CreateVault), so neither the
// store nor the logs ever hold a token.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::server {

// Tokens shorter than this are refused when loading: they could be guessed.
inline constexpr std::size_t kMinEnrollTokenChars = 16;

// BLAKE2b-256 of the token under a fixed context.
crypto::Bytes EnrollTokenHash(std::string_view token);

// One token per line; surrounding blanks are ignored, as are empty lines and lines
// starting with '#'. Fails if the file is unreadable, holds no token, or one is short.
Result<std::vector<crypto::Bytes>> LoadEnrollTokenHashes(const std::filesystem::path& file);

// Whether `candidate` equals one of `hashes`. Compares against every one of them in
// constant time (sodium_memcmp), so timing reveals neither which nor how close.
bool MatchesEnrollToken(const std::vector<crypto::Bytes>& hashes, crypto::ByteView candidate);

}  // namespace evault::server
