// The architecture registry: one line per family. Each builder lives in its
// own file (src/models/<family>.cc) and is declared in src/models/builders.h.
#include "models/builders.h"

namespace octet {

const std::vector<ArchitectureEntry>& architecture_registry() {
  static const std::vector<ArchitectureEntry> registry = {
      // {model_type, {HF class names}, builder},
  };
  return registry;
}

}  // namespace octet
