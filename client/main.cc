// evault: the command line over the vault library. Parses arguments, reads the
// passphrase, calls one vault operation, prints the result. Every error becomes one
// line on stderr and a non-zero exit (1 error, 2 usage, 3 wrong passphrase, 4 tampered
// or damaged data).
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <typeinfo>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "client/audit_commands.h"
#include "client/cli_common.h"
#include "client/import_command.h"
#include "client/passphrase.h"
#include "client/render.h"
#include "client/seizure_commands.h"
#include "client/sync_client.h"
#include "crypto/hardening.h"
#include "crypto/passphrase_kdf.h"
#include "vault/header.h"
#include "vault/membership.h"
#include "vault/sync_state.h"
#include "vault/vault.h"

namespace evault::client {
namespace {


// Devices a sync admitted: the user should compare each fingerprint out of band.
void PrintAdmitted(const SyncReport& report, std::FILE* out = stdout) {
  for (const auto& a : report.admitted) {
    fmt::print(out, "admitted {} as {} (fingerprint {})\n", a.device_id, vault::RoleName(a.role), a.fingerprint);
  }
}

// Membership changes matter only once the server has them: sync now if a server is known.
void SyncIfConfigured(vault::Vault& v, vault::SyncState& state) {
  auto config = Check(state.LoadConfig());
  if (!config) {
    fmt::print("no server known yet: the change reaches the server at the first `evault sync`\n");
    return;
  }
  auto synced = RunSync(v, *config, std::nullopt, {});
  if (!synced) {
    fmt::print(stderr, "the change is stored on this device but not yet on the server; run `evault sync`\n");
    Check(std::move(synced));
  }
  PrintAdmitted(*synced);
  fmt::print("synced with {}\n", config->server);
}

void PrintPurged(const vault::SyncState::Purged& p) {
  fmt::print("purged {} synced objects ({} cases, {} record revisions, {} attachments) from this device\n",
             p.objects, p.cases, p.revisions, p.attachments);
}


crypto::PassphraseKdfParams KdfFromFlags(std::uint64_t ops, std::uint64_t mem_mib) {
  return crypto::PassphraseKdfParams::New(ops, mem_mib << 20);
}

int Run(int argc, char** argv) {
  CLI::App app{"evault: an encrypted evidence vault for human-rights documentation"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  g.vault_dir = DefaultVaultDir();
  app.add_option("--vault", g.vault_dir, "Vault directory (env EVAULT_VAULT)")->capture_default_str();
  app.add_option("--passphrase-file", g.passphrase_file,
                 "Read the passphrase from FILE (else env EVAULT_PASSPHRASE, else a prompt)");

  std::uint64_t kdf_ops = crypto::PassphraseKdfParams::kDefaultOps;
  std::uint64_t kdf_mem_mib = crypto::PassphraseKdfParams::kDefaultMemBytes >> 20;
  auto add_kdf_flags = [&](CLI::App* cmd) {
    cmd->add_option("--kdf-ops", kdf_ops, "Argon2id passes (minimum 2)")->capture_default_str();
    cmd->add_option("--kdf-memory-mib", kdf_mem_mib, "Argon2id memory in MiB (minimum 64)")->capture_default_str();
  };
  bool as_json = false;
  // Ids are lower-case hex; accept what people copy in either case.
  const auto lower = [](std::string id) {
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return id;
  };
  auto add_json = [&](CLI::App* cmd) { cmd->add_flag("--json", as_json, "Print JSON for scripts"); };

  // init
  auto* init = app.add_subcommand("init", "Create a new vault, or join one with --join (prints the new device id first)");
  add_kdf_flags(init);
  std::string join_code, ca_file, fingerprint;
  bool insecure = false;
  init->add_option("--join", join_code, "Join an existing vault with an invite code from `evault member invite`");
  init->add_option("--ca-file", ca_file, "CA certificate (PEM) that signed the server's certificate");
  init->add_option("--server-fingerprint", fingerprint, "Or pin the server certificate's SHA-256 fingerprint");
  init->add_flag("--insecure", insecure, "Plaintext to a loopback server (tests only)");
  bool no_recovery_key = false;
  init->add_flag("--no-recovery-key", no_recovery_key,
                 "Make no recovery key (then a lost passphrase means a lost vault on this device)");
  init->callback([&] {
    std::optional<InviteCode> invite;
    if (!join_code.empty()) invite = Check(ParseInviteCode(join_code));
    vault::SyncState::Config config;
    if (invite) {
      config.server = invite->server;
      config.insecure = insecure;
      if (!ca_file.empty()) config.ca_pem = ReadInput(ca_file);
      if (!fingerprint.empty()) config.server_fingerprint = Check(NormalizeFingerprint(fingerprint));
      if (!insecure && config.ca_pem.empty() && config.server_fingerprint.empty()) {
        throw CommandError{{ErrorCode::kInvalidArgument,
                            "joining needs --ca-file FILE or --server-fingerprint SHA256 to verify the server"}};
      }
    }
    auto passphrase = Check(ReadNewPassphrase({g.passphrase_file, "EVAULT_PASSPHRASE", "New passphrase: "}));
    if (!invite) {
      auto device_id = Check(vault::Vault::Create(g.vault_dir, passphrase, KdfFromFlags(kdf_ops, kdf_mem_mib)));
      fmt::print("{} device created a new vault in {}\n", device_id, g.vault_dir);
      if (!no_recovery_key) {
        auto v = Check(vault::Vault::Open(g.vault_dir, passphrase));
        PrintRecoveryKey(Check(v->NewRecoveryKey()));
      }
      return;
    }
    auto device_id = Check(vault::Vault::CreateJoining(g.vault_dir, passphrase, KdfFromFlags(kdf_ops, kdf_mem_mib),
                                                      invite->vault_id_hex));
    auto v = Check(vault::Vault::Open(g.vault_dir, passphrase));
    // Made now, printed after the device id (which stays the first word of the output).
    std::optional<crypto::SecretBytes> recovery_key;
    if (!no_recovery_key) recovery_key = Check(v->NewRecoveryKey());
    vault::SyncState state(*v);
    Check(state.SaveConfig(config));
    Check(FileJoinRequest(config, Check(state.MakeJoinRequest(invite->secret))));
    fmt::print("{} device created; join request filed with {}\n", device_id, config.server);
    fmt::print("fingerprint {} (compare it with the inviter's `evault member list`)\n",
               vault::Fingerprint(state.device().public_key()));
    fmt::print("the vault arrives with `evault sync` once the inviter has synced\n");
    if (recovery_key) PrintRecoveryKey(*recovery_key);
  });

  // passwd
  auto* passwd = app.add_subcommand("passwd", "Change the passphrase (re-wraps one key)");
  std::optional<std::string> new_passphrase_file;
  passwd->add_option("--new-passphrase-file", new_passphrase_file,
                     "Read the new passphrase from FILE (else env EVAULT_NEW_PASSPHRASE, else a prompt)");
  add_kdf_flags(passwd);
  passwd->callback([&] {
    auto v = OpenVaultWithPassphrase(g);  // never on an unlock session alone
    auto passphrase = Check(ReadNewPassphrase({new_passphrase_file, "EVAULT_NEW_PASSPHRASE", "New passphrase: "}));
    // Only flags given on the command line change the Argon2id cost; otherwise the
    // vault keeps its own (and its duress passphrase, which is bound to them).
    const auto requested = KdfFromFlags(kdf_ops, kdf_mem_mib);
    const auto current = Check(vault::ReadHeader(g.vault_dir)).kdf;
    const bool new_cost = (passwd->count("--kdf-ops") > 0 || passwd->count("--kdf-memory-mib") > 0) &&
                          (requested.ops_limit != current.ops_limit || requested.mem_limit_bytes != current.mem_limit_bytes);
    Check(v->ChangePassphrase(passphrase, new_cost ? std::optional(requested) : std::nullopt));
    (void)EndSession(g.vault_dir);
    fmt::print("passphrase changed\n");
    if (new_cost) fmt::print("a duress passphrase, if one was set, no longer works: set it again with `evault duress set`\n");
  });

  // case
  auto* case_cmd = app.add_subcommand("case", "Cases: new, list, grant");
  case_cmd->require_subcommand(1);
  std::string case_title;
  std::vector<std::string> case_tags;
  auto* case_new = case_cmd->add_subcommand("new", "Create a case (prints its id)");
  case_new->add_option("--title", case_title, "Case title")->required();
  case_new->add_option("--tag", case_tags, "A tag (repeatable)");
  case_new->callback([&] {
    auto v = OpenVault(g);
    auto c = Check(v->CreateCase(case_title, case_tags));
    fmt::print("{}\n", c.id);
  });
  auto* case_list = case_cmd->add_subcommand("list", "List cases, one per line");
  add_json(case_list);
  case_list->callback([&] {
    auto v = OpenVault(g);
    auto cases = Check(v->ListCases());
    if (as_json) {
      json out = json::array();
      for (const auto& c : cases) out.push_back(ToJson(c));
      return PrintJson(out);
    }
    for (const auto& c : cases) fmt::print("{}\n", CaseLine(c));
  });
  auto* case_grant = case_cmd->add_subcommand("grant", "Give a legal device one case (its keys sealed to that device)");
  std::string grant_case, grant_device;
  case_grant->add_option("CASE", grant_case, "Case id")->required();
  case_grant->add_option("--to", grant_device, "The legal device's id (from `evault member list`)")->required();
  case_grant->callback([&] {
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    const std::size_t keys = Check(state.GrantCase(grant_case, grant_device));
    fmt::print("granted case {} to {}: {} case key{} sealed to it\n", grant_case, grant_device, keys,
               keys == 1 ? "" : "s");
    SyncIfConfigured(*v, state);
  });

  // record
  auto* record = app.add_subcommand("record", "Records: add, edit, show, list");
  record->require_subcommand(1);
  std::string case_id, record_id, json_path;
  bool history = false;
  auto* record_add = record->add_subcommand("add", "Add a record to a case from JSON (prints its id)");
  record_add->add_option("--case", case_id, "Case id")->required()->transform(lower);
  record_add->add_option("--json", json_path, "Record JSON file, or - for stdin")->required();
  record_add->callback([&] {
    const std::string text = ReadInput(json_path);
    auto v = OpenVault(g);
    auto r = Check(v->AddRecord(case_id, text));
    fmt::print("{} revision {} {}\n", r.record_id, r.revision, r.revision_id);
  });
  auto* record_edit = record->add_subcommand("edit", "Save a new revision of a record (prints the revision id)");
  record_edit->add_option("id", record_id, "Record id")->required()->transform(lower);
  record_edit->add_option("--json", json_path, "Record JSON file, or - for stdin")->required();
  record_edit->callback([&] {
    const std::string text = ReadInput(json_path);
    auto v = OpenVault(g);
    auto r = Check(v->EditRecord(record_id, text));
    fmt::print("{} record {} revision {}\n", r.revision_id, r.record_id, r.revision);
  });
  auto* record_show = record->add_subcommand("show", "Show a record (--history: every revision)");
  record_show->add_option("id", record_id, "Record id")->required()->transform(lower);
  record_show->add_flag("--history", history, "Show every revision");
  add_json(record_show);
  record_show->callback([&] {
    auto v = OpenVault(g);
    auto view = Check(v->GetRecord(record_id, history));
    if (as_json) return PrintJson(ToJson(view));
    fmt::print("{}", RenderRecord(view, history));
  });
  auto* record_list = record->add_subcommand("list", "List records, one per line");
  std::optional<std::string> list_case;
  record_list->add_option("--case", list_case, "Only this case")->transform(lower);
  add_json(record_list);
  record_list->callback([&] {
    auto v = OpenVault(g);
    auto records = Check(v->ListRecords(list_case ? std::optional<std::string_view>(*list_case) : std::nullopt));
    if (as_json) {
      json out = json::array();
      for (const auto& r : records) out.push_back(ToJson(r));
      return PrintJson(out);
    }
    for (const auto& r : records) fmt::print("{}\n", RecordLine(r));
  });

  // attach
  auto* attach = app.add_subcommand("attach", "Attachments: add, get, list");
  attach->require_subcommand(1);
  std::vector<std::string> files;
  std::string attachment_id, out_path;
  auto* attach_add = attach->add_subcommand("add", "Attach files to a record (prints id, SHA-256, file)");
  attach_add->add_option("--record", record_id, "Record id")->required()->transform(lower);
  attach_add->add_option("files", files, "Files to attach")->required();
  attach_add->callback([&] {
    for (const auto& f : files) {  // fail before asking for the passphrase
      std::error_code ec;
      if (!fs::is_regular_file(f, ec)) {
        throw CommandError{{ErrorCode::kNotFound, fmt::format("cannot attach {}: no such file", f)}};
      }
    }
    auto v = OpenVault(g);
    for (const auto& f : files) {
      ProgressBar bar(fs::path(f).filename().string());
      auto a = Check(v->AddAttachment(record_id, f, std::ref(bar)));
      fmt::print("{} {} {}\n", a.id, a.sha256, f);
      std::fflush(stdout);
    }
  });
  auto* attach_get = attach->add_subcommand("get", "Write an original back to a file (never overwrites)");
  attach_get->add_option("id", attachment_id, "Attachment id")->required()->transform(lower);
  attach_get->add_option("--out", out_path, "Output file, or - for stdout")->required();
  attach_get->callback([&] {
    auto v = OpenVault(g);
    auto info = Check(v->GetAttachment(attachment_id));
    const bool to_stdout = out_path == "-";
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
      fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        throw CommandError{{errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                            fmt::format("cannot create {}: {}", out_path, std::strerror(errno))}};
      }
    }
    ProgressBar bar(info.file_name);
    auto status = v->ReadAttachment(
        attachment_id,
        [&](crypto::ByteView chunk) -> Status {
          std::size_t done = 0;
          while (done < chunk.size()) {
            ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Fail(ErrorCode::kIo, fmt::format("writing {} failed: {}", out_path, std::strerror(errno)));
            done += static_cast<std::size_t>(n);
          }
          return Ok();
        },
        std::ref(bar));
    if (status && !to_stdout && ::fsync(fd) != 0) status = Fail(ErrorCode::kIo, fmt::format("fsync of {} failed", out_path));
    if (!to_stdout) {
      ::close(fd);
      if (!status) ::unlink(out_path.c_str());  // never leave a partial original behind
    }
    Check(status);
    if (!to_stdout) fmt::print(stderr, "{} bytes written to {} (SHA-256 verified)\n", info.size, out_path);
  });
  auto* attach_list = attach->add_subcommand("list", "List a record's attachments, one per line");
  attach_list->add_option("--record", record_id, "Record id")->required()->transform(lower);
  add_json(attach_list);
  attach_list->callback([&] {
    auto v = OpenVault(g);
    auto list = Check(v->ListAttachments(record_id));
    if (as_json) {
      json out = json::array();
      for (const auto& a : list) out.push_back(ToJson(a));
      return PrintJson(out);
    }
    for (const auto& a : list) fmt::print("{}\n", AttachmentLine(a));
  });

