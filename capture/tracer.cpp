// Symbolic tracing through a dispatcher fallback. Outline of one operator
// call seen while tracing (Tracer::record_operator):
//   1. operators that return no tensor read data: a TraceError, unless they
//      only read metadata (then they run on meta tensors and are not recorded);
//   2. arguments become Arguments: proxies their nodes, real tensors get_attr
//      nodes, proxy devices the trace device, ints typed ScalarType dtypes;
//   3. the operator runs on meta twins (or zero-filled CPU stand-ins when it
//      has no meta kernel) with the tracing key excluded;
//   4. one call_function node is recorded (getitem nodes for each element of
//      a multi-output), and the outputs come back as proxies; an output that
//      aliases an input proxy (in-place, out=) rebinds that proxy to the node.
#include "capture/tracer.h"

#include <mutex>
#include <sstream>
#include <unordered_set>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>
#include <torch/nn/module.h>

#include "ir/error.h"
#include "ir/namespace.h"
#include "runtime/call_hook.h"
#include "runtime/codegen.h"
#include "runtime/functions.h"
#include "runtime/operator.h"
#include "runtime/shape_prop.h"
#include "runtime/stand_in.h"

namespace fx {

namespace {

// Note [The tracing dispatch key]
// Tracing intercepts every operator with a boxed fallback on one dispatch key,
// enabled only on the tracing thread (IncludeDispatchKeyGuard) and sitting
// above autograd, so operators are recorded as called, not decomposed. The key
// must be one no backend or library in the process uses: a second fallback on
// it would be refused when fx is loaded, and kernels of another user would see
// our proxies. LibTorch has no key reserved for out-of-tree modes, so fx takes
// TESTING_ONLY_GenericMode, which PyTorch keeps for its own C++ tests and which
// no shipped backend registers (the backend keys, PrivateUse1 among them, are
// left to the accelerator plugins that use them).
constexpr c10::DispatchKey kTraceKey = c10::DispatchKey::TESTING_ONLY_GenericMode;
thread_local Tracer* g_current = nullptr;

// A tensor that stands for a node: no storage, the sizes, strides and dtype
// of its meta twin, and the node that produces it. Its device is Meta (read
// back as the example inputs' device when the graph records a device): an
// abstract device no backend owns. PrivateUse1, which proxies once used, is
// where out-of-tree accelerator plugins register, so a model moving a tensor
// there would have been recorded as moving it to the example's device.
class ProxyImpl final : public c10::TensorImpl {
 public:
  ProxyImpl(at::Tensor meta, Node* node, const Tracer* owner)
      : c10::TensorImpl(c10::DispatchKeySet(c10::DispatchKey::Meta), meta.dtype(),
                        c10::Device(c10::DeviceType::Meta)),
        meta_(std::move(meta)),
        node_(node),
        owner_(owner) {
    set_storage_access_should_throw();
    refresh();
  }

  void refresh() { set_sizes_and_strides(meta_.sizes(), meta_.strides(), meta_.storage_offset()); }

  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(
      const c10::VariableVersion& version, bool allow_metadata_change) const override {
    auto copy = c10::make_intrusive<ProxyImpl>(meta_, node_, owner_);
    copy->set_version_counter(version);
    copy->set_allow_tensor_metadata_change(allow_metadata_change);
    return copy;
  }
  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(
      c10::VariableVersion&& version, bool allow_metadata_change) const override {
    auto copy = c10::make_intrusive<ProxyImpl>(meta_, node_, owner_);
    copy->set_version_counter(std::move(version));
    copy->set_allow_tensor_metadata_change(allow_metadata_change);
    return copy;
  }

