// A Store that runs a test's hook at the start of the next Append, before forwarding
// it: what another replica commits between a push's checks and its write, made
// deterministic rather than left to a race.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "server/forwarding_store.h"

namespace evault::server::testing {

class InterposingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  // `hook` runs once, in the next Append (on the thread of the call that appends).
  void BeforeNextAppend(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }
  int hooks_run() const { return hooks_run_; }
  // Appends the store refused because the membership changed since they were checked.
  int aborted() const { return aborted_; }

  Result<std::vector<Appended>> Append(crypto::ByteView v, std::span<const format::v1::ObjectEnvelope> e,
                                       std::optional<std::uint64_t> membership_ops) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      hook = std::exchange(hook_, nullptr);
    }
    if (hook) {
      hook();
      ++hooks_run_;
    }
    auto appended = ForwardingStore::Append(v, e, membership_ops);
    if (!appended && appended.error().code == ErrorCode::kAborted) ++aborted_;
    return appended;
  }

 private:
  std::mutex mu_;
  std::function<void()> hook_;
  std::atomic<int> hooks_run_{0};
  std::atomic<int> aborted_{0};
};

}  // namespace evault::server::testing