  // sync
  auto* sync_cmd = app.add_subcommand("sync", "Push and pull through the server (remembered after the first sync)");
  std::string server_addr;
  std::optional<std::string> enroll_token;
  sync_cmd->add_option("--server", server_addr, "Server HOST:PORT");
  sync_cmd->add_option("--ca-file", ca_file, "CA certificate (PEM) that signed the server's certificate");
  sync_cmd->add_option("--server-fingerprint", fingerprint, "Or pin the server certificate's SHA-256 fingerprint");
  sync_cmd->add_option("--enroll-token", enroll_token, "Create the vault on the server with the operator's token");
  sync_cmd->add_flag("--insecure", insecure, "Plaintext to a loopback server (tests only)");
  sync_cmd->callback([&] {
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    auto stored = Check(state.LoadConfig());
    vault::SyncState::Config config = stored.value_or(vault::SyncState::Config{});
    bool changed = false;
    if (!server_addr.empty()) { config.server = server_addr; changed = true; }
    if (!ca_file.empty()) { config.ca_pem = ReadInput(ca_file); changed = true; }
    if (!fingerprint.empty()) { config.server_fingerprint = Check(NormalizeFingerprint(fingerprint)); changed = true; }
    if (insecure && !config.insecure) { config.insecure = true; changed = true; }
    if (config.server.empty()) {
      throw CommandError{{ErrorCode::kInvalidArgument, "no server known for this vault: pass --server HOST:PORT"}};
    }
    ProgressBar bar("sync");
    auto report = Check(RunSync(*v, config, enroll_token,
                                [&](std::string_view, std::uint64_t done, std::uint64_t total) { bar(done, total); }));
    if (changed || !stored) Check(state.SaveConfig(config));
    PrintAdmitted(report);
    if (report.awaiting_admission) {
      fmt::print("waiting for admission: the inviter has not synced since this device asked to join\n");
      return;
    }
    fmt::print("synced with {}: pushed {} objects ({} chunks, {:.1f} MiB), pulled {} objects ({} chunks, {:.1f} MiB), "
               "server at {}{}\n",
               config.server, report.pushed_objects, report.uploaded_chunks,
               static_cast<double>(report.uploaded_bytes) / (1 << 20), report.pulled_objects,
               report.downloaded_chunks, static_cast<double>(report.downloaded_bytes) / (1 << 20),
               report.server_head, report.admitted_now ? "; this device is now a member" : "");
    if (report.server_restored) {
      // Not a silent rollback: the operator restored a backup, and this device says what it did about it.
      fmt::print(stderr,
                 "evault: the server was restored from a backup: its history was checked again from the start "
                 "({} objects found as this device saw them); {} of this device's objects it had lost were sent "
                 "again\n",
                 report.rechecked_objects, report.resent_objects);
    }
    if (report.relayed_objects > 0) {
      fmt::print(stderr, "evault: sent back {} objects of other devices that the server had lost\n",
                 report.relayed_objects);
    }
    if (report.server_gap.others_objects > 0) {
      fmt::print(stderr,
                 "evault: the server still lacks {} objects of {} other devices that this device saw and could not "
                 "send back (not held here, or their authors may no longer write); their authors, or a device that "
                 "holds them, can\n",
                 report.server_gap.others_objects, report.server_gap.other_devices);
    }
    if (report.resealed_objects > 0) {
      fmt::print("sealed {} unsynced objects again to the new key epoch (a device was revoked or changed role)\n",
                 report.resealed_objects);
    }
    if (report.shared_keys > 0) fmt::print("shared {} keys with members that lacked them\n", report.shared_keys);
    if (report.rejected_objects > 0) {
      fmt::print(stderr,
                 "evault: warning: {} objects signed by members failed verification and were set aside; "
                 "a member device may be faulty or compromised\n",
                 report.rejected_objects);
    }
    if (Check(state.AutoPurge())) PrintPurged(Check(state.PurgeSynced()));
  });

