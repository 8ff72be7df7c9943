// A data race in fx code on purpose, for scripts/tsan.sh: it runs this test
// with FX_TSAN_CANARY=1 under ThreadSanitizer and fails unless TSan reports
// the race, so the suppressions in scripts/tsan.supp (LibTorch and OpenMP
// frames only) can never hide a race between fx threads. Anywhere else the
// test skips: mutating a Graph while another thread reads it is not allowed
// (README.md, Guarantees).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "ir/graph.h"

namespace fx {
namespace {

TEST(TsanCanary, GraphMutatedWhileAnotherThreadReadsIt) {
  if (std::getenv("FX_TSAN_CANARY") == nullptr)
    GTEST_SKIP() << "races on purpose; scripts/tsan.sh runs it with FX_TSAN_CANARY=1";
  Graph g;
  Node* x = g.placeholder("x");
  // Only Graph::size_ is read unsynchronised: a counter, so the race is
  // reported without the list of nodes ever being read half-written. The
  // reader keeps reading until the writer is done (a relaxed flag orders
  // nothing), so the two overlap and TSan still holds both stacks.
  std::atomic<bool> go{false}, done{false};
  std::thread writer([&] {
    while (!go.load(std::memory_order_relaxed)) std::this_thread::yield();
    for (int i = 0; i < 500; ++i) g.call_function("aten::relu", {x});
    done.store(true, std::memory_order_relaxed);
  });
  size_t seen = g.size();
  go.store(true, std::memory_order_relaxed);
  while (!done.load(std::memory_order_relaxed)) seen = std::max(seen, g.size());
  writer.join();
  EXPECT_GT(seen, 0u);
}

}  // namespace
}  // namespace fx
