// legalize: sorted graphs stay as they are, scrambled graphs come back in
// topological order with the same dependencies, cycles are errors, long
// chains need no recursion.
#include "ir/legalize.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::vector<std::string> names(const Graph& g) {
  std::vector<std::string> out;
  for (const Node* n : g.nodes()) out.push_back(n->name());
  return out;
}

// node name -> names of its inputs, in all_input_nodes order.
std::map<std::string, std::vector<std::string>> dependencies(const Graph& g) {
  std::map<std::string, std::vector<std::string>> out;
  for (const Node* n : g.nodes()) {
    auto& ins = out[n->name()];
    for (const Node* in : n->all_input_nodes()) ins.push_back(in->name());
  }
  return out;
}

Node* find(const Graph& g, const std::string& name) {
  for (Node* n : g.nodes())
    if (n->name() == name) return n;
  return nullptr;
}

constexpr const char* kBlock = R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %w : [#users=1] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %w), kwargs = {})
    %zeros : [#users=1] = call_function[target=aten::zeros](args = ([3],), kwargs = {})
    %add : [#users=2] = call_function[target=aten::add.Tensor](args = (%mm, %zeros), kwargs = {alpha: 2})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add,), kwargs = {})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%relu, %add, %y, %x],), kwargs = {})
    %sum_1 : [#users=1] = call_method[target=sum](args = (%cat,), kwargs = {})
    return sum_1)";

TEST(Legalize, SortedGraphIsUnchanged) {
  // zeros has no inputs: a plain FIFO Kahn's sort (torch.fx) would move it
  // up next to the placeholders; a stable sort leaves it where it is.
  auto g = parse_graph(kBlock);
  std::string before = g->str();
  legalize(*g);
  EXPECT_EQ(g->str(), before);
  g->lint();
}

TEST(Legalize, ScrambledGraphIsSortedWithTheSameDependencies) {
  auto g = parse_graph(kBlock);
  auto deps = dependencies(*g);
  Node* x = find(*g, "x");
  Node* y = find(*g, "y");
  Node* mm = find(*g, "mm");
  Node* relu = find(*g, "relu");
  Node* cat = find(*g, "cat");
  Node* out = g->output_node();
  // The kinds of mistakes inserting_after and append lead to.
  x->prepend(cat);    // cat, x, ...
  mm->prepend(relu);  // ..., w, relu, mm, ...
  out->append(y);     // ..., output, y
  cat->prepend(out);  // output, cat, x, ...
  EXPECT_THROW(g->lint(), Error);

  legalize(*g);
  g->lint();
  EXPECT_EQ(dependencies(*g), deps);
  EXPECT_EQ(names(*g), (std::vector<std::string>{"x", "y", "w", "mm", "zeros", "add", "relu", "cat",
                                                 "sum_1", "output"}));
  // Nodes were moved, not copied.
  EXPECT_EQ(find(*g, "relu"), relu);
  EXPECT_EQ(g->output_node(), out);
  EXPECT_EQ(g->size(), deps.size());
}

TEST(Legalize, PlaceholdersFirstInTheirOrderOutputLast) {
  auto g = parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %c : [#users=1] = placeholder[target=c]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, %b), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%add, %c), kwargs = {})
    return mul)");
  Node* b = find(*g, "b");
  Node* c = find(*g, "c");
  Node* add = find(*g, "add");
  Node* out = g->output_node();
  add->append(c);               // a, b, add, c, mul, output
  out->append(b);               // a, add, c, mul, output, b
  find(*g, "a")->prepend(out);  // output, a, add, c, mul, b
  legalize(*g);
  EXPECT_EQ(names(*g), (std::vector<std::string>{"a", "c", "b", "add", "mul", "output"}));
  g->lint();
}

TEST(Legalize, CycleIsAnErrorNamingTheNodes) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    %sin : [#users=1] = call_function[target=aten::sin](args = (%relu,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%sin,), kwargs = {})
    return cos)");
  find(*g, "neg")->set_args({find(*g, "sin")});
  std::string scrambled = g->str();
  expect_error(
      [&] { legalize(*g); }, ErrorKind::kGraph,
      {"input graph has cycles, unable to add [neg, relu, sin, cos, output]",
       "is on the cycle neg -> relu -> sin -> neg", "node 'neg' (call_function aten::neg)"});
  // The graph was not touched.
  EXPECT_EQ(g->str(), scrambled);
}

TEST(Legalize, SelfLoopIsACycle) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    return neg)");
  Node* neg = find(*g, "neg");
  neg->set_args({neg});
  expect_error([&] { legalize(*g); }, ErrorKind::kGraph,
               {"node 'neg' (call_function aten::neg)", "is on the cycle neg -> neg"});
}

TEST(Legalize, ForeignInputIsAnError) {
  Graph other;  // outlives g, whose node uses one of its nodes
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    return neg)");
  Node* z = other.placeholder("z");
  find(*g, "neg")->set_args({z});
  expect_error([&] { legalize(*g); }, ErrorKind::kGraph,
               {"node 'neg' (call_function aten::neg): uses 'z'"});
}

TEST(Legalize, LongChainNeedsNoRecursion) {
  constexpr int kLength = 100000;
  Graph g;
  Node* x = g.placeholder("x");
  Node* cur = x;
  std::vector<Node*> chain;
  chain.reserve(kLength);
  for (int i = 0; i < kLength; ++i) {
    cur = g.call_function("aten::neg", {cur});
    chain.push_back(cur);
  }
  Node* out = g.output(cur);
  legalize(g);  // sorted: nothing moves
  g.lint();

  // Reverse the whole chain: output, neg_N, ..., neg, x.
  Node* first = x;
  for (Node* n : chain) {
    first->prepend(n);
    first = n;
  }
  first->prepend(out);
  EXPECT_EQ(*g.nodes().begin(), out);
  legalize(g);
  g.lint();
  EXPECT_EQ(*g.nodes().begin(), x);
  EXPECT_EQ(*g.nodes().reversed().begin(), out);
  EXPECT_EQ(x->next(), chain.front());

  // A cycle through the whole chain is reported without recursion too.
  chain.front()->set_args({chain.back()});
  EXPECT_THROW(legalize(g), Error);
}

}  // namespace
}  // namespace fx