  at::Tensor meta_;
  Node* node_;
  const Tracer* owner_;
};

ProxyImpl* as_proxy(const at::Tensor& t) {
  return t.defined() ? dynamic_cast<ProxyImpl*>(t.unsafeGetTensorImpl()) : nullptr;
}

at::Tensor make_proxy(const at::Tensor& meta, Node* node, const Tracer* owner) {
  return at::Tensor(c10::make_intrusive<ProxyImpl>(meta, node, owner));
}

void trace_fallback(const c10::OperatorHandle& op, c10::DispatchKeySet, torch::jit::Stack* stack) {
  Tracer* tracer = g_current;
  if (tracer == nullptr) {
    c10::impl::ExcludeDispatchKeyGuard off(kTraceKey);
    op.callBoxed(stack);
    return;
  }
  tracer->record_operator(op, stack);
}

TORCH_LIBRARY_IMPL(_, TESTING_ONLY_GenericMode, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&trace_fallback>());
}

std::string op_name_of(const c10::OperatorHandle& op) { return c10::toString(op.operator_name()); }

bool returns_tensors(const c10::FunctionSchema& schema) {
  for (const auto& r : schema.returns()) {
    c10::TypePtr t = r.type();
    if (t->kind() == c10::TypeKind::OptionalType) t = t->containedType(0);
    if (t->kind() == c10::TypeKind::ListType) t = t->containedType(0);
    if (t->kind() == c10::TypeKind::OptionalType) t = t->containedType(0);
    if (t->kind() != c10::TypeKind::TensorType) return false;
  }
  return true;
}

// Operators that return a non-tensor but read only metadata.
bool reads_only_metadata(const std::string& name) {
  static const std::unordered_set<std::string> ops = {"aten::size.int",
                                                      "aten::size",
                                                      "aten::stride.int",
                                                      "aten::stride",
                                                      "aten::dim",
                                                      "aten::numel",
                                                      "aten::is_contiguous",
                                                      "aten::is_contiguous.memory_format",
                                                      "aten::sym_size.int",
                                                      "aten::sym_size",
                                                      "aten::sym_stride.int",
                                                      "aten::sym_numel",
                                                      "aten::sym_storage_offset",
                                                      "aten::is_floating_point",
                                                      "aten::is_complex",
                                                      "aten::is_same_size",
                                                      "aten::result_type.Tensor",
                                                      "aten::result_type.Scalar",
                                                      "aten::is_nonzero_numel",
                                                      "aten::_has_compatible_shallow_copy_type",
                                                      "aten::_nested_tensor_size",
                                                      "aten::is_signed",
                                                      "aten::layout",
                                                      "aten::qscheme",
                                                      "aten::output_nr",
                                                      "aten::_version",
                                                      "aten::requires_grad_",
                                                      "aten::retains_grad",
                                                      "aten::is_leaf",
                                                      "aten::_is_zerotensor",
                                                      "aten::is_conj",
                                                      "aten::is_neg",
                                                      "aten::is_inference",
                                                      "aten::dense_dim",
                                                      "aten::sparse_dim"};
  return ops.count(name) != 0;
}

// --- torch.fx's pytree flattening and concrete_args checks ------------------

// Whether v is a list or tuple with a tensor somewhere inside.
bool holds_tensor(const c10::IValue& v) {
  if (v.isTensor()) return true;
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements())
      if (holds_tensor(e)) return true;
    return false;
  }
  if (v.isList()) {
    for (const auto& e : v.toListRef())
      if (holds_tensor(e)) return true;
  }
  return false;
}

// The structure of one forward input: a leaf (one placeholder), or a list or
// tuple of such.
struct InputSpec {
  enum Kind { kLeaf, kList, kTuple } kind = kLeaf;
  std::vector<InputSpec> children;
  static InputSpec leaf() { return InputSpec(); }
  std::string describe() const {
    if (kind == kLeaf) return "a value";
    return std::string(kind == kList ? "a list" : "a tuple") + " of " +
           std::to_string(children.size());
  }
};

// Flattens forward's structured inputs into the placeholders' values.
class PytreeCodeGen : public CodeGen {
 public:
  explicit PytreeCodeGen(std::vector<InputSpec> specs) : specs_(std::move(specs)) {}
  std::vector<c10::IValue> process_inputs(std::vector<c10::IValue> inputs) const override {
    std::vector<c10::IValue> flat;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i >= specs_.size()) {
        flat.push_back(std::move(inputs[i]));  // the count is checked by the caller
        continue;
      }
      flatten(inputs[i], specs_[i], "input " + std::to_string(i), &flat);
    }
    return flat;
  }

 private:
  static void flatten(const c10::IValue& v, const InputSpec& spec, const std::string& where,
                      std::vector<c10::IValue>* out) {
    if (spec.kind == InputSpec::kLeaf) {
      out->push_back(v);
      return;
    }
    std::vector<c10::IValue> elems;
    if (spec.kind == InputSpec::kTuple && v.isTuple()) elems = v.toTupleRef().elements().vec();
    if (spec.kind == InputSpec::kList && v.isList()) elems = v.toListRef().vec();
    const bool right_kind = spec.kind == InputSpec::kTuple ? v.isTuple() : v.isList();
    if (!right_kind || elems.size() != spec.children.size())
      throw RuntimeError(where + " should be " + spec.describe() +
                         " elements, as traced, but got " +
                         (right_kind ? "one of " + std::to_string(elems.size()) + " elements"
                                     : std::string("a ") + v.tagKind()));
    for (size_t k = 0; k < elems.size(); ++k)
      flatten(elems[k], spec.children[k], where + "[" + std::to_string(k) + "]", out);
  }
  std::vector<InputSpec> specs_;
};

