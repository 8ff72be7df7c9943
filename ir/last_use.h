// last_uses: for each node, the values whose last use it is, found as
// torch.fx's codegen and Interpreter find them (walking the graph backwards,
// the first user met is the last one; values listed in discovery order). The
// output node is included; callers that return values rather than free them
// skip it. Values with no users appear nowhere.
#pragma once

#include <unordered_map>
#include <vector>

namespace fx {

class Graph;
class Node;

std::unordered_map<const Node*, std::vector<const Node*>> last_uses(const Graph& graph);

}  // namespace fx
