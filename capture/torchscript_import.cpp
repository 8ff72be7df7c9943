// TorchScript import: walks a module's stored forward graph (and, inlined,
// the methods and functions it calls) node by node and emits fx nodes. Values
// known at import time (constants, non-tensor attributes, results of
// operators on them) are evaluated here, so flags such as `self.training`
// select branches instead of becoming control flow. No TorchScript pass runs
// and the TorchScript graphs are never modified.
#include "capture/torchscript_import.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

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

// State shared by the importers of one import_torchscript call.
struct Shared {
  ImportOptions options;
  // One GraphModule per submodule instance, however many calls and paths reach it.
  std::unordered_map<const c10::ivalue::Object*, std::shared_ptr<GraphModule>> imported;
};

// Imports one module's forward into one GraphModule.
class Importer {
 public:
  Importer(const torch::jit::Module& root, std::string scope, Shared& shared)
      : root_(root), scope_(std::move(scope)), shared_(shared), graph_(std::make_unique<Graph>()) {}

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
      inputs.push_back(node_val(graph_->placeholder(base_name(name), default_value)));
    }
    ValPtr out = walk_graph(*ts_graph, inputs, "forward");
    graph_->output(to_argument(*out, nullptr));
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
          env[n->output()] = known_val(std::move(list));
        }
        return;
      }
      auto v = std::make_shared<Val>();
      v->kind = Val::Kind::kSeq;
      v->tuple = kind == prim::TupleConstruct;
      v->items = std::move(items);
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
    } else if (kind == prim::RaiseException) {
      fail(n, "the model always raises here (" + raise_message(n) + ")");
    } else if (kind == prim::SetAttr) {
      fail(n, "prim::SetAttr assigns module attribute '" + n->s(attr::name) +
                  "'; an fx graph cannot change its module's attributes");
    } else if (kind == prim::Uninitialized || kind == prim::Enter || kind == prim::Exit ||
               kind == prim::fork || kind == aten::wait || kind == prim::DictConstruct ||
               kind == prim::CreateObject) {
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
      env[n->output()] = call_module(n, *receiver, args);
      return;
    }
    args.insert(args.begin(), receiver);
    const torch::jit::Function& fn = receiver->module.get_method(name).function();
    std::string label = receiver->path.empty() ? name : receiver->path + "." + name;
    bind_outputs(n, env, walk_graph(*torch::jit::toGraphFunction(fn).graph(), args, label));
  }

  ValPtr call_module(const TsNode* n, const Val& receiver, const std::vector<ValPtr>& args) {
    const c10::ivalue::Object* key = receiver.module._ivalue().get();
    auto it = shared_.imported.find(key);
    if (it == shared_.imported.end()) {
      std::string scope = scope_.empty() ? receiver.path : scope_ + "." + receiver.path;
      std::shared_ptr<GraphModule> gm = Importer(receiver.module, scope, shared_).run();
      it = shared_.imported.emplace(key, std::move(gm)).first;
    }
    attrs_.modules[receiver.path] = it->second;
    Args fx_args;
    for (const ValPtr& a : args) fx_args.push_back(to_argument(*a, nullptr, n));
    Node* node = graph_->call_module(receiver.path, std::move(fx_args));
    annotate(node, n);
    return node_val(node);
  }

  // Note [Guards]: `if cond: raise ...` is how TorchScript code checks its
  // inputs (BatchNorm's rank check, F.adaptive_avg_pool2d's size check). When
  // cond is only known at run time, the branch becomes a check that raises
  // the same way, and the other branch is imported unconditionally.
  void walk_if(const TsNode* n, Env& env) {
    ValPtr cond = lookup(env, n->input(0));
    const TsBlock* taken = nullptr;
    if (cond->literal() && cond->known.isBool()) {
      taken = n->blocks()[cond->known.toBool() ? 0 : 1];
    } else {
      bool raises[2] = {block_raises(n->blocks()[0]), block_raises(n->blocks()[1])};
      if (!raises[0] && !raises[1] && is_scalar_logic(n->blocks()[0]) &&
          is_scalar_logic(n->blocks()[1]))
        return select(n, env, cond);
      if (raises[0] == raises[1])
        fail(n,
             "prim::If branches on a value that is only known when the model runs; fx "
             "graphs have no control flow. Make the condition a constant or a module "
             "attribute, trace the model (torch.jit.trace) instead of scripting it, or move "
             "the branch out of the model");
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
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      Node* pick = graph_->call_function(if_else, {c, to_argument(*branch[0][i], nullptr, n),
                                                   to_argument(*branch[1][i], nullptr, n)});
      annotate(pick, n);
      env[n->output(i)] = node_val(pick);
    }
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
    auto data_dependent = [&](const char* what) {
      fail(n, std::string("prim::Loop's ") + what +
                  " is only known when the model runs; fx graphs have no control flow, so only "
                  "loops with a constant trip count and condition can be unrolled");
    };
    if (!trips->literal() || !trips->known.isInt()) data_dependent("trip count");
    if (!cond->literal() || !cond->known.isBool()) data_dependent("condition");
    const TsBlock* body = n->blocks()[0];
    std::vector<ValPtr> carried = inputs_of(n, env, 2);
    bool go = cond->known.toBool();
    for (int64_t i = 0; go && i < trips->known.toInt(); ++i) {
      if (i == kMaxUnroll)
        fail(n, "prim::Loop runs more than " + std::to_string(kMaxUnroll) +
                    " iterations; fx would unroll it into a graph that large");
      env[body->inputs()[0]] = known_val(i);
      for (size_t j = 0; j < carried.size(); ++j) env[body->inputs()[j + 1]] = carried[j];
      walk_block(body, env);
      ValPtr next = lookup(env, body->outputs()[0]);
      if (!next->literal() || !next->known.isBool()) data_dependent("condition");
      go = next->known.toBool();
      for (size_t j = 0; j < carried.size(); ++j) carried[j] = lookup(env, body->outputs()[j + 1]);
    }
    for (size_t j = 0; j < carried.size(); ++j) env[n->output(j)] = carried[j];
  }

  // `x is None` where x is a Tensor computed by the graph is known: False.
  void walk_is(const TsNode* n, Env& env) {
    std::vector<ValPtr> ins = inputs_of(n, env);
    if (ins[0]->kind == Val::Kind::kKnown && ins[1]->kind == Val::Kind::kKnown)
      return evaluate(n, env, ins);
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
    bool foldable = !n->hasSideEffects() && !schema->is_mutable();
    for (const ValPtr& v : ins) foldable = foldable && v->literal();
    for (const TsValue* o : n->outputs()) foldable = foldable && !type_has_tensor(o->type());
    if (foldable) return evaluate(n, env, ins);
    Node* node = emit_operator(n, ins);
    if (n->outputs().size() == 1) {
      env[n->output()] = node_val(node);
    } else if (n->outputs().size() > 1) {
      for (size_t i = 0; i < n->outputs().size(); ++i)
        if (n->output(i)->hasUses()) env[n->output(i)] = getitem(node, static_cast<int64_t>(i));
    }
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
    return node_val(g);
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
  std::unique_ptr<Graph> graph_;
  Attributes attrs_;
  std::unordered_map<std::string, Node*> get_attr_nodes_;
  std::vector<std::string> call_stack_;
};

}  // namespace

std::unique_ptr<GraphModule> import_torchscript(const torch::jit::Module& module,
                                                ImportOptions options) {
  Shared shared{options, {}};
  ImportScope scope;
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
