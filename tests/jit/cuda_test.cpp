// The CUDA half of the JIT. Without a GPU: the index-width and vector-width
// decisions, the generated sources (vector accesses, index types) compiling
// with NVRTC, the driver's absence reported as an error, and the GPU sources
// present in a CI build. With a GPU: fused kernels on the current stream,
// compile-once across threads, the 64-bit index path end to end, the Thrust
// reference as a second oracle, and CUDA graph capture and replay.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "bench/bench_models.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "jit/cuda_compiler.h"
#include "jit/cuda_driver.h"
#include "jit/cuda_graph.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/kernel.h"
#include "jit/nvrtc.h"
#include "runtime/shape_prop.h"
#include "tests/expect_error.h"
#include "tests/gpu_skip.h"
#include "tests/jit/test_graphs.h"

#if FX_HAVE_THRUST_REFERENCE
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/thrust_reference.h"
#endif

namespace fx::jit {
namespace {

using testing_support::expect_error;

constexpr int64_t kMax32 = std::numeric_limits<int32_t>::max();

TEST(CudaIndexWidth, SmallContiguousFits) {
  EXPECT_TRUE(fits_32bit_index(1000, {1000}, {{1}, {0}}, 4096));
  EXPECT_TRUE(fits_32bit_index(0, {0}, {{1}}, 1 << 20));
}

TEST(CudaIndexWidth, ElementCountNearTheLimit) {
  // The loop index reaches numel + slack before it stops.
  EXPECT_TRUE(fits_32bit_index(kMax32 - 1000, {kMax32 - 1000}, {{1}}, 1000));
  EXPECT_FALSE(fits_32bit_index(kMax32 - 1000, {kMax32 - 1000}, {{1}}, 1001));
  EXPECT_FALSE(fits_32bit_index(kMax32 + 1, {kMax32 + 1}, {{1}}, 0));
}

TEST(CudaIndexWidth, OffsetsOfStridedInputs) {
  // 1000 x 1000 elements, but input 0 strides 3000 elements per row: its
  // largest offset is 999 * 3000 + 999, far below 2^31; at stride 2^21 it is not.
  EXPECT_TRUE(fits_32bit_index(1000000, {1000, 1000}, {{3000, 1}, {1000, 1}}, 0));
  EXPECT_FALSE(fits_32bit_index(1000000, {1000, 1000}, {{int64_t{1} << 22, 1}, {1000, 1}}, 0));
  // Negative strides reach as far.
  EXPECT_FALSE(fits_32bit_index(1000000, {1000, 1000}, {{-(int64_t{1} << 22), 1}, {1000, 1}}, 0));
  // Broadcast (stride 0) adds nothing.
  EXPECT_TRUE(fits_32bit_index(1000000, {1000, 1000}, {{0, 1}, {1000, 1}}, 0));
  // No overflow in the check itself.
  EXPECT_FALSE(fits_32bit_index(4, {2, 2}, {{std::numeric_limits<int64_t>::max() / 2, 1}}, 0));
}

KernelSpec two_input_spec(c10::ScalarType a, c10::ScalarType b, c10::ScalarType out) {
  KernelSpec s;
  s.name = "k";
  s.inputs = {a, b};
  s.outputs = {out};
  return s;
}

TEST(CudaVectorWidth, SixteenBytesOfTheWidestContiguousOperand) {
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kFloat, at::kFloat, at::kFloat), "cc"), 4);
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kHalf, at::kHalf, at::kHalf), "cc"), 8);
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kHalf, at::kFloat, at::kHalf), "cc"), 4);
  // A broadcast double does not count; the float output does.
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kHalf, at::kDouble, at::kFloat), "cb"), 4);
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kDouble, at::kDouble, at::kDouble), "cc"), 2);
  EXPECT_EQ(cuda_vector_width(two_input_spec(at::kBool, at::kBool, at::kBool), "cc"), 16);
}

// The chain x * y + 1 -> sigmoid as a fused module, on device.
std::unique_ptr<GraphModule> small_chain(c10::Device device, at::ScalarType dtype = at::kFloat) {
  auto gm = std::make_unique<GraphModule>(parse_graph(R"(
graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Scalar](args = (%mul, 1), kwargs = {})
    %sig : [#users=1] = call_function[target=aten::sigmoid](args = (%add,), kwargs = {})
    return sig)"),
                                          Attributes{});
  shape_prop(*gm, {at::randn({8}).to(dtype).to(device), at::randn({8}).to(dtype).to(device)});
  return gm;
}

