// KernelSpec: what one fused group computes, independent of the backend: the
// dtypes of its inputs and outputs and a list of C statements (from the op
// table in jit/ops.h) that compute its outputs from its inputs, element by
// element. Variant: how one call's operands are laid out (rank after
// collapsing dimensions, and which operands are contiguous, broadcast or
// strided); kernels are specialised on spec and variant, never on sizes.
#pragma once
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "jit/partition.h"

namespace fx::jit {

struct KernelSpec {
  std::string name;                        // "fused_0"
  std::vector<std::string> members;        // node names, graph order
  std::vector<c10::ScalarType> inputs;     // dtype of each input tensor
  std::vector<c10::ScalarType> outputs;    // dtype of each output
  std::vector<std::string> body;           // statements; input k is `a<k>`, values are `v<j>`
  std::vector<std::string> out_values;     // the value stored to each output
  std::vector<std::vector<int>> out_deps;  // inputs each output depends on (for shape checks)
  // The body and dtypes as one string: what of the graph goes into cache keys.
  std::string signature() const;
};

// The spec of group (whose nodes must carry tensor_meta). Throws fx::Error
// naming the node when a member cannot be emitted.
KernelSpec build_kernel_spec(const FusionGroup& group, const std::string& name);

struct Variant {
  // flat: one index over contiguous operands (and broadcast scalars);
  // otherwise an N-D loop of `rank` dims with strides per input.
  bool flat = true;
  int rank = 1;
  std::string pattern;  // per input: 'c' inner stride 1, 'b' inner stride 0, 's' other
  // CUDA flat kernels only: elements per vector access (1: scalar loads). Every
  // contiguous operand must then be aligned to vec * its element size.
  int vec = 1;
  std::string key() const {
    return (flat ? "flat_" : "nd" + std::to_string(rank) + "_") + pattern +
           (vec > 1 ? "_v" + std::to_string(vec) : "");
  }
};

// Elements per vector access for a flat CUDA kernel: vector_bytes (16, one
// 128-bit load, by default) / the widest element among the contiguous operands
// (inputs marked 'c' and all outputs), at least 1.
int cuda_vector_width(const KernelSpec& spec, const std::string& pattern, int vector_bytes = 16);

// Whether 32-bit index arithmetic is exact for a launch over numel elements in
// which input k, walked with strides[k] over sizes, reaches at most
// sum((sizes[d] - 1) * |strides[k][d]|) elements from its start, and the
// grid-stride loop advances up to `stride_slack` elements past numel before
// it stops. Otherwise kernels use 64-bit indices.
bool fits_32bit_index(int64_t numel, const std::vector<int64_t>& sizes,
                      const std::vector<std::vector<int64_t>>& strides, int64_t stride_slack);

// Host C++ source exporting
//   extern "C" void fx_kernel(void* const* ptrs, const int64_t* sizes,
//                             const int64_t* strides, int64_t begin, int64_t end)
// ptrs: inputs then outputs (outputs contiguous). flat: elements [begin, end).
// N-D: rows [begin, end) of the outer dims, sizes[rank], strides[k * rank + d]
// in elements for input k.
std::string cpu_source(const KernelSpec& spec, const Variant& variant);

// CUDA C++ source for NVRTC exporting `extern "C" __global__ void fx_kernel(FxArgs)`
// (see jit/cuda_codegen.cpp for FxArgs' layout); no includes.
std::string cuda_source(const KernelSpec& spec, const Variant& variant, bool index32);

// The statements of one element for either target, given how input k and
// output k are addressed (C lvalues).
std::string element_body(const KernelSpec& spec, const std::vector<std::string>& in_refs,
                         const std::vector<std::string>& out_refs, const std::string& indent);

// The prelude shared by both targets (kernels/fx_prelude.inc): half/bfloat16
// conversion and the helpers the op table uses.
const char* kernel_prelude();

}  // namespace fx::jit
