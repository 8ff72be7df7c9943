// Load and limits for fused modules on the CPU: 16 threads sharing one fused
// GraphModule while new layouts appear mid-run (every result checked, every
// kernel compiled exactly once), and one operand just past 2^31 elements.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "jit/cpu_compiler.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "runtime/shape_prop.h"
#include "tests/jit/test_graphs.h"

namespace fx::jit {
namespace {

std::unique_ptr<GraphModule> sigmoid_chain() {
  auto gm = std::make_unique<GraphModule>(parse_graph(R"(
graph():
    %x : [#users=2] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %x), kwargs = {})
    %sig : [#users=1] = call_function[target=aten::sigmoid](args = (%add,), kwargs = {})
    return sig)"),
                                          Attributes{});
  shape_prop(*gm, {at::randn({8, 8}), at::randn({8, 8})});
  return gm;
}

TEST(FuseStress, SixteenThreadsNewLayoutsMidRunCompileOnce) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("fx_fuse_stress_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  clear_memory_cache();
  auto gm = sigmoid_chain();
  FuseOptions o;
  o.cpu.cache_dir = dir.string();
  o.cpu.disk_cache = false;  // every kernel this test needs is compiled here, once
  std::shared_ptr<GraphModule> fused = fuse(*gm, o);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  const auto before = compile_stats();
  std::atomic<int> checked{0}, wrong{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300 && (i < 160 || std::chrono::steady_clock::now() < deadline); ++i) {
        // Contiguous inputs of changing sizes first; half way through, also a
        // broadcast y and a transposed x (two new layouts, each a new kernel).
        const int64_t rows = 1 + (t * 7 + i) % 33, cols = 16 + (i % 5);
        at::Tensor x = at::randn({rows, cols}), y = at::randn({rows, cols});
        if (i >= 150 && i % 3 == 1) y = at::randn({cols});
        if (i >= 150 && i % 3 == 2) x = at::randn({cols, rows}).t();
        at::Tensor got = fused->forward({x, y}).toTensor();
        if (!at::allclose(got, at::sigmoid(x * y + x), 1e-5, 1e-6)) ++wrong;
        ++checked;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(checked.load(), 16 * 160);  // at least past the layout change in every thread
  std::set<std::string> layouts;
  for (const Variant& v : k->variants()) layouts.insert(v.key());
  EXPECT_EQ(layouts.size(), 3u);  // flat_cc, flat_cb, and the strided 2-D one
  EXPECT_EQ(compile_stats().compiles - before.compiles, static_cast<int64_t>(layouts.size()));
  EXPECT_EQ(k->eager_calls(), 0);
  std::filesystem::remove_all(dir);
}

// An operand of 2^31 + 4099 one-byte elements: offsets past int32 on the CPU
// path (its loops index with int64_t), checked against eager once.
TEST(FuseLimits, OperandPastTwoToTheThirtyOne) {
  const int64_t n = (int64_t{1} << 31) + 4099;
  auto gm = test_graphs::add3_mul2_bytes();
  auto fused = fuse(*gm);
  at::Tensor x;
  try {
    x = at::randint(0, 100, {n}, at::TensorOptions().dtype(at::kByte));
  } catch (const std::exception&) {
    GTEST_SKIP() << "cannot allocate 2 GiB for the input on this machine";
  }
  at::Tensor got = fused->forward({x}).toTensor();
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kernel_calls(), 1);
  ASSERT_EQ(got.numel(), n);
  // The tail, past 2^31, and a sample everywhere else.
  at::Tensor tail = x.narrow(0, n - 8192, 8192);
  EXPECT_TRUE(at::equal(got.narrow(0, n - 8192, 8192), (tail + 3) * 2));
  at::Tensor idx = at::randint(0, n, {1 << 20}, at::kLong);
  EXPECT_TRUE(at::equal(got.index_select(0, idx), (x.index_select(0, idx) + 3) * 2));
}

}  // namespace
}  // namespace fx::jit
