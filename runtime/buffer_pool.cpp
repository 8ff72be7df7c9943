#include "runtime/buffer_pool.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

namespace fx {

namespace {

std::atomic<size_t> g_min_pooled{BufferPool::kMinBlockBytes};
constexpr size_t kHugePage = size_t{2} << 20;

size_t rounded(size_t n) { return (n + 4095) & ~size_t{4095}; }

// Blocks start at different offsets (multiples of a cache line, below 4 KiB)
// from their 2 MiB-aligned mapping: were they all aligned alike, an operator
// reading one block while writing another would meet 4 KiB aliasing between
// its loads and stores and conflict misses in the same cache sets (at batch 1
// that made pooled blocks a few percent slower than glibc's).
constexpr size_t kColorSpan = 4096, kColors = 61, kLine = 64;

// A block of `bytes` at colour `color`: *base gets what to free.
void* make_block(size_t bytes, size_t color, void** base) {
  const size_t total = bytes + kColorSpan;
  const size_t align = total >= kHugePage ? kHugePage : kLine;
  void* p = nullptr;
  if (posix_memalign(&p, align, total) != 0) return nullptr;
  if (total >= kHugePage) madvise(p, total & ~(kHugePage - 1), MADV_HUGEPAGE);
  *base = p;
  return static_cast<char*>(p) + (color % kColors) * kLine;
}

// Every pooled block in use, so that a free finds its pool (and raw_deallocate
// can tell a pooled block from one of the wrapped allocator). Never destroyed:
// tensors freed during static destruction still find it.
struct Live {
  std::shared_ptr<BufferPool> pool;
  size_t bytes = 0;
};
struct Registry {
  std::mutex mutex;
  std::unordered_map<void*, Live> live;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

thread_local BufferPool* t_active = nullptr;
// Set once, before fx's allocator is installed; read by any thread that
// reaches that allocator through LibTorch's CPU slot.
std::atomic<c10::Allocator*> g_wrapped{nullptr};
c10::Allocator* wrapped() { return g_wrapped.load(std::memory_order_acquire); }

void free_block(void* p) {
  Live live;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.live.find(p);
    if (it != r.live.end()) {
      live = std::move(it->second);
      r.live.erase(it);
    }
  }
  // Not ours: a raw allocation the wrapped allocator made.
  if (!live.pool) return wrapped()->raw_deleter()(p);
  live.pool->give(p, live.bytes);
}

class PoolingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    BufferPool* pool = t_active;
    if (!pool || n < g_min_pooled.load(std::memory_order_relaxed)) return wrapped()->allocate(n);
    const size_t bytes = rounded(n);
    void* p = pool->take(bytes);
    if (!p) return wrapped()->allocate(n);  // out of memory: the wrapped one reports it
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mutex);
      r.live.emplace(p, Live{pool->shared_from_this(), bytes});
    }
    return {p, p, &free_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override {
    return wrapped()->raw_deleter() ? &free_block : nullptr;
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

}  // namespace

size_t BufferPool::min_block_bytes() { return g_min_pooled.load(std::memory_order_relaxed); }

void BufferPool::set_min_block_bytes(size_t bytes) {
  g_min_pooled.store(bytes, std::memory_order_relaxed);
}

std::shared_ptr<BufferPool> BufferPool::create() {
  return std::shared_ptr<BufferPool>(new BufferPool());
}

BufferPool::~BufferPool() {
  for (auto& [bytes, blocks] : free_)
    for (void* p : blocks) std::free(base_of_.at(p));
}

BufferPool::Scope::Scope(std::shared_ptr<BufferPool> pool)
    : pool_(std::move(pool)), previous_(t_active) {
  t_active = pool_ && installed() ? pool_.get() : nullptr;
}

BufferPool::Scope::~Scope() { t_active = previous_; }

void* BufferPool::take(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= bytes;
      ++stats_.reused;
      return p;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  void* base = nullptr;
  void* p = make_block(bytes, static_cast<size_t>(stats_.fresh), &base);
  if (!p) return nullptr;
  base_of_[p] = base;
  ++stats_.fresh;
  stats_.held_bytes += bytes;
  return p;
}

void BufferPool::give(void* ptr, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_[bytes].push_back(ptr);
  stats_.cached_bytes += bytes;
}

void BufferPool::release() {
  std::vector<void*> bases;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) {
        auto it = base_of_.find(p);
        bases.push_back(it->second);
        base_of_.erase(it);
      }
    free_.clear();
    stats_.held_bytes -= stats_.cached_bytes;
    stats_.cached_bytes = 0;
  }
  for (void* b : bases) std::free(b);
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

BufferPool* BufferPool::active() { return t_active; }

bool BufferPool::installed() {
  static PoolingAllocator* ours = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    g_wrapped.store(c10::GetCPUAllocator(), std::memory_order_release);
    ours = new PoolingAllocator();
    c10::SetCPUAllocator(ours, /*priority=*/0);
  });
  return c10::GetCPUAllocator() == ours;
}

}  // namespace fx
