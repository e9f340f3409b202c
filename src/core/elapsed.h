// Wall-clock seconds since a steady_clock time point (timings printed by eval and generation).
#pragma once

#include <chrono>

namespace octet {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace octet
