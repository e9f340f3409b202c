// Calibration passes of the LLM quantizer (private to src/quant): observers
// on named activation sites over the calibration batches, with an optional
// early stop once the last site of interest has been seen in a batch (GPTQ's
// layer-by-layer passes need only the model up to the current layer).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "octet/model.h"
#include "octet/nn_sites.h"

namespace octet {

// Statistics of one activation (a Linear input or a key / value site) over the calibration data.
struct ActivationStats {
  int64_t channels = 0;
  int64_t rows = 0;                 // rows (tokens x heads for key / value sites) seen
  std::vector<float> channel_amax;  // max |x| per channel of the last dimension
  float amax = 0;                   // max |x| over everything
  float min = 0, max = 0;           // signed extremes (0 before any data)
  std::vector<float> head_amax;     // key / value sites [B, KVH, S, d]: max |x| per kv head
  Tensor sampled_rows;              // f32 [n, channels]: every `sample_stride`-th row, when sampling
  int64_t sampled = 0;

  void add(const Tensor& x, int64_t sample_stride, int64_t max_samples, bool per_head);
};

// One calibration pass: `observe(name, x)` runs for every site named in
// `sites` on every batch. With `stop_after` set, each batch's forward ends
// (by an internal exception) right after that site has been observed.
// Observers are removed afterwards, also on errors. NaN / Inf activations
// are an Error("calibrate") naming the site and batch.
void run_calibration_pass(Model& model, const std::vector<ModelInputs>& batches,
                          const std::vector<nn::ActivationSite>& sites,
                          const std::function<void(const nn::ActivationSite& site, const Tensor& x)>& observe,
                          const std::string& stop_after, const std::string& label, bool progress);

// Batches of `per_batch` windows each (input_ids [n, seq], no padding).
std::vector<ModelInputs> window_batches(const std::vector<std::vector<int64_t>>& windows, int64_t per_batch);

}  // namespace octet
