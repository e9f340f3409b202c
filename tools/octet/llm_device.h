// `--device cpu|cuda[:N]` for the LLM commands (bench-llm, generate,
// perplexity), and the CUDA decoder they run on a GPU.
#pragma once

#include <string>

#include "octet/device.h"
#include "octet/error.h"

namespace octet::cli {

struct LlmDevice {
  bool cuda = false;
  int index = 0;
};

// Parses --device (Error "cli" naming the flag) and checks that a CUDA device
// can be used now: Error "cuda" in a build without CUDA, without a GPU, or for
// an index past the last GPU (octet::require_device), before any file is read.
inline LlmDevice parse_llm_device(const std::string& text) {
  Device device;
  try {
    device = parse_device(text);
  } catch (const Error&) {
    fail("cli", "--device '{}': expected cpu, cuda or cuda:N", text);
  }
  if (device.kind == DeviceKind::CPU) return {};
  require_device(device);
  return {true, device.index};
}

}  // namespace octet::cli
