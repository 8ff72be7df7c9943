// Running a CPU kernel's range of work over ATen's intra-op threads, as both
// FusedKernel's elementwise and row kernels do (Note [Threads for CPU kernels]).
#pragma once
#include <cstdint>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

namespace fx::jit {

constexpr int64_t kGrain = 32768;  // elements per chunk, as ATen's GRAIN_SIZE

// Note [Threads for CPU kernels]: at::parallel_for is a header template, and
// with LibTorch's OpenMP backend its `#pragma omp parallel` only takes effect
// in translation units compiled with -fopenmp, which fx's are not: it silently
// ran every chunk on the calling thread (one core of two at 16M elements).
// TensorIteratorBase::for_each is compiled inside LibTorch, so it splits a
// range over ATen's own intra-op threads (the pool eager ops use, so the two
// never oversubscribe each other). We iterate a byte view of n elements laid
// over `anchor` (at least n bytes, never read or written) and recover each
// chunk's [begin, end) from its pointer.
template <typename F>
void parallel_range(int64_t n, int64_t grain, const at::Tensor& anchor, const F& f) {
  if (n <= grain || at::get_num_threads() <= 1 || at::in_parallel_region()) {
    f(0, n);
    return;
  }
  at::Tensor bytes = at::from_blob(anchor.data_ptr(), {n}, at::TensorOptions().dtype(at::kByte));
  const char* base = static_cast<const char*>(bytes.const_data_ptr());
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(bytes)
                                .resize_outputs(false)
                                .check_all_same_dtype(false)
                                .set_check_mem_overlap(false)
                                .build();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        // One tensor, one dim: strides[0] == 1 (bytes); rows only if ATen split it.
        for (int64_t r = 0; r < size1; ++r) {
          int64_t begin = data[0] + r * strides[1] - base;
          f(begin, begin + size0);
        }
      },
      grain);
}

}  // namespace fx::jit
