// split_module: printed parent and child graphs, qualname_map, numerics
// against the unsplit module on fresh random inputs, partition cycles,
// values that skip a partition, placeholder defaults, a traced model.
#include "runtime/split_module.h"

#include <map>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/module.h"
#include "capture/tracer.h"
#include "tests/expect_error.h"
#include "tests/fx_doc_example.h"

namespace fx {
namespace {

using testing_support::expect_error;

// Partitions by node name; every node named must be listed.
std::function<int64_t(const Node*)> by_name(std::map<std::string, int64_t> ids) {
  return [ids](const Node* n) {
    auto it = ids.find(n->name());
    if (it == ids.end()) ADD_FAILURE() << "no partition for " << n->name();
    return it == ids.end() ? int64_t{-100} : it->second;
  };
}

GraphModule& child(const GraphModule& parent, const std::string& name) {
  auto m = std::dynamic_pointer_cast<GraphModule>(parent.get_submodule(name));
  if (!m) throw std::runtime_error("no child GraphModule " + name);
  return *m;
}

// linear -> relu / sigmoid -> mul by a parameter -> add, plus a skip from x.
std::unique_ptr<GraphModule> make_block() {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %linear_weight : [#users=1] = get_attr[target=linear.weight]
    %linear_bias : [#users=1] = get_attr[target=linear.bias]
    %linear : [#users=2] = call_function[target=aten::linear](args = (%x, %linear_weight, %linear_bias), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%linear,), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%linear,), kwargs = {})
    %scale : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%relu, %scale), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %sigmoid), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %x), kwargs = {})
    return add_1)");
  Attributes attrs;
  attrs.values["linear.weight"] = at::randn({4, 4});
  attrs.values["linear.bias"] = at::randn({4});
  attrs.values["scale"] = at::randn({4});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs), "Block");
}

void expect_same_numbers(GraphModule& original, GraphModule& split, at::IntArrayRef shape,
                         int inputs = 1) {
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<c10::IValue> in;
    for (int i = 0; i < inputs; ++i) in.emplace_back(at::randn(shape));
    at::Tensor want = original.forward(in).toTensor();
    at::Tensor got = split.forward(in).toTensor();
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6)) << "trial " << trial;
  }
}

