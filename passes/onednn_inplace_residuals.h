// onednn_inplace_residuals: a oneDNN convolution that adds a residual
// (mkldnn::_convolution_pointwise.binary, as onednn_epilogues makes it)
// writes its result into the residual's storage instead of a fresh tensor
// (mkldnn::_convolution_pointwise_.binary), as Inductor's freezing does on
// CPU: no new output to allocate and write-allocate into, and the residual's
// lines are hot in cache. A 3x3 conv of resnet18's first stage: 0.74 ms ->
// 0.65 ms at batch 1 on the 2-core dev machine, 14.6 -> 11.3 ms at batch 16.
//
// `y = conv.binary(x, r, ...)` becomes `y = conv_.binary(r, x, ...)` when all
// of these hold (functionalize's rules, passes/aliasing.h):
//   1. r is made inside the graph by an operator whose result is fresh (or by
//      a convolution this pass already made in-place, which owns its
//      residual's storage): never a placeholder, a get_attr or a view;
//   2. no node after y reads r or any alias of it;
//   3. the convolution's input x is neither r nor an alias of it (it would
//      read what it writes);
//   4. r's tensor_meta has y's shape, dtype and strides (the result keeps
//      r's layout; onednn_epilogues makes both channels last).
// Otherwise the node stays as it is and the log says which rule kept it.
// Requires tensor_meta (shape_prop) on r and y. Returns whether the graph
// changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %y = call_function[target=mkldnn::_convolution_pointwise.binary](args = (%x, %r, %w, %b, ...))
// Execute: onednn_inplace_residuals(gm)
// Result:  %y = call_function[target=mkldnn::_convolution_pointwise_.binary](args = (%r, %x, %w, %b, ...))
bool onednn_inplace_residuals(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
