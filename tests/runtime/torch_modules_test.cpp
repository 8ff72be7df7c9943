// torch::nn roots and TorchScript submodules inside GraphModules.
#include "runtime/torch_modules.h"

#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/script.h>

#include "ir/parser.h"
#include "tests/fx_doc_example.h"

namespace fx {
namespace {

using testing_support::fx_doc_example_graph;
using testing_support::MyModule;  // torch.fx's documentation example

TEST(TorchModules, NnRootProvidesParametersAndBuffers) {
  // The example with a buffer, which its graph multiplies the result by.
  MyModule root;
  torch::Tensor scale = root->register_buffer("scale", torch::full({5}, 0.5));
  auto forward = [&](const torch::Tensor& x) { return root->forward(x) * scale; };
  Attributes attrs = attributes_from(*root);
  std::vector<std::string> names;
  for (const auto& kv : attrs.values) names.push_back(kv.first);
  EXPECT_EQ(names, (std::vector<std::string>{"linear.bias", "linear.weight", "param", "scale"}));
  auto gm = make_graph_module(
      *root, parse_graph(fx_doc_example_graph(R"(    %scale : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%clamp, %scale), kwargs = {})
    return mul)")));
  EXPECT_EQ(gm->class_name(), "MyModuleImpl");
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor x = torch::randn({3, 4});
    EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), forward(x)));
  }
  // Tensors are shared with the root: updating a parameter shows through.
  root->param.add_(1.0);
  torch::Tensor x = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), forward(x)));
}

TEST(TorchModules, TorchScriptSubmodule) {
  torch::jit::Module block("Block");
  block.register_parameter("w", torch::randn({4, 4}), false);
  block.define(R"(
    def forward(self, x, shift: float = 0.0):
        return torch.relu(torch.mm(x, self.w)) + shift
  )");
  Attributes attrs;
  attrs.modules["block"] = wrap_torchscript(block);
  GraphModule gm(parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %block : [#users=1] = call_module[target=block](args = (%x,), kwargs = {shift: 1.5})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%block,), kwargs = {})
    return neg)"),
                 attrs);
  torch::Tensor x = torch::randn({2, 4});
  torch::Tensor w = block.attr("w").toTensor();
  EXPECT_TRUE(torch::allclose(gm(x).toTensor(), -(torch::relu(torch::mm(x, w)) + 1.5)));
  EXPECT_NE(gm.get_submodule("block")->kind().find("Block"), std::string::npos);
}

}  // namespace
}  // namespace fx
