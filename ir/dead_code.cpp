#include "ir/dead_code.h"

#include "ir/graph.h"
#include "ir/lint.h"

namespace fx {

bool eliminate_dead_code(Graph& graph, const std::function<bool(const Node*)>& is_impure_node) {
  lint(graph);
  bool changed = false;
  for (Node* node : graph.nodes().reversed()) {
    if (!node->users().empty() || node->op() == Op::Placeholder || node->op() == Op::Output)
      continue;
    if (!(is_impure_node ? is_impure_node(node) : node->is_impure())) {
      graph.erase_node(node);
      changed = true;
    }
  }
  return changed;
}

}  // namespace fx
