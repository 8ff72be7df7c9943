// GraphModule: a Graph plus everything its get_attr and call_module nodes
// refer to (tensors and submodules, by qualified name), plus what is
// generated from the graph by recompile(): readable C++ source (code()) and
// the Program that forward() runs. The analog of torch.fx's GraphModule.
//
// Thread safety: forward() may be called from many threads at once.
// Mutating the graph or the attributes, or calling recompile(), while other
// threads run forward() is not allowed.
//
// Editing the graph in place does not update code() or forward(): call
// recompile() afterwards, as in torch.fx.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/graph.h"
#include "runtime/module.h"

namespace at {
class Tensor;
}

namespace fx {

class CodeGen;
class Program;

// What get_attr and call_module nodes resolve against: qualified name ->
// tensor (parameter, buffer or constant; any IValue is allowed) or submodule.
struct Attributes {
  std::map<std::string, c10::IValue> values;
  std::map<std::string, std::shared_ptr<Module>> modules;
};

class GraphModule : public Module {
 public:
  // Takes the graph and the attributes its nodes refer to. Only referenced
  // attributes are kept (as torch.fx copies only what the graph uses). A
  // get_attr or call_module target that is missing is an fx::Error naming
  // the node.
  GraphModule(std::unique_ptr<Graph> graph, Attributes attributes,
              std::string class_name = "GraphModule");
  ~GraphModule() override;
  GraphModule(const GraphModule&) = delete;
  GraphModule& operator=(const GraphModule&) = delete;

  Graph& graph() { return *graph_; }
  const Graph& graph() const { return *graph_; }
  const std::string& class_name() const { return class_name_; }

  // Regenerates code() and the Program from the graph. Throws fx::Error when
  // the graph does not lint or names an unknown operator or attribute.
  void recompile();
  // The C++ source of forward, as last generated.
  const std::string& code() const;
  // code() with a header comment naming the class, like FX's print_readable.
  std::string print_readable() const;

  // Runs the Program. Inputs fill the placeholders in order; missing ones
  // take their defaults.
  c10::IValue forward(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs = {}) override;
  template <typename... Ts>
  c10::IValue operator()(Ts&&... inputs) {
    return forward(std::vector<c10::IValue>{c10::IValue(std::forward<Ts>(inputs))...});
  }
  std::string kind() const override { return class_name_; }

  // The code generator: signature, how inputs are unpacked and outputs
  // packed. Takes effect at the next recompile().
  void set_codegen(std::shared_ptr<CodeGen> codegen);
  const CodeGen& codegen() const { return *codegen_; }

  // Attributes, by qualified name.
  const c10::IValue* get_attr(const std::string& name) const;
  void set_attr(const std::string& name, c10::IValue value);
  std::shared_ptr<Module> get_submodule(const std::string& name) const;
  // Installs m at name; returns false if name is already an attribute value.
  bool add_submodule(const std::string& name, std::shared_ptr<Module> m);
  bool delete_submodule(const std::string& name);
  const Attributes& attributes() const { return attributes_; }

  // When on, forward() runs under c10::InferenceMode (no autograd records, no
  // version counters); its outputs are then inference tensors. Off by default;
  // fx::jit::optimize_for_inference turns it on.
  void set_inference_mode(bool on) { inference_mode_ = on; }
  bool inference_mode() const { return inference_mode_; }

 private:
  std::unique_ptr<Graph> graph_;
  Attributes attributes_;
  std::string class_name_;
  std::shared_ptr<CodeGen> codegen_;
  std::string code_;
  std::shared_ptr<const Program> program_;
  bool inference_mode_ = false;
};

}  // namespace fx
