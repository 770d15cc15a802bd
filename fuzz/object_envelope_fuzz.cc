// An ObjectEnvelope as a server hands it to a client (vault/object.h): every field is
// the server's to choose. The keyless checks (shape, signature, chain hash, membership
// operation parsing and rules) run on it as sent; then, as the first byte asks, it is
// re-signed by the fuzz world's author (and given its vault and object id) so that
// ObjectCodec::Open gets past the signature to the key slots, the commitment and the
// body. Seeds are objects sealed to the fuzz world's keys, so they open completely.
#include <cstdlib>

#include "fuzz/fuzz_world.h"
#include "vault/membership.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  if (size < 1) return 0;
  const fuzz::World& w = fuzz::World::Get();
  const std::uint8_t flags = data[0];
  format::v1::ObjectEnvelope e;
  if (!e.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;

  (void)vault::ObjectCodec::CheckShape(e, 3);
  (void)vault::ObjectCodec::ChainHash(e);
  (void)vault::ObjectCodec::VerifySignature(e);
  (void)vault::Membership::ParseOp(e);
  vault::Membership fresh;
  (void)fresh.Apply(e);

  auto as_bytes = [](const std::string& s) { return crypto::Bytes(s.begin(), s.end()); };
  if (flags & 2) e.set_vault_id(std::string(crypto::AsText(w.vault_id)));
  if (flags & 4 || e.object_id().empty()) e.set_object_id(std::string(crypto::AsText(w.object_id)));
  if (flags & 1) {
    e.set_author(std::string(crypto::AsText(w.owner.public_key())));
    const std::uint64_t seq = e.author_seq();
    const crypto::Bytes prev = as_bytes(e.prev_hash());
    e = w.codec.Rechain(std::move(e), seq, prev);
    if (!vault::ObjectCodec::VerifySignature(e)) std::abort();  // just signed
  }
  const crypto::Bytes expected = as_bytes(e.object_id());
  auto opened = w.codec.Open(e, expected, w.opening());
  if (!opened) return 0;
  if (opened->identity.logical_id.size() != vault::kIdBytes) std::abort();
  fuzz::ConsumeOpenedBody(*opened);
  return 0;
}
