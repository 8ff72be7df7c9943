// node_copy, graph_copy (inlining) and clone.
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

using Names = std::vector<std::string>;

Names order(const Graph& g) {
  Names out;
  for (Node* n : g.nodes()) out.push_back(n->name());
  return out;
}

TEST(NodeCopy, RemapsArgumentsAndCopiesMeta) {
  Graph src;
  Node* x = src.placeholder("x");
  Node* relu = src.call_function("aten::relu", {x}, {{"inplace", false}}, "Tensor");
  relu->meta().set("tag", std::string("hot"));
  Graph dst;
  Node* y = dst.placeholder("y");
  Node* copy = dst.node_copy(relu, [&](Node*) -> Argument { return y; });
  EXPECT_EQ(copy->format(),
            "%relu : Tensor [#users=0] = call_function[target=aten::relu](args = (%y,), kwargs = "
            "{inplace: False})");
  EXPECT_EQ(*copy->meta().get<std::string>("tag"), "hot");
  EXPECT_EQ(y->users(), (std::vector<Node*>{copy}));
  EXPECT_TRUE(x->users().size() == 1);  // the source is untouched
  dst.lint();
}

TEST(NodeCopy, WithoutTransformTheCopyPointsAtForeignNodesAndLintSaysSo) {
  Graph src;
  Node* x = src.placeholder("x");
  Node* relu = src.call_function("aten::relu", {x});
  Graph dst;
  Node* copy = dst.node_copy(relu);
  EXPECT_EQ(copy->args()[0].to_node(), x);
  expect_error([&] { dst.lint(); }, ErrorKind::kLint,
               {"Argument 'x' of Node 'relu' does not belong to this Graph"});
  // Tidy the foreign use so the source graph's use list is exact again.
  copy->set_args({Argument()});
  EXPECT_EQ(x->users(), (std::vector<Node*>{relu}));
}

TEST(GraphCopy, RenamesAsFxDoes) {
  // torch.fx's renaming: copying [x, foo_1_1, foo_1, add] into a graph that
  // already has `add` gives [add, x, foo_1_1, foo_1, add_1].
  Graph src;
  Node* x = src.placeholder("x");
  Node* a = src.create_node(Op::CallFunction, "aten::relu", {x}, {}, std::string("foo_1_1"));
  Node* b = src.create_node(Op::CallFunction, "aten::relu", {a}, {}, std::string("foo_1"));
  Node* c = src.call_function("aten::add.Tensor", {a, b});
  src.output(c);
  Graph dst;
  dst.create_node(Op::Placeholder, "add", {}, {}, std::string("add"));
  std::unordered_map<const Node*, Node*> val_map;
  const Node* old_output = nullptr;
  std::optional<Argument> result = dst.graph_copy(src, val_map, &old_output);
  EXPECT_EQ(order(dst), (Names{"add", "x", "foo_1_1", "foo_1", "add_1"}));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->to_node()->name(), "add_1");
  EXPECT_EQ(old_output, src.output_node());
  EXPECT_EQ(val_map.size(), 4u);
}

TEST(GraphCopy, InlinesByPrefillingValMap) {
  auto callee = parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a, %b), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mul,), kwargs = {})
    return relu)");
  auto caller = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    return sin)");
  Node* x = caller->find_nodes(Op::Placeholder)[0];
  Node* sin = caller->find_nodes(Op::CallFunction)[0];
  std::unordered_map<const Node*, Node*> val_map;
  auto ph = callee->find_nodes(Op::Placeholder);
  val_map[ph[0]] = x;
  val_map[ph[1]] = sin;
  std::optional<Argument> result;
  {
    auto guard = caller->inserting_before(caller->output_node());
    result = caller->graph_copy(*callee, val_map);
  }
  caller->output_node()->set_args({*result});
  caller->eliminate_dead_code();
  EXPECT_EQ(caller->str(), R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %sin), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mul,), kwargs = {})
    return relu)");
}

TEST(GraphCopy, MissingMappingIsAnError) {
  Graph src;
  Node* x = src.placeholder("x");
  Node* r = src.call_function("aten::relu", {x});
  x->prepend(r);  // r now uses x before x exists
  Graph dst;
  std::unordered_map<const Node*, Node*> val_map;
  EXPECT_THROW(dst.graph_copy(src, val_map), Error);
}

TEST(GraphClone, IdenticalTextAndIndependentNodes) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %dim : int [#users=0] = placeholder[target=dim](default=1)
    %w : [#users=1] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mm, %x), kwargs = {alpha: 2})
    return (add, [1, 2]))");
  auto copy = g->clone();
  EXPECT_EQ(copy->str(), g->str());
  for (Node* n : copy->nodes()) EXPECT_EQ(n->graph(), copy.get());
  copy->lint();
  Node* add = copy->find_nodes(Op::CallFunction, std::string("aten::add.Tensor"))[0];
  add->update_kwarg("alpha", 3);
  EXPECT_NE(copy->str(), g->str());
}

TEST(GraphClone, LongChainWithoutRecursion) {
  Graph g;
  Node* prev = g.placeholder("x");
  for (int i = 0; i < 100000; ++i) prev = g.call_function("aten::relu", {prev});
  g.output(prev);
  auto copy = g.clone();
  EXPECT_EQ(copy->size(), 100002u);
  EXPECT_EQ(copy->output_node()->format(), "return relu_99999");
  EXPECT_EQ(copy->str(), g.str());
}

}  // namespace
}  // namespace fx
