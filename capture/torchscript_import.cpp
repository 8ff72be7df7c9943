// TorchScript import: walks a module's stored forward graph (and, inlined,
// the methods and functions it calls) node by node and emits fx nodes. Values
// known at import time (constants, non-tensor attributes, results of
// operators on them) are evaluated here, so flags such as `self.training`
// select branches instead of becoming control flow. Given example inputs,
// every value also carries what it is on them (computed on meta tensors), and
// branches on shapes, dtypes, devices and None follow the examples under
// run-time checks (Note [Assumptions]). No TorchScript pass runs and the
// TorchScript graphs are never modified.
#include "capture/torchscript_import.h"

#include <cctype>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <c10/core/GradMode.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/operator.h>
#include <torch/csrc/jit/serialization/import.h>

#include "ir/error.h"
#include "ir/namespace.h"
#include "runtime/functions.h"
#include "runtime/operator.h"
#include "capture/torchscript_values.h"

namespace fx {

namespace {

using namespace ts;

// A child module imported as its own GraphModule, for calls whose arguments
// look alike on the example inputs (same `signature`).
struct ImportedChild {
  std::shared_ptr<GraphModule> gm;
  std::string signature;
  // The forward's result on those example inputs.
  bool has_example = false;
  c10::IValue example;
  c10::Device example_device = c10::Device(c10::DeviceType::CPU);
};

// State shared by the importers of one import_torchscript call.
struct Shared {
  ImportOptions options;
  // Whether values carry examples (the caller gave example inputs).
  bool examples = false;
  // One GraphModule per submodule instance, however many calls and paths reach it.
  std::unordered_map<const c10::ivalue::Object*, ImportedChild> imported;
  // The meta tensor standing for each real tensor seen (inputs, attributes),
  // so that one tensor is one meta tensor and `is` works on examples. The
  // real tensor is kept so that its address is not reused.
  std::unordered_map<const c10::TensorImpl*, std::pair<at::Tensor, at::Tensor>> meta;
};

// Imports one module's forward into one GraphModule.
class Importer {
 public:
  // call_args: for a child module, the values its forward is called with
  // (their examples become the examples of its placeholders); null for the root.
  Importer(const torch::jit::Module& root, std::string scope, Shared& shared,
           const std::vector<ValPtr>* call_args = nullptr)
      : root_(root),
        scope_(std::move(scope)),
        shared_(shared),
        call_args_(call_args),
        graph_(std::make_unique<Graph>()) {}

  // The forward's result, once run() returned.
  const ValPtr& output() const { return output_; }

  std::unique_ptr<GraphModule> run() {
    const torch::jit::Function& forward = root_.get_method("forward").function();
    const auto& ts_graph = torch::jit::toGraphFunction(forward).graph();
    const c10::FunctionSchema& schema = forward.getSchema();
    std::vector<ValPtr> inputs;
    auto self = std::make_shared<Val>();
    self->kind = Val::Kind::kModule;
    self->module = root_;
    inputs.push_back(self);
    for (size_t i = 1; i < ts_graph->inputs().size(); ++i) {
      const TsValue* in = ts_graph->inputs()[i];
      std::string name = i < schema.arguments().size() ? schema.arguments()[i].name() : "";
      if (name.empty()) name = in->hasDebugName() ? in->debugName() : "arg";
      std::optional<Argument> default_value;
      if (i < schema.arguments().size() && schema.arguments()[i].default_value())
        default_value = to_argument(*known_val(*schema.arguments()[i].default_value()),
                                    schema.arguments()[i].real_type());
      ValPtr v = node_val(graph_->placeholder(base_name(name), default_value));
      if (shared_.examples) {
        const c10::TypePtr type = in->type();
        if (call_args_) {
          if (i - 1 < call_args_->size()) {
            const Val& arg = *(*call_args_)[i - 1];
            v->has_example = example_of(arg, type, &v->example);
            v->example_device = device_of(arg);
          }
        } else if (i - 1 < shared_.options.example_inputs.size()) {
          set_example(*v, shared_.options.example_inputs[i - 1]);
        } else if (i < schema.arguments().size() && schema.arguments()[i].default_value()) {
          set_example(*v, *schema.arguments()[i].default_value());
        }
      }
      inputs.push_back(v);
    }
    if (!call_args_ && shared_.options.example_inputs.size() + 1 > ts_graph->inputs().size())
      fail(nullptr, "got " + std::to_string(shared_.options.example_inputs.size()) +
                        " example inputs for a forward that takes " +
                        std::to_string(ts_graph->inputs().size() - 1));
    ValPtr out = walk_graph(*ts_graph, inputs, "forward");
    output_ = out;
    graph_->output(to_argument(*out, nullptr));
    // Reads whose only readers were in branches not taken (`mask.dtype` for a
    // mask that is None) are left without users.
    graph_->eliminate_dead_code();
    std::string class_name = root_.type()->name() ? root_.type()->name()->name() : "GraphModule";
    return std::make_unique<GraphModule>(std::move(graph_), std::move(attrs_), class_name);
  }

 private:
  [[noreturn]] void fail(const TsNode* n, const std::string& what) const {
    std::string where = "TorchScript module " +
                        (scope_.empty() ? std::string("root") : "'" + scope_ + "'") + " (" +
                        (root_.type()->name() ? root_.type()->name()->name() : "?") + ")";
    std::string calls;
    for (const std::string& c : call_stack_) calls += (calls.empty() ? "" : " -> ") + c;
    std::string msg = "cannot import " + where + ", in " + calls + ": " + what;
    if (n) {
      msg += "\n  at " + location(n) + ": " + node_text(n);
      torch::jit::SourceRange range = source_of(n);
      if (range.source()) msg += "\n" + range.str();
    }
    throw TraceError(msg);
  }

  ValPtr walk_graph(const torch::jit::Graph& g, const std::vector<ValPtr>& inputs,
                    const std::string& name) {
    if (call_stack_.size() > 256) fail(nullptr, "calls nest deeper than 256 (recursion?)");
    FX_INTERNAL_ASSERT(inputs.size() == g.inputs().size(),
                       "call arity differs from the callee graph");
    call_stack_.push_back(name);
    Env env;
    for (size_t i = 0; i < inputs.size(); ++i) env[g.inputs()[i]] = inputs[i];
    walk_block(g.block(), env);
    ValPtr out;
    if (g.outputs().size() == 1) {
      out = lookup(env, g.outputs()[0]);
    } else {
      out = std::make_shared<Val>();
      out->kind = Val::Kind::kSeq;
      out->tuple = true;
      for (const TsValue* o : g.outputs()) out->items.push_back(lookup(env, o));
    }
    call_stack_.pop_back();
    return out;
  }

  void walk_block(const TsBlock* block, Env& env) {
    for (const TsNode* n : block->nodes()) walk_node(n, env);
  }

  ValPtr lookup(const Env& env, const TsValue* v) const {
    auto it = env.find(v);
    FX_INTERNAL_ASSERT(it != env.end(),
                       "TorchScript value %" + v->debugName() + " used before it is defined");
    return it->second;
  }

  std::vector<ValPtr> inputs_of(const TsNode* n, const Env& env, size_t first = 0) const {
    std::vector<ValPtr> out;
    for (size_t i = first; i < n->inputs().size(); ++i) out.push_back(lookup(env, n->input(i)));
    return out;
  }