TEST(CudaSource, VectorAndIndexVariantsCompileWithNvrtc) {
  FX_REQUIRE_CUDA_TOOLKIT();
  for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    auto gm = small_chain(at::kCPU, dtype);
    auto fused = fuse(*gm);
    auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
    ASSERT_TRUE(k);
    Variant v;
    v.pattern = "cb";
    v.vec = cuda_vector_width(k->spec(), v.pattern);
    std::string vec_src = k->cuda_source(v, true);
    EXPECT_NE(vec_src.find("FxVec<"), std::string::npos) << vec_src;
    EXPECT_NE(vec_src.find("typedef int index_t"), std::string::npos);
    EXPECT_NO_THROW(nvrtc_compile(vec_src, "vec", "sm_90"));
    std::string wide = k->cuda_source(v, false);
    EXPECT_NE(wide.find("typedef long long index_t"), std::string::npos);
    EXPECT_NO_THROW(nvrtc_compile(wide, "wide", "compute_90"));
    Variant nd;
    nd.flat = false;
    nd.rank = 3;
    nd.pattern = "sb";
    EXPECT_EQ(k->cuda_source(nd, true).find("FxVec<"), std::string::npos);
    EXPECT_NO_THROW(nvrtc_compile(k->cuda_source(nd, false), "nd", "sm_90"));
  }
}

TEST(CudaSource, NvrtcErrorCarriesTheLog) {
  FX_REQUIRE_CUDA_TOOLKIT();
  expect_error(
      [] {
        nvrtc_compile("extern \"C\" __global__ void fx_kernel() { undeclared_thing(); }", "bad");
      },
      ErrorKind::kCompile, {"NVRTC failed to compile bad", "undeclared_thing"});
}

TEST(CudaTargetArch, NewerDevicesGetPtx) {
  FX_REQUIRE_CUDA_TOOLKIT();
  EXPECT_EQ(nvrtc_target_arch("sm_90"), "sm_90");
  // An architecture far newer than any NVRTC knows: PTX for the newest it does.
  std::string t = nvrtc_target_arch("sm_990");
  EXPECT_EQ(t.rfind("compute_", 0), 0u) << t;
}

TEST(CudaDriver, AbsentDriverIsAnErrorNotACrash) {
  std::string why;
  if (cuda_driver_available(&why)) GTEST_SKIP() << "a CUDA driver is loaded on this machine";
  EXPECT_FALSE(why.empty());
  expect_error([] { CudaFunction f("not an image", 0, "k"); }, ErrorKind::kRuntime, {why});
  // Compiling for a CUDA device without a driver fails with that reason too.
  if (nvrtc_available()) {
    EXPECT_THROW(compile_cuda_kernel("extern \"C\" __global__ void fx_kernel() {}", "k", 0, {}),
                 Error);
  }
}

TEST(CudaGraphModule, WithoutGpuRunsNormally) {
  if (at::hasCUDA()) GTEST_SKIP() << "covered by the GPU tests on this machine";
  auto gm = small_chain(at::kCPU);
  std::shared_ptr<GraphModule> shared(std::move(gm));
  CudaGraphModule graphed(shared);
  at::Tensor x = at::randn({8}), y = at::randn({8});
  at::Tensor got = graphed.forward({x, y}).toTensor();
  EXPECT_TRUE(at::allclose(got, at::sigmoid(x * y + 1)));
  EXPECT_EQ(graphed.graphs(), 0);
  EXPECT_EQ(graphed.eager_calls(), 1);
}

TEST(GpuBuild, EveryGpuSourceIsBuiltInCi) {
  const char* ci = std::getenv("CI");
  const bool toolkit = std::filesystem::exists("/usr/local/cuda/bin/nvcc");
#if FX_HAVE_THRUST_REFERENCE
  EXPECT_TRUE(std::filesystem::exists(FX_GPU_CHECK_BIN)) << FX_GPU_CHECK_BIN;
  EXPECT_TRUE(std::filesystem::exists(FX_THRUST_LIB)) << FX_THRUST_LIB;
  std::ifstream in(std::string(FX_BINARY_DIR) + "/fx_gpu_sources.txt");
  std::string listed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* src : {"jit/cuda_driver.cpp", "jit/cuda_compiler.cpp", "jit/cuda_graph.cpp",
                          "jit/cuda_codegen.cpp", "jit/nvrtc.cpp", "kernels/thrust_reference.cu",
                          "bench/gpu_check.cpp"})
    EXPECT_NE(listed.find(src), std::string::npos) << src << " is not in the build: " << listed;
  EXPECT_TRUE(nvrtc_available());
  (void)ci, (void)toolkit;
