// GraphModule: running hand-built graphs, attributes, defaults, outputs,
// recompile after edits, errors, and concurrent forward calls.
#include "runtime/graph_module.h"

#include <thread>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/library.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/functions.h"
#include "tests/expect_error.h"
#include "tests/fx_doc_example.h"
#include "tests/gpu_skip.h"

namespace fx {
namespace {

using testing_support::expect_error;
using testing_support::fx_doc_example_eager;

// torch.fx's documentation example: linear(x + param).clamp(0, 1).
std::unique_ptr<GraphModule> make_example(at::Tensor* param, at::Tensor* w, at::Tensor* b) {
  Attributes attrs = testing_support::fx_doc_example_attributes();
  *param = attrs.values.at("param").toTensor();
  *w = attrs.values.at("linear.weight").toTensor();
  *b = attrs.values.at("linear.bias").toTensor();
  attrs.values["unused.buffer"] = at::zeros({1});
  return std::make_unique<GraphModule>(parse_graph(testing_support::fx_doc_example_graph()),
                                       std::move(attrs), "MyModule");
}

TEST(GraphModule, RunsTheFxExampleLikeEager) {
  at::Tensor param, w, b;
  auto gm = make_example(&param, &w, &b);
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::randn({3, 4});
    at::Tensor expected = fx_doc_example_eager(x, param, w, b);
    at::Tensor got = (*gm)(x).toTensor();
    EXPECT_TRUE(at::allclose(got, expected, 1e-6, 1e-6));
  }
  // Only referenced attributes are kept, as torch.fx does.
  EXPECT_EQ(gm->get_attr("unused.buffer"), nullptr);
  EXPECT_NE(gm->get_attr("linear.weight"), nullptr);
  EXPECT_EQ(gm->class_name(), "MyModule");
}

TEST(GraphModule, ScalarsBroadcastTypePromotionAndIntegers) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %i : [#users=1] = placeholder[target=i]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, 2), kwargs = {alpha: 3})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%add, %i), kwargs = {})
    %sum : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%mul, 1), kwargs = {keepdim: True})
    %div : [#users=1] = call_function[target=aten::div.Tensor_mode](args = (%sum, %x), kwargs = {rounding_mode: floor})
    return div)");
  GraphModule gm(std::move(g), {});
  at::Tensor x = at::randn({4, 3});
  at::Tensor i = at::randint(-5, 5, {3}, at::kLong);
  at::Tensor expected = at::div((x + 3 * 2) * i, x, "floor");
  expected = at::div(((x + 3 * 2) * i).sum({1}, true), x, "floor");
  at::Tensor got = gm(x, i).toTensor();
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(got, expected));
  // Integer-only graphs are exact.
  auto gi = parse_graph(R"(graph():
    %a : [#users=2] = placeholder[target=a]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%a, %a), kwargs = {})
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%mul, 7), kwargs = {})
    return sub)");
  GraphModule gmi(std::move(gi), {});
  at::Tensor a = at::randint(-1000, 1000, {100}, at::kLong);
  EXPECT_TRUE(at::equal(gmi(a).toTensor(), a * a - 7));
}

