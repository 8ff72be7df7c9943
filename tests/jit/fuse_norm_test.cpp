// native_layer_norm (three outputs, read through getitem) and group_norm in
// row kernels, against eager LibTorch on fresh random inputs. Normalized
// values reach ~10 here (x * 2 + 1 and random affine), so float32 is checked
// within 1e-4 absolute as well as relative.
#include <limits>
#include <string>
#include <utility>
#include <vector>

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

// h = x + r; (y, mean, rstd) = native_layer_norm(h, [n], w, b); returns
// relu(y), mean * 2 and rstd (the items chosen by `items`).
Build add_native_layer_norm(int64_t n, std::vector<int64_t> items = {0, 1, 2}) {
  return [n, items](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
    Node* ln = g.call_function("aten::native_layer_norm", {h, ints({n}), in[2], in[3], 1e-5});
    for (int64_t i : items) {
      Node* item = g.call_function("getitem", {ln, i});
      if (i == 0) item = g.call_function("aten::relu", {item});
      if (i == 1) item = g.call_function("aten::mul.Scalar", {item, 2.0});
      outs.emplace_back(item);
    }
  };
}

std::vector<at::Tensor> ln_inputs(std::vector<int64_t> rows, int64_t n,
                                  at::ScalarType t = at::kFloat) {
  std::vector<int64_t> shape = rows;
  shape.push_back(n);
  return {rnd(shape, t), rnd(shape, t), rnd({n}, t), rnd({n}, t)};
}

TEST(FuseNorm, NativeLayerNormThreeOutputsWithNeighbours) {
  for (int64_t n : {768, 33}) {
    SCOPED_TRACE(n);
    auto fused = check(add_native_layer_norm(n), ln_inputs({8}, n),
                       {ln_inputs({8}, n), ln_inputs({3}, n), ln_inputs({1}, n)},
                       {"native_layer_norm"}, 1e-4, 1e-4);
    // One kernel holds the add, the norm, its three getitems and their epilogues.
    ASSERT_EQ(row_kernels(*fused).size(), 1u);
    EXPECT_EQ(row_kernels(*fused)[0]->members().size(), 7u);
  }
}

TEST(FuseNorm, NativeLayerNormSomeItems) {
  check(add_native_layer_norm(64, {0}), ln_inputs({6}, 64), {ln_inputs({6}, 64)},
        {"native_layer_norm"}, 1e-4, 1e-4);
  check(add_native_layer_norm(64, {2, 1}), ln_inputs({6}, 64), {ln_inputs({4}, 64)},
        {"native_layer_norm"}, 1e-4, 1e-4);
}

TEST(FuseNorm, NativeLayerNormHalfTypesEmptyAndLargeValues) {
  for (at::ScalarType t : {at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(t));
    const double tol = t == at::kHalf ? 5e-3 : 3e-2;
    check(add_native_layer_norm(96), ln_inputs({4}, 96, t), {ln_inputs({4}, 96, t)},
          {"native_layer_norm"}, tol, 4 * tol);
  }
  // A large mean does not cost precision (the deviations are taken from it).
  std::vector<at::Tensor> big = ln_inputs({5}, 128);
  big[0] = big[0] * 10 + 1000;
  check(add_native_layer_norm(128), ln_inputs({5}, 128), {big}, {"native_layer_norm"}, 1e-3, 1e-4);
  // Empty inputs run eagerly, with eager's results (shapes included).
  check(add_native_layer_norm(16), ln_inputs({3}, 16), {ln_inputs({0}, 16)}, {"native_layer_norm"},
        0, 0, /*expect_kernel=*/false);
}

TEST(FuseNorm, NativeLayerNormOverRowsOfOneIsExplained) {
  // normalized_shape [1]: nothing to reduce; explained, and eager's numbers.
  auto gm = module_of(add_native_layer_norm(1), 4);
  shape_prop(*gm, {rnd({4, 1}), rnd({4, 1}), rnd({1}), rnd({1})});
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("unfused native_layer_norm (aten::native_layer_norm): its reduced dims all "
                   "have size 1"),
            std::string::npos)
      << e;
  auto fused = fuse(*gm);
  EXPECT_TRUE(row_kernels(*fused).empty());
  std::vector<c10::IValue> in{rnd({4, 1}), rnd({4, 1}), rnd({1}), rnd({1})};
  expect_close(results(gm->forward(in)), results(fused->forward(in)), 1e-6, 1e-6);
}

