// Builder entry points of the architecture families (one per src/models/<family>.cc).
#pragma once

#include <memory>

#include "octet/model.h"

namespace octet {

}  // namespace octet
