// fx::jit::fuse on CPU: fused results equal eager for every op x dtype x
// layout on fresh random inputs, the rewritten graph, errors, the disk cache,
// fallback on a compile error, FX_JIT_DISABLE and concurrent callers.
#include "jit/fuse.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "jit/fused_kernel.h"
#include "jit/nvrtc.h"
#include "runtime/shape_prop.h"
#include "tests/expect_error.h"
#include "tests/gpu_skip.h"
#include "tests/jit/test_graphs.h"

namespace fx::jit {
namespace {

using testing_support::expect_error;

namespace fs = std::filesystem;

using Build = std::function<void(Graph&, Node* t, Node* y, Node* c, std::vector<Argument>& outs,
                                 std::vector<std::string>& labels)>;

// Float ops, each reading t = x * 1 (so they all join t's group) and y.
void float_ops(Graph& g, Node* t, Node* y, Node* c, std::vector<Argument>& outs,
               std::vector<std::string>& labels) {
  auto add = [&](const std::string& label, Node* n) {
    outs.emplace_back(n);
    labels.push_back(label);
  };
  for (const char* op :
       {"aten::exp", "aten::log", "aten::log1p", "aten::expm1", "aten::sqrt", "aten::rsqrt",
        "aten::sin", "aten::cos", "aten::tanh", "aten::sigmoid", "aten::erf", "aten::relu",
        "aten::silu", "aten::neg", "aten::abs", "aten::reciprocal"})
    add(op, g.call_function(op, {t}));
  add("gelu", g.call_function("aten::gelu", {t}));
  add("gelu_tanh", g.call_function("aten::gelu", {t}, {{"approximate", "tanh"}}));
  for (double e : {2.0, 3.0, 0.5, -1.0, 2.5})
    add("pow " + std::to_string(e), g.call_function("aten::pow.Tensor_Scalar", {t, e}));
  add("clamp", g.call_function("aten::clamp", {t, -0.5, 0.5}));
  add("clamp_max", g.call_function("aten::clamp", {t}, {{"max", 0.25}}));
  add("clamp_min", g.call_function("aten::clamp_min", {t, 0.1}));
  add("add", g.call_function("aten::add.Tensor", {t, y}, {{"alpha", 2}}));
  add("sub", g.call_function("aten::sub.Tensor", {t, y}));
  add("mul", g.call_function("aten::mul.Tensor", {t, y}));
  add("div", g.call_function("aten::div.Tensor", {t, y}));
  add("add.Scalar", g.call_function("aten::add.Scalar", {t, 1.5}));
  add("div.Scalar", g.call_function("aten::div.Scalar", {t, 3}));
  add("maximum", g.call_function("aten::maximum", {t, y}));
  add("minimum", g.call_function("aten::minimum", {t, y}));
  add("lt", g.call_function("aten::lt.Tensor", {t, y}));
  add("ge.Scalar", g.call_function("aten::ge.Scalar", {t, 0.0}));
  add("where", g.call_function("aten::where.self", {c, t, y}));
  add("addcmul", g.call_function("aten::addcmul", {t, y, t}, {{"value", 0.5}}));
  add("lerp", g.call_function("aten::lerp.Scalar", {t, y, 0.3}));
  add("lerp_hi", g.call_function("aten::lerp.Scalar", {t, y, 0.7}));
  add("to_double", g.call_function("aten::_to_copy", {t}, {{"dtype", c10::ScalarType::Double}}));
  add("to_int", g.call_function("aten::_to_copy", {t}, {{"dtype", c10::ScalarType::Int}}));
  add("logical_and", g.call_function("aten::logical_and", {t, c}));
}

void int_ops(Graph& g, Node* t, Node* y, Node* c, std::vector<Argument>& outs,
             std::vector<std::string>& labels) {
  auto add = [&](const std::string& label, Node* n) {
    outs.emplace_back(n);
    labels.push_back(label);
  };
  add("add", g.call_function("aten::add.Tensor", {t, y}, {{"alpha", 3}}));
  add("sub", g.call_function("aten::sub.Tensor", {t, y}));
  add("mul", g.call_function("aten::mul.Tensor", {t, y}));
  add("neg", g.call_function("aten::neg", {t}));
  add("abs", g.call_function("aten::abs", {t}));
  add("relu", g.call_function("aten::relu", {t}));
  add("maximum", g.call_function("aten::maximum", {t, y}));
  add("minimum", g.call_function("aten::minimum", {t, y}));
  add("clamp", g.call_function("aten::clamp", {t, -5, 5}));
  add("eq", g.call_function("aten::eq.Tensor", {t, y}));
  add("lt.Scalar", g.call_function("aten::lt.Scalar", {t, 2.5}));
  add("where", g.call_function("aten::where.self", {c, t, y}));
  add("div", g.call_function("aten::div.Tensor", {t, y}));
  add("mul.Scalar", g.call_function("aten::mul.Scalar", {t, 3}));
  add("add.Scalar_float", g.call_function("aten::add.Scalar", {t, 0.5}));
  add("exp", g.call_function("aten::exp", {t}));
  add("logical_or", g.call_function("aten::logical_or", {t, c}));
  add("logical_not", g.call_function("aten::logical_not", {t}));
  add("to_float", g.call_function("aten::_to_copy", {t}, {{"dtype", c10::ScalarType::Float}}));
}

struct Layout {
  const char* name;
  std::vector<int64_t> x, y;
  bool transpose;
  bool offset = false;  // x starts one element into its storage (misaligned)
};

const Layout kLayouts[] = {
    {"contiguous", {37, 53}, {37, 53}, false}, {"broadcast", {37, 53}, {53}, false},
    {"transposed", {53, 37}, {37, 53}, true},  {"zero_dim", {}, {}, false},
    {"empty", {0, 53}, {53}, false},           {"odd", {1001}, {1001}, false},
    {"offset", {1024}, {1024}, false, true},
};

at::Tensor random(const std::vector<int64_t>& shape, at::ScalarType dtype) {
  if (c10::isFloatingType(dtype)) return at::randn(shape).to(dtype);
  return at::randint(1, 9, shape).to(dtype) * (at::randint(0, 2, shape).to(dtype) * 2 - 1);
}

// x for layout l on device: random, maybe transposed or one element into its storage.
at::Tensor layout_input(const Layout& l, at::ScalarType dtype, c10::Device device) {
  at::Tensor x;
  if (l.offset) {
    std::vector<int64_t> bigger = l.x;
    bigger[0] += 1;
    x = random(bigger, dtype).to(device).narrow(0, 1, l.x[0]);
  } else {
    x = random(l.x, dtype).to(device);
  }
  return l.transpose ? x.t() : x;
}

void check_all(at::ScalarType dtype, const Build& build, double rtol, double atol,
               c10::Device device = at::kCPU) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + l.name);
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    Node* y = g->placeholder("y");
    Node* t = g->call_function("aten::mul.Scalar", {x, 1});
    Node* c = g->call_function("aten::gt.Tensor", {t, y});
    std::vector<Argument> outs;
    std::vector<std::string> labels;
    build(*g, t, y, c, outs, labels);
    g->output(Argument::tuple(outs));
    at::Tensor xv = layout_input(l, dtype, device), yv = random(l.y, dtype).to(device);
    GraphModule eager(std::move(g), Attributes{});
    shape_prop(eager, {xv, yv});
    FuseOptions o;
    o.partition.max_tensor_args = 64;
    auto fused = fuse(eager, o);
    auto modules = fused->graph().find_nodes(Op::CallModule);
    ASSERT_EQ(modules.size(), 1u) << fused->graph().str() << explain_fusion(eager, o);
    // Fresh inputs for the run itself.
    xv = layout_input(l, dtype, device), yv = random(l.y, dtype).to(device);
    auto want = eager.forward({xv, yv}).toTuple()->elements();
    auto got = fused->forward({xv, yv}).toTuple()->elements();
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      at::Tensor w = want[i].toTensor(), r = got[i].toTensor();
      ASSERT_EQ(w.sizes(), r.sizes()) << labels[i];
      ASSERT_EQ(w.scalar_type(), r.scalar_type()) << labels[i];
      ASSERT_EQ(r.device().type(), device.type()) << labels[i];
      w = w.cpu(), r = r.cpu();
      if (c10::isFloatingType(w.scalar_type())) {
        at::Tensor wd = w.to(at::kDouble), rd = r.to(at::kDouble);
        EXPECT_TRUE(at::allclose(rd, wd, rtol, atol, /*equal_nan=*/true))
            << labels[i] << ": max abs diff " << (rd - wd).abs().nan_to_num(0).max().item<double>();
      } else {
        EXPECT_TRUE(at::equal(w, r)) << labels[i];
      }
    }
    auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule(modules[0]->target()));
    ASSERT_TRUE(k);
    EXPECT_FALSE(k->fell_back()) << k->fallback_reason();
    if (xv.numel() > 0) {
      EXPECT_EQ(k->kernel_calls(), 1);
    }
    // Every kernel generated here also compiles for the GPU (no GPU needed),
    // flat ones with and without vector accesses.
    if (nvrtc_available() && device.is_cpu()) {
      for (Variant v : k->variants()) {
        v.vec = 1;
        EXPECT_NO_THROW(nvrtc_compile(cuda_source(k->spec(), v, true), "k32", "sm_90"));
        EXPECT_NO_THROW(nvrtc_compile(cuda_source(k->spec(), v, false), "k64", "compute_90"));
        if (v.flat && cuda_vector_width(k->spec(), v.pattern) > 1) {
          v.vec = cuda_vector_width(k->spec(), v.pattern);
          EXPECT_NO_THROW(nvrtc_compile(cuda_source(k->spec(), v, true), "kv", "sm_90"));
        }
      }
    }
  }
}

