// legalize: a stable topological sort of a graph's nodes, done in place.
#include "ir/legalize.h"

#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace fx {
namespace {

// Placeholders before everything, the output after everything.
int rank_of(const Node* n) {
  switch (n->op()) {
    case Op::Placeholder: return 0;
    case Op::Output: return 2;
    default: return 1;
  }
}

// Called when some nodes could not be placed: every unplaced node waits on
// an unplaced input, so walking from one to an unplaced input must come back
// to a node already visited, and the nodes from there on form a cycle.
[[noreturn]] void throw_cycle(const Graph& graph, const std::vector<Node*>& nodes,
                              const std::vector<bool>& placed,
                              const std::unordered_map<const Node*, size_t>& pos) {
  std::string unplaced;
  size_t count = 0;
  size_t first = nodes.size();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (placed[i]) continue;
    if (first == nodes.size()) first = i;
    if (++count <= 20) unplaced += (count > 1 ? ", " : "") + nodes[i]->name();
  }
  if (count > 20) unplaced += ", ... (" + std::to_string(count - 20) + " more)";

  std::unordered_map<size_t, size_t> step_of;  // node index -> step of the walk
  std::vector<size_t> walk;
  size_t cur = first;
  while (step_of.find(cur) == step_of.end()) {
    step_of[cur] = walk.size();
    walk.push_back(cur);
    bool found = false;
    for (const Node* in : nodes[cur]->all_input_nodes()) {
      size_t i = pos.at(in);
      if (!placed[i]) {
        cur = i;
        found = true;
        break;
      }
    }
    FX_INTERNAL_ASSERT(found, "an unplaced node has no unplaced input");
  }
  // walk[step_of[cur]..] is the cycle, each node using the next one and the
  // last using cur; print it the other way round, in data-flow order.
  std::string cycle = nodes[cur]->name();
  for (size_t s = walk.size(); s-- > step_of[cur];) cycle += " -> " + nodes[walk[s]]->name();

  std::string msg = "input graph has cycles, unable to add [" + unplaced +
                    "]: " + describe(*nodes[cur]) + " is on the cycle " + cycle +
                    " (each node feeds the next); break the cycle (set_args, " +
                    "replace_input_with) before legalizing";
  if (graph.size() <= 200) msg += "\n" + graph.str();
  throw GraphError(msg);
}

}  // namespace

// 1. Number the nodes in their current order and count each node's distinct
//    inputs (its in-degree).
// 2. Kahn's algorithm with a min-heap on (rank, position) instead of a FIFO:
//    placing a node makes each user whose inputs are now all placed ready.
// 3. If some nodes were never ready, they form or wait on a cycle: report it
//    without touching the graph.
// 4. Relink: move each node right after its predecessor in the new order.
void legalize(Graph& graph) {
  std::vector<Node*> nodes;
  nodes.reserve(graph.size());
  std::unordered_map<const Node*, size_t> pos;
  pos.reserve(graph.size());
  for (Node* n : graph.nodes()) {
    pos.emplace(n, nodes.size());
    nodes.push_back(n);
  }

  std::vector<size_t> indegree(nodes.size());
  using Key = std::pair<int, size_t>;  // (rank, position)
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> ready;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const Node* in : nodes[i]->all_input_nodes()) {
      if (pos.find(in) == pos.end())
        throw_node_error(*nodes[i], "uses '" + in->name() +
                                        "', which is not a node of this graph; remap it with "
                                        "node_copy's arg_transform before legalizing");
    }
    indegree[i] = nodes[i]->all_input_nodes().size();
    if (indegree[i] == 0) ready.emplace(rank_of(nodes[i]), i);
  }

  std::vector<Node*> order;
  order.reserve(nodes.size());
  std::vector<bool> placed(nodes.size(), false);
  while (!ready.empty()) {
    size_t i = ready.top().second;
    ready.pop();
    placed[i] = true;
    order.push_back(nodes[i]);
    for (const Node* user : nodes[i]->users()) {
      auto it = pos.find(user);
      if (it == pos.end()) continue;  // a node of another graph; not ours to order
      if (--indegree[it->second] == 0) ready.emplace(rank_of(user), it->second);
    }
  }
  if (order.size() != nodes.size()) throw_cycle(graph, nodes, placed, pos);

  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i - 1]->next() != order[i]) order[i - 1]->append(order[i]);
  }
}

}  // namespace fx
