// See passes/pack_onednn_weights.h.
#include "passes/pack_onednn_weights.h"

#include <ATen/ATen.h>

#include "ir/graph.h"
#include "passes/conv_call.h"
#include "passes/schema_args.h"
#include "runtime/operator.h"

namespace fx {

namespace {

using passes::SchemaArgs;

at::Tensor call_packing(const char* op, std::vector<c10::IValue> args, std::string* why) {
  try {
    c10::IValue out = call_operator(find_operator(op), std::move(args), {});
    if (out.isTensor()) return out.toTensor();
    *why = std::string(op) + " returned no tensor";
  } catch (const std::exception& e) {
    *why = e.what();
  }
  return {};
}

// mkl::_mkl_linear(X, MKL_W, ORI_W, B, batch_size): MKL_W packed from the
// dense ORI_W for batch_size rows (the operator runs ORI_W densely for other
// row counts, and when MKL_W is not packed, as after fx::load).
at::Tensor packed_mkl_weight(const GraphModule& gm, const Node& n, Node** weight_node,
                             std::string* why) {
  if (n.args().size() != 5 || !n.args()[1].is_node() || !n.args()[2].is_node() ||
      n.args()[4].kind() != Argument::Kind::kInt)
    return {};
  const at::Tensor* mkl_w = passes::constant_tensor(gm, n.args()[1]);
  const at::Tensor* w = passes::constant_tensor(gm, n.args()[2]);
  if (!mkl_w || !w || !w->defined() || mkl_w->is_mkldnn() || w->dim() != 2) return {};
  *weight_node = n.args()[1].to_node();
  return call_packing("mkl::_mkl_reorder_linear_weight", {w->contiguous(), n.args()[4].to_int()},
                      why);
}

// The packed form of weight for node n (a oneDNN conv or linear), or an
// undefined tensor when n is not one or cannot be packed (why says which).
at::Tensor packed_weight(const GraphModule& gm, const Node& n, Node** weight_node,
                         std::string* why) {
  std::string base = passes::op_base_name(n.target());
  if (base == "mkl::_mkl_linear") return packed_mkl_weight(gm, n, weight_node, why);
  // (the trailing _: onednn_inplace_residuals' in-place form, same arguments)
  bool conv = base == "mkldnn::_convolution_pointwise" || base == "mkldnn::_convolution_pointwise_";
  if (!conv && base != "mkldnn::_linear_pointwise") return {};
  std::optional<SchemaArgs> a = SchemaArgs::of(n);
  if (!a || !(*a)["X"].is_node() || !(*a)["W"].is_node()) return {};
  *weight_node = (*a)["W"].to_node();
  const at::Tensor* w = passes::constant_tensor(gm, (*a)["W"]);
  const TensorMeta* x = (*a)["X"].to_node()->tensor_meta();
  if (!w || !w->defined() || w->is_mkldnn() || !x) return {};
  std::vector<c10::IValue> args;
  const char* op;
  if (conv) {
    size_t dims = static_cast<size_t>(std::max<int64_t>(w->dim() - 2, 0));
    auto padding = passes::int_list((*a)["padding"], dims);
    auto stride = passes::int_list((*a)["stride"], dims);
    auto dilation = passes::int_list((*a)["dilation"], dims);
    const Argument& groups = (*a)["groups"];
    if (!padding || !stride || !dilation || groups.kind() != Argument::Kind::kInt) return {};
    op = "mkldnn::_reorder_convolution_weight";
    args = {w->contiguous(), *padding, *stride, *dilation, groups.to_int(), x->shape};
  } else {
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < x->shape.size(); ++i) rows *= x->shape[i];
    op = "mkldnn::_reorder_linear_weight";
    args = {w->contiguous(), rows};
  }
  return call_packing(op, std::move(args), why);
}

}  // namespace

bool pack_onednn_weights(GraphModule& gm, PassLog* log) {
  int packed = 0, mkl = 0;
  for (Node* n : gm.graph().nodes()) {
    Node* old = nullptr;
    std::string why;
    at::Tensor p = packed_weight(gm, *n, &old, &why);
    if (!p.defined()) {
      if (!why.empty()) note(log, "kept " + n->name() + "'s weight dense: " + why);
      continue;
    }
    Node* fresh;
    {
      auto at = gm.graph().inserting_before(n);
      fresh = passes::add_constant(gm, "_packed_" + n->name(), p);
    }
    Args args = n->args();
    if (n->target() == "mkl::_mkl_linear") {
      args[1] = fresh;  // ORI_W, the same node until now, stays dense
      n->set_args(std::move(args));
      ++mkl;
    } else {
      Kwargs kwargs = n->kwargs();
      auto swap = [&](Node* x) -> Argument { return x == old ? Argument(fresh) : Argument(x); };
      n->set_args(map_arg(args, swap));
      n->set_kwargs(map_arg(kwargs, swap));
    }
    ++packed;
  }
  if (packed) {
    if (packed > mkl) note(log, "packed " + std::to_string(packed - mkl) + " weights for oneDNN");
    if (mkl) note(log, "packed " + std::to_string(mkl) + " weights for MKL");
    gm.graph().eliminate_dead_code();
  }
  return packed != 0;
}

}  // namespace fx
