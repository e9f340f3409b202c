// How CLI subcommands plug into `octet`: each command lives in its own
// tools/octet/cmd_<name>.cc and registers itself with a static CommandRegistration.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace octet::cli {

struct CommandSpec {
  std::string name;
  std::string description;
  // Adds options to `sub` and sets its callback. Throwing octet::Error from
  // the callback prints one line and exits non-zero.
  std::function<void(CLI::App& sub)> setup;
};

// Registered commands, in registration order.
std::vector<CommandSpec>& command_registry();

struct CommandRegistration {
  explicit CommandRegistration(CommandSpec spec) { command_registry().push_back(std::move(spec)); }
};

}  // namespace octet::cli
