// CudaArgs: the one description of a fused CUDA kernel's argument, used both
// by the code generator (jit/cuda_codegen.cpp declares the kernel's parameter
// from it) and by the launcher (jit/fused_cuda_launch.cpp packs the values
// with it), so the two cannot disagree.
//
// Note [CUDA kernel arguments]: the kernel takes one struct, FxArgs, by value.
// It holds only 8-byte fields, so the host fills it as an array of 64-bit
// words, in this order:
//   ptr[inputs + outputs]   data pointers, inputs then outputs;
//   size[rank]              the loop's sizes after collapsing, outermost first
//                           (flat kernels: rank 1, size[0] = n);
//   stride[inputs * rank]   input k's stride along dim d, in elements, at
//                           k * rank + d (flat kernels: all 0, unused); at
//                           least one word, so that the array is never empty;
//   n                       the number of elements.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "jit/kernel.h"

namespace fx::jit {

struct CudaArgs {
  int64_t inputs = 0;
  int64_t outputs = 0;
  int64_t rank = 1;  // entries of size[]; 1 for flat kernels

  // Where each field starts, in 64-bit words from the start of FxArgs.
  int64_t ptr_word() const { return 0; }
  int64_t size_word() const { return inputs + outputs; }
  int64_t stride_word() const { return size_word() + rank; }
  int64_t n_word() const { return stride_word() + stride_words(); }
  int64_t words() const { return n_word() + 1; }  // sizeof(FxArgs) / 8
  int64_t stride_words() const { return inputs > 0 ? inputs * rank : 1; }
  // The index in stride[] of input k's stride along dim d.
  int64_t stride_index(int64_t k, int64_t d) const { return k * rank + d; }

  // The CUDA C++ declaration of `struct FxArgs { ... };` (one line per field).
  std::string declaration() const;

  // The words of one launch. ptrs: inputs then outputs. Flat kernels: sizes
  // and strides are ignored (size[0] is n, the strides 0). N-D kernels:
  // sizes[rank] and strides[k][rank] per input.
  // REQUIRES: ptrs.size() == inputs + outputs; N-D sizes and strides as above.
  std::vector<int64_t> pack(const std::vector<void*>& ptrs, bool flat,
                            const std::vector<int64_t>& sizes,
                            const std::vector<std::vector<int64_t>>& strides, int64_t n) const;
};

// The argument of spec's kernel for variant.
CudaArgs cuda_args(const KernelSpec& spec, const Variant& variant);

}  // namespace fx::jit
