// Row kernels: reductions and normalizations fused with their elementwise
// neighbours (jit/reductions.h, Note [Row kernels] in jit/kernel.h). Every
// case runs the fused module against the unfused graph (eager LibTorch) on
// fresh random inputs, and checks that the fused kernel really ran.
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <thread>

#include "capture/tracer.h"
#include "serialize/serialize.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/fused_serialize.h"
#include "runtime/shape_prop.h"
#include "tests/jit/row_checks.h"
#include "tests/saved_files.h"

namespace fx::jit {
namespace {

using namespace row_checks;

TEST(FuseReduction, ScaledMaskedSoftmax2d) {
  check(scaled_masked_softmax(), {rnd({64, 128}), rnd({128})},
        {{rnd({64, 128}), rnd({128})}, {rnd({7, 128}), rnd({128})}}, {"softmax"}, 1e-5, 1e-6);
}

TEST(FuseReduction, ScaledMaskedSoftmaxAttentionMask) {
  // [B, heads, S, S] with a [B, 1, S, S] mask broadcast over heads.
  check(scaled_masked_softmax(), {rnd({2, 4, 32, 32}), rnd({2, 1, 32, 32})},
        {{rnd({2, 4, 32, 32}), rnd({2, 1, 32, 32})}, {rnd({3, 4, 32, 32}), rnd({3, 1, 32, 32})}},
        {"softmax"}, 1e-5, 1e-6);
}

TEST(FuseReduction, SoftmaxOverloadsAndLogSoftmax) {
  for (const char* t :
       {"aten::_softmax", "aten::log_softmax.int", "aten::_log_softmax"}) {
    SCOPED_TRACE(t);
    check(scaled_masked_softmax(t), {rnd({16, 100}), rnd({100})},
          {{rnd({16, 100}), rnd({100})}, {rnd({5, 33}), rnd({33})}},
          {name_of(t)},
          1e-5, 1e-5);
  }
}

TEST(FuseReduction, SoftmaxInfAndNaN) {
  // Rows of all -inf (NaN in eager), some -inf (zeros), a NaN (all NaN), +inf.
  at::Tensor x = rnd({6, 40}), m = at::zeros({40});
  const float inf = std::numeric_limits<float>::infinity();
  x[0].fill_(-inf);
  x[1].slice(0, 0, 20).fill_(-inf);
  x[2][7] = std::numeric_limits<float>::quiet_NaN();
  x[3][3] = inf;
  for (const char* t : {"aten::softmax.int", "aten::log_softmax.int"}) {
    SCOPED_TRACE(t);
    check(scaled_masked_softmax(t), {rnd({6, 40}), m}, {{x, m}}, {name_of(t)}, 1e-5, 1e-6);
  }
}

TEST(FuseReduction, AddLayerNorm) {
  for (int64_t n : {768, 37}) {
    SCOPED_TRACE(n);
    auto fused = check(add_layer_norm(n), {rnd({16, n}), rnd({16, n}), rnd({n}), rnd({n})},
                       {{rnd({16, n}), rnd({16, n}), rnd({n}), rnd({n})},
                        {rnd({3, n}), rnd({3, n}), rnd({n}), rnd({n})}},
                       {"layer_norm"}, 1e-4, 1e-5);
  }
  check(add_layer_norm(64, false), {rnd({8, 64}), rnd({8, 64})},
        {{rnd({8, 64}) * 100 + 5, rnd({8, 64})}}, {"layer_norm"}, 1e-4, 1e-4);
}

TEST(FuseReduction, LayerNormOverTwoDimsWithEpilogue) {
  // layer_norm over [4, 8] of x + 1, then gelu of the result.
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* h = g.call_function("aten::add.Scalar", {in[0], 1.0});
    Node* ln = g.call_function("aten::layer_norm", {h, ints({4, 8}), in[1], in[2]});
    outs.emplace_back(g.call_function("aten::gelu", {ln}));
  };
  check(b, {rnd({3, 4, 8}), rnd({4, 8}), rnd({4, 8})},
        {{rnd({3, 4, 8}), rnd({4, 8}), rnd({4, 8})}, {rnd({5, 4, 8}), rnd({4, 8}), rnd({4, 8})}},
        {"layer_norm"}, 1e-4, 1e-5);
}

TEST(FuseReduction, RowReductionsKeepdimAndNot) {
  // Each reduction of x * 2 - 1, with a row epilogue (r * 3) and, for keepdim,
  // a full-size one (x - r).
  struct R {
    const char* target;
    std::function<Args(Node*, Argument dims, bool keep)> args;
    Kwargs kwargs;
  };
  auto plain = [](Node* x, Argument d, bool keep) { return Args{x, d, keep}; };
  const R reds[] = {
      {"aten::sum.dim_IntList", plain, {}},
      {"aten::mean.dim", plain, {}},
      {"aten::amax", plain, {}},
      {"aten::amin", plain, {}},
      {"aten::var.dim", [](Node* x, Argument d, bool keep) { return Args{x, d, true, keep}; }, {}},
      {"aten::std.dim", [](Node* x, Argument d, bool keep) { return Args{x, d, false, keep}; }, {}},
      {"aten::var.correction", [](Node* x, Argument d, bool) { return Args{x, d}; },
       {{"correction", 0}, {"keepdim", true}}},
      {"aten::std.correction", [](Node* x, Argument d, bool) { return Args{x, d}; },
       {{"correction", 2}, {"keepdim", false}}},
  };
  for (const R& r : reds)
    for (int k : {1, 2})
      for (bool keep : {true, false}) {
        bool keep_eff = keep;
        for (const auto& kv : r.kwargs)
          if (kv.first == "keepdim") keep_eff = kv.second.to_bool();
        SCOPED_TRACE(std::string(r.target) + " k=" + std::to_string(k) +
                     (keep_eff ? " keepdim" : ""));
        Build b = [&](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
          Node* t = g.call_function("aten::mul.Scalar", {in[0], 2.0});
          t = g.call_function("aten::sub.Scalar", {t, 1.0});
          Argument dims = k == 1 ? ints({-1}) : ints({1, 2});
          Node* red = g.call_function(r.target, r.args(t, dims, keep), r.kwargs);
          outs.emplace_back(g.call_function("aten::mul.Scalar", {red, 3.0}));
          if (keep_eff) outs.emplace_back(g.call_function("aten::sub.Tensor", {in[0], red}));
        };
        check(b, {rnd({6, 5, 30})},
              {{rnd({6, 5, 30})}, {rnd({2, 3, 1})}, {rnd({4, 1, 2})}, {rnd({3, 7, 1000})}},
              {name_of(r.target)}, 1e-4, 1e-5);
      }
}

TEST(FuseReduction, RowInputsAndTwoViewsOfOneInput) {
  // b [R] is added to the dropped row sum; c [R, 1] scales the kept mean and
  // is also added to every element (one input read per row and per element).
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* t = g.call_function("aten::mul.Tensor", {in[0], in[0]});
    Node* s = g.call_function("aten::sum.dim_IntList", {t, ints({-1})});
    outs.emplace_back(g.call_function("aten::add.Tensor", {s, in[1]}));
    Node* m = g.call_function("aten::mean.dim", {t, ints({-1}), true});
    Node* mc = g.call_function("aten::mul.Tensor", {m, in[2]});
    Node* d = g.call_function("aten::sub.Tensor", {t, mc});
    outs.emplace_back(g.call_function("aten::add.Tensor", {d, in[2]}));
  };
  check(b, {rnd({10, 24}), rnd({10}), rnd({10, 1})},
        {{rnd({10, 24}), rnd({10}), rnd({10, 1})}, {rnd({3, 5}), rnd({3}), rnd({3, 1})}},
        {"sum_1", "mean"}, 1e-5, 1e-5);
}

