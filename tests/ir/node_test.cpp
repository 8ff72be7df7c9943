// Node: use lists, argument updates, replacing uses, moving, formatting, purity.
#include "ir/node.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::vector<std::string> names(const std::vector<Node*>& nodes) {
  std::vector<std::string> out;
  for (Node* n : nodes) out.push_back(n->name());
  return out;
}

using Names = std::vector<std::string>;

TEST(NodeUses, UsersAreDistinctAndInsertionOrdered) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* add = g.call_function("aten::add.Tensor", {x, x});
  Node* cat = g.call_function("aten::cat", {Argument::list({x, y, x})}, {{"dim", 1}});
  Node* mul = g.call_function("aten::mul.Tensor", {y}, {{"other", x}});
  EXPECT_EQ(names(x->users()), (Names{"add", "cat", "mul"}));
  EXPECT_EQ(names(y->users()), (Names{"cat", "mul"}));
  EXPECT_EQ(names(add->all_input_nodes()), (Names{"x"}));
  EXPECT_EQ(names(cat->all_input_nodes()), (Names{"x", "y"}));
  EXPECT_EQ(names(mul->all_input_nodes()), (Names{"y", "x"}));  // args before kwargs
}

TEST(NodeUses, ReassigningArgsMovesTheUserToTheEnd) {
  // torch.fx test_reassign_args_kwargs_uses
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* z = g.call_function("aten::add.Tensor", {x, y});
  Node* zed = g.call_function("aten::add.Tensor", {z, y});
  zed->set_args({z, x});
  EXPECT_EQ(names(x->users()), (Names{"add", "add_1"}));
  z->set_args({y, y});
  EXPECT_EQ(names(x->users()), (Names{"add_1"}));
  EXPECT_EQ(names(y->users()), (Names{"add"}));
  zed->set_kwargs({{"alpha", y}});
  EXPECT_EQ(names(y->users()), (Names{"add", "add_1"}));
  EXPECT_EQ(names(zed->all_input_nodes()), (Names{"add", "x", "y"}));
}

TEST(NodeUses, UpdateArgAndKwarg) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* z = g.placeholder("z");
  Node* add = g.call_function("aten::add.Tensor", {x, x});
  add->update_arg(1, z);
  EXPECT_EQ(
      add->format(),
      "%add : [#users=0] = call_function[target=aten::add.Tensor](args = (%x, %z), kwargs = {})");
  add->update_kwarg("alpha", 2);
  add->update_kwarg("alpha", 3);
  EXPECT_EQ(format_kwargs(add->kwargs()), "{alpha: 3}");
  ASSERT_NE(add->kwarg("alpha"), nullptr);
  EXPECT_EQ(add->kwarg("alpha")->to_int(), 3);
  EXPECT_EQ(add->kwarg("beta"), nullptr);
  expect_error([&] { add->update_arg(5, x); }, ErrorKind::kGraph,
               {"node 'add' (call_function aten::add.Tensor)", "has 2 positional args"});
}

TEST(NodeUses, ReplaceAllUsesWith) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* relu = g.call_function("aten::relu", {x});
  Node* sin = g.call_function("aten::sin", {relu});
  g.output(Argument::tuple({relu, sin}));
  Node* neg = nullptr;
  {
    auto guard = g.inserting_after(relu);
    neg = g.call_function("aten::neg", {relu});
  }
  // neg uses relu itself, so it is rewritten too; callers fix it up as in FX.
  std::vector<Node*> changed = relu->replace_all_uses_with(neg);
  EXPECT_EQ(names(changed), (Names{"sin", "output", "neg"}));
  neg->set_args({relu});
  EXPECT_EQ(names(relu->users()), (Names{"neg"}));
  EXPECT_EQ(g.output_node()->format(), "return (neg, sin)");
  g.lint();
}

TEST(NodeUses, ReplaceAllUsesWithFilter) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* a = g.call_function("aten::relu", {x});
  Node* b = g.call_function("aten::sin", {x});
  std::vector<Node*> changed = x->replace_all_uses_with(y, [&](Node* u) { return u == b; });
  EXPECT_EQ(names(changed), (Names{"sin"}));
  EXPECT_EQ(names(x->users()), (Names{"relu"}));
  EXPECT_EQ(a->args()[0].to_node(), x);
  EXPECT_EQ(b->args()[0].to_node(), y);
}

TEST(NodeUses, ReplaceInputWithReachesNestedAndKwargs) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* cat = g.call_function("aten::cat", {Argument::list({x, y, x})}, {{"out", x}});
  cat->replace_input_with(x, y);
  EXPECT_EQ(format_args(cat->args()), "([%y, %y, %y],)");
  EXPECT_EQ(format_kwargs(cat->kwargs()), "{out: %y}");
  EXPECT_TRUE(x->users().empty());
  EXPECT_EQ(names(y->users()), (Names{"cat"}));
}

TEST(NodeUses, ErasedNodesCannotBeUsedAgain) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  g.erase_node(a);
  EXPECT_TRUE(a->erased());
  EXPECT_THROW(g.call_function("aten::sin", {a}), Error);
  EXPECT_EQ(g.size(), 1u);
}

