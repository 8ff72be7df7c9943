// Interpreter: runs a GraphModule's graph node by node, the analog of
// torch.fx's Interpreter. Each opcode has a virtual method that a subclass can
// override to observe or change execution (shape propagation and the
// Transformer are Interpreters); run_node dispatches to them.
//
// Values live in an environment keyed by node and, by default, are dropped
// right after their last use. An error inside a node is rethrown prefixed
// with `while executing node '...' (...)`, keeping its kind and type (an
// fx::Error stays what it was; LibTorch's errors become fx::RuntimeError).
// An Interpreter is not thread-safe; use one per thread (forward() is).
//
// The default opcode methods call what the node's lowering (runtime/lowering.h,
// shared with forward's Program and the C++ emitter) resolved: the operator,
// the registered function, the call_method overload, the placeholder's
// default; each node is lowered on first use and remembered, so the graph must
// not be edited while an Interpreter of it is alive. get_attr and call_module
// ask the module each time, so they see set_attr and add_submodule at once, as
// forward does.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/graph.h"
#include "runtime/lowering.h"
#include "runtime/module.h"

namespace fx {

class GraphModule;

class Interpreter {
 public:
  explicit Interpreter(GraphModule& module, bool garbage_collect_values = true);
  virtual ~Interpreter() = default;

  // Runs the graph on args (one per placeholder; missing ones take their
  // defaults) and returns the output node's value. Nodes already in env()
  // are not run again (partial evaluation, as in torch.fx).
  c10::IValue run(std::vector<c10::IValue> args);

  // Fetches n's inputs from the environment and calls the method for its opcode.
  virtual c10::IValue run_node(const Node& n);

  // One method per opcode; args and kwargs are already evaluated.
  virtual c10::IValue placeholder(const Node& n, const std::vector<c10::IValue>& args,
                                  const IValueKwargs& kwargs);
  virtual c10::IValue get_attr(const Node& n, const std::vector<c10::IValue>& args,
                               const IValueKwargs& kwargs);
  virtual c10::IValue call_function(const Node& n, const std::vector<c10::IValue>& args,
                                    const IValueKwargs& kwargs);
  virtual c10::IValue call_method(const Node& n, const std::vector<c10::IValue>& args,
                                  const IValueKwargs& kwargs);
  virtual c10::IValue call_module(const Node& n, const std::vector<c10::IValue>& args,
                                  const IValueKwargs& kwargs);
  virtual c10::IValue output(const Node& n, const std::vector<c10::IValue>& args,
                             const IValueKwargs& kwargs);

  // The environment: node -> value, for nodes whose values are still alive.
  std::unordered_map<const Node*, c10::IValue>& env() { return env_; }
  GraphModule& module() { return module_; }

 protected:
  // The value of a (nested) Argument, with nodes looked up in env().
  c10::IValue evaluate(const Argument& arg, const Node& user);
  // n's lowering, made on first use (throws GraphError as lower_node does).
  const LoweredNode& lowered(const Node& n);

 private:
  GraphModule& module_;
  bool gc_;
  std::unordered_map<const Node*, c10::IValue> env_;
  std::unordered_map<const Node*, std::vector<const Node*>> last_uses_;
  // Lowerings in graph order, made on first use, and where run() is (one
  // past the node it runs); nodes met otherwise are lowered into the map.
  std::vector<std::pair<const Node*, std::optional<LoweredNode>>> lowered_;
  size_t at_ = 0;
  std::unordered_map<const Node*, LoweredNode> other_lowered_;
  std::vector<c10::IValue> inputs_;
  size_t next_input_ = 0;
};

}  // namespace fx
