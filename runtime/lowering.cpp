// Lowering of single nodes, and the call_method overload caches.
#include "runtime/lowering.h"

#include <ATen/core/class_type.h>
#include <ATen/core/function.h>

#include "ir/error.h"
#include "ir/node.h"
#include "runtime/operator.h"

namespace fx {

namespace {

constexpr const char* kClassPrefix = "__torch__.torch.classes.";

bool contains_node(const Argument& a) {
  bool found = false;
  for_each_node(a, [&](Node*) { found = true; });
  return found;
}

Operand operand_of(const Argument& a, const c10::Argument* formal, const Node& n) {
  Operand o;
  o.formal = formal;
  o.arg = &a;
  if (a.is_node()) {
    o.kind = Operand::Kind::kNode;
    o.node = a.to_node();
  } else if (a.is_sequence() && contains_node(a)) {
    o.kind = Operand::Kind::kComposite;
    o.is_tuple = a.kind() == Argument::Kind::kTuple;
    for (const Argument& item : a.items()) o.items.push_back(operand_of(item, nullptr, n));
  } else {
    o.constant = to_ivalue(a);
    if (formal && !coerce_to(*formal, o.constant))
      throw_node_error(n, "argument '" + formal->name() + "' expects " + type_name(*formal) +
                              ", got " + repr_arg(a));
  }
  return o;
}

// n's args and kwargs bound to schema, in schema order; false (and *why) when
// they do not bind.
bool bind_operands(const Node& n, const c10::FunctionSchema& schema, std::vector<Operand>* out,
                   std::string* why) {
  std::vector<std::string> names;
  for (const auto& kv : n.kwargs()) names.push_back(kv.first);
  Binding binding;
  if (!bind_arguments(schema, n.args().size(), names, &binding, why)) return false;
  out->clear();
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const c10::Argument* formal = &schema.arguments()[i];
    int src = binding.sources[i];
    if (src == Binding::kDefault) {
      Operand o;
      o.constant = *formal->default_value();
      o.formal = formal;
      out->push_back(std::move(o));
    } else if (src >= Binding::kFromKwarg) {
      out->push_back(operand_of(n.kwargs()[src - Binding::kFromKwarg].second, formal, n));
    } else {
      out->push_back(operand_of(n.args()[src], formal, n));
    }
  }
  return true;
}

// The kinds of a value that overload resolution looks at, as a short string:
// values with equal kinds resolve to the same overload.
void append_kinds(const c10::IValue& v, std::string& out) {
  if (v.isTensor()) {
    out += 'T';
  } else if (v.isInt()) {
    out += 'i';
  } else if (v.isDouble()) {
    out += 'd';
  } else if (v.isBool()) {
    out += 'b';
  } else if (v.isNone()) {
    out += 'n';
  } else if (v.isString()) {
    out += 's';
  } else if (v.isDevice()) {
    out += 'D';
  } else if (v.isIntList()) {
    out += "Li";
  } else if (v.isDoubleList()) {
    out += "Ld";
  } else if (v.isBoolList()) {
    out += "Lb";
  } else if (v.isTensorList()) {
    out += "LT";
  } else if (v.isTuple() || v.isList()) {
    out += v.isTuple() ? '(' : '[';
    for (const c10::IValue& item :
         v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec())
      append_kinds(item, out);
    out += v.isTuple() ? ')' : ']';
  } else {
    out += v.type()->annotation_str();
    out += ';';
  }
}

std::string kinds_of(const std::vector<c10::IValue>& args, const IValueKwargs& kwargs) {
  std::string out;
  for (const c10::IValue& a : args) append_kinds(a, out);
  for (const auto& kv : kwargs) {
    out += '|' + kv.first + '=';
    append_kinds(kv.second, out);
  }
  return out;
}

const Argument& no_argument() {
  static const Argument none;
  return none;
}

}  // namespace

ValueKind assumed_kind(const Node& n) {
  if (n.type() == "int") return ValueKind::kInt;
  if (n.type() == "float") return ValueKind::kFloat;
  if (n.type() == "bool") return ValueKind::kBool;
  return ValueKind::kTensor;
}

MethodCall::MethodCall(const Node& n) : name_(n.target()), op_name_("aten::" + n.target()) {
  if (n.args().empty()) throw_node_error(n, "a call_method node needs its receiver as args[0]");
  const Argument& self = n.args()[0];
  object_receiver_ = self.is_node() && self.to_node()->op() == Op::CallFunction &&
                     self.to_node()->target().rfind(kClassPrefix, 0) == 0;
  if (find_overloads(op_name_).empty()) {
    if (object_receiver_) return;
    throw_node_error(n, "there is no Tensor method '" + name_ + "' (no operator " + op_name_ + ")");
  }
  // The overload for node values of their assumed kinds, picked as a call
  // would pick it.
  auto placeholder_value = [](Node* m) {
    switch (assumed_kind(*m)) {
      case ValueKind::kInt: return c10::IValue(int64_t{0});
      case ValueKind::kFloat: return c10::IValue(0.0);
      case ValueKind::kBool: return c10::IValue(false);
      case ValueKind::kTensor: break;
    }
    return c10::IValue(at::Tensor());
  };
  std::vector<c10::IValue> args;
  for (const Argument& a : n.args()) args.push_back(to_ivalue(a, placeholder_value));
  IValueKwargs kwargs;
  for (const auto& kv : n.kwargs())
    kwargs.emplace_back(kv.first, to_ivalue(kv.second, placeholder_value));
  auto note = [&](Node* m) { assumed_.emplace_back(m, assumed_kind(*m)); };
  for (const Argument& a : n.args()) for_each_node(a, note);
  for (const auto& kv : n.kwargs()) for_each_node(kv.second, note);
  if (object_receiver_) return;  // the receiver is an object, never a Tensor
  std::optional<c10::OperatorHandle> op;
  try {
    op = resolve_overload(op_name_, args, kwargs);
  } catch (const std::exception&) {
    return;  // none takes these kinds: values of other kinds are resolved when seen
  }
  std::string why;
  std::vector<Operand> inputs;
  try {
    if (!bind_operands(n, op->schema(), &inputs, &why)) return;
  } catch (const std::exception&) {
    return;
  }
  static_overload_ = op;
  static_inputs_ = std::move(inputs);
  by_kinds_.emplace_back(kinds_of(args, kwargs), *op);
}