#else
  if (ci && *ci && toolkit)
    FAIL() << "CI has the CUDA toolkit at /usr/local/cuda but this build left the GPU sources "
              "out (FX_HAVE_CUDA is off): GPU code would go unbuilt";
  GTEST_SKIP() << "GPU parts are not built here (no CUDA toolkit)";
#endif
}

// ---- with a GPU
// ----------------------------------------------------------------------------------

TEST(FuseCudaRun, RunsOnTheCurrentStream) {
  FX_REQUIRE_GPU();
#if FX_HAVE_THRUST_REFERENCE
  auto gm = small_chain(at::kCUDA);
  auto fused = fuse(*gm);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  at::Tensor x = at::randn({1 << 20}, at::kCUDA), y = at::randn({1 << 20}, at::kCUDA);
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  at::Tensor got;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    // The inputs were made on the default stream: the side stream waits for them.
    side.synchronize();
    c10::cuda::getDefaultCUDAStream().synchronize();
    got = fused->forward({x, y}).toTensor();
    side.synchronize();  // only this stream: the kernel must have been on it
  }
  EXPECT_TRUE(got.is_cuda());
  EXPECT_TRUE(at::allclose(got.cpu(), at::sigmoid(x * y + 1).cpu(), 1e-5, 1e-6));
  EXPECT_EQ(k->kernel_calls(), 1);
  EXPECT_EQ(k->eager_calls(), 0);
  auto sources = k->sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources.begin()->first.rfind("cuda_flat_cc_v4", 0), 0u) << sources.begin()->first;
#else
  GTEST_SKIP() << "built without the CUDA toolkit";
#endif
}

TEST(FuseCudaRun, EightThreadsCompileOnce) {
  FX_REQUIRE_GPU();
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("fx_cuda_once_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto gm = small_chain(at::kCUDA);
  FuseOptions o;
  o.cpu.cache_dir = dir.string();
  std::shared_ptr<GraphModule> fused = fuse(*gm, o);
  clear_cuda_memory_cache();
  auto before = cuda_compile_stats();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        at::Tensor x = at::randn({1000 + t * 7 + i}, at::kCUDA);
        at::Tensor y = at::randn({1000 + t * 7 + i}, at::kCUDA);
        at::Tensor got = fused->forward({x, y}).toTensor();
        if (!at::allclose(got, at::sigmoid(x * y + 1), 1e-5, 1e-6)) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  auto after = cuda_compile_stats();
  EXPECT_EQ(bad.load(), 0);
  // Sizes never specialise a kernel: one layout, one compile (vector or scalar
  // variant per alignment, both flat).
  EXPECT_LE(after.compiles - before.compiles, 2);
  EXPECT_GE(after.compiles - before.compiles, 1);
  std::filesystem::remove_all(dir);
}

TEST(FuseCudaRun, BeyondTwoToTheThirtyOneTakesTheWideIndexPath) {
  FX_REQUIRE_GPU();
  const int64_t n = (int64_t{1} << 31) + 4099;  // just past the limit, odd tail
  auto gm = test_graphs::add3_mul2_bytes(at::kCUDA);
  auto fused = fuse(*gm);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  at::Tensor x = at::randint(0, 100, {n}, at::TensorOptions().dtype(at::kByte).device(at::kCUDA));
  at::Tensor got = fused->forward({x}).toTensor();
  EXPECT_TRUE(at::equal(got, (x + 3) * 2));
  bool wide = false;
  for (const auto& [key, src] : k->sources()) wide = wide || key.find("_i64") != std::string::npos;
  EXPECT_TRUE(wide) << "no 64-bit index kernel was used";
  EXPECT_EQ(k->eager_calls(), 0);
}

#if FX_HAVE_THRUST_REFERENCE
TEST(FuseCudaRun, ThrustReferenceAgreesWithFusedAndEager) {
  FX_REQUIRE_GPU();
  for (int n : {1, 2, 4, 8, 16}) {
    SCOPED_TRACE(n);
    std::unique_ptr<GraphModule> chain = fx::bench::chain_module(n);
    GraphModule& gm = *chain;
    at::Tensor xs = at::randn({100003}, at::kCUDA), ys = at::randn({100003}, at::kCUDA);
    shape_prop(gm, {xs, ys});
    FuseOptions o;
    o.partition.min_group_size = 1;
    auto fused = fuse(gm, o);
    at::Tensor want = gm.forward({xs, ys}).toTensor();
    at::Tensor got = fused->forward({xs, ys}).toTensor();
    at::Tensor ref = at::empty_like(xs);
    fx::reference::thrust_chain(n, xs.data_ptr<float>(), ys.data_ptr<float>(),
                                ref.data_ptr<float>(), xs.numel(),
                                c10::cuda::getCurrentCUDAStream().stream());
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(got, ref, 1e-5, 1e-6));
  }
  EXPECT_THROW(fx::reference::thrust_chain(3, nullptr, nullptr, nullptr, 0, nullptr),
               std::invalid_argument);
}
#endif

