// ConvCall: a convolution node read into one canonical form, whichever of the
// spellings capture produced (aten::conv1d/2d/3d, aten::convolution,
// aten::_convolution), with its weight and bias resolved to the module's
// constant tensors. Shared by fold_batch_norm and onednn_epilogues. Internal
// to passes/.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "runtime/graph_module.h"

namespace fx::passes {

struct ConvCall {
  Node* input = nullptr;
  at::Tensor weight;            // a constant of the module
  std::optional<at::Tensor> bias;  // a constant, or none
  std::vector<int64_t> stride, padding, dilation, output_padding;
  bool transposed = false;
  int64_t groups = 1;
};

// n read as a convolution whose weight (and bias, when present) are constants
// of gm and whose stride, padding and dilation are literal integer lists
// (string padding such as "same" is not read). Empty otherwise.
std::optional<ConvCall> read_conv(const GraphModule& gm, const Node& n);

// A literal list of ints, one-element lists widened to `dims` entries (the
// conv2d(x, w, stride=[2]) shorthand). Empty when arg is anything else.
std::optional<std::vector<int64_t>> int_list(const Argument& arg, size_t dims);

// Inserts (at the graph's insertion point) the canonical
// aten::convolution(input, weight, bias, stride, padding, dilation,
// transposed, output_padding, groups) call for c, with weight and bias as new
// constants of gm named after `base`.
Node* emit_convolution(GraphModule& gm, const ConvCall& c, const std::string& base);

}  // namespace fx::passes
