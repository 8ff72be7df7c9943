// Operator look-up, argument binding and coercion, boxed calls.
#include "runtime/operator.h"

#include <atomic>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <ATen/ScalarOps.h>
#include <ATen/core/function.h>
#include <ATen/core/jit_type.h>
#include <torch/custom_class.h>

#include "ir/error.h"
#include "ir/node.h"

namespace fx {

namespace {

std::string op_string(const c10::OperatorHandle& op) { return c10::toString(op.operator_name()); }

std::string describe_value(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return "an undefined Tensor";
    return "Tensor";
  }
  return v.tagKind();
}

std::mutex& overloads_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

const std::vector<c10::OperatorHandle>& find_overloads(const std::string& ns_name) {
  static std::unordered_map<std::string, std::vector<c10::OperatorHandle>> cache;
  std::lock_guard<std::mutex> lock(overloads_mutex());
  auto it = cache.find(ns_name);
  if (it != cache.end() && !it->second.empty()) return it->second;
  std::vector<c10::OperatorHandle> found;
  auto& dispatcher = c10::Dispatcher::singleton();
  for (const c10::OperatorName& name : dispatcher.getAllOpNames()) {
    if (name.name != ns_name) continue;
    auto handle = dispatcher.findSchema(name);
    if (handle) found.push_back(*handle);
  }
  // The unnamed overload first, then by overload name: deterministic order.
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.operator_name().overload_name < b.operator_name().overload_name;
  });
  auto& slot = cache[ns_name];
  slot = std::move(found);
  return slot;
}

c10::OperatorHandle find_operator(const std::string& qualified_name) {
  size_t ns = qualified_name.find("::");
  size_t dot = qualified_name.find('.', ns == std::string::npos ? 0 : ns);
  std::string name = qualified_name.substr(0, dot);
  std::string overload = dot == std::string::npos ? "" : qualified_name.substr(dot + 1);
  if (ns == std::string::npos)
    throw RuntimeError("'" + qualified_name +
                       "' is not an operator name; operators are spelled "
                       "`namespace::name.overload`, e.g. aten::add.Tensor");
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (handle) return *handle;
  std::string known;
  for (const auto& h : find_overloads(name)) known += (known.empty() ? "" : ", ") + op_string(h);
  throw RuntimeError("no operator '" + qualified_name + "' is registered with the dispatcher" +
                     (known.empty() ? std::string("; is the library that defines it loaded?")
                                    : "; known overloads: " + known));
}

bool bind_arguments(const c10::FunctionSchema& schema, size_t nargs,
                    const std::vector<std::string>& kwarg_names, Binding* binding,
                    std::string* why) {
  const auto& formals = schema.arguments();
  size_t positional = 0;
  while (positional < formals.size() && !formals[positional].kwarg_only()) ++positional;
  if (nargs > positional) {
    *why = "takes " + std::to_string(positional) + " positional arguments but " +
           std::to_string(nargs) + " were given";
    return false;
  }
  binding->sources.assign(formals.size(), Binding::kDefault);
  for (size_t i = 0; i < nargs; ++i) binding->sources[i] = static_cast<int>(i);
  for (size_t k = 0; k < kwarg_names.size(); ++k) {
    size_t i = 0;
    while (i < formals.size() && formals[i].name() != kwarg_names[k]) ++i;
    if (i == formals.size()) {
      *why = "has no argument named '" + kwarg_names[k] + "'";
      return false;
    }
    if (binding->sources[i] != Binding::kDefault) {
      *why = "got multiple values for argument '" + kwarg_names[k] + "'";
      return false;
    }
    binding->sources[i] = Binding::kFromKwarg + static_cast<int>(k);
  }
  for (size_t i = 0; i < formals.size(); ++i) {
    if (binding->sources[i] == Binding::kDefault && !formals[i].default_value()) {
      *why = "is missing required argument '" + formals[i].name() + "'";
      return false;
    }
  }
  return true;
}

