// Graph: builders, naming, printing, insertion points, erasure, iteration.
#include "ir/graph.h"

#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>

#include "ir/error.h"
#include "tests/expect_error.h"
#include "tests/fx_doc_example.h"

namespace fx {
namespace {

using testing_support::expect_error;

using Names = std::vector<std::string>;

Names order(const Graph& g) {
  Names out;
  for (Node* n : g.nodes()) out.push_back(n->name());
  return out;
}

// A graph built by hand as torch.fx prints it, with ATen targets in place of
// torch.add / torch.mul.
TEST(GraphPrint, HandBuiltGraphMatchesFx) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y", Argument(3));
  Node* a = g.call_function("aten::add.Tensor", {x, y});
  Node* b = g.call_function("aten::add.Tensor", {a, a}, {{"alpha", 2}});
  Node* c = g.call_method("relu", {b});
  auto named = [&](const char* target, Node* l, Node* r, const char* name) {
    return g.create_node(Op::CallFunction, target, {l, r}, {}, std::string(name));
  };
  Node* d = named("aten::add.Tensor", c, x, "add");
  Node* e = named("aten::add.Tensor", c, x, "add_1");
  Node* f = named("aten::mul.Tensor", e, d, "foo_7");
  Node* h = named("aten::mul.Tensor", f, d, "foo_7");
  Node* i = named("aten::mul.Tensor", h, d, "foo");
  Node* j = named("aten::mul.Tensor", i, d, "foo");
  Node* k = named("aten::mul.Tensor", j, d, "1abc-x.y");
  Node* l = named("aten::mul.Tensor", k, d, "if");
  Node* m = named("aten::mul.Tensor", l, d, "list");
  Node* n = named("aten::mul.Tensor", m, d, "torch");
  g.output(Argument::tuple({c, n}));
  const char* expected = R"(graph():
    %x : [#users=3] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y](default=3)
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %y), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %add), kwargs = {alpha: 2})
    %relu : [#users=3] = call_method[target=relu](args = (%add_1,), kwargs = {})
    %add_2 : [#users=8] = call_function[target=aten::add.Tensor](args = (%relu, %x), kwargs = {})
    %add_3 : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %x), kwargs = {})
    %foo_7 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%add_3, %add_2), kwargs = {})
    %foo_8 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%foo_7, %add_2), kwargs = {})
    %foo : [#users=1] = call_function[target=aten::mul.Tensor](args = (%foo_8, %add_2), kwargs = {})
    %foo_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%foo, %add_2), kwargs = {})
    %_1abc_x_y : [#users=1] = call_function[target=aten::mul.Tensor](args = (%foo_1, %add_2), kwargs = {})
    %if_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%_1abc_x_y, %add_2), kwargs = {})
    %list_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%if_1, %add_2), kwargs = {})
    %torch_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%list_1, %add_2), kwargs = {})
    return (relu, torch_1))";
  EXPECT_EQ(g.str(), expected);
  std::ostringstream os;
  os << g;
  EXPECT_EQ(os.str(), expected);
  EXPECT_EQ(g.size(), 16u);
}

// The torch.fx documentation's module, as our tracer records it.
TEST(GraphPrint, FxDocumentationExample) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* param = g.get_attr("param");
  Node* add = g.call_function("aten::add.Tensor", {x, param});
  Node* w = g.get_attr("linear.weight");
  Node* b = g.get_attr("linear.bias");
  Node* lin = g.call_function("aten::linear", {add, w, b});
  Node* clamp = g.call_function("aten::clamp", {lin, 0.0, 1.0});
  g.output(clamp);
  EXPECT_EQ(g.str(), testing_support::fx_doc_example_graph());
}

TEST(GraphPrint, EmptyGraphAndOutputForms) {
  Graph empty;
  EXPECT_EQ(empty.str(), "graph():");
  Graph g;
  Node* x = g.placeholder("x");
  Node* s = g.call_function("aten::sum", {x});
  EXPECT_EQ(s->name(), "sum_1");  // `sum` is a Python builtin
  Node* out = g.output(Argument::tuple({x, Argument::tuple({s, "abc"}), Argument::list({1.5})}));
  EXPECT_EQ(out->format(), "return (x, (sum_1, 'abc'), [1.5])");
  out->set_args({"abc"});
  EXPECT_EQ(out->format(), "return abc");
  out->set_args({Argument()});
  EXPECT_EQ(out->format(), "return None");
}

