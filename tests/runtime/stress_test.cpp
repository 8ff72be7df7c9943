// Load and limits: many threads on shared GraphModules with shapes changing
// mid-run, and a 100,000-node graph through every stage without recursion.
#include <atomic>
#include <chrono>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/interpreter.h"

namespace fx {
namespace {

TEST(Stress, SixteenThreadsNewShapesEveryResultChecked) {
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %w), kwargs = {})
    %gelu : [#users=1] = call_function[target=aten::gelu](args = (%mm,), kwargs = {})
    %sum : [#users=1] = call_function[target=aten::sum.dim_IntList](args = (%gelu, [1]), kwargs = {keepdim: True})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %sum), kwargs = {})
    return mul)");
  Attributes attrs;
  attrs.values["w"] = at::randn({16, 16});
  GraphModule gm(std::move(g), attrs);
  at::Tensor w = attrs.values["w"].toTensor();
  const int64_t batches[] = {1, 3, 8, 17, 64};
  std::atomic<int> checked{0}, wrong{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400 && std::chrono::steady_clock::now() < deadline; ++i) {
        at::Tensor x = at::randn({batches[(t + i) % 5], 16});
        at::Tensor got = gm(x).toTensor();
        at::Tensor want = x * at::gelu(at::mm(x, w)).sum({1}, true);
        if (!at::allclose(got, want, 1e-5, 1e-5)) ++wrong;
        ++checked;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(checked.load(), 1000);
}

TEST(Stress, HundredThousandNodeGraph) {
  auto g = std::make_unique<Graph>();
  Node* v = g->placeholder("x");
  for (int i = 0; i < 100000; ++i) v = g->call_function(i % 2 ? "aten::neg" : "aten::relu", {v});
  g->output(v);
  std::string text = g->str();
  EXPECT_EQ(parse_graph(text)->str(), text);
  auto copy = g->clone();
  EXPECT_EQ(copy->size(), 100002u);
  GraphModule gm(std::move(g), {});
  EXPECT_GT(gm.code().size(), 100000u * 20);
  at::Tensor x = at::randn({4});
  // 50,000 (relu, neg) pairs: relu then neg, repeated, is -relu(x) after one pair and
  // then relu(-relu(x)) = 0, -0 = 0 for the rest.
  at::Tensor expected = at::zeros({4});
  EXPECT_TRUE(at::equal(gm(x).toTensor().abs(), expected));
  EXPECT_TRUE(at::equal(Interpreter(gm).run({x}).toTensor().abs(), expected));
  EXPECT_FALSE(gm.graph().eliminate_dead_code());
}

}  // namespace
}  // namespace fx
