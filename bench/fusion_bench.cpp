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
//   BM_ReduceEager/case, BM_ReduceFused/case  reductions with their neighbours
//     (one row kernel each), both run as GraphModules; cases (kReductionCases):
//     0 softmax(x * 0.125 + mask), x [64*128, 128] (B*heads*128 rows of 128), mask [128]
//     1 softmax(x * 0.125 + mask), x [1024, 4096]
//     2 layer_norm(x + r, [768], w, b), x, r [4096, 768] (post-LN, as BERT: only the norm
//       is used afterwards)
//     3 layer_norm(x + r, [4096], w, b), x, r [1024, 4096]
//     4 RMSNorm as LLaMA writes it: w * (x * rsqrt(mean(x^2, -1, keepdim) + 1e-6)),
//       x [2048, 4096]
//     5 SE block x * sigmoid(mean(x, [2, 3], keepdim)), x [32, 256, 28, 28]
//     6 silu(group_norm(x, 32, w, b)), x [8, 256, 32, 32] (a diffusion UNet's ResBlock
//       norm: 32 groups of 8 channels, each group's 8 rows reduced together)
//     bench/fusion_torch_compile.py --reductions times the same cases under torch.compile.
//     Both reduction columns run in inference mode (c10::InferenceMode), as does the
//     Python script, so the fused module reuses its buffers between calls.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iterator>
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

// --- reductions ---------------------------------------------------------------
struct ReductionCase {
  const char* name;
  std::vector<std::vector<int64_t>> inputs;
};
const ReductionCase kReductionCases[] = {
    {"softmax(x*s+mask) [8192,128]", {{64 * 128, 128}, {128}}},
    {"softmax(x*s+mask) [1024,4096]", {{1024, 4096}, {4096}}},
    {"add+layer_norm [4096,768]", {{4096, 768}, {4096, 768}, {768}, {768}}},
    {"add+layer_norm [1024,4096]", {{1024, 4096}, {1024, 4096}, {4096}, {4096}}},
    {"RMSNorm [2048,4096]", {{2048, 4096}, {4096}}},
    {"SE mean->sigmoid->mul [32,256,28,28]", {{32, 256, 28, 28}}},
    {"group_norm(32)->silu [8,256,32,32]", {{8, 256, 32, 32}, {256}, {256}}},
};

fx::Argument int_list(std::vector<int64_t> v) {
  return fx::Argument::list({v.begin(), v.end()});
}

std::vector<at::Tensor> reduction_inputs(int c) {
  std::vector<at::Tensor> in;
  for (const auto& shape : kReductionCases[c].inputs) in.push_back(at::randn(shape));
  return in;
}

// One GraphModule per case, shared by the eager and fused runs.
std::shared_ptr<fx::GraphModule> reduction_module(int c) {
  static std::mutex m;
  static std::map<int, std::shared_ptr<fx::GraphModule>> cache;
  std::lock_guard<std::mutex> lock(m);
  auto& gm = cache[c];
  if (gm) return gm;
  auto g = std::make_unique<fx::Graph>();
  std::vector<fx::Node*> in;
  for (size_t i = 0; i < kReductionCases[c].inputs.size(); ++i)
    in.push_back(g->placeholder("x" + std::to_string(i)));
  const int64_t n = kReductionCases[c].inputs[0].back();
  if (c <= 1) {
    fx::Node* s = g->call_function("aten::mul.Scalar", {in[0], 0.125});
    fx::Node* a = g->call_function("aten::add.Tensor", {s, in[1]});
    g->output(g->call_function("aten::softmax.int", {a, -1}));
  } else if (c <= 3) {
    fx::Node* h = g->call_function("aten::add.Tensor", {in[0], in[1]});
    fx::Node* ln = g->call_function("aten::layer_norm", {h, int_list({n}), in[2], in[3]});
    g->output(ln);
  } else if (c == 4) {
    fx::Node* sq = g->call_function("aten::pow.Tensor_Scalar", {in[0], 2});
    fx::Node* var = g->call_function("aten::mean.dim", {sq, int_list({-1}), true});
    fx::Node* eps = g->call_function("aten::add.Scalar", {var, 1e-6});
    fx::Node* rs = g->call_function("aten::rsqrt", {eps});
    fx::Node* y = g->call_function("aten::mul.Tensor", {in[0], rs});
    g->output(g->call_function("aten::mul.Tensor", {in[1], y}));
  } else if (c == 6) {
    fx::Node* gn = g->call_function("aten::group_norm", {in[0], 32, in[1], in[2]});
    g->output(g->call_function("aten::silu", {gn}));
  } else {
    fx::Node* mean = g->call_function("aten::mean.dim", {in[0], int_list({2, 3}), true});
    fx::Node* sig = g->call_function("aten::sigmoid", {mean});
    g->output(g->call_function("aten::mul.Tensor", {in[0], sig}));
  }
  gm = std::make_shared<fx::GraphModule>(std::move(g), fx::Attributes{});
  auto ex = reduction_inputs(c);
  fx::shape_prop(*gm, std::vector<c10::IValue>(ex.begin(), ex.end()));
  return gm;
}

