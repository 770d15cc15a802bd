// The body of an object a member sealed: a hostile member holds the keys, so the body
// reaches the client's parsers after every cryptographic check passed. The target seals
// the input as a genuine object of the kind its first byte names (to the fuzz world's
// keys), checks the round trip through the wire format and Open, then hands the body to
// what a client runs on a pulled object of that kind.
#include <cstdlib>
#include <cstring>

#include "fuzz/fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  if (size < 2) return 0;
  const fuzz::World& w = fuzz::World::Get();
  vault::ObjectIdentity identity;
  identity.kind = static_cast<vault::ObjectKind>(data[0]);
  identity.logical_id = w.logical_id;
  identity.revision = 1 + (data[1] >> 1);
  if (data[1] & 1) identity.case_id = w.case_id;
  const crypto::ByteView body(data + 2, size - 2);

  static const crypto::SymmetricKey content_key = [] {
    auto key = crypto::SymmetricKey::FromBytes(
        crypto::SecretBytes::CopyFrom(std::string_view("evault fuzz content key 32 bytes")));
    if (!key) std::abort();
    return std::move(*key);
  }();
  auto sealed = w.codec.Seal(w.object_id, identity, body, 1, {}, content_key, w.sealing());
  if (!sealed) std::abort();
  format::v1::ObjectEnvelope e;
  if (!e.ParseFromString(sealed->SerializeAsString())) std::abort();
  if (!vault::ObjectCodec::CheckShape(e, 1) || !vault::ObjectCodec::VerifySignature(e)) std::abort();
  auto opened = w.codec.Open(e, w.object_id, w.opening());
  if (!opened || opened->identity.kind != identity.kind || opened->identity.revision != identity.revision ||
      opened->identity.case_id != identity.case_id || opened->body.size() != body.size() ||
      (!body.empty() && std::memcmp(opened->body.data(), body.data(), body.size()) != 0)) {
    std::abort();
  }
  fuzz::ConsumeOpenedBody(*opened);
  return 0;
}
