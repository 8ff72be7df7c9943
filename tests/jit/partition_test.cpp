// Partitioning decisions on hand-written graphs: maximal groups, acyclicity,
// extra outputs, non-fusible ops splitting groups, mutation never fused, caps.
#include "jit/partition.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace fx::jit {
namespace {

std::unique_ptr<GraphModule> module(const std::string& text, std::vector<c10::IValue> inputs) {
  auto gm = std::make_unique<GraphModule>(parse_graph(text), Attributes{});
  shape_prop(*gm, std::move(inputs));
  return gm;
}

std::vector<std::string> names(const std::vector<Node*>& nodes) {
  std::vector<std::string> out;
  for (const Node* n : nodes) out.push_back(n->name());
  return out;
}

std::string reason_of(const Partition& p, const std::string& name) {
  for (const Unfused& u : p.unfused)
    if (u.node->name() == name) return u.reason;
  return "<fused>";
}

using V = std::vector<std::string>;

TEST(Partition, ChainIsOneGroup) {
  auto gm = module(R"(
    %x : [#users=2] = placeholder[target=x]
    %y : [#users=2] = placeholder[target=y]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Scalar](args = (%mul, 1), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%add,), kwargs = {})
    %mul_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%sigmoid, %x), kwargs = {})
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%mul_1, %y), kwargs = {})
    return sub)",
                   {at::randn({4, 5}), at::randn({4, 5})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"mul", "add", "sigmoid", "mul_1", "sub"}));
  EXPECT_EQ(names(p.groups[0].inputs), (V{"x", "y"}));
  EXPECT_EQ(names(p.groups[0].outputs), (V{"sub"}));
  EXPECT_TRUE(p.unfused.empty());
}

TEST(Partition, ProducerWithOutsideUserIsExtraOutput) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = placeholder[target=w]
    %relu : [#users=2] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%relu,), kwargs = {})
    %mm : [#users=1] = call_function[target=aten::mm](args = (%relu, %w), kwargs = {})
    return (exp, mm))",
                   {at::randn({3, 3}), at::randn({3, 3})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"relu", "exp"}));
  EXPECT_EQ(names(p.groups[0].outputs), (V{"relu", "exp"}));
}

TEST(Partition, NeverFormsACycle) {
  // relu -> mm -> add and relu -> add: fusing relu with add would make the
  // fused node both feed and consume mm.
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = placeholder[target=w]
    %relu : [#users=2] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %mm : [#users=1] = call_function[target=aten::mm](args = (%relu, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %mm), kwargs = {})
    %tanh : [#users=1] = call_function[target=aten::tanh](args = (%add,), kwargs = {})
    return tanh)",
                   {at::randn({3, 3}), at::randn({3, 3})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"add", "tanh"}));
  EXPECT_NE(reason_of(p, "relu").find("no fusible neighbour"), std::string::npos);
}

TEST(Partition, CycleReasonWhenNoOtherGroup) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = placeholder[target=w]
    %relu : [#users=2] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %mm : [#users=1] = call_function[target=aten::mm](args = (%relu, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %mm), kwargs = {})
    return add)",
                   {at::randn({3, 3}), at::randn({3, 3})});
  Partition p = partition(gm->graph());
  EXPECT_TRUE(p.groups.empty());
  EXPECT_NE(reason_of(p, "add").find("would form a cycle"), std::string::npos) << p.explain();
}

TEST(Partition, NonFusibleSplitsGroups) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%sin,), kwargs = {})
    %cumsum : [#users=1] = call_function[target=aten::cumsum](args = (%cos, 0), kwargs = {})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%cumsum,), kwargs = {})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%exp,), kwargs = {})
    return neg)",
                   {at::randn({8})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 2u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"sin", "cos"}));
  EXPECT_EQ(names(p.groups[1].nodes), (V{"exp", "neg"}));
}

TEST(Partition, MutationIsNeverFused) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %exp : [#users=2] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %add_ : [#users=1] = call_function[target=aten::add_.Tensor](args = (%exp, %exp), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add_,), kwargs = {})
    return relu)",
                   {at::randn({8})});
  Partition p = partition(gm->graph());
  EXPECT_TRUE(p.groups.empty());
  EXPECT_NE(reason_of(p, "add_").find("mutates"), std::string::npos) << p.explain();
}

TEST(Partition, UnsupportedOverloadAndDtypeAreExplained) {
  auto gm = module(R"(
    %x : [#users=2] = placeholder[target=x]
    %i : [#users=1] = placeholder[target=i]
    %div : [#users=1] = call_function[target=aten::div.Tensor_mode](args = (%x, %x), kwargs = {rounding_mode: floor})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%div,), kwargs = {})
    %p : [#users=1] = call_function[target=aten::pow.Tensor_Scalar](args = (%i, 3), kwargs = {})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%p,), kwargs = {})
    return (exp, neg))",
                   {at::randn({8}), at::arange(8)});
  Partition p = partition(gm->graph());
  EXPECT_TRUE(p.groups.empty());
  EXPECT_NE(reason_of(p, "div").find("unsupported overload aten::div.Tensor_mode"),
            std::string::npos);
  EXPECT_NE(reason_of(p, "p").find("unsupported dtype Long"), std::string::npos) << p.explain();
}

TEST(Partition, ToSameDtypeAliasesAndIsNotFused) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %exp : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %to : [#users=1] = call_function[target=aten::to.dtype](args = (%exp, torch.float32), kwargs = {})
    %to_1 : [#users=1] = call_function[target=aten::to.dtype](args = (%to, torch.float64), kwargs = {})
    return to_1)",
                   {at::randn({8})});
  Partition p = partition(gm->graph());
  EXPECT_NE(reason_of(p, "to").find("aliases"), std::string::npos) << p.explain();
}

TEST(Partition, GroupCap) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %a : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %b : [#users=1] = call_function[target=aten::exp](args = (%a,), kwargs = {})
    %c : [#users=1] = call_function[target=aten::exp](args = (%b,), kwargs = {})
    %d : [#users=1] = call_function[target=aten::exp](args = (%c,), kwargs = {})
    %e : [#users=1] = call_function[target=aten::exp](args = (%d,), kwargs = {})
    return e)",
                   {at::randn({8})});
  PartitionOptions o;
  o.max_group_size = 2;
  Partition p = partition(gm->graph(), o);
  ASSERT_EQ(p.groups.size(), 2u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"a", "b"}));
  EXPECT_EQ(names(p.groups[1].nodes), (V{"c", "d"}));
  EXPECT_NE(reason_of(p, "e").find("group cap"), std::string::npos) << p.explain();
}

TEST(Partition, SiblingGroupsMergeAtACommonConsumer) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %a : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %a2 : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    %b : [#users=1] = call_function[target=aten::sin](args = (%y,), kwargs = {})
    %b2 : [#users=1] = call_function[target=aten::cos](args = (%b,), kwargs = {})
    %c : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a2, %b2), kwargs = {})
    return c)",
                   {at::randn({8}), at::randn({8})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"a", "a2", "b", "b2", "c"}));
}

TEST(Partition, DifferentShapesDoNotShareAGroup) {
  auto gm = module(R"(
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %a : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %b : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, %y), kwargs = {})
    %c : [#users=1] = call_function[target=aten::relu](args = (%b,), kwargs = {})
    return c)",
                   {at::randn({4}), at::randn({3, 4})});
  Partition p = partition(gm->graph());
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(names(p.groups[0].nodes), (V{"b", "c"}));
  EXPECT_NE(reason_of(p, "a").find("no fusible neighbour"), std::string::npos);
}

}  // namespace
}  // namespace fx::jit
