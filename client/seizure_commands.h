// The commands for the moment a device may be taken: `panic`, `duress set|clear`,
// `unlock`, `lock`, `recover` and `recovery-key new`.
#pragma once

#include <CLI/CLI.hpp>

#include "client/cli_common.h"

namespace evault::client {

void AddSeizureCommands(CLI::App& app, const Globals& g);

// Prints a recovery key with what to do with it (also used by `init`).
void PrintRecoveryKey(const crypto::SecretBytes& key);

}  // namespace evault::client
