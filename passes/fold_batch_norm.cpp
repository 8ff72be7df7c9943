// See passes/fold_batch_norm.h.
#include "passes/fold_batch_norm.h"

#include <ATen/ATen.h>

#include "ir/graph.h"
#include "passes/conv_call.h"
#include "passes/schema_args.h"

namespace fx {

namespace {

using passes::SchemaArgs;

// The per-channel scale and shift of an eval batch norm with constant
// statistics, or nothing (and why) when n is not one.
struct Affine {
  Node* input = nullptr;
  at::Tensor scale, shift;  // 1-D, one entry per channel
};

std::optional<Affine> read_batch_norm(const GraphModule& gm, const Node& n, std::string* why) {
  if (n.op() != Op::CallFunction || passes::op_base_name(n.target()) != "aten::batch_norm")
    return std::nullopt;
  std::optional<SchemaArgs> a = SchemaArgs::of(n);
  if (!a) return std::nullopt;
  const Argument& training = (*a)["training"];
  if (training.kind() != Argument::Kind::kBool || training.to_bool()) {
    *why = "training mode";
    return std::nullopt;
  }
  const at::Tensor* mean = passes::constant_tensor(gm, (*a)["running_mean"]);
  const at::Tensor* var = passes::constant_tensor(gm, (*a)["running_var"]);
  const Argument& eps = (*a)["eps"];
  if (!mean || !var || !mean->defined() || !var->defined() || !(*a)["input"].is_node() ||
      (eps.kind() != Argument::Kind::kDouble && eps.kind() != Argument::Kind::kInt)) {
    *why = "running statistics are not constants";
    return std::nullopt;
  }
  auto optional_constant = [&](const char* name, bool* ok) -> std::optional<at::Tensor> {
    const Argument& arg = (*a)[name];
    if (arg.is_none()) return std::nullopt;
    const at::Tensor* t = passes::constant_tensor(gm, arg);
    if (!t) *ok = false;
    return t && t->defined() ? std::optional<at::Tensor>(*t) : std::nullopt;
  };
  bool ok = true;
  std::optional<at::Tensor> gamma = optional_constant("weight", &ok);
  std::optional<at::Tensor> beta = optional_constant("bias", &ok);
  if (!ok) {
    *why = "weight or bias is not a constant";
    return std::nullopt;
  }
  Affine out;
  out.input = (*a)["input"].to_node();
  // Computed in double, stored in the statistics' dtype.
  at::Tensor inv = at::rsqrt(var->to(at::kDouble) + eps.to_double());
  at::Tensor scale = gamma ? gamma->to(at::kDouble) * inv : inv;
  at::Tensor shift = -mean->to(at::kDouble) * scale;
  if (beta) shift = shift + beta->to(at::kDouble);
  out.scale = scale.to(mean->scalar_type());
  out.shift = shift.to(mean->scalar_type());
  return out;
}

// Whether bn is the only user of producer that reads its values. Others may
// read its shape (the rank check of a scripted BatchNorm2d): the folded node
// has the same shape and takes them over.
bool only_value_user(const Node& producer, const Node* bn) {
  for (const Node* u : producer.users())
    if (u != bn && !passes::reads_shape_only(*u)) return false;
  return true;
}

// bn and its producer are replaced by folded (inserted before the producer).
void replace_pair(Graph& g, Node* bn, Node* producer, Node* folded) {
  folded->meta() = bn->meta();
  bn->replace_all_uses_with(folded);
  g.erase_node(bn);
  producer->replace_all_uses_with(folded);
  g.erase_node(producer);
}

// Folds bn (reading `input` through affine f) into its producing convolution;
// false when the producer is not a foldable convolution.
bool fold_into_conv(GraphModule& gm, Node* bn, const Affine& f) {
  Node* conv = f.input;
  if (!only_value_user(*conv, bn)) return false;
  std::optional<passes::ConvCall> c = passes::read_conv(gm, *conv);
  if (!c || c->transposed || c->weight.size(0) != f.scale.numel()) return false;
  std::vector<int64_t> view(c->weight.dim(), 1);
  view[0] = -1;
  at::Tensor scale = f.scale.to(c->weight.scalar_type());
  c->weight = (c->weight * scale.view(view)).contiguous();
  at::Tensor bias = c->bias ? c->bias->to(scale.scalar_type()) : at::zeros_like(scale);
  c->bias = bias * scale + f.shift.to(scale.scalar_type());
  auto at = gm.graph().inserting_before(conv);
  Node* folded = passes::emit_convolution(gm, *c, "_bn_folded_" + bn->name());
  replace_pair(gm.graph(), bn, conv, folded);
  return true;
}

// Folds bn into the aten::linear producing its input, when that output is 2-D
// ([batch, features]: batch norm's channel dimension is the feature one).
bool fold_into_linear(GraphModule& gm, Node* bn, const Affine& f) {
  Node* lin = f.input;
  if (!only_value_user(*lin, bn) || lin->op() != Op::CallFunction ||
      passes::op_base_name(lin->target()) != "aten::linear")
    return false;
  const TensorMeta* m = lin->tensor_meta();
  std::optional<SchemaArgs> a = SchemaArgs::of(*lin);
  if (!m || m->shape.size() != 2 || !a || !(*a)["input"].is_node()) return false;
  const at::Tensor* w = passes::constant_tensor(gm, (*a)["weight"]);
  const Argument& b = (*a)["bias"];
  const at::Tensor* bt = b.is_none() ? nullptr : passes::constant_tensor(gm, b);
  if (!w || w->dim() != 2 || w->size(0) != f.scale.numel() || (!b.is_none() && !bt)) return false;
  at::Tensor scale = f.scale.to(w->scalar_type());
  at::Tensor weight = (*w * scale.unsqueeze(1)).contiguous();
  at::Tensor bias = (bt && bt->defined() ? bt->to(scale.scalar_type()) : at::zeros_like(scale)) *
                        scale +
                    f.shift.to(scale.scalar_type());
  Graph& g = gm.graph();
  auto at = g.inserting_before(lin);
  Node* wn = passes::add_constant(gm, "_bn_folded_" + bn->name() + "_weight", weight);
  Node* bn_bias = passes::add_constant(gm, "_bn_folded_" + bn->name() + "_bias", bias);
  replace_pair(g, bn, lin, g.call_function("aten::linear", {(*a)["input"], wn, bn_bias}));
  return true;
}

// Rewrites bn as x * scale + shift with constants shaped [C, 1, ...].
bool to_affine(GraphModule& gm, Node* bn, const Affine& f) {
  const TensorMeta* m = f.input->tensor_meta();
  if (!m || m->shape.size() < 2 || m->shape[1] != f.scale.numel()) return false;
  std::vector<int64_t> view(m->shape.size() - 1, 1);
  view[0] = -1;
  Graph& g = gm.graph();
  auto at = g.inserting_before(bn);
  Node* scale = passes::add_constant(gm, "_bn_scale_" + bn->name(), f.scale.view(view));
  Node* shift = passes::add_constant(gm, "_bn_shift_" + bn->name(), f.shift.view(view));
  Node* mul = g.call_function("aten::mul.Tensor", {f.input, scale});
  Node* add = g.call_function("aten::add.Tensor", {mul, shift});
  add->meta() = bn->meta();
  bn->replace_all_uses_with(add);
  g.erase_node(bn);
  return true;
}

}  // namespace

bool fold_batch_norm(GraphModule& gm, PassLog* log) {
  int into_conv = 0, affine = 0;
  for (Node* n : gm.graph().nodes()) {
    std::string why;
    std::optional<Affine> f = read_batch_norm(gm, *n, &why);
    if (!f) {
      if (!why.empty()) note(log, "kept " + n->name() + ": " + why);
      continue;
    }
    if (fold_into_conv(gm, n, *f) || fold_into_linear(gm, n, *f)) {
      ++into_conv;
    } else if (to_affine(gm, n, *f)) {
      ++affine;
    } else {
      note(log, "kept " + n->name() + ": input shape unknown");
    }
  }
  if (into_conv)
    note(log, "folded " + std::to_string(into_conv) + " batch norms into convolutions or linears");
  if (affine) note(log, "turned " + std::to_string(affine) + " batch norms into mul + add");
  if (into_conv || affine) gm.graph().eliminate_dead_code();
  return into_conv || affine;
}

}  // namespace fx
