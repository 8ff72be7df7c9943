// CUDA row kernels (jit/cuda_row_codegen.cpp, jit/cuda_row_launch.cpp).
// Without a GPU: every operator's row kernel, in float32, float16 and
// bfloat16, one warp and one block per row, with and without vector accesses
// and strided walks, 32- and 64-bit indexing, compiles with NVRTC. With a
// GPU: each runs against eager LibTorch on fresh random inputs (short, long
// and very long rows, rows of length 1, empty tensors, -inf and NaN,
// non-contiguous and channels-last inputs).
#include <atomic>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/kernel.h"
#include "jit/nvrtc.h"
#include "runtime/shape_prop.h"
#include "tests/jit/row_checks.h"

namespace fx::jit {
namespace {

using namespace row_checks;

#define FX_REQUIRE_GPU()                                                          \
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device is usable on this machine"; \
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit"

// One operator of the row-kernel table between an elementwise prologue and
// epilogue; `inputs` makes its inputs for rows x n.
struct RowCase {
  std::string name;   // the reduction's node name
  std::string label;  // what make_case builds (the name unless it says more)
  Build build;
  std::function<std::vector<at::Tensor>(int64_t rows, int64_t n, at::ScalarType)> inputs;
};

// x * 2 - 1 -> target(dims=[-1]) -> * 3.
RowCase reduce_case(const std::string& target, const std::string& name,
                    std::function<Args(Node*)> args, Kwargs kwargs = {}) {
  RowCase c;
  c.name = name;
  c.build = [=](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* t = g.call_function("aten::mul.Scalar", {in[0], 2.0});
    t = g.call_function("aten::sub.Scalar", {t, 1.0});
    Node* red = g.call_function(target, args(t), kwargs);
    outs.emplace_back(g.call_function("aten::mul.Scalar", {red, 3.0}));
  };
  c.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({rows, n}, t)};
  };
  return c;
}

std::vector<RowCase> row_cases() {
  std::vector<RowCase> cases;
  auto keep = [](Node* x) { return Args{x, ints({-1}), true}; };
  cases.push_back(reduce_case("aten::sum.dim_IntList", "sum_1", keep));
  cases.push_back(reduce_case("aten::mean.dim", "mean", keep));
  cases.push_back(reduce_case("aten::amax", "amax", keep));
  cases.push_back(reduce_case("aten::amin", "amin", [](Node* x) { return Args{x, ints({-1})}; }));
  cases.push_back(reduce_case("aten::var.correction", "var",
                              [](Node* x) {
                                return Args{x, ints({-1})};
                              },
                              {{"correction", 1}, {"keepdim", true}}));
  cases.push_back(reduce_case("aten::std.dim", "std", [](Node* x) {
    return Args{x, ints({-1}), false, true};
  }));
  cases.push_back(reduce_case("aten::log_softmax.int", "log_softmax", [](Node* x) {
    return Args{x, -1};
  }));
  RowCase sm;
  sm.name = "softmax";
  sm.build = scaled_masked_softmax();
  sm.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({rows, n}, t), rnd({n}, t)};
  };
  cases.push_back(sm);
  RowCase ln;
  ln.name = "layer_norm";
  ln.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({rows, n}, t), rnd({rows, n}, t), rnd({n}, t), rnd({n}, t)};
  };
  // normalized_shape is fixed: the builder is made per n (make_case below).
  cases.push_back(ln);
  RowCase nln = ln;
  nln.name = "native_layer_norm";
  cases.push_back(nln);
  RowCase rms;
  rms.name = "rms_norm";
  rms.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({rows, n}, t), rnd({rows, n}, t), rnd({n}, t)};
  };
  cases.push_back(rms);
  RowCase se;
  se.name = "adaptive_avg_pool2d";
  se.build = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* m = g.call_function("aten::adaptive_avg_pool2d", {in[0], ints({1, 1})});
    outs.emplace_back(
        g.call_function("aten::mul.Tensor", {in[0], g.call_function("aten::sigmoid", {m})}));
  };
  se.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({2, rows, 1, n}, t)};
  };
  cases.push_back(se);
  RowCase gn;
  gn.name = "group_norm";
  gn.inputs = [](int64_t rows, int64_t n, at::ScalarType t) {
    return std::vector<at::Tensor>{rnd({1, rows, n}, t), rnd({rows}, t), rnd({rows}, t)};
  };
  cases.push_back(gn);
  // group_norm with 4 channels per group: rows reduced in groups.
  RowCase gg = gn;
  gg.label = "group_norm/4";
  cases.push_back(gg);
  for (RowCase& c : cases)
    if (c.label.empty()) c.label = c.name;
  return cases;
}

