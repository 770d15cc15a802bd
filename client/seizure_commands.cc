// `evault panic`, `duress`, `unlock`, `lock`, `recover`, `recovery-key`: the commands
// for the person holding the device. See README "At a checkpoint".
#include "client/seizure_commands.h"

#include <unistd.h>

#include <chrono>
#include <memory>

#include "client/unlock_session.h"
#include "vault/header.h"

namespace evault::client {

void PrintRecoveryKey(const crypto::SecretBytes& key) {
  if (!::isatty(STDOUT_FILENO)) {
    fmt::print(stderr, "evault: note: the recovery key goes to a file or pipe, not a terminal: "
                       "make sure it is not kept on this device\n");
  }
  fmt::print("recovery key: {}\n", key.view());
  fmt::print("  write it on paper and keep it away from this device: with it, `evault recover`\n"
             "  sets a new passphrase if this one is lost (it is shown only now)\n");
}

void AddSeizureCommands(CLI::App& app, const Globals& g) {
  struct Flags {
    bool yes = false;
    std::string session_length = "15m";
    std::optional<std::string> duress_file, recovery_file, new_passphrase_file;
  };
  auto flags = std::make_shared<Flags>();

  auto* panic = app.add_subcommand("panic", "Destroy this vault's keys and data now (no passphrase asked)");
  panic->add_flag("--yes", flags->yes, "Confirm: the vault on this device cannot be recovered afterwards");
  panic->callback([&g, flags] {
    if (!flags->yes) {
      throw CommandError{{ErrorCode::kInvalidArgument,
                          "panic destroys this device's vault for good (synced evidence stays on the server); "
                          "run `evault panic --yes`"}};
    }
    const auto started = std::chrono::steady_clock::now();
    (void)EndSession(g.vault_dir);  // the keyring copy goes too; a keyring error must not stop the rest
    Check(vault::Vault::Panic(g.vault_dir));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    fmt::print("vault destroyed: keys overwritten, then files deleted ({} ms)\n", ms.count());
  });

  auto* unlock = app.add_subcommand("unlock", "Keep the vault unlocked for this login session (kernel keyring)");
  unlock->add_option("--for", flags->session_length, "How long: 90s, 15m, 2h (at most 24h)")->capture_default_str();
  unlock->callback([&g, flags] {
    const auto length = Check(ParseSessionLength(flags->session_length));
    auto passphrase = Check(ReadPassphrase({g.passphrase_file, "EVAULT_PASSPHRASE", "Passphrase: "}));
    Check(RequireSessionKeyring());
    auto v = Check(vault::Vault::Open(g.vault_dir, passphrase));
    auto key = Check(v->StartSession());
    if (auto started = StartSession(g.vault_dir, key, length); !started) {
      (void)vault::Vault::EndSessions(g.vault_dir);
      Check(std::move(started));
    }
    fmt::print("unlocked for {}; `evault lock` ends it sooner\n", flags->session_length);
  });

  auto* lock = app.add_subcommand("lock", "End the unlock session: the next command asks for the passphrase");
  lock->callback([&g] {
    const bool ended = Check(EndSession(g.vault_dir));
    // The header's session slot too: a copy of the key kept anywhere else opens nothing.
    std::error_code ec;
    if (fs::exists(fs::path(g.vault_dir) / vault::kHeaderFileName, ec)) Check(vault::Vault::EndSessions(g.vault_dir));
    fmt::print("{}\n", ended ? "locked" : "no unlock session was open");
  });

  auto* duress = app.add_subcommand("duress", "The duress passphrase: set, clear");
  duress->require_subcommand(1);
  auto* duress_set = duress->add_subcommand(
      "set", "Set a duress passphrase: entered at any prompt, it destroys the real keys and opens an empty vault");
  duress_set->add_option("--duress-passphrase-file", flags->duress_file,
                         "Read it from FILE (else env EVAULT_DURESS_PASSPHRASE, else a prompt)");
  duress_set->callback([&g, flags] {
    auto v = OpenVaultWithPassphrase(g);
    auto duress_passphrase =
        Check(ReadNewPassphrase({flags->duress_file, "EVAULT_DURESS_PASSPHRASE", "Duress passphrase: "}));
    Check(v->SetDuressPassphrase(duress_passphrase));
    fmt::print("duress passphrase set\n");
  });
  auto* duress_clear = duress->add_subcommand("clear", "Remove the duress passphrase");
  duress_clear->callback([&g] {
    auto v = OpenVaultWithPassphrase(g);
    Check(v->ClearDuressPassphrase());
    fmt::print("duress passphrase cleared\n");
  });

  auto* recover = app.add_subcommand("recover", "Set a new passphrase with the recovery key printed at init");
  recover->add_option("--recovery-key-file", flags->recovery_file,
                      "Read the recovery key from FILE (else env EVAULT_RECOVERY_KEY, else a prompt)");
  recover->add_option("--new-passphrase-file", flags->new_passphrase_file,
                      "Read the new passphrase from FILE (else env EVAULT_NEW_PASSPHRASE, else a prompt)");
  recover->callback([&g, flags] {
    auto key = Check(ReadPassphrase({flags->recovery_file, "EVAULT_RECOVERY_KEY", "Recovery key: "}));
    auto passphrase =
        Check(ReadNewPassphrase({flags->new_passphrase_file, "EVAULT_NEW_PASSPHRASE", "New passphrase: "}));
    Check(vault::Vault::Recover(g.vault_dir, key, passphrase));
    (void)EndSession(g.vault_dir);
    fmt::print("new passphrase set; the recovery key still works\n");
  });

  auto* recovery_key = app.add_subcommand("recovery-key", "The recovery key: new");
  recovery_key->require_subcommand(1);
  auto* recovery_new = recovery_key->add_subcommand("new", "Print a new recovery key; the old one stops working");
  recovery_new->callback([&g] {
    auto v = OpenVaultWithPassphrase(g);
    PrintRecoveryKey(Check(v->NewRecoveryKey()));
  });
}

}  // namespace evault::client
