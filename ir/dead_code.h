// eliminate_dead_code: erases every node that has no users and is not impure
// (Node::is_impure, or the caller's predicate; placeholders and the output
// are always kept), walking the graph backwards so
// chains of dead nodes go in one pass. Lints first, so a graph that is out of
// topological order raises instead of losing nodes. Returns whether anything
// was erased.
//
// Given:   %a = call_function[target=aten::sin](args = (%x,)), no users
// Execute: eliminate_dead_code(graph)
// Result:  %a is erased; returns true (a second call returns false)
#pragma once

#include <functional>

namespace fx {

class Graph;
class Node;

bool eliminate_dead_code(Graph& graph, const std::function<bool(const Node*)>& is_impure_node = {});

}  // namespace fx
