// tests/gpu_skip.h decides from FX_HAVE_CUDA whether fx has its CUDA back end;
// the JIT library says so at run time. If they disagreed, GPU tests would skip
// on a GPU build or fail on a CPU one.
#include "tests/gpu_skip.h"

#include <gtest/gtest.h>

#include "jit/nvrtc.h"

namespace fx::jit {
namespace {

TEST(GpuSkip, AgreesWithTheJitLibrary) {
  EXPECT_EQ(testing_support::kBuiltWithCudaToolkit, nvrtc_available());
}

TEST(GpuSkip, SaysWhyOrNothing) {
  const std::string why = testing_support::why_no_gpu();
  EXPECT_EQ(why.empty(), at::hasCUDA() && nvrtc_available()) << why;
}

}  // namespace
}  // namespace fx::jit
