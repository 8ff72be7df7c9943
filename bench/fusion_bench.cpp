// Eager LibTorch vs fx::jit::fuse on CPU, for chains of N elementwise float32
// ops (N = 1, 2, 4, 8, 16) over 1K..16M elements. Cases:
//   BM_Eager/N/elems  the chain as ATen calls (N ops, N fresh outputs)
//   BM_Fused/N/elems  the fused GraphModule (one generated kernel)
// The 8-op chain: a = x*y; b = a+1; c = sigmoid(b);
// d = c*x; e = tanh(d); f = e-y; g = relu(f); out = g*0.5; shorter chains are its
// prefixes, the 16-op chain is it twice. GB/s counts the minimum traffic (two
// inputs, one output). Before the runs it checks fused == eager, and prints the
// environment, cold compile ms and disk-cache-hit ms; after them, one line per
// case with the ratio. `--benchmark_filter=/8/16777216` runs only the target.
//   BM_MlpEager/batch/dim, BM_MlpFused/batch/dim  a transformer MLP block,
//     out = x + linear(gelu_tanh(linear(x, w1, b1)), w2, b2), x: [batch, dim],
//     hidden 4*dim, GELU written out in its tanh form (as GPT-2's NewGELU:
//     0.5*h*(1 + tanh(0.79788456*(h + 0.044715*h^3)))), both run as GraphModules;
//     fusion turns the 9 GELU ops into one kernel (the GEMMs stay ATen's).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>

#include "bench/bench_models.h"
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/version.h>

#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace {

using fx::bench::chain_module;
using fx::bench::eager_chain;
using fx::bench::mlp_module;

fx::jit::FuseOptions options() {
  fx::jit::FuseOptions o;
  o.partition.min_group_size = 1;  // so the 1-op chain is a kernel too
  return o;
}

// One MLP GraphModule per shape, shared by the eager and fused cases.
std::shared_ptr<fx::GraphModule> mlp_for(int64_t batch, int64_t dim) {
  static std::mutex m;
  static std::map<std::pair<int64_t, int64_t>, std::shared_ptr<fx::GraphModule>> cache;
  std::lock_guard<std::mutex> lock(m);
  auto& gm = cache[{batch, dim}];
  if (!gm) gm = mlp_module(batch, dim);
  return gm;
}

void BM_MlpEager(benchmark::State& state) {
  auto gm = mlp_for(state.range(0), state.range(1));
  at::Tensor x = at::randn({state.range(0), state.range(1)});
  for (auto _ : state) benchmark::DoNotOptimize(gm->forward({x}));
}

void BM_MlpFused(benchmark::State& state) {
  auto gm = mlp_for(state.range(0), state.range(1));
  auto fused = fx::jit::fuse(*gm);
  at::Tensor x = at::randn({state.range(0), state.range(1)});
  at::Tensor want = gm->forward({x}).toTensor(), got = fused->forward({x}).toTensor();
  if (!at::allclose(got, want, 1e-4, 1e-5)) {
    state.SkipWithError("fused MLP differs from eager");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(fused->forward({x}));
  int64_t kernels = 0, eager_calls = 0;
  for (const auto& [name, m] : fused->attributes().modules)
    if (auto k = std::dynamic_pointer_cast<fx::jit::FusedKernel>(m)) {
      ++kernels;
      eager_calls += k->eager_calls();
    }
  state.counters["kernels"] = static_cast<double>(kernels);
  if (kernels == 0) state.SkipWithError("nothing was fused");
  if (eager_calls > 0) state.SkipWithError("a fused kernel fell back to eager");
}

void mlp_args(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {64, 512})
    for (int64_t dim : {256, 1024}) b->Args({batch, dim});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}
BENCHMARK(BM_MlpEager)->Apply(mlp_args);
BENCHMARK(BM_MlpFused)->Apply(mlp_args);

std::mutex g_mutex;
std::map<std::pair<int, int64_t>, double> g_eager_ms, g_fused_ms;
std::map<std::pair<long long, long long>, double> g_mlp_eager_ms, g_mlp_fused_ms;

void record(std::map<std::pair<int, int64_t>, double>& m, int n, int64_t e, double ms) {
  std::lock_guard<std::mutex> lock(g_mutex);
  m[{n, e}] = ms;
}

void BM_Eager(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  int64_t e = state.range(1);
  at::Tensor x = at::randn({e}), y = at::randn({e});
  for (auto _ : state) benchmark::DoNotOptimize(eager_chain(n, x, y));
  state.SetBytesProcessed(state.iterations() * e * 3 * 4);
  state.counters["elems"] = static_cast<double>(e);
}