TEST(FuseCpu, FloatOpsFloat32) { check_all(at::kFloat, float_ops, 1e-5, 1e-5); }
TEST(FuseCpu, FloatOpsFloat64) { check_all(at::kDouble, float_ops, 1e-12, 1e-12); }
TEST(FuseCpu, FloatOpsFloat16) { check_all(at::kHalf, float_ops, 1e-2, 2e-3); }
TEST(FuseCpu, FloatOpsBFloat16) { check_all(at::kBFloat16, float_ops, 2e-2, 1e-2); }
TEST(FuseCpu, IntOpsInt64) { check_all(at::kLong, int_ops, 1e-6, 1e-6); }
TEST(FuseCpu, IntOpsInt32) { check_all(at::kInt, int_ops, 1e-6, 1e-6); }

// The same on a GPU: NVRTC's kernels launched on the current stream.
TEST(FuseCuda, FloatOpsFloat32) {
  FX_REQUIRE_GPU();
  check_all(at::kFloat, float_ops, 1e-5, 1e-5, at::kCUDA);
}
TEST(FuseCuda, FloatOpsFloat16) {
  FX_REQUIRE_GPU();
  check_all(at::kHalf, float_ops, 1e-2, 2e-3, at::kCUDA);
}
TEST(FuseCuda, FloatOpsBFloat16) {
  FX_REQUIRE_GPU();
  check_all(at::kBFloat16, float_ops, 2e-2, 1e-2, at::kCUDA);
}
TEST(FuseCuda, FloatOpsFloat64) {
  FX_REQUIRE_GPU();
  check_all(at::kDouble, float_ops, 1e-12, 1e-12, at::kCUDA);
}
TEST(FuseCuda, IntOpsInt32) {
  FX_REQUIRE_GPU();
  check_all(at::kInt, int_ops, 1e-6, 1e-6, at::kCUDA);
}