  void bind_outputs(const TsNode* n, Env& env, const ValPtr& result) {
    if (n->outputs().empty()) return;
    if (n->outputs().size() == 1) {
      env[n->output()] = result;
      return;
    }
    std::vector<ValPtr> parts = unpack(n, result, n->outputs().size());
    for (size_t i = 0; i < parts.size(); ++i) env[n->output(i)] = parts[i];
  }

  void walk_node(const TsNode* n, Env& env) {
    using namespace c10;
    const Symbol kind = n->kind();
    if (kind == prim::Constant) {
      const TsValue* out = n->output();
      if (auto fn = out->type()->cast<FunctionType>()) {
        auto v = std::make_shared<Val>();
        v->kind = Val::Kind::kFunction;
        v->function = fn->function();
        env[out] = v;
        return;
      }
      auto iv = torch::jit::toIValue(out);
      if (!iv) fail(n, "constant of type " + out->type()->repr_str() + " is not supported");
      env[out] = known_val(*iv);
    } else if (kind == prim::GetAttr) {
      env[n->output()] = get_attr(n, *lookup(env, n->input(0)));
    } else if (kind == prim::CallMethod) {
      call_method(n, env);
    } else if (kind == prim::CallFunction) {
      ValPtr fn = lookup(env, n->input(0));
      if (fn->kind != Val::Kind::kFunction) fail(n, "calls a value that is not a known function");
      std::vector<ValPtr> args = inputs_of(n, env, 1);
      const auto& graph = torch::jit::toGraphFunction(*fn->function).graph();
      bind_outputs(n, env, walk_graph(*graph, args, fn->function->qualname().qualifiedName()));
    } else if (kind == prim::If) {
      walk_if(n, env);
    } else if (kind == prim::Loop) {
      walk_loop(n, env);
    } else if (kind == prim::ListConstruct || kind == prim::TupleConstruct) {
      std::vector<ValPtr> items = inputs_of(n, env);
      bool all_literal = true;
      for (const ValPtr& v : items) all_literal = all_literal && v->literal();
      if (all_literal) {
        std::vector<c10::IValue> values;
        for (const ValPtr& v : items) values.push_back(v->known);
        if (kind == prim::TupleConstruct) {
          auto type = n->output()->type()->expect<TupleType>();
          env[n->output()] =
              known_val(type->schema() ? ivalue::Tuple::createNamed(std::move(values), type)
                                       : ivalue::Tuple::create(std::move(values)));
        } else {
          impl::GenericList list(n->output()->type()->expectRef<ListType>().getElementType());
          for (c10::IValue& v : values) list.push_back(std::move(v));
          ValPtr v = known_val(std::move(list));
          v->owned_list = true;
          env[n->output()] = v;
        }
        return;
      }
      auto v = std::make_shared<Val>();
      v->kind = Val::Kind::kSeq;
      v->tuple = kind == prim::TupleConstruct;
      v->owned_list = !v->tuple;
      v->items = std::move(items);
      env[n->output()] = v;
    } else if (is_op(n, "aten::append", "t") && lookup(env, n->input(0))->owned_list) {
      append(*lookup(env, n->input(0)), lookup(env, n->input(1)));
      env[n->output()] = lookup(env, n->input(0));
    } else if (kind == prim::DictConstruct && all_literal(inputs_of(n, env))) {
      // `len(self._forward_hooks)` in scripted code: an empty dict, or one of constants.
      const auto& type = n->output()->type()->expectRef<DictType>();
      impl::GenericDict dict(type.getKeyType(), type.getValueType());
      std::vector<ValPtr> ins = inputs_of(n, env);
      for (size_t i = 0; i + 1 < ins.size(); i += 2)
        dict.insert_or_assign(ins[i]->known, ins[i + 1]->known);
      env[n->output()] = known_val(std::move(dict));
    } else if (kind == prim::Uninitialized) {
      auto v = std::make_shared<Val>();
      v->kind = Val::Kind::kUninitialized;
      env[n->output()] = v;
    } else if (kind == prim::TupleUnpack || kind == prim::ListUnpack) {
      ValPtr src = lookup(env, n->input(0));
      std::vector<ValPtr> parts = unpack(n, src, n->outputs().size());
      for (size_t i = 0; i < parts.size(); ++i) env[n->output(i)] = parts[i];
    } else if ((kind == prim::TupleIndex || is_op(n, "aten::__getitem__", "t")) &&
               lookup(env, n->input(1))->literal() && lookup(env, n->input(1))->known.isInt()) {
      ValPtr src = lookup(env, n->input(0));
      int64_t index = lookup(env, n->input(1))->known.toInt();
      if (src->literal()) {
        try {
          env[n->output()] = known_val(fx::getitem(src->known, index));
        } catch (const std::exception& e) {
          fail(n, e.what());
        }
      } else {
        env[n->output()] = item(n, src, index);
      }
    } else if (is_op(n, "aten::len", "t") && lookup(env, n->input(0))->kind == Val::Kind::kSeq) {
      env[n->output()] = known_val(static_cast<int64_t>(lookup(env, n->input(0))->items.size()));
    } else if (kind == prim::NumToTensor) {
      auto v = std::make_shared<Val>();
      v->kind = Val::Kind::kNode;
      v->pending = n;
      v->pending_inputs = inputs_of(n, env);
      v->number = v->pending_inputs[0];
      run_example(n, v->pending_inputs, {v});
      env[n->output()] = v;
    } else if ((is_op(n, "aten::Int", "Tensor") || is_op(n, "aten::Float", "Tensor") ||
                is_op(n, "aten::ScalarImplicit", "")) &&
               lookup(env, n->input(0))->number &&
               (kind == aten::ScalarImplicit ||
                n->output()->type()->kind() ==
                    lookup(env, n->input(0))->pending->input(0)->type()->kind())) {
      env[n->output()] = lookup(env, n->input(0))->number;
    } else if (kind == prim::unchecked_cast || kind == aten::_unwrap_optional) {
      env[n->output()] = lookup(env, n->input(0));
    } else if (kind == aten::__is__ || kind == aten::__isnot__) {
      walk_is(n, env);
    } else if (kind == prim::isinstance) {
      walk_isinstance(n, env);
    } else if ((is_op(n, "aten::any", "bool") || is_op(n, "aten::all", "bool")) &&
               decided_by_one(*lookup(env, n->input(0)), kind == aten::any)) {
      // `any([x.requires_grad, True])`: one known item decides it.
      env[n->output()] = known_val(kind == aten::any);
    } else if (kind == prim::RaiseException) {
      fail(n, "the model always raises here (" + raise_message(n) + ")");
    } else if (kind == prim::SetAttr) {
      fail(n, "prim::SetAttr assigns module attribute '" + n->s(attr::name) +
                  "'; an fx graph cannot change its module's attributes");
    } else if (kind == prim::Enter || kind == prim::Exit || kind == prim::fork ||
               kind == aten::wait || kind == prim::DictConstruct || kind == prim::CreateObject) {
      fail(n, std::string(kind.toQualString()) + " is not supported by TorchScript import");
    } else {
      walk_operator(n, env);
    }
  }

