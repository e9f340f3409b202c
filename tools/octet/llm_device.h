// `--device cpu|cuda[:N]` for the LLM commands (bench-llm, generate,
// perplexity), and the CUDA decoder they run on a GPU.
#pragma once

#include <string>

#include "octet/error.h"

namespace octet::cli {

struct LlmDevice {
  bool cuda = false;
  int index = 0;
};

inline LlmDevice parse_llm_device(const std::string& text) {
  if (text == "cpu") return {};
  if (text == "cuda") return {true, 0};
  if (text.rfind("cuda:", 0) == 0) {
    const std::string n = text.substr(5);
    check(!n.empty() && n.size() <= 4 && n.find_first_not_of("0123456789") == std::string::npos, "cli",
          "--device '{}': expected cpu, cuda or cuda:N", text);
    return {true, std::stoi(n)};
  }
  fail("cli", "--device '{}': expected cpu, cuda or cuda:N", text);
}

}  // namespace octet::cli
