// Sync over gRPC: drives vault::SyncState against an evault-server. With local changes,
// pull first and re-seal them if a key epoch began; push (chunks, then the objects
// that name them), then pull and verify, then fetch attachment chunks,
// then admit devices whose join requests check out, share keys members lack, then
// checkpoint.
//
// The connection is TLS, verified against the configured CA or a pinned certificate
// fingerprint; plaintext only with
// `insecure` and only to a loopback address (for tests). Calls have deadlines; calls
// that fail with UNAVAILABLE are retried with exponential backoff, which is safe
// because every call is idempotent (objects and chunks are content-bound).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "crypto/status.h"
#include "evault_sync.pb.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::client {

struct SyncReport {
  std::uint64_t pushed_objects = 0;
  std::uint64_t pulled_objects = 0;
  std::uint64_t pulled_evidence = 0;  // cases, revisions and attachments now readable here
  std::uint64_t uploaded_chunks = 0;
  std::uint64_t uploaded_bytes = 0;
  std::uint64_t downloaded_chunks = 0;
  std::uint64_t downloaded_bytes = 0;
  std::uint64_t server_head = 0;
  std::vector<vault::SyncState::Admitted> admitted;
  std::size_t shared_keys = 0;  // keys sealed to members that lacked them
  std::size_t rejected_objects = 0;  // signed by a member but malformed: set aside
  std::size_t resealed_objects = 0;  // unpushed objects sealed again to a new key epoch
  // The server was restored from a backup (its incarnation changed): its history was
  // checked again from the start (rechecked: objects found as this device saw them),
  // this device's objects it had lost were sent again (resent), other devices' ones it
  // had lost were sent back from this device's copy (relayed), and `server_gap` is what
  // it still lacks of what this device saw.
  bool server_restored = false;
  std::size_t rechecked_objects = 0;
  std::uint64_t resent_objects = 0;
  std::uint64_t relayed_objects = 0;  // other devices' objects it had lost, sent back from here
  vault::SyncState::ServerGap server_gap;
  bool created_vault = false;
  bool admitted_now = false;
  bool awaiting_admission = false;
};

using SyncProgress = std::function<void(std::string_view what, std::uint64_t done, std::uint64_t total)>;

class SyncConnection;

// Runs one full sync. `enroll_token` creates the vault on the server first.
Result<SyncReport> RunSync(vault::Vault& vault, const vault::SyncState::Config& config,
                           const std::optional<std::string>& enroll_token, const SyncProgress& progress);

// Files a joining device's request with the server (`init --join`).
Status FileJoinRequest(const vault::SyncState::Config& config, const sync::v1::JoinRequest& request);

// Invite codes: "evault1/<vault id>/<secret>/<server>" (the server last: it may hold ':').
std::string FormatInviteCode(std::string_view vault_id_hex, crypto::ByteView secret, std::string_view server);
struct InviteCode {
  std::string vault_id_hex;
  crypto::Bytes secret;
  std::string server;
};
Result<InviteCode> ParseInviteCode(std::string_view code);

// SHA-256 (hex) of a PEM certificate's DER encoding: what `openssl x509 -noout
// -fingerprint -sha256` prints, without colons.
Result<std::string> CertificateFingerprint(std::string_view pem);
// Accepts "AB:CD:..." (openssl's form), plain hex, either case.
Result<std::string> NormalizeFingerprint(std::string_view text);

// True for 127.0.0.0/8, localhost and [::1] targets.
bool IsLoopbackTarget(std::string_view host_port);

}  // namespace evault::client