TEST(FuseReduction, DroppedRowsDoNotBroadcastAlongTheRow) {
  // x [8, 8] - sum(x, -1): the [8] sum broadcasts along the last dim (column
  // j gets row j's sum), not per row; it must stay out of the row kernel.
  // exp(x), the sum and its double share a row kernel; sub and relu form an
  // elementwise one that reads its outputs.
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* e = g.call_function("aten::exp", {in[0]});
    Node* s = g.call_function("aten::sum.dim_IntList", {e, ints({-1})});
    Node* s2 = g.call_function("aten::mul.Scalar", {s, 2.0});
    Node* d = g.call_function("aten::sub.Tensor", {e, s2});
    outs.emplace_back(g.call_function("aten::relu", {d}));
  };
  auto fused = check(b, {rnd({8, 8})}, {{rnd({8, 8})}}, {"sum_1"}, 1e-5, 1e-5);
  auto gm = module_of(b, 1);
  shape_prop(*gm, {rnd({8, 8})});
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("group 0: exp sum_1 mul (row kernel"), std::string::npos) << e;
  EXPECT_NE(e.find("group 1: sub relu (inputs: exp mul;"), std::string::npos) << e;
}

TEST(FuseReduction, TwoReductionsOneKernel) {
  // mean and amax of the same rows, and x - mean + amax.
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* t = g.call_function("aten::exp", {in[0]});
    Node* m = g.call_function("aten::mean.dim", {t, ints({-1}), true});
    Node* mx = g.call_function("aten::amax", {t, ints({-1}), true});
    Node* d = g.call_function("aten::sub.Tensor", {t, m});
    outs.emplace_back(g.call_function("aten::add.Tensor", {d, mx}));
  };
  check(b, {rnd({9, 64})}, {{rnd({9, 64})}, {rnd({4, 3})}}, {"mean", "amax"}, 1e-5, 1e-5);
}

