// --device cpu|cuda[:N] and --precision for the commands that run a model
// (run, eval, bench). On CUDA the model runs through CudaEncoder
// (octet/cuda_encoder.h); a CPU-only build or a machine without a GPU gets
// one clear Error "cuda" before any file is read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "octet/device.h"
#include "octet/model.h"

namespace octet::cli {

struct DeviceOptions {
  std::string device = "cpu";
  // CPU: fp32 | bf16 (empty: as loaded); CUDA: fp16 | int8 | fp8 (empty: int8 for
  // an octet quantize folder, else fp16).
  std::string precision;
};

// Adds --device and --precision to `sub`.
void add_device_options(CLI::App& sub, DeviceOptions& opt);

// Parses --device and checks that it can be used now (Error "device" for a
// bad name, Error "cuda" without CUDA or a GPU), and that --precision is one
// the device runs (CPU: fp32, bf16 where the CPU has AVX-512 BF16).
Device check_device_options(const DeviceOptions& opt);

// On the CPU, apply_cpu_precision (octet/precision.h) with --precision, fp32
// when not given (Linears without a kernel get their weights packed once);
// nothing on CUDA.
void apply_cpu_precision_option(const DeviceOptions& opt, Model& model);

// fp16, or int8 for a folder written by `octet quantize`.
std::string cuda_precision(const DeviceOptions& opt, const std::string& model_path);

// The model at `path` (fp32 Hugging Face folder or `octet quantize` folder)
// as a Model whose forward() runs on the GPU; its notes (Linears kept in
// fp16, ...) are logged as warnings. `graphs`: capture CUDA graphs per shape.
std::unique_ptr<Model> load_cuda_model(const std::string& path, const Device& device, const std::string& precision,
                                       const LoadOptions& load_options, bool graphs);

}  // namespace octet::cli