TEST(GraphModule, DefaultsTupleOutputsAndMultipleReturns) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %k : [#users=1] = placeholder[target=k](default=2)
    %topk : [#users=2] = call_function[target=aten::topk](args = (%x, %k), kwargs = {})
    %values : [#users=1] = call_function[target=getitem](args = (%topk, 0), kwargs = {})
    %indices : [#users=1] = call_function[target=getitem](args = (%topk, -1), kwargs = {})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%values, %x],), kwargs = {dim: -1})
    return (cat, [indices, 1.5]))");
  GraphModule gm(std::move(g), {});
  at::Tensor x = at::randn({2, 6});
  auto check = [&](const c10::IValue& out, int64_t k) {
    auto t = std::get<0>(at::topk(x, k));
    auto idx = std::get<1>(at::topk(x, k));
    ASSERT_TRUE(out.isTuple());
    const auto& items = out.toTupleRef().elements();
    EXPECT_TRUE(at::equal(items[0].toTensor(), at::cat({t, x}, -1)));
    auto inner = items[1].toListRef();
    EXPECT_TRUE(at::equal(inner[0].toTensor(), idx));
    EXPECT_DOUBLE_EQ(inner[1].toDouble(), 1.5);
  };
  check(gm(x), 2);                                 // default k=2
  check(gm.forward({x, int64_t{3}}), 3);           // positional
  check(gm.forward({x}, {{"k", int64_t{4}}}), 4);  // by name
}

TEST(GraphModule, CallMethodResolvesTheOverload) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %add : [#users=1] = call_method[target=add](args = (%x, 1), kwargs = {})
    %mul : [#users=1] = call_method[target=mul](args = (%add, %x), kwargs = {})
    %relu : [#users=1] = call_method[target=relu](args = (%mul,), kwargs = {})
    %view : [#users=1] = call_method[target=view](args = (%relu, [-1]), kwargs = {})
    return view)");
  GraphModule gm(std::move(g), {});
  at::Tensor x = at::randn({3, 4});
  EXPECT_TRUE(at::allclose(gm(x).toTensor(), ((x + 1) * x).relu().view({-1})));
}

TEST(GraphModule, SubmodulesAndFunctions) {
  register_function("test_double", [](std::vector<c10::IValue> args, const IValueKwargs&) {
    return c10::IValue(args.at(0).toTensor() * 2);
  });
  auto inner_graph = parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    return neg)");
  auto inner = std::make_shared<GraphModule>(std::move(inner_graph), Attributes{}, "Inner");
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %inner : [#users=1] = call_module[target=blocks.0](args = (%x,), kwargs = {})
    %d : [#users=1] = call_function[target=test_double](args = (%inner,), kwargs = {})
    %lam : [#users=1] = call_module[target=act](args = (%d,), kwargs = {})
    return lam)");
  Attributes attrs;
  attrs.modules["blocks.0"] = inner;
  attrs.modules["act"] =
      make_module("tanh", [](std::vector<c10::IValue> args, const IValueKwargs&) {
        return c10::IValue(args[0].toTensor().tanh());
      });
  GraphModule gm(std::move(g), std::move(attrs));
  at::Tensor x = at::randn({5});
  EXPECT_TRUE(at::allclose(gm(x).toTensor(), (-x * 2).tanh()));
  EXPECT_EQ(gm.get_submodule("blocks.0")->kind(), "Inner");
}

TEST(GraphModule, RecompileAfterEditing) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  GraphModule gm(std::move(g), {});
  at::Tensor x = at::randn({10});
  EXPECT_TRUE(at::equal(gm(x).toTensor(), x.relu()));
  Node* relu = gm.graph().find_nodes(Op::CallFunction)[0];
  relu->set_target("aten::neg");
  EXPECT_TRUE(at::equal(gm(x).toTensor(), x.relu()));  // stale until recompile, as in FX
  std::string before = gm.code();
  gm.recompile();
  EXPECT_TRUE(at::equal(gm(x).toTensor(), -x));
  EXPECT_NE(gm.code(), before);
}

TEST(GraphModuleErrors, NameTheNodeAndTheProblem) {
  auto missing_attr = [] {
    auto g = parse_graph("%w : [#users=1] = get_attr[target=layer.w]\nreturn w");
    GraphModule gm(std::move(g), {});
  };
  expect_error(missing_attr, ErrorKind::kGraph,
               {"node 'w' (get_attr layer.w): Node w referenced target layer.w"});
  auto unknown_op = [] {
    auto g = parse_graph(
        "%x : [#users=1] = placeholder[target=x]\n"
        "%y : [#users=1] = call_function[target=aten::relu.nope](args = (%x,), kwargs = "
        "{})\nreturn y");
    GraphModule gm(std::move(g), {});
  };
  expect_error(unknown_op, ErrorKind::kGraph,
               {"node 'y' (call_function aten::relu.nope): no operator 'aten::relu.nope'",
                "known overloads: aten::relu"});
  auto bad_literal = [] {
    auto g = parse_graph(
        "%x : [#users=1] = placeholder[target=x]\n"
        "%y : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %x), kwargs = "
        "{alpha: nope})\nreturn y");
    GraphModule gm(std::move(g), {});
  };
  expect_error(
      bad_literal, ErrorKind::kGraph,
      {"node 'y' (call_function aten::add.Tensor): argument 'alpha' expects Scalar, got 'nope'"});
  auto bad_kwarg = [] {
    auto g = parse_graph(
        "%x : [#users=1] = placeholder[target=x]\n"
        "%y : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {beta: "
        "1})\nreturn y");
    GraphModule gm(std::move(g), {});
  };
  expect_error(bad_kwarg, ErrorKind::kGraph,
               {"node 'y' (call_function aten::relu)", "aten::relu has no argument named 'beta'"});

  auto g = parse_graph(
      "%x : [#users=1] = placeholder[target=x]\n"
      "%mm : [#users=1] = call_function[target=aten::mm](args = (%x, %x), kwargs = {})\nreturn mm");
  GraphModule gm(std::move(g), {});
  std::string msg = expect_error([&] { gm(at::randn({2, 3})); }, ErrorKind::kRuntime);
  EXPECT_EQ(msg.rfind("while executing node 'mm' (call_function aten::mm): ", 0), 0u) << msg;
  EXPECT_EQ(expect_error([&] { gm.forward({}); }, ErrorKind::kRuntime),
            "Expected positional argument for parameter x, but one was not passed in!");
  EXPECT_EQ(expect_error([&] { gm.forward({at::ones({1}), at::ones({1})}); }, ErrorKind::kRuntime),
            "forward takes 1 inputs (x) but 2 were given");
}

TEST(GraphModule, ConcurrentForwardIsSafe) {
  at::Tensor param, w, b;
  auto gm = make_example(&param, &w, &b);
  std::vector<at::Tensor> inputs, expected;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back(at::randn({3, 4}));
    expected.push_back(fx_doc_example_eager(inputs.back(), param, w, b));
  }
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep) {
        int i = (t + rep) % 8;
        if (!at::allclose((*gm)(inputs[i]).toTensor(), expected[i], 1e-6, 1e-6)) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace fx

// A custom operator registered with the dispatcher works like an ATen one.
TORCH_LIBRARY(fx_test, m) {
  m.def("scaled_add(Tensor a, Tensor b, float scale=2.0) -> Tensor",
        [](const at::Tensor& a, const at::Tensor& b, double scale) { return a + b * scale; });
}

namespace fx {
namespace {

TEST(GraphModule, CustomOperators) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %a : [#users=1] = call_function[target=fx_test::scaled_add](args = (%x, %x), kwargs = {})
    %b : [#users=1] = call_function[target=fx_test::scaled_add](args = (%a, %a), kwargs = {scale: -1})
    return b)");
  GraphModule gm(std::move(g), {});
  at::Tensor x = at::randn({4});
  EXPECT_TRUE(at::allclose(gm(x).toTensor(), x * 3 - x * 3));
  EXPECT_NE(gm.code().find("call_boxed(\"fx_test::scaled_add\""), std::string::npos) << gm.code();
}

TEST(GraphModule, RunsOnCuda) {
  FX_REQUIRE_GPU();
  at::Tensor param, w, b;
  auto gm = make_example(&param, &w, &b);
  for (const char* name : {"param", "linear.weight", "linear.bias"})
    gm->set_attr(name, gm->get_attr(name)->toTensor().cuda());
  gm->recompile();
  at::Tensor x = at::randn({3, 4});
  at::Tensor got = (*gm)(x.cuda()).toTensor();
  EXPECT_TRUE(got.is_cuda());
  EXPECT_TRUE(at::allclose(got.cpu(), fx_doc_example_eager(x, param, w, b), 1e-5, 1e-5));
}

}  // namespace
}  // namespace fx
