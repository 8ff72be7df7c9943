// inline_modules: nested GraphModule calls become one flat graph whose
// attributes carry the call's path and whose nodes record module_path; the
// result equals the nested module on fresh random inputs. Tuple-returning
// children are inlined through constant getitems and kept (with a log line)
// when used whole; other kinds of submodules are left alone.
#include "passes/inline_modules.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "runtime/module.h"
#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::count;
using pass_tests::count_op;
using pass_tests::has_line;
using pass_tests::module_of;
using pass_tests::reference_copy;

// act: relu(x + shift).
std::shared_ptr<GraphModule> act_module() {
  Attributes a;
  a.values["shift"] = at::randn({1, 4, 1, 1});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %shift : [#users=1] = get_attr[target=shift]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %shift), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add,), kwargs = {})
    return relu)",
                      std::move(a));
  return std::shared_ptr<GraphModule>(std::move(gm));
}

// block: act(conv2d(x, conv.weight, conv.bias, padding=1)) * scale, scale
// defaulting to 2.0; act is itself a GraphModule.
std::shared_ptr<GraphModule> block_module() {
  Attributes a;
  a.values["conv.weight"] = at::randn({4, 3, 3, 3});
  a.values["conv.bias"] = at::randn({4});
  a.modules["act"] = act_module();
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %scale : [#users=1] = placeholder[target=scale](default=2.0)
    %conv_weight : [#users=1] = get_attr[target=conv.weight]
    %conv_bias : [#users=1] = get_attr[target=conv.bias]
    %conv2d : [#users=1] = call_function[target=aten::conv2d](args = (%x, %conv_weight, %conv_bias), kwargs = {padding: [1, 1]})
    %act : [#users=1] = call_module[target=act](args = (%conv2d,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%act, %scale), kwargs = {})
    return mul)",
                      std::move(a));
  return std::shared_ptr<GraphModule>(std::move(gm));
}

// split: (sin(x), cos(x)).
std::shared_ptr<GraphModule> split_module() {
  return std::shared_ptr<GraphModule>(module_of(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %cos : [#users=1] = call_function[target=aten::cos](args = (%x,), kwargs = {})
    return (sin, cos))"));
}

TEST(InlineModules, NestedCallsBecomeOneFlatGraph) {
  auto block = block_module();
  const std::string block_before = block->graph().str();
  Attributes attrs;
  attrs.modules["layer1"] = block;
  attrs.values["w2"] = at::randn({3, 4, 3, 3});
  // The same child called twice, once with its default and once with a kwarg.
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %layer1 : [#users=1] = call_module[target=layer1](args = (%x,), kwargs = {})
    %w2 : [#users=1] = get_attr[target=w2]
    %conv2d : [#users=1] = call_function[target=aten::conv2d](args = (%layer1, %w2), kwargs = {padding: [1, 1]})
    %layer1_1 : [#users=1] = call_module[target=layer1](args = (%conv2d,), kwargs = {scale: 0.5})
    return layer1_1)",
                      std::move(attrs));
  auto reference = reference_copy(*gm);

  PassLog log;
  EXPECT_TRUE(inline_modules(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(count_op(g, Op::CallModule), 0u) << g.str();
  EXPECT_EQ(count(g, "aten::conv2d"), 3u);
  EXPECT_EQ(count(g, "aten::relu"), 2u);
  EXPECT_EQ(count(g, "aten::add.Tensor"), 2u);
  EXPECT_EQ(count(g, "aten::mul.Tensor"), 2u);
  EXPECT_EQ(count_op(g, Op::Placeholder), 1u);

  // Attributes move in under the call's path; get_attr nodes name them.
  for (const char* name : {"layer1.conv.weight", "layer1.conv.bias", "layer1.act.shift"}) {
    ASSERT_NE(gm->get_attr(name), nullptr) << name;
    EXPECT_EQ(count(g, name, Op::GetAttr), 2u) << name << "\n" << g.str();
  }
  EXPECT_TRUE(gm->get_attr("layer1.conv.weight")
                  ->toTensor()
                  .is_same(block->get_attr("conv.weight")->toTensor()));

  // module_path: outermost first; the parent's own nodes have none.
  for (const Node* n : g.nodes()) {
    const std::string* path = n->meta().get<std::string>("module_path");
    if (n->target() == "aten::relu" || n->target() == "aten::add.Tensor" ||
        n->target() == "layer1.act.shift") {
      ASSERT_NE(path, nullptr) << n->name();
      EXPECT_EQ(*path, "layer1.act") << n->name();
    } else if (n->target() == "aten::mul.Tensor" || n->target() == "layer1.conv.weight") {
      ASSERT_NE(path, nullptr) << n->name();
      EXPECT_EQ(*path, "layer1") << n->name();
    } else if (n->op() == Op::Placeholder || n->op() == Op::Output || n->target() == "w2") {
      EXPECT_EQ(path, nullptr) << n->name();
    }
  }
  for (const Node* conv : g.find_nodes(Op::CallFunction, "aten::conv2d")) {
    const Node* w = conv->args()[1].to_node();
    const std::string* path = conv->meta().get<std::string>("module_path");
    if (w->target() == "w2") {
      EXPECT_EQ(path, nullptr) << conv->name();
    } else {
      ASSERT_NE(path, nullptr) << conv->name();
      EXPECT_EQ(*path, "layer1");
    }
  }
  EXPECT_TRUE(has_line(log.lines(), "inlined layer1"));
  EXPECT_TRUE(has_line(log.lines(), "inlined layer1.act"));
  // The child modules are read, never changed.
  EXPECT_EQ(block->graph().str(), block_before);

  gm->recompile();
  for (int64_t batch : {1, 3}) {
    at::Tensor x = at::randn({batch, 3, 6, 5});
    EXPECT_TRUE(close(pass_tests::run1(*gm, {x}), pass_tests::run1(*reference, {x}), 1e-5, 1e-5));
  }
  // A second run has nothing left to do.
  EXPECT_FALSE(inline_modules(*gm));
}

TEST(InlineModules, TupleResultThroughConstantGetitems) {
  Attributes attrs;
  attrs.modules["split"] = split_module();
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %split : [#users=2] = call_module[target=split](args = (%x,), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%split, 0), kwargs = {})
    %getitem_1 : [#users=1] = call_function[target=getitem](args = (%split, -1), kwargs = {})
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%getitem, %getitem_1), kwargs = {})
    return sub)",
                      attrs);
  auto reference = reference_copy(*gm);
  EXPECT_TRUE(inline_modules(*gm));
  const Graph& g = gm->graph();
  EXPECT_EQ(count_op(g, Op::CallModule), 0u);
  EXPECT_EQ(count(g, "getitem"), 0u) << g.str();
  Node* sub = g.find_nodes(Op::CallFunction, "aten::sub.Tensor").at(0);
  ASSERT_TRUE(sub->args()[0].is_node() && sub->args()[1].is_node());
  EXPECT_EQ(sub->args()[0].to_node()->target(), "aten::sin");
  EXPECT_EQ(sub->args()[1].to_node()->target(), "aten::cos");
  gm->recompile();
  at::Tensor x = at::randn({4, 7});
  EXPECT_TRUE(close(pass_tests::run1(*gm, {x}), x.sin() - x.cos(), 1e-6, 1e-6));
  EXPECT_TRUE(close(pass_tests::run1(*gm, {x}), pass_tests::run1(*reference, {x}), 0, 0));
}

TEST(InlineModules, TupleUsedWholeIsKeptAndLoggedOnce) {
  Attributes attrs;
  attrs.modules["split"] = split_module();
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %split : [#users=1] = call_module[target=split](args = (%x,), kwargs = {})
    return split)",
                      attrs);
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(inline_modules(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  ASSERT_EQ(log.lines().size(), 1u) << log.str();
  EXPECT_EQ(log.lines()[0],
            "  kept call_module 'split' (split): it returns a sequence and node 'output' uses it "
            "whole");
}

TEST(InlineModules, GetitemPastTheOutputsIsKept) {
  Attributes attrs;
  attrs.modules["split"] = split_module();
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %split : [#users=1] = call_module[target=split](args = (%x,), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%split, 2), kwargs = {})
    return getitem)",
                      attrs);
  PassLog log;
  EXPECT_FALSE(inline_modules(*gm, &log));
  EXPECT_EQ(count_op(gm->graph(), Op::CallModule), 1u);
  EXPECT_TRUE(has_line(log.lines(), "node 'getitem' indexes past its outputs")) << log.str();
}

TEST(InlineModules, OtherModuleKindsAreLeftAlone) {
  Attributes attrs;
  attrs.modules["double"] =
      make_module("torch::nn::Double", [](std::vector<c10::IValue> args, const IValueKwargs&) {
        return c10::IValue(args.at(0).toTensor() * 2);
      });
  attrs.modules["split"] = split_module();
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %double : [#users=1] = call_module[target=double](args = (%x,), kwargs = {})
    %split : [#users=1] = call_module[target=split](args = (%double,), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%split, 1), kwargs = {})
    return getitem)",
                      attrs);
  EXPECT_TRUE(inline_modules(*gm));
  const Graph& g = gm->graph();
  EXPECT_EQ(count(g, "double", Op::CallModule), 1u);
  EXPECT_EQ(count(g, "split", Op::CallModule), 0u);
  // Only the used half of the tuple survives dead-code elimination.
  EXPECT_EQ(count(g, "aten::sin"), 0u) << g.str();
  EXPECT_EQ(count(g, "aten::cos"), 1u);
  gm->recompile();
  at::Tensor x = at::randn({5});
  EXPECT_TRUE(close(pass_tests::run1(*gm, {x}), (x * 2).cos(), 1e-6, 1e-6));

  // A graph without GraphModule calls is not changed.
  auto plain = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %double : [#users=1] = call_module[target=double](args = (%x,), kwargs = {})
    return double)",
                         attrs);
  PassLog log;
  EXPECT_FALSE(inline_modules(*plain, &log));
  EXPECT_TRUE(log.lines().empty()) << log.str();
}

}  // namespace
}  // namespace fx