TEST(FuseReduction, RmsNorm) {
  for (bool eps : {true, false}) {
    SCOPED_TRACE(eps ? "eps=1e-6" : "eps=None");
    Build b = [eps](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
      Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
      Args a{h, ints({256}), in[2]};
      if (eps) a.emplace_back(1e-6);
      outs.emplace_back(g.call_function("aten::rms_norm", a));
    };
    check(b, {rnd({12, 256}), rnd({12, 256}), rnd({256})},
          {{rnd({12, 256}), rnd({12, 256}), rnd({256})},
           {rnd({1, 256}), rnd({1, 256}), rnd({256})}},
          {"rms_norm"}, 1e-5, 1e-5);
  }
}

// x -> x * sigmoid(mean(x, [2, 3], keepdim)) (squeeze-and-excitation without
// its two 1x1 convolutions), or with adaptive_avg_pool2d(x, 1).
Build se_block(bool pool) {
  return [pool](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* m = pool ? g.call_function("aten::adaptive_avg_pool2d", {in[0], ints({1, 1})})
                   : g.call_function("aten::mean.dim", {in[0], ints({2, 3}), true});
    Node* s = g.call_function("aten::sigmoid", {m});
    outs.emplace_back(g.call_function("aten::mul.Tensor", {in[0], s}));
  };
}

