// `evault import --case ID FILE`: many records at once, from JSON Lines or CSV.
#pragma once

#include <CLI/CLI.hpp>

#include "client/cli_common.h"

namespace evault::client {

void AddImportCommand(CLI::App& app, const Globals& g);

}  // namespace evault::client
