#include "ir/lint.h"

#include <unordered_set>

#include "ir/error.h"
#include "ir/graph.h"

namespace fx {

void lint(const Graph& graph) {
  std::unordered_set<const Node*> seen_values;
  std::unordered_set<std::string> seen_names;
  seen_values.reserve(graph.size() * 2);
  seen_names.reserve(graph.size() * 2);
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::kLint, what + "\n" + graph.str());
  };
  const Node* output = nullptr;
  for (const Node* node : graph.nodes()) {
    if (node->graph() != &graph) fail("Node '" + node->name() + "' does not belong to this Graph!");
    if (output)
      fail(describe(*output) + " must be the last node of the graph, but '" + node->name() +
           "' comes after it; move the output with " + node->name() +
           "->append(output) or build the graph in order");
    for (const Node* arg : node->all_input_nodes()) {
      if (arg->graph() != &graph)
        fail("Argument '" + arg->name() + "' of Node '" + node->name() +
             "' does not belong to this Graph, but was used as an argument! If you are copying "
             "nodes from another graph, make sure to use ``arg_transform`` on node_copy() to "
             "remap values");
      if (!seen_values.count(arg))
        fail("Argument '" + arg->name() + "' of Node '" + node->name() +
             "' was used before it has been defined! Please check that Nodes in the graph are "
             "topologically ordered");
    }
    seen_values.insert(node);
    if (!seen_names.insert(node->name()).second) fail("Node redefined name " + node->name() + "!");
    if (node->op() == Op::Output) output = node;
  }
}

}  // namespace fx