void BM_ReduceEager(benchmark::State& state) {
  const int c = static_cast<int>(state.range(0));
  auto gm = reduction_module(c);
  auto in = reduction_inputs(c);
  std::vector<c10::IValue> args(in.begin(), in.end());
  c10::InferenceMode inference;
  for (auto _ : state) benchmark::DoNotOptimize(gm->forward(args));
  state.SetLabel(kReductionCases[c].name);
}

void BM_ReduceFused(benchmark::State& state) {
  const int c = static_cast<int>(state.range(0));
  auto gm = reduction_module(c);
  auto fused = fx::jit::fuse(*gm);
  auto in = reduction_inputs(c);
  std::vector<c10::IValue> args(in.begin(), in.end());
  c10::IValue want = gm->forward(args), got = fused->forward(args);
  std::vector<at::Tensor> w, r;
  if (want.isTensor()) {
    w = {want.toTensor()}, r = {got.toTensor()};
  } else {
    for (const auto& e : want.toTuple()->elements()) w.push_back(e.toTensor());
    for (const auto& e : got.toTuple()->elements()) r.push_back(e.toTensor());
  }
  for (size_t i = 0; i < w.size(); ++i)
    if (!at::allclose(r[i], w[i], 1e-4, 1e-5)) {
      state.SkipWithError("fused result differs from eager");
      return;
    }
  {
    // As a service runs it (and as the peers are timed): in inference mode,
    // where the module reuses its buffers between calls.
    c10::InferenceMode inference;
    for (auto _ : state) benchmark::DoNotOptimize(fused->forward(args));
  }
  int64_t rows = 0, eager_calls = 0;
  for (const auto& [name, m] : fused->attributes().modules)
    if (auto k = std::dynamic_pointer_cast<fx::jit::FusedKernel>(m)) {
      rows += k->spec().is_rows();
      eager_calls += k->eager_calls();
    }
  state.SetLabel(kReductionCases[c].name);
  if (rows != 1) state.SkipWithError("the case did not become one row kernel");
  if (eager_calls > 0) state.SkipWithError("the fused kernel fell back to eager");
}

void reduction_args(benchmark::internal::Benchmark* b) {
  for (int c = 0; c < static_cast<int>(std::size(kReductionCases)); ++c) b->Arg(c);
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}
BENCHMARK(BM_ReduceEager)->Apply(reduction_args);
BENCHMARK(BM_ReduceFused)->Apply(reduction_args);

std::mutex g_mutex;
std::map<std::pair<int, int64_t>, double> g_eager_ms, g_fused_ms;
std::map<int, double> g_reduce_eager_ms, g_reduce_fused_ms;
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
      bool reduce_eager = name.rfind("BM_ReduceEager/", 0) == 0;
      if (reduce_eager || name.rfind("BM_ReduceFused/", 0) == 0) {
        int c = 0;
        if (std::sscanf(name.c_str() + 15, "%d", &c) == 1) {
          std::lock_guard<std::mutex> lock(g_mutex);
          (reduce_eager ? g_reduce_eager_ms : g_reduce_fused_ms)[c] = r.GetAdjustedRealTime();
        }
        continue;
      }
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
  if (!g_reduce_fused_ms.empty())
    std::printf("\n%-40s %12s %12s %8s\n", "reduction case", "eager_ms", "fused_ms", "ratio");
  for (const auto& [c, fused_ms] : g_reduce_fused_ms) {
    auto it = g_reduce_eager_ms.find(c);
    if (it == g_reduce_eager_ms.end()) continue;
    std::printf("%-40s %12.3f %12.3f %8.2f\n", kReductionCases[c].name, it->second, fused_ms,
                it->second / fused_ms);
  }
  benchmark::Shutdown();
  return 0;
}