c10::OperatorHandle MethodCall::overload_for(const std::vector<c10::IValue>& args,
                                             const IValueKwargs& kwargs) const {
  std::string kinds = kinds_of(args, kwargs);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [k, op] : by_kinds_)
      if (k == kinds) return op;
  }
  c10::OperatorHandle op = resolve_overload(op_name_, args, kwargs);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [k, known] : by_kinds_)
    if (k == kinds) return known;
  by_kinds_.emplace_back(std::move(kinds), op);
  return op;
}

c10::IValue MethodCall::call_object_method(std::vector<c10::IValue> args,
                                           const IValueKwargs& kwargs) const {
  if (!kwargs.empty()) throw RuntimeError("methods of custom classes take no keyword arguments");
  c10::ClassTypePtr type = args[0].toObjectRef().type();
  torch::jit::Function* fn = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [t, f] : by_class_)
      if (t == type) fn = f;
    if (!fn) {
      fn = type->findMethod(name_);
      if (!fn)
        throw RuntimeError("class " + type->name()->qualifiedName() + " has no method '" + name_ +
                           "'");
      by_class_.emplace_back(type, fn);
    }
  }
  fn->run(args);  // args is the stack: the receiver, then the arguments
  return pack_returns(args);
}

c10::IValue MethodCall::call(std::vector<c10::IValue> args, const IValueKwargs& kwargs) const {
  if (!args.empty() && args[0].isObject()) return call_object_method(std::move(args), kwargs);
  c10::OperatorHandle op = overload_for(args, kwargs);
  return call_operator(op, std::move(args), kwargs);
}

LoweredNode lower_node(const Node& n, bool operands) {
  LoweredNode l;
  l.node = &n;
  auto positional = [&] {
    if (!operands) return;
    for (const Argument& a : n.args()) l.inputs.push_back(operand_of(a, nullptr, n));
    for (const auto& kv : n.kwargs())
      l.kwargs.emplace_back(kv.first, operand_of(kv.second, nullptr, n));
  };
  switch (n.op()) {
    case Op::Placeholder:
      l.kind = LoweredNode::Kind::kPlaceholder;
      l.varargs = !n.target().empty() && n.target()[0] == '*';
      if (!n.args().empty()) {
        if (contains_node(n.args()[0]))
          throw_node_error(n, "a default value cannot refer to a node");
        l.default_value = to_ivalue(n.args()[0]);
      }
      break;
    case Op::GetAttr: l.kind = LoweredNode::Kind::kGetAttr; break;
    case Op::CallFunction:
      if (n.target().find("::") != std::string::npos) {
        l.kind = LoweredNode::Kind::kOperator;
        try {
          l.op = find_operator(n.target());
        } catch (const Error& e) {
          throw_node_error(n, e.what());
        }
        std::string why;
        if (operands && !bind_operands(n, l.op->schema(), &l.inputs, &why))
          throw_node_error(
              n, n.target() + " " + why + "; its schema is " + c10::toString(l.op->schema()));
        break;
      }
      l.function = find_function(n.target());
      if (!l.function)
        throw_node_error(n, "calls '" + n.target() +
                                "', which is neither an operator (`ns::name.overload`) nor a "
                                "registered function; register it with fx::register_function");
      l.kind = LoweredNode::Kind::kFunction;
      if (n.target() == "getitem" && n.args().size() == 2 && n.kwargs().empty() &&
          n.args()[0].is_node() && n.args()[1].kind() == Argument::Kind::kInt) {
        l.kind = LoweredNode::Kind::kGetItem;
        l.index = n.args()[1].to_int();
      }
      positional();
      break;
    case Op::CallMethod:
      l.kind = LoweredNode::Kind::kMethod;
      l.method = std::make_shared<const MethodCall>(n);
      positional();
      break;
    case Op::CallModule:
      l.kind = LoweredNode::Kind::kModule;
      positional();
      break;
    case Op::Output:
      l.kind = LoweredNode::Kind::kOutput;
      if (operands)
        l.inputs.push_back(operand_of(n.args().empty() ? no_argument() : n.args()[0], nullptr, n));
      break;
  }
  return l;
}

}  // namespace fx