namespace {

bool coerce_type(const c10::TypePtr& type, std::optional<int32_t> n, c10::IValue& v, bool strict);

template <typename T>
bool to_typed_list(const c10::TypePtr& elem, c10::IValue& v, bool strict) {
  c10::List<T> out;
  for (c10::IValue item : v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec()) {
    if (!coerce_type(elem, std::nullopt, item, strict)) return false;
    out.push_back(item.to<T>());
  }
  v = std::move(out);
  return true;
}

bool coerce_list(const c10::TypePtr& type, std::optional<int32_t> n, c10::IValue& v, bool strict) {
  const c10::TypePtr& elem = type->containedType(0);
  using K = c10::TypeKind;
  // A single int for `int[N]` is repeated N times (TorchScript's rule).
  if (elem->kind() == K::IntType && v.isInt()) {
    v = c10::List<int64_t>(std::vector<int64_t>(n.value_or(1), v.toInt()));
    return true;
  }
  if (!v.isList() && !v.isTuple()) return false;
  if (v.isList() && v.type()->isSubtypeOf(*type)) return true;
  switch (elem->kind()) {
    case K::IntType: return to_typed_list<int64_t>(elem, v, strict);
    case K::FloatType: return to_typed_list<double>(elem, v, strict);
    case K::BoolType: return to_typed_list<bool>(elem, v, strict);
    case K::TensorType: return to_typed_list<at::Tensor>(elem, v, strict);
    case K::OptionalType:
      if (elem->containedType(0)->kind() == K::TensorType)
        return to_typed_list<std::optional<at::Tensor>>(elem, v, strict);
      break;
    default: break;
  }
  c10::impl::GenericList out(elem);
  for (c10::IValue item : v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec()) {
    if (!coerce_type(elem, std::nullopt, item, strict)) return false;
    out.push_back(std::move(item));
  }
  v = std::move(out);
  return true;
}

bool coerce_type(const c10::TypePtr& type, std::optional<int32_t> n, c10::IValue& v, bool strict) {
  using K = c10::TypeKind;
  switch (type->kind()) {
    case K::OptionalType: return v.isNone() || coerce_type(type->containedType(0), n, v, strict);
    case K::TensorType:
      if (v.isTensor()) return true;
      if (!strict && (v.isInt() || v.isDouble() || v.isBool())) {
        v = at::native::wrapped_scalar_tensor(v.toScalar());
        return true;
      }
      return false;
    case K::FloatType:
      if (v.isDouble()) return true;
      if (v.isInt()) {
        v = static_cast<double>(v.toInt());
        return true;
      }
      return false;
    case K::IntType:
    case K::SymIntType:
      if (v.isInt()) return true;
      if (!strict && v.isBool()) {
        v = static_cast<int64_t>(v.toBool());
        return true;
      }
      return false;
    case K::NumberType: return v.isInt() || v.isDouble() || v.isBool() || v.isComplexDouble();
    case K::BoolType: return v.isBool();
    case K::StringType: return v.isString();
    case K::DeviceObjType:
      if (v.isDevice()) return true;
      if (!strict && v.isString()) {
        v = c10::Device(v.toStringRef());
        return true;
      }
      return false;
    case K::ListType: return coerce_list(type, n, v, strict);
    case K::AnyType: return true;
    default: return v.type()->isSubtypeOf(*type);
  }
}

}  // namespace

std::string type_name(const c10::Argument& formal) {
  // Print the formal the way FunctionSchema does and keep the type part.
  std::ostringstream os;
  os << formal;
  std::string s = os.str();
  size_t space = s.rfind(' ' + formal.name());
  return space == std::string::npos ? s : s.substr(0, space);
}

bool coerce_to(const c10::Argument& formal, c10::IValue& value, bool strict) {
  c10::IValue copy = value;
  if (!coerce_type(formal.type(), formal.N(), copy, strict)) return false;
  value = std::move(copy);
  return true;
}

namespace {

template <typename T>
c10::IValue typed_list(const std::vector<c10::IValue>& items) {
  c10::List<T> out;
  out.reserve(items.size());
  for (const auto& v : items) out.push_back(v.to<T>());
  return out;
}

}  // namespace