  ValPtr get_attr(const TsNode* n, const Val& base) {
    if (base.kind != Val::Kind::kModule)
      fail(n, "reads attribute '" + n->s(c10::attr::name) + "' of an object that is not a module");
    const std::string& name = n->s(c10::attr::name);
    std::string path = base.path.empty() ? name : base.path + "." + name;
    c10::IValue value = base.module.attr(name);
    if (value.isObject()) {
      if (!value.toObjectRef().type()->is_module())
        fail(n, "attribute '" + path + "' is an object of class " + value.type()->repr_str() +
                    ", which an fx graph cannot hold");
      auto v = std::make_shared<Val>();
      v->kind = Val::Kind::kModule;
      v->module = torch::jit::Module(value.toObject());
      v->path = path;
      return v;
    }
    ValPtr v = known_val(value);
    if (ivalue_has_tensor(value)) v->attr = path;
    return v;
  }

  void call_method(const TsNode* n, Env& env) {
    ValPtr receiver = lookup(env, n->input(0));
    const std::string& name = n->s(c10::attr::name);
    if (receiver->kind != Val::Kind::kModule)
      fail(n, "calls method '" + name + "' on an object that is not a module");
    std::vector<ValPtr> args = inputs_of(n, env, 1);
    if (name == "forward" && !receiver->path.empty() && !shared_.options.inline_calls) {
      if (ValPtr out = call_module(n, *receiver, args)) {
        env[n->output()] = out;
        return;
      }
    }
    args.insert(args.begin(), receiver);
    const torch::jit::Function& fn = receiver->module.get_method(name).function();
    std::string label = receiver->path.empty() ? name : receiver->path + "." + name;
    bind_outputs(n, env, walk_graph(*torch::jit::toGraphFunction(fn).graph(), args, label));
  }

  // A call_module node, the child imported on first use with this call's
  // examples. A child already imported for arguments that differ on the
  // examples (other shapes, None where there was a tensor, ...) may have
  // followed other branches, so this call is inlined instead (null result).
  ValPtr call_module(const TsNode* n, const Val& receiver, const std::vector<ValPtr>& args) {
    const c10::ivalue::Object* key = receiver.module._ivalue().get();
    const std::string sig = shared_.examples ? signature(args, n) : std::string();
    auto it = shared_.imported.find(key);
    if (it == shared_.imported.end()) {
      std::string scope = scope_.empty() ? receiver.path : scope_ + "." + receiver.path;
      Importer child(receiver.module, scope, shared_, &args);
      ImportedChild entry;
      entry.gm = child.run();
      entry.signature = sig;
      const c10::TypePtr result = n->output()->type();
      entry.has_example = example_of(*child.output(), result, &entry.example);
      entry.example_device = device_of(*child.output());
      it = shared_.imported.emplace(key, std::move(entry)).first;
    } else if (it->second.signature != sig) {
      return nullptr;
    }
    auto existing = attrs_.modules.find(receiver.path);
    if (existing != attrs_.modules.end() && existing->second != it->second.gm) return nullptr;
    attrs_.modules[receiver.path] = it->second.gm;
    Args fx_args;
    for (const ValPtr& a : args) fx_args.push_back(to_argument(*a, nullptr, n));
    Node* node = graph_->call_module(receiver.path, std::move(fx_args));
    annotate(node, n);
    ValPtr v = node_val(node);
    v->has_example = it->second.has_example;
    v->example = it->second.example;
    v->example_device = it->second.example_device;
    return v;
  }

  // Note [Guards]: `if cond: raise ...` is how TorchScript code checks its
  // inputs (BatchNorm's rank check, F.adaptive_avg_pool2d's size check). When
  // cond is only known at run time, the branch becomes a check that raises
  // the same way, and the other branch is imported unconditionally.
  void walk_if(const TsNode* n, Env& env) {
    ValPtr cond = lookup(env, n->input(0));
    const TsBlock* taken = nullptr;
    bool raises[2] = {false, false};
    if (cond->literal() && cond->known.isBool()) {
      taken = n->blocks()[cond->known.toBool() ? 0 : 1];
    } else {
      raises[0] = block_raises(n->blocks()[0]);
      raises[1] = block_raises(n->blocks()[1]);
    }
    if (!taken && raises[0] == raises[1]) {
      if (!raises[0] && is_scalar_logic(n->blocks()[0]) && is_scalar_logic(n->blocks()[1]))
        return select(n, env, cond);
      std::optional<c10::IValue> example = example_scalar(*cond, true);
      if (!example) fail(n, not_known_message("prim::If branches on"));
      assume(n, n->input(0), cond, *example);
      taken = n->blocks()[example->toBool() ? 0 : 1];
    }
    if (!taken) {
      const TsBlock* raising = n->blocks()[raises[0] ? 0 : 1];
      taken = n->blocks()[raises[0] ? 1 : 0];
      Argument ok = to_argument(*cond, nullptr, n);
      if (raises[0]) {
        static const std::string kNot = jit_function(jit_operator("aten::__not__", ""));
        Node* neg = graph_->create_node(Op::CallFunction, kNot, {ok}, {}, std::string("not_"));
        annotate(neg, n);
        ok = neg;
      }
      const TsNode* raise = nullptr;
      for (const TsNode* r : raising->nodes())
        if (r->kind() == c10::prim::RaiseException) raise = r;
      std::string msg = raise_message(raise) + " (TorchScript check at " + location(n) + ")";
      annotate(graph_->call_function("aten::_assert_scalar", {ok, msg}), n);
    }
    walk_block(taken, env);
    for (size_t i = 0; i < n->outputs().size(); ++i)
      env[n->output(i)] = lookup(env, taken->outputs()[i]);
  }

  // Note [Scalar logic]: `a and b`, `a or b` and `x if c else y` on ints and
  // bools are prim::Ifs too (BatchNorm1d's `input.dim() != 2 and
  // input.dim() != 3`). When neither branch has side effects or produces
  // tensors, both are imported and a `jit.if_else` node picks the result.
  static bool is_scalar_logic(const TsBlock* b) {
    for (const TsNode* n : b->nodes()) {
      c10::Symbol k = n->kind();
      if (n->hasSideEffects() || k == c10::prim::CallMethod || k == c10::prim::CallFunction ||
          k == c10::prim::Loop)
        return false;
      for (const TsValue* o : n->outputs())
        if (type_has_tensor(o->type())) return false;
      for (const TsBlock* inner : n->blocks())
        if (!is_scalar_logic(inner)) return false;
    }
    for (const TsValue* o : b->outputs())
      if (type_has_tensor(o->type())) return false;
    return true;
  }

  void select(const TsNode* n, Env& env, const ValPtr& cond) {
    const std::string if_else = if_else_function();
    Argument c = to_argument(*cond, nullptr, n);
    std::vector<ValPtr> branch[2];
    for (int b = 0; b < 2; ++b) {
      walk_block(n->blocks()[b], env);
      for (const TsValue* o : n->blocks()[b]->outputs()) branch[b].push_back(lookup(env, o));
    }
    std::optional<c10::IValue> example = example_scalar(*cond, true);
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      Node* pick = graph_->call_function(if_else, {c, to_argument(*branch[0][i], nullptr, n),
                                                   to_argument(*branch[1][i], nullptr, n)});
      annotate(pick, n);
      ValPtr v = node_val(pick);
      if (example) {
        const Val& chosen = *branch[example->toBool() ? 0 : 1][i];
        v->has_example = example_of(chosen, n->output(i)->type(), &v->example);
        v->example_device = device_of(chosen);
      }
      env[n->output(i)] = v;
    }
  }

