// remove_inference_noops: eval dropouts and detach disappear; contiguous,
// to.dtype and type_as disappear only when tensor_meta proves them no-ops;
// dropouts with train=True (or an unknown flag), real layout or dtype changes
// and copy=True stay. Results equal the original module on fresh inputs.
#include "passes/remove_inference_noops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::count;
using pass_tests::module_of;
using pass_tests::node_named;
using pass_tests::reference_copy;
using pass_tests::run1;

TEST(RemoveInferenceNoops, EvalDropoutsAndDetachGo) {
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %dropout : [#users=1] = call_function[target=aten::dropout](args = (%x, 0.5, False), kwargs = {})
    %feature_dropout : [#users=1] = call_function[target=aten::feature_dropout](args = (%dropout, 0.5, False), kwargs = {})
    %alpha_dropout : [#users=1] = call_function[target=aten::alpha_dropout](args = (%feature_dropout, 0.2, False), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%alpha_dropout,), kwargs = {})
    %dropout_ : [#users=1] = call_function[target=aten::dropout_](args = (%relu, 0.1, False), kwargs = {})
    %feature_alpha_dropout : [#users=1] = call_function[target=aten::feature_alpha_dropout](args = (%dropout_,), kwargs = {p: 0.3, train: False})
    %detach : [#users=1] = call_function[target=aten::detach](args = (%feature_alpha_dropout,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Scalar](args = (%detach, 2), kwargs = {})
    return mul)");
  PassLog log;
  EXPECT_TRUE(remove_inference_noops(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(g.size(), 4u) << g.str();  // x, relu, mul, output
  Node* relu = node_named(g, "relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->args()[0].to_node()->name(), "x");
  EXPECT_EQ(node_named(g, "mul")->args()[0].to_node(), relu);
  EXPECT_EQ(
      log.lines(),
      (std::vector<std::string>{
          "  removed dropout (aten::dropout)", "  removed feature_dropout (aten::feature_dropout)",
          "  removed alpha_dropout (aten::alpha_dropout)", "  removed dropout_ (aten::dropout_)",
          "  removed feature_alpha_dropout (aten::feature_alpha_dropout)",
          "  removed detach (aten::detach)"}));
  gm->recompile();
  at::Tensor x = at::randn({4, 8});
  EXPECT_TRUE(at::equal(run1(*gm, {x}), at::relu(x) * 2));
  EXPECT_FALSE(remove_inference_noops(*gm));
}

TEST(RemoveInferenceNoops, TrainingDropoutStays) {
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %train : [#users=1] = placeholder[target=train]
    %dropout : [#users=1] = call_function[target=aten::dropout](args = (%x, 0.5, True), kwargs = {})
    %dropout_ : [#users=1] = call_function[target=aten::dropout_](args = (%dropout, 0.5, True), kwargs = {})
    %feature_dropout : [#users=1] = call_function[target=aten::feature_dropout](args = (%dropout_, 0.5, %train), kwargs = {})
    return feature_dropout)");
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(remove_inference_noops(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_TRUE(log.lines().empty()) << log.str();
  // Still random: dropout in training zeroes some entries.
  gm->recompile();
  at::Tensor out = run1(*gm, {at::ones({64, 64}), true});
  EXPECT_GT((out == 0).sum().item<int64_t>(), 0);
}

// contiguous(x) of a contiguous x, channels_last of a [N, C, 1, 1] tensor and
// of a value already channels last are no-ops; contiguous of a transposed
// value and channels_last of a real NCHW tensor are not.
const char* kLayouts = R"(graph():
    %x : [#users=4] = placeholder[target=x]
    %contiguous : [#users=1] = call_function[target=aten::contiguous](args = (%x,), kwargs = {})
    %to_cl : [#users=1] = call_function[target=aten::contiguous](args = (%x,), kwargs = {memory_format: torch.channels_last})
    %again_cl : [#users=1] = call_function[target=aten::contiguous](args = (%to_cl,), kwargs = {memory_format: torch.channels_last})
    %transpose : [#users=1] = call_function[target=aten::transpose.int](args = (%x, 2, 3), kwargs = {})
    %dense : [#users=1] = call_function[target=aten::contiguous](args = (%transpose,), kwargs = {})
    %mean : [#users=1] = call_function[target=aten::mean.dim](args = (%x, [2, 3], True), kwargs = {})
    %pooled_cl : [#users=1] = call_function[target=aten::contiguous](args = (%mean,), kwargs = {memory_format: torch.channels_last})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%contiguous, %pooled_cl), kwargs = {})
    return (add, again_cl, dense))";

TEST(RemoveInferenceNoops, ContiguousNeedsTensorMeta) {
  auto gm = module_of(kLayouts);
  const std::string before = gm->graph().str();
  EXPECT_FALSE(remove_inference_noops(*gm));
  EXPECT_EQ(gm->graph().str(), before);
}

TEST(RemoveInferenceNoops, ContiguousThatChangesNothingGoes) {
  auto gm = module_of(kLayouts);
  auto reference = reference_copy(*gm);
  shape_prop(*gm, {at::randn({2, 3, 5, 4})});
  PassLog log;
  EXPECT_TRUE(remove_inference_noops(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "aten::contiguous"), 2u) << g.str();
  EXPECT_NE(node_named(g, "to_cl"), nullptr);
  EXPECT_NE(node_named(g, "dense"), nullptr);
  EXPECT_EQ(node_named(g, "contiguous"), nullptr);
  EXPECT_EQ(node_named(g, "again_cl"), nullptr);
  EXPECT_EQ(node_named(g, "pooled_cl"), nullptr);
  EXPECT_EQ(log.lines().size(), 3u) << log.str();

  gm->recompile();
  for (int64_t batch : {2, 3}) {
    at::Tensor x = at::randn({batch, 3, 5, 4});
    auto got = gm->forward({x}).toTuple()->elements();
    auto want = reference->forward({x}).toTuple()->elements();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(at::equal(got[i].toTensor(), want[i].toTensor())) << i;
      EXPECT_EQ(got[i].toTensor().strides(), want[i].toTensor().strides()) << i;
    }
  }
}

TEST(RemoveInferenceNoops, ToAndTypeAsOnlyWhenTheDtypeIsTheSame) {
  auto gm = module_of(R"(graph():
    %x : [#users=5] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %i : [#users=1] = placeholder[target=i]
    %to : [#users=1] = call_function[target=aten::to.dtype](args = (%x, torch.float32), kwargs = {})
    %to_double : [#users=1] = call_function[target=aten::to.dtype](args = (%x, torch.float64), kwargs = {})
    %to_copy : [#users=1] = call_function[target=aten::to.dtype](args = (%x, torch.float32, False, True), kwargs = {})
    %type_as : [#users=1] = call_function[target=aten::type_as](args = (%x, %y), kwargs = {})
    %type_as_int : [#users=1] = call_function[target=aten::type_as](args = (%x, %i), kwargs = {})
    return (to, to_double, to_copy, type_as, type_as_int))");
  auto reference = reference_copy(*gm);
  std::vector<c10::IValue> inputs = {at::randn({3, 4}), at::randn({2}),
                                     at::randint(0, 5, {2}, at::kLong)};
  shape_prop(*gm, inputs);
  PassLog log;
  EXPECT_TRUE(remove_inference_noops(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(node_named(g, "to"), nullptr);
  EXPECT_EQ(node_named(g, "type_as"), nullptr);
  EXPECT_NE(node_named(g, "to_double"), nullptr);
  EXPECT_NE(node_named(g, "to_copy"), nullptr) << "copy=True asks for a new tensor";
  EXPECT_NE(node_named(g, "type_as_int"), nullptr);
  EXPECT_EQ(log.str(), "  removed to (aten::to.dtype)\n  removed type_as (aten::type_as)\n");

  gm->recompile();
  at::Tensor x = at::randn({3, 4});
  std::vector<c10::IValue> fresh = {x, at::randn({2}), at::randint(0, 5, {2}, at::kLong)};
  auto got = gm->forward(fresh).toTuple()->elements();
  auto want = reference->forward(fresh).toTuple()->elements();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].toTensor().scalar_type(), want[i].toTensor().scalar_type()) << i;
    EXPECT_TRUE(at::equal(got[i].toTensor(), want[i].toTensor())) << i;
  }
  // The removed ones return x itself; copy=True still gives a fresh tensor.
  EXPECT_TRUE(got[0].toTensor().is_same(x));
  EXPECT_FALSE(got[2].toTensor().is_same(x));
}

}  // namespace
}  // namespace fx
