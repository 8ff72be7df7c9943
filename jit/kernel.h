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

// Note [Row kernels]: a group with a reduction stage computes, for each row of
// its full shape S (the outer dims) and each element j < n of the row (the
// last reduce_dims dims, flattened), statements of three kinds: full values
// (one per element), row values (one per row) and reductions (sum, max, min of
// a full value over the row, giving a row value). A reduction's level is one
// more than its operand's (inputs are level 0); the kernel walks each row once
// per level, accumulating that level's reductions in vector lanes, then once
// more to store the full-size outputs. Row outputs are stored once per row.
struct RowStmt {
  enum Kind : char { kFull = 'f', kRow = 'r', kSum = 's', kMax = 'x', kMin = 'n' };
  Kind kind = kFull;
  std::string ctype;      // the C type of its value
  std::string expr;       // C expression over v<dep>; "@<k>" loads input argument k
  std::vector<int> deps;  // statements it reads (the operand, for a reduction)
  int level = 0;
  std::string comment;  // the node it belongs to
  bool full() const { return kind == kFull; }
};

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

  // --- row kernels (reduce_dims > 0; Note [Row kernels]) ---------------------
  // Then inputs are the kernel's arguments, each a view of one group input:
  // arg_input[a] says which, arg_view[a] how it is read: 'f' broadcast to the
  // full shape, 'k' to S with the reduced dims 1, 'd' to S without them (and
  // then like 'k'). arg_spans[a] has one '1' per dim of S where the view had
  // S's size at fuse time ('0': it broadcast there); calls must agree.
  int64_t reduce_dims = 0;
  int64_t rank = 0;  // of S
  std::vector<int64_t> fixed_reduced;  // required sizes of the reduced dims (or empty)
  // Consecutive rows reduced together (FusionGroup::row_group): the kernel
  // computes groups of them, starting at each row index divisible by it; n
  // in expressions is then the group's element count.
  int64_t row_group = 1;
  std::vector<c10::ScalarType> group_inputs;  // dtype of each group input (what forward takes)
  std::vector<int> arg_input;
  std::vector<int64_t> arg_rank;  // the input's rank at fuse time (calls must agree)
  std::string arg_view;
  std::vector<std::string> arg_spans;
  std::string out_view;        // per output: 'f', 'k' or 'd'
  std::vector<int> out_stmt;   // per output: the statement it stores
  std::vector<RowStmt> rows;   // statements; the first inputs.size() load the arguments
  std::vector<std::string> reductions;  // members that reduce (for people reading a kernel)
  bool is_rows() const { return reduce_dims > 0; }
};

// The spec of group (whose nodes must carry tensor_meta). Throws fx::Error
// naming the node when a member cannot be emitted. A group with reduce_dims > 0
// gets a row kernel spec (build_row_spec, jit/row_codegen.cpp).
KernelSpec build_kernel_spec(const FusionGroup& group, const std::string& name);
KernelSpec build_row_spec(const FusionGroup& group, const std::string& name);

struct Variant {
  // flat: one index over contiguous operands (and broadcast scalars);
  // otherwise an N-D loop of `rank` dims with strides per input.
  bool flat = true;
  int rank = 1;
  std::string pattern;  // per input: 'c' inner stride 1, 'b' inner stride 0, 's' other
  // CUDA flat kernels only: elements per vector access (1: scalar loads). Every
  // contiguous operand must then be aligned to vec * its element size.
  int vec = 1;
  // Row kernels: rank is the number of outer dims after collapsing, pattern
  // has one letter per argument for its walk along the row, then '_' and one
  // letter per full-size output ('c' or 's').
  bool rows = false;
  // CUDA row kernels only (jit/cuda_row_codegen.cpp): 'w' one warp per row,
  // 'b' one block per row; vec then applies to every contiguous walk.
  char row_mode = 0;
  std::string key() const {
    if (rows)
      return "rows" + std::to_string(rank) + "_" + pattern +
             (row_mode ? std::string("_") + row_mode : std::string()) +
             (vec > 1 ? "_v" + std::to_string(vec) : "");
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

// Host C++ source of a row kernel (spec.is_rows()), same entry point: rows
// [begin, end) of the outer dims; sizes[rank] outer sizes then the row length
// n; strides[a * (rank + 1) + d] per argument a, the last one along the row,
// then the same for each full-size output. Row outputs are contiguous [rows].
std::string cpu_row_source(const KernelSpec& spec, const Variant& variant);

// CUDA C++ source for NVRTC exporting `extern "C" __global__ void fx_kernel(FxArgs)`
// (see jit/cuda_codegen.cpp for FxArgs' layout); no includes. A row kernel's
// spec (spec.is_rows()) gets cuda_row_source.
std::string cuda_source(const KernelSpec& spec, const Variant& variant, bool index32);

// CUDA source of a row kernel for NVRTC (variant.row_mode 'w' or 'b'), same
// entry point; its argument FxRowArgs is ptr[arguments + outputs],
// size[rank + 1] (outer sizes, then the row length n), stride[(arguments +
// full-size outputs) * (rank + 1)] as the host row kernel's, and rows.
// jit/cuda_row_codegen.cpp says how rows are spread over warps and blocks.
std::string cuda_row_source(const KernelSpec& spec, const Variant& variant, bool index32);

// The statements of one element for either target, given how input k and
// output k are addressed (C lvalues).
std::string element_body(const KernelSpec& spec, const std::vector<std::string>& in_refs,
                         const std::vector<std::string>& out_refs, const std::string& indent);

// The prelude shared by both targets (kernels/fx_prelude.inc): half/bfloat16
// conversion and the helpers the op table uses.
const char* kernel_prelude();

}  // namespace fx::jit