// The builder of c for rows of n (the norms fix their row length; group_norm
// its channel count, here `rows`, in groups of one channel or, for
// "group_norm/4", of four).
Build make_case(const RowCase& c, int64_t rows, int64_t n) {
  if (c.label == "group_norm/4")
    return [rows](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* t = g.call_function("aten::mul.Scalar", {in[0], 2.0});
      Node* y = g.call_function("aten::group_norm", {t, rows / 4, in[1], in[2]}, {{"eps", 1e-5}});
      outs.emplace_back(g.call_function("aten::silu", {y}));
    };
  if (c.name == "layer_norm") return add_layer_norm(n);
  if (c.name == "native_layer_norm")
    return [n](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
      Node* ln = g.call_function("aten::native_layer_norm", {h, ints({n}), in[2], in[3], 1e-5});
      outs.emplace_back(
          g.call_function("aten::relu", {g.call_function("getitem", {ln, int64_t{0}})}));
      outs.emplace_back(g.call_function("getitem", {ln, int64_t{1}}));
      outs.emplace_back(g.call_function("getitem", {ln, int64_t{2}}));
    };
  if (c.name == "rms_norm")
    return [n](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
      outs.emplace_back(g.call_function("aten::rms_norm", {h, ints({n}), in[2], 1e-6}));
    };
  if (c.name == "group_norm")
    return [rows](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* t = g.call_function("aten::mul.Scalar", {in[0], 2.0});
      Node* y = g.call_function("aten::group_norm", {t, rows, in[1], in[2]}, {{"eps", 1e-5}});
      outs.emplace_back(g.call_function("aten::silu", {y}));
    };
  return c.build;
}

// The fused module of c on CPU meta (the spec does not depend on the device).
std::shared_ptr<FusedKernel> row_kernel_of(const RowCase& c, at::ScalarType t,
                                           std::unique_ptr<GraphModule>* keep) {
  const int64_t rows = 4, n = 64;
  std::vector<at::Tensor> in = c.inputs(rows, n, t);
  auto gm = module_of(make_case(c, rows, n), in.size());
  shape_prop(*gm, std::vector<c10::IValue>(in.begin(), in.end()));
  *keep = fuse(*gm);
  auto kernels = row_kernels(**keep);
  EXPECT_EQ(kernels.size(), 1u) << explain_fusion(*gm);
  return kernels.empty() ? nullptr : kernels[0];
}

// A variant of k's spec: every full-size argument and output walking `walk`
// ('c' or 's'), row arguments broadcast, `rank` outer dims.
Variant variant_of(const KernelSpec& spec, char mode, int vec, char walk, int rank,
                   char out_walk = 0) {
  Variant v;
  v.rows = true;
  v.flat = false;
  v.rank = rank;
  v.row_mode = mode;
  v.vec = vec;
  for (size_t a = 0; a < spec.arg_view.size(); ++a)
    v.pattern += spec.arg_view[a] == 'f' ? walk : 'b';
  v.pattern += '_';
  for (char o : spec.out_view)
    if (o == 'f') v.pattern += out_walk ? out_walk : walk;
  return v;
}

TEST(CudaRowsSource, EveryOperatorDtypeAndStrategyCompilesWithNvrtc) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  std::vector<std::pair<std::string, std::string>> sources;  // (what, source)
  for (const RowCase& c : row_cases())
    for (at::ScalarType t : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(c.label + " " + c10::toString(t));
      std::unique_ptr<GraphModule> keep;
      auto k = row_kernel_of(c, t, &keep);
      ASSERT_TRUE(k);
      EXPECT_EQ(k->spec().reductions, std::vector<std::string>{c.name});
      const int vec = 16 / static_cast<int>(c10::elementSize(t));
      // One warp per row with vectors, 32-bit indices, one outer dim; one
      // block per row: scalar with 64-bit indices and two outer dims (float),
      // strided arguments with vector stores and no outer dims (half), scalar
      // strided walks (bfloat16).
      struct V {
        char mode;
        int vec;
        char walk;
        int rank;
        bool index32;
        char out_walk;
      } variants[] = {{'w', vec, 'c', 1, true, 'c'},
                      t == at::kFloat  ? V{'b', 1, 'c', 2, false, 'c'}
                      : t == at::kHalf ? V{'b', vec, 's', 0, true, 'c'}
                                       : V{'b', 1, 's', 1, false, 's'}};
      for (const V& vv : variants) {
        Variant v = variant_of(k->spec(), vv.mode, vv.vec, vv.walk, vv.rank, vv.out_walk);
        SCOPED_TRACE(v.key());
        const std::string src = k->cuda_source(v, vv.index32);
        EXPECT_NE(src.find(vv.mode == 'w' ? "fx_warp_reduce<" : "fx_block_reduce<"),
                  std::string::npos)
            << src;
        if (vv.vec > 1 && vv.walk == 'c') {
          EXPECT_NE(src.find("FxVec<"), std::string::npos) << src;
        }
        if (vv.vec == 1) {
          EXPECT_EQ(src.find("FxVec<"), std::string::npos) << src;
        }
        if (vv.walk == 's') {
          EXPECT_NE(src.find("[j * s"), std::string::npos) << src;
        }
        EXPECT_NE(src.find(vv.index32 ? "typedef int index_t" : "typedef long long index_t"),
                  std::string::npos);
        if (c.label == "group_norm/4") {
          EXPECT_NE(src.find("for (index_t o = o0; o < o0 + 4; ++o)"), std::string::npos) << src;
        }
        sources.emplace_back(c.label + " " + c10::toString(t) + " " + v.key(), src);
      }
    }
  ASSERT_EQ(sources.size(), 14u * 3 * 2);
  // NVRTC is thread-safe: two threads halve the wait.
  std::vector<std::string> errors(sources.size());
  std::atomic<size_t> next{0};
  auto compile_some = [&] {
    for (size_t i = next++; i < sources.size(); i = next++) {
      try {
        nvrtc_compile(sources[i].second, "rows", "sm_90");
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    }
  };
  std::thread other(compile_some);
  compile_some();
  other.join();
  for (size_t i = 0; i < sources.size(); ++i)
    EXPECT_TRUE(errors[i].empty()) << sources[i].first << ": " << errors[i] << "\n"
                                   << sources[i].second;
}

