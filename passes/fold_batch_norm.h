// fold_batch_norm: eval-mode batch norms become free. A batch norm in
// inference (training=false, constant running statistics) is an affine map per
// channel, y = x * s + t with s = gamma / sqrt(var + eps) and t = beta - mean * s.
// When its input is a convolution with constant weights whose values nothing
// else reads (a rank or size check may, as scripted torch.nn modules do), the
// map moves into the convolution: weight * s (per output channel) and
// bias * s + t; the pair becomes one aten::convolution with new constants.
// The same holds for an aten::linear with a 2-D output ([batch, features],
// where batch norm's channels are the features): one aten::linear.
// Any other eval batch norm with constant statistics becomes aten::mul and
// aten::add with constant per-channel tensors, which the fuser then merges
// with its neighbours.
//
// A batch norm after a transposed convolution (whose output channels lie in a
// different weight dimension) is not folded into it; it becomes aten::mul and
// aten::add like any other. Batch norms in training mode or with statistics
// that are not constants are kept and logged. Numerics: folding rounds once in float32,
// within 1e-5 relative of the unfolded graph. Returns whether the graph
// changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %conv2d = call_function[target=aten::conv2d](args = (%x, %w, %b, [1, 1], ...))
//          %batch_norm = call_function[target=aten::batch_norm](args = (%conv2d, %g, %beta, %mean, %var, False, 0.1, 1e-05, True))
// Execute: fold_batch_norm(gm)
// Result:  %convolution = call_function[target=aten::convolution](args = (%x, %_bn_w, %_bn_b, [1, 1], ...))
bool fold_batch_norm(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