TEST(SplitModule, TwoPartitionsOfAModelWithParameters) {
  auto gm = make_block();
  std::string before = gm->graph().str();
  auto split = split_module(
      *gm,
      by_name({{"linear", 0}, {"relu", 0}, {"sigmoid", 0}, {"mul", 1}, {"add", 1}, {"add_1", 1}}));
  EXPECT_EQ(split->graph().str(), R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %submod_0 : [#users=2] = call_module[target=submod_0](args = (%x,), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%submod_0, 0), kwargs = {})
    %getitem_1 : [#users=1] = call_function[target=getitem](args = (%submod_0, 1), kwargs = {})
    %submod_1 : [#users=1] = call_module[target=submod_1](args = (%getitem, %getitem_1, %x), kwargs = {})
    return submod_1)");
  EXPECT_EQ(child(*split, "submod_0").graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %linear_weight : [#users=1] = get_attr[target=linear_weight]
    %linear_bias : [#users=1] = get_attr[target=linear_bias]
    %linear : [#users=2] = call_function[target=aten::linear](args = (%x, %linear_weight, %linear_bias), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%linear,), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%linear,), kwargs = {})
    return (relu, sigmoid))");
  EXPECT_EQ(child(*split, "submod_1").graph().str(), R"(graph():
    %relu : [#users=1] = placeholder[target=relu]
    %sigmoid : [#users=1] = placeholder[target=sigmoid]
    %x : [#users=1] = placeholder[target=x]
    %scale : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%relu, %scale), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %sigmoid), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %x), kwargs = {})
    return add_1)");
  split->graph().lint();
  expect_same_numbers(*gm, *split, {3, 4});
  // The original is untouched; the children share its tensors.
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_TRUE(child(*split, "submod_0")
                  .get_attr("linear_weight")
                  ->toTensor()
                  .is_same(gm->get_attr("linear.weight")->toTensor()));
  EXPECT_TRUE(split->attributes().values.empty());
  EXPECT_EQ(split->attributes().modules.size(), 2u);
}

TEST(SplitModule, QualnameMapAndFlattenedSubmodules) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %linear_weight : [#users=2] = get_attr[target=linear.weight]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %linear_weight), kwargs = {})
    %block_act : [#users=1] = call_module[target=block.act](args = (%mm,), kwargs = {})
    %mm_1 : [#users=1] = call_function[target=aten::mm](args = (%block_act, %linear_weight), kwargs = {})
    return mm_1)");
  Attributes attrs;
  attrs.values["linear.weight"] = at::randn({4, 4});
  auto act = make_module("tanh", [](std::vector<c10::IValue> args, const IValueKwargs&) {
    return c10::IValue(args.at(0).toTensor().tanh());
  });
  attrs.modules["block.act"] = act;
  GraphModule gm(std::move(g), std::move(attrs));

  std::map<std::string, std::string> qualname_map;
  auto split = split_module(gm, by_name({{"mm", 0}, {"block_act", 1}, {"mm_1", 1}}), &qualname_map);
  EXPECT_EQ(qualname_map,
            (std::map<std::string, std::string>{{"submod_0.linear_weight", "linear.weight"},
                                                {"submod_1.block_act", "block.act"},
                                                {"submod_1.linear_weight", "linear.weight"}}));
  // Both children use the weight: each gets its own get_attr of one tensor.
  EXPECT_EQ(child(*split, "submod_1").graph().str(), R"(graph():
    %mm : [#users=1] = placeholder[target=mm]
    %linear_weight : [#users=1] = get_attr[target=linear_weight]
    %block_act : [#users=1] = call_module[target=block_act](args = (%mm,), kwargs = {})
    %mm_1 : [#users=1] = call_function[target=aten::mm](args = (%block_act, %linear_weight), kwargs = {})
    return mm_1)");
  EXPECT_EQ(child(*split, "submod_1").get_submodule("block_act"), act);
  EXPECT_TRUE(child(*split, "submod_1")
                  .get_attr("linear_weight")
                  ->toTensor()
                  .is_same(child(*split, "submod_0").get_attr("linear_weight")->toTensor()));
  expect_same_numbers(gm, *split, {3, 4});
}

TEST(SplitModule, CycleBetweenPartitionsIsAnError) {
  auto gm = make_block();
  // linear (0) feeds relu (1), which feeds mul (0): values flow both ways.
  expect_error(
      [&] {
        split_module(*gm, by_name({{"linear", 0},
                                   {"relu", 1},
                                   {"sigmoid", 0},
                                   {"mul", 0},
                                   {"add", 0},
                                   {"add_1", 0}}));
      },
      ErrorKind::kGraph,
      {"cycle exists between partitions! partitions [0, 1] cannot be ordered",
       "node 'relu' (call_function aten::relu) in partition 1 uses 'linear' from partition 0",
       "node 'mul' (call_function aten::mul.Tensor) in partition 0 uses 'relu' from partition 1"});
}

TEST(SplitModule, ValuesThatSkipAPartition) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %sin : [#users=2] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%y,), kwargs = {})
    %add_7 : [#users=1] = call_function[target=aten::add.Tensor](args = (%sin, %cos), kwargs = {})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%add_7,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%neg, %sin), kwargs = {})
    %add_8 : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %cos), kwargs = {})
    return add_8)");
  GraphModule gm(std::move(g), {});
  // Partition ids need not be small or in order; sin and cos skip partition 5.
  // Outputs are listed in first-use order: add_7 (by neg), then sin, cos.
  auto split = split_module(
      gm, by_name({{"sin", 9}, {"cos", 9}, {"add_7", 9}, {"neg", 5}, {"mul", 2}, {"add_8", 2}}));
  EXPECT_EQ(split->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %submod_9 : [#users=3] = call_module[target=submod_9](args = (%x, %y), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%submod_9, 0), kwargs = {})
    %getitem_1 : [#users=1] = call_function[target=getitem](args = (%submod_9, 1), kwargs = {})
    %getitem_2 : [#users=1] = call_function[target=getitem](args = (%submod_9, 2), kwargs = {})
    %submod_5 : [#users=1] = call_module[target=submod_5](args = (%getitem,), kwargs = {})
    %submod_2 : [#users=1] = call_module[target=submod_2](args = (%submod_5, %getitem_1, %getitem_2), kwargs = {})
    return submod_2)");
  // Re-created nodes are named from their targets: add_7 becomes add.
  EXPECT_EQ(child(*split, "submod_9").graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %sin : [#users=2] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %cos : [#users=2] = call_function[target=aten::cos](args = (%y,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%sin, %cos), kwargs = {})
    return (add, sin, cos))");
  EXPECT_EQ(child(*split, "submod_2").graph().str(), R"(graph():
    %neg : [#users=1] = placeholder[target=neg]
    %sin : [#users=1] = placeholder[target=sin]
    %cos : [#users=1] = placeholder[target=cos]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%neg, %sin), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %cos), kwargs = {})
    return add)");
  expect_same_numbers(gm, *split, {5}, 2);
}

TEST(SplitModule, PlaceholderDefaultsTypesAndMetaAreKept) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %alpha : float [#users=1] = placeholder[target=alpha](default=2.0)
    %mul : [#users=1] = call_function[target=aten::mul.Scalar](args = (%x, %alpha), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mul,), kwargs = {})
    return relu)");
  for (Node* n : g->nodes()) n->meta().set<std::string>("origin", n->name());
  GraphModule gm(std::move(g), {});
  auto split = split_module(gm, by_name({{"mul", 0}, {"relu", 1}}));
  EXPECT_EQ(split->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %alpha : float [#users=1] = placeholder[target=alpha](default=2.0)
    %submod_0 : [#users=1] = call_module[target=submod_0](args = (%x, %alpha), kwargs = {})
    %submod_1 : [#users=1] = call_module[target=submod_1](args = (%submod_0,), kwargs = {})
    return submod_1)");
  EXPECT_EQ(child(*split, "submod_0").graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %alpha : float [#users=1] = placeholder[target=alpha]
    %mul : [#users=1] = call_function[target=aten::mul.Scalar](args = (%x, %alpha), kwargs = {})
    return mul)");
  // meta is copied to every re-created node and every child placeholder.
  for (const Graph* graph :
       {&split->graph(), &child(*split, "submod_0").graph(), &child(*split, "submod_1").graph()}) {
    for (const Node* n : graph->nodes()) {
      if (n->op() == Op::Output || n->op() == Op::CallModule) continue;
      const std::string* origin = n->meta().get<std::string>("origin");
      ASSERT_NE(origin, nullptr) << n->name();
      EXPECT_EQ(*origin, n->name());
    }
  }
  for (int trial = 0; trial < 3; ++trial) {
    at::Tensor x = at::randn({6});
    EXPECT_TRUE(at::allclose((*split)(x).toTensor(), (x * 2.0).relu()));
    EXPECT_TRUE(at::allclose((*split)(x, 3.0).toTensor(), gm(x, 3.0).toTensor()));
  }
}

TEST(SplitModule, OutputMayReturnPlaceholdersAttributesAndUnusedPartitions) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %w : [#users=2] = get_attr[target=w]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %w), kwargs = {})
    %sin : [#users=0] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    return (add, x, w))");
  Attributes attrs;
  attrs.values["w"] = at::randn({3});
  GraphModule gm(std::move(g), std::move(attrs));
  auto split = split_module(gm, by_name({{"add", 0}, {"sin", 1}}));
  // Both partitions are ready at the start; as in FX the last one goes first.
  EXPECT_EQ(split->graph().str(), R"(graph():
    %x : [#users=3] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %submod_1 : [#users=0] = call_module[target=submod_1](args = (%x,), kwargs = {})
    %submod_0 : [#users=1] = call_module[target=submod_0](args = (%x,), kwargs = {})
    return (submod_0, x, w))");
  EXPECT_EQ(child(*split, "submod_1").graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=0] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    return ())");
  at::Tensor x = at::randn({3});
  auto out = (*split)(x).toTuple()->elements();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(at::allclose(out[0].toTensor(), x + gm.get_attr("w")->toTensor()));
  EXPECT_TRUE(out[1].toTensor().is_same(x));
  EXPECT_TRUE(out[2].toTensor().is_same(gm.get_attr("w")->toTensor()));
}

TEST(SplitModule, OutOfOrderGraphIsAnError) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    return relu)");
  GraphModule gm(std::move(g), {});
  Node* neg = gm.graph().find_nodes(Op::CallFunction, std::string("aten::neg"))[0];
  neg->next()->append(neg);  // relu now comes first
  expect_error([&] { split_module(gm, [](const Node*) { return int64_t{0}; }); }, ErrorKind::kGraph,
               {"node 'relu' (call_function aten::relu): uses 'neg' before it is defined"});
}

TEST(SplitModule, FlattenedNameCollisionIsAnError) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %a_b_c : [#users=1] = get_attr[target=a.b_c]
    %a_b_c_1 : [#users=1] = get_attr[target=a_b.c]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %a_b_c), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %a_b_c_1), kwargs = {})
    return add_1)");
  Attributes attrs;
  attrs.values["a.b_c"] = at::randn({2});
  attrs.values["a_b.c"] = at::randn({2});
  GraphModule gm(std::move(g), std::move(attrs));
  expect_error([&] { split_module(gm, [](const Node*) { return int64_t{0}; }); }, ErrorKind::kGraph,
               {"node 'a_b_c_1' (get_attr a_b.c): target 'a_b.c' flattens to 'a_b_c' in "
                "submod_0, which already holds 'a.b_c'"});
  // In different partitions the two names do not meet.
  auto split = split_module(gm, by_name({{"add", 0}, {"add_1", 1}}));
  expect_same_numbers(gm, *split, {2});
}

TEST(SplitModule, NegativePartitionIds) {
  auto gm = make_block();
  auto split = split_module(
      *gm,
      by_name(
          {{"linear", -1}, {"relu", -1}, {"sigmoid", -1}, {"mul", 3}, {"add", 3}, {"add_1", 3}}));
  EXPECT_NE(split->get_submodule("submod_-1"), nullptr);
  expect_same_numbers(*gm, *split, {3, 4});
}

// torch.fx's split_module docstring example, traced from C++: the
// documentation's module with a second input, forward(x, y) =
// linear(x + param).clamp(0, 1) + linear(y).clamp(0, 1). The docstring
// splits it round-robin, which works on FX's graph (Linear is one
// call_module node) but makes cycles on ours (t, addmm): three contiguous
// chunks instead.
TEST(SplitModule, TracedModelRoundRobin) {
  testing_support::MyModule m;
  auto gm = symbolic_trace(
      *m,
      [m](std::vector<c10::IValue> in) mutable {
        torch::Tensor z = m->forward(in[0].toTensor());
        torch::Tensor w = m->linear(in[1].toTensor()).clamp(0.0, 1.0);
        return c10::IValue(z + w);
      },
      {torch::randn({3, 4}), torch::randn({3, 4})}, TraceOptions{{"x", "y"}, {}});
  int64_t calls = 0;
  for (const Node* n : gm->graph().nodes())
    if (n->op() != Op::Placeholder && n->op() != Op::GetAttr && n->op() != Op::Output) ++calls;
  ASSERT_GE(calls, 6);
  int64_t counter = 0;
  std::map<std::string, std::string> qualname_map;
  auto split = split_module(
      *gm, [&](const Node*) { return counter++ * 3 / calls; }, &qualname_map);
  EXPECT_EQ(counter, calls);
  split->graph().lint();
  EXPECT_EQ(split->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %submod_0 : [#users=1] = call_module[target=submod_0](args = (%x,), kwargs = {})
    %submod_1 : [#users=2] = call_module[target=submod_1](args = (%submod_0, %y), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%submod_1, 0), kwargs = {})
    %getitem_1 : [#users=1] = call_function[target=getitem](args = (%submod_1, 1), kwargs = {})
    %submod_2 : [#users=1] = call_module[target=submod_2](args = (%getitem, %getitem_1), kwargs = {})
    return submod_2)");
  // The placeholder takes the name addmm, so the re-created addmm_1 keeps its
  // suffix; the weight and bias are fetched again in this child.
  EXPECT_EQ(child(*split, "submod_1").graph().str(), R"(graph():
    %addmm : [#users=1] = placeholder[target=addmm]
    %y : [#users=1] = placeholder[target=y]
    %linear_weight : [#users=1] = get_attr[target=linear_weight]
    %linear_bias : [#users=1] = get_attr[target=linear_bias]
    %clamp : [#users=1] = call_function[target=aten::clamp](args = (%addmm, 0.0, 1.0), kwargs = {})
    %t : [#users=1] = call_function[target=aten::t](args = (%linear_weight,), kwargs = {})
    %addmm_1 : [#users=1] = call_function[target=aten::addmm](args = (%linear_bias, %y, %t), kwargs = {})
    return (addmm_1, clamp))");
  EXPECT_EQ(split->attributes().modules.size(), 3u);
  for (const auto& kv : qualname_map) {
    // Every mapped name resolves to the same tensor in the child and the original.
    auto dot = kv.first.find('.');
    const c10::IValue* in_child =
        child(*split, kv.first.substr(0, dot)).get_attr(kv.first.substr(dot + 1));
    ASSERT_NE(in_child, nullptr) << kv.first;
    EXPECT_TRUE(in_child->toTensor().is_same(gm->get_attr(kv.second)->toTensor())) << kv.first;
  }
  EXPECT_EQ(qualname_map,
            (std::map<std::string, std::string>{{"submod_0.linear_bias", "linear.bias"},
                                                {"submod_0.linear_weight", "linear.weight"},
                                                {"submod_0.param", "param"},
                                                {"submod_1.linear_bias", "linear.bias"},
                                                {"submod_1.linear_weight", "linear.weight"}}));
  torch::NoGradGuard no_grad;
  expect_same_numbers(*gm, *split, {3, 4}, 2);
}

}  // namespace
}  // namespace fx
