#include <cblas.h>

#include <string>
#include <string_view>

#include "octet/device.h"

namespace octet {

BlasStatus blas_status() {
  BlasStatus status;
  status.library = "OpenBLAS";
  // Debian's openblas_get_config() ends with a space; trim it for display.
  std::string_view config = openblas_get_config();
  while (!config.empty() && config.back() == ' ') config.remove_suffix(1);
  status.config = std::string(config);
  status.core = openblas_get_corename();
  status.threads = openblas_get_num_threads();
  return status;
}

}  // namespace octet