TEST(FuseReduction, SqueezeExcitationNchwAndNhwc) {
  for (bool pool : {false, true}) {
    SCOPED_TRACE(pool ? "adaptive_avg_pool2d" : "mean");
    at::Tensor nhwc = rnd({2, 16, 7, 7}).contiguous(at::MemoryFormat::ChannelsLast);
    auto fused = check(se_block(pool), {rnd({2, 16, 7, 7})},
                       {{rnd({2, 16, 7, 7})}, {rnd({1, 3, 5, 4})}, {nhwc}},
                       {pool ? "adaptive_avg_pool2d" : "mean"}, 1e-5, 1e-6);
    // A channels-last input gives a channels-last output, as in eager.
    at::Tensor y = fused->forward({nhwc}).toTensor();
    EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_FALSE(y.is_contiguous());
  }
  // Traced channels last: the fuse-time layout does not matter either.
  at::Tensor nhwc = rnd({2, 16, 7, 7}).contiguous(at::MemoryFormat::ChannelsLast);
  check(se_block(false), {nhwc}, {{rnd({2, 16, 7, 7}).contiguous(at::MemoryFormat::ChannelsLast)},
                                  {rnd({2, 16, 7, 7})}},
        {"mean"}, 1e-5, 1e-6);
  // layer_norm over [C, H, W] of a channels-last tensor: the output cannot walk
  // its rows in one stride, so it comes out contiguous (values as eager).
  Build ln = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* h = g.call_function("aten::mul.Scalar", {in[0], 3.0});
    outs.emplace_back(g.call_function("aten::layer_norm", {h, ints({8, 5, 5})}));
  };
  {
    at::Tensor x = rnd({3, 8, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
    check(ln, {rnd({3, 8, 5, 5})}, {{x}}, {"layer_norm"}, 1e-4, 1e-5);
  }
}

TEST(FuseReduction, HalfTypes) {
  for (at::ScalarType t : {at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(t));
    const double tol = t == at::kHalf ? 5e-3 : 3e-2;
    check(scaled_masked_softmax(), {rnd({8, 64}, t), rnd({64}, t)},
          {{rnd({8, 64}, t), rnd({64}, t)}}, {"softmax"}, tol, tol);
    check(add_layer_norm(96), {rnd({4, 96}, t), rnd({4, 96}, t), rnd({96}, t), rnd({96}, t)},
          {{rnd({4, 96}, t), rnd({4, 96}, t), rnd({96}, t), rnd({96}, t)}}, {"layer_norm"}, tol,
          4 * tol);
    check(se_block(false), {rnd({2, 8, 5, 5}, t)}, {{rnd({2, 8, 5, 5}, t)}}, {"mean"}, tol, tol);
  }
  check(scaled_masked_softmax(), {rnd({8, 64}, at::kDouble), rnd({64}, at::kDouble)},
        {{rnd({8, 64}, at::kDouble), rnd({64}, at::kDouble)}}, {"softmax"}, 1e-12, 1e-14);
}

TEST(FuseReduction, RowsOfOneLongRowsEmptyAndStrided) {
  auto b = scaled_masked_softmax();
  check(b, {rnd({4, 50}), rnd({50})}, {{rnd({4, 1}), rnd({1})}}, {"softmax"}, 1e-6, 1e-7);
  // One very long row, and many short ones.
  check(b, {rnd({4, 50}), rnd({50})}, {{rnd({2, 1 << 20}) * 4, rnd({1 << 20})}}, {"softmax"}, 1e-4,
        1e-9);
  check(add_layer_norm(1 << 18, false), {rnd({2, 1 << 18}), rnd({2, 1 << 18})},
        {{rnd({2, 1 << 18}) + 3, rnd({2, 1 << 18})}}, {"layer_norm"}, 1e-4, 1e-4);
  // Non-contiguous x (a transpose): the row walks with a stride.
  check(b, {rnd({6, 10}), rnd({10})}, {{rnd({10, 6}).t(), rnd({10})}}, {"softmax"}, 1e-5, 1e-6);
  // Inputs of another rank run eagerly (eager decides the output shapes).
  check(b, {rnd({6, 10}), rnd({10})}, {{rnd({10}), rnd({10})}, {rnd({2, 3, 10}), rnd({10})}},
        {"softmax"}, 1e-5, 1e-6, /*expect_kernel=*/false);
  // Empty tensors run eagerly (no kernel call), with eager's results.
  check(b, {rnd({6, 10}), rnd({10})}, {{rnd({0, 10}), rnd({10})}, {rnd({3, 0}), rnd({0})}},
        {"softmax"}, 0, 0, /*expect_kernel=*/false);
}

TEST(FuseReduction, AmaxNaNAndInf) {
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* t = g.call_function("aten::add.Scalar", {in[0], 1.0});
    Node* mx = g.call_function("aten::amax", {t, ints({1})});
    Node* mn = g.call_function("aten::amin", {t, ints({1})});
    outs.emplace_back(g.call_function("aten::sub.Tensor", {mx, mn}));
  };
  at::Tensor x = rnd({5, 70});
  x[0][69] = std::numeric_limits<float>::quiet_NaN();
  x[1][0] = std::numeric_limits<float>::quiet_NaN();
  x[2][5] = std::numeric_limits<float>::infinity();
  x[3].fill_(-std::numeric_limits<float>::infinity());
  check(b, {rnd({5, 70})}, {{x}}, {"amax", "amin"}, 0, 0);
}

