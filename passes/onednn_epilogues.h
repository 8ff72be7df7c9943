// onednn_epilogues: convolutions and linear layers on CPU float32 run as
// oneDNN primitives with their following activation, and a following residual
// add, applied inside the primitive (what TorchScript's optimize_for_inference
// and Inductor's freezing do on CPU). A 2-D convolution with constant weights
// becomes mkldnn::_convolution_pointwise (or its .binary form when an add of a
// same-shaped tensor follows, then optionally an activation); aten::linear
// with a constant 2-D weight and a following activation becomes
// mkldnn::_linear_pointwise; one without becomes mkl::_mkl_linear where
// LibTorch has MKL (its packed sgemm was 4-9% faster than oneDNN's and ATen's
// at BERT's shapes on the AVX-512 dev machine, as Inductor's freezing also
// chooses), with a following residual add left as its own node for fuse to
// join to what follows (BERT's and the MLP block's layer_norm), else
// mkldnn::_linear_pointwise (.binary for a following add). Activations taken in: relu, sigmoid, tanh, hardswish,
// silu, hardsigmoid, gelu (both approximations), hardtanh, relu6, clamp with
// numeric bounds, leaky_relu. Each folded node must be the only user of the
// one before it, shape readers aside: the rank and size checks of scripted
// torch.nn modules (aten::dim, aten::size) read the primitive's result
// instead, and the graph is put back in topological order when that moves them.
//
// Weights stay dense here (convolution weights channels last);
// pack_onednn_weights lays them out for oneDNN ahead of time.
//
// Layout: every rewritten convolution reads its input through
// aten::contiguous(memory_format=channels_last), oneDNN's fast layout; the
// output keeps the input's layout, so a chain of convolutions stays channels
// last and the conversions that are no-ops can be removed by
// remove_inference_noops after shape propagation. Graph outputs that were
// contiguous 4-D tensors are made contiguous again, so callers see the same
// strides as before.
//
// Requires tensor_meta on the nodes (shape_prop) and a LibTorch built with
// oneDNN; without either the pass changes nothing and logs why. Returns
// whether the graph changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %convolution = call_function[target=aten::convolution](args = (%x, %w, %b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1))
//          %relu = call_function[target=aten::relu](args = (%convolution,))
// Execute: onednn_epilogues(gm)
// Result:  %contiguous = call_function[target=aten::contiguous](args = (%x,), kwargs = {memory_format: torch.channels_last})
//          %conv_relu = call_function[target=mkldnn::_convolution_pointwise](args = (%contiguous, %w, %b, [1, 1], [1, 1], [1, 1], 1, relu, [], None))
struct OnednnEpilogueOptions {
  // Linears without an activation to fold run as MKL packed GEMMs (where
  // LibTorch has MKL). Memory: MKL's packed weight takes about 2.5x the dense
  // one plus ~8 MB, and the dense weight is kept beside it (for other row
  // counts); false keeps every linear on oneDNN (one packed copy).
  bool mkl_linear = true;
};

bool onednn_epilogues(GraphModule& gm, PassLog* log = nullptr,
                      const OnednnEpilogueOptions& options = {});

}  // namespace fx
