// Per-layer error measurements behind quantize_model (private to src/quant):
// each Linear's own output error, the model's error with one Linear quantized
// at a time, and the automatic fp32 fallback of the most sensitive ones.
// All run the simulated execution over the calibration batches and leave the
// model in fp32.
#pragma once

#include <vector>

#include "octet/quantize_model.h"

namespace octet {

// ||approx - exact|| / ||exact|| over all elements (||approx - exact|| when exact is zero), in double.
double relative_l2(const Tensor& approx, const Tensor& exact);

// LayerReport::output_error of every quantized Linear: its simulated output
// vs the fp32 one on the same (fp32) inputs.
void measure_output_errors(Model& model, const QuantizationConfig& config, const std::vector<ModelInputs>& batches,
                           QuantizeReport& report);

// LayerReport::model_error / prediction_changes of every quantized Linear
// (quantized alone), and the report's model_error / disagreement with all of them.
void measure_sensitivity(Model& model, const QuantizationConfig& config, const std::vector<ModelInputs>& batches,
                         bool progress, QuantizeReport& report);

// Moves the most sensitive Linears (by LayerReport::model_error) from
// config.linears to config.excluded until the disagreement (classification)
// or the relative output error is at most `budget`. Needs measure_sensitivity first.
void apply_fallback(Model& model, QuantizationConfig& config, const std::vector<ModelInputs>& batches, double budget,
                    QuantizeReport& report);

}  // namespace octet