TEST(GraphNames, DefaultsFollowTargets) {
  Graph g;
  Node* x = g.placeholder("x");
  EXPECT_EQ(g.get_attr("linear.weight")->name(), "linear_weight");
  EXPECT_EQ(g.get_attr("convBlock.weight")->name(), "conv_block_weight");
  EXPECT_EQ(g.call_module("seq.0", {x})->name(), "seq_0");
  EXPECT_EQ(g.call_module("activations.PascalCase", {x})->name(), "activations_pascal_case");
  EXPECT_EQ(g.call_method("__call__", {x})->name(), "call");
  EXPECT_EQ(g.call_function("aten::pow.Tensor_Scalar", {x, 2})->name(), "pow_1");
  EXPECT_EQ(g.output(x)->name(), "output");
  EXPECT_EQ(g.output(x)->name(), "output_1");
}

TEST(GraphNames, ErasedNamesAreNeverReused) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::add.Tensor", {x, x});
  g.erase_node(a);
  EXPECT_EQ(g.call_function("aten::add.Tensor", {x, x})->name(), "add_1");
}

TEST(GraphInsert, InsertingBeforeKeepsCreationOrder) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* out = g.output(x);
  {
    auto guard = g.inserting_before(out);
    g.call_function("aten::sin", {x});
    g.call_function("aten::cos", {x});
  }
  g.call_function("aten::tan", {x});  // guard gone: back to appending
  EXPECT_EQ(order(g), (Names{"x", "sin", "cos", "output", "tan"}));
}

TEST(GraphInsert, InsertingAfterPutsEachNodeRightAfterTheAnchor) {
  Graph g;
  Node* x = g.placeholder("x");
  g.output(x);
  {
    auto guard = g.inserting_after(x);
    g.call_function("aten::sin", {x});
    g.call_function("aten::cos", {x});
  }
  EXPECT_EQ(order(g), (Names{"x", "cos", "sin", "output"}));  // torch.fx 1.13 order
}

TEST(GraphInsert, NullAnchors) {
  Graph g;
  Node* x = g.placeholder("x");
  g.output(x);
  {
    auto guard = g.inserting_before(nullptr);  // each new node goes first
    g.placeholder("a");
    g.placeholder("b");
  }
  {
    auto guard = g.inserting_after(nullptr);  // append at the end
    g.placeholder("c");
  }
  EXPECT_EQ(order(g), (Names{"b", "a", "x", "output", "c"}));
}

TEST(GraphInsert, NestedGuardsRestoreInOrder) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* out = g.output(x);
  {
    auto outer = g.inserting_before(out);
    g.call_function("aten::sin", {x});
    {
      auto inner = g.inserting_after(x);
      g.call_function("aten::cos", {x});
    }
    g.call_function("aten::tan", {x});
  }
  EXPECT_EQ(order(g), (Names{"x", "cos", "sin", "tan", "output"}));
}

TEST(GraphInsert, ErasedAnchorIsAnError) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  auto guard = g.inserting_before(a);
  g.erase_node(a);
  EXPECT_THROW(g.call_function("aten::sin", {x}), Error);
}

TEST(GraphErase, RefusesNodesWithUsers) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* add = g.call_function("aten::add.Tensor", {x, x});
  g.call_function("aten::relu", {add});
  EXPECT_EQ(expect_error([&] { g.erase_node(add); }, ErrorKind::kGraph),
            "Tried to erase Node add but it still had 1 users in the graph: {relu: None}!");
  EXPECT_EQ(g.size(), 3u);
}

TEST(GraphErase, ErasedNodeLetsGoOfItsInputs) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* add = g.call_function("aten::add.Tensor", {x, Argument::list({y})}, {{"alpha", x}});
  g.erase_node(add);
  EXPECT_TRUE(x->users().empty());
  EXPECT_TRUE(y->users().empty());
  EXPECT_EQ(format_args(add->args()), "(None, [None])");
  EXPECT_EQ(g.size(), 2u);
  EXPECT_THROW(g.erase_node(add), Error);  // twice
  Graph other;
  EXPECT_THROW(other.erase_node(x), Error);  // foreign
}

