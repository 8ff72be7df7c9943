// fx_gpu_check: the GPU benchmarks of bench/gpu_check.sh, one binary with no
// dependency beyond fx (GPU machines may lack Google Benchmark). Measures, on
// the current CUDA device, with CUDA events (median of 7 batches, each at
// least ~20 ms of work, after warm-up):
//   copy      device-to-device copy of 64M floats (the bandwidth ceiling),
//   chains    bench_models.h's n-op chains (n = 1, 2, 4, 8, 16) at 1M, 16M and
//             64M float32 elements: eager ATen, fx fused, and the hand-fused
//             Thrust reference (kernels/thrust_reference.h); GB/s counts the
//             minimum traffic (two inputs read, one output written),
//   mlp       the batch-1 MLP block (dim 256), fused: normal launches vs
//             CudaGraphModule replay, per-call latency including a sync,
//   compile   NVRTC cold compile of a chain kernel (first in the process, then
//             another kernel), and a disk-cache hit, each including cuModuleLoad,
//   rows      the row kernels of issue #15 (softmax(x * s + mask), add +
//             layer_norm, RMSNorm, the SE block) in float32 and float16: eager
//             against fused, GB/s of the minimum traffic (inputs read once,
//             outputs written once), and which strategy ran (warp or block per row).
// Every timed result is first checked against eager. Prints the table last;
// `--json FILE` also writes the figures. Exits 2 when no GPU is usable.
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_models.h"
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/version.h>

#include "jit/cuda_compiler.h"
#include "jit/cuda_graph.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "kernels/thrust_reference.h"

