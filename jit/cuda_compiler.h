// Compiles generated CUDA C++ with NVRTC and loads it into a device, once per
// (source, target architecture, device): an in-memory cache (one compile per
// key even when many threads ask at once) over the disk cache of
// jit/disk_cache.h, which keeps the CUBIN (or PTX) NVRTC produced.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "jit/cpu_compiler.h"
#include "jit/cuda_driver.h"

namespace fx::jit {

struct CudaCompilerOptions {
  std::string cache_dir;  // empty: Note [Kernel cache directory] (jit/disk_cache.h)
  bool disk_cache = true;
  std::string arch;  // empty: the device's (nvrtc_target_arch of cuda_device_arch)
};

// Options for CUDA kernels that cache where cpu does: its cache_dir and
// disk_cache, the device's architecture.
CudaCompilerOptions cuda_options_sharing_cache(const CpuCompilerOptions& cpu);

struct CudaKernel {
  std::shared_ptr<CudaFunction> function;
  std::string key;
  std::string arch;       // what NVRTC compiled for: "sm_90" or "compute_90"
  double compile_ms = 0;  // NVRTC time; 0 when it came from disk
  double load_ms = 0;     // cuModuleLoadData (and, from disk, reading the entry)
  bool from_disk = false;
  std::string log;  // NVRTC's log, usually empty
};

// The kernel for source on device, compiled or loaded; *memory_hit says
// whether this process had it already. Throws fx::CompileError with NVRTC's
// log when it does not compile, fx::Error (kRuntime) when the driver cannot
// load it (no libcuda, no such device, invalid image).
std::shared_ptr<const CudaKernel> compile_cuda_kernel(const std::string& source,
                                                      const std::string& name, int device,
                                                      const CudaCompilerOptions& options,
                                                      bool* memory_hit = nullptr);

// Process-wide counters of NVRTC kernels, as compile_stats() counts host ones
// (tests check "compiled exactly once").
CompileStats cuda_compile_stats();
void clear_cuda_memory_cache();

}  // namespace fx::jit
