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

bool contains_node(const Argument& a) {
  bool found = false;
  for_each_node(a, [&](Node*) { found = true; });
  return found;
}

std::string join_keys(const std::map<std::string, c10::IValue>& values,
                      const std::map<std::string, std::shared_ptr<Module>>& modules) {
  std::string out;
  for (const auto& kv : values) out += (out.empty() ? "" : ", ") + kv.first;
  for (const auto& kv : modules) out += (out.empty() ? "" : ", ") + kv.first;
  return out.empty() ? "none" : out;
}

// Whether a call_method node's receiver is an object of a registered class
// (constructed by a call_function whose target is the class).
bool receives_object(const Node& n) {
  if (n.args().empty() || !n.args()[0].is_node()) return false;
  const Node* self = n.args()[0].to_node();
  return self->op() == Op::CallFunction && self->target().rfind("__torch__.torch.classes.", 0) == 0;
}

}  // namespace

std::shared_ptr<const Program> Program::build(const Graph& graph, const Attributes& attributes,
                                              std::shared_ptr<const CodeGen> codegen) {
  graph.lint();
  std::shared_ptr<Program> p(new Program(std::move(codegen)));
  std::unordered_map<const Node*, int> slot_of;
  for (const Node* n : graph.nodes()) slot_of[n] = static_cast<int>(slot_of.size());
  p->num_slots_ = slot_of.size();

  // Values the output uses are returned, not released.
  const auto dead_after = last_uses(graph);

  std::function<Source(const Argument&, const c10::Argument*, const Node*)> source_of =
      [&](const Argument& a, const c10::Argument* formal, const Node* node) -> Source {
    Source s;
    s.formal = formal;
    if (a.is_node()) {
      s.kind = Source::Kind::kSlot;
      s.slot = slot_of.at(a.to_node());
      // A tensor formal fed by a node needs no coercion in the common case;
      // run-time checks handle the rest.
    } else if (a.is_sequence() && contains_node(a)) {
      s.kind = Source::Kind::kComposite;
      s.is_tuple = a.kind() == Argument::Kind::kTuple;
      for (const Argument& item : a.items()) s.items.push_back(source_of(item, nullptr, node));
    } else {
      s.kind = Source::Kind::kConstant;
      s.constant = to_ivalue(a);
      if (formal && !coerce_to(*formal, s.constant))
        throw_node_error(*node, "argument '" + formal->name() + "' expects " + type_name(*formal) +
                                    ", got " + repr_arg(a));
    }
    return s;
  };
  auto plain_sources = [&](Instr& instr, const Node* n) {
    for (const Argument& a : n->args()) instr.inputs.push_back(source_of(a, nullptr, n));
    for (const auto& kv : n->kwargs())
      instr.kwargs.emplace_back(kv.first, source_of(kv.second, nullptr, n));
  };

  for (const Node* n : graph.nodes()) {
    Instr instr(Instr::Kind::kConstant);
    instr.where = describe(*n);
    instr.name = n->op() == Op::Placeholder ? n->target() : n->name();
    instr.out = slot_of.at(n);
    auto dead = dead_after.find(n);
    if (dead != dead_after.end() && n->op() != Op::Output)
      for (const Node* in : dead->second) instr.release.push_back(slot_of.at(in));
    switch (n->op()) {
      case Op::Placeholder:
        instr.kind = Instr::Kind::kPlaceholder;
        instr.varargs = !n->target().empty() && n->target()[0] == '*';
        if (!n->args().empty()) {
          if (contains_node(n->args()[0]))
            throw_node_error(*n, "a default value cannot refer to a node");
          instr.has_default = true;
          instr.constant = to_ivalue(n->args()[0]);
        }
        p->placeholder_names_.push_back(n->target());
        p->has_varargs_ = p->has_varargs_ || instr.varargs;
        break;
      case Op::GetAttr: {
        auto it = attributes.values.find(n->target());
        if (it == attributes.values.end())
          throw_node_error(*n, "refers to attribute '" + n->target() +
                                   "', which the GraphModule does not have (it has: " +
                                   join_keys(attributes.values, {}) +
                                   "); pass it in the attributes or with set_attr");
        instr.kind = Instr::Kind::kConstant;
        instr.constant = it->second;
        break;
      }
      case Op::CallFunction:
        if (n->target().find("::") != std::string::npos) {
          instr.kind = Instr::Kind::kOperator;
          try {
            instr.op = find_operator(n->target());
          } catch (const Error& e) {
            throw_node_error(*n, e.what());
          }
          const c10::FunctionSchema& schema = instr.op->schema();
          std::vector<std::string> names;
          for (const auto& kv : n->kwargs()) names.push_back(kv.first);
          Binding binding;
          std::string why;
          if (!bind_arguments(schema, n->args().size(), names, &binding, &why))
            throw_node_error(*n,
                             n->target() + " " + why + "; its schema is " + c10::toString(schema));
          for (size_t i = 0; i < schema.arguments().size(); ++i) {
            const c10::Argument* formal = &schema.arguments()[i];
            int src = binding.sources[i];
            if (src == Binding::kDefault) {
              Source s;
              s.constant = *formal->default_value();
              instr.inputs.push_back(std::move(s));
            } else if (src >= Binding::kFromKwarg) {
              instr.inputs.push_back(
                  source_of(n->kwargs()[src - Binding::kFromKwarg].second, formal, n));
            } else {
              instr.inputs.push_back(source_of(n->args()[src], formal, n));
            }
          }
        } else {
          instr.kind = Instr::Kind::kFunction;
          instr.target = n->target();
          instr.function = find_function(n->target());
          if (!instr.function)
            throw_node_error(*n, "calls '" + n->target() +
                                     "', which is neither an operator (`ns::name.overload`) nor a "
                                     "registered function; register it with fx::register_function");
          plain_sources(instr, n);
        }
        break;
      case Op::CallMethod:
        instr.kind = Instr::Kind::kMethod;
        instr.method = "aten::" + n->target();
        if (n->args().empty())
          throw_node_error(*n, "a call_method node needs its receiver as args[0]");
        if (find_overloads(instr.method).empty() && !receives_object(*n))
          throw_node_error(*n, "there is no Tensor method '" + n->target() + "' (no operator " +
                                   instr.method + ")");
        plain_sources(instr, n);
        break;
      case Op::CallModule: {
        auto it = attributes.modules.find(n->target());
        if (it == attributes.modules.end())
          throw_node_error(*n, "calls submodule '" + n->target() +
                                   "', which the GraphModule does not have (it has: " +
                                   join_keys({}, attributes.modules) +
                                   "); add it with add_submodule");
        instr.kind = Instr::Kind::kModule;
        instr.target = n->target();
        instr.module = it->second;
        plain_sources(instr, n);
        break;
      }
      case Op::Output:
        instr.kind = Instr::Kind::kOutput;
        instr.inputs.push_back(
            source_of(n->args().empty() ? Argument() : n->args()[0], nullptr, n));
        break;
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
    case Instr::Kind::kConstant: return instr.constant;
    case Instr::Kind::kOperator:
      stack.clear();
      for (const Source& s : instr.inputs) stack.push_back(fetch(s, slots));
      instr.op->callBoxed(stack);
      return pack_returns(stack);
    default: break;
  }
  std::vector<c10::IValue> args;
  args.reserve(instr.inputs.size());
  for (const Source& s : instr.inputs) args.push_back(fetch(s, slots));
  IValueKwargs kwargs;
  for (const auto& kv : instr.kwargs) kwargs.emplace_back(kv.first, fetch(kv.second, slots));
  switch (instr.kind) {
    case Instr::Kind::kMethod: {
      if (!args.empty() && args[0].isObject()) {
        if (!kwargs.empty())
          throw RuntimeError("methods of custom classes take no keyword arguments");
        c10::IValue self = args[0];
        // instr.method is `aten::<name>`
        return invoke_method(self, instr.method.substr(6),
                             std::vector<c10::IValue>(args.begin() + 1, args.end()));
      }
      c10::OperatorHandle op = resolve_overload(instr.method, args, kwargs);
      return call_operator(op, std::move(args), kwargs);
    }
    case Instr::Kind::kFunction:
      if (CallHook* hook = current_call_hook())
        return hook->call_function(instr.target, *instr.function, std::move(args), kwargs);
      return (*instr.function)(std::move(args), kwargs);
    case Instr::Kind::kModule:
      if (CallHook* hook = current_call_hook())
        if (!dynamic_cast<const GraphModule*>(instr.module.get()))
          return hook->call_module(instr.target, instr.module, std::move(args), kwargs);
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
      } else if (instr.has_default) {
        out = instr.constant;
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
