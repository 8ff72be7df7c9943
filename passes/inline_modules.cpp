// See passes/inline_modules.h.
#include "passes/inline_modules.h"

#include <string>
#include <unordered_map>

#include "ir/graph.h"
#include "passes/schema_args.h"

namespace fx {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Why `call` cannot be replaced by child's graph, or "" when it can.
std::string why_not(const Node& call, const GraphModule& child) {
  const Graph& g = child.graph();
  size_t positional = 0;
  for (const Node* n : g.nodes()) {
    if (n->op() != Op::Placeholder) continue;
    if (n->target().rfind('*', 0) == 0) return "its graph takes *args or **kwargs";
    bool given = positional < call.args().size() || call.kwarg(n->target()) != nullptr;
    if (!given && n->args().empty()) return "input '" + n->target() + "' is not given";
    ++positional;
  }
  if (call.args().size() > positional) return "it is called with more arguments than it takes";
  const Node* out = g.output_node();
  if (!out || out->args().empty()) return "its graph has no output";
  const Argument& result = out->args()[0];
  if (result.is_sequence()) {
    for (const Node* u : call.users()) {
      if (u->op() != Op::CallFunction || u->target() != "getitem" || u->args().size() != 2 ||
          u->args()[1].kind() != Argument::Kind::kInt)
        return "it returns a sequence and node '" + u->name() + "' uses it whole";
      int64_t i = u->args()[1].to_int();
      int64_t size = static_cast<int64_t>(result.items().size());
      if (i < -size || i >= size) return "node '" + u->name() + "' indexes past its outputs";
    }
  }
  return "";
}

// Every use of old becomes value (a node or a constant).
void replace_uses(Node* old, const Argument& value) {
  if (value.is_node()) {
    old->replace_all_uses_with(value.to_node());
    return;
  }
  auto swap = [&](Node* x) { return x == old ? value : Argument(x); };
  for (Node* u : std::vector<Node*>(old->users())) {
    u->set_args(map_arg(u->args(), swap));
    u->set_kwargs(map_arg(u->kwargs(), swap));
  }
}

void inline_call(GraphModule& gm, Node* call, const GraphModule& child) {
  Graph& g = gm.graph();
  const std::string prefix = call->target();
  std::unordered_map<const Node*, Argument> env;
  size_t positional = 0;
  auto at = g.inserting_before(call);
  for (const Node* n : child.graph().nodes()) {
    switch (n->op()) {
      case Op::Placeholder: {
        if (positional < call->args().size()) {
          env[n] = call->args()[positional];
        } else if (const Argument* kw = call->kwarg(n->target())) {
          env[n] = *kw;
        } else {
          env[n] = n->args()[0];  // the default; why_not checked it exists
        }
        ++positional;
        break;
      }
      case Op::Output: break;
      default: {
        Node* copy = g.node_copy(n, [&](Node* in) { return env.at(in); });
        if (n->op() == Op::GetAttr) {
          std::string name = join(prefix, n->target());
          if (!gm.get_attr(name)) gm.set_attr(name, *child.get_attr(n->target()));
          copy->set_target(name);
        } else if (n->op() == Op::CallModule) {
          std::string name = join(prefix, n->target());
          if (!gm.get_submodule(name)) gm.add_submodule(name, child.get_submodule(n->target()));
          copy->set_target(name);
        }
        const std::string* inner = n->meta().get<std::string>("module_path");
        copy->meta().set<std::string>("module_path", inner ? join(prefix, *inner) : prefix);
        env[n] = Argument(copy);
      }
    }
  }
  const Argument result = map_arg(child.graph().output_node()->args()[0],
                                  [&](Node* n) { return env.at(n); });
  if (result.is_sequence()) {
    int64_t size = static_cast<int64_t>(result.items().size());
    for (Node* u : std::vector<Node*>(call->users())) {
      int64_t i = u->args()[1].to_int();
      replace_uses(u, result.items()[i < 0 ? i + size : i]);
      g.erase_node(u);
    }
  } else {
    replace_uses(call, result);
  }
  if (call->users().empty()) g.erase_node(call);
}

}  // namespace

bool inline_modules(GraphModule& gm, PassLog* log) {
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    for (Node* n : gm.graph().nodes()) {
      if (n->op() != Op::CallModule) continue;
      auto child = std::dynamic_pointer_cast<GraphModule>(gm.get_submodule(n->target()));
      if (!child) continue;
      std::string why = why_not(*n, *child);
      if (!why.empty()) {
        // Logged once: a kept call is not looked at again in this run.
        if (n->meta().contains("inline_kept")) continue;
        n->meta().set<bool>("inline_kept", true);
        note(log, "kept call_module '" + n->name() + "' (" + n->target() + "): " + why);
        continue;
      }
      note(log, "inlined " + n->target() + " (" + child->class_name() + ", " +
                    std::to_string(child->graph().size()) + " nodes)");
      inline_call(gm, n, *child);
      again = changed = true;
    }
  }
  if (changed) gm.graph().eliminate_dead_code();
  return changed;
}

}  // namespace fx
