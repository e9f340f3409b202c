// `octet doctor`: what octet sees on this machine (CPU features, the kernel
// variant it will run, threads, BLAS, CUDA), for bug reports and setup checks.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/cpu_features.h"
#include "octet/device.h"
#include "octet/log.h"
#include "octet/thread_pool.h"
#include "output.h"

namespace octet::cli::doctor_command {
namespace {

struct IsaFlag {
  const char* key;    // JSON key
  const char* label;  // table label
  bool CpuFeatures::*member;
};

constexpr IsaFlag kIsaFlags[] = {
    {"sse4_2", "SSE4.2", &CpuFeatures::sse42},          {"avx", "AVX", &CpuFeatures::avx},
    {"avx2", "AVX2", &CpuFeatures::avx2},               {"fma", "FMA", &CpuFeatures::fma},
    {"f16c", "F16C", &CpuFeatures::f16c},               {"avx512f", "AVX-512F", &CpuFeatures::avx512f},
    {"avx512bw", "AVX-512BW", &CpuFeatures::avx512bw},  {"avx512vl", "AVX-512VL", &CpuFeatures::avx512vl},
    {"avx512_vnni", "AVX-512 VNNI", &CpuFeatures::avx512_vnni}, {"avx512_vbmi", "AVX-512 VBMI", &CpuFeatures::avx512_vbmi},
    {"avx512_bf16", "AVX-512 BF16", &CpuFeatures::avx512_bf16},
    {"avx_vnni", "AVX-VNNI", &CpuFeatures::avx_vnni},   {"amx_int8", "AMX-INT8", &CpuFeatures::amx_int8},
    {"amx_bf16", "AMX-BF16", &CpuFeatures::amx_bf16},
};

std::optional<std::string> isa_cap() {
  const char* env = std::getenv("OCTET_ISA");
  if (!env || !*env) return std::nullopt;
  return std::string(env);
}

nlohmann::json doctor_json(const CudaStatus& cuda, const BlasStatus& blas) {
  const CpuFeatures& used = cpu_features();
  const CpuFeatures& detected = cpu_features_detected();
  nlohmann::json isa = nlohmann::json::object();
  nlohmann::json isa_detected = nlohmann::json::object();
  for (const auto& flag : kIsaFlags) {
    isa[flag.key] = used.*flag.member;
    isa_detected[flag.key] = detected.*flag.member;
  }
  const auto cap = isa_cap();
  return {
      {"version", OCTET_VERSION},
      {"cpu",
       {{"brand", detected.brand},
        {"vendor", detected.vendor},
        {"isa", isa},
        {"isa_detected", isa_detected},
        {"isa_cap", cap ? nlohmann::json(*cap) : nlohmann::json(nullptr)},
        {"kernel_variant", std::string(cpu_kernel_variant())}}},
      {"threads", num_threads()},
      {"blas", {{"library", blas.library}, {"config", blas.config}, {"core", blas.core}, {"threads", blas.threads}}},
      {"cuda",
       {{"built", cuda.built},
        {"gpu_visible", cuda.gpu_visible},
        {"device_count", cuda.device_count},
        {"driver", cuda.driver},
        {"devices", cuda.devices},
        {"detail", cuda.detail}}},
  };
}

void print_doctor_table(const CudaStatus& cuda, const BlasStatus& blas) {
  const CpuFeatures& used = cpu_features();
  const CpuFeatures& detected = cpu_features_detected();
  std::vector<TableRow> rows;
  rows.push_back({"octet", OCTET_VERSION});
  rows.push_back({"cpu", detected.brand.empty() ? "unknown" : detected.brand});
  rows.push_back({"vendor", detected.vendor.empty() ? "unknown" : detected.vendor});
  for (const auto& flag : kIsaFlags) {
    const bool on = used.*flag.member;
    const bool masked = !on && detected.*flag.member;
    rows.push_back({flag.label, masked ? "no (disabled by OCTET_ISA)" : yes_no(on)});
  }
  rows.push_back({"kernel variant", std::string(cpu_kernel_variant())});
  rows.push_back({"threads", std::to_string(num_threads())});
  rows.push_back({"blas", blas.config.empty() ? blas.library : blas.config});
  rows.push_back({"blas threads", std::to_string(blas.threads)});
  rows.push_back({"cuda built", yes_no(cuda.built)});
  std::string visible = yes_no(cuda.gpu_visible);
  if (!cuda.detail.empty()) visible += " (" + cuda.detail + ")";
  rows.push_back({"gpu visible", visible});
  if (cuda.built) rows.push_back({"cuda driver", cuda.driver.empty() ? "none" : cuda.driver});
  for (size_t i = 0; i < cuda.devices.size(); ++i) rows.push_back({"cuda:" + std::to_string(i), cuda.devices[i]});
  print_table({"check", "result"}, rows);
}

const CommandRegistration kDoctor{{
    "doctor",
    "Show what octet detects here: CPU features, kernel variant, threads, BLAS and CUDA",
    [](CLI::App& sub) {
      struct Options {
        bool json = false;
        std::string device;
      };
      auto options = std::make_shared<Options>();
      sub.add_flag("--json", options->json, "Print JSON instead of a table");
      sub.add_option("--device", options->device,
                     "Also require this device (cpu, cuda, cuda:N) to be usable; exit 1 if it is not");
      add_common_options(sub);
      sub.callback([options] {
        // Reject a malformed name before printing anything.
        const std::optional<Device> device =
            options->device.empty() ? std::nullopt : std::optional<Device>(parse_device(options->device));
        const auto start = std::chrono::steady_clock::now();
        const CudaStatus cuda = cuda_status();
        log_debug("CUDA query took {}", format_duration(std::chrono::duration<double>(
                                            std::chrono::steady_clock::now() - start).count()));
        const BlasStatus blas = blas_status();
        if (options->json) {
          print_json(doctor_json(cuda, blas));
        } else {
          print_doctor_table(cuda, blas);
        }
        if (device) require_device(*device);
      });
    },
}};

}  // namespace
}  // namespace octet::cli::doctor_command
