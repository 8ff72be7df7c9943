// BufferPool and GraphModule::set_buffer_reuse: CPU blocks kept between
// calls and handed out again, only inside a scope, safe across threads and
// past the pool's life.
#include "runtime/buffer_pool.h"

#include <thread>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "runtime/buffer_plans.h"
#include "runtime/graph_module.h"

namespace fx {
namespace {

// Floats in a tensor just above the pooled minimum (8 MiB).
constexpr int64_t kBig = BufferPool::kMinBlockBytes / sizeof(float) + 1024;

class BufferPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!BufferPool::installed())
      GTEST_SKIP() << "another CPU allocator with a higher priority owns the CPU slot";
  }
};

TEST_F(BufferPoolTest, AFreedBlockIsHandedOutAgainInsideAScope) {
  auto pool = BufferPool::create();
  BufferPool::Scope scope(pool);
  EXPECT_EQ(BufferPool::active(), pool.get());
  void* first = nullptr;
  {
    at::Tensor t = at::empty({kBig});
    first = t.data_ptr();
  }
  at::Tensor again = at::empty({kBig});
  EXPECT_EQ(again.data_ptr(), first);
  BufferPool::Stats s = pool->stats();
  EXPECT_EQ(s.fresh, 1);
  EXPECT_EQ(s.reused, 1);
  EXPECT_EQ(s.cached_bytes, 0u);
  EXPECT_GE(s.held_bytes, kBig * sizeof(float));
  // Pooled blocks are ordinary memory: fill and read back.
  again.fill_(3.0f);
  EXPECT_EQ(again.sum().item<float>(), 3.0f * kBig);
}

TEST_F(BufferPoolTest, OutsideAScopeAndForSmallTensorsNothingIsPooled) {
  constexpr int64_t kMinFloats = BufferPool::kMinBlockBytes / sizeof(float);
  auto pool = BufferPool::create();
  {
    BufferPool::Scope scope(pool);
    at::Tensor small = at::empty({16});
    at::Tensor just_below = at::empty({kMinFloats - 1});
    EXPECT_EQ(pool->stats().fresh, 0);
  }
  EXPECT_EQ(BufferPool::active(), nullptr);
  at::Tensor big = at::empty({kBig});
  EXPECT_EQ(pool->stats().fresh, 0);
  // A null scope routes to the wrapped allocator too, and restores the outer one.
  BufferPool::Scope outer(pool);
  {
    BufferPool::Scope none(nullptr);
    EXPECT_EQ(BufferPool::active(), nullptr);
    at::Tensor t = at::empty({kBig});
  }
  EXPECT_EQ(BufferPool::active(), pool.get());
  EXPECT_EQ(pool->stats().fresh, 0);
  // The minimum itself is pooled.
  at::Tensor at_minimum = at::empty({kMinFloats});
  EXPECT_EQ(pool->stats().fresh, 1);
}

TEST_F(BufferPoolTest, TheMinimumCanBeChanged) {
  const size_t was = BufferPool::min_block_bytes();
  EXPECT_EQ(was, BufferPool::kMinBlockBytes);
  auto pool = BufferPool::create();
  BufferPool::set_min_block_bytes(size_t{64} << 10);
  {
    BufferPool::Scope scope(pool);
    at::Tensor t = at::empty({32 << 10});  // 128 KiB
  }
  BufferPool::set_min_block_bytes(was);
  EXPECT_EQ(pool->stats().fresh, 1);
  {
    BufferPool::Scope scope(pool);
    at::Tensor t = at::empty({32 << 10});
  }
  EXPECT_EQ(pool->stats().fresh, 1);
  EXPECT_EQ(pool->stats().reused, 0);
}

TEST_F(BufferPoolTest, TensorsOutliveTheirPool) {
  at::Tensor kept;
  {
    auto pool = BufferPool::create();
    BufferPool::Scope scope(pool);
    kept = at::arange(kBig, at::kFloat);
  }
  // The pool's owner and scope are gone; the block stays valid until freed.
  at::Tensor other = at::empty({kBig}).fill_(-1.0f);
  EXPECT_EQ(kept[kBig - 1].item<float>(), static_cast<float>(kBig - 1));
  kept = at::Tensor();  // frees into the orphaned pool, which then dies (ASan checks)
}

TEST_F(BufferPoolTest, ReleaseGivesBackOnlyCachedBlocks) {
  auto pool = BufferPool::create();
  BufferPool::Scope scope(pool);
  at::Tensor in_use = at::empty({kBig});
  { at::Tensor freed = at::empty({2 * kBig}); }
  BufferPool::Stats before = pool->stats();
  EXPECT_EQ(before.fresh, 2);
  EXPECT_GE(before.cached_bytes, 2 * kBig * sizeof(float));
  pool->release();
  BufferPool::Stats after = pool->stats();
  EXPECT_EQ(after.cached_bytes, 0u);
  EXPECT_EQ(after.held_bytes, before.held_bytes - before.cached_bytes);
  in_use.fill_(1.0f);  // still usable
  in_use = at::Tensor();
  EXPECT_GE(pool->stats().cached_bytes, kBig * sizeof(float));
}

TEST_F(BufferPoolTest, RawAllocationsWorkInAndOutOfScopes) {
  c10::Allocator* a = c10::GetCPUAllocator();
  ASSERT_NE(a->raw_deleter(), nullptr);
  auto pool = BufferPool::create();
  void* pooled = nullptr;
  {
    BufferPool::Scope scope(pool);
    pooled = a->raw_allocate(kBig * sizeof(float));
  }
  EXPECT_EQ(pool->stats().fresh, 1);
  a->raw_deallocate(pooled);  // freed outside the scope: back to its pool
  EXPECT_GE(pool->stats().cached_bytes, kBig * sizeof(float));
  void* plain = a->raw_allocate(kBig * sizeof(float));
  static_cast<char*>(plain)[0] = 1;
  a->raw_deallocate(plain);  // not pooled: the wrapped allocator frees it
  EXPECT_EQ(pool->stats().fresh, 1);
}

