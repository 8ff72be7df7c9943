// eliminate_dead_code: dead chains, kept nodes, impurity, lint first.
#include "ir/dead_code.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"

namespace fx {
namespace {

TEST(DeadCode, RemovesDeadChainsInOnePass) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %unused : [#users=0] = placeholder[target=unused]
    %w : [#users=1] = get_attr[target=w]
    %a : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %b : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a, %w), kwargs = {})
    %c : [#users=0] = call_method[target=cos](args = (%b,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  EXPECT_TRUE(g->eliminate_dead_code());
  EXPECT_EQ(g->str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %unused : [#users=0] = placeholder[target=unused]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  EXPECT_FALSE(g->eliminate_dead_code());
  // Names of erased nodes stay taken.
  EXPECT_EQ(g->call_function("aten::sin", {g->find_nodes(Op::Placeholder)[0]})->name(), "sin");
  EXPECT_EQ(g->call_function("aten::sin", {g->find_nodes(Op::Placeholder)[0]})->name(), "sin_1");
}

TEST(DeadCode, KeepsMutationAndSideEffects) {
  auto g = parse_graph(R"(graph():
    %x : [#users=4] = placeholder[target=x]
    %add_ : [#users=0] = call_function[target=aten::add_.Tensor](args = (%x, %x), kwargs = {})
    %mul_ : [#users=0] = call_method[target=mul_](args = (%x, 2), kwargs = {})
    %ok : [#users=0] = call_function[target=aten::gt.Scalar](args = (%x, 0), kwargs = {})
    %chk : [#users=0] = call_function[target=aten::_assert_async.msg](args = (%x, bad), kwargs = {})
    return None)");
  EXPECT_TRUE(g->eliminate_dead_code());
  EXPECT_EQ(g->size(), 5u);
  EXPECT_TRUE(g->find_nodes(Op::CallFunction, std::string("aten::gt.Scalar")).empty());
  EXPECT_EQ(g->find_nodes(Op::CallMethod, std::string("mul_")).size(), 1u);
}

TEST(DeadCode, CustomPurityPredicate) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %log : [#users=0] = call_function[target=my_ops::log_tensor](args = (%x,), kwargs = {})
    %sin : [#users=0] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    return x)");
  eliminate_dead_code(*g, [](const Node* n) { return n->target() == "my_ops::log_tensor"; });
  EXPECT_EQ(g->size(), 3u);
  EXPECT_TRUE(g->find_nodes(Op::CallFunction, std::string("aten::sin")).empty());
  // The predicate cannot drop the output or placeholders.
  eliminate_dead_code(*g, [](const Node*) { return false; });
  EXPECT_EQ(g->size(), 2u);
  EXPECT_NE(g->output_node(), nullptr);
}

TEST(DeadCode, LintsFirst) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::sin", {x});
  Node* b = g.call_function("aten::cos", {a});
  g.output(b);
  a->prepend(b);
  EXPECT_THROW(g.eliminate_dead_code(), Error);
  EXPECT_EQ(g.size(), 4u);
}

TEST(DeadCode, WithoutAnOwningModuleEveryCallModuleStays) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sub : [#users=0] = call_module[target=sub](args = (%x,), kwargs = {})
    %relu : [#users=0] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return x)");
  ASSERT_EQ(g->owning_module(), nullptr);
  EXPECT_TRUE(g->eliminate_dead_code());
  EXPECT_EQ(g->find_nodes(Op::CallModule).size(), 1u);  // nothing can say it is pure
  EXPECT_TRUE(g->find_nodes(Op::CallFunction).empty());
}

}  // namespace
}  // namespace fx
