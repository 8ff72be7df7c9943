// fx::BufferPlans: a module's BufferPools, one per input signature (dtype,
// device, sizes and strides of each tensor input; the value of each integer
// input). The first call with a signature makes its pool; later calls with
// it reuse that pool's blocks (runtime/buffer_pool.h). At most `capacity`
// signatures are kept: the least recently used one's pool is dropped when a
// new one arrives, so a module fed ever-changing shapes holds a bounded set
// of plans. The signature only decides which cache is used, never what is
// computed. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/buffer_pool.h"

namespace fx {

class BufferPlans {
 public:
  explicit BufferPlans(size_t capacity = 4) : capacity_(capacity == 0 ? 1 : capacity) {}

  std::shared_ptr<BufferPool> pool_for(const std::vector<c10::IValue>& inputs);
  // Drops every plan (blocks in use are freed when their tensors die).
  void release();
  size_t plans() const;
  // Summed over the plans kept.
  BufferPool::Stats stats() const;

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  // Most recently used first.
  std::vector<std::pair<std::vector<int64_t>, std::shared_ptr<BufferPool>>> entries_;
};

}  // namespace fx