std::unique_ptr<GraphModule> chain_module(const std::vector<int64_t>& shape) {
  return test_graphs::chain8(shape);
}

TEST(FuseCpu, RewrittenGraphAndInspection) {
  auto gm = chain_module({8, 16});
  auto fused = fuse(*gm);
  EXPECT_EQ(fused->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %fused_0 : [#users=1] = call_module[target=fused_0](args = (%x, %y), kwargs = {})
    return fused_0)");
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->members(), (std::vector<std::string>{"mul", "add", "sigmoid", "mul_1", "tanh", "sub",
                                                    "relu", "mul_2"}));
  at::Tensor x = at::randn({3, 16}), y = at::randn({3, 16});  // a new batch size
  EXPECT_TRUE(
      at::allclose(fused->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor(), 1e-5, 1e-6));
  auto sources = k->sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_NE(sources.begin()->second.find("tanhf("), std::string::npos);
  EXPECT_NE(sources.begin()->second.find("#pragma omp simd"), std::string::npos);
  // Another size reuses the kernel (no size specialisation).
  fused->forward({at::randn({5, 16}), at::randn({5, 16})});
  EXPECT_EQ(k->sources().size(), 1u);
}

TEST(FuseCpu, ExtraOutputsAndUnfusedNeighbours) {
  auto gm = std::make_unique<GraphModule>(parse_graph(R"(
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = placeholder[target=w]
    %relu : [#users=2] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %exp : [#users=1] = call_function[target=aten::exp](args = (%relu,), kwargs = {})
    %mm : [#users=1] = call_function[target=aten::mm](args = (%relu, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mm, %exp), kwargs = {})
    return add)"),
                                          Attributes{});
  shape_prop(*gm, {at::randn({4, 4}), at::randn({4, 4})});
  auto fused = fuse(*gm);
  at::Tensor x = at::randn({4, 4}), w = at::randn({4, 4});
  EXPECT_TRUE(at::allclose(fused->forward({x, w}).toTensor(), gm->forward({x, w}).toTensor()));
  EXPECT_EQ(fused->graph().find_nodes(Op::CallModule).size(), 1u) << fused->graph().str();
  fused->graph().lint();
}

// Group {relu, neg} feeds both a matmul and group {add, tanh}: the second
// group must read the first group's fused output (it once read the erased
// node and failed with "fusion group input missing").
TEST(FuseCpu, LaterGroupReadsAnEarlierGroupsOutput) {
  auto gm = std::make_unique<GraphModule>(parse_graph(R"(
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = placeholder[target=w]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %neg : [#users=2] = call_function[target=aten::neg](args = (%relu,), kwargs = {})
    %mm : [#users=1] = call_function[target=aten::mm](args = (%neg, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%neg, %mm), kwargs = {})
    %tanh : [#users=1] = call_function[target=aten::tanh](args = (%add,), kwargs = {})
    return tanh)"),
                                          Attributes{});
  shape_prop(*gm, {at::randn({4, 4}), at::randn({4, 4})});
  auto fused = fuse(*gm);
  EXPECT_EQ(fused->graph().find_nodes(Op::CallModule).size(), 2u) << fused->graph().str();
  fused->graph().lint();
  at::Tensor x = at::randn({4, 4}), w = at::randn({4, 4});
  EXPECT_TRUE(at::allclose(fused->forward({x, w}).toTensor(), gm->forward({x, w}).toTensor()));
}

TEST(FuseCpu, MissingTensorMetaIsAClearError) {
  GraphModule gm(parse_graph(R"(
    %x : [#users=1] = placeholder[target=x]
    %exp : [#users=1] = call_function[target=aten::exp](args = (%x,), kwargs = {})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%exp,), kwargs = {})
    return neg)"),
                 Attributes{});
  expect_error([&] { fuse(gm); }, ErrorKind::kCompile,
               {"node 'exp' (call_function aten::exp)", "shape_prop"});
}

TEST(FuseCpu, DisabledByEnvironment) {
  auto gm = chain_module({4});
  setenv("FX_JIT_DISABLE", "1", 1);
  auto fused = fuse(*gm);
  unsetenv("FX_JIT_DISABLE");
  EXPECT_TRUE(fused->graph().find_nodes(Op::CallModule).empty());
  EXPECT_EQ(fused->graph().str(), gm->graph().str());
}

TEST(FuseCpu, CompileErrorFallsBackOnceWithTheLog) {
  auto gm = chain_module({64});
  FuseOptions o;
  o.cpu.flags = {"-DFX_BROKEN", "-include", "/nonexistent/fx_broken.h", "-shared", "-fPIC"};
  auto fused = fuse(*gm, o);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  at::Tensor x = at::randn({64}), y = at::randn({64});
  std::vector<std::string> warnings;
  struct Capture : c10::WarningHandler {
    std::vector<std::string>* out;
    void process(const c10::Warning& w) override { out->push_back(w.msg()); }
  } capture;
  capture.out = &warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&capture);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(at::allclose(fused->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor()));
  EXPECT_TRUE(k->fell_back());
  EXPECT_EQ(k->eager_calls(), 3);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("fx_broken.h"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("nodes mul, add"), std::string::npos) << warnings[0];
}

fs::path fresh_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("fx_jit_test_" + name + "_" + std::to_string(getpid()) + "_" +
                                   std::to_string(at::randint(0, 1 << 30, {1}).item<int64_t>()));
  fs::remove_all(d);
  return d;
}

TEST(FuseCpu, DiskCacheReuseAndCorruptEntry) {
  fs::path dir = fresh_dir("disk");
  FuseOptions o;
  o.cpu.cache_dir = dir.string();
  auto gm = chain_module({100});
  at::Tensor x = at::randn({100}), y = at::randn({100});
  at::Tensor want = gm->forward({x, y}).toTensor();
  auto before = compile_stats();
  EXPECT_TRUE(at::allclose(fuse(*gm, o)->forward({x, y}).toTensor(), want, 1e-5, 1e-6));
  EXPECT_EQ(compile_stats().compiles, before.compiles + 1);
  // A new process sees only the disk: forget the in-memory cache.
  clear_memory_cache();
  EXPECT_TRUE(at::allclose(fuse(*gm, o)->forward({x, y}).toTensor(), want, 1e-5, 1e-6));
  EXPECT_EQ(compile_stats().compiles, before.compiles + 1);
  EXPECT_EQ(compile_stats().disk_hits, before.disk_hits + 1);
  // Corrupt the entry (a new file renamed over it, as a crashed writer could leave).
  int corrupted = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".so") {
      fs::path tmp = e.path().string() + ".garbage";
      std::ofstream(tmp) << "not an ELF file";
      fs::rename(tmp, e.path());
      ++corrupted;
    }
  EXPECT_EQ(corrupted, 1);
  clear_memory_cache();
  auto fused = fuse(*gm, o);
  EXPECT_TRUE(at::allclose(fused->forward({x, y}).toTensor(), want, 1e-5, 1e-6));
  EXPECT_EQ(compile_stats().compiles, before.compiles + 2);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  EXPECT_FALSE(k->fell_back());
  fs::remove_all(dir);
}

// Across processes: DiskCacheReusedAcrossProcesses runs this binary twice
// (only DiskCacheChildProcess, which skips unless run so) on one fresh cache
// dir; the first child compiles, the second must load the kernel from disk and
// compile nothing.
constexpr const char* kChildEnv = "FX_JIT_TEST_CHILD_CACHE_DIR";

TEST(FuseCpu, DiskCacheChildProcess) {
  const char* dir = std::getenv(kChildEnv);
  if (!dir) GTEST_SKIP() << "helper for FuseCpu.DiskCacheReusedAcrossProcesses";
  FuseOptions o;
  o.cpu.cache_dir = dir;
  auto gm = chain_module({100});
  at::Tensor x = at::randn({100}), y = at::randn({100});
  bool ok = at::allclose(fuse(*gm, o)->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor(),
                         1e-5, 1e-6);
  auto s = compile_stats();
  std::printf("FXCHILD ok=%d compiles=%lld disk_hits=%lld\n", ok ? 1 : 0,
              static_cast<long long>(s.compiles), static_cast<long long>(s.disk_hits));
  std::fflush(stdout);
}

TEST(FuseCpu, DiskCacheReusedAcrossProcesses) {
  fs::path dir = fresh_dir("procs");
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  auto run_child = [&](int* ok, long long* compiles, long long* disk_hits) {
    std::string cmd = "env -u GTEST_OUTPUT " + std::string(kChildEnv) + "='" + dir.string() +
                      "' '" + self + "' --gtest_filter=FuseCpu.DiskCacheChildProcess 2>&1";
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
      EXPECT_EQ(pclose(p), 0) << out;
    }
    size_t at = out.find("FXCHILD ");
    ASSERT_NE(at, std::string::npos) << out;
    ASSERT_EQ(std::sscanf(out.c_str() + at, "FXCHILD ok=%d compiles=%lld disk_hits=%lld", ok,
                          compiles, disk_hits),
              3)
        << out;
  };
  int ok = 0;
  long long compiles = -1, disk_hits = -1;
  run_child(&ok, &compiles, &disk_hits);
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(compiles, 1);
  EXPECT_EQ(disk_hits, 0);
  run_child(&ok, &compiles, &disk_hits);
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(compiles, 0);
  EXPECT_EQ(disk_hits, 1);
  fs::remove_all(dir);
}

// Outputs of 32 MiB and more come from the huge-page allocator and the loop
// is split over ATen's threads (flat and N-D variants); results must not change.
TEST(FuseCpu, LargeOutputsAndParallelChunks) {
  auto gm = chain_module({3000, 3000});
  auto fused = fuse(*gm);
  at::Tensor x = at::randn({3000, 3000}), y = at::randn({3000, 3000});
  for (bool transpose : {false, true}) {
    SCOPED_TRACE(transpose ? "transposed" : "contiguous");
    at::Tensor xv = transpose ? x.t() : x;
    at::Tensor want = gm->forward({xv, y}).toTensor();
    at::Tensor got = fused->forward({xv, y}).toTensor();
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6))
        << "max abs diff " << (got - want).abs().max().item<double>();
    got.add_(1);  // an ordinary, writable tensor
    got.resize_({10});
    EXPECT_EQ(got.numel(), 10);
  }
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kernel_calls(), 2);
  EXPECT_EQ(k->variants().size(), 2u);
}

TEST(FuseCpu, EightThreadsShareOneFusedModule) {
  clear_memory_cache();
  FuseOptions o;
  o.cpu.cache_dir = fresh_dir("threads").string();
  o.cpu.disk_cache = false;
  auto gm = chain_module({1000});
  auto fused = fuse(*gm, o);
  auto before = compile_stats();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        // Sizes differ (odd threads also split their loop over ATen's
        // threads), the layout does not: never more than one kernel.
        int64_t n = t % 2 ? 70007 : 1000;
        at::Tensor x = at::randn({n}), y = at::randn({n});
        if (!at::allclose(fused->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor(), 1e-5,
                          1e-6))
          ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(compile_stats().compiles, before.compiles + 1);
}

}  // namespace
}  // namespace fx::jit
