// See kernels/thrust_reference.h. One functor per chain length; the whole
// chain is one thrust::transform over (x, y), so each element is read and
// written once, as in a fused kernel.
#include "kernels/thrust_reference.h"

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>
#include <thrust/execution_policy.h>
#include <thrust/transform.h>

namespace fx::reference {
namespace {

template <int N>
struct Chain {
  __device__ float operator()(float x, float y) const {
    float v = x;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      switch (i % 8) {
        case 0: v = v * y; break;
        case 1: v = v + 1.0f; break;
        case 2: v = 1.0f / (1.0f + expf(-v)); break;
        case 3: v = v * x; break;
        case 4: v = tanhf(v); break;
        case 5: v = v - y; break;
        case 6: v = v > 0.0f ? v : 0.0f; break;
        default: v = v * 0.5f;
      }
    }
    return v;
  }
};

template <int N>
void run(const float* x, const float* y, float* out, int64_t count, cudaStream_t stream) {
  thrust::transform(thrust::cuda::par_nosync.on(stream), x, x + count, y, out, Chain<N>());
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("thrust_chain: ") + cudaGetErrorString(e));
}

}  // namespace

bool thrust_chain_supported(int n) { return n == 1 || n == 2 || n == 4 || n == 8 || n == 16; }

void thrust_chain(int n, const float* x, const float* y, float* out, int64_t count, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (n) {
    case 1: return run<1>(x, y, out, count, s);
    case 2: return run<2>(x, y, out, count, s);
    case 4: return run<4>(x, y, out, count, s);
    case 8: return run<8>(x, y, out, count, s);
    case 16: return run<16>(x, y, out, count, s);
    default:
      throw std::invalid_argument("thrust_chain: no reference for a chain of " +
                                  std::to_string(n) + " ops (1, 2, 4, 8 or 16)");
  }
}

}  // namespace fx::reference
