// replace_pattern: finds every non-overlapping occurrence of a pattern graph
// in a graph (ir/subgraph_matcher.h) and replaces it with a copy of a
// replacement graph, as torch.fx's subgraph rewriter does. The replacement's placeholders take, in order, the values the
// pattern's placeholders matched (so both need the same number of inputs);
// its nodes are inserted just before the first user of the matched values;
// uses of the values the pattern returned are redirected to the replacement's
// outputs; the matched nodes are erased. The graph stays topologically
// ordered and lints clean.
//
// Given:   %relu = call_function[target=aten::relu](args = (%x,))
// Execute: replace_pattern(g, relu_pattern, sigmoid_replacement)
// Result:  %sigmoid = call_function[target=aten::sigmoid](args = (%x,))
#pragma once

#include <unordered_map>
#include <vector>

namespace fx {

class Graph;
class Node;

struct Match {
  // The pattern's anchor node (a node of the pattern graph, as in FX).
  const Node* anchor = nullptr;
  // Pattern node -> the graph node it matched (erased by now, but readable).
  std::unordered_map<const Node*, Node*> nodes_map;
  // The nodes inserted into the graph for this match.
  std::vector<Node*> replacements;
};

std::vector<Match> replace_pattern(Graph& graph, const Graph& pattern, const Graph& replacement);

}  // namespace fx
