// The module of torch.fx's documentation, y = linear(x + param).clamp(0, 1)
// with param [3, 4] and a Linear from 4 to 5 features: the one copy the tests
// share. It comes as a LibTorch module, as the graph fx prints for it (the
// same text README.md shows), as attributes that graph runs with, and as the
// eager computation to compare results against.
#pragma once

#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "runtime/graph_module.h"

namespace fx::testing_support {

// The module as LibTorch's C++ API writes it. Tracing it records Linear as
// t and addmm, as LibTorch's Linear calls them itself.
struct MyModuleImpl : torch::nn::Module {
  MyModuleImpl()
      : param(register_parameter("param", torch::rand({3, 4}))),
        linear(register_module("linear", torch::nn::Linear(4, 5))) {}
  torch::Tensor forward(const torch::Tensor& x) { return linear(x + param).clamp(0.0, 1.0); }
  torch::Tensor param;
  torch::nn::Linear linear;
};
TORCH_MODULE(MyModule);

// The graph as fx prints it, with Linear as one aten::linear; `last` replaces
// its final line, `return clamp`, for a test that goes on from clamp.
inline std::string fx_doc_example_graph(const std::string& last = "    return clamp") {
  return R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %param : [#users=1] = get_attr[target=param]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %param), kwargs = {})
    %linear_weight : [#users=1] = get_attr[target=linear.weight]
    %linear_bias : [#users=1] = get_attr[target=linear.bias]
    %linear : [#users=1] = call_function[target=aten::linear](args = (%add, %linear_weight, %linear_bias), kwargs = {})
    %clamp : [#users=1] = call_function[target=aten::clamp](args = (%linear, 0.0, 1.0), kwargs = {})
)" + last;
}

// Fresh random values for the graph's get_attr targets: param, linear.weight
// and linear.bias.
inline Attributes fx_doc_example_attributes() {
  Attributes attrs;
  attrs.values["param"] = at::rand({3, 4});
  attrs.values["linear.weight"] = at::randn({5, 4});
  attrs.values["linear.bias"] = at::randn({5});
  return attrs;
}

// What the module computes, in eager ATen.
inline at::Tensor fx_doc_example_eager(const at::Tensor& x, const at::Tensor& param,
                                       const at::Tensor& weight, const at::Tensor& bias) {
  return at::linear(x + param, weight, bias).clamp(0.0, 1.0);
}

}  // namespace fx::testing_support
