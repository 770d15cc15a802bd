// The fixed vault the object and membership targets fuzz against: its id, an author
// device, the epoch's readers and members keys and the author's self key. The seed
// generator seals its seeds to the same keys, so the targets get past the slot and
// signature checks on them and mutations start from objects that open.
#pragma once

#include "fuzz/fuzz_util.h"
#include "vault/object.h"

namespace evault::fuzz {

struct World {
  crypto::Bytes vault_id = FixedId(0);
  crypto::SigningKeyPair owner = FixedSigningKey(0);
  crypto::SigningKeyPair second_device = FixedSigningKey(1);
  crypto::SigningKeyPair third_device = FixedSigningKey(2);
  crypto::BoxKeyPair readers = FixedBoxKey(0);   // epoch 1 readers
  crypto::BoxKeyPair members = FixedBoxKey(1);   // epoch 1 members (slot 1 of most objects)
  crypto::BoxKeyPair self = FixedBoxKey(2);      // the owner's self key (slot 2)
  crypto::BoxKeyPair owner_box = FixedBoxKey(3);   // the owner's device box key
  crypto::BoxKeyPair second_box = FixedBoxKey(4);
  crypto::BoxKeyPair third_box = FixedBoxKey(5);
  crypto::Bytes object_id = FixedId(1);
  crypto::Bytes logical_id = FixedId(2);
  crypto::Bytes case_id = FixedId(3);
  vault::ObjectCodec codec{vault_id, &owner};

  vault::SealingKeys sealing() const {
    return {1, readers.public_key(), members.public_key(), self.public_key()};
  }
  vault::OpeningKeys opening() const { return {&readers, {&members}, {&self}}; }

  static const World& Get() {
    static const World world;
    return world;
  }
};

}  // namespace evault::fuzz

#include <nlohmann/json.hpp>

#include "audit/custody.h"
#include "evault_sync.pb.h"
#include "vault/record.h"

namespace evault::fuzz {

// What a client does with the body of an object it pulled and opened (the checks in
// vault/sync_state.cc ApplyObject and Vault::Impl::ApplyPulledAudit, without the
// database): the body is parsed as JSON (a revision's record validated), a custody
// entry's line is parsed and checked, a checkpoint parsed as protobuf.
inline void ConsumeOpenedBody(const vault::OpenedObject& opened) {
  using nlohmann::json;
  const std::string_view body = opened.body.view();
  switch (opened.identity.kind) {
    case vault::ObjectKind::kAuditEntry: {
      auto entry = audit::ParseEntry(body);
      if (!entry) return;
      // ParseEntry's promise to its callers: the fields they read are there and typed.
      if (!(*entry)["key"].is_string() || !(*entry)["vault"].is_string() || !(*entry)["stream"].is_string() ||
          !(*entry)["seq"].is_number_unsigned() || !(*entry)["action"].is_string() ||
          !(*entry)["subject"].is_object()) {
        std::abort();
      }
      return;
    }
    case vault::ObjectKind::kCheckpoint: {
      sync::v1::Checkpoint checkpoint;
      if (!checkpoint.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
      for (const auto& head : checkpoint.heads()) (void)crypto::ToHex(crypto::AsBytes(head.hash()));
      return;
    }
    default: {
      json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded() || !parsed.is_object()) return;
      if (opened.identity.kind == vault::ObjectKind::kRecordRevision) {
        const json record = parsed.value("record", json::object());
        if (vault::ValidateRecord(record)) (void)vault::RecordText(record);
      }
      return;
    }
  }
}

}  // namespace evault::fuzz
