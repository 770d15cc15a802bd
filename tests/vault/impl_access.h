// Test-only access to a Vault's internals (its catalog, keys and object chain), for
// tests that must reach what the public API deliberately hides: an explicit template
// instantiation may name a private member, and the friend function hands it out.
#pragma once

#include <memory>

#include "vault/vault.h"
#include "vault/vault_impl.h"

namespace evault::vault {
namespace {
using ImplMember = std::unique_ptr<Vault::Impl> Vault::*;
ImplMember StolenImplMember();
template <ImplMember M>
struct ImplThief {
  friend ImplMember StolenImplMember() { return M; }
};
template struct ImplThief<&Vault::impl_>;
[[maybe_unused]] Vault::Impl& TestOnlyImpl(Vault& v) { return *(v.*StolenImplMember()); }
}  // namespace
}  // namespace evault::vault
