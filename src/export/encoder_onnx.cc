// ONNX graphs of the post-norm encoders (BERT, RoBERTa, XLM-R, ELECTRA,
// DistilBERT, ALBERT), built from the blocks the model holds.
//
//   embeddings  Gather(word) + Gather(token type) + position rows -> LayerNorm (-> projection)
//   layer       q/k/v MatMul+Add -> Reshape/Transpose -> MatMul / sqrt(d) + mask -> Softmax
//               -> MatMul v -> Transpose/Reshape -> dense -> Add residual -> LayerNormalization
//               -> fc1 -> activation -> fc2 -> Add residual -> LayerNormalization
//   heads       Gather(hidden, 0, axis 1) -> pooler dense + activation -> classifier
//
// The ops follow octet's order of operations (word + type + position; branch
// + residual; scores / sqrt(d) + mask), so fp32 results differ from octet's
// only by accumulation order inside GEMMs and reductions. The attention mask
// is HF's additive (1 - mask) * finfo(f32).min, which gives masked keys a
// probability of exactly 0 as octet's kernel does. Quantized Linears and sites
// (QdqPlan) get QuantizeLinear -> DequantizeLinear on their input and an int8
// initializer + DequantizeLinear (axis 1 on the [in, out] weight) for the weight.
#include <cmath>
#include <limits>
#include <set>

#include "core/error_tags.h"
#include "export/qdq_nodes.h"
#include "models/encoder_common.h"
#include "octet/error.h"
#include "octet/export_onnx.h"

namespace octet {
namespace {

class EncoderExporter {
 public:
  EncoderExporter(OnnxGraph& graph, const OnnxExportOptions& options, const QdqPlan* plan)
      : g_(graph), opt_(options), qdq_(graph, plan) {}

  void run(const encoder::EncoderModel& model, const encoder::EncoderLayout& layout) {
    const std::vector<OnnxDim> dims{opt_.batch ? OnnxDim(*opt_.batch) : OnnxDim(std::string("batch")),
                                    opt_.seq ? OnnxDim(*opt_.seq) : OnnxDim(std::string("seq"))};
    const std::string ids = g_.add_input("input_ids", DType::I64, dims);
    const std::string mask = g_.add_input("attention_mask", DType::I64, dims);
    const encoder::Embeddings& emb = *layout.embeddings;
    std::string types;
    if (emb.token_type && emb.token_type->vocab_size() > 1) types = g_.add_input("token_type_ids", DType::I64, dims);

    std::string x = embeddings(emb, layout, ids, types);
    const std::string mask_add = additive_mask(mask);
    for (size_t i = 0; i < layout.layers.size(); ++i) x = layer(*layout.layers[i], x, mask_add, i);
    heads(model, x);
    qdq_.check_all_used();
  }

 private:
  // A value / node name not used yet: `base`, or base_1, base_2, ...
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int n = 1; g_.has_value(name) || used_.contains(name); ++n) name = base + "_" + std::to_string(n);
    used_.insert(name);
    return name;
  }
  std::string op(const std::string& type, std::vector<std::string> inputs, const std::string& name,
                 std::vector<OnnxAttribute> attributes = {}) {
    return g_.add_op(type, std::move(inputs), std::move(attributes), fresh(name));
  }
  // A parameter tensor as an initializer, once per name (ALBERT's shared layers reuse it).
  std::string initializer(const std::string& name, const Tensor& t) {
    if (g_.find_initializer(name)) return name;
    return g_.add_initializer(name, t);
  }
  std::string scalar(float v) { return g_.add_constant_f32({v}, {}, fresh("const")); }
  std::string ints(const std::vector<int64_t>& v, const std::string& name) {
    return g_.add_constant_i64(v, fresh(name));
  }

  std::string linear(const std::string& x, const nn::Linear& lin, const std::string& scope) {
    const std::string in = qdq_.activation(x, lin.name(), scope + "/input");
    const std::string w = qdq_.weight(lin, scope);
    std::string y = op("MatMul", {in, w}, scope + "/MatMul");
    if (lin.has_bias()) y = op("Add", {y, initializer(lin.name() + ".bias", lin.bias())}, scope + "/Add");
    return y;
  }

