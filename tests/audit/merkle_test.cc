// RFC 6962/9162 Merkle hashing: the Certificate Transparency test vectors (roots of the
// eight-leaf tree, proofs recomputed independently from the RFC text), every proof of
// every small tree verified, and every single change to a proof refused.
#include "audit/merkle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace evault::audit {
namespace {

std::string Hex(const Hash& h) { return crypto::ToHex(crypto::ByteView(h.data(), h.size())); }

// The leaves of the CT reference tests.
std::vector<Hash> CtLeaves() {
  std::vector<Hash> out;
  for (const char* hex : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                          "606162636465666768696a6b6c6d6e6f"}) {
    out.push_back(LeafHash(*crypto::FromHex(hex)));
  }
  return out;
}

std::vector<Hash> Leaves(std::size_t n) {
  std::vector<Hash> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string text = "custody entry " + std::to_string(i);
    out.push_back(LeafHash(crypto::AsBytes(text)));
  }
  return out;
}

TEST(MerkleTest, RootsMatchCertificateTransparencyVectors) {
  const char* const roots[] = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  };
  const auto leaves = CtLeaves();
  for (std::size_t n = 1; n <= 8; ++n) {
    EXPECT_EQ(Hex(RootOf(std::span(leaves).first(n))), roots[n - 1]) << "tree of " << n;
  }
  EXPECT_EQ(Hex(RootOf({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // SHA-256("")
}

TEST(MerkleTest, ProofsMatchVectors) {
  const auto leaves = CtLeaves();
  auto hexes = [](const std::vector<Hash>& proof) {
    std::vector<std::string> out;
    for (const auto& h : proof) out.push_back(Hex(h));
    return out;
  };
  EXPECT_EQ(hexes(InclusionProof(leaves, 0)),
            (std::vector<std::string>{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                                      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(hexes(InclusionProof(leaves, 5)),
            (std::vector<std::string>{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(hexes(ConsistencyProof(leaves, 6)),
            (std::vector<std::string>{"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(hexes(ConsistencyProof(std::span(leaves).first(5), 2)),
            (std::vector<std::string>{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}));
}

TEST(MerkleTest, EveryInclusionProofOfSmallTreesVerifiesAndEveryChangeIsRefused) {
  const auto all = Leaves(33);
  for (std::size_t n = 1; n <= all.size(); ++n) {
    const auto leaves = std::span(all).first(n);
    const Hash root = RootOf(leaves);
    for (std::size_t m = 0; m < n; ++m) {
      auto proof = InclusionProof(leaves, m);
      ASSERT_TRUE(VerifyInclusion(m, n, leaves[m], proof, root)) << m << " of " << n;
      // Another entry, another position, another root: refused. (The size is not
      // checked by the proof alone: it comes with the root in a signed checkpoint.)
      if (n > 1) EXPECT_FALSE(VerifyInclusion(m, n, leaves[(m + 1) % n], proof, root));
      if (m + 1 < n) EXPECT_FALSE(VerifyInclusion(m + 1, n, leaves[m], proof, root));
      EXPECT_FALSE(VerifyInclusion(n, n, leaves[m], proof, root));
      Hash other_root = root;
      other_root[0] ^= 1;
      EXPECT_FALSE(VerifyInclusion(m, n, leaves[m], proof, other_root));
      for (std::size_t i = 0; i < proof.size(); ++i) {
        auto bad = proof;
        bad[i][31] ^= 0x80;
        EXPECT_FALSE(VerifyInclusion(m, n, leaves[m], bad, root)) << "flipped element " << i;
      }
      if (!proof.empty()) {
        EXPECT_FALSE(VerifyInclusion(m, n, leaves[m], std::span(proof).first(proof.size() - 1), root));
      }
      auto longer = proof;
      longer.push_back(root);
      EXPECT_FALSE(VerifyInclusion(m, n, leaves[m], longer, root));
    }
  }
}

TEST(MerkleTest, EveryConsistencyProofOfSmallTreesVerifiesAndEveryChangeIsRefused) {
  const auto all = Leaves(33);
  for (std::size_t n = 1; n <= all.size(); ++n) {
    const auto leaves = std::span(all).first(n);
    const Hash new_root = RootOf(leaves);
    for (std::size_t m = 1; m <= n; ++m) {
      const Hash old_root = RootOf(leaves.first(m));
      auto proof = ConsistencyProof(leaves, m);
      ASSERT_TRUE(VerifyConsistency(m, n, old_root, new_root, proof)) << m << " -> " << n;
      if (m == n) {
        EXPECT_TRUE(proof.empty());
        continue;
      }
      Hash bad_old = old_root;
      bad_old[5] ^= 1;
      EXPECT_FALSE(VerifyConsistency(m, n, bad_old, new_root, proof));
      Hash bad_new = new_root;
      bad_new[5] ^= 1;
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, bad_new, proof));
      EXPECT_FALSE(VerifyConsistency(n, m, new_root, old_root, proof));  // shrinking
      for (std::size_t i = 0; i < proof.size(); ++i) {
        auto bad = proof;
        bad[i][0] ^= 0x01;
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, bad)) << "flipped element " << i;
      }
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, std::span(proof).first(proof.size() - 1)));
    }
  }
}

TEST(MerkleTest, AlteredDeletedOrReorderedEntriesChangeTheRootAndBreakConsistency) {
  auto leaves = Leaves(10);
  const Hash root = RootOf(leaves);
  const Hash old_root = RootOf(std::span(leaves).first(6));
  auto altered = leaves;
  altered[3] = LeafHash(crypto::AsBytes(std::string("custody entry 3, altered")));
  auto reordered = leaves;
  std::swap(reordered[2], reordered[3]);
  auto deleted = leaves;
  deleted.erase(deleted.begin() + 4);
  for (const auto* variant : {&altered, &reordered, &deleted}) {
    EXPECT_NE(RootOf(*variant), root);
    // A log rewritten after the old checkpoint cannot prove it extends that checkpoint.
    if (variant->size() >= 6) {
      auto proof = ConsistencyProof(*variant, 6);
      EXPECT_FALSE(VerifyConsistency(6, variant->size(), old_root, RootOf(*variant), proof));
    }
  }
  // A leaf can never pass for an interior node (0x00 / 0x01 domain separation).
  const Hash node = NodeHash(leaves[0], leaves[1]);
  std::vector<std::uint8_t> concatenated(leaves[0].begin(), leaves[0].end());
  concatenated.insert(concatenated.end(), leaves[1].begin(), leaves[1].end());
  EXPECT_NE(LeafHash(concatenated), node);
}

}  // namespace
}  // namespace evault::audit
