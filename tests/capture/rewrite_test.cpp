// replace_pattern on GraphModules with traced C++ callables: numerics after
// rewriting, and a realistic rewrite of addmm + relu into a custom operator.
#include "capture/rewrite.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ir/parser.h"

// A fused linear + relu registered with the dispatcher, as a service would.
TORCH_LIBRARY(fx_rewrite_test, m) {
  m.def("linear_relu(Tensor x, Tensor w, Tensor b) -> Tensor");
  m.impl("linear_relu", c10::DispatchKey::CPU,
         [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
           return at::relu(at::addmm(b, x, w.t()));
         });
}

namespace fx {
namespace {

TEST(Rewrite, CallablePatternsAndNumerics) {
  auto gm = symbolic_trace(
      [](std::vector<c10::IValue> in) {
        torch::Tensor x = in[0].toTensor();
        return c10::IValue(torch::relu(x + 1) * torch::relu(x - 1));
      },
      {torch::randn({8})});
  auto pattern = [](std::vector<c10::IValue> in) {
    return c10::IValue(torch::relu(in[0].toTensor()));
  };
  auto replacement = [](std::vector<c10::IValue> in) {
    return c10::IValue(torch::clamp_min(in[0].toTensor(), 0.0));
  };
  auto matches = replace_pattern(*gm, pattern, replacement, {torch::empty({8}, torch::kMeta)});
  EXPECT_EQ(matches.size(), 2u);
  EXPECT_TRUE(gm->graph().find_nodes(Op::CallFunction, std::string("aten::relu")).empty());
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, std::string("aten::clamp_min")).size(), 2u);
  torch::Tensor x = torch::randn({8});
  EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), torch::relu(x + 1) * torch::relu(x - 1)));
  EXPECT_NE(gm->code().find("at::_ops::clamp_min::call"), std::string::npos);  // recompiled
}

struct TwoLayer : torch::nn::Module {
  TwoLayer() {
    fc1 = register_module("fc1", torch::nn::Linear(16, 32));
    fc2 = register_module("fc2", torch::nn::Linear(32, 8));
  }
  torch::Tensor forward(torch::Tensor x) { return torch::relu(fc2(torch::relu(fc1(x)))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

TEST(Rewrite, AddmmReluIntoACustomFusedOperator) {
  auto model = std::make_shared<TwoLayer>();
  auto fn = [model](std::vector<c10::IValue> in) {
    return c10::IValue(model->forward(in[0].toTensor()));
  };
  auto gm = symbolic_trace(*model, fn, {torch::randn({4, 16})});
  // The C++ Linear records addmm(bias, x, weight.t()).
  auto pattern = [](std::vector<c10::IValue> in) {
    return c10::IValue(
        torch::relu(torch::addmm(in[0].toTensor(), in[1].toTensor(), in[2].toTensor().t())));
  };
  static auto fused =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("fx_rewrite_test::linear_relu", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  auto replacement = [](std::vector<c10::IValue> in) {
    return c10::IValue(fused.call(in[1].toTensor(), in[2].toTensor(), in[0].toTensor()));
  };
  auto matches =
      replace_pattern(*gm, pattern, replacement,
                      {torch::empty({8}, torch::kMeta), torch::empty({4, 16}, torch::kMeta),
                       torch::empty({8, 16}, torch::kMeta)});
  EXPECT_EQ(matches.size(), 2u);
  EXPECT_EQ(
      gm->graph().find_nodes(Op::CallFunction, std::string("fx_rewrite_test::linear_relu")).size(),
      2u);
  EXPECT_TRUE(gm->graph().find_nodes(Op::CallFunction, std::string("aten::addmm")).empty());
  gm->graph().lint();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor x = torch::randn({4, 16});
    EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), model->forward(x), 1e-5, 1e-6));
  }
}

}  // namespace
}  // namespace fx