namespace {

using fx::bench::chain_module;
using fx::bench::eager_chain;

// Milliseconds per call of f: batches sized to ~20 ms, median of 7.
double time_ms(const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  c10::cuda::device_synchronize();
  auto t0 = std::chrono::steady_clock::now();
  f();
  c10::cuda::device_synchronize();
  double one =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  int per_batch = std::max(1, std::min(2000, static_cast<int>(20.0 / std::max(one, 1e-3))));
  std::vector<double> ms;
  for (int b = 0; b < 7; ++b) {
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    auto stream = c10::cuda::getCurrentCUDAStream();
    start.record(stream);
    for (int i = 0; i < per_batch; ++i) f();
    stop.record(stream);
    stop.synchronize();
    ms.push_back(start.elapsed_time(stop) / per_batch);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Wall-clock latency of one call followed by a sync (what a batch-1 request sees).
double latency_us(const std::function<void()>& f) {
  for (int i = 0; i < 20; ++i) f();
  c10::cuda::device_synchronize();
  std::vector<double> us;
  for (int b = 0; b < 7; ++b) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) {
      f();
      c10::cuda::device_synchronize();
    }
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        200);
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

bool close(const at::Tensor& a, const at::Tensor& b) {
  return at::allclose(a.cpu(), b.cpu(), 1e-4, 1e-5);
}

fx::jit::FuseOptions fuse_options(const std::string& cache_dir = "") {
  fx::jit::FuseOptions o;
  o.partition.min_group_size = 1;
  if (!cache_dir.empty()) o.cpu.cache_dir = cache_dir;
  return o;
}

// A chain GraphModule whose tensor_meta says CUDA (fuse places groups by it).
std::unique_ptr<fx::GraphModule> cuda_chain(int n) {
  auto gm = chain_module(n);
  fx::shape_prop(*gm, {at::randn({16}, at::kCUDA), at::randn({16}, at::kCUDA)});
  return gm;
}

struct ChainRow {
  int ops;
  int64_t elems;
  double eager_ms, fused_ms, thrust_ms;
};

fx::Argument int_list(std::vector<int64_t> v) { return fx::Argument::list({v.begin(), v.end()}); }

// The row-kernel cases: a GraphModule (tensor_meta on CUDA) and its inputs.
struct RowCase {
  std::string name;
  std::unique_ptr<fx::GraphModule> gm;
  std::vector<at::Tensor> in;
};

RowCase row_case(int c, at::ScalarType t) {
  static const std::vector<std::pair<std::string, std::vector<std::vector<int64_t>>>> shapes = {
      {"softmax(x*s+mask) [12288,128]", {{8 * 12 * 128, 128}, {128}}},
      {"softmax(x*s+mask) [4096,4096]", {{4096, 4096}, {4096}}},
      {"add+layer_norm [16384,768]", {{16384, 768}, {16384, 768}, {768}, {768}}},
      {"add+layer_norm [4096,4096]", {{4096, 4096}, {4096, 4096}, {4096}, {4096}}},
      {"RMSNorm [4096,4096]", {{4096, 4096}, {4096}}},
      {"SE mean->sigmoid->mul [32,256,28,28]", {{32, 256, 28, 28}}},
      {"softmax(x*s+mask) [8,1M]", {{8, 1 << 20}, {1 << 20}}},
  };
  RowCase r;
  r.name = shapes[c].first + " " + c10::toString(t);
  for (const auto& s : shapes[c].second)
    r.in.push_back(at::randn(s, at::TensorOptions().device(at::kCUDA)).to(t));
  auto g = std::make_unique<fx::Graph>();
  std::vector<fx::Node*> in;
  for (size_t i = 0; i < r.in.size(); ++i) in.push_back(g->placeholder("x" + std::to_string(i)));
  const int64_t n = shapes[c].second[0].back();
  if (c <= 1 || c == 6) {
    fx::Node* s = g->call_function("aten::mul.Scalar", {in[0], 0.125});
    g->output(g->call_function("aten::softmax.int",
                               {g->call_function("aten::add.Tensor", {s, in[1]}), -1}));
  } else if (c <= 3) {
    fx::Node* h = g->call_function("aten::add.Tensor", {in[0], in[1]});
    g->output(g->call_function("aten::layer_norm", {h, int_list({n}), in[2], in[3]}));
  } else if (c == 4) {
    fx::Node* sq = g->call_function("aten::pow.Tensor_Scalar", {in[0], 2});
    fx::Node* var = g->call_function("aten::mean.dim", {sq, int_list({-1}), true});
    fx::Node* rs =
        g->call_function("aten::rsqrt", {g->call_function("aten::add.Scalar", {var, 1e-6})});
    g->output(g->call_function("aten::mul.Tensor",
                               {in[1], g->call_function("aten::mul.Tensor", {in[0], rs})}));
  } else {
    fx::Node* mean = g->call_function("aten::mean.dim", {in[0], int_list({2, 3}), true});
    g->output(
        g->call_function("aten::mul.Tensor", {in[0], g->call_function("aten::sigmoid", {mean})}));
  }
  r.gm = std::make_unique<fx::GraphModule>(std::move(g), fx::Attributes{});
  fx::shape_prop(*r.gm, std::vector<c10::IValue>(r.in.begin(), r.in.end()));
  return r;
}

struct RowResult {
  std::string name, variant;
  double eager_ms, fused_ms, gbs;
};

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: fx_gpu_check [--json FILE]\n");
      return 1;
    }
  }
  if (!at::hasCUDA()) {
    std::printf("fx_gpu_check: no CUDA device is usable here; nothing measured\n");
    return 2;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("fx_gpu_check: %s (%d SMs, sm_%d%d), driver CUDA %d.%d, runtime %d.%d, LibTorch %s\n",
              prop.name, prop.multiProcessorCount, prop.major, prop.minor, driver / 1000,
              (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10, TORCH_VERSION);
  std::fflush(stdout);

  // --- NVRTC compile figures (a fresh cache directory) ----------------------------------------
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("fx_gpu_check_" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto first_call_ms = [&](int n, const fx::GraphModule& gm) {
    at::Tensor x = at::randn({4096}, at::kCUDA), y = at::randn({4096}, at::kCUDA);
    auto fused = fx::jit::fuse(gm, fuse_options(dir.string()));
    c10::cuda::device_synchronize();
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor out = fused->forward({x, y}).toTensor();
    c10::cuda::device_synchronize();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!close(out, eager_chain(n, x, y))) std::printf("MISMATCH in the %d-op chain\n", n);
    return ms;
  };
  auto gm8 = cuda_chain(8), gm16 = cuda_chain(16);
  auto s0 = fx::jit::cuda_compile_stats();
  double cold_first = first_call_ms(8, *gm8);
  double cold_second = first_call_ms(16, *gm16);
  auto s1 = fx::jit::cuda_compile_stats();
  fx::jit::clear_cuda_memory_cache();
  double disk_hit = first_call_ms(8, *gm8);
  auto s2 = fx::jit::cuda_compile_stats();
  double memory_hit = first_call_ms(8, *gm8);
  std::printf(
      "NVRTC: cold first call %.1f ms (first compile in process), %.1f ms (next kernel); "
      "disk-cache hit %.2f ms; memory hit %.3f ms [compiles %lld, disk hits %lld]\n",
      cold_first, cold_second, disk_hit, memory_hit,
      static_cast<long long>(s1.compiles - s0.compiles),
      static_cast<long long>(s2.disk_hits - s1.disk_hits));
  fs::remove_all(dir);
  std::fflush(stdout);

  // --- copy bandwidth --------------------------------------------------------------------------
  const int64_t copy_elems = int64_t{1} << 26;
  at::Tensor src = at::randn({copy_elems}, at::kCUDA), dst = at::empty_like(src);
  double copy_ms = time_ms([&] { dst.copy_(src); });
  double copy_gbs = 2.0 * copy_elems * 4 / (copy_ms * 1e-3) / 1e9;
  std::printf("copy: %lld floats in %.3f ms = %.0f GB/s (read + write)\n",
              static_cast<long long>(copy_elems), copy_ms, copy_gbs);
  src = at::Tensor(), dst = at::Tensor();

  // --- chains ------------------------------------------------------------------------------------
  std::vector<ChainRow> rows;
  for (int n : {1, 2, 4, 8, 16}) {
    auto gm = cuda_chain(n);
    auto fused = fx::jit::fuse(*gm, fuse_options());
    for (int64_t e : {int64_t{1} << 20, int64_t{1} << 24, int64_t{1} << 26}) {
      at::Tensor x = at::randn({e}, at::kCUDA), y = at::randn({e}, at::kCUDA);
      at::Tensor want = eager_chain(n, x, y);
      at::Tensor got = fused->forward({x, y}).toTensor();
      at::Tensor ref = at::empty_like(x);
      auto stream = c10::cuda::getCurrentCUDAStream().stream();
      fx::reference::thrust_chain(n, x.data_ptr<float>(), y.data_ptr<float>(),
                                  ref.data_ptr<float>(), e, stream);
      if (!close(got, want) || !close(ref, want)) {
        std::printf("chain %d/%lld: MISMATCH (fused %d, thrust %d); not timed\n", n,
                    static_cast<long long>(e), static_cast<int>(close(got, want)),
                    static_cast<int>(close(ref, want)));
        continue;
      }
      ChainRow r{n, e, 0, 0, 0};
      r.eager_ms = time_ms([&] { eager_chain(n, x, y); });
      r.fused_ms = time_ms([&] { fused->forward({x, y}); });
      r.thrust_ms = time_ms([&] {
        fx::reference::thrust_chain(n, x.data_ptr<float>(), y.data_ptr<float>(),
                                    ref.data_ptr<float>(), e, stream);
      });
      std::printf("chain %2d ops %9lld: eager %.3f ms, fused %.3f ms, thrust %.3f ms\n", n,
                  static_cast<long long>(e), r.eager_ms, r.fused_ms, r.thrust_ms);
      std::fflush(stdout);
      rows.push_back(r);
    }
    int64_t eager_calls = 0;
    for (const auto& [name, m] : fused->attributes().modules)
      if (auto k = std::dynamic_pointer_cast<fx::jit::FusedKernel>(m))
        eager_calls += k->eager_calls();
    if (eager_calls) std::printf("WARNING: the %d-op chain fell back to eager\n", n);
  }

  // --- launch settings: vector bytes x blocks per SM, on the long chains ----------------------
  std::ostringstream sweep;
  sweep << "\n| vector bytes | blocks/SM | 8 ops 16M ms | 8 ops 64M ms | 16 ops 16M ms | 16 ops "
           "64M ms |\n"
        << "|---|---|---|---|---|---|\n";
  {
    auto f8 = fx::jit::fuse(*cuda_chain(8), fuse_options());
    auto f16 = fx::jit::fuse(*cuda_chain(16), fuse_options());
    at::Tensor x16 = at::randn({int64_t{1} << 24}, at::kCUDA), y16 = at::randn_like(x16);
    at::Tensor x64 = at::randn({int64_t{1} << 26}, at::kCUDA), y64 = at::randn_like(x64);
    const fx::jit::CudaLaunchTuning defaults = fx::jit::cuda_launch_tuning();
    for (int vb : {16, 32})
      for (int bps : {4, 8, 16, 32}) {
        fx::jit::set_cuda_launch_tuning({vb, bps});
        char line[256];
        bool ok = close(f16->forward({x16, y16}).toTensor(), eager_chain(16, x16, y16));
        std::snprintf(line, sizeof(line), "| %d | %d | %.4f | %.4f | %.4f | %.4f |%s\n", vb, bps,
                      time_ms([&] {
                        f8->forward({x16, y16});
                      }),
                      time_ms([&] {
                        f8->forward({x64, y64});
                      }),
                      time_ms([&] {
                        f16->forward({x16, y16});
                      }),
                      time_ms([&] {
                        f16->forward({x64, y64});
                      }),
                      ok ? "" : " MISMATCH");
        sweep << line;
      }
    fx::jit::set_cuda_launch_tuning(defaults);
  }
  std::printf("%s", sweep.str().c_str());
  std::fflush(stdout);

  // --- batch-1 MLP: CUDA graph replay vs normal launches ---------------------------------------
  auto mlp = fx::bench::mlp_module(1, 256, at::kCUDA);
  std::shared_ptr<fx::GraphModule> mlp_fused = fx::jit::fuse(*mlp);
  auto graphed = std::make_shared<fx::jit::CudaGraphModule>(mlp_fused);
  at::Tensor mx = at::randn({1, 256}, at::kCUDA);
  at::Tensor mwant = mlp->forward({mx}).toTensor();
  bool mlp_ok = close(mlp_fused->forward({mx}).toTensor(), mwant) &&
                close(graphed->forward({mx}).toTensor(), mwant);
  double mlp_eager_us = latency_us([&] { mlp->forward({mx}); });
  double mlp_fused_us = latency_us([&] { mlp_fused->forward({mx}); });
  double mlp_graph_us = latency_us([&] { graphed->forward({mx}); });
  // Calls queued back to back (no sync each): the host-side cost per call.
  double mlp_fused_q = 1e3 * time_ms([&] { mlp_fused->forward({mx}); });
  double mlp_graph_q = 1e3 * time_ms([&] { graphed->forward({mx}); });
  std::printf(
      "mlp batch 1 dim 256: eager %.1f us, fused %.1f us, fused + CUDA graph %.1f us "
      "(graphs %lld, replays %lld)%s\n",
      mlp_eager_us, mlp_fused_us, mlp_graph_us, static_cast<long long>(graphed->graphs()),
      static_cast<long long>(graphed->replays()), mlp_ok ? "" : " MISMATCH");

  // --- row kernels (reductions and normalizations) ---------------------------------------------
  std::vector<RowResult> row_results;
  for (at::ScalarType t : {at::kFloat, at::kHalf})
    for (int c = 0; c < 7; ++c) {
      RowCase rc = row_case(c, t);
      auto fused = fx::jit::fuse(*rc.gm);
      std::vector<c10::IValue> args(rc.in.begin(), rc.in.end());
      at::Tensor want = rc.gm->forward(args).toTensor(), got = fused->forward(args).toTensor();
      const double tol = t == at::kHalf ? 5e-3 : 1e-4;
      std::shared_ptr<fx::jit::FusedKernel> k;
      for (const auto& [name, m] : fused->attributes().modules)
        if (auto f = std::dynamic_pointer_cast<fx::jit::FusedKernel>(m))
          if (f->spec().is_rows()) k = f;
      if (!k || k->kernel_calls() != 1 ||
          !at::allclose(got.cpu().to(at::kFloat), want.cpu().to(at::kFloat), tol, tol)) {
        std::printf("rows %s: MISMATCH or not one row kernel (%s); not timed\n", rc.name.c_str(),
                    k ? k->fallback_reason().c_str() : "no row kernel");
        continue;
      }
      RowResult r;
      r.name = rc.name;
      for (const auto& v : k->variants()) r.variant = v.key();
      r.eager_ms = time_ms([&] { rc.gm->forward(args); });
      r.fused_ms = time_ms([&] { fused->forward(args); });
      double bytes = static_cast<double>(want.nbytes());
      for (const at::Tensor& x : rc.in) bytes += static_cast<double>(x.nbytes());
      r.gbs = bytes / (r.fused_ms * 1e-3) / 1e9;
      std::printf("rows %s: eager %.3f ms, fused %.3f ms (%s, %.0f GB/s)\n", r.name.c_str(),
                  r.eager_ms, r.fused_ms, r.variant.c_str(), r.gbs);
      std::fflush(stdout);
      row_results.push_back(r);
    }

  // --- the table -------------------------------------------------------------------------------
  std::ostringstream table;
  table << "\n| ops | elems | eager ms | fused ms | thrust ms | fused GB/s | % of copy | fused vs "
           "eager | fused vs thrust |\n"
        << "|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (const auto& r : rows) {
    double gbs = r.elems * 3.0 * 4 / (r.fused_ms * 1e-3) / 1e9;
    std::snprintf(buf, sizeof(buf),
                  "| %d | %lld | %.3f | %.3f | %.3f | %.0f | %.0f%% | %.2fx | %.2f |\n", r.ops,
                  static_cast<long long>(r.elems), r.eager_ms, r.fused_ms, r.thrust_ms, gbs,
                  100.0 * gbs / copy_gbs, r.eager_ms / r.fused_ms, r.thrust_ms / r.fused_ms);
    table << buf;
  }
  std::snprintf(buf, sizeof(buf),
                "\ncopy %.0f GB/s | MLP batch 1, call + sync: eager %.1f us, fused %.1f us, CUDA "
                "graph %.1f us (%.2fx lower than fused); queued per call: fused %.1f us, graph "
                "%.1f us (%.2fx) | NVRTC cold %.1f / %.1f ms, disk hit %.2f ms\n",
                copy_gbs, mlp_eager_us, mlp_fused_us, mlp_graph_us, mlp_fused_us / mlp_graph_us,
                mlp_fused_q, mlp_graph_q, mlp_fused_q / mlp_graph_q, cold_first, cold_second,
                disk_hit);
  table << buf << sweep.str();
  table << "\n| row kernel | variant | eager ms | fused ms | fused vs eager | fused GB/s | % of "
           "copy |\n"
        << "|---|---|---|---|---|---|---|\n";
  for (const auto& r : row_results) {
    std::snprintf(buf, sizeof(buf), "| %s | %s | %.3f | %.3f | %.2fx | %.0f | %.0f%% |\n",
                  r.name.c_str(), r.variant.c_str(), r.eager_ms, r.fused_ms,
                  r.eager_ms / r.fused_ms, r.gbs, 100.0 * r.gbs / copy_gbs);
    table << buf;
  }
  std::printf("%s", table.str().c_str());
  if (!json_path.empty()) {
    std::ofstream js(json_path);
    js << "{\"gpu\": \"" << prop.name << "\", \"copy_gbs\": " << copy_gbs
       << ", \"nvrtc_cold_first_ms\": " << cold_first << ", \"nvrtc_cold_next_ms\": " << cold_second
       << ", \"disk_hit_ms\": " << disk_hit << ", \"mlp_eager_us\": " << mlp_eager_us
       << ", \"mlp_fused_us\": " << mlp_fused_us << ", \"mlp_graph_us\": " << mlp_graph_us
       << ", \"mlp_fused_queued_us\": " << mlp_fused_q
       << ", \"mlp_graph_queued_us\": " << mlp_graph_q << ", \"chains\": [";
    for (size_t i = 0; i < rows.size(); ++i)
      js << (i ? ", " : "") << "{\"ops\": " << rows[i].ops << ", \"elems\": " << rows[i].elems
         << ", \"eager_ms\": " << rows[i].eager_ms << ", \"fused_ms\": " << rows[i].fused_ms
         << ", \"thrust_ms\": " << rows[i].thrust_ms << "}";
    js << "], \"rows\": [";
    for (size_t i = 0; i < row_results.size(); ++i)
      js << (i ? ", " : "") << "{\"case\": \"" << row_results[i].name << "\", \"variant\": \""
         << row_results[i].variant << "\", \"eager_ms\": " << row_results[i].eager_ms
         << ", \"fused_ms\": " << row_results[i].fused_ms << "}";
    js << "]}\n";
  }
  return 0;
}
