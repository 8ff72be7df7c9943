// The fusible operators: one table, op -> C expression template, shared by the
// partitioner (what may be fused, and why not) and by both code generators
// (what a fused node computes). Expressions are plain C that compiles both with
// the host compiler and with NVRTC against the prelude in kernels/.
//
// Deliberate limits: exact overloads only (no in-place, no out=, no aliasing),
// real dtypes only (no complex, no quantized), scalar constants baked in.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

namespace fx {
class Node;
}

namespace fx::jit {

// How an op's operands are converted before its expression is evaluated.
enum class OpKind {
  kFloat,    // compute in the output dtype, which must be floating (exp, sigmoid, div, ...)
  kArith,    // compute in the output dtype, any real dtype (add, mul, relu, clamp, ...)
  kCompare,  // compute in the promoted dtype of the operands; output bool
  kLogical,  // operands as bool; output bool
  kWhere,    // condition as bool, the other operands in the output dtype
  kCast,     // the input converted to the output dtype
};

struct OpDef {
  const char* target;  // exact overload, "aten::add.Tensor"
  OpKind kind;
  // "" or "formal=value": the row applies only when that constant formal prints as value
  // (gelu's approximate, pow's exponent). The first matching row wins.
  const char* when;
  // C expression. {name} is the bound formal `name` (already in the compute type),
  // {T} the compute C type, {f} "f" for float math and "" for double.
  const char* expr;
};

// Every row, in table order (tests walk it).
std::vector<const OpDef*> op_table();

// The rows for one target (empty when it is not fusible).
std::vector<const OpDef*> op_rows(const std::string& target);

// Whether target's base name (without overload, without trailing '_') is an
// elementwise operator the table knows in some overload: the nodes an
// explanation talks about.
bool is_elementwise_name(const std::string& target);

// Whether node can be part of a fused kernel on its own terms (overload, dtypes,
// constants, tensor_meta present); when not, why (a short lowercase phrase).
bool node_is_fusible(const Node& node, std::string* why);

// C types: the type a value of dtype is computed in (half/bfloat16 -> float),
// and the type it is stored in memory as.
const char* compute_ctype(c10::ScalarType dtype);
const char* storage_ctype(c10::ScalarType dtype);
bool dtype_supported(c10::ScalarType dtype);

// The expression that computes node (a fusible call_function) from its
// operands. operand(node_or_constant_arg_index) gives the C expression of each
// Node operand in its own compute type. Returns the C expression of the result in
// the compute type of the node's output dtype. Throws fx::Error on a node that
// node_is_fusible rejects.
struct Operand {
  const Node* node;       // the producer
  std::string expr;       // its value, in compute_ctype(dtype)
  c10::ScalarType dtype;  // its dtype
  int64_t dim;            // its rank (for type promotion)
};
std::string emit_node_expr(const Node& node, const std::vector<Operand>& operands);

}  // namespace fx::jit