TEST_F(BufferPoolTest, ThreadsShareOnePool) {
  auto pool = BufferPool::create();
  constexpr int kThreads = 4, kRounds = 50;
  std::vector<std::thread> threads;
  std::vector<double> sums(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      BufferPool::Scope scope(pool);
      for (int r = 0; r < kRounds; ++r) {
        at::Tensor a = at::full({kBig}, static_cast<float>(t + 1));
        at::Tensor b = a * 2;
        sums[t] = b.sum().item<double>();
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(sums[t], 2.0 * (t + 1) * kBig);
  BufferPool::Stats s = pool->stats();
  // Each thread holds at most two big blocks at once.
  EXPECT_LE(s.fresh, 2 * kThreads);
  EXPECT_EQ(s.fresh + s.reused, 2 * kThreads * kRounds);
}

std::unique_ptr<GraphModule> elementwise_module() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, 2.0), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mul,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, 1.0), kwargs = {})
    return add)");
  return std::make_unique<GraphModule>(std::move(g), Attributes{}, "Elementwise");
}

at::Tensor expected(const at::Tensor& x) { return at::relu(x * 2.0) + 1.0; }

TEST_F(BufferPoolTest, AModuleStopsAllocatingAfterItsFirstCall) {
  auto gm = elementwise_module();
  EXPECT_EQ(gm->buffer_reuse(), GraphModule::BufferReuse::kInInferenceMode);
  gm->set_buffer_reuse(GraphModule::BufferReuse::kAlways);
  at::Tensor x = at::randn({4, kBig / 4});
  at::Tensor first = gm->forward({x}).toTensor();
  EXPECT_TRUE(at::equal(first, expected(x)));
  const BufferPool::Stats after_first = gm->buffer_stats();
  EXPECT_GE(after_first.fresh, 2);  // intermediates and the output
  at::Tensor x2 = at::randn({4, kBig / 4});
  for (int i = 0; i < 3; ++i) {
    at::Tensor out = gm->forward({x2}).toTensor();
    EXPECT_TRUE(at::equal(out, expected(x2)));
  }
  const BufferPool::Stats later = gm->buffer_stats();
  // Only the held first output forces one more block; nothing else is new.
  EXPECT_LE(later.fresh, after_first.fresh + 1);
  EXPECT_GT(later.reused, after_first.reused);
  // The first output was not overwritten by the calls after it.
  EXPECT_TRUE(at::equal(first, expected(x)));
}

TEST_F(BufferPoolTest, EachSignatureHasItsPlanAndOldOnesAreDropped) {
  auto gm = elementwise_module();
  gm->set_buffer_reuse(GraphModule::BufferReuse::kAlways);
  for (int64_t rows = 1; rows <= 6; ++rows) {
    at::Tensor x = at::randn({rows, kBig});
    EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), expected(x)));
  }
  BufferPlans plans;
  EXPECT_EQ(plans.plans(), 0u);
  at::Tensor a = at::randn({2, 3}), b = at::randn({3, 2});
  auto pa = plans.pool_for({a});
  EXPECT_EQ(plans.pool_for({at::randn({2, 3})}), pa);  // same signature, same plan
  EXPECT_NE(plans.pool_for({b}), pa);
  EXPECT_NE(plans.pool_for({a.t()}), pa);  // strides count
  EXPECT_NE(plans.pool_for({a, c10::IValue(int64_t{3})}), plans.pool_for({a, c10::IValue(int64_t{4})}));
  EXPECT_EQ(plans.plans(), 4u);
  plans.pool_for({at::randn({7})});
  EXPECT_EQ(plans.plans(), 4u);  // capacity 4: the least recently used went
  gm->release_buffers();
  EXPECT_EQ(gm->buffer_stats().held_bytes, 0u);
}

TEST_F(BufferPoolTest, TheFlagIsCopiedAndTurnedOff) {
  auto gm = elementwise_module();
  gm->set_buffer_reuse(GraphModule::BufferReuse::kAlways);
  std::unique_ptr<GraphModule> loaded = gm->deepcopy();
  EXPECT_EQ(loaded->buffer_reuse(), GraphModule::BufferReuse::kAlways);
  at::Tensor x = at::randn({2, kBig});
  EXPECT_TRUE(at::equal(loaded->forward({x}).toTensor(), expected(x)));
  loaded->set_buffer_reuse(GraphModule::BufferReuse::kNever);
  EXPECT_EQ(loaded->buffer_stats().fresh, 0);
  // Never: nothing is pooled, not even in inference mode.
  {
    c10::InferenceMode guard;
    loaded->forward({x});
  }
  EXPECT_EQ(loaded->buffer_stats().fresh, 0);
}

TEST_F(BufferPoolTest, ByDefaultOnlyInferenceModeCallsArePooled) {
  auto gm = elementwise_module();
  at::Tensor x = at::randn({2, kBig});
  EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), expected(x)));
  EXPECT_EQ(gm->buffer_stats().fresh, 0);  // autograd may keep intermediates: not pooled
  {
    c10::InferenceMode guard;  // the caller's inference mode
    EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), expected(x)));
  }
  const int64_t fresh = gm->buffer_stats().fresh;
  EXPECT_GT(fresh, 0);
  gm->set_inference_mode(true);  // or the module's own
  EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), expected(x)));
  EXPECT_EQ(gm->buffer_stats().fresh, fresh);
  EXPECT_GT(gm->buffer_stats().reused, 0);
}

}  // namespace
}  // namespace fx
