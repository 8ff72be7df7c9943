// Symbolic tracing of LibTorch C++ code: fx::symbolic_trace runs a module's
// forward (or any function over tensors) on proxy tensors that hold no data
// and records every ATen operator the code calls as a call_function node.
//
// How it works: proxies are
// storage-less tensors; while a trace runs, a boxed fallback on a dispatcher
// key above autograd sees every operator call, records it, and computes its
// output shapes on meta tensors (or, for operators without a meta kernel, on
// zero-filled CPU stand-ins). Parameters and buffers of the root module
// become get_attr nodes with their qualified names; other real tensors become
// constant attributes (`_tensor_constant0`). Tracing never changes the module:
// in-place updates of buffers run on meta copies.
//
// Limits: C++ module calls are not visible to the dispatcher, so submodules
// are traced through (use fx::call_leaf to keep one opaque); shapes read with
// x.size(0) are baked in as constants; reading data (item(), data_ptr, a
// branch on a value, nonzero) raises fx::TraceError naming the operator.
// One trace at a time per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/graph.h"
#include "runtime/graph_module.h"

namespace torch {
namespace nn {
class Module;
}
}  // namespace torch

namespace fx {

struct TraceOptions {
  // Placeholder names, one per example input (default: x, x_1, x_2, ...).
  std::vector<std::string> input_names;
  // The device that factory calls on proxies (`torch::zeros(n, x.options())`)
  // are recorded with; default: the first real example input's device, else CPU.
  std::optional<c10::Device> device;
};

using TracedFn = std::function<c10::IValue(std::vector<c10::IValue>)>;

class Tracer {
 public:
  explicit Tracer(TraceOptions options = {});
  virtual ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Runs fn on proxies for example_inputs and returns the recorded graph.
  // Tensors (real or meta) become placeholders. Lists and tuples of tensors
  // (nested too) become one placeholder per tensor, named `<input>_1`,
  // `<input>_2`, ..., and fn gets the same structure of proxies; one that
  // mixes tensors with other values, or a dict, is a TraceError naming the
  // input. Other values are baked in, as FX's concrete_args: the placeholder
  // `<input>_1` keeps the value as its default, and a `_assert_specialized`
  // node makes every call check that it is given that value (an fx::Error
  // naming the input and both values otherwise).
  //
  // While fn runs, a GraphModule's calls of fx::wrap functions and of
  // submodules other than GraphModules are recorded as one node each, so
  // re-tracing a traced GraphModule keeps them as the first trace did.
  // root, when given, names parameters and buffers. Throws fx::TraceError.
  std::unique_ptr<Graph> trace(const TracedFn& fn, const std::vector<c10::IValue>& example_inputs,
                               const torch::nn::Module* root = nullptr);

  // What the graph's get_attr nodes refer to, after trace().
  const Attributes& attributes() const { return attributes_; }
  // After trace(): the code generator the traced GraphModule needs, or
  // nullptr for the default. Set when an example input was a list or tuple of
  // tensors, which the graph takes as one placeholder per tensor (torch.fx's
  // pytree flattening): this CodeGen flattens such inputs again on each call.
  std::shared_ptr<CodeGen> codegen() const { return codegen_; }

  // --- hooks a subclass may override --------------------------------------
  // Creates every node the tracer records.
  virtual Node* create_node(Op op, const std::string& target, Args args, Kwargs kwargs,
                            const std::optional<std::string>& name = {});
  // How a real (non-proxy) tensor used by the traced code becomes an
  // argument: a get_attr of the root's parameter or buffer with that
  // identity, otherwise a new constant attribute `_tensor_constantN`.
  virtual Argument create_tensor_arg(const at::Tensor& t);
  // The name of the parameter or buffer t is, or "" (default: looks in root).
  virtual std::string qualified_name_of(const at::Tensor& t);

