// See passes/schema_args.h.
#include "passes/schema_args.h"

#include <ATen/core/Tensor.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/operator.h"

namespace fx::passes {

std::optional<SchemaArgs> SchemaArgs::of(const Node& n) {
  if (n.op() != Op::CallFunction || n.target().find("::") == std::string::npos)
    return std::nullopt;
  const c10::FunctionSchema* found = nullptr;
  try {
    found = &find_operator(n.target()).schema();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const c10::FunctionSchema& schema = *found;
  std::vector<std::string> kwarg_names;
  for (const auto& kv : n.kwargs()) kwarg_names.push_back(kv.first);
  Binding binding;
  std::string why;
  if (!bind_arguments(schema, n.args().size(), kwarg_names, &binding, &why)) return std::nullopt;
  SchemaArgs out;
  out.schema_ = &schema;
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const c10::Argument& formal = schema.arguments()[i];
    int src = binding.sources[i];
    out.names_.push_back(formal.name());
    if (src == Binding::kDefault) {
      std::optional<Argument> d;
      if (formal.default_value()) d = argument_from_ivalue(*formal.default_value());
      if (!d) return std::nullopt;
      out.values_.push_back(*d);
    } else if (src >= Binding::kFromKwarg) {
      out.values_.push_back(n.kwargs()[src - Binding::kFromKwarg].second);
    } else {
      out.values_.push_back(n.args()[src]);
    }
  }
  return out;
}

bool SchemaArgs::has(const std::string& name) const {
  for (const std::string& s : names_)
    if (s == name) return true;
  return false;
}

const Argument& SchemaArgs::operator[](const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return values_[i];
  throw_internal(__FILE__, __LINE__, name.c_str(), "schema has no such argument");
}

std::optional<Argument> argument_from_ivalue(const c10::IValue& v) {
  if (v.isNone()) return Argument();
  if (v.isBool()) return Argument(v.toBool());
  if (v.isInt()) return Argument(v.toInt());
  if (v.isDouble()) return Argument(v.toDouble());
  if (v.isString()) return Argument(v.toStringRef());
  if (v.isList()) {
    std::vector<Argument> items;
    for (const c10::IValue& e : v.toListRef()) {
      std::optional<Argument> a = argument_from_ivalue(e);
      if (!a) return std::nullopt;
      items.push_back(*a);
    }
    return Argument::list(std::move(items));
  }
  return std::nullopt;
}

const at::Tensor* constant_tensor(const GraphModule& gm, const Argument& arg) {
  if (arg.kind() == Argument::Kind::kTensor) return &arg.to_tensor();
  if (!arg.is_node() || arg.to_node()->op() != Op::GetAttr) return nullptr;
  const c10::IValue* v = gm.get_attr(arg.to_node()->target());
  return v && v->isTensor() ? &v->toTensor() : nullptr;
}

std::string fresh_attr_name(const GraphModule& gm, const std::string& base) {
  if (!gm.get_attr(base) && !gm.get_submodule(base)) return base;
  for (int i = 1;; ++i) {
    std::string name = base + "_" + std::to_string(i);
    if (!gm.get_attr(name) && !gm.get_submodule(name)) return name;
  }
}

Node* add_constant(GraphModule& gm, const std::string& base, const at::Tensor& value) {
  std::string name = fresh_attr_name(gm, base);
  gm.set_attr(name, value);
  return gm.graph().get_attr(name);
}

bool no_use_after(const Node& n, const Node& after) {
  // Users are few; walk forward from `after` looking for any of them.
  for (const Node* u : n.users()) {
    if (u == &after) continue;
    for (const Node* p = after.next(); p; p = p->next())
      if (p == u) return false;
  }
  return true;
}

bool reads_shape_only(const Node& n) {
  if (n.op() != Op::CallFunction) return false;
  std::string target = n.target();
  if (target.rfind("jit.", 0) == 0) {  // jit.aten.dim -> aten::dim
    target = target.substr(4);
    size_t dot = target.find('.');
    if (dot == std::string::npos) return false;
    target.replace(dot, 1, "::");
  }
  std::string base = op_base_name(target);
  return base == "aten::size" || base == "aten::sym_size" || base == "aten::dim" ||
         base == "aten::numel" || base == "aten::sym_numel";
}

std::string op_base_name(const std::string& target) {
  size_t ns = target.find("::");
  size_t dot = target.find('.', ns == std::string::npos ? 0 : ns + 2);
  return dot == std::string::npos ? target : target.substr(0, dot);
}

}  // namespace fx::passes
