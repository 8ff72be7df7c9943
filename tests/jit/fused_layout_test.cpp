// jit/fused_layout.h: the loop an elementwise FusedKernel call walks after
// collapsing, and the Variant it picks, for contiguous, broadcast, transposed,
// sliced and channels-last operands.
#include "jit/fused_layout.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace fx::jit {
namespace {

using Sizes = std::vector<int64_t>;
using Strides = std::vector<std::vector<int64_t>>;

TEST(FusedLayout, ContiguousInputsCollapseToOneFlatDim) {
  at::Tensor x = at::randn({2, 3, 4}), y = at::randn({2, 3, 4});
  FusedLayout l = collapse({2, 3, 4}, {x, y});
  EXPECT_EQ(l.sizes, Sizes({24}));
  EXPECT_EQ(l.strides, Strides({{1}, {1}}));
  Variant v = pick_variant(l);
  EXPECT_TRUE(v.flat);
  EXPECT_EQ(v.key(), "flat_cc");
}

TEST(FusedLayout, ScalarBroadcastStaysFlat) {
  at::Tensor x = at::randn({5, 6}), s = at::randn({});
  FusedLayout l = collapse({5, 6}, {x, s});
  EXPECT_EQ(l.sizes, Sizes({30}));
  EXPECT_EQ(l.strides, Strides({{1}, {0}}));
  EXPECT_EQ(pick_variant(l).key(), "flat_cb");
}

TEST(FusedLayout, RowBroadcastKeepsTwoDims) {
  at::Tensor x = at::randn({2, 3}), row = at::randn({3});
  FusedLayout l = collapse({2, 3}, {x, row});
  EXPECT_EQ(l.sizes, Sizes({2, 3}));
  EXPECT_EQ(l.strides, Strides({{3, 1}, {0, 1}}));
  Variant v = pick_variant(l);
  EXPECT_FALSE(v.flat);
  EXPECT_EQ(v.rank, 2);
  EXPECT_EQ(v.key(), "nd2_cc");
}

TEST(FusedLayout, TransposedAndSlicedInputsAreStrided) {
  at::Tensor t = at::randn({4, 3}).t();               // [3, 4], strides [1, 3]
  at::Tensor s = at::randn({3, 8}).slice(1, 0, 8, 2);  // [3, 4], strides [8, 2]
  FusedLayout l = collapse({3, 4}, {t, s});
  EXPECT_EQ(l.sizes, Sizes({3, 4}));
  EXPECT_EQ(l.strides, Strides({{1, 3}, {8, 2}}));
  EXPECT_EQ(pick_variant(l).key(), "nd2_ss");
}

// Size-1 dims are dropped; dims every input walks as one merge (a slice of
// whole rows stays contiguous, a column slice does not).
TEST(FusedLayout, SizeOneDimsDropAndWholeRowsMerge) {
  at::Tensor x = at::randn({1, 4, 1, 5});
  FusedLayout one = collapse({1, 4, 1, 5}, {x});
  EXPECT_EQ(one.sizes, Sizes({20}));
  at::Tensor rows = at::randn({6, 5}).slice(0, 1, 5);  // [4, 5], strides [5, 1]
  at::Tensor cols = at::randn({4, 7}).slice(1, 1, 6);  // [4, 5], strides [7, 1]
  EXPECT_EQ(collapse({4, 5}, {rows}).sizes, Sizes({20}));
  FusedLayout l = collapse({4, 5}, {cols});
  EXPECT_EQ(l.sizes, Sizes({4, 5}));
  EXPECT_EQ(l.strides, Strides({{7, 1}}));
  EXPECT_EQ(pick_variant(l).key(), "nd2_c");
}

TEST(FusedLayout, NoDimsIsFlatAndBroadcast) {
  at::Tensor s = at::randn({});
  FusedLayout l = collapse({}, {s});
  EXPECT_TRUE(l.sizes.empty());
  Variant v = pick_variant(l);
  EXPECT_TRUE(v.flat);
  EXPECT_EQ(v.rank, 1);
  EXPECT_EQ(v.key(), "flat_b");
}

}  // namespace
}  // namespace fx::jit
