// FusedKernel on a CUDA device: the launch configuration (Note [CUDA
// launches]), the kernel for a Variant and index width (generated and
// compiled once per device, through jit/cuda_compiler.h with the kernel's
// CudaCompilerOptions), and the launch on LibTorch's current stream with the
// argument CudaArgs packs (Note [CUDA kernel arguments] in jit/cuda_args.h).
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "jit/cuda_args.h"
#include "jit/cuda_driver.h"
#include "jit/fused_kernel.h"
#include "jit/fused_layout.h"

#if FX_HAVE_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace fx::jit {
namespace {

// Note [CUDA launches]: blocks of 256 threads in a grid-stride loop, at most
// 32 blocks per multiprocessor (4 waves of the 8 that fit), fewer when there
// is less work. On an H200 this beat 4, 8 and 16 blocks per SM on the 8- and
// 16-op benchmark chains by up to 7%, and 32-byte vector accesses did not help
// (bench/RESULTS.md, GPU sweep). The kernel's argument is one struct of 64-bit
// words (Note [CUDA kernel arguments]), passed by value.
constexpr unsigned kCudaBlock = 256;

// What FusedKernel::sources() lists a CUDA kernel under.
std::string cuda_kernel_key(const Variant& v, bool index32) {
  return "cuda_" + v.key() + (index32 ? "_i32" : "_i64");
}
std::atomic<int> g_vector_bytes{16}, g_blocks_per_sm{32};

}  // namespace

void set_cuda_launch_tuning(CudaLaunchTuning t) {
  g_vector_bytes = t.vector_bytes >= 32 ? 32 : 16;
  g_blocks_per_sm = std::max(1, std::min(t.blocks_per_sm, 64));
}

CudaLaunchTuning cuda_launch_tuning() { return {g_vector_bytes.load(), g_blocks_per_sm.load()}; }

std::shared_ptr<const CudaKernel> FusedKernel::cuda_kernel_for(const Variant& v, bool index32,
                                                               int device) {
  std::string key = cuda_kernel_key(v, index32);
  std::string cache_key = key + "@" + std::to_string(device);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cuda_kernels_.find(cache_key);
    if (it != cuda_kernels_.end()) return it->second;
  }
  std::string src = fx::jit::cuda_source(spec_, v, index32);
  bool memory_hit = false;
  std::shared_ptr<const CudaKernel> k;
  try {
    k = compile_cuda_kernel(src, spec_.name, device, cuda_options_, &memory_hit);
  } catch (const std::exception& e) {
    fail(key, v, src, e.what());
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  note_kernel(key, v, src, memory_hit || k->from_disk, k->compile_ms);
  cuda_kernels_[cache_key] = k;
  return k;
}

bool FusedKernel::launch_cuda(Variant v, const FusedLayout& layout, const std::vector<void*>& ptrs,
                              int64_t numel, int device) {
#if FX_HAVE_CUDA
  const size_t nin = spec_.inputs.size();
  if (v.flat) {
    // Vector accesses need every contiguous operand aligned to a whole vector.
    int vec = cuda_vector_width(spec_, v.pattern, g_vector_bytes.load());
    for (size_t k = 0; k < ptrs.size() && vec > 1; ++k) {
      if (k < nin && v.pattern[k] != 'c') continue;
      size_t bytes = c10::elementSize(k < nin ? spec_.inputs[k] : spec_.outputs[k - nin]) * vec;
      if (reinterpret_cast<uintptr_t>(ptrs[k]) % bytes != 0) vec = 1;
    }
    v.vec = vec;
  }
  const int64_t work = v.flat ? (numel + v.vec - 1) / v.vec : numel;
  const int64_t max_blocks = int64_t{g_blocks_per_sm.load()} * cuda_sm_count(device);
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>(max_blocks, (work + kCudaBlock - 1) / kCudaBlock));
  const bool index32 =
      fits_32bit_index(numel, layout.sizes, layout.strides, blocks * kCudaBlock * v.vec);
  auto kernel = cuda_kernel_for(v, index32, device);
  if (!kernel) return false;
  std::vector<int64_t> words =
      cuda_args(spec_, v).pack(ptrs, v.flat, layout.sizes, layout.strides, numel);
  cudaStream_t stream =
      c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
  try {
    kernel->function->launch(words.data(), words.size() * sizeof(int64_t),
                             static_cast<unsigned>(blocks), kCudaBlock, stream);
  } catch (const std::exception& e) {
    fail(cuda_kernel_key(v, index32), v, "", e.what());
    return false;
  }
  ++kernel_calls_;
  return true;
#else
  (void)v, (void)layout, (void)ptrs, (void)numel, (void)device;
  return false;
#endif
}

}  // namespace fx::jit
