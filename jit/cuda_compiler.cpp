// See jit/cuda_compiler.h.
#include "jit/cuda_compiler.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "ir/error.h"
#include "jit/cpu_compiler.h"
#include "jit/disk_cache.h"
#include "jit/env.h"
#include "jit/nvrtc.h"
#include "jit/once_per_key.h"

namespace fx::jit {
namespace {

// Deliberately never destroyed: its kernels would be unloaded after the CUDA
// driver has shut down at exit.
OncePerKey<CudaKernel>& memory_cache() {
  static auto* cache = new OncePerKey<CudaKernel>();
  return *cache;
}
std::atomic<int64_t> g_compiles{0}, g_disk_hits{0}, g_memory_hits{0}, g_failures{0};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::shared_ptr<const CudaKernel> build(const std::string& source, const std::string& name,
                                        int device, const CudaCompilerOptions& o,
                                        const std::string& arch, const std::string& key) {
  // Empty: no disk cache (Note [Kernel cache directory]).
  const std::string dir = o.disk_cache ? kernel_cache_dir(o.cache_dir) : std::string();
  const std::string ext = arch.rfind("sm_", 0) == 0 ? ".cubin" : ".ptx";
  auto k = std::make_shared<CudaKernel>();
  k->key = key;
  k->arch = arch;
  std::string image;
  auto start = std::chrono::steady_clock::now();
  if (!dir.empty() && read_cache_entry(dir, key, ext, &image)) {
    try {
      k->function = std::make_shared<CudaFunction>(image, device, name);
      k->from_disk = true;
      k->load_ms = ms_since(start);
      ++g_disk_hits;
      return k;
    } catch (const Error&) {
      // A foreign or stale image the driver rejects: compile afresh.
    }
  }
  try {
    NvrtcOutput out = nvrtc_compile(source, name, arch);
    k->compile_ms = out.compile_ms;
    k->log = out.log;
    image = std::move(out.binary);
    if (ext == ".ptx") image.push_back('\0');  // the driver reads PTX as a C string
  } catch (...) {
    ++g_failures;
    throw;
  }
  if (!dir.empty()) write_cache_entry(dir, key, ext, image);
  if (!dir.empty() && env_jit_dump())
    write_private_file(std::filesystem::path(dir) / (key + ".cu"), source);
  auto load_start = std::chrono::steady_clock::now();
  k->function = std::make_shared<CudaFunction>(image, device, name);
  k->load_ms = ms_since(load_start);
  ++g_compiles;
  return k;
}

}  // namespace

CudaCompilerOptions cuda_options_sharing_cache(const CpuCompilerOptions& cpu) {
  CudaCompilerOptions o;
  o.cache_dir = cpu.cache_dir;
  o.disk_cache = cpu.disk_cache;
  return o;
}

std::shared_ptr<const CudaKernel> compile_cuda_kernel(const std::string& source,
                                                      const std::string& name, int device,
                                                      const CudaCompilerOptions& options,
                                                      bool* memory_hit) {
  std::string arch = options.arch;
  if (arch.empty()) arch = nvrtc_target_arch(cuda_device_arch(device));
  const std::string key = "cuda_" + hash_hex(arch + "\n" + source);
  const std::string mem_key = key + "@" + std::to_string(device) + "@" + options.cache_dir +
                              (options.disk_cache ? "" : "#nodisk");
  bool hit = false;
  auto k = memory_cache().get(
      mem_key, [&] { return build(source, name, device, options, arch, key); }, &hit);
  if (memory_hit) *memory_hit = hit;
  if (hit) ++g_memory_hits;
  return k;
}

CompileStats cuda_compile_stats() {
  return {g_compiles.load(), g_disk_hits.load(), g_memory_hits.load(), g_failures.load()};
}

void clear_cuda_memory_cache() { memory_cache().clear(); }

}  // namespace fx::jit
