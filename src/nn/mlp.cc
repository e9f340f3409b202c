// Feed-forward blocks: plain (fc1 -> act -> fc2) and gated (SwiGLU / GeGLU).
#include "octet/error.h"
#include "octet/nn.h"

namespace octet::nn {

MLP::MLP(Linear fc1, Linear fc2, kernels::Activation act) : MLP(std::move(fc1), std::nullopt, std::move(fc2), act) {}

MLP MLP::gated(Linear gate, Linear up, Linear down, kernels::Activation act) {
  return MLP(std::move(gate), std::move(up), std::move(down), act);
}

MLP::MLP(Linear fc1, std::optional<Linear> up, Linear fc2, kernels::Activation act)
    : fc1_(std::move(fc1)), up_(std::move(up)), fc2_(std::move(fc2)), act_(act) {
  check((fc1_.weight().defined() || fc1_.kernel_resident()) && (fc2_.weight().defined() || fc2_.kernel_resident()),
        "mlp", "projections must have weights");
  const int64_t hidden = fc1_.in_features(), inner = fc1_.out_features();
  check(fc2_.in_features() == inner, "mlp", "{} projection has {} outputs but the {} projection takes {} inputs",
        up_ ? "gate" : "fc1", inner, up_ ? "down" : "fc2", fc2_.in_features());
  check(fc2_.out_features() == hidden, "mlp", "{} projection gives {} outputs, the block's input has {}",
        up_ ? "down" : "fc2", fc2_.out_features(), hidden);
  if (up_) {
    check(up_->in_features() == hidden && up_->out_features() == inner, "mlp",
          "up projection is [{}, {}], gate is [{}, {}]", up_->out_features(), up_->in_features(), inner, hidden);
  }
}

Tensor MLP::forward(const Tensor& x) const {
  if (!up_) return Linear::forward_pair(fc1_, act_, fc2_, x);
  std::vector<Tensor> gate_up = Linear::forward_shared({&fc1_, &*up_}, x);
  Tensor& h = gate_up[0];
  kernels::activation(act_, h, h);
  kernels::mul(h, gate_up[1], h);
  return fc2_.forward(h);
}

}  // namespace octet::nn
