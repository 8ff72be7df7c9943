// A data race in fx code on purpose, for scripts/tsan.sh: it runs this test
// with FX_TSAN_CANARY=1 under ThreadSanitizer and fails unless TSan reports
// the race, so the suppressions in scripts/tsan.supp (LibTorch and OpenMP
// frames only) can never hide a race between fx threads. Anywhere else the
// test skips: mutating a Graph while another thread reads it is not allowed
// (README.md, Guarantees).
#include <atomic>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "ir/graph.h"

namespace fx {
namespace {

// Waits for `flag` to reach `value`. Relaxed on purpose: TSan sees no
// happens-before edge through it, so the accesses it orders still race.
void wait_for(const std::atomic<int>& flag, int value) {
  while (flag.load(std::memory_order_relaxed) != value) std::this_thread::yield();
}

TEST(TsanCanary, GraphMutatedWhileAnotherThreadReadsIt) {
  if (std::getenv("FX_TSAN_CANARY") == nullptr)
    GTEST_SKIP() << "races on purpose; scripts/tsan.sh runs it with FX_TSAN_CANARY=1";
  // Only Graph::size_ is touched unsynchronised: a counter, so the race is
  // reported without the list of nodes ever being read half-written. Each
  // round is a write-then-read and a read-then-write pair, back to back, so
  // both stacks are fresh in TSan's history when it checks the second
  // access. One run once stayed silent with a single, looser overlap; the
  // rounds make a missed report a matter of several coincidences, and
  // scripts/tsan.sh also tries the whole test more than once.
  for (int round = 0; round < 16; ++round) {
    Graph g;
    Node* x = g.placeholder("x");
    std::atomic<int> stage{0};
    size_t seen_by_writer = 0;
    std::thread writer([&] {
      g.call_function("aten::relu", {x});  // write
      stage.store(1, std::memory_order_relaxed);
      wait_for(stage, 2);
      seen_by_writer = g.size();  // read after the main thread's write
    });
    wait_for(stage, 1);
    size_t seen = g.size();              // read after the writer's write
    g.call_function("aten::relu", {x});  // write after ... and before its read
    stage.store(2, std::memory_order_relaxed);
    writer.join();
    EXPECT_GE(seen, 2u);
    EXPECT_GE(seen_by_writer, 3u);
  }
}

}  // namespace
}  // namespace fx
