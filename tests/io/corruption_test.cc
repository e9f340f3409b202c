// Robustness: every prefix of a valid file and random byte corruptions must
// either open cleanly or throw octet::Error: never crash, hang or throw
// anything else (run under the sanitizer build to catch out-of-bounds reads).
#include <gtest/gtest.h>

#include <random>

#include "io/gguf_builder.h"
#include "io/io_test_util.h"
#include "octet/gguf.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

// Opens `bytes` with `open_and_read`; true when it opened, false on octet::Error.
template <typename F>
bool opens(const std::filesystem::path& path, const std::string& bytes, F&& open_and_read) {
  testing::write_bytes(path, bytes);
  try {
    open_and_read(path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void read_all_safetensors(const std::filesystem::path& p) {
  const SafetensorsFile f = SafetensorsFile::open(p);
  for (const auto& name : f.names()) f.get(name).contiguous();
}

void read_all_gguf(const std::filesystem::path& p) {
  const GgufFile f = GgufFile::open(p);
  for (const auto& t : f.tensors()) {
    f.get_raw(t.name);
    try {
      f.get_f32(t.name);
    } catch (const Error&) {
      // unsupported block types are reported, not read
    }
  }
}

std::string sample_gguf() {
  testing::GgufBuilder b;
  b.string("general.architecture", "llama")
      .string_array("tokens", {"a", "bb", "ccc"})
      .array<float>("scores", GgufType::F32, {0.5f, 1.0f, 2.0f})
      .scalar<uint32_t>("n", GgufType::U32, 7);
  b.tensor("f", {8, 2}, 0, std::string(64, '\x3f'))
      .tensor("q8", {32}, 8, std::string(34, '\x11'))
      .tensor("q6k", {256}, 14, std::string(210, '\x22'));
  return b.build();
}

std::string sample_safetensors(const std::filesystem::path& dir) {
  const auto p = dir / "sample.safetensors";
  save_safetensors(p, {{"a", Tensor::full({3, 4}, 1.5f)}, {"b", Tensor::zeros({5}, DType::I16)},
                       {"c", Tensor::zeros({2, 2}, DType::BF16)}},
                   {{"format", "pt"}});
  return testing::read_bytes(p);
}

TEST(Corruption, EveryGgufPrefixFailsCleanly) {
  const auto path = testing::temp_dir() / "prefix.gguf";
  const std::string full = sample_gguf();
  ASSERT_TRUE(opens(path, full, read_all_gguf));
  for (size_t n = 0; n < full.size(); ++n) ASSERT_FALSE(opens(path, full.substr(0, n), read_all_gguf)) << n;
}

TEST(Corruption, EverySafetensorsPrefixFailsCleanly) {
  const auto dir = testing::temp_dir();
  const std::string full = sample_safetensors(dir);
  const auto path = dir / "prefix.safetensors";
  ASSERT_TRUE(opens(path, full, read_all_safetensors));
  for (size_t n = 0; n < full.size(); ++n) ASSERT_FALSE(opens(path, full.substr(0, n), read_all_safetensors)) << n;
}

TEST(Corruption, RandomByteFlipsNeverCrash) {
  const auto dir = testing::temp_dir();
  const std::string gguf = sample_gguf();
  const std::string st = sample_safetensors(dir);
  std::mt19937 rng(42);
  int opened = 0, rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const bool is_gguf = trial % 2 == 0;
    std::string bytes = is_gguf ? gguf : st;
    // Corrupt the header region, where the structure lives.
    const size_t header = is_gguf ? gguf.size() - 320 : st.size() - 50;
    std::uniform_int_distribution<size_t> where(0, header - 1);
    std::uniform_int_distribution<int> value(0, 255);
    for (int k = 0; k < 1 + trial % 4; ++k) bytes[where(rng)] = static_cast<char>(value(rng));
    const bool ok = is_gguf ? opens(dir / "flip.gguf", bytes, read_all_gguf)
                            : opens(dir / "flip.safetensors", bytes, read_all_safetensors);
    (ok ? opened : rejected)++;
  }
  // Both outcomes occur (a flip in a string's text is harmless; in a length it is not).
  EXPECT_GT(opened, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace octet
