// GGUF files: mapped onto the Hugging Face builders (see the decoder issue).
#include "octet/error.h"
#include "octet/model.h"

namespace octet {

std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions&) {
  fail("models", "{}: GGUF models are not supported yet", path.string());
}

}  // namespace octet