std::string show(const c10::IValue& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

constexpr const char* kAssertSpecialized = "_assert_specialized";

// _assert_specialized(value, expected, input_name): the check torch.fx's
// concrete_args adds (`torch._assert(out == x, ...)`).
void register_specialization_check() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_function(
        kAssertSpecialized,
        [](std::vector<c10::IValue> args, const IValueKwargs& kwargs) -> c10::IValue {
          if (args.size() != 3 || !kwargs.empty() || !args[2].isString())
            throw RuntimeError(std::string(kAssertSpecialized) +
                               " takes (value, expected, input name)");
          if (!(args[0] == args[1]))
            throw RuntimeError("input '" + args[2].toStringRef() +
                               "' has been specialized to have value " + show(args[1]) +
                               " but got another value: " + show(args[0]));
          return c10::IValue();
        });
  });
}

// Names registered by fx::wrap, so that a re-trace keeps them as one node.
std::mutex g_wrapped_mutex;
std::unordered_set<std::string>& wrapped_names() {
  static std::unordered_set<std::string> names;
  return names;
}

bool is_wrapped(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_wrapped_mutex);
  return wrapped_names().count(name) != 0;
}

}  // namespace

// While a trace runs: what a running GraphModule calls is recorded whole.
class RetraceHook : public CallHook {
 public:
  explicit RetraceHook(Tracer* tracer) : tracer_(tracer) {}
  c10::IValue call_function(const std::string& name, const Function& fn,
                            std::vector<c10::IValue> args, const IValueKwargs& kwargs) override {
    if (Tracer::current() != tracer_ || !kwargs.empty() || !is_wrapped(name))
      return fn(std::move(args), kwargs);
    return tracer_->record_call(Op::CallFunction, name, args,
                                [fn](std::vector<c10::IValue> a) { return fn(std::move(a), {}); });
  }
  c10::IValue call_module(const std::string& target, const std::shared_ptr<Module>& module,
                          std::vector<c10::IValue> args, const IValueKwargs& kwargs) override {
    if (Tracer::current() != tracer_ || !kwargs.empty())
      return module->forward(std::move(args), kwargs);
    tracer_->add_module(target, module);
    return tracer_->record_call(Op::CallModule, target, args, [module](std::vector<c10::IValue> a) {
      return module->forward(std::move(a), {});
    });
  }

 private:
  Tracer* tracer_;
};

namespace {}  // namespace

Tracer::Tracer(TraceOptions options) : options_(std::move(options)) {}
Tracer::~Tracer() = default;

Tracer* Tracer::current() { return g_current; }

Node* Tracer::create_node(Op op, const std::string& target, Args args, Kwargs kwargs,
                          const std::optional<std::string>& name) {
  return graph_->create_node(op, target, std::move(args), std::move(kwargs), name);
}

std::string Tracer::qualified_name_of(const at::Tensor& t) {
  auto it = param_names_.find(t.unsafeGetTensorImpl());
  return it == param_names_.end() ? "" : it->second;
}

Argument Tracer::create_tensor_arg(const at::Tensor& t) {
  const void* key = t.unsafeGetTensorImpl();
  auto it = attr_nodes_.find(key);
  if (it != attr_nodes_.end()) return it->second;
  std::string name = qualified_name_of(t);
  if (name.empty()) name = "_tensor_constant" + std::to_string(constant_count_++);
  attributes_.values[name] = t;
  Node* node = create_node(Op::GetAttr, name, {}, {});
  node->meta().set("tensor_meta", tensor_meta_of(t));
  attr_nodes_[key] = node;
  return node;
}

