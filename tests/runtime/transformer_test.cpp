// Transformer: rewriting into a new GraphModule and checking the numbers.
#include "runtime/transformer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "runtime/graph_module.h"

namespace fx {
namespace {

class ReluToSigmoid : public Transformer {
 public:
  using Transformer::Transformer;
  Argument call_function(const std::string& target, const Args& args,
                         const Kwargs& kwargs) override {
    return Transformer::call_function(target == "aten::relu" ? "aten::sigmoid" : target, args,
                                      kwargs);
  }
};

// Folds `mul(x, 1)` away by returning its input instead of a new node.
class DropMulByOne : public Transformer {
 public:
  using Transformer::Transformer;
  Argument call_function(const std::string& target, const Args& args,
                         const Kwargs& kwargs) override {
    if (target == "aten::mul.Tensor" && args.size() == 2 && args[1] == Argument(1)) return args[0];
    return Transformer::call_function(target, args, kwargs);
  }
};

std::unique_ptr<GraphModule> make_module() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %b : [#users=1] = get_attr[target=b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %b), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%add,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%relu, 1), kwargs = {})
    %neg : [#users=1] = call_method[target=neg](args = (%mul,), kwargs = {})
    return neg)");
  Attributes attrs;
  attrs.values["b"] = at::randn({4});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs), "Block");
}

TEST(Transformer, SwapsReluForSigmoid) {
  auto gm = make_module();
  at::Tensor b = gm->get_attr("b")->toTensor();
  auto out = ReluToSigmoid(*gm).transform();
  EXPECT_EQ(out->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %b : [#users=1] = get_attr[target=b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %b), kwargs = {})
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%add,), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%sigmoid, 1), kwargs = {})
    %neg : [#users=1] = call_method[target=neg](args = (%mul,), kwargs = {})
    return neg)");
  at::Tensor x = at::randn({3, 4});
  EXPECT_TRUE(at::allclose((*out)(x).toTensor(), -(x + b).sigmoid()));
  EXPECT_TRUE(at::allclose((*gm)(x).toTensor(), -(x + b).relu()));  // the original is untouched
  // torch.fx's Transformer returns GraphModule(self.module, graph).
  EXPECT_EQ(out->class_name(), "GraphModule");
  EXPECT_EQ(out->name(), "GraphModule");
  EXPECT_EQ(out->graph().owning_module(), out.get());
}

// torch.fx's example: sigmoid replaced by neg gives a node named %neg.
class SigmoidToNeg : public Transformer {
 public:
  using Transformer::Transformer;
  Argument call_function(const std::string& target, const Args& args,
                         const Kwargs& kwargs) override {
    return Transformer::call_function(target == "aten::sigmoid" ? "aten::neg" : target, args,
                                      kwargs);
  }
};

TEST(Transformer, ANodeFromANewTargetIsNamedAfterIt) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sigmoid : [#users=1] = call_function[target=aten::sigmoid](args = (%x,), kwargs = {})
    %w : [#users=1] = get_attr[target=w]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%sigmoid, %w), kwargs = {})
    return mul)");
  Attributes attrs;
  attrs.values["w"] = at::randn({4}).requires_grad_();
  GraphModule gm(std::move(g), attrs, "Scaled");
  auto out = SigmoidToNeg(gm).transform();
  EXPECT_EQ(out->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%x,), kwargs = {})
    %w : [#users=1] = get_attr[target=w]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%neg, %w), kwargs = {})
    return mul)");
  at::Tensor x = at::randn({2, 4});
  at::Tensor w = gm.get_parameter("w");
  EXPECT_TRUE(at::allclose((*out)(x).toTensor(), -x * w));
  // The parameter stays a parameter, shared with the original.
  EXPECT_TRUE(out->get_parameter("w").is_same(w));
  EXPECT_NE(out->code().find("neg"), std::string::npos);
}

TEST(Transformer, ReturningAnInputRemovesTheNode) {
  auto gm = make_module();
  auto out = DropMulByOne(*gm).transform();
  EXPECT_TRUE(out->graph().find_nodes(Op::CallFunction, std::string("aten::mul.Tensor")).empty());
  at::Tensor x = at::randn({3, 4});
  EXPECT_TRUE(at::allclose((*out)(x).toTensor(), (*gm)(x).toTensor()));
  out->graph().lint();
}

}  // namespace
}  // namespace fx
