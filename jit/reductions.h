// The fusible reductions and normalizations: which ATen operators a row kernel
// (a fused group with a reduction stage, Note [Row kernels] in jit/kernel.h)
// can hold, over which dimensions, and how each one decomposes into row
// reductions (sum, max, min) and elementwise expressions inside the kernel.
//
// A fusible reduction reduces the last k dimensions of a floating tensor of
// rank r >= 1 (the "full" shape S) on the CPU: sum/mean/amax/amin/var/std over
// dims {r-k..r-1} (keepdim or not), softmax/log_softmax over the last dim,
// layer_norm/rms_norm over their normalized_shape, adaptive_avg_pool2d to 1x1
// (k = 2), group_norm of a contiguous [N, C, *] input: over [C, *] when
// num_groups is 1 without weight and bias (k = rank - 1), else over [*]
// (k = rank - 2) with the C/G rows of a group reduced together (row_group;
// then weight or bias must be given, so that C is fixed). Its result is either one value per row
// (shape S with the reduced dims 1, or without them) or full-size (softmax, the norms).
//
// native_layer_norm is layer_norm returning (out, mean, rstd): its result is a
// tuple (out_view 't') read only by getitem nodes, which are members of its
// group (reduction_item); out is full-size, mean and rstd are rows kept as 1s.
//
// Deliberate limits: no integer reductions, no dtype= conversions other than
// to the output dtype. Row kernels run on the CPU (jit/row_codegen.cpp) and
// on CUDA devices (jit/cuda_row_codegen.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "jit/kernel.h"

namespace fx {
class Node;
struct TensorMeta;
}

namespace fx::jit {

// Where a reduction sits: the shape of the tensor it reduces and how many
// trailing dims it reduces.
struct ReductionInfo {
  std::vector<int64_t> full_shape;
  int64_t k = 0;
  // 'f': its output has the full shape; 'k': the reduced dims kept as 1s;
  // 'd': the reduced dims dropped; 't': a tuple of those (native_layer_norm:
  // full, kept, kept), read through getitem members.
  char out_view = 'k';
  // Sizes the reduced dims must have (layer_norm / rms_norm normalized_shape);
  // empty when any size will do.
  std::vector<int64_t> fixed_reduced;
  // The formals read as full-size operands (self/input, weight, bias).
  std::vector<const Node*> operands;
  // The formals read as one value per row, viewed as the output without the
  // reduced dims (group_norm's per-channel weight and bias).
  std::vector<const Node*> row_operands;
  // How many consecutive rows are reduced together (group_norm: the C/G
  // channels of a group, each a row of [*]); 1 otherwise.
  int64_t row_group = 1;
};

// The node's tensor_meta, or the first of its list of them (a node that returns
// a tuple); nullptr when it has none.
const TensorMeta* first_tensor_meta(const Node& node);

// When node is `getitem(r, i)` of a reduction r whose result is a tuple
// (native_layer_norm), i; else -1. Such a node is computed inside r's row kernel.
int reduction_item(const Node& node);

// Whether target's base name is a reduction or normalization explain_fusion
// talks about (fused or not).
bool is_reduction_name(const std::string& target);

// Whether node is a reduction a row kernel can hold; fills *info. When not,
// why (a short lowercase phrase).
bool node_is_reduction(const Node& node, ReductionInfo* info, std::string* why);

// Statements of a row kernel under construction (see RowStmt in jit/kernel.h).
class RowBuilder {
 public:
  explicit RowBuilder(std::vector<RowStmt>* stmts) : stmts_(stmts) {}
  // An elementwise value: full when any dep is, else per row.
  int value(const std::string& ctype, const std::string& expr, std::vector<int> deps,
            const std::string& comment = "");
  // A reduction of the full value `operand` over the row.
  int reduce(RowStmt::Kind kind, const std::string& ctype, int operand,
             const std::string& comment = "");
  static std::string var(int id) { return "v" + std::to_string(id); }
  const RowStmt& at(int id) const { return (*stmts_)[id]; }

 private:
  std::vector<RowStmt>* stmts_;
};

// Emits node (node_is_reduction is true) in terms of its operands' statement
// ids (operand(n) gives the id of the value of Node n, in its compute type);
// returns the id of its result. `n` in expressions is the row length (int64_t).
// For a node whose result is a tuple (out_view 't'), *items gets the id of each
// element (the return value is the first).
int emit_reduction(const Node& node, const std::function<int(const Node*)>& operand, RowBuilder& b,
                   std::vector<int>* items = nullptr);

}  // namespace fx::jit
