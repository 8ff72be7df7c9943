// onednn_epilogues: 2-D float convolutions and linears with constant weights
// become mkldnn pointwise primitives with each supported activation, and a
// same-shaped residual add (.binary), folded in; weights stay dense
// (convolution weights channels last); inputs go through channels-last
// conversions, of which remove_inference_noops drops the no-ops in a chain;
// 4-D outputs keep their strides. Broadcasting adds, alpha != 1, clamp
// without both bounds, second users, transposed / 1-D / float64 convolutions
// and non-constant weights are left as they are; without tensor_meta nothing
// changes and the log says why. Results equal the original module on fresh
// inputs, including shapes other than the example's.
#include "passes/onednn_epilogues.h"

#include <functional>

#include "passes/remove_inference_noops.h"
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::count;
using pass_tests::count_op;
using pass_tests::has_line;
using pass_tests::reference_copy;
using pass_tests::run1;

constexpr const char* kConvPointwise = "mkldnn::_convolution_pointwise";
constexpr const char* kConvBinary = "mkldnn::_convolution_pointwise.binary";
constexpr const char* kLinearPointwise = "mkldnn::_linear_pointwise";
constexpr const char* kLinearBinary = "mkldnn::_linear_pointwise.binary";
constexpr const char* kMklLinear = "mkl::_mkl_linear";
constexpr double kTol = 1e-4;

class OnednnEpilogues : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasMKLDNN()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  }
};

Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

// What follows the convolution: builds on (graph, conv, residual input y).
using Tail = std::function<Node*(Graph&, Node* conv, Node* y)>;

// x [N, 4, H, W], y [N, 8, H, W] -> tail(conv2d(x, w, b, padding=1)); y is
// a second input only when the tail reads it.
std::unique_ptr<GraphModule> conv_module(const Tail& tail, bool with_y = false,
                                         at::ScalarType dtype = at::kFloat) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* y = with_y ? g->placeholder("y") : nullptr;
  Node* conv = g->call_function(
      "aten::conv2d",
      {x, g->get_attr("conv.weight"), g->get_attr("conv.bias"), ints({1, 1}), ints({1, 1})});
  g->output(tail(*g, conv, y));
  Attributes attrs;
  attrs.values["conv.weight"] = at::randn({8, 4, 3, 3}, dtype) * 0.3;
  attrs.values["conv.bias"] = at::randn({8}, dtype);
  attrs.values["shift"] = at::randn({1, 8, 1, 1}, dtype);  // kept only when the tail reads it
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

std::vector<c10::IValue> conv_inputs(bool with_y, int64_t batch, int64_t h, int64_t w,
                                     at::ScalarType dtype = at::kFloat) {
  std::vector<c10::IValue> in = {at::randn({batch, 4, h, w}, dtype)};
  if (with_y) in.push_back(at::randn({batch, 8, h, w}, dtype));
  return in;
}

// Runs onednn_epilogues after shape propagation on the example (batch 2,
// 9 x 10), then checks gm against reference on the example's shape and two
// others, outputs' strides included.
void rewrite_and_check(GraphModule& gm, GraphModule& reference, bool with_y, PassLog* log,
                       bool expect_change = true) {
  shape_prop(gm, conv_inputs(with_y, 2, 9, 10));
  EXPECT_EQ(onednn_epilogues(gm, log), expect_change);
  gm.recompile();
  for (auto [batch, h, w] :
       {std::tuple<int64_t, int64_t, int64_t>{2, 9, 10}, {1, 9, 10}, {3, 6, 13}}) {
    std::vector<c10::IValue> in = conv_inputs(with_y, batch, h, w);
    at::Tensor got = run1(gm, in), want = run1(reference, in);
    EXPECT_TRUE(close(got, want, kTol, kTol)) << "batch " << batch << " " << h << "x" << w;
    EXPECT_TRUE(got.is_contiguous()) << "strides " << got.strides();
    EXPECT_EQ(got.strides(), want.strides());
  }
}

struct Activation {
  std::string label, target;
  std::vector<Argument> extra;  // arguments after the input
  Kwargs kwargs;
  std::string attr;  // the post-op oneDNN is asked for
  std::vector<Argument> scalars;
  Argument algorithm;
};

