// lint: checks that a graph is well formed, raising fx::Error(kLint) on the
// first problem. torch.fx 1.13's checks and messages, plus output placement:
//   1. every node belongs to this graph;
//   2. every Node argument belongs to this graph and is defined earlier
//      (topological order);
//   3. names are unique;
//   4. at most one output node, and it is the last node.
// Messages end with the printed graph for context. Checks nothing about
// targets (the graph has no module to resolve them against).
#pragma once

namespace fx {

class Graph;

void lint(const Graph& graph);

}  // namespace fx
