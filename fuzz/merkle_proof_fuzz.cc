// Merkle inclusion and consistency proofs (audit/merkle.h) as an export's custody proof
// carries them. Mode 0 (first byte even): sizes, index, hashes and proof straight from
// the input into the verifiers, which must refuse without crashing or looping. Mode 1:
// a tree of up to 64 leaves from the input; the proofs the maker gives must verify, and
// the same proofs with a changed root must not.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "audit/merkle.h"
#include "fuzz/fuzz_util.h"

namespace {

using evault::audit::Hash;

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint64_t U64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8 && n > 0; ++i, ++p, --n) v = (v << 8) | *p;
    return v;
  }
  Hash H() {
    Hash h{};
    const std::size_t k = std::min(n, h.size());
    if (k > 0) std::memcpy(h.data(), p, k);
    p += k;
    n -= k;
    return h;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault::audit;
  if (size < 1) return 0;
  Input in{data + 1, size - 1};
  if ((data[0] & 1) == 0) {
    const std::uint64_t a = in.U64(), b = in.U64();
    const Hash x = in.H(), y = in.H();
    std::vector<Hash> proof;
    while (in.n > 0 && proof.size() < 128) proof.push_back(in.H());
    (void)VerifyInclusion(a, b, x, proof, y);
    (void)VerifyConsistency(a, b, x, y, proof);
    return 0;
  }
  const std::size_t leaves_count = 1 + (data[0] >> 2);  // 1..64
  std::vector<Hash> leaves;
  for (std::size_t i = 0; i < leaves_count; ++i) {
    const std::uint8_t byte = in.n > 0 ? in.p[i % in.n] : 0;
    leaves.push_back(LeafHash(evault::crypto::ByteView(&byte, 1)));
    leaves.back()[1] = static_cast<std::uint8_t>(i);  // distinct leaves
  }
  const std::uint64_t index = in.U64() % leaves_count;
  const std::uint64_t old_size = 1 + in.U64() % leaves_count;
  const Hash root = RootOf(leaves);
  const Hash old_root = RootOf(std::span<const Hash>(leaves).first(old_size));
  const auto inclusion = InclusionProof(leaves, index);
  const auto consistency = ConsistencyProof(leaves, old_size);
  if (!VerifyInclusion(index, leaves_count, leaves[index], inclusion, root)) std::abort();
  if (!VerifyConsistency(old_size, leaves_count, old_root, root, consistency)) std::abort();
  Hash wrong = root;
  wrong[0] ^= 1;
  if (VerifyInclusion(index, leaves_count, leaves[index], inclusion, wrong)) std::abort();
  if (old_size != leaves_count && VerifyConsistency(old_size, leaves_count, old_root, wrong, consistency)) std::abort();
  return 0;
}