  // Why a condition (or trip count) that is only known at run time cannot be imported.
  std::string not_known_message(const std::string& what) const {
    std::string msg = what +
                      " a value that is only known when the model runs; fx graphs have no "
                      "control flow. ";
    if (shared_.examples)
      msg +=
          "It depends on tensor data (or on an operator that cannot run on meta tensors), "
          "which the example inputs' shapes, dtypes and devices do not decide. ";
    else
      msg +=
          "If it depends only on the inputs' shapes, dtypes or devices, give example inputs "
          "(ImportOptions::example_inputs; fxjit: --input) and the import follows them, "
          "checking at run time that later inputs agree. ";
    return msg +
           "Otherwise make the condition a constant or a module attribute, trace the model "
           "(torch.jit.trace) instead of scripting it, or move the branch out of the model";
  }

  static bool block_raises(const TsBlock* b) {
    for (const TsNode* n : b->nodes())
      if (n->kind() == c10::prim::RaiseException) return true;
    return false;
  }

  // "ValueError: expected 4D input (got {}D input)", from constants only.
  static std::string raise_message(const TsNode* raise) {
    if (!raise) return "exception";
    auto constant_string = [](const TsValue* v) -> std::string {
      if (v->node()->kind() == c10::prim::Constant) {
        auto iv = torch::jit::toIValue(v);
        if (iv && iv->isString()) return iv->toStringRef();
      }
      if (v->node()->kind() == c10::aten::format && v->node()->inputs().size() > 0) {
        auto iv = torch::jit::toIValue(v->node()->input(0));
        if (iv && iv->isString()) return iv->toStringRef();
      }
      return "";
    };
    std::string msg = raise->inputs().size() > 0 ? constant_string(raise->input(0)) : "";
    std::string cls = raise->inputs().size() > 1 ? constant_string(raise->input(1)) : "";
    if (cls.rfind("builtins.", 0) == 0) cls = cls.substr(9);
    // `assert c, m` raises ("AssertionError: m", None).
    while (!msg.empty() && (msg.back() == ' ' || msg.back() == ':')) msg.pop_back();
    if (cls.empty()) return msg.empty() ? "Exception" : msg;
    return msg.empty() ? cls : cls + ": " + msg;
  }

  void walk_loop(const TsNode* n, Env& env) {
    ValPtr trips = lookup(env, n->input(0));
    ValPtr cond = lookup(env, n->input(1));
    // A trip count or condition known only at run time is followed on the
    // example inputs, under a run-time check (Note [Assumptions]).
    auto known_or_assumed = [&](const TsValue* ts, const ValPtr& v, bool want_bool,
                                const char* what) -> c10::IValue {
      if (v->literal() && (want_bool ? v->known.isBool() : v->known.isInt())) return v->known;
      std::optional<c10::IValue> example = example_scalar(*v, want_bool);
      if (!example)
        fail(n, not_known_message(std::string("prim::Loop's ") + what + " is") +
                    " (only loops whose trip count and condition are known can be unrolled)");
      assume(n, ts, v, *example);
      return *example;
    };
    const int64_t trip_count = known_or_assumed(n->input(0), trips, false, "trip count").toInt();
    const TsBlock* body = n->blocks()[0];
    std::vector<ValPtr> carried = inputs_of(n, env, 2);
    bool go = known_or_assumed(n->input(1), cond, true, "condition").toBool();
    for (int64_t i = 0; go && i < trip_count; ++i) {
      if (i == kMaxUnroll)
        fail(n, "prim::Loop runs more than " + std::to_string(kMaxUnroll) +
                    " iterations; fx would unroll it into a graph that large");
      env[body->inputs()[0]] = known_val(i);
      for (size_t j = 0; j < carried.size(); ++j) env[body->inputs()[j + 1]] = carried[j];
      walk_block(body, env);
      go = known_or_assumed(body->outputs()[0], lookup(env, body->outputs()[0]), true,
                            "condition")
               .toBool();
      for (size_t j = 0; j < carried.size(); ++j) carried[j] = lookup(env, body->outputs()[j + 1]);
    }
    for (size_t j = 0; j < carried.size(); ++j) env[n->output(j)] = carried[j];
  }

  // Note [Assumptions]
  // With example inputs (ImportOptions::example_inputs), every value the
  // graph computes carries what it is on those inputs: the operators run once
  // during import on meta tensors, so sizes, dtypes, strides and
  // requires_grad are exact while no data exists (devices are followed
  // alongside). A condition that is not known at import time but has an
  // example (`src.dim() != 3`, `key_padding_mask is None`, `query is key`, a
  // trip count `range(x.size(0))`) picks its branch from the example, and the
  // graph checks at run time that the condition still comes out that way
  // (an aten::_assert_scalar whose meta["assumption"] states it), so a call
  // that breaks the assumption is an error rather than a wrong result. A
  // condition on tensor data has no example (reading a meta tensor's data
  // fails) and stays an import error.

  static bool all_literal(const std::vector<ValPtr>& vs) {
    for (const ValPtr& v : vs)
      if (!v->literal()) return false;
    return true;
  }

  // `xs.append(x)` on a list this import built: the list grows in place (every
  // alias of it is the same Val).
  void append(Val& list, const ValPtr& item) {
    if (list.kind == Val::Kind::kKnown && item->literal()) {
      list.known.toList().push_back(item->known);
      return;
    }
    if (list.kind == Val::Kind::kKnown) {
      for (const c10::IValue& e : list.known.toListRef()) list.items.push_back(known_val(e));
      list.kind = Val::Kind::kSeq;
      list.known = c10::IValue();
    }
    list.items.push_back(item);
  }

  // The meta tensor for t: one per real tensor when `remember` (inputs and
  // attributes, whose identity matters), else a new one (results of operators,
  // which are not kept alive for it).
  at::Tensor meta_of(const at::Tensor& t, bool remember = true) {
    if (!t.defined() || t.is_meta()) return t;
    if (!remember) {
      at::Tensor m = at::empty_strided(t.sizes(), t.strides(), t.options().device(c10::kMeta));
      if (t.requires_grad()) m.requires_grad_(true);
      return m;
    }
    auto& entry = shared_.meta[t.unsafeGetTensorImpl()];
    if (!entry.second.defined()) {
      at::Tensor m = at::empty_strided(t.sizes(), t.strides(), t.options().device(c10::kMeta));
      if (t.requires_grad()) m.requires_grad_(true);
      entry = {t, m};
    }
    return entry.second;
  }

  c10::IValue to_meta(const c10::IValue& v, bool remember = true) {
    if (v.isTensor()) return meta_of(v.toTensor(), remember);
    if (v.isList()) {
      c10::impl::GenericList out(v.toList().elementType());
      for (const c10::IValue& e : v.toListRef()) out.push_back(to_meta(e, remember));
      return out;
    }
    if (v.isTuple()) {
      std::vector<c10::IValue> items;
      for (const c10::IValue& e : v.toTupleRef().elements()) items.push_back(to_meta(e, remember));
      return c10::ivalue::Tuple::create(std::move(items));
    }
    return v;
  }

  static std::optional<c10::Device> first_device(const c10::IValue& v) {
    if (v.isTensor())
      return v.toTensor().defined() ? std::optional<c10::Device>(v.toTensor().device())
                                    : std::nullopt;
    if (v.isList())
      for (const c10::IValue& e : v.toListRef())
        if (auto d = first_device(e)) return d;
    if (v.isTuple())
      for (const c10::IValue& e : v.toTupleRef().elements())
        if (auto d = first_device(e)) return d;
    return std::nullopt;
  }

