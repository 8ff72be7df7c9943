// Capture speed. Cases:
//   Trace/N      fx::symbolic_trace of a C++ function applying N elementwise
//                operators in a chain (add, relu, mul by a scalar, neg), on a
//                [64, 64] float input, N = 1,000 and 10,000
//   TraceMLP     a 4-layer torch::nn MLP with GELU and LayerNorm
// torch.fx 1.13 on a machine like this takes 1.9 s to symbolically trace a
// 10,000-operator chain (issue #4); the target is under 200 ms. The graph is
// checked against eager before timing.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "capture/tracer.h"

namespace {

torch::Tensor chain(torch::Tensor x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0: x = x + 1; break;
      case 1: x = torch::relu(x); break;
      case 2: x = x * 0.5; break;
      default: x = -x;
    }
  }
  return x;
}

void BM_Trace(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto fn = [n](std::vector<c10::IValue> in) { return c10::IValue(chain(in[0].toTensor(), n)); };
  torch::Tensor x = torch::randn({64, 64});
  auto gm = fx::symbolic_trace(fn, {x});
  if (!torch::allclose((*gm)(x).toTensor(), chain(x, n)))
    state.SkipWithError("traced graph differs from eager");
  for (auto _ : state) benchmark::DoNotOptimize(fx::symbolic_trace(fn, {x}));
  state.counters["ops"] = static_cast<double>(n);
  state.counters["us_per_op"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

struct MLP : torch::nn::Module {
  MLP() {
    for (int i = 0; i < 4; ++i) {
      layers.push_back(register_module("fc" + std::to_string(i), torch::nn::Linear(256, 256)));
      norms.push_back(register_module("ln" + std::to_string(i),
                                      torch::nn::LayerNorm(torch::nn::LayerNormOptions({256}))));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (size_t i = 0; i < layers.size(); ++i) x = x + torch::gelu(layers[i](norms[i](x)));
    return x;
  }
  std::vector<torch::nn::Linear> layers;
  std::vector<torch::nn::LayerNorm> norms;
};

void BM_TraceMLP(benchmark::State& state) {
  auto mlp = std::make_shared<MLP>();
  mlp->eval();
  auto fn = [mlp](std::vector<c10::IValue> in) {
    return c10::IValue(mlp->forward(in[0].toTensor()));
  };
  torch::Tensor x = torch::randn({32, 256});
  torch::NoGradGuard no_grad;
  auto gm = fx::symbolic_trace(*mlp, fn, {x});
  if (!torch::allclose((*gm)(x).toTensor(), mlp->forward(x), 1e-5, 1e-5))
    state.SkipWithError("traced graph differs from eager");
  for (auto _ : state) benchmark::DoNotOptimize(fx::symbolic_trace(*mlp, fn, {x}));
  state.counters["nodes"] = static_cast<double>(gm->graph().size());
}

BENCHMARK(BM_Trace)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TraceMLP)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