at::Tensor Tracer::meta_of(const at::Tensor& t) {
  if (ProxyImpl* p = as_proxy(t)) return p->meta_;
  const void* key = t.unsafeGetTensorImpl();
  auto it = meta_twins_.find(key);
  if (it != meta_twins_.end()) return it->second;
  at::Tensor twin = at::empty_strided(t.sizes(), t.strides(), t.options().device(at::kMeta));
  meta_twins_[key] = twin;
  return twin;
}

c10::IValue Tracer::to_meta(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return t.defined() ? c10::IValue(meta_of(t)) : v;
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorVector()) out.push_back(meta_of(t));
    return out;
  }
  if (v.isList()) {
    c10::impl::GenericList out(v.toList().elementType());
    for (const c10::IValue& item : v.toListRef()) out.push_back(to_meta(item));
    return out;
  }
  if (v.isDevice()) return c10::Device(at::kMeta);
  return v;
}

Argument Tracer::to_argument(const c10::IValue& v, const c10::Argument* formal) {
  if (v.isNone()) return Argument();
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return Argument();
    if (ProxyImpl* p = as_proxy(t)) {
      if (p->owner_ != this)
        throw TraceError(
            "a proxy tensor from another trace was used; each trace has its own proxies");
      return p->node_;
    }
    return create_tensor_arg(t);
  }
  if (v.isBool()) return v.toBool();
  if (v.isInt()) {
    if (formal) {
      c10::TypePtr real = formal->real_type();
      if (real->kind() == c10::TypeKind::OptionalType) real = real->containedType(0);
      switch (real->kind()) {
        case c10::TypeKind::ScalarTypeType: return static_cast<c10::ScalarType>(v.toInt());
        case c10::TypeKind::LayoutType: return static_cast<c10::Layout>(v.toInt());
        case c10::TypeKind::MemoryFormatType: return static_cast<c10::MemoryFormat>(v.toInt());
        default: break;
      }
    }
    return v.toInt();
  }
  if (v.isDouble()) return v.toDouble();
  if (v.isString()) return v.toStringRef();
  if (v.isDevice()) {
    c10::Device d = v.toDevice();
    return d.type() == c10::DeviceType::Meta ? device_ : d;
  }
  if (v.isSymInt()) return v.toSymInt().expect_int();
  if (v.isSymFloat()) return v.toSymFloat().expect_float();
  if (v.isList()) {
    std::vector<Argument> items;
    for (const c10::IValue& item : v.toListRef()) items.push_back(to_argument(item, nullptr));
    return Argument::list(std::move(items));
  }
  if (v.isTuple()) {
    std::vector<Argument> items;
    for (const c10::IValue& item : v.toTupleRef().elements())
      items.push_back(to_argument(item, nullptr));
    return Argument::tuple(std::move(items));
  }
  throw TraceError("cannot record an argument of type " + std::string(v.tagKind()) +
                   (formal ? " (argument '" + formal->name() + "')" : std::string()));
}

c10::IValue Tracer::wrap_outputs(const c10::IValue& out, Node* node,
                                 const std::vector<c10::IValue>& inputs) {
  if (!out.isTensor()) return out;
  const at::Tensor& meta = out.toTensor();
  if (!meta.defined()) return out;
  node->meta().set("tensor_meta", [&] {
    TensorMeta m = tensor_meta_of(meta);
    m.device = device_;
    return m;
  }());
  // An output that is an input proxy's own meta twin (in-place, out=) keeps
  // that proxy, which from now on stands for this node.
  for (const c10::IValue& in : inputs) {
    if (!in.isTensor()) continue;
    if (ProxyImpl* p = as_proxy(in.toTensor())) {
      if (p->meta_.unsafeGetTensorImpl() == meta.unsafeGetTensorImpl()) {
        p->node_ = node;
        p->refresh();
        return in;
      }
    }
  }
  return make_proxy(meta, node, this);
}