  // status
  auto* status_cmd = app.add_subcommand("status", "What is not yet synced");
  add_json(status_cmd);
  status_cmd->callback([&] {
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    auto config = Check(state.LoadConfig());
    auto pending = Check(state.Pending());
    if (as_json) {
      return PrintJson({{"device", v->device_id()}, {"vault", v->vault_id()},
                        {"server", config ? config->server : ""}, {"member", state.admitted()},
                        {"role", state.admitted() ? vault::RoleName(*state.membership().RoleOf(state.device().public_key()))
                                                  : ""},
                        {"epoch", state.membership().current_epoch()},
                        {"unsynced_objects", pending.unpushed_objects},
                        {"attachments_to_upload", pending.pending_uploads},
                        {"attachments_to_download", pending.pending_downloads},
                        {"server_objects_seen", state.pulled_seq()}});
    }
    fmt::print("device {}  vault {}\n", v->device_id(), v->vault_id());
    fmt::print("server {}\n", config ? config->server : "(none yet: evault sync --server HOST:PORT)");
    if (!state.admitted()) {
      fmt::print("not a member: not yet admitted (run `evault sync` after the inviter has synced), or revoked\n");
    } else {
      fmt::print("role {}, key epoch {}\n", vault::RoleName(*state.membership().RoleOf(state.device().public_key())),
                 state.membership().current_epoch());
    }
    fmt::print("{} objects not yet synced, {} attachments to upload, {} to download\n", pending.unpushed_objects,
               pending.pending_uploads, pending.pending_downloads);
  });

