// octet command-line entry point. Subcommands register themselves (command.h).
#include <algorithm>
#include <cstdio>
#include <exception>

#include "octet/error.h"
#include "command.h"
#include "output.h"

namespace octet::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
}  // namespace octet::cli

int main(int argc, char** argv) {
  CLI::App app{"octet: quantize transformer models and run them fast on CPUs and GPUs"};
  app.set_version_flag("--version", std::string("octet ") + OCTET_VERSION);
  app.require_subcommand(1);
  app.failure_message(octet::cli::format_parse_failure);
  auto& registry = octet::cli::command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& spec : registry) spec.setup(*app.add_subcommand(spec.name, spec.description));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "octet: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "octet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
