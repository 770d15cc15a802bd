// SyncState: the vault's side of sync, with no network in it (client/sync.cc drives it
// over gRPC).
//
// What it guarantees when applying what a server sent (ApplyPulled): every object is
// signed by its author, belongs to this vault, continues its author's hash chain
// (sequence + previous hash) and comes from a member; membership operations follow
// the rules in membership.h; checkpoints (the heads other devices have pinned) agree
// with what this device has seen. A server that drops, replays, reorders, alters, rolls
// back or forks history is refused with an error naming what it did, and nothing of
// the page is applied.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/identity.h"
#include "crypto/status.h"
#include "evault_format.pb.h"
#include "evault_sync.pb.h"
#include "vault/membership.h"
#include "vault/vault.h"

namespace evault::vault {

class SyncState {
 public:
  explicit SyncState(Vault& vault);

  struct Config {
    std::string server;   // host:port
    std::string ca_pem;   // the CA that signed the server's certificate
    std::string server_fingerprint;  // or: SHA-256 of the server certificate (hex), pinned
    bool insecure = false;  // plaintext on loopback, for tests only
  };
  Result<std::optional<Config>> LoadConfig();
  Status SaveConfig(const Config& config);

  const crypto::Bytes& vault_id() const;
  const crypto::SigningKeyPair& device() const;
  const crypto::Bytes& box_public_key() const;
  const Membership& membership() const;
  bool admitted() const;  // an active member (admitted, not revoked)
  std::uint64_t author_seq() const;
  std::uint64_t pushed_seq() const;
  std::uint64_t pulled_seq() const;

  // This device's objects the server has not acknowledged, oldest first; first, after a
  // restore, those it acknowledged once and lost (sent again unchanged).
  Result<std::vector<format::v1::ObjectEnvelope>> Unpushed(std::size_t max_objects, std::size_t max_bytes);
  Status MarkPushed(std::uint64_t author_seq);

  // An attachment whose chunks must move, in chunk order.
  struct Transfer {
    std::string attachment_id;
    std::vector<crypto::Bytes> chunk_ids;
  };
  Result<std::vector<Transfer>> PendingUploads();
  Result<std::string> ReadChunk(crypto::ByteView chunk_id);
  Status MarkUploaded(std::string_view attachment_id);

  struct PullOutcome {
    // The server's incarnation changed: it was restored from a backup, so its history
    // may be older than what this device saw. Nothing of the page was applied; the pull
    // starts again from the server's first object, checking every object this device
    // already holds against what it saw (a server that now shows different bytes is
    // still refused as tampering), and this device's objects the server lost are marked
    // to be sent again.
    bool server_restored = false;
    std::size_t rechecked = 0;  // objects this device already held, found unchanged
    std::size_t objects = 0;
    std::size_t membership_ops = 0;
    bool admitted_now = false;
    std::size_t rejected = 0;  // signed by a member but unusable (malformed): set aside
    std::size_t evidence = 0;  // cases, revisions and attachments of others now readable here
  };
  Result<PullOutcome> ApplyPulled(const sync::v1::PullResponse& page);

  // After a restore, what the server still lacks of the history this device saw.
  struct ServerGap {
    std::uint64_t own_objects = 0;     // this device's, to send again (Unpushed)
    std::uint64_t own_purged = 0;      // of those, purged here: only another device holds them
    std::uint64_t others_objects = 0;  // other devices', held here: they send them when they sync
    std::size_t other_devices = 0;
  };
  Result<ServerGap> GapOnServer();

  // After a complete pull of a restored server: what it lost that this device holds
  // (ids, hex), in the order the server first had it, to send back: this device's own
  // objects, and other devices' on their authors' behalf (a relay), so that what a
  // device purged or will never sync again is not lost. Each is signed by its author and
  // must extend its author's chain there, so the server and every device check it as if
  // its author had sent it. In the old order, a checkpoint never arrives before what it
  // vouches for. Attachments among them whose chunks are all held here are queued for
  // upload.
  Result<std::vector<std::string>> PrepareRelay();
  Result<format::v1::ObjectEnvelope> HeldObject(std::string_view object_id_hex);