c10::IValue to_ivalue(const Argument& arg, const std::function<c10::IValue(Node*)>& value_of) {
  using K = Argument::Kind;
  switch (arg.kind()) {
    case K::kNone: return c10::IValue();
    case K::kBool: return arg.to_bool();
    case K::kInt: return arg.to_int();
    case K::kDouble: return arg.to_double();
    case K::kString: return arg.to_string();
    case K::kDtype: return static_cast<int64_t>(arg.to_dtype());
    case K::kDevice: return arg.to_device();
    case K::kLayout: return static_cast<int64_t>(arg.to_layout());
    case K::kMemoryFormat: return static_cast<int64_t>(arg.to_memory_format());
    case K::kTensor: return arg.to_tensor();
    case K::kNode:
      if (!value_of) throw RuntimeError("a node value was needed but none is available");
      return value_of(arg.to_node());
    case K::kTuple: {
      std::vector<c10::IValue> items;
      for (const Argument& a : arg.items()) items.push_back(to_ivalue(a, value_of));
      return c10::ivalue::Tuple::create(std::move(items));
    }
    case K::kList: {
      std::vector<c10::IValue> items;
      for (const Argument& a : arg.items()) items.push_back(to_ivalue(a, value_of));
      return make_list(std::move(items));
    }
  }
  return c10::IValue();
}

c10::IValue make_list(std::vector<c10::IValue> items) {
  bool ints = true, doubles = true, bools = true, tensors = true;
  for (const c10::IValue& v : items) {
    ints = ints && v.isInt();
    doubles = doubles && v.isDouble();
    bools = bools && v.isBool();
    tensors = tensors && v.isTensor();
  }
  if (!items.empty()) {
    if (ints) return typed_list<int64_t>(items);
    if (doubles) return typed_list<double>(items);
    if (bools) return typed_list<bool>(items);
    if (tensors) return typed_list<at::Tensor>(items);
  }
  c10::impl::GenericList out(c10::AnyType::get());
  for (auto& v : items) out.push_back(std::move(v));
  return out;
}

namespace {

// Binds and coerces; on success fills stack. strict as in coerce_to.
bool prepare_stack(const c10::FunctionSchema& schema, std::vector<c10::IValue>& args,
                   const IValueKwargs& kwargs, bool strict, std::vector<c10::IValue>* stack,
                   std::string* why) {
  std::vector<std::string> names;
  names.reserve(kwargs.size());
  for (const auto& kv : kwargs) names.push_back(kv.first);
  Binding binding;
  if (!bind_arguments(schema, args.size(), names, &binding, why)) return false;
  const auto& formals = schema.arguments();
  stack->clear();
  stack->reserve(formals.size());
  for (size_t i = 0; i < formals.size(); ++i) {
    int src = binding.sources[i];
    c10::IValue v = src == Binding::kDefault     ? *formals[i].default_value()
                    : src >= Binding::kFromKwarg ? kwargs[src - Binding::kFromKwarg].second
                                                 : args[src];
    if (src != Binding::kDefault && !coerce_type(formals[i].type(), formals[i].N(), v, strict)) {
      *why = "expected " + type_name(formals[i]) + " for argument '" + formals[i].name() +
             "' but got " + describe_value(v);
      return false;
    }
    stack->push_back(std::move(v));
  }
  return true;
}

}  // namespace

c10::IValue pack_returns(std::vector<c10::IValue>& stack) {
  if (stack.empty()) return c10::IValue();
  if (stack.size() == 1) return std::move(stack[0]);
  return c10::ivalue::Tuple::create(std::move(stack));
}

c10::IValue call_operator(const c10::OperatorHandle& op, std::vector<c10::IValue> args,
                          const IValueKwargs& kwargs) {
  std::vector<c10::IValue> stack;
  std::string why;
  if (!prepare_stack(op.schema(), args, kwargs, false, &stack, &why))
    throw RuntimeError(op_string(op) + " " + why + "; its schema is " + c10::toString(op.schema()));
  op.callBoxed(stack);
  return pack_returns(stack);
}

