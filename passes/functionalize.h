// functionalize: turns in-place operators (`aten::relu_`, `aten::add_.Tensor`,
// `aten::hardtanh_`, Tensor methods ending in `_`) into their functional forms
// wherever nobody can observe the difference, so that the fuser and the
// epilogue passes, which only take functional operators, see them. An in-place
// node `y = op_(x, ...)` becomes `y = op(x, ...)` when all of these hold:
//   1. x is made by an operator inside the graph whose schema says its result
//      is fresh (no alias annotation): never a placeholder (the caller's
//      tensor), a get_attr (a constant shared by every call) or a view;
//   2. no node after y reads x, or reads any view or alias made from x;
//   3. the functional operator exists and its schema takes the same arguments
//      (names and types, in order).
// Otherwise the node keeps its in-place form and the log says which rule kept
// it. Nodes are visited in order, so a chain of in-place ops on one fresh
// value becomes functional link by link. Returns whether the graph changed;
// does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %bn = call_function[target=aten::batch_norm](args = (%conv, ...))
//          %relu_ = call_function[target=aten::relu_](args = (%bn,))
// Execute: functionalize(gm)
// Result:  %relu_ = call_function[target=aten::relu](args = (%bn,))
bool functionalize(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
