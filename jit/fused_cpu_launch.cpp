// FusedKernel on the CPU: the kernel for a Variant (generated and compiled
// once, through the in-memory and disk caches of jit/cpu_compiler.h), and an
// elementwise kernel's run over ATen's threads (Note [Threads for CPU
// kernels] in jit/cpu_parallel.h).
#include <algorithm>

#include "jit/cpu_parallel.h"
#include "jit/fused_kernel.h"
#include "jit/fused_layout.h"

namespace fx::jit {

std::shared_ptr<const CpuKernel> FusedKernel::kernel_for(const Variant& v) {
  std::string key = v.key();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kernels_.find(key);
    if (it != kernels_.end()) return it->second;
  }
  std::string src = source(v);
  bool memory_hit = false;
  std::shared_ptr<const CpuKernel> k;
  try {
    k = compile_cpu_kernel(src, cpu_options_, &memory_hit);
  } catch (const std::exception& e) {
    fail(key, v, src, e.what());
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  note_kernel(key, v, src, memory_hit || k->from_disk, k->compile_ms);
  kernels_[key] = k;
  return k;
}

bool FusedKernel::launch_cpu(const Variant& v, const FusedLayout& layout,
                             const std::vector<void*>& ptrs, int64_t numel,
                             const at::Tensor& anchor) {
  auto kernel = kernel_for(v);
  if (!kernel) return false;
  const int R = static_cast<int>(layout.sizes.size());
  std::vector<int64_t> flat_strides;
  for (const auto& st : layout.strides) flat_strides.insert(flat_strides.end(), st.begin(), st.end());
  const int64_t* sizes = layout.sizes.data();
  CpuKernelFn fn = kernel->fn;
  ++kernel_calls_;
  if (v.flat) {
    parallel_range(numel, kGrain, anchor, [&](int64_t b, int64_t e) {
      fn(ptrs.data(), sizes, flat_strides.data(), b, e);
    });
  } else {
    int64_t inner = layout.sizes[R - 1];
    int64_t rows = numel / inner;
    parallel_range(rows, std::max<int64_t>(1, kGrain / inner), anchor, [&](int64_t b, int64_t e) {
      fn(ptrs.data(), sizes, flat_strides.data(), b, e);
    });
  }
  return true;
}

}  // namespace fx::jit
