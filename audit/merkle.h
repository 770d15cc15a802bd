// Merkle tree hashing of RFC 6962 / RFC 9162 (Certificate Transparency), for the custody
// log (#5): a court's expert can check an inclusion or consistency proof with any CT
// tool. SHA-256 (libsodium's crypto_hash_sha256), with 0x00 before leaves and 0x01
// before interior nodes, so a leaf can never pass for a node.
//
// Contract: the proof makers take the leaf hashes of the whole tree; the verifiers take
// only sizes, hashes and the proof, and fail with kTampered naming what did not hold.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/status.h"

namespace evault::audit {

using Hash = std::array<std::uint8_t, 32>;

Hash LeafHash(crypto::ByteView leaf);                   // SHA-256(0x00 | leaf)
Hash NodeHash(const Hash& left, const Hash& right);     // SHA-256(0x01 | left | right)
Hash RootOf(std::span<const Hash> leaf_hashes);         // MTH; SHA-256("") when empty

// PATH(index, D[n]) of RFC 6962 2.1.1, leaf to root. Requires index < leaf_hashes.size().
std::vector<Hash> InclusionProof(std::span<const Hash> leaf_hashes, std::uint64_t index);
// PROOF(old_size, D[n]) of RFC 6962 2.1.2. Requires 0 < old_size <= leaf_hashes.size().
std::vector<Hash> ConsistencyProof(std::span<const Hash> leaf_hashes, std::uint64_t old_size);

// RFC 9162 2.1.3.2: `leaf_hash` is entry `index` of the tree of `size` entries with `root`.
Status VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root);
// RFC 9162 2.1.4.2: the tree of `old_size` entries with `old_root` is a prefix of the tree
// of `new_size` entries with `new_root` (nothing was deleted, altered or reordered).
Status VerifyConsistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                         const Hash& new_root, std::span<const Hash> proof);

}  // namespace evault::audit
