// pack_onednn_weights: after onednn_epilogues, convolution and linear
// weights become opaque mkldnn tensors, the dense constants go, and results
// still equal the original module on the example's shape and others. Packed
// weights, non-constant weights and inputs without tensor_meta are left
// alone; a weight the operator cannot pack stays dense with a log line.
#include "passes/pack_onednn_weights.h"

#include "passes/onednn_epilogues.h"
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::count;
using pass_tests::reference_copy;
using pass_tests::run1;

class PackOnednnWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasMKLDNN()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  }
};

Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

// x [N, 4, H, W] -> relu(conv2d(x, w, b, padding=1)) -> mean over H, W -> linear(8 -> 5).
std::unique_ptr<GraphModule> conv_linear() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* conv = g->call_function(
      "aten::conv2d",
      {x, g->get_attr("conv.weight"), g->get_attr("conv.bias"), ints({1, 1}), ints({1, 1})});
  Node* relu = g->call_function("aten::relu", {conv});
  Node* mean = g->call_function("aten::mean.dim", {relu, ints({2, 3})});
  g->output(
      g->call_function("aten::linear", {mean, g->get_attr("fc.weight"), g->get_attr("fc.bias")}));
  Attributes attrs;
  attrs.values["conv.weight"] = at::randn({8, 4, 3, 3}) * 0.3;
  attrs.values["conv.bias"] = at::randn({8});
  attrs.values["fc.weight"] = at::randn({5, 8});
  attrs.values["fc.bias"] = at::randn({5});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

// A hand-written oneDNN convolution whose weight is w (a constant, or an
// input when w is undefined).
std::unique_ptr<GraphModule> onednn_conv(const at::Tensor& w) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* wn = w.defined() ? g->get_attr("w") : g->placeholder("w");
  g->output(g->call_function("mkldnn::_convolution_pointwise",
                             {x, wn, Argument(), ints({1, 1}), ints({1, 1}), ints({1, 1}), 1,
                              "none", Argument::list(std::vector<Argument>{}), Argument()}));
  Attributes attrs;
  if (w.defined()) attrs.values["w"] = w;
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

TEST_F(PackOnednnWeights, ConvolutionAndLinearWeightsArePacked) {
  auto gm = conv_linear();
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {at::randn({2, 4, 9, 10})});
  ASSERT_TRUE(onednn_epilogues(*gm));
  shape_prop(*gm, {at::randn({2, 4, 9, 10})});
  PassLog log;
  EXPECT_TRUE(pack_onednn_weights(*gm, &log));
  // The linear has no activation to fold: MKL's packed GEMM runs it where
  // LibTorch has MKL.
  const bool mkl = at::hasMKL();
  EXPECT_EQ(log.str(), mkl ? "  packed 1 weights for oneDNN\n  packed 1 weights for MKL\n"
                           : "  packed 2 weights for oneDNN\n");
  const Graph& g = gm->graph();
  std::vector<Node*> prims = g.find_nodes(Op::CallFunction, "mkldnn::_convolution_pointwise");
  std::vector<Node*> linears =
      g.find_nodes(Op::CallFunction, mkl ? "mkl::_mkl_linear" : "mkldnn::_linear_pointwise");
  ASSERT_EQ(prims.size(), 1u) << g.str();
  ASSERT_EQ(linears.size(), 1u) << g.str();
  prims.push_back(linears[0]);
  for (Node* p : prims) {
    const at::Tensor& w = gm->get_attr(p->args()[1].to_node()->target())->toTensor();
    EXPECT_TRUE(w.is_mkldnn()) << p->name() << ": " << w.layout();
  }
  // MKL's linear keeps its dense weight beside the packed one, for other
  // row counts.
  const Node* dense_kept = nullptr;
  if (mkl) {
    dense_kept = linears[0]->args()[2].to_node();
    EXPECT_FALSE(gm->get_attr(dense_kept->target())->toTensor().is_mkldnn());
    EXPECT_EQ(linears[0]->args()[4].to_int(), 2);
  }
  // The other dense copies onednn_epilogues made are no longer read.
  for (const Node* n : g.find_nodes(Op::GetAttr)) {
    const at::Tensor& t = gm->get_attr(n->target())->toTensor();
    EXPECT_TRUE(t.dim() < 2 || t.is_mkldnn() || n == dense_kept)
        << n->target() << " is a dense weight still in the graph\n"
        << g.str();
  }

  gm->recompile();
  for (auto [batch, h, w] :
       {std::tuple<int64_t, int64_t, int64_t>{2, 9, 10}, {1, 9, 10}, {5, 12, 7}}) {
    at::Tensor x = at::randn({batch, 4, h, w});
    EXPECT_TRUE(close(run1(*gm, {x}), run1(*reference, {x}), 1e-4, 1e-4))
        << "batch " << batch << " " << h << "x" << w;
  }
  // Packed weights are not packed again.
  shape_prop(*gm, {at::randn({2, 4, 9, 10})});
  PassLog again;
  EXPECT_FALSE(pack_onednn_weights(*gm, &again));
  EXPECT_TRUE(again.lines().empty()) << again.str();
}

TEST_F(PackOnednnWeights, WithoutTensorMetaOrAConstantWeightNothingChanges) {
  for (bool constant : {true, false}) {
    SCOPED_TRACE(constant ? "constant weight, no tensor_meta" : "weight is an input");
    at::Tensor w = at::randn({8, 4, 3, 3});
    auto gm = onednn_conv(constant ? w : at::Tensor());
    std::vector<c10::IValue> inputs = {at::randn({2, 4, 6, 6})};
    if (!constant) {
      inputs.push_back(w);
      shape_prop(*gm, inputs);
    }
    const std::string before = gm->graph().str();
    PassLog log;
    EXPECT_FALSE(pack_onednn_weights(*gm, &log));
    EXPECT_EQ(gm->graph().str(), before);
    EXPECT_TRUE(log.lines().empty()) << log.str();
    gm->recompile();
    at::Tensor x = inputs[0].toTensor();
    EXPECT_TRUE(
        close(gm->forward(inputs).toTensor(), at::conv2d(x, w, {}, {1, 1}, {1, 1}), 1e-4, 1e-4));
  }
}

TEST_F(PackOnednnWeights, AWeightThatCannotBePackedStaysDenseAndIsLogged) {
  // oneDNN packs no float64 weights; tensor_meta is set by hand, as the
  // graph could not run with it.
  auto gm = onednn_conv(at::randn({8, 4, 3, 3}, at::kDouble));
  Node* x = gm->graph().find_nodes(Op::Placeholder).at(0);
  x->meta().set("tensor_meta", tensor_meta_of(at::randn({2, 4, 6, 6})));
  Node* conv = gm->graph().find_nodes(Op::CallFunction, "mkldnn::_convolution_pointwise").at(0);
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(pack_onednn_weights(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  ASSERT_EQ(log.lines().size(), 1u) << log.str();
  EXPECT_EQ(log.lines()[0].rfind("  kept " + conv->name() + "'s weight dense: ", 0), 0u)
      << log.str();
  EXPECT_FALSE(gm->get_attr("w")->toTensor().is_mkldnn());
}

}  // namespace
}  // namespace fx
