// The CUDA driver API, loaded at run time: libcuda.so.1 is opened with dlopen
// on first use, so fx links and runs on machines without an NVIDIA driver
// (everything but CUDA kernels works there). Used to load NVRTC's output and
// launch fused kernels on LibTorch's current stream.
//
// Thread-safe. Errors are fx::Error (kRuntime) naming the call and the
// driver's message, e.g. "cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE ...".
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace fx::jit {

// Whether libcuda could be loaded (and cuInit succeeded); *why says why not.
bool cuda_driver_available(std::string* why = nullptr);

// FX_CUDA_DRIVER overrides the library's path (tests point it at a missing
// file to check the failure path before anything has loaded it).

// A loaded module (CUBIN or PTX) and its `fx_kernel` function, bound to the
// primary context of one device. Unloaded when the last reference goes.
class CudaFunction {
 public:
  // Loads image (CUBIN bytes or NUL-free PTX text) into device's primary
  // context; throws fx::Error when the driver or the image is unusable.
  CudaFunction(const std::string& image, int device, const std::string& name);
  ~CudaFunction();
  CudaFunction(const CudaFunction&) = delete;
  CudaFunction& operator=(const CudaFunction&) = delete;

  // Launches fx_kernel(args) with `args_bytes` bytes of parameters at args
  // (one by-value struct) on stream (a cudaStream_t / CUstream).
  void launch(const void* args, size_t args_bytes, unsigned grid, unsigned block,
              void* stream) const;
  int device() const { return device_; }

 private:
  void* context_ = nullptr;   // CUcontext: the device's primary context
  void* module_ = nullptr;    // CUmodule
  void* function_ = nullptr;  // CUfunction
  int device_ = 0;
  std::string name_;
};

// The compute capability of device as NVRTC's architecture name ("sm_90"),
// and the name to compile for: the device's own when NVRTC supports it as a
// real architecture (CUBIN), else "compute_<newest NVRTC supports>" (PTX, which
// the driver compiles for the device when it loads it).
std::string cuda_device_arch(int device);
// The number of multiprocessors of device (cached).
int cuda_sm_count(int device);
std::string nvrtc_target_arch(const std::string& device_arch);

}  // namespace fx::jit