TEST(FuseReduction, TracedCppFunctions) {
  // What symbolic_trace records for LibTorch's C++ calls fuses the same way.
  struct Fn {
    const char* name;
    TracedFn fn;
    std::vector<std::vector<int64_t>> shapes;
  };
  const Fn fns[] = {
      {"softmax",
       [](std::vector<c10::IValue> in) {
         return c10::IValue(at::softmax(in[0].toTensor() * 0.25 + in[1].toTensor(), -1));
       },
       {{6, 40}, {40}}},
      {"layer_norm",
       [](std::vector<c10::IValue> in) {
         return c10::IValue(at::layer_norm(in[0].toTensor() + in[1].toTensor(), {40},
                                           in[2].toTensor(), in[3].toTensor()));
       },
       {{6, 40}, {6, 40}, {40}, {40}}},
      {"se",
       [](std::vector<c10::IValue> in) {
         const at::Tensor& x = in[0].toTensor();
         return c10::IValue(x * at::sigmoid(x.mean({2, 3}, true)));
       },
       {{2, 8, 5, 5}}},
  };
  for (const Fn& f : fns) {
    SCOPED_TRACE(f.name);
    std::vector<c10::IValue> ex;
    for (const auto& s : f.shapes) ex.emplace_back(rnd(s));
    auto gm = symbolic_trace(f.fn, ex);
    auto fused = fuse(*gm);
    auto kernels = row_kernels(*fused);
    ASSERT_EQ(kernels.size(), 1u) << gm->graph().str() << explain_fusion(*gm);
    std::vector<c10::IValue> in;
    for (const auto& s : f.shapes) in.emplace_back(rnd(s));
    expect_close(results(f.fn(in)), results(fused->forward(in)), 1e-4, 1e-5);
    EXPECT_EQ(kernels[0]->kernel_calls(), 1);
  }
}

TEST(FuseReduction, ExplainSaysWhatWasFusedAndWhatWasLeftOut) {
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* s = g.call_function("aten::mul.Scalar", {in[0], 0.5});
    Node* sm = g.call_function("aten::softmax.int", {s, -1});
    Node* col = g.call_function("aten::sum.dim_IntList", {sm, ints({0}), true});  // not trailing
    Node* t = g.call_function("aten::exp", {in[0]});
    Node* ls = g.call_function("aten::log_softmax.int", {t, 0});  // not trailing
    Node* gn = g.call_function("aten::group_norm", {in[1], 2});
    Node* lone = g.call_function("aten::amax", {in[1], ints({-1})});  // no neighbour
    Node* ints_sum =
        g.call_function("aten::sum.dim_IntList", {in[2], ints({-1})});  // integer input
    outs = {Argument(col), Argument(ls), Argument(gn), Argument(lone), Argument(ints_sum)};
  };
  auto gm = module_of(b, 3);
  shape_prop(*gm, {rnd({4, 8}), rnd({2, 4, 3, 3}), at::randint(0, 5, {4, 8})});
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("group 0: mul softmax (row kernel over the last 1 of [4, 8]; reductions: "
                   "softmax)"),
            std::string::npos)
      << e;
  for (const char* want :
       {"unfused sum_1 (aten::sum.dim_IntList): reduces dims that are not the innermost",
        "unfused log_softmax (aten::log_softmax.int): reduces dims that are not the innermost",
        "unfused group_norm (aten::group_norm): its groups of 2 channels are rows reduced "
        "together, which needs the channel count fixed by a weight or bias",
        "unfused amax (aten::amax): no fusible neighbour",
        "unfused sum_2 (aten::sum.dim_IntList): unsupported dtype Long"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  auto fused = fuse(*gm);
  EXPECT_EQ(row_kernels(*fused).size(), 1u);
  std::vector<c10::IValue> in{rnd({4, 8}), rnd({2, 4, 3, 3}), at::randint(0, 5, {4, 8})};
  expect_close(results(gm->forward(in)), results(fused->forward(in)), 1e-5, 1e-6);
}

TEST(FuseReduction, CudaGroupsHoldReductions) {
  // tensor_meta saying cuda:0 (no GPU needed: nothing runs): the softmax joins
  // the elementwise part in a row kernel, as on the CPU.
  auto gm = module_of(scaled_masked_softmax(), 2);
  shape_prop(*gm, {rnd({8, 16}), rnd({16})});
  for (Node* n : gm->graph().nodes()) {
    TensorMeta m = *n->tensor_meta();
    m.device = c10::Device(c10::DeviceType::CUDA, 0);
    n->meta().set("tensor_meta", m);
  }
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("group 0: mul add softmax (row kernel over the last 1 of [8, 16]"),
            std::string::npos)
      << e;
}