// A module with a GEMM (cuBLAS) and a fused GELU-like tail.
std::unique_ptr<GraphModule> mlp(int64_t batch, int64_t dim) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* w = g->get_attr("w");
  Node* h = g->call_function("aten::linear", {x, w});
  Node* t = g->call_function("aten::tanh", {h});
  t = g->call_function("aten::mul.Scalar", {t, 0.5});
  t = g->call_function("aten::add.Tensor", {t, x});
  g->output(t);
  Attributes attrs;
  attrs.values["w"] = at::randn({dim, dim}, at::kCUDA) / 16;
  auto gm = std::make_unique<GraphModule>(std::move(g), std::move(attrs));
  shape_prop(*gm, {at::randn({batch, dim}, at::kCUDA)});
  return gm;
}

TEST(CudaGraph, ReplayMatchesEagerOnFreshInputs) {
  FX_REQUIRE_GPU();
  auto gm = mlp(4, 64);
  std::shared_ptr<GraphModule> fused = fuse(*gm);
  CudaGraphModule graphed(fused);
  for (int i = 0; i < 5; ++i) {
    at::Tensor x = at::randn({4, 64}, at::kCUDA);  // same shape, new values
    at::Tensor got = graphed.forward({x}).toTensor();
    EXPECT_TRUE(at::allclose(got, gm->forward({x}).toTensor(), 1e-4, 1e-5)) << i;
  }
  EXPECT_EQ(graphed.graphs(), 1);
  EXPECT_EQ(graphed.replays(), 5);
  EXPECT_EQ(graphed.eager_calls(), 0);
  // Outputs are clones: an earlier result survives later calls.
  at::Tensor x1 = at::randn({4, 64}, at::kCUDA), x2 = at::randn({4, 64}, at::kCUDA);
  at::Tensor r1 = graphed.forward({x1}).toTensor();
  at::Tensor keep = r1.clone();
  graphed.forward({x2});
  EXPECT_TRUE(at::equal(r1, keep));
  // A new shape is a second graph.
  at::Tensor x3 = at::randn({2, 64}, at::kCUDA);
  EXPECT_TRUE(
      at::allclose(graphed.forward({x3}).toTensor(), gm->forward({x3}).toTensor(), 1e-4, 1e-5));
  EXPECT_EQ(graphed.graphs(), 2);
}

TEST(CudaGraph, CapAndUncapturableFallBackWithOneWarning) {
  FX_REQUIRE_GPU();
  auto gm = mlp(2, 32);
  std::shared_ptr<GraphModule> shared(std::move(gm));
  CudaGraphOptions o;
  o.max_graphs = 2;
  CudaGraphModule graphed(shared, o);
  for (int64_t b : {1, 2, 3, 4, 5}) {
    at::Tensor x = at::randn({b, 32}, at::kCUDA);
    EXPECT_TRUE(
        at::allclose(graphed.forward({x}).toTensor(), shared->forward({x}).toTensor(), 1e-4, 1e-5));
  }
  EXPECT_EQ(graphed.graphs(), 2);
  EXPECT_EQ(graphed.eager_calls(), 3);
  ASSERT_EQ(graphed.warnings().size(), 1u);
  EXPECT_NE(graphed.warnings()[0].find("max_graphs"), std::string::npos);

  // A host sync inside forward cannot be captured: it runs normally, warned once.
  auto syncing = make_module("Syncing", [](std::vector<c10::IValue> args, const IValueKwargs&) {
    at::Tensor x = args.at(0).toTensor();
    double s = x.sum().item<double>();  // a device-to-host copy and a sync
    return c10::IValue(x * s);
  });
  CudaGraphModule g2(syncing);
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::randn({8}, at::kCUDA);
    EXPECT_TRUE(at::allclose(g2.forward({x}).toTensor(), x * x.sum().item<double>(), 1e-4, 1e-5));
  }
  EXPECT_EQ(g2.graphs(), 0);
  EXPECT_EQ(g2.eager_calls(), 3);
  ASSERT_EQ(g2.warnings().size(), 1u);
  EXPECT_NE(g2.warnings()[0].find("cannot capture"), std::string::npos) << g2.warnings()[0];
  // The device still works after the failed capture.
  at::Tensor z = at::ones({4}, at::kCUDA) * 2;
  EXPECT_EQ(z.sum().item<float>(), 8.0f);
}

}  // namespace
}  // namespace fx::jit