TEST_F(OnednnEpilogues, ConvolutionTakesEveryActivation) {
  const std::vector<Activation> activations = {
      {"relu", "aten::relu", {}, {}, "relu", {}, {}},
      {"sigmoid", "aten::sigmoid", {}, {}, "sigmoid", {}, {}},
      {"tanh", "aten::tanh", {}, {}, "tanh", {}, {}},
      {"hardswish", "aten::hardswish", {}, {}, "hardswish", {}, {}},
      {"silu", "aten::silu", {}, {}, "swish", {}, {}},
      {"hardsigmoid", "aten::hardsigmoid", {}, {}, "hardsigmoid", {}, {}},
      {"gelu", "aten::gelu", {}, {}, "gelu", {}, "none"},
      {"gelu tanh", "aten::gelu", {}, {{"approximate", "tanh"}}, "gelu", {}, "tanh"},
      {"hardtanh", "aten::hardtanh", {-0.5, 0.5}, {}, "hardtanh", {-0.5, 0.5}, {}},
      {"relu6", "aten::relu6", {}, {}, "hardtanh", {0.0, 6.0}, {}},
      {"clamp", "aten::clamp", {}, {{"min", -1.0}, {"max", 2}}, "hardtanh", {-1.0, 2.0}, {}},
      {"leaky_relu", "aten::leaky_relu", {0.1}, {}, "leaky_relu", {0.1}, {}},
  };
  for (const Activation& a : activations) {
    SCOPED_TRACE(a.label);
    auto gm = conv_module([&](Graph& g, Node* conv, Node*) {
      Args args = {conv};
      args.insert(args.end(), a.extra.begin(), a.extra.end());
      return g.call_function(a.target, args, a.kwargs);
    });
    auto reference = reference_copy(*gm);
    PassLog log;
    rewrite_and_check(*gm, *reference, false, &log);
    const Graph& g = gm->graph();
    EXPECT_EQ(count(g, a.target), 0u) << g.str();
    EXPECT_EQ(count(g, "aten::conv2d"), 0u);
    std::vector<Node*> prims = g.find_nodes(Op::CallFunction, kConvPointwise);
    ASSERT_EQ(prims.size(), 1u) << g.str();
    const Args& args = prims[0]->args();
    ASSERT_EQ(args.size(), 10u);
    EXPECT_EQ(args[7], Argument(a.attr));
    EXPECT_EQ(args[8], Argument::list(a.scalars));
    EXPECT_EQ(args[9], a.algorithm);
    // The input goes through a channels-last conversion; the 4-D output is
    // made contiguous again.
    Node* in = args[0].to_node();
    EXPECT_EQ(in->target(), "aten::contiguous");
    ASSERT_NE(in->kwarg("memory_format"), nullptr);
    EXPECT_EQ(in->kwarg("memory_format")->to_memory_format(), c10::MemoryFormat::ChannelsLast);
    Node* out = g.output_node()->args()[0].to_node();
    EXPECT_EQ(out->target(), "aten::contiguous");
    EXPECT_EQ(out->kwarg("memory_format"), nullptr);
    EXPECT_EQ(log.str(), "  rewrote 1 convolutions as oneDNN primitives\n");
  }
}

TEST_F(OnednnEpilogues, WeightsStayDenseAndConvolutionWeightsChannelsLast) {
  auto gm = conv_module(
      [](Graph& g, Node* conv, Node*) { return g.call_function("aten::relu", {conv}); });
  at::Tensor original = gm->get_attr("conv.weight")->toTensor();
  at::Tensor before = original.clone();
  shape_prop(*gm, conv_inputs(false, 2, 9, 10));
  ASSERT_TRUE(onednn_epilogues(*gm));
  Node* prim = gm->graph().find_nodes(Op::CallFunction, kConvPointwise).at(0);
  const at::Tensor& w = gm->get_attr(prim->args()[1].to_node()->target())->toTensor();
  EXPECT_FALSE(w.is_mkldnn()) << "packing is pack_onednn_weights' job";
  EXPECT_TRUE(w.is_contiguous(at::MemoryFormat::ChannelsLast)) << w.strides();
  EXPECT_TRUE(at::equal(w, before));
  EXPECT_TRUE(at::equal(original, before)) << "the module's weight was written";
  EXPECT_EQ(count(gm->graph(), "conv.weight", Op::GetAttr), 0u);
}

