// FusedKernel: the Module behind a fused call_module node. It owns the group's
// KernelSpec, generates and compiles one kernel per Variant (layout) on first
// use, and runs it: on CPU with the host compiler's kernel, on a CUDA device
// with NVRTC's, launched on LibTorch's current stream; anything it cannot run (a compile error, an
// unexpected dtype or device, shapes that broadcast differently than at fuse time) runs the group's
// original nodes eagerly instead. A compile failure is sticky and warned about once, with the
// compiler's log.
//
// Thread-safe: forward may be called from many threads at once.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jit/cpu_compiler.h"
#include "jit/cuda_compiler.h"
#include "jit/kernel.h"
#include "runtime/graph_module.h"
#include "runtime/module.h"

namespace fx::jit {

struct FusedLayout;

// How CUDA kernels are launched (Note [CUDA launches] in fused_cuda_launch.cpp):
// bytes per vector access of each contiguous operand (16 or 32) and the most
// blocks of 256 threads per multiprocessor. Process-wide; for benchmarks that
// compare settings (bench/gpu_check.cpp). Values are clamped to sane ranges.
struct CudaLaunchTuning {
  int vector_bytes = 16;
  int blocks_per_sm = 32;
};
void set_cuda_launch_tuning(CudaLaunchTuning tuning);
CudaLaunchTuning cuda_launch_tuning();

class FusedKernel : public Module {
 public:
  // eager: a GraphModule of the group's original nodes (same inputs and outputs).
  // CPU kernels are compiled with cpu_options, CUDA kernels with cuda_options
  // (each with its own cache directory and disk_cache switch).
  FusedKernel(KernelSpec spec, std::unique_ptr<GraphModule> eager, c10::Device device,
              CpuCompilerOptions cpu_options, CudaCompilerOptions cuda_options);
  // CUDA kernels share cpu_options' cache_dir and disk_cache.
  FusedKernel(KernelSpec spec, std::unique_ptr<GraphModule> eager, c10::Device device,
              CpuCompilerOptions cpu_options);
  FusedKernel(const FusedKernel&) = delete;
  FusedKernel& operator=(const FusedKernel&) = delete;

  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) override;
  std::string kind() const override { return "fx::jit::FusedKernel"; }

  // --- inspection ---------------------------------------------------------
  const KernelSpec& spec() const { return spec_; }
  const std::vector<std::string>& members() const { return spec_.members; }
  // Generated sources so far, by kernel key: the variant's key, prefixed
  // "cuda_" and suffixed "_i32"/"_i64" (index width) for CUDA kernels.
  std::map<std::string, std::string> sources() const;
  // The layouts seen so far (each has a compiled or failed kernel), by key.
  std::vector<Variant> variants() const;
  // The host C++ source for one variant (generated on demand, nothing compiled).
  std::string source(const Variant& variant) const;
  // The CUDA source for one variant, likewise.
  std::string cuda_source(const Variant& variant, bool index32) const;
  double compile_ms() const;  // total host-compiler and NVRTC time spent for this kernel
  int64_t cache_hits() const { return cache_hits_.load(); }  // kernels found, not compiled
  int64_t kernel_calls() const { return kernel_calls_.load(); }
  int64_t eager_calls() const { return eager_calls_.load(); }
  bool fell_back() const { return failed_.load(); }
  std::string fallback_reason() const;
  const GraphModule& eager_module() const { return *eager_; }
  c10::Device device() const { return device_; }  // where fuse placed the group
  const CpuCompilerOptions& cpu_options() const { return cpu_options_; }
  const CudaCompilerOptions& cuda_options() const { return cuda_options_; }

 private:
  c10::IValue run_eager(std::vector<c10::IValue> args);
  // A row kernel's call (Note [Row kernels] in jit/kernel.h); ins are the
  // checked inputs, all on the CPU.
  c10::IValue run_rows(std::vector<c10::IValue> args, const std::vector<at::Tensor>& ins);
  // The same on a CUDA device (jit/cuda_row_launch.cpp).
  c10::IValue run_cuda_rows(std::vector<c10::IValue> args, const std::vector<at::Tensor>& ins);
  // jit/fused_cpu_launch.cpp
  std::shared_ptr<const CpuKernel> kernel_for(const Variant& v);
  // Runs the CPU kernel for v over ATen's threads; anchor is an output of at
  // least numel bytes (false: it could not be compiled or loaded).
  bool launch_cpu(const Variant& v, const FusedLayout& layout, const std::vector<void*>& ptrs,
                  int64_t numel, const at::Tensor& anchor);
  // jit/fused_cuda_launch.cpp
  std::shared_ptr<const CudaKernel> cuda_kernel_for(const Variant& v, bool index32, int device);
  // Launches the CUDA kernel for v (false: it could not be compiled or loaded).
  bool launch_cuda(Variant v, const FusedLayout& layout, const std::vector<void*>& ptrs,
                   int64_t numel, int device);
  // Records a kernel found or compiled for key (mutex_ held).
  void note_kernel(const std::string& key, const Variant& v, const std::string& src, bool cached,
                   double compile_ms);
  // Records a compile failure: sticky, warned about once.
  void fail(const std::string& key, const Variant& v, const std::string& src, const char* what);

  KernelSpec spec_;
  std::unique_ptr<GraphModule> eager_;
  c10::Device device_;
  CpuCompilerOptions cpu_options_;
  CudaCompilerOptions cuda_options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const CpuKernel>> kernels_;
  std::map<std::string, std::shared_ptr<const CudaKernel>> cuda_kernels_;
  std::map<std::string, std::string> sources_;
  std::map<std::string, Variant> variants_;
  double compile_ms_ = 0;
  std::string fallback_reason_;
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> cache_hits_{0}, kernel_calls_{0}, eager_calls_{0};
};

}  // namespace fx::jit