void Tracer::record_operator(const c10::OperatorHandle& op, std::vector<c10::IValue>* stack) {
  // Nothing the tracer itself computes (meta twins, stand-ins) is recorded.
  c10::impl::ExcludeDispatchKeyGuard not_traced(kTraceKey);
  const c10::FunctionSchema& schema = op.schema();
  const size_t n = schema.arguments().size();
  std::vector<c10::IValue> inputs(stack->end() - n, stack->end());
  stack->erase(stack->end() - n, stack->end());
  const std::string name = op_name_of(op);

  const Node* fed_by = nullptr;
  for (const c10::IValue& v : inputs) {
    if (v.isTensor() && as_proxy(v.toTensor())) {
      fed_by = as_proxy(v.toTensor())->node_;
      break;
    }
    if (v.isTensorList())
      for (const at::Tensor& t : v.toTensorVector())
        if (!fed_by && as_proxy(t)) fed_by = as_proxy(t)->node_;
  }

  // 1. Operators that hand a value back to C++ cannot be traced.
  std::vector<c10::IValue> meta_stack;
  for (const c10::IValue& v : inputs) meta_stack.push_back(to_meta(v));
  if (!returns_tensors(schema)) {
    if (fed_by && !reads_only_metadata(name))
      throw TraceError(name + " reads the data of a traced value (" + describe(*fed_by) +
                       "): symbolic tracing has no data, so .item(), data_ptr() and branches on "
                       "tensor values cannot be traced; wrap the code that needs the value with "
                       "fx::wrap, or pass the value as a concrete (non-tensor) input");
    c10::impl::ExcludeDispatchKeyGuard off(kTraceKey);
    op.callBoxed(meta_stack);
    for (auto& v : meta_stack) stack->push_back(std::move(v));
    return;
  }

  // 2. Arguments, with trailing defaults left out as a person would write them.
  Args args;
  Kwargs kwargs;
  const auto& formals = schema.arguments();
  size_t positional = 0;
  while (positional < n && !formals[positional].kwarg_only()) ++positional;
  auto is_default = [&](size_t i) {
    const auto& d = formals[i].default_value();
    if (!d) return false;
    const c10::IValue& v = inputs[i];
    if (v.isTensor() || d->isTensor()) return v.isNone() && d->isNone();
    try {
      return *d == v || (d->isIntList() && v.isIntList() && d->toIntVector() == v.toIntVector()) ||
             (d->isNone() && v.isNone());
    } catch (...) {
      return false;
    }
  };
  size_t last = positional;
  while (last > 0 && is_default(last - 1)) --last;
  for (size_t i = 0; i < last; ++i) args.push_back(to_argument(inputs[i], &formals[i]));
  for (size_t i = positional; i < n; ++i)
    if (!is_default(i)) kwargs.emplace_back(formals[i].name(), to_argument(inputs[i], &formals[i]));

  // 3. Output shapes on meta twins, else on zero-filled CPU stand-ins.
  {
    c10::impl::ExcludeDispatchKeyGuard off(kTraceKey);
    std::vector<c10::IValue> attempt = meta_stack;
    try {
      op.callBoxed(attempt);
      meta_stack = std::move(attempt);
    } catch (const std::exception& meta_error) {
      if (op.hasTag(at::Tag::dynamic_output_shape))
        throw TraceError(name + " has an output shape that depends on data (" +
                         (fed_by ? describe(*fed_by) : std::string("no traced input")) +
                         "), so it cannot be traced; wrap the code around it with fx::wrap");
      std::vector<c10::IValue> stand_ins;
      for (const auto& v : meta_stack) stand_ins.push_back(cpu_stand_in(v));
      try {
        op.callBoxed(stand_ins);
      } catch (const c10::Error& e) {
        throw TraceError("cannot compute the output shapes of " + name + " on meta tensors or on " +
                         "CPU stand-ins: " + e.what_without_backtrace());
      }
      meta_stack.clear();
      for (const auto& v : stand_ins) meta_stack.push_back(meta_like(v));
    }
  }

  // 4. The node and its outputs.
  Node* node = create_node(Op::CallFunction, name, std::move(args), std::move(kwargs));
  if (schema.returns().size() == 1 && meta_stack.size() == 1 && !meta_stack[0].isTensorList()) {
    stack->push_back(wrap_outputs(meta_stack[0], node, inputs));
    return;
  }
  if (schema.returns().size() == 1 && meta_stack.size() == 1 && meta_stack[0].isTensorList()) {
    c10::List<at::Tensor> out;
    std::vector<at::Tensor> metas = meta_stack[0].toTensorVector();
    for (size_t i = 0; i < metas.size(); ++i) {
      Node* item = create_node(Op::CallFunction, "getitem", {node, static_cast<int64_t>(i)}, {});
      out.push_back(wrap_outputs(metas[i], item, inputs).toTensor());
    }
    stack->push_back(std::move(out));
    return;
  }
  for (size_t i = 0; i < meta_stack.size(); ++i) {
    Node* item = create_node(Op::CallFunction, "getitem", {node, static_cast<int64_t>(i)}, {});
    stack->push_back(wrap_outputs(meta_stack[i], item, inputs));
  }
}

