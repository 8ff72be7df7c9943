// legalize: puts the nodes of a graph edited out of order back into a
// topological order, in place (torch.fx's passes.tools_common.legalize_graph).
// It only moves nodes: names, args, users and Node* stay as they were. It does
// not remove dead nodes or check targets.
#pragma once

namespace fx {

class Graph;

// Reorders graph's nodes so that every node comes after its inputs.
//
// Kahn's algorithm, where the next node is always the ready node that comes
// first in the current order (torch.fx pops a plain FIFO queue, which can
// reorder an already sorted graph; ours cannot). So:
//   - an already topologically ordered graph is left exactly as it is;
//   - placeholders come first, in their current order, and the output last;
//   - otherwise nodes keep their relative order wherever dependencies allow.
// Iterative (a 100,000-node chain is fine), O(n log n).
//
// Given:   %x = placeholder[target=x]
//          %b = call_function[target=aten::relu](args = (%a,))
//          %a = call_function[target=aten::neg](args = (%x,))
//          return b
// Execute: legalize(graph)
// Result:  %x, %a, %b, return b
//
// Throws fx::Error when the nodes form a cycle, naming the nodes that cannot
// be placed and one cycle among them; the graph is unchanged then. Also
// throws when a node uses a node of another graph.
void legalize(Graph& graph);

}  // namespace fx
