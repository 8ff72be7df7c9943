// Adapters from LibTorch's own module types to what a GraphModule holds:
// the parameters and buffers of a torch::nn::Module as get_attr targets, and
// a TorchScript module as a call_module target. Kept apart from
// graph_module.h so that only code that uses them pays for the heavy torch
// headers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/pimpl.h>

#include "runtime/graph_module.h"

namespace torch {
namespace jit {
struct Module;
}
}  // namespace torch

namespace fx {

// Every parameter and buffer of root and its children, by qualified name
// (`layer1.0.conv.weight`). The tensors are shared with root, not copied.
Attributes attributes_from(const torch::nn::Module& root);

// A GraphModule over graph built from root (FX's `GraphModule(root, graph)`):
// only what the graph uses is copied, parameters staying parameters and
// buffers buffers (see GraphModule's root constructor). class_name defaults
// to root's name.
std::unique_ptr<GraphModule> make_graph_module(const torch::nn::Module& root,
                                               std::unique_ptr<Graph> graph,
                                               std::string class_name = "");

// A TorchScript module (scripted or traced, e.g. from torch::jit::load) as a
// submodule: call_module nodes call its forward with their args and kwargs.
// TorchScript's forward is safe to call from several threads.
std::shared_ptr<Module> wrap_torchscript(const torch::jit::Module& module);

// A torch::nn module as something call_module can call: the module itself
// plus how to call its forward (torch::nn modules have no common forward
// signature). Installed in a GraphModule, the module itself joins the module
// tree, so its parameters and buffers are the GraphModule's (`linear.weight`),
// and to(), eval() and state dicts reach it. kind() is the module's name()
// (`torch::nn::LinearImpl`). deepcopy() of a GraphModule clones the module
// (it must be Cloneable) and calls the clone through the same forward.
class TorchModule : public Module {
 public:
  using Forward =
      std::function<c10::IValue(torch::nn::Module&, std::vector<c10::IValue>, const IValueKwargs&)>;
  // Throws fx::Error (kGraph) when module or forward is empty.
  TorchModule(std::shared_ptr<torch::nn::Module> module, Forward forward);
  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) override;
  std::string kind() const override;
  const std::shared_ptr<torch::nn::Module>& module() const { return module_; }
  const Forward& forward_fn() const { return forward_; }
  // Declares calls impure (kept by dead code elimination even when unused).
  void set_impure(bool impure) { impure_ = impure; }
  bool is_impure() const override { return impure_; }

 private:
  bool impure_ = false;
  std::shared_ptr<torch::nn::Module> module_;
  Forward forward_;
};

// wrap_module(torch::nn::Linear(4, 5)): a module whose forward takes one
// tensor and returns one tensor (Linear, Conv2d, ReLU, BatchNorm2d, ...).
template <typename Impl>
std::shared_ptr<TorchModule> wrap_module(const torch::nn::ModuleHolder<Impl>& holder) {
  return std::make_shared<TorchModule>(
      holder.ptr(), [](torch::nn::Module& m, std::vector<c10::IValue> args, const IValueKwargs&) {
        return c10::IValue(static_cast<Impl&>(m).forward(args.at(0).toTensor()));
      });
}

}  // namespace fx
