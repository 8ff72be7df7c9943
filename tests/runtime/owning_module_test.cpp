// A GraphModule owns its graph (Graph::owning_module): get_attr of a missing
// name warns, call_module of a missing module is refused, lint checks the
// targets, and dead code elimination asks the module whether a call is pure.
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/torch_modules.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

struct Warnings : c10::WarningHandler {
  std::vector<std::string> messages;
  void process(const c10::Warning& w) override { messages.push_back(w.msg()); }
};

std::unique_ptr<GraphModule> make_module(torch::nn::Linear lin) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %enc_linear : [#users=1] = call_module[target=enc.linear](args = (%x,), kwargs = {})
    %w : [#users=1] = get_attr[target=w]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%enc_linear, %w), kwargs = {})
    return add)");
  Attributes attrs;
  attrs.modules["enc.linear"] = wrap_module(lin);
  attrs.values["w"] = torch::randn({5});
  return std::make_unique<GraphModule>(std::move(g), attrs);
}

TEST(OwningModule, TheGraphKnowsItsModule) {
  auto gm = make_module(torch::nn::Linear(4, 5));
  EXPECT_EQ(gm->graph().owning_module(), gm.get());
  EXPECT_EQ(gm->graph().clone()->owning_module(), nullptr);
}

TEST(OwningModule, GetAttrOfAMissingNameWarnsAsTorchFxDoes) {
  auto gm = make_module(torch::nn::Linear(4, 5));
  Warnings warnings;
  {
    c10::WarningUtils::WarningHandlerGuard guard(&warnings);
    gm->graph().get_attr("w");
    gm->graph().get_attr("enc.linear.weight");  // inside the wrapped module: fine
    gm->graph().get_attr("enc");                // a module: fine
    EXPECT_TRUE(warnings.messages.empty());
    gm->graph().get_attr("enc.nope");
    // Without an owner nothing can be checked.
    gm->graph().clone()->get_attr("enc.nope");
  }
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_NE(warnings.messages[0].find("Attempted to insert a get_attr Node with no underlying "
                                      "reference in the owning GraphModule"),
            std::string::npos)
      << warnings.messages[0];
  EXPECT_NE(warnings.messages[0].find("enc.nope"), std::string::npos);
}

TEST(OwningModule, CallModuleOfAMissingModuleIsRefused) {
  auto gm = make_module(torch::nn::Linear(4, 5));
  Graph& g = gm->graph();
  Node* x = g.find_nodes(Op::Placeholder).at(0);
  const size_t size = g.size();
  expect_error(
      [&] {
        auto at = g.inserting_after(x);
        g.call_module("enc.other", {x});
      },
      ErrorKind::kGraph, {"enc.other", "add_submodule"});
  // An intermediate module is not something call_module can call.
  EXPECT_THROW(g.call_module("enc", {x}), Error);
  EXPECT_EQ(g.size(), size);
  {
    auto at = g.inserting_after(x);
    EXPECT_NE(g.call_module("enc.linear", {x}), nullptr);
  }
  // Without an owner the node is created.
  auto copy = g.clone();
  EXPECT_NE(copy->call_module("enc.other", {copy->find_nodes(Op::Placeholder).at(0)}), nullptr);
}

TEST(OwningModule, LintChecksGetAttrAndCallModuleTargets) {
  auto gm = make_module(torch::nn::Linear(4, 5));
  EXPECT_NO_THROW(gm->graph().lint());
  ASSERT_TRUE(gm->delete_submodule("enc.linear"));
  expect_error([&] { gm->graph().lint(); }, ErrorKind::kLint,
               {"Node enc_linear target enc.linear references nonexistent attribute `linear` "
                "of `enc`"});
  EXPECT_NO_THROW(gm->graph().clone()->lint());  // no owner: targets are not checked

  auto gm2 = make_module(torch::nn::Linear(4, 5));
  gm2->set_attr("w", c10::IValue(int64_t{3}));  // w becomes a constant: still there
  EXPECT_NO_THROW(gm2->graph().lint());
  gm2->delete_submodule("enc");
  EXPECT_THROW(gm2->graph().lint(), Error);
}

TEST(OwningModule, DeadCodeEliminationAsksTheModuleWhetherACallIsPure) {
  torch::nn::Linear pure_lin(4, 5), impure_lin(4, 5);
  auto impure = wrap_module(impure_lin);
  impure->set_impure(true);
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %pure : [#users=0] = call_module[target=pure](args = (%x,), kwargs = {})
    %impure : [#users=0] = call_module[target=impure](args = (%x,), kwargs = {})
    return x)");
  Attributes attrs;
  attrs.modules["pure"] = wrap_module(pure_lin);
  attrs.modules["impure"] = impure;
  GraphModule gm(std::move(g), attrs);
  auto unowned = gm.graph().clone();
  EXPECT_TRUE(gm.graph().eliminate_dead_code());
  std::vector<Node*> calls = gm.graph().find_nodes(Op::CallModule);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]->target(), "impure");
  // Without an owner both stay: nothing says they are pure.
  EXPECT_FALSE(unowned->eliminate_dead_code());
  EXPECT_EQ(unowned->find_nodes(Op::CallModule).size(), 2u);
}

}  // namespace
}  // namespace fx
