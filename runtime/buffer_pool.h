// fx::BufferPool: CPU buffers kept between calls of a module and handed out
// again, so that a model run repeatedly on inputs of one signature stops
// allocating after its first call.
//
// Why: at batch 16 a CNN's activations are tens of megabytes each. glibc
// serves blocks that large with a fresh mmap and returns them with munmap,
// so every call of the model faults in (and the kernel zeroes) every page of
// every activation again; on a 2-core machine that was a third of
// efficientnet_b0's run time. ATen's own operators (and oneDNN's) have no
// out= variants to plan into, so fx plans at the allocator instead.
//
// How: fx installs, once, a CPU allocator that wraps the one LibTorch had
// (c10::SetCPUAllocator). While a BufferPool::Scope is alive on a thread,
// every CPU allocation of kMinBlockBytes (8 MiB) or more that thread makes
// comes from that scope's pool (glibc serves smaller ones from its heap, see
// kMinBlockBytes): a block
// freed earlier of the same (rounded) size is reused, else a new one
// is made; a pooled block, wherever and whenever it is freed, goes back to
// its pool. Without a scope on the thread, the wrapped allocator serves the
// request as before, so code that never enters a scope sees no change
// (except one hash look-up in raw_deallocate). Because a call on a fixed
// signature asks for the same sizes in the same order every time, the pool
// after the first call holds exactly what the call needs: the plan is made
// by the first call and followed by the next ones.
//
// Memory: a pool keeps, for each rounded size, as many blocks as were live at
// once, so it can hold more than the call's peak (blocks of different sizes
// are not shared). It is given back by release(), by destroying the pool
// (blocks still in use are freed when their tensors die), and never
// otherwise. Blocks of 2 MiB and more are mapped 2 MiB aligned and advised as
// huge pages, each starting at its own cache-line offset into the mapping. Thread-safe: any number of threads may allocate from and free into
// one pool; tensors may outlive their pool.
//
// If another allocator with a higher priority already owns the CPU slot,
// fx's cannot be installed: scopes then do nothing (installed() says so).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace fx {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  struct Stats {
    int64_t fresh = 0;       // blocks made (allocations the pool could not serve)
    int64_t reused = 0;      // allocations served from a cached block
    size_t held_bytes = 0;   // bytes of blocks the pool made and has not freed
    size_t cached_bytes = 0; // of which: free, waiting to be reused
  };

  // Smaller allocations go to the wrapped allocator even inside a scope.
  // glibc serves them from its heap once its mmap threshold has risen past
  // them (it rises up to 32 MiB as large blocks are freed), reusing whatever
  // was freed last whatever its size, so the next operator writes into memory
  // still in cache; the pool keeps blocks per size and would hand out a cold
  // one. Measured on the 2-core dev machine: pooling from 64 KiB up made
  // efficientnet_b0 at batch 1 2-3% slower than no pooling, from 1 MiB up
  // mobilenet_v2 at batch 1 5-10% slower than from 8 MiB up (its largest
  // activation is 4.8 MB); at batch 16 (activations of 10-80 MB) all of them
  // are 1.5x faster than no pooling.
  static constexpr size_t kMinBlockBytes = size_t{8} << 20;
  // The minimum in force (kMinBlockBytes unless changed): a process-wide
  // setting, read at every allocation inside a scope, for machines whose
  // caches favour another value and for tests on small shapes.
  static size_t min_block_bytes();
  static void set_min_block_bytes(size_t bytes);

  static std::shared_ptr<BufferPool> create();
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // While alive, this thread's CPU allocations come from `pool` (nested
  // scopes stack; the innermost wins). A null pool makes a scope that
  // routes to the wrapped allocator, as outside any scope.
  class Scope {
   public:
    explicit Scope(std::shared_ptr<BufferPool> pool);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    std::shared_ptr<BufferPool> pool_;
    BufferPool* previous_;
  };

  // Frees the cached (unused) blocks; blocks in use stay and come back later.
  void release();
  Stats stats() const;

  // Whether fx's allocator owns the CPU slot (installs it on first call).
  static bool installed();
  // The pool of the innermost scope on this thread, or null.
  static BufferPool* active();

  // Used by the allocator (buffer_pool.cpp).
  void* take(size_t bytes);
  void give(void* ptr, size_t bytes);

 private:
  BufferPool() = default;

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, void*> base_of_;  // block -> what to free (buffer_pool.cpp)
  Stats stats_;
};

}  // namespace fx