  std::string site(const std::string& x, const nn::ActivationSite& s, const std::string& scope) {
    return qdq_.activation(x, s.name(), scope);
  }

  std::string layer_norm(const std::string& x, const nn::LayerNorm& norm, const std::string& param,
                         const std::string& scope) {
    const std::string gamma = initializer(param + ".weight", norm.gamma());
    const std::string beta = initializer(param + ".bias", norm.beta());
    if (opt_.opset >= 17)
      return op("LayerNormalization", {x, gamma, beta}, scope + "/LayerNormalization",
                {{"axis", int64_t{-1}}, {"epsilon", norm.eps()}});
    // Opsets 13-16 have no LayerNormalization: its definition, with ReduceMean's axes as an attribute.
    const std::string mean = op("ReduceMean", {x}, scope + "/ReduceMean", {{"axes", {-1}}, {"keepdims", int64_t{1}}});
    const std::string d = op("Sub", {x, mean}, scope + "/Sub");
    const std::string sq = op("Mul", {d, d}, scope + "/Square");
    const std::string var = op("ReduceMean", {sq}, scope + "/Variance", {{"axes", {-1}}, {"keepdims", int64_t{1}}});
    const std::string std_dev = op("Sqrt", {op("Add", {var, scalar(norm.eps())}, scope + "/AddEps")}, scope + "/Sqrt");
    const std::string n = op("Div", {d, std_dev}, scope + "/Normalize");
    return op("Add", {op("Mul", {n, gamma}, scope + "/Scale"), beta}, scope + "/Shift");
  }

