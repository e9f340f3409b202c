#include "octet/nn_sites.h"

#include "octet/error.h"

namespace octet::nn {

struct ActivationSite::State {
  std::string name;
  SiteKind kind = SiteKind::LinearInput;
  Observer observer;
  Transform transform;
};

std::string_view site_kind_name(SiteKind kind) {
  switch (kind) {
    case SiteKind::LinearInput: return "linear_input";
    case SiteKind::AttentionQuery: return "attention_query";
    case SiteKind::AttentionKey: return "attention_key";
    case SiteKind::AttentionValue: return "attention_value";
    case SiteKind::AttentionProbs: return "attention_probs";
    case SiteKind::ResidualAdd: return "residual_add";
    case SiteKind::NormInput: return "norm_input";
  }
  return "unknown";
}

ActivationSite::ActivationSite() : state_(std::make_shared<State>()) {}

ActivationSite::ActivationSite(std::string name, SiteKind kind) : state_(std::make_shared<State>()) {
  state_->name = std::move(name);
  state_->kind = kind;
}

const std::string& ActivationSite::name() const { return state_->name; }
SiteKind ActivationSite::kind() const { return state_->kind; }
bool ActivationSite::active() const { return state_->observer || state_->transform; }

Tensor ActivationSite::apply(const Tensor& x) const {
  if (state_->observer) state_->observer(*this, x);
  if (state_->transform) return state_->transform(x);
  return x;
}

void ActivationSite::apply_in_place(Tensor& x) const {
  const Tensor y = apply(x);
  if (y.data<float>() != x.data<float>()) x.copy_from(y);
}

void ActivationSite::set_name(std::string name) { state_->name = std::move(name); }
void ActivationSite::set_observer(Observer observer) { state_->observer = std::move(observer); }
void ActivationSite::set_transform(Transform transform) { state_->transform = std::move(transform); }
const ActivationSite::Transform& ActivationSite::transform() const { return state_->transform; }
void ActivationSite::clear() {
  state_->observer = nullptr;
  state_->transform = nullptr;
}

Tensor LinearKernel::forward_activated(const Tensor& x, kernels::Activation act) const {
  Tensor y = forward(x);
  kernels::activation(act, y, y);
  return y;
}

int64_t LinearKernel::resident_bytes() const {
  int64_t bytes = 0;
  for (const auto& region : resident_regions()) bytes += int64_t(region.size());
  return bytes;
}

std::shared_ptr<const PreparedInput> LinearKernel::prepare_input(const Tensor&) const { return nullptr; }

Tensor LinearKernel::forward_prepared(const PreparedInput&) const {
  fail("linear", "the {} kernel takes no prepared input", describe());
}

std::vector<Tensor> LinearKernel::forward_together(std::span<const LinearKernel* const>, const Tensor&) const {
  return {};
}

std::shared_ptr<const PreparedInput> LinearKernel::forward_activated_for(const Tensor&, kernels::Activation,
                                                                         const LinearKernel&) const {
  return nullptr;
}

}  // namespace octet::nn