TEST_F(OnednnEpilogues, ClampWithOneBoundStaysOutside) {
  auto gm = conv_module([](Graph& g, Node* conv, Node*) {
    return g.call_function("aten::clamp", {conv}, {{"min", 0.0}});
  });
  auto reference = reference_copy(*gm);
  rewrite_and_check(*gm, *reference, false, nullptr);
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "aten::clamp"), 1u) << g.str();
  std::vector<Node*> prims = g.find_nodes(Op::CallFunction, kConvPointwise);
  ASSERT_EQ(prims.size(), 1u) << g.str();
  EXPECT_EQ(prims[0]->args()[7], Argument("none"));
}

TEST_F(OnednnEpilogues, ResidualAddBecomesBinary) {
  for (bool add_first : {true, false})
    for (bool then_relu : {false, true}) {
      SCOPED_TRACE(std::string(add_first ? "conv + y" : "y + conv") + (then_relu ? ", relu" : ""));
      auto gm = conv_module(
          [&](Graph& g, Node* conv, Node* y) {
            Node* add =
                g.call_function("aten::add.Tensor", {add_first ? conv : y, add_first ? y : conv});
            return then_relu ? g.call_function("aten::relu", {add}) : add;
          },
          true);
      auto reference = reference_copy(*gm);
      rewrite_and_check(*gm, *reference, true, nullptr);
      const Graph& g = gm->graph();
      EXPECT_EQ(count(g, "aten::add.Tensor"), 0u) << g.str();
      EXPECT_EQ(count(g, "aten::relu"), 0u) << g.str();
      std::vector<Node*> prims = g.find_nodes(Op::CallFunction, kConvBinary);
      ASSERT_EQ(prims.size(), 1u) << g.str();
      const Args& args = prims[0]->args();
      EXPECT_EQ(args[1].to_node()->name(), "y");
      EXPECT_EQ(args[8], Argument("add"));
      EXPECT_EQ(args[10], then_relu ? Argument("relu") : Argument());
    }
}

TEST_F(OnednnEpilogues, BroadcastingOrScaledAddIsNotBinary) {
  // other is [1, 8, 1, 1]: conv + other broadcasts, so no .binary form.
  {
    auto gm = conv_module([](Graph& g, Node* conv, Node*) {
      return g.call_function("aten::add.Tensor", {conv, g.get_attr("shift")});
    });
    auto reference = reference_copy(*gm);
    rewrite_and_check(*gm, *reference, false, nullptr);
    const Graph& g = gm->graph();
    EXPECT_EQ(count(g, kConvBinary), 0u) << g.str();
    EXPECT_EQ(count(g, kConvPointwise), 1u) << g.str();
    EXPECT_EQ(count(g, "aten::add.Tensor"), 1u) << g.str();
  }
  // alpha 2 is not a plain residual add.
  {
    auto gm = conv_module(
        [](Graph& g, Node* conv, Node* y) {
          return g.call_function("aten::add.Tensor", {conv, y}, {{"alpha", 2}});
        },
        true);
    auto reference = reference_copy(*gm);
    rewrite_and_check(*gm, *reference, true, nullptr);
    EXPECT_EQ(count(gm->graph(), kConvBinary), 0u) << gm->graph().str();
    EXPECT_EQ(count(gm->graph(), "aten::add.Tensor"), 1u);
  }
}

TEST_F(OnednnEpilogues, ConvolutionWithTwoUsersKeepsItsActivation) {
  auto gm = conv_module([](Graph& g, Node* conv, Node*) {
    Node* relu = g.call_function("aten::relu", {conv});
    return g.call_function("aten::sub.Tensor", {relu, conv});
  });
  auto reference = reference_copy(*gm);
  rewrite_and_check(*gm, *reference, false, nullptr);
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "aten::relu"), 1u) << g.str();
  std::vector<Node*> prims = g.find_nodes(Op::CallFunction, kConvPointwise);
  ASSERT_EQ(prims.size(), 1u) << g.str();
  EXPECT_EQ(prims[0]->args()[7], Argument("none"));
}