  // v's example is a real value given by the caller (an example input, a default).
  void set_example(Val& v, const c10::IValue& real) {
    try {
      v.example = to_meta(real);
    } catch (const c10::Error&) {  // nested or sparse tensors: no example
      return;
    }
    v.has_example = true;
    v.example_device = first_device(real).value_or(c10::Device(c10::kCPU));
  }

  // What v is on the example inputs (tensors as meta tensors); false when
  // that is not known. type is v's TorchScript type (for lists it builds).
  bool example_of(const Val& v, const c10::TypePtr& type, c10::IValue* out) {
    switch (v.kind) {
      case Val::Kind::kKnown:
        *out = v.attr.empty() ? v.known : to_meta(v.known);
        return true;
      case Val::Kind::kNode:
        if (!v.has_example) return false;
        *out = v.example;
        return true;
      case Val::Kind::kSeq: {
        c10::TypePtr t = unwrap_optional(type);
        std::vector<c10::IValue> items;
        for (size_t i = 0; i < v.items.size(); ++i) {
          c10::TypePtr et;
          if (t && t->kind() == c10::TypeKind::ListType) et = t->containedType(0);
          if (t && t->kind() == c10::TypeKind::TupleType && i < t->containedTypes().size())
            et = t->containedType(i);
          c10::IValue e;
          if (!example_of(*v.items[i], et, &e)) return false;
          items.push_back(std::move(e));
        }
        if (v.tuple) {
          *out = c10::ivalue::Tuple::create(std::move(items));
          return true;
        }
        if (!t || t->kind() != c10::TypeKind::ListType) return false;
        c10::impl::GenericList list(t->containedType(0));
        for (c10::IValue& e : items) list.push_back(std::move(e));
        *out = std::move(list);
        return true;
      }
      default:
        return false;
    }
  }

  // The device of v's tensors (the first one's), CPU when it has none.
  c10::Device device_of(const Val& v) const {
    const c10::Device cpu(c10::kCPU);
    switch (v.kind) {
      case Val::Kind::kKnown:
        return first_device(v.known).value_or(cpu);
      case Val::Kind::kNode:
        return v.example_device;
      case Val::Kind::kSeq:
        for (const ValPtr& item : v.items)
          if (item->kind != Val::Kind::kKnown || first_device(item->known))
            return device_of(*item);
        return cpu;
      default:
        return cpu;
    }
  }

  // Runs n on the examples of ins and gives outs (n's results) their examples.
  // Nothing happens without example inputs or when an input has no example;
  // an operator that fails on meta tensors (it reads data, or has no meta
  // kernel) leaves its results without one.
  void run_example(const TsNode* n, const std::vector<ValPtr>& ins,
                   const std::vector<ValPtr>& outs) {
    if (!shared_.examples || n->hasSideEffects()) return;
    using namespace c10;
    torch::jit::Stack stack;
    std::optional<Device> device, explicit_device;
    bool makes_tensors = false;
    for (const TsValue* o : n->outputs())
      makes_tensors = makes_tensors || type_has_tensor(o->type());
    for (size_t i = 0; i < ins.size(); ++i) {
      c10::IValue e;
      if (!example_of(*ins[i], n->input(i)->type(), &e)) return;
      if (e.isDevice() && makes_tensors) {
        // Tensors are made on the meta device; the device they would be on is followed here.
        if (!explicit_device) explicit_device = e.toDevice();
        e = Device(kMeta);
      } else if (!device && ivalue_has_tensor(e)) {
        device = device_of(*ins[i]);
      }
      stack.push_back(std::move(e));
    }
    const Device where = explicit_device.value_or(device.value_or(Device(kCPU)));
    // What these read of a meta tensor is the meta device, not the one followed.
    static const Symbol kIsCpu = Symbol::fromQualString("prim::is_cpu");
    static const Symbol kIsMeta = Symbol::fromQualString("prim::is_meta");
    const Symbol kind = n->kind();
    if (kind == prim::device || kind == prim::is_cuda || kind == kIsCpu || kind == kIsMeta) {
      if (outs.size() != 1 || ins.empty()) return;
      const Device d = device_of(*ins[0]);
      outs[0]->example = kind == prim::device    ? c10::IValue(d)
                         : kind == prim::is_cuda ? c10::IValue(d.is_cuda())
                         : kind == kIsCpu        ? c10::IValue(d.is_cpu())
                                                 : c10::IValue(d.is_meta());
      outs[0]->has_example = true;
      return;
    }
    const FunctionSchema* schema = n->maybeSchema();
    if (schema && schema->is_vararg()) stack.emplace_back(static_cast<int64_t>(ins.size()));
    const torch::jit::Stack args = stack;
    try {
      n->getOperation()(stack);
    } catch (const std::exception&) {
      if (!run_on_zeros(n, args, &stack)) return;
    }
    if (stack.size() != outs.size()) return;
    for (size_t i = 0; i < outs.size(); ++i) {
      try {
        outs[i]->example = to_meta(stack[i], /*remember=*/false);
      } catch (const c10::Error&) {
        continue;
      }
      outs[i]->has_example = true;
      outs[i]->example_device = where;
    }
  }

  // LibTorch's C++ build lacks meta kernels for some operators
  // (aten::native_layer_norm, aten::native_batch_norm): those run once on
  // CPU tensors of zeros shaped like the examples, when that cannot turn data
  // into a decision: only operators whose results are all tensors, and not
  // those whose result shapes depend on data (nonzero, unique, boolean
  // indexing, ...).
  static bool shape_follows_metadata(const TsNode* n) {
    static const std::unordered_set<std::string> kDataShaped = {
        "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::unique",
        "aten::_unique", "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim",
        "aten::unique_dim_consecutive", "aten::masked_select", "aten::index",
        "aten::repeat_interleave", "aten::bincount", "aten::tensor_split",
        "aten::_nested_tensor_from_mask", "aten::histc", "aten::histogram"};
    if (kDataShaped.count(n->kind().toQualString())) return false;
    if (n->outputs().empty()) return false;
    for (const TsValue* o : n->outputs()) {
      c10::TypePtr t = unwrap_optional(o->type());
      if (t->kind() == c10::TypeKind::ListType) t = t->containedType(0);
      if (t->kind() != c10::TypeKind::TensorType) return false;
    }
    return true;
  }

  bool run_on_zeros(const TsNode* n, const torch::jit::Stack& args, torch::jit::Stack* out) {
    if (!shape_follows_metadata(n)) return false;
    std::unordered_map<const c10::TensorImpl*, at::Tensor> real;
    std::function<c10::IValue(const c10::IValue&)> materialize = [&](const c10::IValue& v) {
      if (v.isTensor() && v.toTensor().is_meta()) {
        const at::Tensor& m = v.toTensor();
        at::Tensor& r = real[m.unsafeGetTensorImpl()];
        if (!r.defined()) {
          r = at::empty_strided(m.sizes(), m.strides(), m.options().device(c10::kCPU)).zero_();
          if (m.requires_grad()) r.requires_grad_(true);
        }
        return c10::IValue(r);
      }
      if (v.isDevice() && v.toDevice().is_meta()) return c10::IValue(c10::Device(c10::kCPU));
      if (v.isList()) {
        c10::impl::GenericList list(v.toList().elementType());
        for (const c10::IValue& e : v.toListRef()) list.push_back(materialize(e));
        return c10::IValue(list);
      }
      if (v.isTuple()) {
        std::vector<c10::IValue> items;
        for (const c10::IValue& e : v.toTupleRef().elements()) items.push_back(materialize(e));
        return c10::IValue(c10::ivalue::Tuple::create(std::move(items)));
      }
      return v;
    };
    torch::jit::Stack stack;
    for (const c10::IValue& a : args) stack.push_back(materialize(a));
    try {
      n->getOperation()(stack);
    } catch (const std::exception&) {
      return false;
    }
    *out = std::move(stack);
    return true;
  }