void BM_Fused(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  int64_t e = state.range(1);
  auto gm = chain_module(n);
  auto fused = fx::jit::fuse(*gm, options());
  at::Tensor x = at::randn({e}), y = at::randn({e});
  at::Tensor want = eager_chain(n, x, y), got = fused->forward({x, y}).toTensor();
  if (!at::allclose(got, want, 1e-4, 1e-5)) {
    state.SkipWithError("fused result differs from eager");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(fused->forward({x, y}));
  state.SetBytesProcessed(state.iterations() * e * 3 * 4);
  state.counters["elems"] = static_cast<double>(e);
  int64_t eager_calls = 0;
  for (const auto& [name, m] : fused->attributes().modules)
    if (auto k = std::dynamic_pointer_cast<fx::jit::FusedKernel>(m))
      eager_calls += k->eager_calls();
  if (eager_calls > 0) state.SkipWithError("the fused kernel fell back to eager");
}

void args(benchmark::internal::Benchmark* b) {
  for (int n : {1, 2, 4, 8, 16})
    for (int64_t e : {int64_t{1} << 10, int64_t{1} << 16, int64_t{1} << 20, int64_t{1} << 24})
      b->Args({n, e});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}
BENCHMARK(BM_Eager)->Apply(args);
BENCHMARK(BM_Fused)->Apply(args);

// The memory floor: a device-to-device (here host) copy of N floats into an
// existing buffer, reading and writing 8 bytes per element.
void BM_Copy(benchmark::State& state) {
  at::Tensor src = at::randn({state.range(0)}), dst = at::empty_like(src);
  for (auto _ : state) dst.copy_(src);
  state.SetBytesProcessed(state.iterations() * state.range(0) * 8);
  state.counters["elems"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_Copy)
    ->Arg(int64_t{1} << 20)
    ->Arg(int64_t{1} << 24)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Collects per-case times to print ratios at the end.
class Reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      std::string name = r.benchmark_name();
      long long batch = 0, dim = 0;
      bool mlp_eager = name.rfind("BM_MlpEager/", 0) == 0;
      if (mlp_eager || name.rfind("BM_MlpFused/", 0) == 0) {
        if (std::sscanf(name.c_str() + 12, "%lld/%lld", &batch, &dim) == 2) {
          std::lock_guard<std::mutex> lock(g_mutex);
          (mlp_eager ? g_mlp_eager_ms : g_mlp_fused_ms)[{batch, dim}] = r.GetAdjustedRealTime();
        }
        continue;
      }
      int n = 0;
      long long e = 0;
      bool eager = name.rfind("BM_Eager/", 0) == 0;
      if (std::sscanf(name.c_str() + 9, "%d/%lld", &n, &e) != 2) continue;
      double ms = r.GetAdjustedRealTime();
      record(eager ? g_eager_ms : g_fused_ms, n, e, ms);
    }
  }
};

void compile_figures() {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("fx_fusion_bench_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fx::jit::FuseOptions o = options();
  o.cpu.cache_dir = dir.string();
  auto gm = chain_module(8);
  at::Tensor x = at::randn({1024}), y = at::randn({1024});
  auto time_first_call = [&] {
    auto t0 = std::chrono::steady_clock::now();
    auto fused = fx::jit::fuse(*gm, o);
    at::Tensor out = fused->forward({x, y}).toTensor();
    if (!at::allclose(out, eager_chain(8, x, y), 1e-4, 1e-5)) std::printf("MISMATCH\n");
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  fx::jit::clear_memory_cache();
  auto s0 = fx::jit::compile_stats();
  double cold = time_first_call();
  auto s1 = fx::jit::compile_stats();
  std::printf("compiles %lld, disk hits %lld\n", static_cast<long long>(s1.compiles - s0.compiles),
              static_cast<long long>(s1.disk_hits - s0.disk_hits));
  fx::jit::clear_memory_cache();
  double disk = time_first_call();
  double mem = time_first_call();
  std::printf(
      "8-op chain kernel: cold compile %.1f ms, disk-cache hit %.2f ms, "
      "memory-cache hit %.3f ms (fuse + first call, 1K elements)\n",
      cold, disk, mem);
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("fx fusion_bench: LibTorch %s, %d intra-op threads, float32, CPU %s\n", TORCH_VERSION,
              at::get_num_threads(), "(see /proc/cpuinfo)");
  compile_figures();
  benchmark::Initialize(&argc, argv);
  Reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n%-6s %-10s %12s %12s %8s %10s\n", "ops", "elems", "eager_ms", "fused_ms", "ratio",
              "fused_GB/s");
  for (const auto& [key, fused_ms] : g_fused_ms) {
    auto it = g_eager_ms.find(key);
    if (it == g_eager_ms.end()) continue;
    double gbs = key.second * 3.0 * 4 / (fused_ms * 1e-3) / 1e9;
    std::printf("%-6d %-10lld %12.3f %12.3f %8.2f %10.2f\n", key.first,
                static_cast<long long>(key.second), it->second, fused_ms, it->second / fused_ms,
                gbs);
  }
  if (!g_mlp_fused_ms.empty())
    std::printf("\n%-6s %-6s %-6s %12s %12s %8s\n", "batch", "dim", "hidden", "eager_ms",
                "fused_ms", "ratio");
  for (const auto& [key, fused_ms] : g_mlp_fused_ms) {
    auto it = g_mlp_eager_ms.find(key);
    if (it == g_mlp_eager_ms.end()) continue;
    std::printf("%-6lld %-6lld %-6lld %12.3f %12.3f %8.2f\n", key.first, key.second, 4 * key.second,
                it->second, fused_ms, it->second / fused_ms);
  }
  benchmark::Shutdown();
  return 0;
}
