// The custody commands: `audit log`, `audit verify`, `export`, `verify`.
#pragma once

#include <CLI/CLI.hpp>

#include "client/cli_common.h"

namespace evault::client {

void AddAuditCommands(CLI::App& app, const Globals& g);

}  // namespace evault::client
