#include "runtime/interpreter.h"

#include <unordered_set>

#include <c10/util/Exception.h>

#include "ir/error.h"
#include "ir/last_use.h"
#include "runtime/codegen.h"
#include "runtime/functions.h"
#include "runtime/graph_module.h"
#include "runtime/lowering.h"
#include "runtime/operator.h"

namespace fx {

Interpreter::Interpreter(GraphModule& module, bool garbage_collect_values)
    : module_(module), gc_(garbage_collect_values) {
  if (gc_) last_uses_ = last_uses(module_.graph());
  for (const Node* n : module_.graph().nodes()) lowered_.emplace_back(n, std::nullopt);
}

c10::IValue Interpreter::evaluate(const Argument& arg, const Node& user) {
  return to_ivalue(arg, [&](Node* n) -> c10::IValue {
    auto it = env_.find(n);
    if (it == env_.end())
      throw RuntimeError("Node " + user.name() + " referenced nonexistent value " + n->name() +
                         "! Run Graph.lint() to diagnose such issues");
    return it->second;
  });
}

c10::IValue Interpreter::run(std::vector<c10::IValue> args) {
  inputs_ = module_.codegen().process_inputs(std::move(args));
  next_input_ = 0;
  at_ = 0;
  for (const Node* n : module_.graph().nodes()) {
    ++at_;
    if (env_.count(n)) continue;
    c10::IValue value;
    try {
      value = run_node(*n);
    } catch (const std::exception&) {
      rethrow_with_context("while executing " + describe(*n));
    }
    env_[n] = value;
    if (gc_) {
      auto it = last_uses_.find(n);
      if (it != last_uses_.end())
        for (const Node* dead : it->second) env_.erase(dead);
    }
    if (n->op() == Op::Output) return module_.codegen().process_outputs(std::move(value));
  }
  return c10::IValue();
}

c10::IValue Interpreter::run_node(const Node& n) {
  std::vector<c10::IValue> args;
  args.reserve(n.args().size());
  for (const Argument& a : n.args()) args.push_back(evaluate(a, n));
  IValueKwargs kwargs;
  for (const auto& kv : n.kwargs()) kwargs.emplace_back(kv.first, evaluate(kv.second, n));
  switch (n.op()) {
    case Op::Placeholder: return placeholder(n, args, kwargs);
    case Op::GetAttr: return get_attr(n, args, kwargs);
    case Op::CallFunction: return call_function(n, args, kwargs);
    case Op::CallMethod: return call_method(n, args, kwargs);
    case Op::CallModule: return call_module(n, args, kwargs);
    case Op::Output: return output(n, args, kwargs);
  }
  return c10::IValue();
}

const LoweredNode& Interpreter::lowered(const Node& n) {
  // Values are bound to schemas when called (overrides may change them).
  auto lower = [&] { return lower_node(n, /*operands=*/false); };
  // run() walks the nodes in order: the node it is at is found without a look-up.
  if (at_ > 0 && at_ <= lowered_.size() && lowered_[at_ - 1].first == &n) {
    std::optional<LoweredNode>& l = lowered_[at_ - 1].second;
    if (!l) l = lower();
    return *l;
  }
  auto it = other_lowered_.find(&n);
  if (it == other_lowered_.end()) it = other_lowered_.emplace(&n, lower()).first;
  return it->second;
}

c10::IValue Interpreter::placeholder(const Node& n, const std::vector<c10::IValue>&,
                                     const IValueKwargs&) {
  const LoweredNode& l = lowered(n);
  if (l.varargs) {
    std::vector<c10::IValue> rest(inputs_.begin() + std::min(next_input_, inputs_.size()),
                                  inputs_.end());
    next_input_ = inputs_.size();
    return c10::ivalue::Tuple::create(std::move(rest));
  }
  if (next_input_ < inputs_.size()) return inputs_[next_input_++];
  if (l.default_value) return *l.default_value;
  throw RuntimeError("Expected positional argument for parameter " + n.target() +
                     ", but one was not passed in!");
}

c10::IValue Interpreter::get_attr(const Node& n, const std::vector<c10::IValue>&,
                                  const IValueKwargs&) {
  const c10::IValue* v = module_.get_attr(n.target());
  if (!v) throw RuntimeError("Node referenced nonexistent target " + n.target());
  return *v;
}

c10::IValue Interpreter::call_function(const Node& n, const std::vector<c10::IValue>& args,
                                       const IValueKwargs& kwargs) {
  const LoweredNode& l = lowered(n);
  if (l.kind == LoweredNode::Kind::kOperator) return call_operator(*l.op, args, kwargs);
  if (!l.function) throw RuntimeError(describe(n) + " is not a call_function node");
  return (*l.function)(args, kwargs);
}

c10::IValue Interpreter::call_method(const Node& n, const std::vector<c10::IValue>& args,
                                     const IValueKwargs& kwargs) {
  const LoweredNode& l = lowered(n);
  if (!l.method) throw RuntimeError(describe(n) + " is not a call_method node");
  return l.method->call(args, kwargs);
}

c10::IValue Interpreter::call_module(const Node& n, const std::vector<c10::IValue>& args,
                                     const IValueKwargs& kwargs) {
  std::shared_ptr<Module> m = module_.get_submodule(n.target());
  if (!m) throw RuntimeError("Node referenced nonexistent target " + n.target());
  return m->forward(args, kwargs);
}

c10::IValue Interpreter::output(const Node&, const std::vector<c10::IValue>& args,
                                const IValueKwargs&) {
  return args.empty() ? c10::IValue() : args[0];
}

}  // namespace fx
