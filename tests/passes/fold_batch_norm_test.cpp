// fold_batch_norm: an eval batch norm after a convolution (every spelling
// capture produces, 1-D to 3-D, with and without biases and affine
// parameters) or a 2-D linear becomes one aten::convolution / aten::linear
// with new constants, equal to eager within 1e-5; the module's own weights
// are not written. Other eval batch norms become mul + add when the input
// shape is known. Training mode, non-constant statistics or affine
// parameters, a convolution with a second user and a transposed convolution
// keep the convolution as it was.
#include "passes/fold_batch_norm.h"

#include <ATen/ATen.h>
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

enum class Spelling { kShort, kConvolution, kUnderscoreConvolution };

const char* spelling_name(Spelling s) {
  switch (s) {
    case Spelling::kShort: return "convNd";
    case Spelling::kConvolution: return "convolution";
    case Spelling::kUnderscoreConvolution: return "_convolution";
  }
  return "";
}

struct ConvBn {
  Spelling spelling = Spelling::kShort;
  int dims = 2;
  bool conv_bias = true;
  bool affine = true;  // batch norm with gamma and beta
  bool training = false;
  bool transposed = false;   // only with kConvolution
  bool second_user = false;  // the graph also returns the convolution
};

Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

// x -> conv (4 -> 6 channels, groups 2, stride 2, padding 1) -> batch_norm
// with random statistics, eps 1e-3.
std::unique_ptr<GraphModule> conv_bn(const ConvBn& c) {
  const int64_t k = 3, in = 4, out = 6, groups = 2;
  std::vector<int64_t> wshape = c.transposed ? std::vector<int64_t>{in, out / groups}
                                             : std::vector<int64_t>{out, in / groups};
  for (int i = 0; i < c.dims; ++i) wshape.push_back(k);
  Attributes attrs;
  attrs.values["conv.weight"] = at::randn(wshape) * 0.3;
  attrs.values["conv.bias"] = at::randn({out});
  attrs.values["bn.weight"] = at::randn({out});
  attrs.values["bn.bias"] = at::randn({out});
  attrs.values["bn.running_mean"] = at::randn({out});
  attrs.values["bn.running_var"] = at::rand({out}) + 0.5;

  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* w = g->get_attr("conv.weight");
  Argument b = c.conv_bias ? Argument(g->get_attr("conv.bias")) : Argument();
  std::vector<int64_t> stride(c.dims, 2), padding(c.dims, 1), dilation(c.dims, 1),
      output_padding(c.dims, 0);
  Node* conv = nullptr;
  switch (c.spelling) {
    case Spelling::kShort:
      // One-element stride and padding: the conv2d(x, w, stride=[2]) shorthand.
      conv = g->call_function("aten::conv" + std::to_string(c.dims) + "d",
                              {x, w, b, ints({2}), ints({1})}, {{"groups", groups}});
      break;
    case Spelling::kConvolution:
      conv = g->call_function("aten::convolution",
                              {x, w, b, ints(stride), ints(padding), ints(dilation), c.transposed,
                               ints(output_padding), groups});
      break;
    case Spelling::kUnderscoreConvolution:
      conv = g->call_function("aten::_convolution",
                              {x, w, b, ints(stride), ints(padding), ints(dilation), false,
                               ints(output_padding), groups, false, false, true, true});
      break;
  }
  Argument gamma = c.affine ? Argument(g->get_attr("bn.weight")) : Argument();
  Argument beta = c.affine ? Argument(g->get_attr("bn.bias")) : Argument();
  Node* mean = g->get_attr("bn.running_mean");
  Node* var = g->get_attr("bn.running_var");
  Node* bn = g->call_function("aten::batch_norm",
                              {conv, gamma, beta, mean, var, c.training, 0.1, 1e-3, true});
  if (c.second_user)
    g->output(Argument::tuple({bn, conv}));
  else
    g->output(bn);
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

at::Tensor input_for(const ConvBn& c, int64_t batch) {
  std::vector<int64_t> shape = {batch, 4};
  for (int i = 0; i < c.dims; ++i) shape.push_back(c.dims == 3 ? 5 : 7 + i);
  return at::randn(shape);
}

// Every tensor output of gm and reference agree on fresh inputs of two batch sizes.
void expect_same_function(GraphModule& gm, GraphModule& reference, const ConvBn& c, double tol) {
  gm.recompile();
  for (int64_t batch : {2, 3}) {
    at::Tensor x = input_for(c, batch);
    c10::IValue got = gm.forward({x}), want = reference.forward({x});
    if (got.isTensor()) {
      EXPECT_TRUE(close(got.toTensor(), want.toTensor(), tol, tol)) << "batch " << batch;
      continue;
    }
    auto g = got.toTuple()->elements(), w = want.toTuple()->elements();
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_TRUE(close(g[i].toTensor(), w[i].toTensor(), tol, tol))
          << "batch " << batch << " output " << i;
  }
}

TEST(FoldBatchNorm, IntoEveryConvolutionSpelling) {
  for (Spelling s : {Spelling::kShort, Spelling::kConvolution, Spelling::kUnderscoreConvolution})
    for (int dims : {1, 2, 3})
      for (bool conv_bias : {true, false})
        for (bool affine : {true, false}) {
          ConvBn c;
          c.spelling = s;
          c.dims = dims;
          c.conv_bias = conv_bias;
          c.affine = affine;
          SCOPED_TRACE(std::string(spelling_name(s)) + " dims " + std::to_string(dims) +
                       (conv_bias ? " conv bias" : " no conv bias") +
                       (affine ? " affine" : " not affine"));
          auto gm = conv_bn(c);
          auto reference = reference_copy(*gm);
          at::Tensor weight = gm->get_attr("conv.weight")->toTensor();
          at::Tensor weight_before = weight.clone();
          PassLog log;
          ASSERT_TRUE(fold_batch_norm(*gm, &log));
          const Graph& g = gm->graph();
          EXPECT_EQ(count(g, "aten::batch_norm"), 0u) << g.str();
          EXPECT_EQ(count_op(g, Op::CallFunction), 1u) << g.str();
          ASSERT_EQ(count(g, "aten::convolution"), 1u) << g.str();
          EXPECT_EQ(count(g, "conv.weight", Op::GetAttr), 0u);
          EXPECT_TRUE(at::equal(weight, weight_before)) << "the module's weight was written";
          EXPECT_TRUE(has_line(log.lines(), "folded 1 batch norms into convolutions")) << log.str();
          expect_same_function(*gm, *reference, c, 1e-5);
        }
}

// A scripted BatchNorm2d checks its input's rank (jit.aten.dim) before the
// batch norm; readers of the convolution's shape do not stop the fold and
// read the folded convolution instead.
TEST(FoldBatchNorm, ShapeReadersOfTheConvolutionDoNotStopTheFold) {
  auto gm = pass_tests::module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=conv.weight]
    %conv2d : [#users=3] = call_function[target=aten::conv2d](args = (%x, %w), kwargs = {})
    %dim : [#users=1] = call_function[target=jit.aten.dim](args = (%conv2d,), kwargs = {})
    %ne : [#users=1] = call_function[target=jit.aten.ne.int](args = (%dim, 4), kwargs = {})
    %not_ : [#users=1] = call_function[target=jit.aten.__not__](args = (%ne,), kwargs = {})
    %_assert_scalar : [#users=0] = call_function[target=aten::_assert_scalar](args = (%not_, 'expected 4D input'), kwargs = {})
    %size : [#users=1] = call_function[target=aten::size.int](args = (%conv2d, 1), kwargs = {})
    %g : [#users=1] = get_attr[target=bn.weight]
    %b : [#users=1] = get_attr[target=bn.bias]
    %m : [#users=1] = get_attr[target=bn.running_mean]
    %v : [#users=1] = get_attr[target=bn.running_var]
    %batch_norm : [#users=1] = call_function[target=aten::batch_norm](args = (%conv2d, %g, %b, %m, %v, False, 0.1, 1e-05, True), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Scalar](args = (%batch_norm, %size), kwargs = {})
    return mul)",
                                  [] {
                                    Attributes a;
                                    a.values["conv.weight"] = at::randn({6, 4, 3, 3}) * 0.3;
                                    a.values["bn.weight"] = at::randn({6});
                                    a.values["bn.bias"] = at::randn({6});
                                    a.values["bn.running_mean"] = at::randn({6});
                                    a.values["bn.running_var"] = at::rand({6}) + 0.5;
                                    return a;
                                  }());
  auto reference = reference_copy(*gm);
  PassLog log;
  ASSERT_TRUE(fold_batch_norm(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "aten::batch_norm"), 0u) << g.str();
  EXPECT_EQ(count(g, "aten::conv2d"), 0u) << g.str();
  std::vector<Node*> convs = g.find_nodes(Op::CallFunction, "aten::convolution");
  ASSERT_EQ(convs.size(), 1u) << g.str();
  EXPECT_EQ(convs[0]->users().size(), 3u) << g.str();
  EXPECT_TRUE(has_line(log.lines(), "folded 1 batch norms into convolutions")) << log.str();
  gm->recompile();
  for (int64_t batch : {1, 3}) {
    at::Tensor x = at::randn({batch, 4, 8, 7});
    EXPECT_TRUE(close(run1(*gm, {x}), run1(*reference, {x}), 1e-5, 1e-5));
  }
}

TEST(FoldBatchNorm, TrainingModeIsKept) {
  ConvBn c;
  c.training = true;
  auto gm = conv_bn(c);
  shape_prop(*gm, {input_for(c, 2)});
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(fold_batch_norm(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_EQ(log.str(), "  kept batch_norm: training mode\n");
}

TEST(FoldBatchNorm, StatisticsOrAffineThatAreNotConstantsAreKept) {
  auto make = [](const char* input_role) {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    Node* p = g->placeholder("p");
    Node* c = g->get_attr("c");
    bool stats = std::string(input_role) == "stats";
    Node* bn = g->call_function("aten::batch_norm",
                                {x, stats ? c : p, c, stats ? p : c, c, false, 0.1, 1e-5, true});
    g->output(bn);
    Attributes attrs;
    attrs.values["c"] = at::rand({3}) + 0.5;
    return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
  };
  for (const char* role : {"stats", "affine"}) {
    auto gm = make(role);
    shape_prop(*gm, {at::randn({2, 3, 4}), at::rand({3}) + 0.5});
    const std::string before = gm->graph().str();
    PassLog log;
    EXPECT_FALSE(fold_batch_norm(*gm, &log)) << role;
    EXPECT_EQ(gm->graph().str(), before) << role;
    EXPECT_EQ(log.str(), std::string(role) == std::string("stats")
                             ? "  kept batch_norm: running statistics are not constants\n"
                             : "  kept batch_norm: weight or bias is not a constant\n");
  }
}

TEST(FoldBatchNorm, ConvolutionWithASecondUserIsNotFolded) {
  ConvBn c;
  c.second_user = true;
  auto gm = conv_bn(c);
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {input_for(c, 2)});
  PassLog log;
  EXPECT_TRUE(fold_batch_norm(*gm, &log));
  const Graph& g = gm->graph();
  // The convolution keeps its own weight; the batch norm becomes mul + add.
  ASSERT_EQ(count(g, "aten::conv2d"), 1u) << g.str();
  EXPECT_EQ(count(g, "conv.weight", Op::GetAttr), 1u);
  EXPECT_EQ(count(g, "aten::convolution"), 0u);
  EXPECT_EQ(count(g, "aten::batch_norm"), 0u);
  EXPECT_EQ(count(g, "aten::mul.Tensor"), 1u);
  EXPECT_EQ(count(g, "aten::add.Tensor"), 1u);
  EXPECT_EQ(log.str(), "  turned 1 batch norms into mul + add\n");
  expect_same_function(*gm, *reference, c, 1e-5);
}

TEST(FoldBatchNorm, TransposedConvolutionIsNotFolded) {
  ConvBn c;
  c.spelling = Spelling::kConvolution;
  c.transposed = true;
  auto gm = conv_bn(c);
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {input_for(c, 2)});
  at::Tensor weight = gm->get_attr("conv.weight")->toTensor().clone();
  fold_batch_norm(*gm);
  const Graph& g = gm->graph();
  std::vector<Node*> convs = g.find_nodes(Op::CallFunction, "aten::convolution");
  ASSERT_EQ(convs.size(), 1u) << g.str();
  EXPECT_EQ(convs[0]->args()[1].to_node()->target(), "conv.weight") << g.str();
  EXPECT_TRUE(at::equal(gm->get_attr("conv.weight")->toTensor(), weight));
  EXPECT_EQ(convs[0]->args()[6], Argument(true));
  expect_same_function(*gm, *reference, c, 1e-5);
}

TEST(FoldBatchNorm, WithoutAConvolutionBecomesMulAdd) {
  auto build = [] {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    Node* relu = g->call_function("aten::relu", {x});
    Node* bn = g->call_function(
        "aten::batch_norm",
        {relu, g->get_attr("bn.weight"), g->get_attr("bn.bias"), g->get_attr("bn.running_mean"),
         g->get_attr("bn.running_var"), false, 0.1, 1e-5, true});
    g->output(bn);
    Attributes attrs;
    attrs.values["bn.weight"] = at::randn({5});
    attrs.values["bn.bias"] = at::randn({5});
    attrs.values["bn.running_mean"] = at::randn({5});
    attrs.values["bn.running_var"] = at::rand({5}) + 0.5;
    return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
  };
  // Without tensor_meta the channel dimension is unknown.
  {
    auto gm = build();
    PassLog log;
    EXPECT_FALSE(fold_batch_norm(*gm, &log));
    EXPECT_EQ(count(gm->graph(), "aten::batch_norm"), 1u);
    EXPECT_EQ(log.str(), "  kept batch_norm: input shape unknown\n");
  }
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 5}, {2, 5, 7}, {2, 5, 3, 4}, {1, 5, 2, 3, 2}}) {
    auto gm = build();
    auto reference = reference_copy(*gm);
    shape_prop(*gm, {at::randn(shape)});
    PassLog log;
    EXPECT_TRUE(fold_batch_norm(*gm, &log));
    const Graph& g = gm->graph();
    EXPECT_EQ(count(g, "aten::batch_norm"), 0u) << g.str();
    EXPECT_EQ(count(g, "aten::mul.Tensor"), 1u);
    EXPECT_EQ(count(g, "aten::add.Tensor"), 1u);
    EXPECT_EQ(log.str(), "  turned 1 batch norms into mul + add\n");
    gm->recompile();
    std::vector<int64_t> other = shape;
    other[0] = 3;
    at::Tensor x = at::randn(other);
    EXPECT_TRUE(close(run1(*gm, {x}), run1(*reference, {x}), 1e-5, 1e-5)) << shape.size() << "-D";
  }
}

TEST(FoldBatchNorm, IntoALinearWithTwoDimensionalOutput) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* lin =
      g->call_function("aten::linear", {x, g->get_attr("fc.weight"), g->get_attr("fc.bias")});
  Node* bn =
      g->call_function("aten::batch_norm", {lin, g->get_attr("bn.weight"), g->get_attr("bn.bias"),
                                            g->get_attr("bn.running_mean"),
                                            g->get_attr("bn.running_var"), false, 0.1, 1e-5, true});
  g->output(bn);
  Attributes attrs;
  attrs.values["fc.weight"] = at::randn({6, 8});
  attrs.values["fc.bias"] = at::randn({6});
  attrs.values["bn.weight"] = at::randn({6});
  attrs.values["bn.bias"] = at::randn({6});
  attrs.values["bn.running_mean"] = at::randn({6});
  attrs.values["bn.running_var"] = at::rand({6}) + 0.5;
  GraphModule gm(std::move(g), std::move(attrs));
  auto reference = reference_copy(gm);
  shape_prop(gm, {at::randn({4, 8})});
  PassLog log;
  EXPECT_TRUE(fold_batch_norm(gm, &log));
  EXPECT_EQ(count(gm.graph(), "aten::batch_norm"), 0u) << gm.graph().str();
  EXPECT_EQ(count(gm.graph(), "aten::linear"), 1u);
  EXPECT_EQ(count_op(gm.graph(), Op::CallFunction), 1u) << gm.graph().str();
  EXPECT_EQ(count(gm.graph(), "fc.weight", Op::GetAttr), 0u);
  EXPECT_TRUE(has_line(log.lines(), "folded 1 batch norms into")) << log.str();
  gm.recompile();
  for (int64_t batch : {1, 5}) {
    at::Tensor in = at::randn({batch, 8});
    EXPECT_TRUE(close(run1(gm, {in}), run1(*reference, {in}), 1e-5, 1e-5)) << batch;
  }
}

}  // namespace
}  // namespace fx