  // member
  auto* member = app.add_subcommand("member", "Devices of this vault: invite, list, role, revoke");
  member->require_subcommand(1);
  auto* member_invite = member->add_subcommand("invite", "Invite a device (prints a one-line invite code)");
  std::string role_name;
  member_invite->add_option("--role", role_name, "coordinator, monitor or legal")->required();
  member_invite->callback([&] {
    auto role = vault::RoleFromName(role_name);
    if (!role || *role == sync::v1::OWNER) {
      throw CommandError{{ErrorCode::kInvalidArgument, "--role must be coordinator, monitor or legal"}};
    }
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    auto config = Check(state.LoadConfig());
    if (!config) {
      throw CommandError{{ErrorCode::kInvalidArgument, "sync with a server first: evault sync --server HOST:PORT"}};
    }
    auto secret = Check(state.CreateInvite(*role));
    auto synced = Check(RunSync(*v, *config, std::nullopt, {}));  // the server must know the invite
    fmt::print("{}\n", FormatInviteCode(v->vault_id(), secret, config->server));
    PrintAdmitted(synced, stderr);  // stdout is the code alone, for scripts
  });
  auto* member_revoke = member->add_subcommand("revoke", "Revoke a lost or seized device (owner only)");
  std::string revoke_device;
  member_revoke->add_option("DEVICE", revoke_device, "The device's id (from `evault member list`)")->required();
  member_revoke->callback([&] {
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    auto revoked = Check(state.RevokeMember(revoke_device));
    fmt::print("revoked {}: key epoch {} began, its keys sealed to {} remaining devices\n", revoked.device_id,
               revoked.epoch, revoked.rekeyed);
    SyncIfConfigured(*v, state);
  });
  auto* member_role = member->add_subcommand("role", "Give a device another role (owner only)");
  std::string role_device, new_role;
  member_role->add_option("DEVICE", role_device, "The device's id (from `evault member list`)")->required();
  member_role->add_option("--role", new_role, "coordinator, monitor or legal")->required();
  member_role->callback([&] {
    auto role = vault::RoleFromName(new_role);
    if (!role || *role == sync::v1::OWNER) {
      throw CommandError{{ErrorCode::kInvalidArgument, "--role must be coordinator, monitor or legal"}};
    }
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    auto changed = Check(state.ChangeRole(role_device, *role));
    fmt::print("{} is now a {}: key epoch {} began, its keys sealed to {} devices\n", changed.device_id, new_role,
               changed.epoch, changed.rekeyed);
    SyncIfConfigured(*v, state);
  });
  auto* member_list = member->add_subcommand("list", "Devices with role and fingerprint");
  add_json(member_list);
  member_list->callback([&] {
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    json out = json::array();
    for (const auto& [key, m] : state.membership().members()) {
      const std::string id = vault::DeviceIdFromKey(m.signing_key);
      const bool self = m.signing_key == state.device().public_key();
      if (as_json) {
        out.push_back({{"id", id}, {"role", vault::RoleName(m.role)}, {"fingerprint", vault::Fingerprint(m.signing_key)},
                       {"revoked", m.revoked}, {"this_device", self}});
      } else {
        fmt::print("{}  {:<11}  {}{}{}\n", id, vault::RoleName(m.role), vault::Fingerprint(m.signing_key),
                   m.revoked ? "  [revoked]" : "", self ? "  (this device)" : "");
      }
    }
    if (as_json) PrintJson(out);
  });