  // Element i of v's example, for a getitem of v.
  static void example_item(const Val& whole, int64_t i, Val& part) {
    if (!whole.has_example) return;
    const c10::IValue& e = whole.example;
    std::vector<c10::IValue> items;
    if (e.isTuple()) {
      items = e.toTupleRef().elements().vec();
    } else if (e.isList()) {
      items = e.toListRef().vec();
    } else {
      return;
    }
    int64_t size = static_cast<int64_t>(items.size());
    if (i < 0) i += size;
    if (i < 0 || i >= size) return;
    part.example = items[i];
    part.has_example = true;
    part.example_device = whole.example_device;
  }

  // What a call's arguments are on the example inputs, as a string: a child
  // module imported for one signature is reused only by calls with the same.
  std::string signature(const std::vector<ValPtr>& args, const TsNode* n) {
    std::ostringstream os;
    std::unordered_map<const c10::TensorImpl*, size_t> ids;
    std::function<void(const c10::IValue&)> describe = [&](const c10::IValue& e) {
      if (e.isTensor() && !e.toTensor().defined()) {
        os << "undefined";
      } else if (e.isTensor()) {
        const at::Tensor& t = e.toTensor();
        auto id = ids.emplace(t.unsafeGetTensorImpl(), ids.size()).first->second;
        os << "T#" << id << t.sizes() << t.strides() << t.scalar_type() << t.requires_grad();
      } else if (e.isList() || e.isTuple()) {
        os << "[";
        auto items = e.isList() ? e.toListRef().vec() : e.toTupleRef().elements().vec();
        for (const c10::IValue& x : items) {
          describe(x);
          os << ",";
        }
        os << "]";
      } else if (e.isNone() || e.isBool() || e.isInt() || e.isDouble() || e.isString() ||
                 e.isDevice()) {
        os << e;
      } else {
        os << e.tagKind();
      }
    };
    for (size_t i = 0; i < args.size(); ++i) {
      c10::IValue e;
      if (!example_of(*args[i], n->input(i + 1)->type(), &e)) {
        os << "?;";
        continue;
      }
      describe(e);
      os << "@" << device_of(*args[i]) << ";";
    }
    return os.str();
  }

