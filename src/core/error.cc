#include "octet/error.h"

namespace octet {

Error::Error(std::string tag, std::string detail)
    : std::runtime_error("[" + tag + "] " + detail), tag_(std::move(tag)), detail_(std::move(detail)) {}

}  // namespace octet
