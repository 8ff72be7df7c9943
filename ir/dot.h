// to_dot: Graphviz source for a graph, in the spirit of torch.fx's
// FxGraphDrawer: one record per node (name, opcode, target, users, and the
// tensor metadata when shape propagation has run), colours by opcode, edges
// from each node to its users. Render with `dot -Tpng`.
#pragma once

#include <string>

namespace fx {

class Graph;

std::string to_dot(const Graph& graph, const std::string& name = "fx_graph");

}  // namespace fx
