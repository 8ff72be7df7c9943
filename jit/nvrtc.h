// NVRTC: compiles generated CUDA C++ to CUBIN (or PTX) in process. Works
// without a GPU or driver, so CI compiles every generated kernel. Available
// when fx was built with the CUDA toolkit (FX_HAVE_CUDA).
#pragma once
#include <string>

namespace fx::jit {

// Whether this build has NVRTC.
bool nvrtc_available();

struct NvrtcOutput {
  std::string binary;  // CUBIN bytes, or PTX text
  std::string log;
  double compile_ms = 0;
};

// Compiles source for arch ("sm_90": CUBIN; "compute_90": PTX). Throws
// fx::CompileError with NVRTC's log on failure, or when NVRTC is unavailable.
NvrtcOutput nvrtc_compile(const std::string& source, const std::string& name,
                          const std::string& arch = "sm_90");

}  // namespace fx::jit
