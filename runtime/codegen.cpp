// C++ source generation for GraphModule::code().
//
// Outline:
//   1. a prelude: includes, the `Self` struct holding attributes and
//      submodules, and two helpers for calls that cannot be written typed;
//   2. the signature from gen_fn_def (placeholders become parameters);
//   3. one statement per node. Operators are called as
//      `at::_ops::<name>_<overload>::call(...)` with every schema argument
//      spelled out (defaults included); when an argument cannot be written
//      as a typed C++ expression the node falls back to a boxed call through
//      the dispatcher, which works for every operator;
//   4. after a node's statement, the values it used for the last time are
//      released on the same line (torch.fx's `;  x = param = None`).
#include "runtime/codegen.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <ATen/core/dispatch/Dispatcher.h>

#include "ir/dtype_names.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/last_use.h"
#include "runtime/lowering.h"
#include "runtime/operator.h"

namespace fx {

namespace {

const char* kPrelude = R"(#include <ATen/ATen.h>
#include <ATen/Operators.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/class_type.h>
#include <ATen/core/function.h>

#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

// What forward reads its attributes and submodules from.
struct Self {
  using Kwargs = std::vector<std::pair<std::string, c10::IValue>>;
  using Callable = std::function<c10::IValue(std::vector<c10::IValue>, const Kwargs&)>;
  std::map<std::string, c10::IValue> attrs;
  std::map<std::string, Callable> modules;
  std::map<std::string, Callable> functions;
  // Tensor constants that appear directly in node arguments, in order of use.
  std::vector<c10::IValue> constants;
};

// A call through the dispatcher, for arguments with no typed spelling.
c10::IValue call_boxed(const char* name, const char* overload, std::vector<c10::IValue> stack) {
  c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).callBoxed(stack);
  if (stack.size() == 1) return stack[0];
  return c10::ivalue::Tuple::create(std::move(stack));
}

// A method of a TorchScript custom-class object.
c10::IValue call_method(const c10::IValue& self, const char* name, std::vector<c10::IValue> args) {
  std::vector<c10::IValue> stack{self};
  for (auto& a : args) stack.push_back(std::move(a));
  self.toObjectRef().type()->getMethod(name).run(stack);
  if (stack.size() == 1) return stack[0];
  return c10::ivalue::Tuple::create(std::move(stack));
}

c10::IValue make_list(std::vector<c10::IValue> items) {
  c10::impl::GenericList list(c10::AnyType::get());
  for (auto& item : items) list.push_back(std::move(item));
  return list;
}

}  // namespace

)";

// How a value is held in the generated source.
enum class VarKind { kTensor, kIValue, kOther };

// A construct with no typed C++ spelling; callers fall back to a boxed call.
struct Unsupported : std::runtime_error {
  explicit Unsupported(const std::string& why) : std::runtime_error(why) {}
};

std::string cxx_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string cxx_double(double v) {
  if (std::isnan(v)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(v))
    return v > 0 ? "std::numeric_limits<double>::infinity()"
                 : "-std::numeric_limits<double>::infinity()";
  return format_double(v);
}

std::string enum_name(const std::string& python_name) {
  // float16 -> Half etc. via c10's own names.
  auto d = dtype_from_name(python_name);
  return d ? std::string("at::ScalarType::") + c10::toString(*d) : python_name;
}