  // purge
  auto* purge = app.add_subcommand("purge", "Monitors: delete from this device what the server has acknowledged");
  bool purge_synced = false;
  std::optional<std::string> purge_auto;
  purge->add_flag("--synced", purge_synced, "Delete every object and attachment the server has acknowledged");
  purge->add_option("--auto", purge_auto, "on: purge after every sync; off: stop")->check(CLI::IsMember({"on", "off"}));
  purge->callback([&] {
    if (!purge_synced && !purge_auto) {
      throw CommandError{{ErrorCode::kInvalidArgument, "say what to purge: --synced, or --auto on|off"}};
    }
    auto v = OpenVault(g);
    vault::SyncState state(*v);
    if (purge_auto) {
      if (*purge_auto == "on" && state.membership().RoleOf(state.device().public_key()) != sync::v1::MONITOR) {
        throw CommandError{{ErrorCode::kPermissionDenied, "only a monitor purges after sync"}};
      }
      Check(state.SetAutoPurge(*purge_auto == "on"));
      fmt::print("automatic purge after each sync: {}\n", *purge_auto);
    }
    if (purge_synced) PrintPurged(Check(state.PurgeSynced()));
  });

  // search
  auto* search = app.add_subcommand("search", "Records containing every word of TEXT");
  std::string search_text;
  search->add_option("text", search_text, "Words to look for")->required();
  add_json(search);
  search->callback([&] {
    auto v = OpenVault(g);
    auto hits = Check(v->Search(search_text));
    if (as_json) {
      json out = json::array();
      for (const auto& r : hits) out.push_back(ToJson(r));
      return PrintJson(out);
    }
    for (const auto& r : hits) fmt::print("{}\n", RecordLine(r));
  });

