// How one call of an elementwise FusedKernel walks its operands: the loop's
// dimensions after collapsing those that every input walks as one, and the
// Variant (flat or N-D, and each input's inner stride) its kernel is
// specialised on. Pure functions of shapes and strides; nothing is allocated
// or compiled here.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "jit/kernel.h"

namespace fx::jit {

// Dimensions of the loop after collapsing: sizes outermost first, and per
// input its strides in elements (0 where it broadcasts).
struct FusedLayout {
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> strides;
};

// The loop over shape (the inputs' broadcast shape) as few dimensions as the
// inputs allow: size-1 dims are dropped, and a dim is merged into the next
// inner one when every input walks both as one (stride of the outer ==
// stride of the inner * size of the inner). REQUIRES: each input broadcasts
// to shape.
FusedLayout collapse(const std::vector<int64_t>& shape, const std::vector<at::Tensor>& ins);

// The variant for a collapsed layout: flat when there is at most one dim and
// every input is contiguous or broadcast along it; otherwise N-D of the
// layout's rank. Its pattern has one letter per input for its innermost
// stride: 'c' (1), 'b' (0) or 's' (other).
Variant pick_variant(const FusedLayout& layout);

}  // namespace fx::jit