// Scripted torch.nn modules check ranks (`input.dim() != 4`) on the values
// between a convolution and its activation. Those shape readers do not keep
// the activation or the residual add out of the primitive: they read the
// primitive's result, and the graph stays in topological order.
TEST_F(OnednnEpilogues, ShapeReadersDoNotBlockTheEpilogue) {
  for (bool residual : {false, true}) {
    SCOPED_TRACE(residual ? "conv + y, relu" : "conv, relu");
    auto gm = conv_module(
        [&](Graph& g, Node* conv, Node* y) {
          Node* rank = g.call_function("jit.aten.dim", {conv});
          Node* v = conv;
          if (residual) {
            v = g.call_function("aten::add.Tensor", {conv, y});
            Node* size = g.call_function("aten::size.int", {v, 1});
            rank = g.call_function("jit.aten.add.int", {rank, size});
          }
          Node* relu = g.call_function("aten::relu", {v});
          return g.call_function("aten::mul.Scalar", {relu, rank});
        },
        residual);
    auto reference = reference_copy(*gm);
    rewrite_and_check(*gm, *reference, residual, nullptr);
    const Graph& g = gm->graph();
    EXPECT_EQ(count(g, "aten::relu"), 0u) << g.str();
    EXPECT_EQ(count(g, "aten::add.Tensor"), 0u) << g.str();
    std::vector<Node*> prims =
        g.find_nodes(Op::CallFunction, residual ? kConvBinary : kConvPointwise);
    ASSERT_EQ(prims.size(), 1u) << g.str();
    std::vector<Node*> dims = g.find_nodes(Op::CallFunction, "jit.aten.dim");
    ASSERT_EQ(dims.size(), 1u);
    EXPECT_EQ(dims[0]->args()[0].to_node(), prims[0]) << g.str();
    g.lint();
  }
}

TEST_F(OnednnEpilogues, ChainStaysChannelsLastAfterNoopRemoval) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* c1 = g->call_function(
      "aten::conv2d", {x, g->get_attr("w1"), g->get_attr("b1"), ints({1, 1}), ints({1, 1})});
  Node* r1 = g->call_function("aten::relu", {c1});
  Node* c2 = g->call_function(
      "aten::conv2d", {r1, g->get_attr("w2"), g->get_attr("b2"), ints({2, 2}), ints({1, 1})});
  g->output(g->call_function("aten::relu", {c2}));
  Attributes attrs;
  attrs.values["w1"] = at::randn({8, 4, 3, 3}) * 0.3;
  attrs.values["b1"] = at::randn({8});
  attrs.values["w2"] = at::randn({6, 8, 3, 3}) * 0.3;
  attrs.values["b2"] = at::randn({6});
  auto gm = std::make_unique<GraphModule>(std::move(g), std::move(attrs));
  auto reference = reference_copy(*gm);
  rewrite_and_check(*gm, *reference, false, nullptr);
  Graph& graph = gm->graph();
  EXPECT_EQ(count(graph, "aten::conv2d"), 0u) << graph.str();
  EXPECT_EQ(count(graph, kConvPointwise), 2u) << graph.str();
  // One conversion per convolution, plus the output's.
  EXPECT_EQ(count(graph, "aten::contiguous"), 3u) << graph.str();

  // The second convolution reads the first's channels-last output: its
  // conversion is a no-op; the graph input's and the output's are not.
  shape_prop(*gm, conv_inputs(false, 2, 9, 10));
  PassLog log;
  EXPECT_TRUE(remove_inference_noops(*gm, &log));
  EXPECT_EQ(count(graph, "aten::contiguous"), 2u) << graph.str();
  EXPECT_EQ(log.lines().size(), 1u) << log.str();
  Node* first = graph.find_nodes(Op::CallFunction, kConvPointwise).at(0);
  EXPECT_EQ(first->args()[0].to_node()->target(), "aten::contiguous");
  EXPECT_EQ(first->args()[0].to_node()->args()[0].to_node()->name(), "x");
  gm->recompile();
  for (int64_t batch : {2, 4}) {
    at::Tensor in = at::randn({batch, 4, 11, 8});
    at::Tensor got = run1(*gm, {in});
    EXPECT_TRUE(close(got, run1(*reference, {in}), kTol, kTol));
    EXPECT_TRUE(got.is_contiguous());
  }
}

TEST_F(OnednnEpilogues, ChannelsLastOutputsStayChannelsLast) {
  auto gm = conv_module(
      [](Graph& g, Node* conv, Node*) { return g.call_function("aten::relu", {conv}); });
  auto reference = reference_copy(*gm);
  auto cl = [](int64_t batch) {
    return at::randn({batch, 4, 9, 10}).contiguous(at::MemoryFormat::ChannelsLast);
  };
  shape_prop(*gm, {cl(2)});
  ASSERT_TRUE(onednn_epilogues(*gm));
  gm->recompile();
  for (int64_t batch : {2, 3}) {
    at::Tensor in = cl(batch);
    at::Tensor got = run1(*gm, {in}), want = run1(*reference, {in});
    EXPECT_TRUE(close(got, want, kTol, kTol));
    EXPECT_EQ(got.strides(), want.strides());
  }
}