  AddImportCommand(app, g);
  AddAuditCommands(app, g);
  AddSeizureCommands(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "evault: {}\n", Printable(e.what()));
    return 2;
  } catch (const CommandError& e) {
    fmt::print(stderr, "evault: error: {}\n", Printable(e.error.message));
    return ExitCodeFor(e.error.code);
  }
  return 0;
}

}  // namespace
}  // namespace evault::client

int main(int argc, char** argv) {
  ::umask(077);  // everything the vault writes is for this user only
  // Attachments stream through 1 MiB buffers (RocksDB's blob reads among them). With
  // glibc's default thresholds each is unmapped or trimmed when freed and faulted in
  // again for the next chunk: about half a million page faults per GiB read. Freed
  // memory now stays with the process up to 64 MiB; Argon2id's buffer (over 32 MiB) is
  // still mapped and unmapped on its own, and the peak does not change.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  if (auto s = evault::crypto::DisableCoreDumps(); !s) {
    fmt::print(stderr, "evault: error: {}\n", s.error().message);
    return 1;
  }
  try {
    return evault::client::Run(argc, argv);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "evault: error: out of memory\n");
  } catch (const std::exception& e) {
    // Never echo input: the message of an unexpected exception is not shown.
    fmt::print(stderr, "evault: error: internal error ({})\n", typeid(e).name());
  }
  return 1;
}
