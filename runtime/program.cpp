// Program construction (recompile) and execution (forward).
#include "runtime/program.h"

#include <unordered_map>

#include <c10/util/Exception.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/last_use.h"
#include "runtime/call_hook.h"
#include "runtime/codegen.h"
#include "runtime/graph_module.h"
#include "runtime/operator.h"

namespace fx {

namespace {

std::string join_keys(const std::map<std::string, c10::IValue>& values,
                      const std::map<std::string, std::shared_ptr<Module>>& modules) {
  std::string out;
  for (const auto& kv : values) out += (out.empty() ? "" : ", ") + kv.first;
  for (const auto& kv : modules) out += (out.empty() ? "" : ", ") + kv.first;
  return out.empty() ? "none" : out;
}

}  // namespace

std::shared_ptr<const Program> Program::build(const Graph& graph, const Attributes& attributes,
                                              std::shared_ptr<const CodeGen> codegen) {
  return build(
      graph, attributes,
      [&](const std::string& name) -> std::shared_ptr<const AttributeSlot> {
        auto it = attributes.values.find(name);
        if (it == attributes.values.end()) return nullptr;
        return std::make_shared<AttributeSlot>(AttributeSlot{name, it->second});
      },
      std::move(codegen));
}

std::shared_ptr<const Program> Program::build(const Graph& graph, const Attributes& attributes,
                                              const SlotFor& slot_for,
                                              std::shared_ptr<const CodeGen> codegen) {
  graph.lint();
  std::shared_ptr<Program> p(new Program(std::move(codegen)));
  std::unordered_map<const Node*, int> slot_of;
  for (const Node* n : graph.nodes()) slot_of[n] = static_cast<int>(slot_of.size());
  p->num_slots_ = slot_of.size();

  // Values the output uses are returned, not released.
  const auto dead_after = last_uses(graph);

  std::function<Source(const Operand&)> source_of = [&](const Operand& o) -> Source {
    Source s;
    s.formal = o.formal;
    switch (o.kind) {
      case Operand::Kind::kConstant:
        s.kind = Source::Kind::kConstant;
        s.constant = o.constant;
        break;
      case Operand::Kind::kNode:
        // A tensor formal fed by a node needs no coercion in the common case;
        // run-time checks handle the rest.
        s.kind = Source::Kind::kSlot;
        s.slot = slot_of.at(o.node);
        break;
      case Operand::Kind::kComposite:
        s.kind = Source::Kind::kComposite;
        s.is_tuple = o.is_tuple;
        for (const Operand& item : o.items) s.items.push_back(source_of(item));
        break;
    }
    return s;
  };

  for (const Node* n : graph.nodes()) {
    LoweredNode l = lower_node(*n);
    Instr instr(l.kind);
    instr.where = describe(*n);
    instr.name = n->target();
    instr.out = slot_of.at(n);
    auto dead = dead_after.find(n);
    if (dead != dead_after.end() && n->op() != Op::Output)
      for (const Node* in : dead->second) instr.release.push_back(slot_of.at(in));
    for (const Operand& o : l.inputs)
      (l.kind == Instr::Kind::kOperator ? instr.bound : instr.inputs).push_back(source_of(o));
    for (const auto& kv : l.kwargs) instr.kwargs.emplace_back(kv.first, source_of(kv.second));
    switch (l.kind) {
      case Instr::Kind::kPlaceholder:
        instr.varargs = l.varargs;
        instr.default_value = std::move(l.default_value);
        p->placeholder_names_.push_back(n->target());
        p->has_varargs_ = p->has_varargs_ || instr.varargs;
        break;
      case Instr::Kind::kGetAttr:
        instr.attribute = slot_for(n->target());
        if (!instr.attribute || !instr.attribute->value)
          throw_node_error(*n, "refers to attribute '" + n->target() +
                                   "', which the GraphModule does not have (it has: " +
                                   join_keys(attributes.values, {}) +
                                   "); pass it in the attributes or with set_attr");
        break;
      case Instr::Kind::kOperator: instr.op = l.op; break;
      case Instr::Kind::kMethod:
        instr.method = l.method;
        if (l.method->static_overload()) {
          instr.op = l.method->static_overload();
          for (const Operand& o : l.method->static_inputs()) instr.bound.push_back(source_of(o));
          for (const auto& [m, kind] : l.method->assumed())
            instr.assumed.emplace_back(slot_of.at(m), kind);
        }
        break;
      case Instr::Kind::kFunction:
      case Instr::Kind::kGetItem:
        instr.function = l.function;
        instr.index = l.index;
        break;
      case Instr::Kind::kModule: {
        auto it = attributes.modules.find(n->target());
        if (it == attributes.modules.end())
          throw_node_error(*n, "calls submodule '" + n->target() +
                                   "', which the GraphModule does not have (it has: " +
                                   join_keys({}, attributes.modules) +
                                   "); add it with add_submodule");
        instr.module = it->second;
        break;
      }
      case Instr::Kind::kOutput: break;
    }
    p->instrs_.push_back(std::move(instr));
  }
  return p;
}

c10::IValue Program::fetch(const Source& s, const std::vector<c10::IValue>& slots) const {
  c10::IValue v;
  switch (s.kind) {
    case Source::Kind::kConstant: return s.constant;
    case Source::Kind::kSlot:
      v = slots[s.slot];
      if (!s.formal || (v.isTensor() && s.formal->type()->kind() == c10::TypeKind::TensorType))
        return v;
      break;
    case Source::Kind::kComposite: {
      std::vector<c10::IValue> items;
      items.reserve(s.items.size());
      for (const Source& item : s.items) items.push_back(fetch(item, slots));
      v = s.is_tuple ? c10::IValue(c10::ivalue::Tuple::create(std::move(items)))
                     : make_list(std::move(items));
      if (!s.formal) return v;
      break;
    }
  }
  if (!coerce_to(*s.formal, v))
    throw RuntimeError("argument '" + s.formal->name() + "' expects " + type_name(*s.formal) +
                       ", got a value of type " + v.tagKind());
  return v;
}

c10::IValue Program::execute(const Instr& instr, std::vector<c10::IValue>& slots,
                             std::vector<c10::IValue>& stack) const {
  switch (instr.kind) {
    case Instr::Kind::kGetAttr:
      if (!instr.attribute->value)
        throw RuntimeError("attribute '" + instr.name +
                           "' no longer exists (its module was deleted or replaced after the "
                           "last recompile())");
      return *instr.attribute->value;
    case Instr::Kind::kOperator:
      stack.clear();
      for (const Source& s : instr.bound) stack.push_back(fetch(s, slots));
      instr.op->callBoxed(stack);
      return pack_returns(stack);
    case Instr::Kind::kMethod:
      if (instr.op) {
        // The overload picked at build time, when the values are of the kinds it assumed.
        bool as_assumed = true;
        for (const auto& [s, kind] : instr.assumed)
          as_assumed = as_assumed && has_kind(slots[s], kind);
        if (as_assumed) {
          stack.clear();
          for (const Source& s : instr.bound) stack.push_back(fetch(s, slots));
          instr.op->callBoxed(stack);
          return pack_returns(stack);
        }
      }
      break;
    case Instr::Kind::kGetItem:
      if (!current_call_hook()) return getitem(fetch(instr.inputs[0], slots), instr.index);
      break;
    default: break;
  }
  std::vector<c10::IValue> args;
  args.reserve(instr.inputs.size());
  for (const Source& s : instr.inputs) args.push_back(fetch(s, slots));
  IValueKwargs kwargs;
  for (const auto& kv : instr.kwargs) kwargs.emplace_back(kv.first, fetch(kv.second, slots));
  switch (instr.kind) {
    case Instr::Kind::kMethod: return instr.method->call(std::move(args), kwargs);
    case Instr::Kind::kFunction:
    case Instr::Kind::kGetItem:
      if (CallHook* hook = current_call_hook())
        return hook->call_function(instr.name, *instr.function, std::move(args), kwargs);
      return (*instr.function)(std::move(args), kwargs);
    case Instr::Kind::kModule:
      if (CallHook* hook = current_call_hook())
        if (!dynamic_cast<const GraphModule*>(instr.module.get()))
          return hook->call_module(instr.name, instr.module, std::move(args), kwargs);
      return instr.module->forward(std::move(args), kwargs);
    default: FX_INTERNAL_ASSERT(false, "unexpected instruction kind");
  }
}

c10::IValue Program::run(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs) const {
  inputs = codegen_->process_inputs(std::move(inputs));
  if (!has_varargs_ && inputs.size() > placeholder_names_.size()) {
    std::string names;
    for (const auto& n : placeholder_names_) names += (names.empty() ? "" : ", ") + n;
    throw RuntimeError("forward takes " + std::to_string(placeholder_names_.size()) + " inputs (" +
                       names + ") but " + std::to_string(inputs.size()) + " were given");
  }
  std::vector<c10::IValue> slots(num_slots_);
  std::vector<c10::IValue> stack;
  size_t next_input = 0;
  for (const Instr& instr : instrs_) {
    if (instr.kind == Instr::Kind::kPlaceholder) {
      c10::IValue& out = slots[instr.out];
      if (instr.varargs) {
        std::vector<c10::IValue> rest(inputs.begin() + std::min(next_input, inputs.size()),
                                      inputs.end());
        next_input = inputs.size();
        out = c10::ivalue::Tuple::create(std::move(rest));
        continue;
      }
      if (next_input < inputs.size()) {
        out = std::move(inputs[next_input++]);
        continue;
      }
      auto kw = std::find_if(kwargs.begin(), kwargs.end(),
                             [&](const auto& p) { return p.first == instr.name; });
      if (kw != kwargs.end()) {
        out = kw->second;
      } else if (instr.default_value) {
        out = *instr.default_value;
      } else {
        throw RuntimeError("Expected positional argument for parameter " + instr.name +
                           ", but one was not passed in!");
      }
      continue;
    }
    if (instr.kind == Instr::Kind::kOutput) {
      return codegen_->process_outputs(fetch(instr.inputs[0], slots));
    }
    try {
      slots[instr.out] = execute(instr, slots, stack);
    } catch (const std::exception&) {
      rethrow_with_context("while executing " + instr.where);
    }
    for (int r : instr.release) slots[r] = c10::IValue();
  }
  return c10::IValue();  // a graph without an output returns None
}

namespace {
thread_local CallHook* t_call_hook = nullptr;
}  // namespace

CallHook* current_call_hook() { return t_call_hook; }

CallHookGuard::CallHookGuard(CallHook* hook) : saved_(t_call_hook) { t_call_hook = hook; }

CallHookGuard::~CallHookGuard() { t_call_hook = saved_; }

}  // namespace fx
