// See passes/onednn_epilogues.h.
#include "passes/onednn_epilogues.h"

#include <ATen/Context.h>

#include "ir/graph.h"
#include "ir/legalize.h"
#include "passes/conv_call.h"
#include "passes/schema_args.h"

namespace fx {

namespace {

using passes::SchemaArgs;

// An activation oneDNN applies as a post-op.
struct Unary {
  std::string attr = "none";
  std::vector<Argument> scalars;
  Argument algorithm;  // None, or gelu's "none" / "tanh"
};

bool is_number(const Argument& a) {
  return a.kind() == Argument::Kind::kDouble || a.kind() == Argument::Kind::kInt;
}

// Whether a is the node p itself.
bool is(const Argument& a, const Node* p) { return a.is_node() && a.to_node() == p; }

// u applies an activation to p (and nothing else); which one.
std::optional<Unary> read_unary(const Node& u, const Node& p) {
  if (u.op() != Op::CallFunction) return std::nullopt;
  std::string base = passes::op_base_name(u.target());
  static const std::vector<std::pair<std::string, std::string>> kPlain = {
      {"aten::relu", "relu"},         {"aten::sigmoid", "sigmoid"},
      {"aten::tanh", "tanh"},         {"aten::hardswish", "hardswish"},
      {"aten::silu", "swish"},        {"aten::hardsigmoid", "hardsigmoid"}};
  std::optional<SchemaArgs> a = SchemaArgs::of(u);
  if (!a || a->schema().arguments().empty() ||
      !is((*a)[a->schema().arguments()[0].name()], &p))
    return std::nullopt;
  Unary out;
  for (const auto& [target, attr] : kPlain)
    if (base == target && a->schema().arguments().size() == 1) {
      out.attr = attr;
      return out;
    }
  if (base == "aten::gelu") {
    const Argument& approx = (*a)["approximate"];
    if (approx.kind() != Argument::Kind::kString) return std::nullopt;
    out.attr = "gelu";
    out.algorithm = approx.to_string();
    return out;
  }
  if (base == "aten::relu6") {
    out.attr = "hardtanh";
    out.scalars = {0.0, 6.0};
    return out;
  }
  if (base == "aten::hardtanh" || u.target() == "aten::clamp" || u.target() == "aten::clamp.default") {
    const Argument& lo = base == "aten::hardtanh" ? (*a)["min_val"] : (*a)["min"];
    const Argument& hi = base == "aten::hardtanh" ? (*a)["max_val"] : (*a)["max"];
    if (!is_number(lo) || !is_number(hi)) return std::nullopt;
    out.attr = "hardtanh";
    out.scalars = {lo.to_double(), hi.to_double()};
    return out;
  }
  if (base == "aten::leaky_relu") {
    const Argument& slope = (*a)["negative_slope"];
    if (!is_number(slope)) return std::nullopt;
    out.attr = "leaky_relu";
    out.scalars = {slope.to_double()};
    return out;
  }
  return std::nullopt;
}

// u is `p + other` (alpha 1) with other a different tensor of p's shape and
// dtype; returns other.
Node* read_residual_add(const Node& u, const Node& p) {
  if (u.op() != Op::CallFunction || u.target() != "aten::add.Tensor") return nullptr;
  std::optional<SchemaArgs> a = SchemaArgs::of(u);
  if (!a) return nullptr;
  const Argument& alpha = (*a)["alpha"];
  if (!is_number(alpha) || alpha.to_double() != 1.0) return nullptr;
  const Argument& self = (*a)["self"];
  const Argument& other = (*a)["other"];
  const Argument* rest = is(self, &p) ? &other : is(other, &p) ? &self : nullptr;
  if (!rest || !rest->is_node() || rest->to_node() == &p) return nullptr;
  const TensorMeta* pm = p.tensor_meta();
  const TensorMeta* om = rest->to_node()->tensor_meta();
  const TensorMeta* um = u.tensor_meta();
  if (!pm || !om || !um || om->shape != pm->shape || om->dtype != pm->dtype ||
      um->shape != pm->shape || um->dtype != pm->dtype)
    return nullptr;
  return rest->to_node();
}

// The one user of n that reads its values, or nullptr. Shape readers
// (aten::dim, aten::size: a scripted torch.nn module's rank checks) do not
// count: the fused primitive's result has the same shape, and they are
// redirected to it (replace_chain).
Node* only_user(const Node& n) {
  Node* user = nullptr;
  for (Node* u : n.users()) {
    if (passes::reads_shape_only(*u)) continue;
    if (user) return nullptr;
    user = u;
  }
  return user;
}

bool cpu_float(const Node* n) {
  const TensorMeta* m = n ? n->tensor_meta() : nullptr;
  return m && m->dtype == c10::ScalarType::Float && m->device.is_cpu();
}

Argument ints(const std::vector<int64_t>& v) {
  return Argument::list(std::vector<Argument>(v.begin(), v.end()));
}

// What follows a conv or linear node p: the nodes to fold (in graph order)
// and the post-ops they amount to.
struct Epilogue {
  std::vector<Node*> folded;
  Node* residual = nullptr;
  Unary unary;
};

Epilogue read_epilogue(const Node& p, bool unary_after_add) {
  Epilogue e;
  Node* u = only_user(p);
  if (!u) return e;
  if (std::optional<Unary> un = read_unary(*u, p)) {
    e.folded = {u};
    e.unary = *un;
    return e;
  }
  if (Node* other = read_residual_add(*u, p)) {
    e.folded = {u};
    e.residual = other;
    Node* v = unary_after_add ? only_user(*u) : nullptr;
    if (v)
      if (std::optional<Unary> un = read_unary(*v, *u)) {
        e.folded.push_back(v);
        e.unary = *un;
      }
  }
  return e;
}

// Replaces p and the nodes of e by `replacement` (built by make at the
// position of the last of them). Shape readers of p and of the folded nodes
// read the replacement instead (same shape), which may put them before it:
// *reordered is set then, and the caller legalizes the graph.
template <typename Make>
void replace_chain(Graph& g, Node* p, const Epilogue& e, bool* reordered, Make make) {
  Node* last = e.folded.empty() ? p : e.folded.back();
  Node* r;
  {
    auto at = g.inserting_before(last);
    r = make();
  }
  r->meta() = last->meta();
  std::vector<Node*> replaced = {p};
  replaced.insert(replaced.end(), e.folded.begin(), e.folded.end());
  for (Node* n : replaced) {
    if (n == last) continue;
    std::vector<Node*> readers(n->users().begin(), n->users().end());
    for (Node* u : readers) {
      if (!passes::reads_shape_only(*u)) continue;  // the next folded node
      u->replace_input_with(n, r);
      *reordered = true;
    }
  }
  last->replace_all_uses_with(r);
  for (auto it = e.folded.rbegin(); it != e.folded.rend(); ++it) g.erase_node(*it);
  g.erase_node(p);
}

bool rewrite_conv(GraphModule& gm, Node* n, bool* reordered) {
  std::optional<passes::ConvCall> c = passes::read_conv(gm, *n);
  if (!c || c->transposed || c->weight.dim() != 4 || !cpu_float(n) || !cpu_float(c->input) ||
      c->weight.scalar_type() != at::kFloat || c->input->tensor_meta()->shape.size() != 4)
    return false;
  Graph& g = gm.graph();
  Epilogue e = read_epilogue(*n, /*unary_after_add=*/true);
  replace_chain(g, n, e, reordered, [&] {
    Node* x = g.call_function("aten::contiguous", {c->input},
                              {{"memory_format", c10::MemoryFormat::ChannelsLast}});
    x->meta() = c->input->meta();
    // Channels last: the dense layout oneDNN reads fastest (pack_onednn_weights
    // then packs it).
    Node* w = passes::add_constant(gm, "_onednn_" + n->name() + "_weight",
                                   c->weight.contiguous(at::MemoryFormat::ChannelsLast));
    Argument b;
    if (c->bias) b = passes::add_constant(gm, "_onednn_" + n->name() + "_bias", *c->bias);
    Argument unary_scalars = Argument::list(e.unary.scalars);
    if (!e.residual)
      return g.call_function("mkldnn::_convolution_pointwise",
                             {x, w, b, ints(c->padding), ints(c->stride), ints(c->dilation),
                              c->groups, e.unary.attr, unary_scalars, e.unary.algorithm});
    return g.call_function(
        "mkldnn::_convolution_pointwise.binary",
        {x, e.residual, w, b, ints(c->padding), ints(c->stride), ints(c->dilation), c->groups,
         "add", Argument(), e.unary.attr == "none" ? Argument() : Argument(e.unary.attr),
         unary_scalars, e.unary.algorithm});
  });
  return true;
}

// *mkl_made says whether the linear became mkl::_mkl_linear.
bool rewrite_linear(GraphModule& gm, Node* n, bool* reordered, bool allow_mkl, bool* mkl_made) {
  if (n->op() != Op::CallFunction || passes::op_base_name(n->target()) != "aten::linear")
    return false;
  std::optional<SchemaArgs> a = SchemaArgs::of(*n);
  if (!a || !(*a)["input"].is_node()) return false;
  Node* x = (*a)["input"].to_node();
  const at::Tensor* w = passes::constant_tensor(gm, (*a)["weight"]);
  const Argument& bias = (*a)["bias"];
  const at::Tensor* b = bias.is_none() ? nullptr : passes::constant_tensor(gm, bias);
  if (!w || w->dim() != 2 || w->scalar_type() != at::kFloat || (!bias.is_none() && !b) ||
      !cpu_float(n) || !cpu_float(x) || x->tensor_meta()->shape.size() < 2)
    return false;
  Graph& g = gm.graph();
  Epilogue e = read_epilogue(*n, /*unary_after_add=*/false);
  // Without an activation to fold, MKL's packed GEMM is the faster kernel (a
  // residual add stays a node of its own, which fuse joins to what follows).
  const bool mkl = allow_mkl && at::hasMKL() && e.unary.attr == "none";
  if (mkl) e = Epilogue{};
  *mkl_made = mkl;
  const std::vector<int64_t>& shape = x->tensor_meta()->shape;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  replace_chain(g, n, e, reordered, [&] {
    Node* wn = passes::add_constant(gm, "_onednn_" + n->name() + "_weight", w->contiguous());
    Argument bn;
    if (b && b->defined()) bn = passes::add_constant(gm, "_onednn_" + n->name() + "_bias", *b);
    // The weight twice: the second stays dense (MKL's fallback for other row
    // counts); pack_onednn_weights packs the first.
    if (mkl) return g.call_function("mkl::_mkl_linear", {x, wn, wn, bn, rows});
    if (e.residual)
      return g.call_function("mkldnn::_linear_pointwise.binary", {x, e.residual, wn, bn, "add"});
    return g.call_function("mkldnn::_linear_pointwise",
                           {x, wn, bn, e.unary.attr, Argument::list(e.unary.scalars),
                            e.unary.algorithm});
  });
  return true;
}

// Wraps each graph output that was a contiguous 4-D tensor in aten::contiguous.
void keep_output_layout(Graph& g) {
  Node* out = nullptr;
  for (Node* n : g.nodes())
    if (n->op() == Op::Output) out = n;
  if (!out) return;
  auto at = g.inserting_before(out);
  out->set_args(map_arg(out->args(), [&](Node* x) -> Argument {
    const TensorMeta* m = x->tensor_meta();
    if (!m || m->shape.size() != 4 || m->memory_format != c10::MemoryFormat::Contiguous)
      return x;
    Node* c = g.call_function("aten::contiguous", {x});
    c->meta() = x->meta();
    return c;
  }));
}

}  // namespace

bool onednn_epilogues(GraphModule& gm, PassLog* log, const OnednnEpilogueOptions& options) {
  if (!at::hasMKLDNN()) {
    note(log, "kept everything: this LibTorch has no oneDNN");
    return false;
  }
  bool any_meta = false;
  for (const Node* n : gm.graph().nodes()) any_meta = any_meta || n->tensor_meta();
  if (!any_meta) {
    note(log, "kept everything: no node has tensor_meta (run shape_prop first)");
    return false;
  }
  int convs = 0, linears = 0, mkl = 0;
  bool reordered = false;
  for (Node* n : gm.graph().nodes()) {
    if (rewrite_conv(gm, n, &reordered))
      ++convs;
    else if (bool by_mkl = false; rewrite_linear(gm, n, &reordered, options.mkl_linear, &by_mkl)) {
      ++linears;
      mkl += by_mkl;
    }
  }
  if (reordered) legalize(gm.graph());
  if (convs) note(log, "rewrote " + std::to_string(convs) + " convolutions as oneDNN primitives");
  if (linears)
    note(log, "rewrote " + std::to_string(linears) + " linear layers: " +
                  std::to_string(linears - mkl) + " as oneDNN primitives (with their epilogue), " +
                  std::to_string(mkl) + " as MKL packed GEMMs (nothing to fold)");
  if (convs) keep_output_layout(gm.graph());
  if (convs || linears) gm.graph().eliminate_dead_code();
  return convs || linears;
}

}  // namespace fx
