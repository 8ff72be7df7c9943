#include "ir/last_use.h"

#include <unordered_set>

#include "ir/graph.h"

namespace fx {

std::unordered_map<const Node*, std::vector<const Node*>> last_uses(const Graph& graph) {
  std::unordered_map<const Node*, std::vector<const Node*>> out;
  std::unordered_set<const Node*> seen;
  for (const Node* n : graph.nodes().reversed())
    for (const Node* in : n->all_input_nodes())
      if (seen.insert(in).second) out[n].push_back(in);
  return out;
}

}  // namespace fx
