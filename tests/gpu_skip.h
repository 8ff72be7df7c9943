// The one way a test skips for want of a GPU. FX_REQUIRE_GPU() at the top of
// a test that runs on a CUDA device skips it, saying why, when no CUDA device
// is usable or fx was built without the CUDA toolkit (no NVRTC, no CUDA back
// end). FX_REQUIRE_CUDA_TOOLKIT() skips a test that only compiles for the GPU
// (NVRTC needs no device) when the toolkit was left out. Both work in any test
// binary: what the build had comes from FX_HAVE_CUDA, which every fx target is
// compiled with, so no library beyond LibTorch is needed.
#pragma once

#include <string>

#include <ATen/Context.h>
#include <gtest/gtest.h>

namespace fx::testing_support {

inline constexpr bool kBuiltWithCudaToolkit =
#if FX_HAVE_CUDA
    true;
#else
    false;
#endif

// Why a test of fused CUDA code cannot run here, or "" when it can.
inline std::string why_no_gpu() {
  if (!at::hasCUDA()) return "no CUDA device is usable on this machine";
  if (!kBuiltWithCudaToolkit) return "fx was built without the CUDA toolkit";
  return "";
}

}  // namespace fx::testing_support

#define FX_REQUIRE_GPU()                                                    \
  do {                                                                      \
    const std::string fx_why_no_gpu_ = ::fx::testing_support::why_no_gpu(); \
    if (!fx_why_no_gpu_.empty()) GTEST_SKIP() << fx_why_no_gpu_;            \
  } while (0)

#define FX_REQUIRE_CUDA_TOOLKIT()                              \
  do {                                                         \
    if (!::fx::testing_support::kBuiltWithCudaToolkit)         \
      GTEST_SKIP() << "fx was built without the CUDA toolkit"; \
  } while (0)