  std::string activation(const std::string& x, kernels::Activation act, const std::string& scope) {
    using kernels::Activation;
    switch (act) {
      case Activation::Gelu:
        return g_.add_gelu_erf(x, fresh(scope + "/Gelu"));
      case Activation::Relu:
        return op("Relu", {x}, scope + "/Relu");
      case Activation::Silu:
        return op("Mul", {x, op("Sigmoid", {x}, scope + "/Sigmoid")}, scope + "/Silu");
      case Activation::QuickGelu: {
        const std::string s = op("Sigmoid", {op("Mul", {x, scalar(1.702f)}, scope + "/Scale")}, scope + "/Sigmoid");
        return op("Mul", {x, s}, scope + "/QuickGelu");
      }
      case Activation::GeluTanh: {
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), HF's NewGELUActivation order.
        const std::string cube = op("Mul", {op("Mul", {x, x}, scope + "/Square"), x}, scope + "/Cube");
        const std::string inner = op("Add", {x, op("Mul", {cube, scalar(0.044715f)}, scope + "/CubeScale")},
                                     scope + "/Inner");
        const std::string t = op("Tanh", {op("Mul", {inner, scalar(float(std::sqrt(2.0 / M_PI)))}, scope + "/Scale")},
                                 scope + "/Tanh");
        const std::string half = op("Mul", {x, scalar(0.5f)}, scope + "/Half");
        return op("Mul", {half, op("Add", {t, scalar(1.0f)}, scope + "/One")}, scope + "/GeluTanh");
      }
    }
    fail(kExportTag, "activation {} has no ONNX export", kernels::activation_name(act));
  }

  std::string head_activation(const std::string& x, const encoder::HeadActivation& act, const std::string& scope) {
    if (act.tanh) return op("Tanh", {x}, scope + "/Tanh");
    return activation(x, act.act, scope);
  }

  // [batch, seq] int64 -> [batch, 1, 1, seq] f32: 0 where attended, finfo(f32).min where masked.
  std::string additive_mask(const std::string& mask) {
    const std::string u = op("Unsqueeze", {mask, ints({1, 2}, "mask_axes")}, "/mask/Unsqueeze");
    const std::string f = op("Cast", {u}, "/mask/Cast", {{"to", int64_t(OnnxType::Float)}});
    const std::string inv = op("Sub", {scalar(1.0f), f}, "/mask/Sub");
    return op("Mul", {inv, scalar(std::numeric_limits<float>::lowest())}, "/mask/Mul");
  }

  std::string embeddings(const encoder::Embeddings& emb, const encoder::EncoderLayout& layout, const std::string& ids,
                         const std::string& types) {
    const std::string s = "/embeddings";
    std::string e = op("Gather", {initializer(param_name(emb.word.table(), "word_embeddings"), emb.word.table()), ids},
                       s + "/word/Gather", {{"axis", int64_t{0}}});
    if (emb.token_type) {
      const std::string table = initializer(param_name(emb.token_type->table(), "token_type_embeddings"),
                                            emb.token_type->table());
      // One token type: its row broadcasts over [batch, seq, width].
      const std::string rows =
          types.empty() ? table : op("Gather", {table, types}, s + "/token_type/Gather", {{"axis", int64_t{0}}});
      e = op("Add", {e, rows}, s + "/AddTokenType");
    }
    if (emb.position) {
      const std::string table =
          initializer(param_name(emb.position->table(), "position_embeddings"), emb.position->table());
      std::string rows;
      if (layout.padding_aware_positions) {
        // RoBERTa: cumsum(id != pad) * (id != pad) + pad.
        const std::string pad = g_.add_constant_i64({layout.pad_token_id}, fresh("pad_token_id"));
        const std::string is_pad = op("Equal", {ids, pad}, s + "/position/Equal");
        const std::string keep = op("Cast", {op("Not", {is_pad}, s + "/position/Not")}, s + "/position/Cast",
                                    {{"to", int64_t(OnnxType::Int64)}});
        const std::string count = op("CumSum", {keep, g_.add_constant_i64({1}, fresh("cumsum_axis"))},
                                     s + "/position/CumSum");
        const std::string pos = op("Add", {op("Mul", {count, keep}, s + "/position/Mul"), pad}, s + "/position/Add");
        rows = op("Gather", {table, pos}, s + "/position/Gather", {{"axis", int64_t{0}}});
      } else {
        // Positions 0..seq-1: the first seq rows, broadcast over the batch.
        const std::string shape = op("Shape", {ids}, s + "/position/Shape");
        const std::string seq = op("Slice", {shape, ints({1}, "one"), ints({2}, "two")}, s + "/position/Seq");
        rows = op("Slice", {table, ints({0}, "zero"), seq, ints({0}, "axis0")}, s + "/position/Slice");
      }
      e = op("Add", {e, rows}, s + "/AddPosition");
    }
    if (emb.project_before_norm) e = linear(e, *emb.project_before_norm, s + "/project_before_norm");
    e = site(e, emb.norm.site(), s + "/LayerNorm/input");
    e = layer_norm(e, emb.norm.norm(), norm_param(emb.norm), s + "/LayerNorm");
    if (emb.project_after_norm) e = linear(e, *emb.project_after_norm, s + "/project_after_norm");
    return e;
  }

  std::string attention(const nn::MultiHeadAttention& mha, const std::string& x, const std::string& mask_add,
                        const std::string& scope) {
    const nn::AttentionConfig& c = mha.config();
    check(!mha.fused_qkv() && mha.q_proj() && mha.k_proj() && mha.v_proj(), kExportTag,
          "{}: fused q/k/v projections have no export yet", scope);
    const int64_t heads = c.num_heads, kv_heads = c.num_kv_heads ? c.num_kv_heads : c.num_heads;
    check(kv_heads == heads, kExportTag, "{}: grouped-query attention has no export yet", scope);
    const int64_t d = c.head_dim ? c.head_dim : c.hidden_size / heads;
    const std::string split_shape = ints({0, 0, heads, d}, "split_heads_shape");
    // visit_sites is non-const only because quantization installs hooks through it; this reads.
    std::vector<nn::ActivationSite*> sites;
    const_cast<nn::MultiHeadAttention&>(mha).visit_sites([&](nn::ActivationSite& s) { sites.push_back(&s); });
    auto project = [&](const nn::Linear& lin, const nn::ActivationSite* s, const char* what,
                       std::vector<int64_t> perm) {
      const std::string sub = scope + "/" + what;
      std::string y = linear(x, lin, sub);
      if (s) y = site(y, *s, sub + "/site");
      const std::string r = op("Reshape", {y, split_shape}, sub + "/Reshape");
      return op("Transpose", {r}, sub + "/Transpose", {{"perm", std::move(perm)}});
    };
    auto find_site = [&](nn::SiteKind kind) -> const nn::ActivationSite* {
      for (const auto* s : sites)
        if (s->kind() == kind) return s;
      return nullptr;
    };
    const std::string q = project(*mha.q_proj(), find_site(nn::SiteKind::AttentionQuery), "query", {0, 2, 1, 3});
    const std::string k = project(*mha.k_proj(), find_site(nn::SiteKind::AttentionKey), "key", {0, 2, 3, 1});
    const std::string v = project(*mha.v_proj(), find_site(nn::SiteKind::AttentionValue), "value", {0, 2, 1, 3});
    std::string scores = op("MatMul", {q, k}, scope + "/scores/MatMul");
    scores = c.scale ? op("Mul", {scores, scalar(*c.scale)}, scope + "/scores/Mul")
                     : op("Div", {scores, scalar(float(std::sqrt(double(d))))}, scope + "/scores/Div");
    scores = op("Add", {scores, mask_add}, scope + "/scores/AddMask");
    std::string probs = op("Softmax", {scores}, scope + "/Softmax", {{"axis", int64_t{-1}}});
    if (const nn::ActivationSite* s = find_site(nn::SiteKind::AttentionProbs)) probs = site(probs, *s, scope + "/probs");
    const std::string context = op("MatMul", {probs, v}, scope + "/context/MatMul");
    const std::string t = op("Transpose", {context}, scope + "/context/Transpose", {{"perm", {0, 2, 1, 3}}});
    const std::string merged = op("Reshape", {t, ints({0, 0, heads * d}, "merge_heads_shape")}, scope + "/context/Reshape");
    return linear(merged, mha.out_proj(), scope + "/output");
  }

  std::string residual_norm(const encoder::ResidualNorm& rn, const std::string& branch, const std::string& residual,
                            const std::string& scope) {
    const std::string b = site(branch, rn.residual_site(), scope + "/residual");
    std::string sum = op("Add", {b, residual}, scope + "/AddResidual");
    sum = site(sum, rn.norm_site(), scope + "/LayerNorm/input");
    return layer_norm(sum, rn.norm(), norm_param(rn), scope + "/LayerNorm");
  }

  std::string layer(const encoder::PostNormLayer& layer, const std::string& x, const std::string& mask_add, size_t i) {
    const std::string scope = "/layer." + std::to_string(i);
    const std::string a_branch = attention(layer.attention(), x, mask_add, scope + "/attention");
    const std::string a = residual_norm(layer.attention_norm(), a_branch, x, scope + "/attention");
    const nn::MLP& mlp = layer.mlp();
    check(!mlp.is_gated(), kExportTag, "{}: gated MLPs have no export yet", scope);
    std::string h = linear(a, mlp.fc1(), scope + "/mlp/fc1");
    h = activation(h, mlp.activation(), scope + "/mlp/act");
    h = linear(h, mlp.fc2(), scope + "/mlp/fc2");
    return residual_norm(layer.output_norm(), h, a, scope + "/output");
  }

  void heads(const encoder::EncoderModel& model, const std::string& hidden) {
    const auto& pooler = model.pooler();
    const auto& classifier = model.classifier();
    const std::vector<OnnxDim> batch{opt_.batch ? OnnxDim(*opt_.batch) : OnnxDim(std::string("batch"))};
    if (!classifier) {
      const std::string out = g_.add_op("Identity", {hidden}, {}, "last_hidden_state");
      std::vector<OnnxDim> dims{batch[0], opt_.seq ? OnnxDim(*opt_.seq) : OnnxDim(std::string("seq")),
                                model.info().hidden_size};
      g_.add_output(out, DType::F32, dims);
    }
    if (!pooler && !classifier) return;
    const std::string cls = op("Gather", {hidden, g_.add_initializer(fresh("first_token"), Tensor::zeros({}, DType::I64))},
                               "/head/FirstToken", {{"axis", int64_t{1}}});
    std::string features = cls;
    if (pooler) {
      features = head_activation(linear(cls, pooler->dense, "/head/pooler"), pooler->activation, "/head/pooler");
      if (model.pooler_is_output() && !classifier) {
        const std::string out = g_.add_op("Identity", {features}, {}, "pooler_output");
        g_.add_output(out, DType::F32, std::vector<OnnxDim>{batch[0], model.info().hidden_size});
      }
    }
    if (classifier) {
      const std::string y = linear(features, *classifier, "/head/classifier");
      const std::string out = g_.add_op("Identity", {y}, {}, "logits");
      g_.add_output(out, DType::F32, std::vector<OnnxDim>{batch[0], classifier->out_features()});
    }
  }

  // Parameter names: the checkpoint names where the model recorded them.
  std::string param_name(const Tensor& t, const std::string& fallback) {
    for (const auto& [name, p] : params_)
      if (p.raw_data() == t.raw_data()) return name;
    return fallback;
  }
  template <class Norm>
  std::string norm_param(const Norm& n) {
    const std::string name = param_name(n.norm().gamma(), "");
    if (name.size() > 7 && name.ends_with(".weight")) return name.substr(0, name.size() - 7);
    return fresh("LayerNorm");
  }

 public:
  void set_parameters(std::vector<std::pair<std::string, Tensor>> params) { params_ = std::move(params); }

 private:
  OnnxGraph& g_;
  const OnnxExportOptions& opt_;
  export_detail::QdqNodes qdq_;
  std::set<std::string> used_;
  std::vector<std::pair<std::string, Tensor>> params_;
};

}  // namespace