TEST(CudaRowsSource, DoubleAndPtxCompile) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  for (const RowCase& c : row_cases()) {
    if (c.name != "softmax" && c.name != "var" && c.name != "native_layer_norm") continue;
    SCOPED_TRACE(c.name);
    std::unique_ptr<GraphModule> keep;
    auto k = row_kernel_of(c, at::kDouble, &keep);
    ASSERT_TRUE(k);
    for (char mode : {'w', 'b'}) {
      const std::string src = k->cuda_source(variant_of(k->spec(), mode, 2, 'c', 1), false);
      EXPECT_NE(src.find("double"), std::string::npos);
      EXPECT_NO_THROW(nvrtc_compile(src, "rows", "compute_90"));
    }
  }
}

TEST(CudaRowsSource, KeysNameTheStrategy) {
  Variant v;
  v.rows = true;
  v.rank = 1;
  v.pattern = "cb_c";
  EXPECT_EQ(v.key(), "rows1_cb_c");  // the host kernel's key is unchanged
  v.row_mode = 'w';
  v.vec = 4;
  EXPECT_EQ(v.key(), "rows1_cb_c_w_v4");
  v.row_mode = 'b';
  v.vec = 1;
  EXPECT_EQ(v.key(), "rows1_cb_c_b");
}

// ---- with a GPU --------------------------------------------------------------

std::vector<at::Tensor> on_cuda(std::vector<at::Tensor> in) {
  for (at::Tensor& t : in) t = t.cuda();
  return in;
}

double tol_of(at::ScalarType t) { return t == at::kHalf ? 5e-3 : t == at::kBFloat16 ? 3e-2 : 1e-4; }

TEST(CudaRowsRun, EveryOperatorShortLongAndVeryLongRows) {
  FX_REQUIRE_GPU();
  for (const RowCase& c : row_cases())
    for (at::ScalarType t : {at::kFloat, at::kHalf, at::kBFloat16})
      // warp per row (with and without vectors: 33 is odd), block per row,
      // and rows too long for one pass of a block.
      for (auto [rows, n] : std::vector<std::pair<int64_t, int64_t>>{
               {300, 128}, {64, 33}, {40, 768}, {20, 4096}, {3, 1 << 20}}) {
        if (c.name == "group_norm" && n == (1 << 20)) n = 1 << 16;
        if (c.label == "group_norm/4" && rows % 4 != 0) rows = 8;
        SCOPED_TRACE(c.label + " " + c10::toString(t) + " " + std::to_string(rows) + "x" +
                     std::to_string(n));
        const double tol = tol_of(t);
        check(make_case(c, rows, n), on_cuda(c.inputs(rows, n, t)), {on_cuda(c.inputs(rows, n, t))},
              {c.name}, tol, c.name.find("norm") != std::string::npos ? 4 * tol : tol);
      }
}