TEST(FuseNorm, NativeLayerNormTupleReturnedWholeIsNotFused) {
  // The output takes the tuple itself: no kernel can return it; explained.
  Build b = [](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
    outs.emplace_back(
        g.call_function("aten::native_layer_norm", {h, ints({32}), in[2], in[3], 1e-5}));
  };
  auto gm = module_of(b, 4);
  shape_prop(*gm, {rnd({4, 32}), rnd({4, 32}), rnd({32}), rnd({32})});
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("unfused native_layer_norm (aten::native_layer_norm): its group would return "
                   "the tuple of 'native_layer_norm'"),
            std::string::npos)
      << e;
  auto fused = fuse(*gm);
  EXPECT_TRUE(row_kernels(*fused).empty());
  std::vector<c10::IValue> in{rnd({4, 32}), rnd({4, 32}), rnd({32}), rnd({32})};
  auto want = gm->forward(in).toTuple()->elements(), got = fused->forward(in).toTuple()->elements();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(at::allclose(want[i].toTensor(), got[i].toTensor()));
}

TEST(FuseNorm, NativeLayerNormSavedAndLoaded) {
  auto gm = module_of(add_native_layer_norm(48), 4);
  shape_prop(*gm, {rnd({6, 48}), rnd({6, 48}), rnd({48}), rnd({48})});
  auto fused = fuse(*gm);
  ASSERT_EQ(row_kernels(*fused).size(), 1u);
  saved_files::TempFile file("fx_fuse_norm_");
  save(*fused, file.path());
  std::unique_ptr<GraphModule> loaded = load(file.path());
  auto kernels = row_kernels(*loaded);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0]->spec().signature(), row_kernels(*fused)[0]->spec().signature());
  std::vector<c10::IValue> in{rnd({6, 48}), rnd({6, 48}), rnd({48}), rnd({48})};
  expect_close(results(gm->forward(in)), results(loaded->forward(in)), 1e-4, 1e-4);
  EXPECT_EQ(kernels[0]->kernel_calls(), 1);
}

// group_norm(x * 2 + 1, G, w, b) -> silu.
Build scaled_group_norm(int64_t groups, bool affine) {
  return [groups, affine](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* t = g.call_function("aten::mul.Scalar", {in[0], 2.0});
    t = g.call_function("aten::add.Scalar", {t, 1.0});
    Args a{t, groups};
    if (affine) {
      a.emplace_back(in[1]);
      a.emplace_back(in[2]);
    }
    Node* gn = g.call_function("aten::group_norm", a, {{"eps", 1e-5}});
    outs.emplace_back(g.call_function("aten::silu", {gn}));
  };
}

std::vector<at::Tensor> gn_inputs(std::vector<int64_t> shape, bool affine,
                                  at::ScalarType t = at::kFloat) {
  std::vector<at::Tensor> in{rnd(shape, t)};
  if (affine) {
    in.push_back(rnd({shape[1]}, t));
    in.push_back(rnd({shape[1]}, t));
  }
  return in;
}

TEST(FuseNorm, GroupNormOneChannelPerGroup) {
  // G == C: each (sample, channel) is a row of H * W; weight and bias per row.
  check(scaled_group_norm(8, true), gn_inputs({2, 8, 5, 5}, true),
        {gn_inputs({2, 8, 5, 5}, true), gn_inputs({3, 8, 7, 6}, true),
         gn_inputs({1, 8, 1, 1}, true),  // rows of length 1
         gn_inputs({1, 8, 64, 64}, true)},
        {"group_norm"}, 1e-4, 1e-4);
  // 3-D [N, C, L] too, and no affine.
  check(scaled_group_norm(6, false), gn_inputs({4, 6, 20}, false),
        {gn_inputs({4, 6, 20}, false), gn_inputs({1, 6, 3}, false)}, {"group_norm"}, 1e-4, 1e-4);
}

TEST(FuseNorm, GroupNormOneGroupWithoutAffine) {
  check(scaled_group_norm(1, false), gn_inputs({3, 4, 6, 6}, false),
        {gn_inputs({3, 4, 6, 6}, false), gn_inputs({2, 7, 3, 5}, false)}, {"group_norm"}, 1e-4,
        1e-4);
}

TEST(FuseNorm, GroupNormHalfTypesAndEmpty) {
  for (at::ScalarType t : {at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(t));
    const double tol = t == at::kHalf ? 5e-3 : 3e-2;
    check(scaled_group_norm(4, true), gn_inputs({2, 4, 6, 6}, true, t),
          {gn_inputs({2, 4, 6, 6}, true, t)}, {"group_norm"}, tol, 4 * tol);
  }
  check(scaled_group_norm(4, true), gn_inputs({2, 4, 6, 6}, true),
        {gn_inputs({0, 4, 6, 6}, true), gn_inputs({2, 4, 0, 6}, true)}, {"group_norm"}, 0, 0,
        /*expect_kernel=*/false);
}

