// pack_onednn_weights: the weights of oneDNN convolution and linear nodes
// (mkldnn::_convolution_pointwise, _linear_pointwise and their .binary forms,
// as onednn_epilogues makes them) are laid out once, ahead of time, in the
// blocked format oneDNN picks for the layer and the input shape recorded in
// tensor_meta (mkldnn::_reorder_convolution_weight, _reorder_linear_weight).
// Without it oneDNN reorders a dense weight on every call, which costs more
// than the convolution itself for large layers.
//
// MKL's linear (mkl::_mkl_linear, as onednn_epilogues makes it for a linear
// without an activation) gets its first weight argument packed by
// mkl::_mkl_reorder_linear_weight for the row count the node records; its
// second stays dense for other row counts.
//
// Packed weights are opaque mkldnn tensors; fx::save writes oneDNN's dense
// and MKL's empty (their layout is MKL's own; the operator then runs its
// dense weight), so a
// loaded module runs correctly but unpacked until this pass (or
// fx::jit::optimize_for_inference, which ends with it) runs on it again.
// Weights that are already packed, are not constants, or whose input has no
// tensor_meta are left alone; a weight the operator cannot pack is kept
// dense and logged. Other input shapes stay correct (oneDNN converts as
// needed). Returns whether the graph changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %w = get_attr[target=conv_weight]        (a dense float tensor)
//          %y = call_function[target=mkldnn::_convolution_pointwise](args = (%x, %w, %b, ...))
// Execute: pack_onednn_weights(gm)
// Result:  %packed = get_attr[target=_packed_y]     (an opaque mkldnn tensor)
//          %y = call_function[target=mkldnn::_convolution_pointwise](args = (%x, %packed, %b, ...))
bool pack_onednn_weights(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
