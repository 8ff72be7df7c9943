// Interpreter: results equal forward(), opcode overrides, value freeing, errors.
#include "runtime/interpreter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::unique_ptr<GraphModule> make_module() {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %scale : [#users=1] = placeholder[target=scale](default=2.0)
    %w : [#users=1] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %w), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mm,), kwargs = {})
    %mul : [#users=1] = call_method[target=mul](args = (%relu, %scale), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %x), kwargs = {})
    return add)");
  Attributes attrs;
  attrs.values["w"] = at::randn({4, 4});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

TEST(Interpreter, MatchesForwardAndEager) {
  auto gm = make_module();
  at::Tensor w = gm->get_attr("w")->toTensor();
  at::Tensor x = at::randn({3, 4});
  at::Tensor expected = at::mm(x, w).relu() * 2.0 + x;
  Interpreter interp(*gm);
  EXPECT_TRUE(at::allclose(interp.run({x}).toTensor(), expected));
  EXPECT_TRUE(at::allclose((*gm)(x).toTensor(), expected));
  // After a garbage-collected run only the output's value is left.
  EXPECT_EQ(interp.env().size(), 1u);
  Interpreter keep(*gm, /*garbage_collect_values=*/false);
  keep.run({x, 3.0});
  EXPECT_EQ(keep.env().size(), 8u);
}

// torch.fx's docs example: an Interpreter that swaps relu for neg at run time.
class NegSigmoidSwap : public Interpreter {
 public:
  using Interpreter::Interpreter;
  c10::IValue call_function(const Node& n, const std::vector<c10::IValue>& args,
                            const IValueKwargs& kwargs) override {
    if (n.target() == "aten::relu") return args[0].toTensor().neg();
    return Interpreter::call_function(n, args, kwargs);
  }
  c10::IValue call_method(const Node& n, const std::vector<c10::IValue>& args,
                          const IValueKwargs& kwargs) override {
    ++method_calls;
    return Interpreter::call_method(n, args, kwargs);
  }
  int method_calls = 0;
};

TEST(Interpreter, OverridesChangeExecution) {
  auto gm = make_module();
  at::Tensor w = gm->get_attr("w")->toTensor();
  at::Tensor x = at::randn({3, 4});
  NegSigmoidSwap interp(*gm);
  at::Tensor got = interp.run({x}).toTensor();
  EXPECT_TRUE(at::allclose(got, at::mm(x, w).neg() * 2.0 + x));
  EXPECT_EQ(interp.method_calls, 1);
}

TEST(Interpreter, PartialEvaluationSkipsNodesInEnv) {
  auto gm = make_module();
  at::Tensor x = at::randn({3, 4});
  Node* relu = gm->graph().find_nodes(Op::CallFunction, std::string("aten::relu"))[0];
  Interpreter interp(*gm);
  interp.env()[relu] = at::zeros({3, 4});
  EXPECT_TRUE(at::allclose(interp.run({x}).toTensor(), x));
}

TEST(Interpreter, ErrorsNameTheNode) {
  auto gm = make_module();
  Interpreter interp(*gm);
  std::string msg = expect_error([&] { interp.run({at::randn({3, 5})}); }, ErrorKind::kRuntime);
  EXPECT_EQ(msg.rfind("while executing node 'mm' (call_function aten::mm): ", 0), 0u) << msg;
  Interpreter none(*gm);
  expect_error([&] { none.run({}); }, ErrorKind::kRuntime,
               {"Expected positional argument for parameter x"});
}

}  // namespace
}  // namespace fx
