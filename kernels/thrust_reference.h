// Hand-fused reference kernels for the fusion benchmark's chains, written with
// Thrust and compiled by nvcc (kernels/thrust_reference.cu): the optimum the
// generated kernels are measured against, and a second oracle for the GPU
// tests. Built whenever the CUDA toolkit is (FX_HAVE_CUDA); only running it
// needs a GPU.
//
// The chain is bench/fusion_bench.cpp's: a = x*y; b = a+1; c = sigmoid(b);
// d = c*x; e = tanh(d); f = e-y; g = relu(f); out = g*0.5; the n-op chain is
// its first n steps, repeating after 8.
#pragma once
#include <cstdint>

namespace fx::reference {

// Whether n is a chain length with a compiled reference (1, 2, 4, 8, 16).
bool thrust_chain_supported(int n);

// out[i] = chain_n(x[i], y[i]) for i < count, float32 device pointers,
// enqueued on stream (a cudaStream_t). Throws std::invalid_argument for an
// unsupported n, std::runtime_error for a CUDA error.
void thrust_chain(int n, const float* x, const float* y, float* out, int64_t count, void* stream);

}  // namespace fx::reference
