// remove_inference_noops: drops the operators that do nothing in an eval-mode
// forward, replacing each by its input:
//   aten::dropout / feature_dropout / alpha_dropout (and their in-place forms)
//     with train=False;
//   aten::detach (inference has no autograd graph to cut);
//   aten::contiguous of a value already contiguous in the asked memory format,
//   aten::to.dtype to the value's own dtype without copy=True, aten::type_as of
//     two values of one dtype (these three read tensor_meta; without it they stay).
// Each of these returns its input or an alias of it, so the replacement keeps
// aliasing exactly. Returns whether the graph changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %dropout = call_function[target=aten::dropout](args = (%relu, 0.1, False))
//          %linear = call_function[target=aten::linear](args = (%dropout, %w))
// Execute: remove_inference_noops(gm)
// Result:  %linear = call_function[target=aten::linear](args = (%relu, %w))
bool remove_inference_noops(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
