// What the passes that change who owns a tensor's storage (functionalize,
// onednn_inplace_residuals) agree on about aliasing, from operator schemas.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "ir/node.h"

namespace fx::passes {

// Whether target's schema exists and returns a fresh tensor (no alias
// annotation on any result).
bool returns_fresh(const std::string& target);

// Whether a node may return an alias of one of its inputs (views, in-place
// ops, anything we cannot see into).
bool may_alias_input(const Node& n);

// Each node's index in g's node order.
std::unordered_map<const Node*, size_t> node_positions(const Graph& g);

// x and every node that may alias it: its users that may return an alias of
// an input, and theirs, transitively (breadth first, x first). `skip` is
// never entered.
std::vector<const Node*> aliases_of(const Node& x, const Node* skip = nullptr);

// The first node after `at` (by `position`) that reads x or any alias made
// from x (transitively through nodes that may alias their inputs), `at`
// itself not counted; null when there is none.
const Node* read_after(const Node& x, const Node& at,
                       const std::unordered_map<const Node*, size_t>& position);

}  // namespace fx::passes
