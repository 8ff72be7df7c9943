// lint: topological order, foreign nodes, output placement, clean graphs.
#include "ir/lint.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

// The message of the LintError lint(g) must raise.
std::string lint_message(const Graph& g) {
  return expect_error([&] { lint(g); }, ErrorKind::kLint);
}

TEST(Lint, CleanGraphPasses) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  EXPECT_NO_THROW(lint(*g));
  g->lint();
}

TEST(Lint, UseBeforeDefinition) {
  // torch.fx test_wrong_topo: move a node ahead of its input.
  Graph g;
  Node* x = g.placeholder("x");
  Node* add = g.call_function("aten::add.Tensor", {x, x});
  Node* relu = g.call_function("aten::relu", {add});
  g.output(relu);
  add->prepend(relu);
  std::string msg = lint_message(g);
  EXPECT_EQ(msg.rfind("Argument 'add' of Node 'relu' was used before it has been defined! Please "
                      "check that Nodes in the graph are topologically ordered\ngraph():",
                      0),
            0u)
      << msg;
  EXPECT_NE(msg.find("%relu : [#users=1]"), std::string::npos);  // the graph is printed
  relu->prepend(add);                                            // put it back
  EXPECT_NO_THROW(lint(g));
}

TEST(Lint, ForeignArgument) {
  Graph a;
  Node* x = a.placeholder("x");
  Graph b;
  Node* r = b.call_function("aten::relu", {x});
  expect_error([&] { lint(b); }, ErrorKind::kLint,
               {"Argument 'x' of Node 'relu' does not belong to this Graph"});
  r->set_args({Argument()});
}

TEST(Lint, OutputMustBeLast) {
  Graph g;
  Node* x = g.placeholder("x");
  g.output(x);
  g.call_function("aten::relu", {x});
  std::string msg = lint_message(g);
  EXPECT_NE(msg.find("node 'output' (output) must be the last node of the graph, but 'relu' comes "
                     "after it"),
            std::string::npos)
      << msg;
}

TEST(Lint, TwoOutputs) {
  Graph g;
  Node* x = g.placeholder("x");
  g.output(x);
  g.output(x);
  expect_error([&] { lint(g); }, ErrorKind::kLint,
               {"node 'output' (output) must be the last node", "but 'output_1' comes after it"});
}

}  // namespace
}  // namespace fx
