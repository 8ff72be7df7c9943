#include "runtime/transformer.h"

#include "ir/error.h"
#include "runtime/graph_module.h"

namespace fx {

Transformer::Transformer(GraphModule& module) : module_(module) {}

Node* Transformer::emit(Op op, const std::string& target, const Args& args, const Kwargs& kwargs) {
  // A node from a new target is named after that target, as torch.fx's
  // Transformer names the nodes its proxies create; one that keeps its old
  // opcode and target keeps its old name, so printed graphs stay familiar.
  std::optional<std::string> name;
  if (current_ && current_->op() != Op::Placeholder && current_->op() == op &&
      current_->target() == target)
    name = current_->name();
  return new_graph_->create_node(op, target, args, kwargs, name,
                                 current_ ? current_->type() : std::string());
}

Argument Transformer::placeholder(const std::string& target, const Args& args, const Kwargs&) {
  std::optional<Argument> default_value;
  if (!args.empty()) default_value = args[0];
  return new_graph_->placeholder(target, default_value, current_ ? current_->type() : "");
}

Argument Transformer::get_attr(const std::string& target, const Args&, const Kwargs&) {
  return emit(Op::GetAttr, target, {}, {});
}

Argument Transformer::call_function(const std::string& target, const Args& args,
                                    const Kwargs& kwargs) {
  return emit(Op::CallFunction, target, args, kwargs);
}

Argument Transformer::call_method(const std::string& target, const Args& args,
                                  const Kwargs& kwargs) {
  return emit(Op::CallMethod, target, args, kwargs);
}

Argument Transformer::call_module(const std::string& target, const Args& args,
                                  const Kwargs& kwargs) {
  return emit(Op::CallModule, target, args, kwargs);
}

std::unique_ptr<GraphModule> Transformer::transform() {
  new_graph_ = std::make_unique<Graph>();
  std::unordered_map<const Node*, Argument> env;
  auto lookup = [&](Node* n) -> Argument {
    auto it = env.find(n);
    if (it == env.end())
      throw_node_error(*n,
                       "is used before it was transformed; the graph is not in topological order");
    return it->second;
  };
  for (const Node* n : module_.graph().nodes()) {
    current_ = n;
    Args args = map_arg(n->args(), lookup);
    Kwargs kwargs = map_arg(n->kwargs(), lookup);
    Argument result;
    switch (n->op()) {
      case Op::Placeholder: result = placeholder(n->target(), args, kwargs); break;
      case Op::GetAttr: result = get_attr(n->target(), args, kwargs); break;
      case Op::CallFunction: result = call_function(n->target(), args, kwargs); break;
      case Op::CallMethod: result = call_method(n->target(), args, kwargs); break;
      case Op::CallModule: result = call_module(n->target(), args, kwargs); break;
      case Op::Output: new_graph_->output(args.empty() ? Argument() : args[0], n->type()); break;
    }
    env[n] = result;
  }
  current_ = nullptr;
  // torch.fx's GraphModule(self.module, graph): copied from the module, so
  // parameters stay parameters; the class name is GraphModule's.
  return std::make_unique<GraphModule>(static_cast<const torch::nn::Module&>(module_),
                                       std::move(new_graph_), "GraphModule", module_.attributes());
}

}  // namespace fx
