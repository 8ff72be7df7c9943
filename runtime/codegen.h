// CodeGen: decides how a GraphModule's forward looks and behaves at its
// edges, as torch.fx's CodeGen does: the signature of the generated source,
// how the values given to forward become placeholder values, and how the
// output node's value becomes what forward returns. The default passes values
// through unchanged. Install another with GraphModule::set_codegen, then
// recompile().
//
// generate() writes the C++ source of forward (GraphModule::code()): one
// statement per node, named after it, calling ATen operators through
// `at::_ops::<name>_<overload>::call`, and releasing each value after its last
// use (torch.fx's `x = None`). The file compiles against LibTorch alone.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

namespace fx {

class Graph;
struct Attributes;

class CodeGen {
 public:
  virtual ~CodeGen() = default;

  // The values given to forward -> one value per placeholder, in order.
  virtual std::vector<c10::IValue> process_inputs(std::vector<c10::IValue> inputs) const {
    return inputs;
  }
  // The output node's value -> what forward returns.
  virtual c10::IValue process_outputs(c10::IValue output) const { return output; }

  // The function header, given the parameter declarations
  // (`const c10::IValue& x`, ...).
  virtual std::string gen_fn_def(const std::vector<std::string>& params) const;
  // Statements that turn the header's parameters into one variable per
  // placeholder (names given); empty by default.
  virtual std::vector<std::string> gen_input_unpack(const std::vector<std::string>& names) const;
  // The return statement for a C++ expression of the output value.
  virtual std::string generate_output(const std::string& value) const;

  // The whole source file for graph.
  std::string generate(const Graph& graph, const std::string& class_name) const;
};

}  // namespace fx