TEST(NodeMove, PrependAndAppend) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten::relu", {x});
  Node* b = g.call_function("aten::sin", {x});
  Node* c = g.call_function("aten::cos", {x});
  a->prepend(c);  // x, cos, relu, sin
  EXPECT_EQ(x->next(), c);
  EXPECT_EQ(c->next(), a);
  b->append(a);  // x, cos, sin, relu
  EXPECT_EQ(b->next(), a);
  EXPECT_EQ(a->next(), nullptr);
  EXPECT_EQ(x->prev(), nullptr);
  std::vector<std::string> order;
  for (Node* n : g.nodes()) order.push_back(n->name());
  EXPECT_EQ(order, (Names{"x", "cos", "sin", "relu"}));
  b->prepend(b);  // warns, no effect
  EXPECT_EQ(g.size(), 4u);
  Graph other;
  Node* o = other.placeholder("o");
  EXPECT_THROW(a->prepend(o), Error);
}

TEST(NodeFormat, EachOpcode) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* dim = g.placeholder("dim", Argument(1), "int");
  Node* z = g.placeholder("z", Argument());
  Node* w = g.get_attr("linear.weight");
  Node* mod = g.call_module("seq.0", {x});
  Node* m = g.call_method("clamp", {mod}, {{"min", 0.0}, {"max", 1.0}});
  Node* out = g.output(m);
  EXPECT_EQ(x->format(), "%x : [#users=1] = placeholder[target=x]");
  EXPECT_EQ(dim->format(), "%dim : int [#users=0] = placeholder[target=dim](default=1)");
  EXPECT_EQ(z->format(), "%z : [#users=0] = placeholder[target=z](default=None)");
  EXPECT_EQ(w->format(), "%linear_weight : [#users=0] = get_attr[target=linear.weight]");
  EXPECT_EQ(mod->format(),
            "%seq_0 : [#users=1] = call_module[target=seq.0](args = (%x,), kwargs = {})");
  EXPECT_EQ(m->format(),
            "%clamp : [#users=1] = call_method[target=clamp](args = (%seq_0,), kwargs = {min: "
            "0.0, max: 1.0})");
  EXPECT_EQ(out->format(), "return clamp");
  EXPECT_EQ(describe(*m), "node 'clamp' (call_method clamp)");
}

TEST(NodeMeta, TensorMetaAndFreeFormValues) {
  Graph g;
  Node* x = g.placeholder("x");
  EXPECT_EQ(x->tensor_meta(), nullptr);
  TensorMeta tm;
  tm.shape = {3, 4};
  tm.stride = {4, 1};
  tm.dtype = c10::kHalf;
  tm.device = c10::Device("cuda:0");
  tm.memory_format = c10::MemoryFormat::Contiguous;
  x->meta().set("tensor_meta", tm);
  x->meta().set("stack_trace", std::string("model.cpp:12"));
  ASSERT_NE(x->tensor_meta(), nullptr);
  EXPECT_EQ(*x->tensor_meta(), tm);
  EXPECT_EQ(x->tensor_meta()->str(), "float16[3, 4]");
  EXPECT_EQ(*x->meta().get<std::string>("stack_trace"), "model.cpp:12");
  EXPECT_EQ(x->meta().get<int>("stack_trace"), nullptr);  // wrong type: absent
  EXPECT_EQ(x->meta().keys(), (Names{"stack_trace", "tensor_meta"}));
  EXPECT_TRUE(x->meta().erase("stack_trace"));
  EXPECT_FALSE(x->meta().contains("stack_trace"));
}

TEST(NodePurity, MutationAndSideEffectsAreImpure) {
  Graph g;
  Node* x = g.placeholder("x");
  auto fn = [&](const std::string& target) { return g.call_function(target, {x, x}); };
  EXPECT_FALSE(fn("aten::add.Tensor")->is_impure());
  EXPECT_FALSE(fn("aten::relu")->is_impure());
  EXPECT_TRUE(fn("aten::add_.Tensor")->is_impure());  // writes self
  EXPECT_TRUE(fn("aten::add.out")->is_impure());      // writes out
  EXPECT_TRUE(fn("aten::relu_")->is_impure());
  EXPECT_TRUE(fn("aten::_assert_async.msg")->is_impure());
  EXPECT_FALSE(fn("my_ops::unknown")->is_impure());  // unknown: treated as pure, as FX does
  EXPECT_TRUE(g.call_method("mul_", {x, x})->is_impure());
  EXPECT_FALSE(g.call_method("mul", {x, x})->is_impure());
  EXPECT_FALSE(g.call_method("__add__", {x, x})->is_impure());
  EXPECT_FALSE(g.get_attr("w")->is_impure());
  EXPECT_TRUE(x->is_impure());
  EXPECT_TRUE(g.output(x)->is_impure());
}

TEST(NodeRename, GoesThroughTheNamespaceAndThePrintedGraphFollows) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* relu = g.call_function("aten::relu", {x});
  Node* neg = g.call_function("aten::neg", {relu});
  g.output(neg);
  EXPECT_EQ(relu->rename("activation"), "activation");
  EXPECT_EQ(relu->name(), "activation");
  // Taken names and illegal ones are made unique and legal, as new names are.
  EXPECT_EQ(neg->rename("activation"), "activation_1");
  EXPECT_EQ(neg->rename("my out"), "my_out");
  EXPECT_EQ(neg->rename("sum"), "sum_1");  // a Python builtin
  // The old names stay reserved, so a new node does not take one.
  EXPECT_EQ(g.call_function("aten::relu", {x})->name(), "relu_1");
  // Renaming to the current name changes nothing.
  EXPECT_EQ(x->rename("x"), "x");
  std::string text = g.str();
  EXPECT_NE(text.find("%activation : [#users=1] = call_function[target=aten::relu](args = (%x,)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(args = (%activation,)"), std::string::npos) << text;
  EXPECT_NE(text.find("return sum_1"), std::string::npos) << text;
}

}  // namespace
}  // namespace fx
