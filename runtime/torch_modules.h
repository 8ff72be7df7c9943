// Adapters from LibTorch's own module types to what a GraphModule holds:
// the parameters and buffers of a torch::nn::Module as get_attr targets, and
// a TorchScript module as a call_module target. Kept apart from
// graph_module.h so that only code that uses them pays for the heavy torch
// headers.
#pragma once

#include <memory>
#include <string>

#include "runtime/graph_module.h"

namespace torch {
namespace nn {
class Module;
}
namespace jit {
struct Module;
}
}  // namespace torch

namespace fx {

// Every parameter and buffer of root and its children, by qualified name
// (`layer1.0.conv.weight`). The tensors are shared with root, not copied.
Attributes attributes_from(const torch::nn::Module& root);

// A GraphModule over graph whose get_attr targets are root's parameters and
// buffers (FX's `GraphModule(root, graph)`). class_name defaults to root's name.
std::unique_ptr<GraphModule> make_graph_module(const torch::nn::Module& root,
                                               std::unique_ptr<Graph> graph,
                                               std::string class_name = "");

// A TorchScript module (scripted or traced, e.g. from torch::jit::load) as a
// submodule: call_module nodes call its forward with their args and kwargs.
// TorchScript's forward is safe to call from several threads.
std::shared_ptr<Module> wrap_torchscript(const torch::jit::Module& module);

}  // namespace fx