TEST(GraphErase, ErasedNodesAreFreedAfterTwoReleases) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  g.output(x);
  const size_t base = g.allocated_nodes();  // sentinel, x, a, output
  g.erase_node(a);
  EXPECT_EQ(g.allocated_nodes(), base);
  // One release: a was erased after the previous one, so it stays readable.
  EXPECT_EQ(g.release_erased(), 0u);
  EXPECT_TRUE(a->erased());
  EXPECT_EQ(a->name(), "relu");
  // The second frees it.
  EXPECT_EQ(g.release_erased(), 1u);
  EXPECT_EQ(g.allocated_nodes(), base - 1);
  EXPECT_EQ(g.size(), 2u);
  g.lint();
}

TEST(GraphErase, NothingIsFreedWhileAnInsertPointIsAlive) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  Node* b = g.call_function("aten::neg", {x});
  g.output(x);
  auto guard = g.inserting_before(a);
  g.erase_node(a);
  g.release_erased();
  EXPECT_EQ(g.release_erased(), 0u);
  EXPECT_TRUE(a->erased());
  // The erased anchor is still reported, not used after being freed.
  EXPECT_THROW(g.call_function("aten::sin", {b}), Error);
}

// A graph edited in a loop (as a service rewriting graphs does) keeps as many
// node objects as it has live nodes plus two generations of erased ones.
TEST(GraphErase, MemoryStaysFlatOverALongEditLoop) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* out = g.output(x);
  size_t most = 0;
  for (int i = 0; i < 100000; ++i) {
    Node* n;
    {
      auto at = g.inserting_before(out);
      n = g.call_function("aten::relu", {x});
    }
    out->replace_input_with(x, n);
    out->replace_input_with(n, x);
    g.erase_node(n);
    if (i % 100 == 99) g.release_erased();
    most = std::max(most, g.allocated_nodes());
  }
  EXPECT_LE(most, 3u + 200u);
  EXPECT_EQ(g.size(), 2u);
  g.lint();
}

TEST(GraphIterate, SurvivesErasingTheCurrentNode) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* prev = x;
  for (int i = 0; i < 10; ++i) prev = g.call_function("aten::relu", {i % 2 ? prev : x});
  Names visited;
  for (Node* n : g.nodes().reversed()) {
    visited.push_back(n->name());
    if (n->users().empty() && n != x) g.erase_node(n);
  }
  EXPECT_EQ(visited.size(), 11u);
  // Forward, erasing as we go, never visits an erased node.
  for (Node* n : g.nodes()) {
    EXPECT_FALSE(n->erased());
    if (n->op() == Op::CallFunction && n->users().empty()) g.erase_node(n);
  }
}

TEST(GraphIterate, FindNodesAndOutput) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  Node* b = g.call_function("aten::sin", {a});
  Node* c = g.call_function("aten::relu", {b});
  EXPECT_EQ(g.output_node(), nullptr);
  Node* out = g.output(c);
  EXPECT_EQ(g.find_nodes(Op::CallFunction, std::string("aten::relu")), (std::vector<Node*>{a, c}));
  EXPECT_EQ(g.find_nodes(Op::CallFunction).size(), 3u);
  EXPECT_EQ(g.find_nodes(Op::Placeholder), (std::vector<Node*>{x}));
  EXPECT_EQ(g.output_node(), out);
}

TEST(GraphCreateNode, AnOpcodeOutsideTheSixIsAnError) {
  Graph g;
  Node* x = g.placeholder("x");
  expect_error([&] { g.create_node(static_cast<Op>(6), "aten::relu", {x}); }, ErrorKind::kGraph,
               {"opcode 6"});
  EXPECT_THROW(g.create_node(static_cast<Op>(-1), "t"), Error);
  EXPECT_EQ(g.size(), 1u);
  g.output(x);
  EXPECT_NO_THROW(g.lint());
  EXPECT_TRUE(is_valid_op(Op::Output));
  EXPECT_FALSE(is_valid_op(static_cast<Op>(6)));
}

}  // namespace
}  // namespace fx
