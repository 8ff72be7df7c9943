// See jit/cuda_driver.h. The entry points are looked up once, by name, from
// libcuda.so.1; cuda.h is included only for its types. Kernels run in each
// device's primary context, the one the CUDA runtime (and so LibTorch) uses, so
// fused kernels and ATen's see the same memory and streams.
#include "jit/cuda_driver.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "ir/error.h"
#include "jit/env.h"
#include "jit/nvrtc.h"

#if FX_HAVE_CUDA
#include <cuda.h>
#include <nvrtc.h>
#endif

namespace fx::jit {

#if FX_HAVE_CUDA
namespace {

struct Driver {
  bool ok = false;
  std::string why;
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuCtxGetCurrent)(CUcontext*) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void**, void**) = nullptr;
  std::mutex ctx_mutex;
  std::vector<CUcontext> primary;  // retained once per device, never released
};

template <typename F>
bool bind(void* lib, const char* name, F& fn, std::string& why) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) why = std::string("libcuda has no ") + name;
  return fn != nullptr;
}

Driver& driver() {
  static Driver* d = [] {
    auto* d = new Driver;  // lives for the process: modules may outlive static destructors
    const std::string path = env_cuda_driver();
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      d->why = std::string("cannot load the CUDA driver (") + path + "): " + (e ? e : "unknown");
      return d;
    }
    std::string& w = d->why;
    bool ok = bind(lib, "cuInit", d->cuInit, w) &&
              bind(lib, "cuGetErrorName", d->cuGetErrorName, w) &&
              bind(lib, "cuGetErrorString", d->cuGetErrorString, w) &&
              bind(lib, "cuDeviceGet", d->cuDeviceGet, w) &&
              bind(lib, "cuDeviceGetAttribute", d->cuDeviceGetAttribute, w) &&
              bind(lib, "cuDevicePrimaryCtxRetain", d->cuDevicePrimaryCtxRetain, w) &&
              bind(lib, "cuCtxGetCurrent", d->cuCtxGetCurrent, w) &&
              bind(lib, "cuCtxSetCurrent", d->cuCtxSetCurrent, w) &&
              bind(lib, "cuModuleLoadData", d->cuModuleLoadData, w) &&
              bind(lib, "cuModuleUnload", d->cuModuleUnload, w) &&
              bind(lib, "cuModuleGetFunction", d->cuModuleGetFunction, w) &&
              bind(lib, "cuLaunchKernel", d->cuLaunchKernel, w);
    if (!ok) return d;
    CUresult r = d->cuInit(0);
    if (r != CUDA_SUCCESS) {
      const char* name = nullptr;
      d->cuGetErrorName(r, &name);
      d->why = std::string("cuInit failed: ") + (name ? name : "unknown error") +
               " (no usable GPU or driver)";
      return d;
    }
    d->ok = true;
    return d;
  }();
  return *d;
}

[[noreturn]] void fail(CUresult r, const std::string& what) {
  Driver& d = driver();
  const char* name = nullptr;
  const char* text = nullptr;
  d.cuGetErrorName(r, &name);
  d.cuGetErrorString(r, &text);
  throw RuntimeError(what + " failed: " + (name ? name : "unknown CUDA error") +
                     (text ? std::string(" (") + text + ")" : ""));
}

Driver& checked_driver() {
  Driver& d = driver();
  if (!d.ok) throw RuntimeError(d.why);
  return d;
}

// device's primary context, retained once per process (never released).
CUcontext primary_context(Driver& d, int device) {
  std::lock_guard<std::mutex> lock(d.ctx_mutex);
  if (static_cast<size_t>(device) >= d.primary.size()) d.primary.resize(device + 1, nullptr);
  if (!d.primary[device]) {
    CUdevice dev;
    CUresult r = d.cuDeviceGet(&dev, device);
    if (r != CUDA_SUCCESS) fail(r, "cuDeviceGet(" + std::to_string(device) + ")");
    r = d.cuDevicePrimaryCtxRetain(&d.primary[device], dev);
    if (r != CUDA_SUCCESS) fail(r, "cuDevicePrimaryCtxRetain");
  }
  return d.primary[device];
}

// Makes ctx current on this thread (the runtime does the same lazily; a thread
// that never touched CUDA has none). No lock: launches call it.
void make_current(Driver& d, CUcontext ctx) {
  CUcontext current = nullptr;
  CUresult r = d.cuCtxGetCurrent(&current);
  if (r != CUDA_SUCCESS) fail(r, "cuCtxGetCurrent");
  if (current != ctx) {
    r = d.cuCtxSetCurrent(ctx);
    if (r != CUDA_SUCCESS) fail(r, "cuCtxSetCurrent");
  }
}

}  // namespace