TEST_F(OnednnEpilogues, WhatIsNotRewritten) {
  // Transposed, 1-D, float64 and non-constant-weight convolutions.
  auto transposed = [] {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    g->output(g->call_function(
        "aten::relu", {g->call_function("aten::convolution",
                                        {x, g->get_attr("w"), Argument(), ints({1, 1}),
                                         ints({0, 0}), ints({1, 1}), true, ints({0, 0}), 1})}));
    Attributes a;
    a.values["w"] = at::randn({4, 8, 3, 3});
    return std::make_unique<GraphModule>(std::move(g), std::move(a));
  };
  auto conv1d = [] {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    g->output(
        g->call_function("aten::relu", {g->call_function("aten::conv1d", {x, g->get_attr("w")})}));
    Attributes a;
    a.values["w"] = at::randn({8, 4, 3});
    return std::make_unique<GraphModule>(std::move(g), std::move(a));
  };
  auto weight_input = [] {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    Node* w = g->placeholder("w");
    g->output(g->call_function("aten::relu", {g->call_function("aten::conv2d", {x, w})}));
    return std::make_unique<GraphModule>(std::move(g), Attributes{});
  };
  struct Case {
    const char* label;
    std::unique_ptr<GraphModule> gm;
    std::vector<c10::IValue> inputs;
  };
  std::vector<Case> cases;
  cases.push_back({"transposed", transposed(), {at::randn({2, 4, 6, 6})}});
  cases.push_back({"conv1d", conv1d(), {at::randn({2, 4, 9})}});
  cases.push_back(
      {"float64",
       conv_module([](Graph& g, Node* c, Node*) { return g.call_function("aten::relu", {c}); },
                   false, at::kDouble),
       conv_inputs(false, 2, 9, 10, at::kDouble)});
  cases.push_back(
      {"weight input", weight_input(), {at::randn({2, 4, 9, 10}), at::randn({8, 4, 3, 3})}});
  for (Case& c : cases) {
    SCOPED_TRACE(c.label);
    shape_prop(*c.gm, c.inputs);
    const std::string before = c.gm->graph().str();
    EXPECT_FALSE(onednn_epilogues(*c.gm));
    EXPECT_EQ(c.gm->graph().str(), before);
  }
}

