// replace_pattern and SubgraphMatcher: torch.fx's rewriter cases on graphs
// written as text.
#include "ir/subgraph_rewriter.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/subgraph_matcher.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::unique_ptr<Graph> g(const char* text) { return parse_graph(text); }

TEST(SubgraphRewriter, ReplacesEveryMatch) {
  auto graph = g(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %y : [#users=2] = placeholder[target=y]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %y), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add,), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %y), kwargs = {})
    %relu_1 : [#users=1] = call_function[target=aten::relu](args = (%add_1,), kwargs = {})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%relu_1, %x],), kwargs = {})
    return cat)");
  auto pattern = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, %b), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add,), kwargs = {})
    return relu)");
  auto replacement = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a, %b), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%mul,), kwargs = {})
    return sigmoid)");
  std::vector<Match> matches = replace_pattern(*graph, *pattern, *replacement);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].anchor->name(), "relu");  // the pattern's node, as in FX
  EXPECT_EQ(matches[0].replacements.size(), 2u);
  EXPECT_EQ(graph->str(), R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %y : [#users=2] = placeholder[target=y]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%mul,), kwargs = {})
    %mul_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%sigmoid, %y), kwargs = {})
    %sigmoid_1 : [#users=1] = call_function[target=aten::sigmoid](args = (%mul_1,), kwargs = {})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%sigmoid_1, %x],), kwargs = {})
    return cat)");
  graph->lint();
}

TEST(SubgraphRewriter, InternalNodeWithOutsideUserDoesNotMatch) {
  auto graph = g(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=2] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %neg), kwargs = {})
    return add)");
  auto pattern = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    return relu)");
  std::string before = graph->str();
  EXPECT_TRUE(replace_pattern(*graph, *pattern, *pattern).empty());
  EXPECT_EQ(graph->str(), before);
}

TEST(SubgraphRewriter, OverlappingMatchesKeepTheFirst) {
  auto graph = g(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %n1 : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    %n2 : [#users=1] = call_function[target=aten::neg](args = (%n1,), kwargs = {})
    %n3 : [#users=1] = call_function[target=aten::neg](args = (%n2,), kwargs = {})
    return n3)");
  auto pattern = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %n1 : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    %n2 : [#users=1] = call_function[target=aten::neg](args = (%n1,), kwargs = {})
    return n2)");
  auto identity = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %clone : [#users=1] = call_function[target=aten::clone](args = (%a,), kwargs = {})
    return clone)");
  SubgraphMatcher matcher(*pattern);
  EXPECT_EQ(matcher.match(*graph).size(), 1u);
  EXPECT_EQ(
      SubgraphMatcher(*pattern, false, /*remove_overlapping_matches=*/false).match(*graph).size(),
      2u);
  EXPECT_EQ(replace_pattern(*graph, *pattern, *identity).size(), 1u);
  EXPECT_EQ(graph->str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %clone : [#users=1] = call_function[target=aten::clone](args = (%x,), kwargs = {})
    %n3 : [#users=1] = call_function[target=aten::neg](args = (%clone,), kwargs = {})
    return n3)");
}

TEST(SubgraphRewriter, MultipleOutputs) {
  auto graph = g(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%x,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%sin, %cos), kwargs = {})
    return mul)");
  auto pattern = g(R"(graph():
    %a : [#users=2] = placeholder[target=a]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%a,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%a,), kwargs = {})
    return (sin, cos))");
  auto replacement = g(R"(graph():
    %a : [#users=2] = placeholder[target=a]
    %tanh : [#users=1] = call_function[target=aten::tanh](args = (%a,), kwargs = {})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%a,), kwargs = {})
    return (tanh, exp))");
  EXPECT_EQ(replace_pattern(*graph, *pattern, *replacement).size(), 1u);
  EXPECT_EQ(graph->str(), R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %tanh : [#users=1] = call_function[target=aten::tanh](args = (%x,), kwargs = {})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%tanh, %exp), kwargs = {})
    return mul)");
}

TEST(SubgraphRewriter, LiteralsKwargsAndRepeatedPlaceholders) {
  auto graph = g(R"(graph():
    %x : [#users=5] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %a1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, 1), kwargs = {})
    %a2 : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, 2), kwargs = {})
    %a3 : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, 1.0), kwargs = {})
    %s1 : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%x, [0]), kwargs = {})
    %s2 : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%x,), kwargs = {dim: [0]})
    %m1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    return (a1, a2, a3, s1, s2, m1))");
  auto count = [&](const char* pattern_text) {
    return SubgraphMatcher(*g(pattern_text)).match(*graph).size();
  };
  // Literals must be equal and of the same type (1 is not 1.0).
  EXPECT_EQ(count(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, 1), kwargs = {})
    return add)"),
            1u);
  // A placeholder binds a literal too.
  EXPECT_EQ(count(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, %b), kwargs = {})
    return add)"),
            3u);
  // Positional and keyword forms do not match each other.
  EXPECT_EQ(count(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %sum : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%a,), kwargs = {dim: [0]})
    return sum)"),
            1u);
  // A placeholder used twice must bind the same node: mul(x, y) is not x * x.
  EXPECT_EQ(count(R"(graph():
    %a : [#users=2] = placeholder[target=a]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a, %a), kwargs = {})
    return mul)"),
            0u);
}

TEST(SubgraphRewriter, RefusesBadPatterns) {
  auto graph = g(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  auto dead = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %unused : [#users=0] = placeholder[target=unused]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%a,), kwargs = {})
    return relu)");
  expect_error(
      [&] { SubgraphMatcher matcher(*dead); }, ErrorKind::kGraph,
      {"SubgraphMatcher cannot be initialized with an pattern with dead code", "node 'unused'"});
  auto pattern = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%a,), kwargs = {})
    return relu)");
  auto two_inputs = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a, %b), kwargs = {})
    return add)");
  EXPECT_THROW(replace_pattern(*graph, *pattern, *two_inputs), Error);
}

TEST(SubgraphRewriter, LongGraphsStayLinear) {
  // 10,000 alternating neg/relu nodes: 5,000 disjoint matches.
  auto graph = std::make_unique<Graph>();
  Node* v = graph->placeholder("x");
  for (int i = 0; i < 10000; ++i) v = graph->call_function(i % 2 ? "aten::relu" : "aten::neg", {v});
  graph->output(v);
  auto pattern = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    return relu)");
  auto replacement = g(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %fused : [#users=1] = call_function[target=my_ops::neg_relu](args = (%a,), kwargs = {})
    return fused)");
  EXPECT_EQ(replace_pattern(*graph, *pattern, *replacement).size(), 5000u);
  EXPECT_EQ(graph->size(), 5002u);
  graph->lint();
}

}  // namespace
}  // namespace fx