bool cuda_driver_available(std::string* why) {
  Driver& d = driver();
  if (!d.ok && why) *why = d.why;
  return d.ok;
}

CudaFunction::CudaFunction(const std::string& image, int device, const std::string& name)
    : device_(device), name_(name) {
  Driver& d = checked_driver();
  CUcontext ctx = primary_context(d, device);
  make_current(d, ctx);
  context_ = ctx;
  CUmodule module = nullptr;
  CUresult r = d.cuModuleLoadData(&module, image.c_str());
  if (r != CUDA_SUCCESS) fail(r, "cuModuleLoadData for " + name);
  CUfunction fn = nullptr;
  r = d.cuModuleGetFunction(&fn, module, "fx_kernel");
  if (r != CUDA_SUCCESS) {
    d.cuModuleUnload(module);
    fail(r, "cuModuleGetFunction(fx_kernel) for " + name);
  }
  module_ = module;
  function_ = fn;
}

CudaFunction::~CudaFunction() {
  // Never throws: at process exit the driver may already be shut down, and
  // then there is nothing left to unload.
  Driver& d = driver();
  if (!module_ || !d.ok) return;
  try {
    make_current(d, static_cast<CUcontext>(context_));
    d.cuModuleUnload(static_cast<CUmodule>(module_));
  } catch (...) {
  }
}

void CudaFunction::launch(const void* args, size_t args_bytes, unsigned grid, unsigned block,
                          void* stream) const {
  Driver& d = checked_driver();
  make_current(d, static_cast<CUcontext>(context_));
  void* config[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(args),
                    CU_LAUNCH_PARAM_BUFFER_SIZE, &args_bytes, CU_LAUNCH_PARAM_END};
  CUresult r = d.cuLaunchKernel(static_cast<CUfunction>(function_), grid, 1, 1, block, 1, 1, 0,
                                static_cast<CUstream>(stream), nullptr, config);
  if (r != CUDA_SUCCESS) fail(r, "cuLaunchKernel for " + name_);
}

std::string cuda_device_arch(int device) {
  Driver& d = checked_driver();
  CUdevice dev;
  CUresult r = d.cuDeviceGet(&dev, device);
  if (r != CUDA_SUCCESS) fail(r, "cuDeviceGet(" + std::to_string(device) + ")");
  int major = 0, minor = 0;
  d.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  d.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  return "sm_" + std::to_string(major * 10 + minor);
}

int cuda_sm_count(int device) {
  // Read on every launch: a lock-free table, filled on first use per device.
  static std::array<std::atomic<int>, 64> counts{};
  if (device < 0) device = 0;
  if (static_cast<size_t>(device) < counts.size()) {
    if (int n = counts[device].load(std::memory_order_relaxed)) return n;
  }
  Driver& d = checked_driver();
  CUdevice dev;
  CUresult r = d.cuDeviceGet(&dev, device);
  if (r != CUDA_SUCCESS) fail(r, "cuDeviceGet(" + std::to_string(device) + ")");
  int n = 0;
  d.cuDeviceGetAttribute(&n, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  n = n > 0 ? n : 1;
  if (static_cast<size_t>(device) < counts.size())
    counts[device].store(n, std::memory_order_relaxed);
  return n;
}

std::string nvrtc_target_arch(const std::string& device_arch) {
  int num = 0;
  if (nvrtcGetNumSupportedArchs(&num) != NVRTC_SUCCESS || num <= 0) return device_arch;
  std::vector<int> archs(num);
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS) return device_arch;
  const int want = std::atoi(device_arch.c_str() + 3);
  // The newest architecture NVRTC knows that the device can run: its own
  // (CUBIN), or an older one as PTX, which the driver compiles for the device.
  // A device older than all of them keeps its name, and NVRTC's error says so.
  int best = 0;
  for (int a : archs)
    if (a <= want) best = std::max(best, a);
  if (best == want || best == 0) return device_arch;
  return "compute_" + std::to_string(best);
}

#else  // !FX_HAVE_CUDA

bool cuda_driver_available(std::string* why) {
  if (why) *why = "fx was built without the CUDA toolkit";
  return false;
}
CudaFunction::CudaFunction(const std::string&, int device, const std::string& name)
    : device_(device), name_(name) {
  throw RuntimeError("cannot load " + name + ": fx was built without CUDA");
}
CudaFunction::~CudaFunction() = default;
void CudaFunction::launch(const void*, size_t, unsigned, unsigned, void*) const {}
std::string cuda_device_arch(int) { throw RuntimeError("fx was built without CUDA"); }
int cuda_sm_count(int) { return 1; }
std::string nvrtc_target_arch(const std::string& device_arch) { return device_arch; }

#endif

}  // namespace fx::jit