c10::IValue Tracer::wrap_result(const c10::IValue& out, Node* node) {
  if (!out.isTuple()) return wrap_outputs(out, node, {});
  std::vector<c10::IValue> items;
  const auto& elements = out.toTupleRef().elements();
  for (size_t i = 0; i < elements.size(); ++i) {
    Node* item = create_node(Op::CallFunction, "getitem", {node, static_cast<int64_t>(i)}, {});
    items.push_back(wrap_outputs(elements[i], item, {}));
  }
  return c10::ivalue::Tuple::create(std::move(items));
}

c10::IValue Tracer::record_call(Op op, const std::string& target,
                                const std::vector<c10::IValue>& call_args,
                                const std::function<c10::IValue(std::vector<c10::IValue>)>& fn) {
  c10::impl::ExcludeDispatchKeyGuard not_traced(kTraceKey);
  Args args;
  for (const auto& v : call_args) args.push_back(to_argument(v, nullptr));
  std::vector<c10::IValue> metas;
  for (const auto& v : call_args) metas.push_back(to_meta(v));
  c10::IValue out;
  {
    c10::impl::ExcludeDispatchKeyGuard off(kTraceKey);
    Tracer* saved = g_current;
    g_current = nullptr;
    try {
      out = fn(metas);
    } catch (const std::exception&) {
      std::vector<c10::IValue> stand_ins;
      for (const auto& v : metas) stand_ins.push_back(cpu_stand_in(v));
      try {
        out = meta_like(fn(stand_ins));
      } catch (const std::exception& e) {
        g_current = saved;
        throw TraceError("cannot compute the output of " + target +
                         " on meta tensors or CPU "
                         "stand-ins: " +
                         e.what());
      }
    }
    g_current = saved;
  }
  Node* node = create_node(op, target, std::move(args), {});
  if (!out.isTuple() && !out.isTensor())
    throw TraceError(target + " must return a tensor or a tuple of tensors while tracing");
  return wrap_result(out, node);
}

c10::IValue Tracer::record_object(const c10::ClassTypePtr& type,
                                  const std::vector<c10::IValue>& args) {
  c10::impl::ExcludeDispatchKeyGuard not_traced(kTraceKey);
  Args node_args;
  std::vector<c10::IValue> metas;
  for (const auto& v : args) {
    node_args.push_back(to_argument(v, nullptr));
    metas.push_back(to_meta(v));
  }
  c10::IValue object = construct_object(type, std::move(metas));
  const std::string qualified = type->name()->qualifiedName();
  Node* node = create_node(Op::CallFunction, qualified, std::move(node_args), {},
                           default_node_name(false, type->name()->name()));
  object_nodes_[&object.toObjectRef()] = node;
  objects_.push_back(object);
  return object;
}

c10::IValue Tracer::record_method(const c10::IValue& object, const std::string& method,
                                  const std::vector<c10::IValue>& args) {
  c10::impl::ExcludeDispatchKeyGuard not_traced(kTraceKey);
  auto it = object_nodes_.find(&object.toObjectRef());
  if (it == object_nodes_.end())
    throw TraceError("method '" + method +
                     "' was called on an object that this trace did not make; "
                     "construct it inside the traced code with fx::make_object");
  Args node_args{it->second};
  std::vector<c10::IValue> metas;
  for (const auto& v : args) {
    node_args.push_back(to_argument(v, nullptr));
    metas.push_back(to_meta(v));
  }
  c10::IValue out = invoke_method(object, method, std::move(metas));
  Node* node = create_node(Op::CallMethod, method, std::move(node_args), {});
  if (out.isNone()) return out;
  if (!out.isTuple() && !out.isTensor())
    throw TraceError("method '" + method + "' returned a " + std::string(out.tagKind()) +
                     "; while tracing, methods of registered classes must return tensors");
  return wrap_result(out, node);
}