// A constant IValue as a C++ expression of type c10::IValue.
std::string ivalue_literal(const c10::IValue& v) {
  if (v.isNone()) return "c10::IValue()";
  if (v.isBool()) return v.toBool() ? "c10::IValue(true)" : "c10::IValue(false)";
  if (v.isInt()) return "c10::IValue(int64_t(" + std::to_string(v.toInt()) + "))";
  if (v.isDouble()) return "c10::IValue(" + cxx_double(v.toDouble()) + ")";
  if (v.isString()) return "c10::IValue(std::string(" + cxx_string(v.toStringRef()) + "))";
  if (v.isDevice()) return "c10::IValue(c10::Device(" + cxx_string(v.toDevice().str()) + "))";
  if (v.isIntList()) {
    std::string out = "c10::IValue(std::vector<int64_t>{";
    auto l = v.toIntVector();
    for (size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + std::to_string(l[i]);
    return out + "})";
  }
  if (v.isDoubleList()) {
    std::string out = "c10::IValue(std::vector<double>{";
    auto l = v.toDoubleVector();
    for (size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + cxx_double(l[i]);
    return out + "})";
  }
  if (v.isList() || v.isTuple()) {
    auto items = v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec();
    std::string out = v.isTuple() ? "c10::IValue(c10::ivalue::Tuple::create({" : "make_list({";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + ivalue_literal(items[i]);
    return out + (v.isTuple() ? "}))" : "})");
  }
  throw Unsupported{"a constant of type " + std::string(v.tagKind())};
}

// Schema defaults as Arguments, for the typed spelling.
Argument argument_from_ivalue(const c10::IValue& d) {
  if (d.isNone()) return Argument();
  if (d.isInt()) return d.toInt();
  if (d.isDouble()) return d.toDouble();
  if (d.isBool()) return d.toBool();
  if (d.isString()) return d.toStringRef();
  if (d.isIntList()) {
    std::vector<Argument> items;
    for (int64_t x : d.toIntVector()) items.push_back(x);
    return Argument::list(std::move(items));
  }
  throw Unsupported{"a default of type " + std::string(d.tagKind())};
}

class Emitter {
 public:
  explicit Emitter(const CodeGen& cg) : cg_(cg) {}

  std::string run(const Graph& graph, const std::string& class_name);

 private:
  std::string var(const Node* n) const { return names_.at(n); }

  // A node's value as a c10::IValue expression.
  std::string as_ivalue(const Node* n) const {
    return kinds_.at(n) == VarKind::kIValue ? var(n) : "c10::IValue(" + var(n) + ")";
  }

  std::string ivalue_of(const Argument& a) const {
    if (a.is_node()) return as_ivalue(a.to_node());
    if (a.is_sequence()) {
      std::string out = a.kind() == Argument::Kind::kTuple
                            ? "c10::IValue(c10::ivalue::Tuple::create({"
                            : "make_list({";
      for (size_t i = 0; i < a.items().size(); ++i)
        out += (i ? ", " : "") + ivalue_of(a.items()[i]);
      return out + (a.kind() == Argument::Kind::kTuple ? "}))" : "})");
    }
    if (a.kind() == Argument::Kind::kTensor) return "self.constants.at(" + constant_index(a) + ")";
    return ivalue_literal(to_ivalue(a));
  }

  // A node's value converted to what a formal of this type expects.
  std::string node_as(const Node* n, const c10::TypePtr& type) const {
    using K = c10::TypeKind;
    VarKind k = kinds_.at(n);
    K kind = type->kind();
    if (kind == K::OptionalType) kind = type->containedType(0)->kind();
    if (k == VarKind::kTensor && kind == K::TensorType) return var(n);
    if (k == VarKind::kOther) return var(n);
    if (k == VarKind::kTensor)
      throw Unsupported{"a Tensor where " + type->repr_str() + " is expected"};
    switch (kind) {
      case K::TensorType: return var(n) + ".toTensor()";
      case K::IntType:
      case K::SymIntType: return var(n) + ".toInt()";
      case K::FloatType: return var(n) + ".toDouble()";
      case K::BoolType: return var(n) + ".toBool()";
      case K::NumberType: return var(n) + ".toScalar()";
      default:
        throw Unsupported{"a value of unknown type where " + type->repr_str() + " is expected"};
    }
  }

  // A typed C++ expression for one schema argument.
  std::string typed_arg(const Argument& a, const c10::Argument& formal) const {
    using K = c10::TypeKind;
    c10::TypePtr type = formal.type();
    c10::TypePtr real = formal.real_type();
    bool optional = type->kind() == K::OptionalType;
    if (optional) {
      if (a.is_none()) return "::std::nullopt";
      type = type->containedType(0);
      real = real->kind() == K::OptionalType ? real->containedType(0) : real;
    }
    if (a.is_node()) return node_as(a.to_node(), type);
    if (a.kind() == Argument::Kind::kTensor && type->kind() == c10::TypeKind::TensorType)
      return "self.constants.at(" + constant_index(a) + ").toTensor()";
    c10::IValue v = to_ivalue(a);
    if (!coerce_to(formal, v)) throw Unsupported{"argument '" + formal.name() + "' does not fit"};
    switch (real->kind()) {
      case K::ScalarTypeType: return enum_name(dtype_name(static_cast<c10::ScalarType>(v.toInt())));
      case K::LayoutType:
        return std::string("at::Layout::") + c10::toString(static_cast<c10::Layout>(v.toInt()));
      case K::MemoryFormatType: {
        const char* names[] = {"Contiguous", "Preserve", "ChannelsLast", "ChannelsLast3d"};
        int64_t m = v.toInt();
        if (m < 0 || m > 3) throw Unsupported{"memory format"};
        return std::string("at::MemoryFormat::") + names[m];
      }
      default: break;
    }
    switch (type->kind()) {
      case K::IntType:
      case K::SymIntType: return "int64_t(" + std::to_string(v.toInt()) + ")";
      case K::FloatType: return cxx_double(v.toDouble());
      case K::BoolType: return v.toBool() ? "true" : "false";
      case K::StringType: return cxx_string(v.toStringRef());
      case K::DeviceObjType: return "at::Device(" + cxx_string(v.toDevice().str()) + ")";
      case K::NumberType:
        if (v.isInt()) return "at::Scalar(int64_t(" + std::to_string(v.toInt()) + "))";
        if (v.isDouble()) return "at::Scalar(" + cxx_double(v.toDouble()) + ")";
        if (v.isBool()) return v.toBool() ? "at::Scalar(true)" : "at::Scalar(false)";
        break;
      case K::ListType: {
        K elem = type->containedType(0)->kind();
        if (elem == K::IntType || elem == K::SymIntType) {
          std::string list = "at::IntArrayRef({";
          auto items = v.toIntVector();
          for (size_t i = 0; i < items.size(); ++i)
            list += (i ? ", " : "") + std::to_string(items[i]);
          list += "})";
          bool sym = real->containedType(0)->kind() == K::SymIntType;
          if (sym) list = "c10::fromIntArrayRefSlow(" + list + ")";
          if (optional)
            list = sym ? "at::OptionalSymIntArrayRef(" + list + ")"
                       : "at::OptionalIntArrayRef(" + list + ")";
          return list;
        }
        break;
      }
      default: break;
    }
    throw Unsupported{"argument '" + formal.name() + "' of type " + formal.type()->repr_str()};
  }

  // `{a, b}, {{"k", v}}`: positional and keyword arguments as IValues.
  std::string call_args(const Node* n) const {
    std::string args = "{";
    for (size_t i = 0; i < n->args().size(); ++i) args += (i ? ", " : "") + ivalue_of(n->args()[i]);
    args += "}, {";
    for (size_t i = 0; i < n->kwargs().size(); ++i)
      args += std::string(i ? ", " : "") + "{" + cxx_string(n->kwargs()[i].first) + ", " +
              ivalue_of(n->kwargs()[i].second) + "}";
    return args + "}";
  }

  // The slot of a tensor constant in Self::constants (in order of first use).
  std::string constant_index(const Argument& a) const {
    const void* key = a.to_tensor().unsafeGetTensorImpl();
    auto it = constants_.find(key);
    if (it == constants_.end()) it = constants_.emplace(key, constants_.size()).first;
    return std::to_string(it->second);
  }

  std::string tensor_list_arg(const Argument& a) const {
    std::string out = "at::TensorList(std::vector<at::Tensor>{";
    for (size_t i = 0; i < a.items().size(); ++i) {
      const Argument& item = a.items()[i];
      if (!item.is_node()) throw Unsupported{"a constant inside a Tensor list"};
      out += (i ? ", " : "") + node_as(item.to_node(), c10::TensorType::get());
    }
    return out + "})";
  }

  // A call of op with bound (the node's arguments in schema order, from its
  // lowering): typed through at::_ops, or boxed through the dispatcher.
  std::string operator_call(const Node* n, const c10::OperatorHandle& op,
                            const std::vector<Operand>& bound, bool typed, VarKind* kind);

  const CodeGen& cg_;
  std::unordered_map<const Node*, std::string> names_;
  std::unordered_map<const Node*, VarKind> kinds_;
  std::unordered_map<const Node*, std::vector<c10::TypeKind>> return_kinds_;
  mutable std::unordered_map<const void*, size_t> constants_;
};

std::string Emitter::operator_call(const Node* n, const c10::OperatorHandle& op,
                                   const std::vector<Operand>& bound, bool typed, VarKind* kind) {
  const c10::FunctionSchema& schema = op.schema();
  FX_INTERNAL_ASSERT(bound.size() == schema.arguments().size(),
                     "the lowering of " + n->name() + " does not match its schema");
  const std::string& name = schema.name();
  const std::string& overload = schema.overload_name();
  std::string out;
  if (typed) {
    // at::_ops::<name>_<overload>::call
    std::string base = name.substr(name.find("::") + 2);
    out = "at::_ops::" + base + (overload.empty() ? "" : "_" + overload) + "::call(";
    for (size_t i = 0; i < schema.arguments().size(); ++i) {
      const c10::Argument& formal = schema.arguments()[i];
      const Argument* a = bound[i].arg;
      std::string expr;
      if (a == nullptr) {
        expr = typed_arg(argument_from_ivalue(*formal.default_value()), formal);
      } else if (formal.type()->kind() == c10::TypeKind::ListType &&
                 formal.type()->containedType(0)->kind() == c10::TypeKind::TensorType &&
                 a->is_sequence()) {
        expr = tensor_list_arg(*a);
      } else {
        expr = typed_arg(*a, formal);
      }
      out += (i ? ", " : "") + expr;
    }
    out += ")";
    const auto& returns = schema.returns();
    for (const auto& r : returns) return_kinds_[n].push_back(r.type()->kind());
    *kind = returns.size() == 1 && returns[0].type()->kind() == c10::TypeKind::TensorType
                ? VarKind::kTensor
                : VarKind::kOther;
    return out;
  }
  out = "call_boxed(" + cxx_string(name) + ", " + cxx_string(overload) + ", {";
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const Argument* a = bound[i].arg;
    out += (i ? ", " : "") +
           (a ? ivalue_of(*a) : ivalue_literal(*schema.arguments()[i].default_value()));
  }
  *kind = VarKind::kIValue;
  return out + "})";
}

std::string Emitter::run(const Graph& graph, const std::string& class_name) {
  // Names: node names are unique in the graph; C++ keywords and the prelude's
  // names would not compile, so those get a trailing underscore.
  static const std::unordered_set<std::string> taken = {
      "self",    "auto",      "bool",      "char",     "const",      "default",     "delete",
      "double",  "float",     "int",       "long",     "new",        "operator",    "private",
      "public",  "register",  "short",     "signed",   "sizeof",     "static",      "struct",
      "switch",  "template",  "this",      "throw",    "typedef",    "union",       "unsigned",
      "using",   "virtual",   "void",      "volatile", "case",       "catch",       "do",
      "enum",    "explicit",  "export",    "extern",   "friend",     "goto",        "inline",
      "mutable", "namespace", "protected", "typename", "call_boxed", "call_method", "make_list",
      "Self",    "at",        "c10",       "std",      "forward"};
  for (const Node* n : graph.nodes())
    names_[n] = taken.count(n->name()) ? n->name() + "_" : n->name();

  // Values released after their last use, as in the Program (not at the return).
  const auto dead_after = last_uses(graph);

  std::vector<std::string> params, placeholder_names;
  std::vector<std::string> body;
  for (const Node* n : graph.nodes()) {
    if (n->op() != Op::Placeholder) continue;
    std::string decl = "c10::IValue " + var(n);
    kinds_[n] = VarKind::kIValue;
    if (n->type() == "Tensor" || n->type().empty()) {
      decl = "at::Tensor " + var(n);
      kinds_[n] = VarKind::kTensor;
    }
    LoweredNode l = lower_node(*n);
    if (l.default_value)
      decl += " = " + ivalue_literal(*l.default_value) +
              (kinds_[n] == VarKind::kTensor ? ".toTensor()" : "");
    params.push_back(decl);
    placeholder_names.push_back(var(n));
  }
  for (const std::string& line : cg_.gen_input_unpack(placeholder_names)) body.push_back(line);

  for (const Node* n : graph.nodes()) {
    std::string stmt;
    switch (n->op()) {
      case Op::Placeholder: continue;
      case Op::GetAttr:
        // A tensor unless the node's type says otherwise (constants: `int`, ...).
        if (n->type().empty() || n->type() == "Tensor") {
          stmt = "at::Tensor " + var(n) + " = self.attrs.at(" + cxx_string(n->target()) +
                 ").toTensor();";
          kinds_[n] = VarKind::kTensor;
        } else {
          stmt = "c10::IValue " + var(n) + " = self.attrs.at(" + cxx_string(n->target()) + ");";
          kinds_[n] = VarKind::kIValue;
        }
        break;
      case Op::CallFunction:
      case Op::CallMethod: {
        // What the node calls is its lowering's decision, as for forward.
        LoweredNode l = lower_node(*n);
        std::optional<c10::OperatorHandle> op;
        const std::vector<Operand>* bound = nullptr;
        if (l.kind == LoweredNode::Kind::kMethod && l.method->object_receiver()) {
          std::string args;
          for (size_t i = 1; i < n->args().size(); ++i)
            args += (i > 1 ? ", " : "") + ivalue_of(n->args()[i]);
          stmt = "c10::IValue " + var(n) + " = call_method(" + as_ivalue(n->args()[0].to_node()) +
                 ", " + cxx_string(n->target()) + ", {" + args + "});";
          kinds_[n] = VarKind::kIValue;
          break;
        }
        if (l.kind == LoweredNode::Kind::kOperator) {
          op = l.op;
          bound = &l.inputs;
        } else if (l.kind == LoweredNode::Kind::kMethod) {
          // The source is typed for the kinds the lowering assumed (Tensors
          // unless a node's type says otherwise), the overload forward takes for them.
          op = l.method->static_overload();
          bound = &l.method->static_inputs();
          if (!op)
            throw_node_error(*n, "no overload of aten::" + n->target() +
                                     " takes its arguments as the node types declare them");
        }
        if (op) {
          VarKind kind;
          std::string call;
          try {
            // at::_ops holds ATen's operators only; custom ones go boxed.
            if (op->schema().name().rfind("aten::", 0) != 0)
              throw Unsupported{"not an ATen operator"};
            call = operator_call(n, *op, *bound, true, &kind);
          } catch (const Unsupported&) {
            call = operator_call(n, *op, *bound, false, &kind);
          }
          kinds_[n] = kind;
          stmt = std::string(kind == VarKind::kTensor   ? "at::Tensor "
                             : kind == VarKind::kIValue ? "c10::IValue "
                                                        : "auto ") +
                 var(n) + " = " + call + ";";
        } else if (l.kind == LoweredNode::Kind::kGetItem) {
          const Node* src = n->args()[0].to_node();
          std::string index = std::to_string(l.index);
          if (kinds_.at(src) == VarKind::kIValue) {
            stmt = "c10::IValue " + var(n) + " = " + var(src) + ".isTuple() ? " + var(src) +
                   ".toTupleRef().elements()[" + index + "] : " + var(src) + ".toListRef()[" +
                   index + "];";
            kinds_[n] = VarKind::kIValue;
          } else {
            auto rk = return_kinds_.find(src);
            int64_t i = l.index;
            bool tensor = rk != return_kinds_.end() && i >= 0 &&
                          i < static_cast<int64_t>(rk->second.size()) &&
                          rk->second[i] == c10::TypeKind::TensorType;
            stmt = std::string(tensor ? "at::Tensor " : "auto ") + var(n) + " = std::get<" + index +
                   ">(" + var(src) + ");";
            kinds_[n] = tensor ? VarKind::kTensor : VarKind::kOther;
          }
        } else {
          stmt = "c10::IValue " + var(n) + " = self.functions.at(" + cxx_string(n->target()) +
                 ")(" + call_args(n) + ");";
          kinds_[n] = VarKind::kIValue;
        }
        break;
      }
      case Op::CallModule:
        stmt = "c10::IValue " + var(n) + " = self.modules.at(" + cxx_string(n->target()) + ")(" +
               call_args(n) + ");";
        kinds_[n] = VarKind::kIValue;
        break;
      case Op::Output:
        stmt = cg_.generate_output(n->args().empty() ? "c10::IValue()" : ivalue_of(n->args()[0]));
        break;
    }
    auto dead = dead_after.find(n);
    if (dead != dead_after.end() && n->op() != Op::Output) {
      stmt += " ";
      for (const Node* d : dead->second) {
        VarKind k = kinds_.at(d);
        stmt += " " + var(d) +
                (k == VarKind::kTensor   ? ".reset();"
                 : k == VarKind::kIValue ? " = c10::IValue();"
                                         : " = {};");
      }
    }
    body.push_back(stmt);
  }

  std::string out = "// Generated by fx from " + class_name + ". Compiles against LibTorch.\n";
  out += kPrelude;
  out += cg_.gen_fn_def(params) + " {\n";
  for (const std::string& line : body) out += "    " + line + "\n";
  if (body.empty()) out += "    return c10::IValue();\n";
  out += "}\n";
  return out;
}

}  // namespace

std::string CodeGen::gen_fn_def(const std::vector<std::string>& params) const {
  std::string out = "c10::IValue forward(const Self& self";
  for (const std::string& p : params) out += ", " + p;
  return out + ")";
}

std::vector<std::string> CodeGen::gen_input_unpack(const std::vector<std::string>&) const {
  return {};
}

std::string CodeGen::generate_output(const std::string& value) const {
  return "return " + value + ";";
}

std::string CodeGen::generate(const Graph& graph, const std::string& class_name) const {
  return Emitter(*this).run(graph, class_name);
}

}  // namespace fx