TEST(CudaRowsRun, RowsOfOneEmptyAndOtherShapes) {
  FX_REQUIRE_GPU();
  auto b = scaled_masked_softmax();
  // Another rank than at fuse time: eager decides the output shapes.
  check(b, on_cuda({rnd({4, 50}), rnd({50})}), {on_cuda({rnd({2, 3, 50}), rnd({50})})}, {"softmax"},
        1e-5, 1e-6, /*expect_kernel=*/false);
  check(b, on_cuda({rnd({4, 50}), rnd({50})}),
        {on_cuda({rnd({4, 1}), rnd({1})}), on_cuda({rnd({1000, 7}), rnd({7})})}, {"softmax"}, 1e-5,
        1e-6);
  check(b, on_cuda({rnd({6, 10}), rnd({10})}),
        {on_cuda({rnd({0, 10}), rnd({10})}), on_cuda({rnd({3, 0}), rnd({0})})}, {"softmax"}, 0, 0,
        /*expect_kernel=*/false);
}

TEST(CudaRowsRun, SoftmaxAndAmaxWithInfAndNaN) {
  FX_REQUIRE_GPU();
  for (int64_t n : {40, 3000}) {
    SCOPED_TRACE(n);
    at::Tensor x = rnd({6, n}), m = at::zeros({n});
    const float inf = std::numeric_limits<float>::infinity();
    x[0].fill_(-inf);
    x[1].slice(0, 0, n / 2).fill_(-inf);
    x[2][7] = std::numeric_limits<float>::quiet_NaN();
    x[3][3] = inf;
    for (const char* t : {"aten::softmax.int", "aten::log_softmax.int"})
      check(scaled_masked_softmax(t), on_cuda({rnd({6, n}), m}), {on_cuda({x, m})}, {name_of(t)},
            1e-5, 1e-6);
    Build mm = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* t = g.call_function("aten::add.Scalar", {in[0], 1.0});
      Node* mx = g.call_function("aten::amax", {t, ints({1})});
      Node* mn = g.call_function("aten::amin", {t, ints({1})});
      outs.emplace_back(g.call_function("aten::sub.Tensor", {mx, mn}));
    };
    check(mm, on_cuda({rnd({6, n})}), {on_cuda({x})}, {"amax", "amin"}, 0, 0);
  }
}

TEST(CudaRowsRun, NonContiguousAndChannelsLast) {
  FX_REQUIRE_GPU();
  auto b = scaled_masked_softmax();
  // A transposed input walks its rows with a stride; a sliced one starts
  // rows unaligned (no vectors).
  check(b, on_cuda({rnd({6, 100}), rnd({100})}),
        {{rnd({100, 6}).cuda().t(), rnd({100}).cuda()},
         {rnd({6, 101}).cuda().slice(1, 1), rnd({100}).cuda()}},
        {"softmax"}, 1e-5, 1e-6);
  // Squeeze-and-excitation on channels-last: the output is channels last too.
  Build se = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* m = g.call_function("aten::mean.dim", {in[0], ints({2, 3}), true});
    outs.emplace_back(
        g.call_function("aten::mul.Tensor", {in[0], g.call_function("aten::sigmoid", {m})}));
  };
  at::Tensor nhwc = rnd({4, 32, 14, 14}).cuda().contiguous(at::MemoryFormat::ChannelsLast);
  auto fused = check(se, {rnd({4, 32, 14, 14}).cuda()}, {{nhwc}, {rnd({2, 32, 7, 7}).cuda()}},
                     {"mean"}, 1e-5, 1e-6);
  EXPECT_TRUE(fused->forward({nhwc}).toTensor().is_contiguous(at::MemoryFormat::ChannelsLast));
}

TEST(CudaRowsRun, IssueShapes) {
  FX_REQUIRE_GPU();
  // softmax(x * scale + mask) over [B * heads * 128, 128] and [N, 4096];
  // add + layer_norm over 768 and 4096, in float16 too.
  for (at::ScalarType t : {at::kFloat, at::kHalf}) {
    const double tol = tol_of(t);
    check(scaled_masked_softmax(), on_cuda({rnd({8 * 12 * 128, 128}, t), rnd({128}, t)}),
          {on_cuda({rnd({8 * 12 * 128, 128}, t), rnd({128}, t)})}, {"softmax"}, tol, tol);
    check(scaled_masked_softmax(), on_cuda({rnd({256, 4096}, t), rnd({4096}, t)}),
          {on_cuda({rnd({256, 4096}, t), rnd({4096}, t)})}, {"softmax"}, tol, tol);
    for (int64_t n : {768, 4096})
      check(add_layer_norm(n),
            on_cuda({rnd({512, n}, t), rnd({512, n}, t), rnd({n}, t), rnd({n}, t)}),
            {on_cuda({rnd({512, n}, t), rnd({512, n}, t), rnd({n}, t), rnd({n}, t)})},
            {"layer_norm"}, tol, 4 * tol);
  }
}

}  // namespace
}  // namespace fx::jit
