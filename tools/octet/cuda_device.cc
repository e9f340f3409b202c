#include "cuda_device.h"

#include "octet/cuda_encoder.h"
#include "octet/error.h"
#include "octet/gemm_bf16.h"
#include "octet/log.h"
#include "octet/precision.h"
#include "octet/quantized_model.h"

namespace octet::cli {
namespace {

// A Model whose forward() is the GPU runner's; the CPU-side hooks
// (quantization, parameters) have nothing to act on.
class CudaModel final : public Model {
 public:
  explicit CudaModel(std::unique_ptr<CudaEncoder> encoder) : encoder_(std::move(encoder)) { info_ = encoder_->info(); }
  NamedTensors forward(const ModelInputs& inputs) const override { return encoder_->forward(inputs); }
  void visit_linears(const std::function<void(nn::Linear&)>&) override {
    fail("cuda", "a model loaded on CUDA has no CPU Linears to visit");
  }
  void visit_sites(const std::function<void(nn::ActivationSite&)>&) override {
    fail("cuda", "a model loaded on CUDA has no CPU activation sites");
  }
  std::vector<std::pair<std::string, Tensor>> parameters() const override { return {}; }

 private:
  std::unique_ptr<CudaEncoder> encoder_;
};

}  // namespace

void add_device_options(CLI::App& sub, DeviceOptions& opt) {
  sub.add_option("--device", opt.device, "Where the model runs: cpu, cuda or cuda:N")->capture_default_str();
  sub.add_option("--precision", opt.precision,
                 "CPU: fp32 (as loaded, the default) or bf16 (an fp32 model's Linears on the bf16 GEMM, AVX-512 "
                 "BF16); CUDA: fp16, int8 (an octet quantize folder's codes and scales) or fp8 (e4m3, sm_89+), "
                 "default int8 for a quantized folder, else fp16");
}

Device check_device_options(const DeviceOptions& opt) {
  const Device device = parse_device(opt.device);
  if (!opt.precision.empty() && device.kind != DeviceKind::CUDA) {
    check(opt.precision == "fp32" || opt.precision == "bf16", "device",
          "--precision '{}' on the CPU: fp32 or bf16 (fp16, int8 and fp8 need --device cuda; a quantized "
          "folder runs its own int8 kernels, see --exec)",
          opt.precision);
    if (opt.precision == "bf16") require_bf16_gemm("device");
  } else if (!opt.precision.empty()) {
    check(opt.precision == "fp16" || opt.precision == "int8" || opt.precision == "fp8", "device",
          "unknown --precision '{}' with --device cuda (fp16, int8, fp8)", opt.precision);
  }
  require_device(device);
  return device;
}

void apply_cpu_precision_option(const DeviceOptions& opt, Model& model) {
  if (parse_device(opt.device).kind != DeviceKind::CUDA)
    apply_cpu_precision(model, opt.precision.empty() ? "fp32" : opt.precision);
}

std::string cuda_precision(const DeviceOptions& opt, const std::string& model_path) {
  if (!opt.precision.empty()) return opt.precision;
  return is_quantized_model(model_path) ? "int8" : "fp16";
}

std::unique_ptr<Model> load_cuda_model(const std::string& path, const Device& device, const std::string& precision,
                                       const LoadOptions& load_options, bool graphs) {
  const bool quantized = is_quantized_model(path);
  std::optional<QuantizationConfig> config;
  if (quantized) config = read_quantization_config(path);
  // A quantized folder's Linears hold the dequantized weights (fp16 / fp8 start from them).
  LoadOptions with_floats = load_options;
  with_floats.float_weights = true;  // the runner uploads f32 weights (a GGUF's blocks dequantized too)
  const std::unique_ptr<Model> model = quantized
                                           ? load_model_for_execution(path, QuantExecution::Simulated, load_options)
                                           : load_model(path, with_floats);
  CudaEncoderOptions options;
  options.precision = precision;
  options.device = device.index;
  options.graphs = graphs;
  std::unique_ptr<CudaEncoder> encoder = CudaEncoder::create(*model, config ? &*config : nullptr, options);
  for (const std::string& note : encoder->notes()) log_warn("cuda {}: {}", precision, note);
  return std::make_unique<CudaModel>(std::move(encoder));
}

}  // namespace octet::cli