namespace {
std::atomic<size_t> g_overload_resolutions{0};
}  // namespace

size_t overload_resolutions() { return g_overload_resolutions.load(std::memory_order_relaxed); }

c10::OperatorHandle resolve_overload(const std::string& ns_name,
                                     const std::vector<c10::IValue>& args,
                                     const IValueKwargs& kwargs) {
  g_overload_resolutions.fetch_add(1, std::memory_order_relaxed);
  const auto& overloads = find_overloads(ns_name);
  std::vector<c10::IValue> stack;
  std::string why;
  for (bool strict : {true, false}) {
    for (const auto& op : overloads) {
      std::vector<c10::IValue> copy = args;
      if (prepare_stack(op.schema(), copy, kwargs, strict, &stack, &why)) return op;
    }
  }
  if (overloads.empty()) throw RuntimeError("no operator named '" + ns_name + "' is registered");
  std::string types;
  for (const auto& a : args) types += (types.empty() ? "" : ", ") + describe_value(a);
  for (const auto& kv : kwargs)
    types += (types.empty() ? "" : ", ") + kv.first + "=" + describe_value(kv.second);
  std::string schemas;
  for (const auto& op : overloads) schemas += "\n  " + c10::toString(op.schema());
  throw RuntimeError("no overload of " + ns_name + " accepts (" + types +
                     "); candidates:" + schemas);
}

std::string custom_class_qualified_name(const std::string& name) {
  static const std::string prefix = "__torch__.torch.classes.";
  return name.rfind(prefix, 0) == 0 ? name : prefix + name;
}

c10::ClassTypePtr find_custom_class(const std::string& name) {
  try {
    return torch::getCustomClass(custom_class_qualified_name(name));
  } catch (const std::exception&) {
    return nullptr;
  }
}

c10::IValue construct_object(const c10::ClassTypePtr& type, std::vector<c10::IValue> args) {
  auto object = c10::ivalue::Object::create(c10::StrongTypePtr(nullptr, type),
                                            std::max<size_t>(1, type->numAttributes()));
  std::vector<c10::IValue> stack;
  stack.reserve(args.size() + 1);
  stack.emplace_back(object);
  for (auto& a : args) stack.push_back(std::move(a));
  type->getMethod("__init__").run(stack);
  return object;
}

c10::IValue invoke_method(const c10::IValue& self, const std::string& method,
                          std::vector<c10::IValue> args) {
  if (!self.isObject())
    throw RuntimeError("cannot call method '" + method + "' on a " + describe_value(self));
  c10::ClassTypePtr type = self.toObjectRef().type();
  torch::jit::Function* fn = type->findMethod(method);
  if (fn == nullptr)
    throw RuntimeError("class " + type->name()->qualifiedName() + " has no method '" + method +
                       "'");
  std::vector<c10::IValue> stack;
  stack.reserve(args.size() + 1);
  stack.push_back(self);
  for (auto& a : args) stack.push_back(std::move(a));
  fn->run(stack);
  return pack_returns(stack);
}

c10::IValue getitem(const c10::IValue& container, const c10::IValue& index) {
  if (!index.isInt())
    throw RuntimeError("getitem needs an int index, got " + describe_value(index));
  int64_t i = index.toInt();
  auto pick = [&](c10::ArrayRef<c10::IValue> items) -> c10::IValue {
    int64_t n = static_cast<int64_t>(items.size());
    int64_t j = i < 0 ? i + n : i;
    if (j < 0 || j >= n)
      throw RuntimeError("getitem index " + std::to_string(i) +
                         " is out of range for a sequence of " + std::to_string(n));
    return items[j];
  };
  if (container.isTuple()) return pick(container.toTupleRef().elements());
  if (container.isList()) return pick(container.toListRef());
  throw RuntimeError("getitem needs a tuple or list, got " + describe_value(container));
}

}  // namespace fx