  // Internal: called by the dispatcher fallback for each operator call.
  void record_operator(const c10::OperatorHandle& op, std::vector<c10::IValue>* stack);
  // Internal: records a call_function/call_module node computed by fn.
  c10::IValue record_call(Op op, const std::string& target, const std::vector<c10::IValue>& args,
                          const std::function<c10::IValue(std::vector<c10::IValue>)>& fn);
  static Tracer* current();
  // Internal: records a registered class's construction and method calls.
  c10::IValue record_object(const c10::ClassTypePtr& type, const std::vector<c10::IValue>& args);
  c10::IValue record_method(const c10::IValue& object, const std::string& method,
                            const std::vector<c10::IValue>& args);
  // Internal: makes module a submodule of the traced GraphModule (call_leaf).
  void add_module(const std::string& name, std::shared_ptr<Module> module) {
    attributes_.modules[name] = std::move(module);
  }

 protected:
  Graph& graph() { return *graph_; }

 private:
  struct State;
  Argument to_argument(const c10::IValue& v, const c10::Argument* formal);
  c10::IValue to_meta(const c10::IValue& v);
  c10::IValue wrap_outputs(const c10::IValue& meta_out, Node* node,
                           const std::vector<c10::IValue>& inputs);
  // A call's result as proxies: a tensor for node itself, a tuple through one
  // getitem node per element.
  c10::IValue wrap_result(const c10::IValue& meta_out, Node* node);
  at::Tensor meta_of(const at::Tensor& t);

  TraceOptions options_;
  std::unique_ptr<Graph> graph_;
  std::shared_ptr<CodeGen> codegen_;
  Attributes attributes_;
  const torch::nn::Module* root_ = nullptr;
  std::unordered_map<const void*, std::string> param_names_;
  std::unordered_map<const void*, Node*> attr_nodes_;
  std::unordered_map<const void*, at::Tensor> meta_twins_;
  int constant_count_ = 0;
  std::unordered_map<const void*, Node*> object_nodes_;
  std::vector<c10::IValue> objects_;  // keeps traced objects (and their addresses) alive
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
};

// Traces root's forward (any callable over IValues that calls into root) and
// returns a GraphModule holding the graph and root's referenced tensors.
std::unique_ptr<GraphModule> symbolic_trace(const torch::nn::Module& root, const TracedFn& forward,
                                            const std::vector<c10::IValue>& example_inputs,
                                            TraceOptions options = {});
// Traces a free function over tensors.
std::unique_ptr<GraphModule> symbolic_trace(const TracedFn& fn,
                                            const std::vector<c10::IValue>& example_inputs,
                                            TraceOptions options = {});

// fx::wrap: a C++ function recorded as one call_function node named `name`
// instead of being traced into, and run by the runtime under that name.
// Call the returned function from the traced code; outside a trace it just
// calls fn. Its output shapes come from running fn on meta tensors (or on
// zero-filled CPU stand-ins).
//   static auto my_gelu = fx::wrap("my_gelu", [](std::vector<c10::IValue> a) { ... });
//   ... y = my_gelu({x}).toTensor();
std::function<c10::IValue(std::vector<c10::IValue>)> wrap(
    const std::string& name, std::function<c10::IValue(std::vector<c10::IValue>)> fn);

// The analog of torch.fx's ProxyableClassMeta, for TorchScript custom classes
// (torch::class_<T> registered with TORCH_LIBRARY; class_name is `ns.Name`):
// while tracing, constructing one from traced values is recorded as one
// call_function node whose target is the class, and each call_object_method
// as one call_method node; the runtime constructs and calls them again. The
// methods run on meta tensors during the trace, so they must not read data.
// Outside a trace both simply construct and call.
c10::IValue make_object(const std::string& class_name, std::vector<c10::IValue> args);
c10::IValue call_object_method(const c10::IValue& object, const std::string& method,
                               std::vector<c10::IValue> args);

// A leaf module: while tracing, records one call_module node with this
// qualified name (and the module becomes a submodule of the traced
// GraphModule); otherwise calls module->forward.
c10::IValue call_leaf(const std::string& qualified_name, const std::shared_ptr<Module>& module,
                      std::vector<c10::IValue> args);

}  // namespace fx
