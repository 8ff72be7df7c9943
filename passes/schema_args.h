// Helpers the inference passes share: a call_function node's arguments read by
// their schema names (with schema defaults filled in, so `conv2d(x, w)` and
// `conv2d(x, w, None, [1, 1])` read alike), constant tensors behind get_attr
// nodes, and fresh attribute names. Internal to passes/; not a public API.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/node.h"
#include "runtime/graph_module.h"

namespace fx::passes {

// The arguments of a call_function node whose target is a dispatcher operator,
// one per formal of its schema. Empty (no value) when the target is not an
// operator or the node's arguments do not bind to its schema.
class SchemaArgs {
 public:
  static std::optional<SchemaArgs> of(const Node& n);
  // The argument bound to formal `name`, or the schema default. An internal
  // error when the schema has no such formal.
  const Argument& operator[](const std::string& name) const;
  bool has(const std::string& name) const;
  const c10::FunctionSchema& schema() const { return *schema_; }

 private:
  const c10::FunctionSchema* schema_ = nullptr;
  std::vector<std::string> names_;
  std::vector<Argument> values_;
};

// A schema default (or any simple IValue) as a node argument: None, bools,
// ints, floats, strings, and lists of those. Empty for anything else.
std::optional<Argument> argument_from_ivalue(const c10::IValue& v);

// The tensor behind arg when arg is a get_attr node of gm holding a tensor or
// a literal tensor; nullptr otherwise.
const at::Tensor* constant_tensor(const GraphModule& gm, const Argument& arg);

// base, or base_1, base_2, ... : the first that names no attribute of gm.
std::string fresh_attr_name(const GraphModule& gm, const std::string& base);

// Adds a get_attr node for a new attribute of gm holding value, named after base.
Node* add_constant(GraphModule& gm, const std::string& base, const at::Tensor& value);

// Whether every user of n is later in the graph than `after` (n's users
// before or at `after` excluded); used to prove that a value is dead once an
// operation has consumed it.
bool no_use_after(const Node& n, const Node& after);

// Whether n reads only the rank or sizes of its tensor arguments (aten::size,
// aten::dim, aten::numel and their TorchScript `jit.aten.*` spellings, as in
// the rank checks of scripted torch.nn modules): replacing such an argument by
// a value of the same shape keeps n's result.
bool reads_shape_only(const Node& n);

// The operator's ns::name without its overload (`aten::add.Tensor` -> `aten::add`).
std::string op_base_name(const std::string& target);

}  // namespace fx::passes