TEST(FuseNorm, GroupNormThatIsNoRowReductionIsExplained) {
  struct Case {
    int64_t groups;
    bool affine;
    bool channels_last;
    const char* why;
  } cases[] = {
      {2, false, false,
       "its groups of 4 channels are rows reduced together, which needs the channel count fixed "
       "by a weight or bias"},
      {8, true, true, "its input is not contiguous NCHW"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    auto gm = module_of(scaled_group_norm(c.groups, c.affine), 3);
    at::Tensor x = rnd({2, 8, 5, 5});
    if (c.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    shape_prop(*gm, {x, rnd({8}), rnd({8})});
    const std::string e = explain_fusion(*gm);
    EXPECT_NE(e.find(std::string("unfused group_norm (aten::group_norm): ") + c.why),
              std::string::npos)
        << e;
    auto fused = fuse(*gm);
    EXPECT_TRUE(row_kernels(*fused).empty());
    std::vector<c10::IValue> in{x, rnd({8}), rnd({8})};
    expect_close(results(gm->forward(in)), results(fused->forward(in)), 1e-5, 1e-6);
  }
}

TEST(FuseNorm, GroupNormGroupsOfChannels) {
  // C/G consecutive rows of [H * W] reduced together, weight and bias per row.
  for (auto [groups, channels] :
       std::vector<std::pair<int64_t, int64_t>>{{2, 8}, {32, 64}, {1, 6}}) {
    SCOPED_TRACE(std::to_string(groups) + " groups of " + std::to_string(channels));
    auto fused = check(scaled_group_norm(groups, true), gn_inputs({2, channels, 5, 5}, true),
                       {gn_inputs({2, channels, 5, 5}, true), gn_inputs({3, channels, 9, 7}, true),
                        gn_inputs({1, channels, 1, 1}, true),  // rows of length 1
                        gn_inputs({1, channels, 48, 48}, true)},
                       {"group_norm"}, 1e-4, 1e-4);
    EXPECT_EQ(row_kernels(*fused)[0]->spec().row_group, channels / groups);
  }
  // [N, C, L] and [N, C, D, H, W] too.
  check(scaled_group_norm(4, true), gn_inputs({3, 16, 20}, true),
        {gn_inputs({3, 16, 20}, true), gn_inputs({2, 16, 1}, true)}, {"group_norm"}, 1e-4, 1e-4);
  check(scaled_group_norm(4, true), gn_inputs({2, 8, 3, 4, 5}, true),
        {gn_inputs({2, 8, 3, 4, 5}, true)}, {"group_norm"}, 1e-4, 1e-4);
  for (at::ScalarType t : {at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(t));
    const double tol = t == at::kHalf ? 5e-3 : 3e-2;
    check(scaled_group_norm(2, true), gn_inputs({2, 8, 6, 6}, true, t),
          {gn_inputs({2, 8, 6, 6}, true, t)}, {"group_norm"}, tol, 4 * tol);
  }
  // Another channel count broadcasts against the weight differently: eager
  // (which raises ATen's error for it).
  auto gm = module_of(scaled_group_norm(2, true), 3);
  shape_prop(*gm, {rnd({2, 8, 5, 5}), rnd({8}), rnd({8})});
  auto fused = fuse(*gm);
  EXPECT_THROW(fused->forward({rnd({2, 6, 5, 5}), rnd({8}), rnd({8})}), Error);
  const std::string e = explain_fusion(*gm);
  EXPECT_NE(e.find("group 0: mul add group_norm silu (row kernel over the last 2 of [2, 8, 5, 5] "
                   "in groups of 4 rows; reductions: group_norm)"),
            std::string::npos)
      << e;
}

TEST(FuseNorm, GroupNormGroupsSavedAndLoadedAndThreaded) {
  auto gm = module_of(scaled_group_norm(4, true), 3);
  shape_prop(*gm, {rnd({2, 16, 6, 6}), rnd({16}), rnd({16})});
  auto fused = fuse(*gm);
  saved_files::TempFile file("fx_fuse_norm_gn_");
  save(*fused, file.path());
  std::unique_ptr<GraphModule> loaded = load(file.path());
  auto kernels = row_kernels(*loaded);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0]->spec().signature(), row_kernels(*fused)[0]->spec().signature());
  // Enough rows that ATen's threads split them; a group may straddle chunks.
  std::vector<c10::IValue> in{rnd({64, 16, 30, 30}), rnd({16}), rnd({16})};
  expect_close(results(gm->forward(in)), results(loaded->forward(in)), 1e-4, 1e-4);
  EXPECT_EQ(kernels[0]->kernel_calls(), 1);
}

TEST(FuseNorm, GroupNormChannelsLastAtRunTimeMatchesEager) {
  // Traced contiguous, called channels last: the kernel walks the strided rows.
  at::Tensor x = rnd({2, 8, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  check(scaled_group_norm(8, true), gn_inputs({2, 8, 5, 5}, true), {{x, rnd({8}), rnd({8})}},
        {"group_norm"}, 1e-4, 1e-4);
}

}  // namespace
}  // namespace fx::jit
