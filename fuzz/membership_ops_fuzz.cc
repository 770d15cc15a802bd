// Membership operations as the server relays them (vault/membership.h): a sequence of
// signed MembershipOps applied in order, the rules deciding who may read and write.
// The input is up to 12 parts (fuzz_util.h separator); each part's first byte names
// its signer (devices 0-2 of the fuzz world, which signs the rest of the part as a
// public membership object) or, as 3, gives a raw ObjectEnvelope as sent. Checked: no
// crash, a refused operation changes nothing, and the state stays consistent.
#include <cstdlib>

#include "fuzz/fuzz_world.h"
#include "vault/membership.h"

namespace {

using namespace evault;

// What Apply must leave unchanged when it refuses an operation.
struct Summary {
  std::size_t members, epochs, delivered, grants, revoked;
  bool operator==(const Summary&) const = default;
};

Summary Summarize(const vault::Membership& m) {
  std::size_t revoked = 0;
  for (const auto& [key, member] : m.members()) revoked += member.revoked ? 1 : 0;
  return {m.members().size(), m.current_epoch(), m.delivered().size(), m.grants().size(), revoked};
}

void CheckConsistent(const vault::Membership& m) {
  if (m.empty()) {
    if (m.current_epoch() != 0) std::abort();
    return;
  }
  if (m.vault_id().size() != vault::kIdBytes || m.current_epoch() == 0) std::abort();
  for (std::uint64_t e = 1; e <= m.current_epoch(); ++e) {
    const auto* keys = m.Epoch(e);
    if (keys == nullptr || keys->readers.size() != 32 || keys->members.size() != 32) std::abort();
  }
  if (m.Epoch(0) != nullptr || m.Epoch(m.current_epoch() + 1) != nullptr) std::abort();
  std::size_t owners = 0;
  for (const auto& [key, member] : m.members()) {
    if (member.signing_key.size() != 32 || member.roles.empty()) std::abort();
    for (std::uint64_t e = 0; e <= m.current_epoch() + 1; ++e) (void)member.RoleAt(e);
    (void)m.CanWrite(member.signing_key);
    (void)m.RoleOf(member.signing_key);
    if (!member.revoked && member.role == sync::v1::OWNER) ++owners;
  }
  if (owners == 0) std::abort();  // nobody can revoke the owner, nor can it leave
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::World& w = fuzz::World::Get();
  static const vault::ObjectCodec codecs[3] = {{w.vault_id, &w.owner},
                                               {w.vault_id, &w.second_device},
                                               {w.vault_id, &w.third_device}};
  crypto::Bytes prev[3];
  std::uint64_t seq[3] = {0, 0, 0};
  vault::Membership m;
  std::uint8_t n = 0;
  for (std::string_view part : fuzz::Split(fuzz::AsView(data, size), 12)) {
    if (part.empty()) continue;
    const unsigned signer = static_cast<std::uint8_t>(part[0]) & 3;
    part.remove_prefix(1);
    format::v1::ObjectEnvelope e;
    if (signer == 3) {
      if (!e.ParseFromArray(part.data(), static_cast<int>(part.size()))) continue;
    } else {
      crypto::Bytes object_id = fuzz::FixedId(0x20 + n++);
      e = codecs[signer].SealPublic(object_id, crypto::AsBytes(part), ++seq[signer], prev[signer]);
      prev[signer] = vault::ObjectCodec::ChainHash(e);
    }
    const Summary before = Summarize(m);
    auto applied = m.Apply(e);
    if (!applied && !(Summarize(m) == before)) std::abort();
    CheckConsistent(m);
  }
  return 0;
}