TEST_F(OnednnEpilogues, WithoutTensorMetaNothingChangesAndTheLogSaysWhy) {
  auto gm = conv_module(
      [](Graph& g, Node* conv, Node*) { return g.call_function("aten::relu", {conv}); });
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(onednn_epilogues(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_EQ(log.str(), "  kept everything: no node has tensor_meta (run shape_prop first)\n");
}

// x [*, 8] -> tail(linear(x, w [16, 8], b)).
std::unique_ptr<GraphModule> linear_module(const Tail& tail, bool bias = true) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* y = g->placeholder("y");
  Node* lin = g->call_function(
      "aten::linear",
      {x, g->get_attr("fc.weight"), bias ? Argument(g->get_attr("fc.bias")) : Argument()});
  g->output(tail(*g, lin, y));
  Attributes attrs;
  attrs.values["fc.weight"] = at::randn({16, 8});
  attrs.values["fc.bias"] = at::randn({16});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

TEST_F(OnednnEpilogues, LinearTakesAnActivationOrAResidualAdd) {
  struct Case {
    const char* label;
    Tail tail;
    const char* prim;
    size_t ops_left;  // call_functions other than the primitive
    bool bias;
  };
  // Without an activation to fold, MKL's packed GEMM runs the linear where
  // LibTorch has MKL, and a residual add stays a node.
  const bool mkl = at::hasMKL();
  const std::vector<Case> cases = {
      {"relu", [](Graph& g, Node* l, Node*) { return g.call_function("aten::relu", {l}); },
       kLinearPointwise, 0, true},
      {"gelu, no bias", [](Graph& g, Node* l, Node*) { return g.call_function("aten::gelu", {l}); },
       kLinearPointwise, 0, false},
      {"plain", [](Graph&, Node* l, Node*) { return l; }, mkl ? kMklLinear : kLinearPointwise, 0,
       true},
      {"plain, no bias", [](Graph&, Node* l, Node*) { return l; },
       mkl ? kMklLinear : kLinearPointwise, 0, false},
      {"add",
       [](Graph& g, Node* l, Node* y) {
         return g.call_function("aten::add.Tensor", {l, y});
       },
       mkl ? kMklLinear : kLinearBinary, mkl ? 1u : 0u, true},
      // An activation after the residual add is not folded for linears.
      {"add, relu",
       [](Graph& g, Node* l, Node* y) {
         return g.call_function("aten::relu", {g.call_function("aten::add.Tensor", {y, l})});
       },
       mkl ? kMklLinear : kLinearBinary, mkl ? 2u : 1u, true},
  };
  for (const Case& c : cases)
    for (bool three_d : {false, true}) {
      SCOPED_TRACE(std::string(c.label) + (three_d ? ", 3-D input" : ", 2-D input"));
      auto gm = linear_module(c.tail, c.bias);
      auto reference = reference_copy(*gm);
      auto inputs = [&](int64_t batch) {
        std::vector<int64_t> xs =
            three_d ? std::vector<int64_t>{batch, 3, 8} : std::vector<int64_t>{batch, 8};
        std::vector<int64_t> ys = xs;
        ys.back() = 16;
        return std::vector<c10::IValue>{at::randn(xs), at::randn(ys)};
      };
      shape_prop(*gm, inputs(4));
      PassLog log;
      ASSERT_TRUE(onednn_epilogues(*gm, &log));
      const Graph& g = gm->graph();
      EXPECT_EQ(count(g, c.prim), 1u) << g.str();
      EXPECT_EQ(count(g, "aten::linear"), 0u);
      EXPECT_EQ(count_op(g, Op::CallFunction), 1u + c.ops_left) << g.str();
      const bool by_mkl = std::string(c.prim) == kMklLinear;
      EXPECT_EQ(log.str(), std::string("  rewrote 1 linear layers: ") +
                               (by_mkl ? "0 as oneDNN primitives (with their epilogue), 1 as MKL "
                                         "packed GEMMs (nothing to fold)\n"
                                       : "1 as oneDNN primitives (with their epilogue), 0 as MKL "
                                         "packed GEMMs (nothing to fold)\n"));
      if (by_mkl) {
        // Both weight arguments are the dense weight until pack_onednn_weights.
        Node* lin = g.find_nodes(Op::CallFunction, kMklLinear).at(0);
        EXPECT_EQ(lin->args()[1].to_node(), lin->args()[2].to_node());
        EXPECT_EQ(lin->args()[4].to_int(), three_d ? 12 : 4) << "rows of the example input";
      }
      gm->recompile();
      for (int64_t batch : {4, 1, 7}) {
        std::vector<c10::IValue> in = inputs(batch);
        EXPECT_TRUE(close(run1(*gm, in), run1(*reference, in), kTol, kTol)) << "batch " << batch;
      }
    }
}

TEST_F(OnednnEpilogues, WithoutMklLinearsStayOnOnednn) {
  auto gm = linear_module([](Graph& g, Node* l, Node* y) {
    return g.call_function("aten::add.Tensor", {l, y});
  });
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {at::randn({4, 8}), at::randn({4, 16})});
  OnednnEpilogueOptions options;
  options.mkl_linear = false;
  ASSERT_TRUE(onednn_epilogues(*gm, nullptr, options));
  EXPECT_EQ(count(gm->graph(), kMklLinear), 0u) << gm->graph().str();
  EXPECT_EQ(count(gm->graph(), kLinearBinary), 1u) << gm->graph().str();
  gm->recompile();
  std::vector<c10::IValue> in = {at::randn({5, 8}), at::randn({5, 16})};
  EXPECT_TRUE(close(run1(*gm, in), run1(*reference, in), kTol, kTol));
}

TEST_F(OnednnEpilogues, LinearWithBroadcastingAddIsNotBinary) {
  auto gm = linear_module([](Graph& g, Node* l, Node* y) {
    return g.call_function("aten::add.Tensor", {l, y});
  });
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {at::randn({4, 8}), at::randn({16})});
  ASSERT_TRUE(onednn_epilogues(*gm));
  EXPECT_EQ(count(gm->graph(), kLinearBinary), 0u) << gm->graph().str();
  EXPECT_EQ(count(gm->graph(), at::hasMKL() ? kMklLinear : kLinearPointwise), 1u);
  EXPECT_EQ(count(gm->graph(), "aten::add.Tensor"), 1u);
  gm->recompile();
  std::vector<c10::IValue> in = {at::randn({5, 8}), at::randn({16})};
  EXPECT_TRUE(close(run1(*gm, in), run1(*reference, in), kTol, kTol));
}

}  // namespace
}  // namespace fx