std::string onnx_export_unsupported(const Model& model) {
  const auto* encoder = dynamic_cast<const encoder::EncoderModel*>(&model);
  if (!encoder || !encoder->layout())
    return fmt::format("{} ({}) is not supported for ONNX export yet (supported: BERT, RoBERTa, XLM-R, ELECTRA, "
                       "DistilBERT, ALBERT)",
                       model.info().model_type, model.info().architecture);
  return {};
}

OnnxGraph build_onnx_graph(const Model& model, const OnnxExportOptions& options, const QdqPlan* plan) {
  const std::string why = onnx_export_unsupported(model);
  check(why.empty(), kExportTag, "{}", why);
  check(options.opset >= 13 && options.opset <= 21, kExportTag, "opset {} is not supported (13..21)", options.opset);
  check(!options.batch || *options.batch > 0, kExportTag, "a fixed batch size must be > 0");
  check(!options.seq || *options.seq > 0, kExportTag, "a fixed sequence length must be > 0");
  const auto& encoder = dynamic_cast<const encoder::EncoderModel&>(model);
  OnnxGraph graph(model.info().architecture.empty() ? model.info().model_type : model.info().architecture);
  EncoderExporter exporter(graph, options, plan && !plan->empty() ? plan : nullptr);
  exporter.set_parameters(model.parameters());
  exporter.run(encoder, *encoder.layout());
  return graph;
}

OnnxSaveResult export_onnx(const Model& model, const std::filesystem::path& path, const OnnxExportOptions& options,
                           const QdqPlan* plan) {
  const OnnxGraph graph = build_onnx_graph(model, options, plan);
  OnnxSaveOptions save;
  save.opset = options.opset;
  save.external_data = options.external_data;
  return save_onnx(path, graph, save);
}

}  // namespace octet
