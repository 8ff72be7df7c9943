// See passes/conv_call.h.
#include "passes/conv_call.h"

#include "ir/graph.h"
#include "passes/schema_args.h"

namespace fx::passes {

std::optional<std::vector<int64_t>> int_list(const Argument& arg, size_t dims) {
  std::vector<int64_t> out;
  if (arg.kind() == Argument::Kind::kInt) {
    out.assign(dims, arg.to_int());
    return out;
  }
  if (!arg.is_sequence()) return std::nullopt;
  for (const Argument& a : arg.items()) {
    if (a.kind() != Argument::Kind::kInt) return std::nullopt;
    out.push_back(a.to_int());
  }
  if (out.size() == 1 && dims > 1) out.assign(dims, out[0]);
  if (out.size() != dims) return std::nullopt;
  return out;
}

std::optional<ConvCall> read_conv(const GraphModule& gm, const Node& n) {
  if (n.op() != Op::CallFunction) return std::nullopt;
  std::string base = op_base_name(n.target());
  bool canonical = base == "aten::convolution" || base == "aten::_convolution";
  bool short_form = base == "aten::conv1d" || base == "aten::conv2d" || base == "aten::conv3d";
  if (!canonical && !short_form) return std::nullopt;
  std::optional<SchemaArgs> a = SchemaArgs::of(n);
  if (!a) return std::nullopt;
  ConvCall c;
  if (!(*a)["input"].is_node()) return std::nullopt;
  c.input = (*a)["input"].to_node();
  const at::Tensor* w = constant_tensor(gm, (*a)["weight"]);
  if (!w || !w->defined() || w->dim() < 3) return std::nullopt;
  c.weight = *w;
  const Argument& b = (*a)["bias"];
  if (!b.is_none()) {
    const at::Tensor* bt = constant_tensor(gm, b);
    if (!bt) return std::nullopt;
    if (bt->defined()) c.bias = *bt;
  }
  size_t dims = static_cast<size_t>(w->dim() - 2);
  auto stride = int_list((*a)["stride"], dims);
  auto padding = int_list((*a)["padding"], dims);
  auto dilation = int_list((*a)["dilation"], dims);
  const Argument& groups = (*a)["groups"];
  if (!stride || !padding || !dilation || groups.kind() != Argument::Kind::kInt)
    return std::nullopt;
  c.stride = *stride;
  c.padding = *padding;
  c.dilation = *dilation;
  c.groups = groups.to_int();
  c.output_padding.assign(dims, 0);
  if (canonical) {
    const Argument& t = (*a)["transposed"];
    auto op = int_list((*a)["output_padding"], dims);
    if (t.kind() != Argument::Kind::kBool || !op) return std::nullopt;
    c.transposed = t.to_bool();
    c.output_padding = *op;
  }
  return c;
}

namespace {
Argument ints(const std::vector<int64_t>& v) {
  std::vector<Argument> items(v.begin(), v.end());
  return Argument::list(std::move(items));
}
}  // namespace

Node* emit_convolution(GraphModule& gm, const ConvCall& c, const std::string& base) {
  Node* w = add_constant(gm, base + "_weight", c.weight);
  Argument b;
  if (c.bias) b = add_constant(gm, base + "_bias", *c.bias);
  return gm.graph().call_function(
      "aten::convolution", {c.input, w, b, ints(c.stride), ints(c.padding), ints(c.dilation),
                            c.transposed, ints(c.output_padding), c.groups});
}

}  // namespace fx::passes
