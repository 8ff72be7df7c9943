// fold_constants: freezing's second half. A GraphModule's parameters and
// buffers are already constants of the module (get_attr nodes); this pass
// computes, once, every operator call whose inputs are all such constants
// (`t(weight)`, a reshape of a scale, `rsqrt(var + eps)`) and replaces it by a
// get_attr of the result, a new attribute named `_folded_<node name>`. Results
// that are plain numbers, bools or lists of them become literals in their
// users' arguments instead.
//
// Not folded: in-place or side-effecting operators, random operators, nodes
// that read no constant at all (factories stay in the graph), and anything
// that is not a dispatcher operator. An operator that throws while folding is
// left in the graph (it will throw at run time with the usual node message)
// and the log says why. Returns whether the graph changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %w = get_attr[target=fc.weight]
//          %t = call_function[target=aten::t](args = (%w,))
//          %addmm = call_function[target=aten::addmm](args = (%b, %x, %t))
// Execute: fold_constants(gm)
// Result:  %_folded_t = get_attr[target=_folded_t]
//          %addmm = call_function[target=aten::addmm](args = (%b, %x, %_folded_t))
bool fold_constants(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