std::unique_ptr<Graph> Tracer::trace(const TracedFn& fn,
                                     const std::vector<c10::IValue>& example_inputs,
                                     const torch::nn::Module* root) {
  if (g_current != nullptr) throw TraceError("a trace is already running on this thread");
  graph_ = std::make_unique<Graph>();
  attributes_ = Attributes{};
  codegen_ = nullptr;
  attr_nodes_.clear();
  meta_twins_.clear();
  param_names_.clear();
  constant_count_ = 0;
  root_ = root;
  if (root) {
    for (const auto& p : root->named_parameters(true))
      param_names_[p.value().unsafeGetTensorImpl()] = p.key();
    for (const auto& b : root->named_buffers(true))
      param_names_[b.value().unsafeGetTensorImpl()] = b.key();
  }
  device_ = c10::Device(c10::DeviceType::CPU);
  for (const auto& v : example_inputs)
    if (v.isTensor() && !v.toTensor().is_meta()) {
      device_ = v.toTensor().device();
      break;
    }
  if (options_.device) device_ = *options_.device;
  if (!options_.input_names.empty() && options_.input_names.size() != example_inputs.size())
    throw TraceError("TraceOptions::input_names has " +
                     std::to_string(options_.input_names.size()) + " names for " +
                     std::to_string(example_inputs.size()) + " example inputs");

  std::vector<c10::IValue> proxies;
  std::vector<InputSpec> specs;
  bool structured = false;
  for (size_t i = 0; i < example_inputs.size(); ++i) {
    const c10::IValue& v = example_inputs[i];
    std::string name = !options_.input_names.empty() ? options_.input_names[i]
                       : i == 0                      ? "x"
                                                     : "x_" + std::to_string(i);
    auto tensor_placeholder = [&](const at::Tensor& t, const std::string& ph_name) {
      Node* ph = graph_->placeholder(ph_name);
      at::Tensor meta = meta_of(t);
      meta_twins_.erase(t.unsafeGetTensorImpl());
      TensorMeta tm = tensor_meta_of(t);
      ph->meta().set("tensor_meta", tm);
      return make_proxy(meta, ph, this);
    };
    if (v.isTensor()) {
      specs.push_back(InputSpec::leaf());
      proxies.push_back(tensor_placeholder(v.toTensor(), name));
    } else if (holds_tensor(v)) {
      // torch.fx's pytree flattening: one placeholder per tensor.
      structured = true;
      int count = 0;
      std::function<c10::IValue(const c10::IValue&, const std::string&, InputSpec*)> flatten =
          [&](const c10::IValue& item, const std::string& where, InputSpec* spec) -> c10::IValue {
        if (item.isTensor()) {
          *spec = InputSpec::leaf();
          return tensor_placeholder(item.toTensor(), name + "_" + std::to_string(++count));
        }
        if (item.isTuple() || item.isList()) {
          std::vector<c10::IValue> elems =
              item.isTuple() ? item.toTupleRef().elements().vec() : item.toListRef().vec();
          spec->kind = item.isTuple() ? InputSpec::kTuple : InputSpec::kList;
          spec->children.resize(elems.size());
          std::vector<c10::IValue> out;
          for (size_t k = 0; k < elems.size(); ++k)
            out.push_back(
                flatten(elems[k], where + "[" + std::to_string(k) + "]", &spec->children[k]));
          if (item.isTuple()) return c10::ivalue::Tuple::create(std::move(out));
          if (item.isTensorList()) {
            c10::List<at::Tensor> list;
            for (const auto& e : out) list.push_back(e.toTensor());
            return list;
          }
          c10::impl::GenericList list(item.toList().elementType());
          for (auto& e : out) list.push_back(std::move(e));
          return list;
        }
        throw TraceError("example input " + std::to_string(i) + " ('" + name + "') cannot be " +
                         "flattened: " + where + " is a " + item.tagKind() +
                         ", and fx flattens only lists and tuples whose leaves are all tensors");
      };
      specs.emplace_back();
      proxies.push_back(flatten(v, name, &specs.back()));
    } else if (v.isGenericDict()) {
      throw TraceError("example input " + std::to_string(i) + " ('" + name +
                       "') is a Dict, which fx cannot flatten (only lists and tuples of tensors)");
    } else {
      // A concrete input: baked into the trace (FX's concrete_args). Its
      // placeholder is named as torch.fx names it and keeps the value as its
      // default; every call checks that it gets that value.
      specs.push_back(InputSpec::leaf());
      Node* ph = graph_->placeholder(name + "_1", to_argument(v, nullptr));
      register_specialization_check();
      graph_->call_function(kAssertSpecialized, {ph, to_argument(v, nullptr), Argument(name)});
      proxies.push_back(v);
    }
  }
  codegen_ = structured ? std::make_shared<PytreeCodeGen>(std::move(specs)) : nullptr;

  c10::IValue result;
  {
    g_current = this;
    RetraceHook hook(this);
    CallHookGuard hook_guard(&hook);
    c10::impl::IncludeDispatchKeyGuard on(kTraceKey);
    try {
      result = fn(proxies);
    } catch (const TraceError&) {
      g_current = nullptr;
      throw;
    } catch (const c10::Error& e) {
      g_current = nullptr;
      std::string msg = e.what_without_backtrace();
      if (msg.find("doesn't have storage") != std::string::npos ||
          msg.find("does not have storage") != std::string::npos)
        throw TraceError("the traced code read a tensor's data directly (data_ptr or similar): " +
                         msg + "; symbolic tracing has no data: wrap that code with fx::wrap");
      throw TraceError("tracing failed: " + msg);
    } catch (...) {
      g_current = nullptr;
      throw;
    }
    g_current = nullptr;
  }
  graph_->output(to_argument(result, nullptr));
  return std::move(graph_);
}

