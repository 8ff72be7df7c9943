// fold_constants: operator calls on constants only are computed once and
// replaced by `_folded_<name>` attributes (chains fold link by link, kwargs
// included); number results become literals in their users. Random,
// in-place, factory and non-operator calls and calls reading a placeholder
// stay; an operator that throws stays (logged) and throws at run time naming
// its node. Results equal the original module on fresh inputs.
#include "passes/fold_constants.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "tests/expect_error.h"
#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using testing_support::expect_error;

using pass_tests::close;
using pass_tests::count;
using pass_tests::count_op;
using pass_tests::module_of;
using pass_tests::node_named;
using pass_tests::reference_copy;
using pass_tests::run1;

TEST(FoldConstants, TransposedWeightIsComputedOnce) {
  Attributes attrs;
  attrs.values["fc.weight"] = at::randn({5, 4});
  attrs.values["fc.bias"] = at::randn({5});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %fc_weight : [#users=1] = get_attr[target=fc.weight]
    %fc_bias : [#users=1] = get_attr[target=fc.bias]
    %t : [#users=1] = call_function[target=aten::t](args = (%fc_weight,), kwargs = {})
    %addmm : [#users=1] = call_function[target=aten::addmm](args = (%fc_bias, %x, %t), kwargs = {})
    return addmm)",
                      attrs);
  auto reference = reference_copy(*gm);
  PassLog log;
  EXPECT_TRUE(fold_constants(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "aten::t"), 0u) << g.str();
  EXPECT_EQ(count(g, "fc.weight", Op::GetAttr), 0u) << "the weight's get_attr is dead";
  ASSERT_EQ(count(g, "_folded_t", Op::GetAttr), 1u) << g.str();
  Node* addmm = node_named(g, "addmm");
  EXPECT_EQ(addmm->args()[2].to_node()->target(), "_folded_t");
  EXPECT_TRUE(
      at::equal(gm->get_attr("_folded_t")->toTensor(), attrs.values["fc.weight"].toTensor().t()));
  EXPECT_EQ(log.str(), "  computed 1 constant expressions once\n");

  gm->recompile();
  for (int64_t batch : {1, 6}) {
    at::Tensor x = at::randn({batch, 4});
    EXPECT_TRUE(close(run1(*gm, {x}), run1(*reference, {x}), 1e-6, 1e-6));
  }
  EXPECT_FALSE(fold_constants(*gm));
}

TEST(FoldConstants, ChainsAndKwargsFoldToOneConstant) {
  Attributes attrs;
  attrs.values["bn.var"] = at::rand({6}) + 0.5;
  attrs.values["bn.gamma"] = at::randn({6});
  attrs.values["w"] = at::randn({6, 3});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %var : [#users=1] = get_attr[target=bn.var]
    %gamma : [#users=1] = get_attr[target=bn.gamma]
    %w : [#users=1] = get_attr[target=w]
    %add : [#users=1] = call_function[target=aten::add.Scalar](args = (%var, 1e-05), kwargs = {})
    %rsqrt : [#users=1] = call_function[target=aten::rsqrt](args = (%add,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%rsqrt, %gamma), kwargs = {})
    %sum_1 : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%w, [1]), kwargs = {keepdim: True})
    %reshape : [#users=1] = call_function[target=aten::reshape](args = (%mul, [6, 1]), kwargs = {})
    %mul_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%reshape, %sum_1), kwargs = {})
    %mul_2 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %mul_1), kwargs = {})
    return mul_2)",
                      attrs);
  auto reference = reference_copy(*gm);
  PassLog log;
  EXPECT_TRUE(fold_constants(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(count_op(g, Op::CallFunction), 1u) << g.str();
  EXPECT_EQ(count_op(g, Op::GetAttr), 1u) << g.str();
  EXPECT_EQ(log.str(), "  computed 6 constant expressions once\n");
  at::Tensor var = attrs.values["bn.var"].toTensor();
  at::Tensor scale = (at::rsqrt(var + 1e-5) * attrs.values["bn.gamma"].toTensor()).reshape({6, 1}) *
                     attrs.values["w"].toTensor().sum({1}, true);
  Node* mul_2 = node_named(g, "mul_2");
  const c10::IValue* folded = gm->get_attr(mul_2->args()[1].to_node()->target());
  ASSERT_NE(folded, nullptr);
  EXPECT_TRUE(close(folded->toTensor(), scale, 1e-6, 1e-6));

  gm->recompile();
  at::Tensor x = at::randn({2, 6, 1});
  EXPECT_TRUE(close(run1(*gm, {x}), run1(*reference, {x}), 1e-6, 1e-6));
}

TEST(FoldConstants, NumbersBecomeLiterals) {
  Attributes attrs;
  attrs.values["w"] = at::randn({8, 4});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %size : [#users=1] = call_function[target=aten::size.int](args = (%w, 0), kwargs = {})
    %view : [#users=1] = call_function[target=aten::view](args = (%x, [%size, -1]), kwargs = {})
    return view)",
                      attrs);
  EXPECT_TRUE(fold_constants(*gm));
  const Graph& g = gm->graph();
  EXPECT_EQ(count_op(g, Op::GetAttr), 0u) << g.str();
  Node* view = node_named(g, "view");
  ASSERT_TRUE(view->args()[1].is_sequence());
  EXPECT_EQ(view->args()[1], Argument::list({int64_t{8}, int64_t{-1}})) << g.str();
  gm->recompile();
  at::Tensor x = at::randn({2, 4, 4});
  EXPECT_TRUE(at::equal(run1(*gm, {x}), x.view({8, -1})));
}

TEST(FoldConstants, RandomInPlaceFactoriesAndInputsStay) {
  Attributes attrs;
  attrs.values["w"] = at::randn({4, 4});
  attrs.values["v"] = at::randn({4, 4});
  attrs.values["pair"] = c10::ivalue::Tuple::create({at::randn({4}), at::randn({4})});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=6] = get_attr[target=w]
    %v : [#users=1] = get_attr[target=v]
    %pair : [#users=1] = get_attr[target=pair]
    %rand_like : [#users=1] = call_function[target=aten::rand_like](args = (%w,), kwargs = {})
    %randn_like : [#users=1] = call_function[target=aten::randn_like](args = (%w,), kwargs = {})
    %bernoulli : [#users=1] = call_function[target=aten::bernoulli.p](args = (%w, 0.5), kwargs = {})
    %dropout : [#users=1] = call_function[target=aten::dropout](args = (%w, 0.5, True), kwargs = {})
    %normal : [#users=1] = call_function[target=aten::normal_functional](args = (%w,), kwargs = {})
    %add_ : [#users=1] = call_function[target=aten::add_.Tensor](args = (%v, %w), kwargs = {})
    %zeros : [#users=1] = call_function[target=aten::zeros](args = ([4, 4],), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%pair, 0), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %getitem), kwargs = {})
    return (rand_like, randn_like, bernoulli, dropout, normal, add_, zeros, add))",
                      attrs);
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(fold_constants(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_TRUE(log.lines().empty()) << log.str();
  // Each call still draws new numbers.
  gm->recompile();
  at::Tensor x = at::randn({4});
  auto a = gm->forward({x}).toTuple()->elements();
  auto b = gm->forward({x}).toTuple()->elements();
  for (size_t i = 0; i < 5; ++i)
    EXPECT_FALSE(at::equal(a[i].toTensor(), b[i].toTensor())) << "output " << i;
}

TEST(FoldConstants, AnOperatorThatThrowsIsLeftForRunTime) {
  Attributes attrs;
  attrs.values["w"] = at::randn({8, 4});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=2] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%w, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %mm), kwargs = {})
    return add)",
                      attrs);
  PassLog log;
  EXPECT_FALSE(fold_constants(*gm, &log));
  EXPECT_EQ(count(gm->graph(), "aten::mm"), 1u);
  ASSERT_EQ(log.lines().size(), 1u) << log.str();
  EXPECT_EQ(log.lines()[0].rfind("  kept mm (aten::mm): ", 0), 0u) << log.str();
  gm->recompile();
  // mm of [8, 4] by [8, 4] must not run.
  expect_error([&] { gm->forward({at::randn({8, 8})}); }, ErrorKind::kRuntime,
               {"node 'mm' (call_function aten::mm)"});
}

}  // namespace
}  // namespace fx