  Result<std::vector<Transfer>> PendingDownloads();
  Result<bool> HasChunk(crypto::ByteView chunk_id);
  // Authenticates a downloaded chunk (index `index` of the attachment) before storing it.
  Status StoreChunk(std::string_view attachment_id, std::uint64_t index, std::uint64_t chunk_count,
                    crypto::ByteView sealed);
  // Makes a fully downloaded attachment visible.
  Status CompleteDownload(std::string_view attachment_id);

  // Membership: an invite (returns the one-time secret), a joining device's request,
  // and admission of requests whose proof checks out. Each writes signed operations.
  Result<crypto::Bytes> CreateInvite(sync::v1::Role role);
  Result<sync::v1::JoinRequest> MakeJoinRequest(crypto::ByteView invite_secret);
  struct Admitted {
    std::string device_id;
    std::string fingerprint;
    sync::v1::Role role;
  };
  Result<std::vector<Admitted>> AdmitJoinRequests(const std::vector<sync::v1::JoinRequest>& requests);

  // Objects written before this device learned that a new key epoch began (offline,
  // while a device was revoked or changed role) are sealed to keys the departed device
  // holds. Before they are pushed, they are sealed again to the current epoch (same
  // object ids and content keys: nobody has seen them yet) and re-chained. Returns how
  // many objects were re-sealed.
  Result<std::size_t> ResealStaleUnpushed();

  // `evault member revoke`: the owner revokes a device. The server refuses it from its
  // next call; a new key epoch begins, its keys sealed to every remaining owner,
  // coordinator and monitor, so nothing written afterwards is readable to it.
  struct EpochChange {
    std::string device_id;
    std::uint64_t epoch = 0;
    std::size_t rekeyed = 0;  // members the new epoch's keys were sealed to
  };
  Result<EpochChange> RevokeMember(std::string_view device_id);
  // `evault member role`: the owner gives a device another role. Like a revocation it
  // begins a new epoch, so a device that loses a right loses it for everything written
  // next; what it could read before, it keeps. A device that gains the right to read
  // receives the keys at once (and the older epochs' keys at the next sync).
  Result<EpochChange> ChangeRole(std::string_view device_id, sync::v1::Role role);

  // `evault case grant`: seals every key of a case to a legal device. Returns how many.
  Result<std::size_t> GrantCase(std::string_view case_id, std::string_view device_id);

  // Run by owners and coordinators after each pull: seals to each member the keys its
  // role should hold and it lacks (epoch keys after a revocation or a concurrent
  // admission; new case keys of granted cases). Returns how many keys were shared.
  Result<std::size_t> ShareMissingKeys();

  // `evault purge --synced` (monitors): deletes every object of this device the server
  // has acknowledged, with its attachments' chunks, rebuilds the local indexes from
  // what is left, forgets the self key those objects were sealed to and compacts the
  // database so the deleted values leave its files.
  struct Purged {
    std::size_t objects = 0;
    std::size_t cases = 0;
    std::size_t revisions = 0;
    std::size_t attachments = 0;
  };
  Result<Purged> PurgeSynced();
  Status SetAutoPurge(bool on);  // purge after every sync (monitors)
  Result<bool> AutoPurge();

  // After a complete pull: records the heads this device has pinned in a signed,
  // encrypted checkpoint, if they moved since the last one.
  Result<bool> WriteCheckpointIfNeeded();

  // After a sync: logs it in the vault's custody log if evidence moved either way, and
  // signs a checkpoint of every custody log that grew.
  Status RecordSync(std::size_t pushed, std::size_t pulled, std::size_t uploaded, std::size_t downloaded);

  struct Summary {
    std::uint64_t unpushed_objects = 0;
    std::size_t pending_uploads = 0;
    std::size_t pending_downloads = 0;
    std::size_t queued_objects = 0;  // pulled, not (yet) readable by this device
  };
  Result<Summary> Pending();

 private:
  // Logs a membership change in the vault's custody log, after it committed: one that
  // began a key epoch is then sealed to the new epoch's keys.
  Status AuditMembership(const nlohmann::json& subject);

  struct DownloadCache;  // the keys of the attachment being downloaded
  Vault::Impl& impl_;
  std::shared_ptr<DownloadCache> download_;
};

// Device ids are the first 16 bytes of BLAKE2b-256 of the signing key, in hex.
std::string DeviceIdFromKey(crypto::ByteView signing_key);

}  // namespace evault::vault