TEST(FuseReduction, SavedAndLoadedRowKernelsRunAgain) {
  auto gm = module_of(add_layer_norm(48), 4);
  shape_prop(*gm, {rnd({6, 48}), rnd({6, 48}), rnd({48}), rnd({48})});
  auto fused = fuse(*gm);
  ASSERT_EQ(row_kernels(*fused).size(), 1u);
  saved_files::TempFile file("fx_fuse_reduction_");
  save(*fused, file.path());
  std::unique_ptr<GraphModule> loaded = load(file.path());
  auto kernels = row_kernels(*loaded);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0]->spec().signature(), row_kernels(*fused)[0]->spec().signature());
  std::vector<c10::IValue> in{rnd({6, 48}), rnd({6, 48}), rnd({48}), rnd({48})};
  expect_close(results(gm->forward(in)), results(loaded->forward(in)), 1e-4, 1e-5);
  EXPECT_EQ(kernels[0]->kernel_calls(), 1);
}

TEST(FuseReduction, CompileErrorFallsBackToEager) {
  auto gm = module_of(add_layer_norm(32), 4);
  shape_prop(*gm, {rnd({4, 32}), rnd({4, 32}), rnd({32}), rnd({32})});
  FuseOptions o;
  o.cpu.flags = {"-include", "/nonexistent/fx_broken_rows.h", "-shared", "-fPIC"};
  auto fused = fuse(*gm, o);
  auto kernels = row_kernels(*fused);
  ASSERT_EQ(kernels.size(), 1u);
  std::vector<c10::IValue> in{rnd({4, 32}), rnd({4, 32}), rnd({32}), rnd({32})};
  for (int i = 0; i < 2; ++i)
    expect_close(results(gm->forward(in)), results(fused->forward(in)), 0, 0);
  EXPECT_TRUE(kernels[0]->fell_back());
  EXPECT_EQ(kernels[0]->eager_calls(), 2);
  EXPECT_NE(kernels[0]->fallback_reason().find("fx_broken_rows.h"), std::string::npos)
      << kernels[0]->fallback_reason();
}

TEST(FuseReduction, ConcurrentCallersShareOneRowKernel) {
  auto gm = module_of(scaled_masked_softmax(), 2);
  shape_prop(*gm, {rnd({32, 64}), rnd({64})});
  auto fused = fuse(*gm);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        std::vector<c10::IValue> in{rnd({32, 64}), rnd({64})};
        at::Tensor w = gm->forward(in).toTensor(), r = fused->forward(in).toTensor();
        if (!at::allclose(r, w, 1e-5, 1e-6)) ++bad;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(row_kernels(*fused)[0]->kernel_calls(), 20);
}

}  // namespace
}  // namespace fx::jit