  // Adds the run-time check of an assumption: that `value` (v, not known at
  // import time) is `expected` again. `at` is the prim::If or prim::Loop that
  // relied on it.
  void assume(const TsNode* at, const TsValue* value, const ValPtr& v,
              const c10::IValue& expected) {
    Argument actual = to_argument(*v, nullptr, at);
    const TsNode* where = value->node();
    std::string expr = source_text(where);
    if (expr.empty()) {
      // prim::isinstance, prim::is_nested and friends keep no source: they are
      // spelled from the node (`isinstance(shift, Tensor)`, `src.is_nested`),
      // others by their statement's first line.
      where = at;
      const TsNode* cond = value->node();
      const std::string op = cond->kind().toUnqualString();
      std::string arg = cond->inputs().size() == 1 && cond->input(0)->hasDebugName()
                            ? base_name(cond->input(0)->debugName())
                            : "";
      if (!arg.empty() && cond->kind() == c10::prim::isinstance) {
        expr = "isinstance(" + arg;
        for (const c10::TypePtr& t : cond->tys(c10::attr::types)) expr += ", " + t->repr_str();
        expr += ")";
      } else if (!arg.empty() && cond->kind().is_prim() && op.rfind("is_", 0) == 0) {
        expr = arg + "." + op;  // `src.is_nested`
      } else {
        expr = source_text(at);
      }
      expr = expr.substr(0, expr.find('\n'));
      for (const char* keyword : {"if ", "elif ", "while ", "for "})
        if (expr.rfind(keyword, 0) == 0) expr = expr.substr(std::string(keyword).size());
      while (!expr.empty() && (expr.back() == ':' || expr.back() == ' ')) expr.pop_back();
      if (expr.empty()) expr = node_text(value->node());
    }
    // One line: `not all(x.device.type in _supported_device_type for x in tensor_args)`.
    std::string line;
    for (char c : expr) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!line.empty() && line.back() != ' ' && line.back() != '(' && line.back() != '[')
          line += ' ';
      } else {
        if (!line.empty() && line.back() == ' ' && (c == ')' || c == ']')) line.pop_back();
        line += c;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.size() > 160) line = line.substr(0, 157) + "...";
    expr = line;
    std::ostringstream claim;
    claim << "`" << expr << "` is " << (expected.isBool() ? (expected.toBool() ? "True" : "False")
                                                          : c10::str(expected));
    Argument ok = actual;
    if (expected.isBool()) {
      if (!expected.toBool()) {
        static const std::string kNot = jit_function(jit_operator("aten::__not__", ""));
        Node* neg = graph_->create_node(Op::CallFunction, kNot, {actual}, {}, std::string("not_"));
        annotate(neg, at);
        ok = neg;
      }
    } else {
      static const std::string kEq = jit_function(jit_operator("aten::eq", "int"));
      Node* eq = graph_->create_node(Op::CallFunction, kEq, {actual, expected.toInt()}, {},
                                     std::string("eq"));
      annotate(eq, at);
      ok = eq;
    }
    std::string msg = "the model was imported for inputs where " + claim.str() + " (" +
                      location(where) +
                      "), as it is for the example inputs, and these inputs differ; import it "
                      "again with example inputs like them";
    Node* check = graph_->call_function("aten::_assert_scalar", {ok, msg});
    check->meta().set<std::string>("assumption", claim.str() + " (" + location(where) + ")");
    annotate(check, at);
  }

  // The example of a condition or trip count that is not known at import time.
  static std::optional<c10::IValue> example_scalar(const Val& v, bool want_bool) {
    if (v.kind != Val::Kind::kNode || !v.has_example) return std::nullopt;
    if (want_bool ? v.example.isBool() : v.example.isInt()) return v.example;
    return std::nullopt;
  }

  // `x is None` where x is a Tensor computed by the graph is known: False.
  void walk_is(const TsNode* n, Env& env) {
    std::vector<ValPtr> ins = inputs_of(n, env);
    if (ins[0]->kind == Val::Kind::kKnown && ins[1]->kind == Val::Kind::kKnown)
      return evaluate(n, env, ins);
    // `query is key` on one value passed twice.
    if (ins[0] == ins[1] ||
        (ins[0]->kind == Val::Kind::kNode && ins[0]->node && ins[0]->node == ins[1]->node)) {
      env[n->output()] = known_val(n->kind() == c10::aten::__is__);
      return;
    }
    for (int i = 0; i < 2; ++i) {
      const ValPtr& other = ins[1 - i];
      c10::TypeKind k = n->input(i)->type()->kind();
      if (other->literal() && other->known.isNone() && k != c10::TypeKind::OptionalType &&
          k != c10::TypeKind::NoneType && k != c10::TypeKind::AnyType) {
        env[n->output()] = known_val(n->kind() == c10::aten::__isnot__);
        return;
      }
    }
    walk_operator(n, env);
  }

  static bool decided_by_one(const Val& list, bool item) {
    if (list.kind != Val::Kind::kSeq) return false;
    for (const ValPtr& v : list.items)
      if (v->literal() && v->known.isBool() && v->known.toBool() == item) return true;
    return false;
  }

  // `isinstance(x, T)`: evaluated when x is known or its static type decides
  // it; on an Optional[T] known only at run time it is `x is not None`.
  void walk_isinstance(const TsNode* n, Env& env) {
    ValPtr v = lookup(env, n->input(0));
    if (v->kind == Val::Kind::kKnown) return evaluate(n, env, {v});
    const std::vector<c10::TypePtr>& types = n->tys(c10::attr::types);
    auto is_instance = [&](const c10::TypePtr& t) {
      for (const c10::TypePtr& candidate : types)
        if (t->isSubtypeOf(*candidate)) return true;
      return false;
    };
    const c10::TypePtr type = n->input(0)->type();
    if (is_instance(type)) {
      env[n->output()] = known_val(true);
      return;
    }
    if (type->kind() == c10::TypeKind::OptionalType && is_instance(type->containedType(0)) &&
        !is_instance(c10::NoneType::get())) {
      static const std::string kIsNot = jit_function(jit_operator("aten::__isnot__", ""));
      Node* node = graph_->create_node(Op::CallFunction, kIsNot,
                                       {to_argument(*v, nullptr, n), Argument()}, {},
                                       std::string("isinstance"));
      annotate(node, n);
      ValPtr out = node_val(node);
      if (v->kind == Val::Kind::kNode && v->has_example) {
        out->has_example = true;
        out->example = !v->example.isNone();
      }
      env[n->output()] = out;
      return;
    }
    fail(n, "isinstance on a value of type " + type->repr_str() +
                " that is only known when the model runs");
  }

  // Runs n now on known inputs.
  void evaluate(const TsNode* n, Env& env, const std::vector<ValPtr>& ins) {
    torch::jit::Stack stack;
    for (const ValPtr& v : ins) stack.push_back(v->known);
    const c10::FunctionSchema* schema = n->maybeSchema();
    if (schema && schema->is_vararg()) stack.emplace_back(static_cast<int64_t>(ins.size()));
    try {
      n->getOperation()(stack);
    } catch (const c10::Error& e) {
      fail(n, std::string("evaluating it on values known at import time failed: ") +
                  e.what_without_backtrace());
    }
    FX_INTERNAL_ASSERT(stack.size() == n->outputs().size(), "operator left an unexpected stack");
    for (size_t i = 0; i < stack.size(); ++i) env[n->output(i)] = known_val(std::move(stack[i]));
  }

  void walk_operator(const TsNode* n, Env& env) {
    std::vector<ValPtr> ins = inputs_of(n, env);
    const c10::FunctionSchema* schema = n->maybeSchema();
    if (!schema)
      fail(n, std::string(n->kind().toQualString()) + " is not supported by TorchScript import");
    // Queries of the thread's state are answered for the import (Note
    // [Assumptions] says why grad mode is an option rather than a check).
    if (reads_thread_state(n)) return evaluate(n, env, ins);
    bool foldable = !n->hasSideEffects() && !schema->is_mutable();
    // The module's own tensors are fixed at import, so what an operator reads
    // of them other than data (dtype, device, rank, ...) is known too.
    const bool metadata = reads_metadata_only(n);
    for (const ValPtr& v : ins)
      foldable = foldable && (v->literal() || (metadata && v->kind == Val::Kind::kKnown));
    for (const TsValue* o : n->outputs()) foldable = foldable && !type_has_tensor(o->type());
    if (foldable) return evaluate(n, env, ins);
    Node* node = emit_operator(n, ins);
    std::vector<ValPtr> outs;
    if (n->outputs().size() == 1) {
      outs.push_back(node_val(node));
    } else {
      // Unused results get no getitem node (and their Val is never looked up).
      for (size_t i = 0; i < n->outputs().size(); ++i)
        outs.push_back(n->output(i)->hasUses() ? getitem(node, static_cast<int64_t>(i))
                                               : std::make_shared<Val>());
    }
    run_example(n, ins, outs);
    for (size_t i = 0; i < outs.size(); ++i) env[n->output(i)] = outs[i];
  }

  static bool reads_thread_state(const TsNode* n) {
    static const std::unordered_set<std::string> kNames = {
        "aten::is_grad_enabled", "aten::is_autocast_enabled", "aten::is_autocast_cpu_enabled",
        "aten::is_inference_mode_enabled"};
    return n->inputs().empty() && kNames.count(n->kind().toQualString()) != 0;
  }

  // Operators that read a tensor's metadata and never its data.
  static bool reads_metadata_only(const TsNode* n) {
    using namespace c10;
    static const std::unordered_set<std::string> kNames = {
        "prim::dtype",   "prim::device", "prim::requires_grad", "prim::is_nested",
        "prim::is_cuda", "prim::is_cpu", "prim::is_meta",       "prim::layout",
        "aten::dim",     "aten::size",   "aten::is_floating_point", "aten::numel",
        "aten::stride",  "aten::is_complex"};
    return kNames.count(n->kind().toQualString()) != 0;
  }

  // A call_function node for operator n applied to ins.
  Node* emit_operator(const TsNode* n, const std::vector<ValPtr>& ins) {
    const c10::FunctionSchema* schema = n->maybeSchema();
    const auto& formals = schema->arguments();
    for (size_t i = 0; i < formals.size() && i < ins.size(); ++i) {
      const c10::AliasInfo* alias = formals[i].alias_info();
      c10::TypeKind k = n->input(i)->type()->kind();
      if (alias && alias->isWrite() &&
          (k == c10::TypeKind::ListType || k == c10::TypeKind::DictType))
        fail(n, std::string(n->kind().toQualString()) + " changes its argument '" +
                    formals[i].name() + "' (a " + n->input(i)->type()->repr_str() +
                    ") in place; fx graphs only support in-place operators on tensors");
    }

    std::string target = schema->name();
    if (!schema->overload_name().empty()) target += "." + schema->overload_name();
    Node* node = nullptr;
    if (c10::Dispatcher::singleton().findSchema({schema->name(), schema->overload_name()})) {
      Args args;
      std::vector<bool> is_default;
      Kwargs kwargs;
      for (size_t i = 0; i < ins.size(); ++i) {
        const c10::Argument* formal = i < formals.size() ? &formals[i] : nullptr;
        Argument a = to_argument(*ins[i], formal ? formal->real_type() : nullptr, n);
        bool dflt = formal && formal->default_value() && ins[i]->literal() &&
                    same_literal(ins[i]->known, *formal->default_value());
        if (formal && formal->kwarg_only()) {
          if (!dflt) kwargs.emplace_back(formal->name(), std::move(a));
        } else {
          args.push_back(std::move(a));
          is_default.push_back(dflt);
        }
      }
      while (!is_default.empty() && is_default.back()) {
        args.pop_back();
        is_default.pop_back();
      }
      node = graph_->call_function(target, std::move(args), std::move(kwargs));
    } else {
      const torch::jit::Operator* op = n->maybeOperator();
      if (!op || !op->hasOperation())
        fail(n, "operator " + target +
                    " is neither a dispatcher operator nor a TorchScript "
                    "operator fx can call");
      Args args;
      for (const ValPtr& v : ins) args.push_back(to_argument(*v, nullptr, n));
      node = graph_->create_node(
          Op::CallFunction, jit_function(*op), std::move(args), {},
          default_node_name(false, schema->name().substr(schema->name().find("::") + 2)));
    }
    annotate(node, n);
    return node;
  }

  // The parts of a tuple or list value with `count` elements.
  std::vector<ValPtr> unpack(const TsNode* n, const ValPtr& src, size_t count) {
    std::vector<ValPtr> out;
    if (src->kind == Val::Kind::kSeq) {
      if (src->items.size() != count)
        fail(n, "unpacks " + std::to_string(count) + " values from a sequence of " +
                    std::to_string(src->items.size()));
      return src->items;
    }
    if (src->literal()) {
      std::vector<c10::IValue> parts = src->known.isTuple()
                                           ? src->known.toTupleRef().elements().vec()
                                           : src->known.toListRef().vec();
      if (parts.size() != count)
        fail(n, "unpacks " + std::to_string(count) + " values from a sequence of " +
                    std::to_string(parts.size()));
      for (auto& p : parts) out.push_back(known_val(p));
      return out;
    }
    Argument whole = to_argument(*src, nullptr, n);
    for (size_t i = 0; i < count; ++i) {
      Node* g = graph_->call_function("getitem", {whole, static_cast<int64_t>(i)});
      annotate(g, n);
      out.push_back(node_val(g));
      example_item(*src, static_cast<int64_t>(i), *out.back());
    }
    return out;
  }

  ValPtr item(const TsNode* n, const ValPtr& src, int64_t index) {
    if (src->kind == Val::Kind::kSeq) {
      int64_t size = static_cast<int64_t>(src->items.size());
      int64_t i = index < 0 ? index + size : index;
      if (i < 0 || i >= size)
        fail(n, "index " + std::to_string(index) + " is out of range for a sequence of " +
                    std::to_string(size));
      return src->items[i];
    }
    Node* g = graph_->call_function("getitem", {to_argument(*src, nullptr, n), index});
    annotate(g, n);
    ValPtr v = node_val(g);
    example_item(*src, index, *v);
    return v;
  }

  ValPtr getitem(Node* whole, int64_t i) {
    return node_val(graph_->call_function("getitem", {whole, i}));
  }

  // v as an fx argument for a formal of TorchScript type `type` (null: unknown).
  Argument to_argument(Val& v, const c10::TypePtr& type, const TsNode* user = nullptr) {
    switch (v.kind) {
      case Val::Kind::kNode:
        if (!v.node) v.node = emit_operator(v.pending, v.pending_inputs);
        return v.node;
      case Val::Kind::kKnown:
        if (!v.attr.empty()) {
          if (!v.node) {
            Node*& cached = get_attr_nodes_[v.attr];
            if (!cached) {
              cached = graph_->get_attr(v.attr);
              attrs_.values[v.attr] = v.known;
            }
            v.node = cached;
          }
          return v.node;
        }
        return literal(v.known, type, user);
      case Val::Kind::kSeq: {
        c10::TypePtr t = unwrap_optional(type);
        c10::TypePtr elem =
            t && t->kind() == c10::TypeKind::ListType ? t->containedType(0) : nullptr;
        std::vector<Argument> items;
        for (size_t i = 0; i < v.items.size(); ++i) {
          c10::TypePtr et = elem;
          if (t && t->kind() == c10::TypeKind::TupleType && i < t->containedTypes().size())
            et = t->containedType(i);
          items.push_back(to_argument(*v.items[i], et, user));
        }
        return v.tuple ? Argument::tuple(std::move(items)) : Argument::list(std::move(items));
      }
      case Val::Kind::kModule:
        fail(user, "passes module '" + v.path + "' as a value; fx can only call modules");
      case Val::Kind::kFunction:
        fail(user, "passes a function as a value; fx can only call functions");
      case Val::Kind::kUninitialized:
        fail(user,
             "uses a value that TorchScript leaves uninitialized (prim::Uninitialized) on the "
             "path the import follows");
    }
    FX_INTERNAL_ASSERT(false, "unknown value kind");
  }

  Argument literal(const c10::IValue& iv, const c10::TypePtr& type, const TsNode* user) {
    c10::TypePtr t = unwrap_optional(type);
    if (iv.isNone()) return Argument();
    if (iv.isBool()) return iv.toBool();
    if (iv.isInt()) {
      int64_t i = iv.toInt();
      if (t && t->kind() == c10::TypeKind::ScalarTypeType) return static_cast<c10::ScalarType>(i);
      if (t && t->kind() == c10::TypeKind::LayoutType) return static_cast<c10::Layout>(i);
      if (t && t->kind() == c10::TypeKind::MemoryFormatType)
        return static_cast<c10::MemoryFormat>(i);
      return i;
    }
    if (iv.isDouble()) return iv.toDouble();
    if (iv.isString()) return iv.toStringRef();
    if (iv.isDevice()) return iv.toDevice();
    if (iv.isTensor()) return iv.toTensor();
    if (iv.isList() || iv.isTuple()) {
      c10::TypePtr elem = t && t->kind() == c10::TypeKind::ListType ? t->containedType(0) : nullptr;
      std::vector<Argument> items;
      for (const c10::IValue& e :
           iv.isList() ? iv.toListRef().vec() : iv.toTupleRef().elements().vec())
        items.push_back(literal(e, elem, user));
      return iv.isList() ? Argument::list(std::move(items)) : Argument::tuple(std::move(items));
    }
    fail(user, "a value of type " + iv.type()->repr_str() + " cannot be an fx argument");
  }

  // Records where in the TorchScript source a node came from (FX's stack_trace).
  static void annotate(Node* node, const TsNode* from) {
    auto flc = source_of(from).file_line_col();
    if (flc)
      node->meta().set<std::string>("stack_trace", "File \"" + std::get<0>(*flc) + "\", line " +
                                                       std::to_string(std::get<1>(*flc)));
  }

  const torch::jit::Module& root_;
  std::string scope_;  // the root's path from the module import_torchscript was given
  Shared& shared_;
  const std::vector<ValPtr>* call_args_;
  ValPtr output_;
  std::unique_ptr<Graph> graph_;
  Attributes attrs_;
  std::unordered_map<std::string, Node*> get_attr_nodes_;
  std::vector<std::string> call_stack_;
};

}  // namespace

std::unique_ptr<GraphModule> import_torchscript(const torch::jit::Module& module,
                                                ImportOptions options) {
  Shared shared;
  shared.options = std::move(options);
  shared.examples = !shared.options.example_inputs.empty();
  ImportScope scope;
  // `torch.is_grad_enabled()` in the model is decided by options.grad_enabled,
  // and the examples' requires_grad follows it.
  c10::AutoGradMode grad_mode(shared.options.grad_enabled);
  try {
    return Importer(module, "", shared).run();
  } catch (const c10::Error& e) {
    throw TraceError(std::string("cannot import TorchScript module: ") +
                     e.what_without_backtrace());
  }
}

std::unique_ptr<GraphModule> load_torchscript(const std::string& path, ImportOptions options) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    throw TraceError("cannot load TorchScript module '" + path +
                     "': " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    // torch::jit::ErrorReport (code in the archive that does not compile) is
    // not a c10::Error, and some carry no message.
    std::string why = e.what();
    throw TraceError("cannot load TorchScript module '" + path +
                     "': " + (why.empty() ? "LibTorch rejected it without a message" : why));
  }
  return import_torchscript(module, options);
}

}  // namespace fx