std::unique_ptr<GraphModule> symbolic_trace(const torch::nn::Module& root, const TracedFn& forward,
                                            const std::vector<c10::IValue>& example_inputs,
                                            TraceOptions options) {
  Tracer tracer(std::move(options));
  auto graph = tracer.trace(forward, example_inputs, &root);
  std::string class_name = root.name();
  size_t colon = class_name.rfind("::");
  if (colon != std::string::npos) class_name = class_name.substr(colon + 2);
  // Parameters and buffers come from root with its hierarchy; traced
  // constants and leaf modules from the tracer.
  auto gm = std::make_unique<GraphModule>(root, std::move(graph), class_name, tracer.attributes());
  if (tracer.codegen()) {
    gm->set_codegen(tracer.codegen());
    gm->recompile();
  }
  return gm;
}

std::unique_ptr<GraphModule> symbolic_trace(const TracedFn& fn,
                                            const std::vector<c10::IValue>& example_inputs,
                                            TraceOptions options) {
  Tracer tracer(std::move(options));
  auto graph = tracer.trace(fn, example_inputs, nullptr);
  auto gm = std::make_unique<GraphModule>(std::move(graph), tracer.attributes(), "GraphModule");
  if (tracer.codegen()) {
    gm->set_codegen(tracer.codegen());
    gm->recompile();
  }
  return gm;
}

std::function<c10::IValue(std::vector<c10::IValue>)> wrap(
    const std::string& name, std::function<c10::IValue(std::vector<c10::IValue>)> fn) {
  {
    std::lock_guard<std::mutex> lock(g_wrapped_mutex);
    wrapped_names().insert(name);
  }
  register_function(name, [fn](std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
    if (!kwargs.empty()) throw RuntimeError("wrapped functions take no keyword arguments");
    return fn(std::move(args));
  });
  return [name, fn](std::vector<c10::IValue> args) -> c10::IValue {
    Tracer* tracer = Tracer::current();
    if (tracer == nullptr) return fn(std::move(args));
    return tracer->record_call(Op::CallFunction, name, args, fn);
  };
}

c10::IValue make_object(const std::string& class_name, std::vector<c10::IValue> args) {
  c10::ClassTypePtr type = find_custom_class(class_name);
  if (!type)
    throw RuntimeError("no TorchScript custom class '" + class_name +
                       "' is registered (torch::class_ in a TORCH_LIBRARY block)");
  Tracer* tracer = Tracer::current();
  if (tracer == nullptr) return construct_object(type, std::move(args));
  return tracer->record_object(type, args);
}

c10::IValue call_object_method(const c10::IValue& object, const std::string& method,
                               std::vector<c10::IValue> args) {
  Tracer* tracer = Tracer::current();
  if (tracer == nullptr) return invoke_method(object, method, std::move(args));
  return tracer->record_method(object, method, args);
}

c10::IValue call_leaf(const std::string& qualified_name, const std::shared_ptr<Module>& module,
                      std::vector<c10::IValue> args) {
  Tracer* tracer = Tracer::current();
  if (tracer == nullptr) return module->forward(std::move(args), {});
  tracer->add_module(qualified_name, module);
  return tracer->record_call(
      Op::CallModule, qualified_name, args,
      [module](std::vector<c10::IValue> a) { return module->forward(std::move(a), {}); });
}

}  // namespace fx
