// onednn_inplace_residuals: a oneDNN convolution with a residual add writes
// into the residual when the residual is a fresh value nobody reads
// afterwards (a chain of residual blocks goes in place link by link), and
// keeps its out-of-place form, saying why, when the residual is an input, a
// possible alias, or read later. Results equal the original module on
// several batch sizes, twice in a row, and the inputs are left untouched.
#include "passes/onednn_inplace_residuals.h"

#include "passes/onednn_epilogues.h"
#include "runtime/shape_prop.h"
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::count;
using pass_tests::reference_copy;

constexpr const char* kBinary = "mkldnn::_convolution_pointwise.binary";
constexpr const char* kInPlace = "mkldnn::_convolution_pointwise_.binary";

class OnednnInplaceResiduals : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasMKLDNN()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  }
};

Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

Node* conv(Graph& g, Node* x, const std::string& w) {
  return g.call_function("aten::conv2d", {x, g.get_attr(w), g.get_attr(w + "_b"), ints({1, 1}),
                                          ints({1, 1})});
}

enum class Variant { kChain, kResidualReadLater, kInputResidual, kAliasResidual, kOwnInput };

// x [N, 8, H, W], two residual blocks as resnet's:
//   a = relu(conv0(x)); c = relu(conv2(conv1(a)) + a); e = conv4(conv3(c)) + c
// with the variant's change.
std::unique_ptr<GraphModule> residual_net(Variant v) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* a = g->call_function("aten::relu", {conv(*g, x, "w0")});
  Node* r = a;
  if (v == Variant::kInputResidual) r = x;
  if (v == Variant::kAliasResidual) r = g->call_function("aten::contiguous", {a});
  // kOwnInput: the block's convolution reads the residual itself.
  Node* b = v == Variant::kOwnInput ? a : conv(*g, a, "w1");
  Node* c = g->call_function(
      "aten::relu", {g->call_function("aten::add.Tensor", {conv(*g, b, "w2"), r})});
  Node* e = g->call_function("aten::add.Tensor", {conv(*g, conv(*g, c, "w3"), "w4"), c});
  if (v == Variant::kResidualReadLater)
    g->output(Argument::tuple({e, a}));
  else
    g->output(e);
  Attributes attrs;
  for (const char* w : {"w0", "w1", "w2", "w3", "w4"}) {
    attrs.values[w] = at::randn({8, 8, 3, 3}) * 0.2;
    attrs.values[std::string(w) + "_b"] = at::randn({8});
  }
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

std::vector<at::Tensor> outputs(const c10::IValue& v) {
  if (v.isTensor()) return {v.toTensor()};
  std::vector<at::Tensor> out;
  for (const c10::IValue& e : v.toTupleRef().elements()) out.push_back(e.toTensor());
  return out;
}

// Runs the pipeline up to this pass; returns its log.
std::string prepare(GraphModule& gm, bool* changed) {
  shape_prop(gm, {at::randn({2, 8, 6, 7})});
  EXPECT_TRUE(onednn_epilogues(gm));
  gm.recompile();
  shape_prop(gm, {at::randn({2, 8, 6, 7})});
  PassLog log;
  *changed = onednn_inplace_residuals(gm, &log);
  gm.recompile();
  return log.str();
}

void expect_same_results(GraphModule& gm, GraphModule& reference) {
  for (int64_t batch : {2, 1, 3}) {
    at::Tensor x = at::randn({batch, 8, 6, 7});
    at::Tensor x_before = x.clone();
    std::vector<at::Tensor> want = outputs(reference.forward({x}));
    for (int call = 0; call < 2; ++call) {
      std::vector<at::Tensor> got = outputs(gm.forward({x}));
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_TRUE(close(got[i], want[i], 1e-4, 1e-4))
            << "batch " << batch << ", call " << call << ", output " << i;
    }
    EXPECT_TRUE(at::equal(x, x_before)) << "the input was written";
  }
}

TEST_F(OnednnInplaceResiduals, AChainOfResidualBlocksGoesInPlace) {
  auto gm = residual_net(Variant::kChain);
  auto reference = reference_copy(*gm);
  bool changed = false;
  std::string log = prepare(*gm, &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(count(gm->graph(), kInPlace), 2u) << gm->graph().str();
  EXPECT_EQ(count(gm->graph(), kBinary), 0u);
  EXPECT_EQ(log, "  made 2 residual convolutions write in place\n");
  // The residual is the first argument now; the input, read through
  // onednn_epilogues' channels-last conversion, the second.
  for (const Node* n : gm->graph().find_nodes(Op::CallFunction, kInPlace))
    EXPECT_EQ(n->args()[1].to_node()->target(), "aten::contiguous") << gm->graph().str();
  expect_same_results(*gm, *reference);
  // Nothing left to do on a second run.
  PassLog again;
  EXPECT_FALSE(onednn_inplace_residuals(*gm, &again));
}

TEST_F(OnednnInplaceResiduals, AResidualReadLaterIsNotWritten) {
  auto gm = residual_net(Variant::kResidualReadLater);
  auto reference = reference_copy(*gm);
  bool changed = false;
  std::string log = prepare(*gm, &changed);
  // The first block's residual is an output; the second's (its result) is not.
  EXPECT_EQ(count(gm->graph(), kBinary), 1u) << gm->graph().str();
  EXPECT_EQ(count(gm->graph(), kInPlace), 1u) << gm->graph().str();
  EXPECT_NE(log.find("reads its residual '_convolution_pointwise' afterwards"), std::string::npos) << log;
  expect_same_results(*gm, *reference);
}

TEST_F(OnednnInplaceResiduals, InputsPossibleAliasesAndTheConvolutionsOwnInputAreNotWritten) {
  const std::vector<std::pair<Variant, const char*>> cases = {
      {Variant::kInputResidual, "its residual 'x' is an input"},
      {Variant::kAliasResidual, "may be a view or alias of another value"},
      {Variant::kOwnInput, "may alias its residual '_convolution_pointwise'"},
  };
  for (const auto& [v, why] : cases) {
    SCOPED_TRACE(why);
    auto gm = residual_net(v);
    auto reference = reference_copy(*gm);
    bool changed = false;
    std::string log = prepare(*gm, &changed);
    EXPECT_EQ(count(gm->graph(), kBinary), 1u) << gm->graph().str();
    EXPECT_EQ(count(gm->graph(), kInPlace), 1u) << gm->graph().str();
    EXPECT_NE(log.find(why), std::string::npos) << log;
    expect_same_results(*gm, *reference);
  }
}

}  // namespace
}  // namespace fx
