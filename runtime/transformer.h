// Transformer: walks a GraphModule's graph like the Interpreter, but each
// opcode method emits into a new graph instead of computing, and transform()
// returns a new GraphModule around it (torch.fx's Transformer). Override an
// opcode method to rewrite nodes:
//
//   struct ReluToSigmoid : fx::Transformer {
//     using Transformer::Transformer;
//     fx::Argument call_function(const std::string& target, const fx::Args& args,
//                                const fx::Kwargs& kwargs) override {
//       return Transformer::call_function(target == "aten::relu" ? "aten::sigmoid" : target,
//                                         args, kwargs);
//     }
//   };
//
// The args and kwargs the methods receive already refer to nodes of the new
// graph. Methods return the new value (usually a Node of the new graph, or any
// Argument, e.g. a constant that replaces the node). Meta is not carried over,
// as in torch.fx; the new GraphModule shares the original's attributes.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "ir/graph.h"

namespace fx {

class GraphModule;

class Transformer {
 public:
  explicit Transformer(GraphModule& module);
  virtual ~Transformer() = default;

  std::unique_ptr<GraphModule> transform();

  virtual Argument placeholder(const std::string& target, const Args& args, const Kwargs& kwargs);
  virtual Argument get_attr(const std::string& target, const Args& args, const Kwargs& kwargs);
  virtual Argument call_function(const std::string& target, const Args& args, const Kwargs& kwargs);
  virtual Argument call_method(const std::string& target, const Args& args, const Kwargs& kwargs);
  virtual Argument call_module(const std::string& target, const Args& args, const Kwargs& kwargs);

 protected:
  Graph& new_graph() { return *new_graph_; }
  // The node of the old graph being transformed right now.
  const Node* current() const { return current_; }

 private:
  Node* emit(Op op, const std::string& target, const Args& args, const Kwargs& kwargs);

  GraphModule& module_;
  std::unique_ptr<Graph> new_graph_;
  const Node* current_ = nullptr;
};

}  // namespace fx
