// IR speed on large graphs. Cases, each on a graph of N nodes (N = 1,000 and
// 10,000): build, print (Graph::str), lint, eliminate_dead_code (nothing dead,
// and half the graph dead), clone (graph copy), parse (text back to a graph),
// naming N nodes with the same target, and replace_pattern of a 2-node
// pattern with N / 2 matches. torch.fx 1.13 on a machine like
// this one takes about 20 ms to print, 15 ms to lint and 15 ms to eliminate
// dead code at N = 10,000 (issue #2); the `fx113_ms` counter carries that
// reference where one exists.
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/subgraph_rewriter.h"

namespace {

// A transformer-ish elementwise graph: each step reads the previous two
// values, with literals and kwargs, so printing and parsing do real work.
// With dead_every > 0, every dead_every-th step adds an unused side branch.
std::unique_ptr<fx::Graph> make_graph(int n, int dead_every = 0) {
  auto g = std::make_unique<fx::Graph>();
  fx::Node* x = g->placeholder("x");
  fx::Node* w = g->get_attr("layer.weight");
  fx::Node* prev2 = x;
  fx::Node* prev = g->call_function("aten::mul.Tensor", {x, w});
  for (int i = 3; i < n; ++i) {
    fx::Node* cur;
    switch (i % 4) {
      case 0: cur = g->call_function("aten::add.Tensor", {prev, prev2}, {{"alpha", 1}}); break;
      case 1: cur = g->call_function("aten::relu", {prev}); break;
      case 2: cur = g->call_function("aten::mul.Scalar", {prev, 0.5}); break;
      default: cur = g->call_function("aten::clamp", {prev}, {{"min", -1.0}, {"max", 1.0}});
    }
    if (dead_every > 0 && i % dead_every == 0) {
      g->call_function("aten::sin", {cur});
      ++i;
    }
    prev2 = prev;
    prev = cur;
  }
  g->output(prev);
  return g;
}

void set_reference(benchmark::State& state, double fx113_ms_at_10k) {
  if (state.range(0) == 10000 && fx113_ms_at_10k > 0) state.counters["fx113_ms"] = fx113_ms_at_10k;
  state.counters["nodes"] = static_cast<double>(state.range(0));
}

void BM_Build(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(make_graph(state.range(0)));
  set_reference(state, 0);
}

void BM_Print(benchmark::State& state) {
  auto g = make_graph(state.range(0));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = g->str();
    bytes = s.size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  set_reference(state, 20);
}

void BM_Lint(benchmark::State& state) {
  auto g = make_graph(state.range(0));
  for (auto _ : state) g->lint();
  set_reference(state, 15);
}

void BM_DeadCodeNothingDead(benchmark::State& state) {
  auto g = make_graph(state.range(0));
  for (auto _ : state) {
    if (g->eliminate_dead_code()) state.SkipWithError("the graph had dead code");
  }
  set_reference(state, 15);
}

void BM_DeadCodeHalfDead(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto g = make_graph(state.range(0), 2);
    state.ResumeTiming();
    if (!g->eliminate_dead_code()) state.SkipWithError("nothing was removed");
    state.PauseTiming();
    g.reset();
    state.ResumeTiming();
  }
  set_reference(state, 0);
}

void BM_Clone(benchmark::State& state) {
  auto g = make_graph(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(g->clone());
  set_reference(state, 0);
}

void BM_Parse(benchmark::State& state) {
  auto g = make_graph(state.range(0));
  std::string text = g->str();
  if (fx::parse_graph(text)->str() != text) state.SkipWithError("round trip changed the text");
  for (auto _ : state) benchmark::DoNotOptimize(fx::parse_graph(text));
  set_reference(state, 0);
}

void BM_SameNameNodes(benchmark::State& state) {
  for (auto _ : state) {
    fx::Graph g;
    fx::Node* x = g.placeholder("x");
    for (int64_t i = 0; i < state.range(0); ++i) g.call_function("aten::relu", {x});
  }
  set_reference(state, 0);
}

// replace_pattern of neg -> relu (a 2-node pattern) by one fused op on an
// alternating chain of N nodes: N / 2 disjoint matches.
void BM_ReplacePattern(benchmark::State& state) {
  auto pattern = fx::parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %neg : [#users=1] = call_function[target=aten::neg](args = (%a,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%neg,), kwargs = {})
    return relu)");
  auto replacement = fx::parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %fused : [#users=1] = call_function[target=my_ops::neg_relu](args = (%a,), kwargs = {})
    return fused)");
  size_t matches = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto g = std::make_unique<fx::Graph>();
    fx::Node* v = g->placeholder("x");
    for (int64_t i = 0; i < state.range(0); ++i)
      v = g->call_function(i % 2 ? "aten::relu" : "aten::neg", {v});
    g->output(v);
    state.ResumeTiming();
    matches = fx::replace_pattern(*g, *pattern, *replacement).size();
    state.PauseTiming();
    g.reset();
    state.ResumeTiming();
  }
  if (matches != static_cast<size_t>(state.range(0) / 2))
    state.SkipWithError("wrong number of matches");
  state.counters["matches"] = static_cast<double>(matches);
  set_reference(state, 0);
}

#define FX_SIZES ->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)
BENCHMARK(BM_Build) FX_SIZES;
BENCHMARK(BM_Print) FX_SIZES;
BENCHMARK(BM_Lint) FX_SIZES;
BENCHMARK(BM_DeadCodeNothingDead) FX_SIZES;
BENCHMARK(BM_DeadCodeHalfDead) FX_SIZES;
BENCHMARK(BM_Clone) FX_SIZES;
BENCHMARK(BM_Parse) FX_SIZES;
BENCHMARK(BM_SameNameNodes) FX_SIZES;
BENCHMARK(BM_ReplacePattern) FX_SIZES;

}  // namespace

BENCHMARK_MAIN();
