#include "audit/merkle.h"

#include <sodium.h>

#include <cstdlib>

#include "crypto/secret_bytes.h"

namespace evault::audit {

namespace {

Hash Sha256(std::span<const std::uint8_t> first, std::span<const std::uint8_t> second = {},
            std::span<const std::uint8_t> third = {}) {
  crypto::EnsureSodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, first.data(), first.size());
  crypto_hash_sha256_update(&state, second.data(), second.size());
  crypto_hash_sha256_update(&state, third.data(), third.size());
  Hash out;
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

constexpr std::uint8_t kLeafPrefix[] = {0x00};
constexpr std::uint8_t kNodePrefix[] = {0x01};

// The largest power of two smaller than n (n >= 2).
std::size_t Split(std::size_t n) {
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

void Path(std::span<const Hash> d, std::size_t m, std::vector<Hash>& out) {
  if (d.size() <= 1) return;
  const std::size_t k = Split(d.size());
  if (m < k) {
    Path(d.first(k), m, out);
    out.push_back(RootOf(d.subspan(k)));
  } else {
    Path(d.subspan(k), m - k, out);
    out.push_back(RootOf(d.first(k)));
  }
}

void Subproof(std::span<const Hash> d, std::size_t m, bool whole, std::vector<Hash>& out) {
  if (m == d.size()) {
    if (!whole) out.push_back(RootOf(d));
    return;
  }
  const std::size_t k = Split(d.size());
  if (m <= k) {
    Subproof(d.first(k), m, whole, out);
    out.push_back(RootOf(d.subspan(k)));
  } else {
    Subproof(d.subspan(k), m - k, false, out);
    out.push_back(RootOf(d.first(k)));
  }
}

bool Lsb(std::uint64_t v) { return (v & 1) != 0; }

}  // namespace

Hash LeafHash(crypto::ByteView leaf) { return Sha256(kLeafPrefix, leaf); }

Hash NodeHash(const Hash& left, const Hash& right) { return Sha256(kNodePrefix, left, right); }

Hash RootOf(std::span<const Hash> d) {
  if (d.empty()) return Sha256({});
  if (d.size() == 1) return d[0];
  const std::size_t k = Split(d.size());
  return NodeHash(RootOf(d.first(k)), RootOf(d.subspan(k)));
}

std::vector<Hash> InclusionProof(std::span<const Hash> leaf_hashes, std::uint64_t index) {
  if (index >= leaf_hashes.size()) std::abort();  // a programming error, as the header says
  std::vector<Hash> out;
  Path(leaf_hashes, index, out);
  return out;
}

std::vector<Hash> ConsistencyProof(std::span<const Hash> leaf_hashes, std::uint64_t old_size) {
  if (old_size == 0 || old_size > leaf_hashes.size()) std::abort();
  std::vector<Hash> out;
  Subproof(leaf_hashes, old_size, true, out);
  return out;
}

Status VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash, std::span<const Hash> proof,
                       const Hash& root) {
  if (index >= size) return Fail(ErrorCode::kTampered, "inclusion proof: the entry lies beyond the tree");
  std::uint64_t fn = index, sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Fail(ErrorCode::kTampered, "inclusion proof: too long for the tree size");
    if (Lsb(fn) || fn == sn) {
      r = NodeHash(p, r);
      while (!Lsb(fn) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kTampered, "inclusion proof: too short for the tree size");
  if (sodium_memcmp(r.data(), root.data(), r.size()) != 0) {
    return Fail(ErrorCode::kTampered, "inclusion proof: the entry is not in the tree with this root");
  }
  return Ok();
}

Status VerifyConsistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root, const Hash& new_root,
                         std::span<const Hash> proof) {
  if (old_size > new_size) return Fail(ErrorCode::kTampered, "consistency proof: the tree shrank");
  if (old_size == new_size || old_size == 0) {
    if (!proof.empty()) return Fail(ErrorCode::kTampered, "consistency proof: expected an empty proof");
    if (old_size == new_size && old_root != new_root) {
      return Fail(ErrorCode::kTampered, "consistency proof: same size, different roots");
    }
    return Ok();
  }
  std::vector<Hash> path(proof.begin(), proof.end());
  if ((old_size & (old_size - 1)) == 0) path.insert(path.begin(), old_root);  // a power of two
  if (path.empty()) return Fail(ErrorCode::kTampered, "consistency proof: empty");
  std::uint64_t fn = old_size - 1, sn = new_size - 1;
  while (Lsb(fn)) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Fail(ErrorCode::kTampered, "consistency proof: too long for the tree sizes");
    if (Lsb(fn) || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while (!Lsb(fn) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kTampered, "consistency proof: too short for the tree sizes");
  if (fr != old_root) return Fail(ErrorCode::kTampered, "consistency proof: the old tree is not a prefix of the new one");
  if (sr != new_root) return Fail(ErrorCode::kTampered, "consistency proof: the new root does not match");
  return Ok();
}

}  // namespace evault::audit
