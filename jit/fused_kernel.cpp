// See jit/fused_kernel.h. Per call:
//   1. check the inputs against the spec (tensors, dtypes, device); else eager;
//   2. broadcast the input shapes to the loop shape; every output must span it
//      (an output fed only by smaller inputs would not), else eager;
//   3. allocate contiguous outputs; collapse dimensions that every operand
//      walks contiguously, pick the Variant, fetch its kernel (compiling once);
//   4. run it over chunks on ATen's intra-op threads (Note [Threads for CPU
//      kernels]).
#include "jit/fused_kernel.h"

#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>

#include "ir/error.h"

namespace fx::jit {
namespace {

constexpr int64_t kGrain = 32768;  // elements per chunk, as ATen's GRAIN_SIZE

// Note [Threads for CPU kernels]: at::parallel_for is a header template, and
// with LibTorch's OpenMP backend its `#pragma omp parallel` only takes effect
// in translation units compiled with -fopenmp, which fx's are not: it silently
// ran every chunk on the calling thread (one core of two at 16M elements).
// TensorIteratorBase::for_each is compiled inside LibTorch, so it splits a
// range over ATen's own intra-op threads (the pool eager ops use, so the two
// never oversubscribe each other). We iterate a byte view of n elements laid
// over `anchor` (at least n bytes, never read or written) and recover each
// chunk's [begin, end) from its pointer.
template <typename F>
void parallel_range(int64_t n, int64_t grain, const at::Tensor& anchor, const F& f) {
  if (n <= grain || at::get_num_threads() <= 1 || at::in_parallel_region()) {
    f(0, n);
    return;
  }
  at::Tensor bytes = at::from_blob(anchor.data_ptr(), {n}, at::TensorOptions().dtype(at::kByte));
  const char* base = static_cast<const char*>(bytes.const_data_ptr());
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(bytes)
                                .resize_outputs(false)
                                .check_all_same_dtype(false)
                                .set_check_mem_overlap(false)
                                .build();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        // One tensor, one dim: strides[0] == 1 (bytes); rows only if ATen split it.
        for (int64_t r = 0; r < size1; ++r) {
          int64_t begin = data[0] + r * strides[1] - base;
          f(begin, begin + size0);
        }
      },
      grain);
}

// Note [Huge pages for large outputs]: a fused kernel's output is fresh
// memory on every call (as in eager). Above glibc's largest mmap threshold
// (32 MiB) malloc maps it anew each time, so every call pays a page fault per
// 4 KiB; in a VM that is ~25 ms for 64 MiB (1.6 us/fault, not parallel),
// longer than the fused 8-op chain itself. Such outputs are mapped 2 MiB
// aligned with MADV_HUGEPAGE instead (a no-op where THP is off): 32 faults,
// ~5 ms (8-op chain on 16M floats: 35 -> 12 ms). Caveat seen in a Firecracker
// VM: the first few calls of a process can cost ~80 ms while the host backs
// guest memory that was never (or no longer) touched; steady state is fast.
// FX_JIT_HUGEPAGES=0 turns it off; smaller outputs use at::empty. (c10's own
// THP_MEM_ALLOC_ENABLE=1 does the same for every ATen allocation.)
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeOutputBytes = size_t{32} << 20;

struct Mapping {
  void* base;
  size_t len;
};

void unmap(void* ctx) {
  auto* m = static_cast<Mapping*>(ctx);
  munmap(m->base, m->len);
  delete m;
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    const size_t len = n + kHugePage;
    void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return c10::GetCPUAllocator()->allocate(n);
    auto addr = reinterpret_cast<uintptr_t>(raw);
    void* data = reinterpret_cast<void*>((addr + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1));
    madvise(data, n & ~(kHugePage - 1), MADV_HUGEPAGE);
    return {data, new Mapping{raw, len}, &unmap, c10::Device(c10::DeviceType::CPU)};
  }
  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

bool huge_pages_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("FX_JIT_HUGEPAGES");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

at::Tensor empty_output(const std::vector<int64_t>& shape, c10::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (!huge_pages_enabled() ||
      static_cast<size_t>(numel) * c10::elementSize(dtype) < kHugeOutputBytes)
    return at::empty(shape, at::TensorOptions().dtype(dtype));
  static HugePageAllocator allocator;
  return at::detail::empty_generic(shape, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   dtype, std::nullopt);
}

}  // namespace

FusedKernel::FusedKernel(KernelSpec spec, std::unique_ptr<GraphModule> eager, c10::Device device,
                         CpuCompilerOptions cpu_options)
    : spec_(std::move(spec)),
      eager_(std::move(eager)),
      device_(device),
      cpu_options_(std::move(cpu_options)) {}

std::map<std::string, std::string> FusedKernel::sources() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sources_;
}

std::vector<Variant> FusedKernel::variants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Variant> out;
  for (const auto& kv : variants_) out.push_back(kv.second);
  return out;
}

std::string FusedKernel::source(const Variant& variant) const { return cpu_source(spec_, variant); }

double FusedKernel::compile_ms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return compile_ms_;
}

std::string FusedKernel::fallback_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fallback_reason_;
}

c10::IValue FusedKernel::run_eager(std::vector<c10::IValue> args) {
  ++eager_calls_;
  return eager_->forward(std::move(args));
}

std::shared_ptr<const CpuKernel> FusedKernel::kernel_for(const Variant& v) {
  std::string key = v.key();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kernels_.find(key);
    if (it != kernels_.end()) return it->second;
  }
  std::string src = cpu_source(spec_, v);
  bool memory_hit = false;
  std::shared_ptr<const CpuKernel> k;
  try {
    k = compile_cpu_kernel(src, cpu_options_, &memory_hit);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    sources_[key] = src;
    variants_[key] = v;
    if (!failed_.exchange(true)) {
      std::string members;
      for (const auto& m : spec_.members) members += (members.empty() ? "" : ", ") + m;
      fallback_reason_ = "failed to compile " + spec_.name + " (nodes " + members +
                         "); running its nodes eagerly: " + e.what();
      TORCH_WARN(fallback_reason_);
    }
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  sources_[key] = src;
  variants_[key] = v;
  if (memory_hit || k->from_disk)
    ++cache_hits_;
  else
    compile_ms_ += k->compile_ms;
  kernels_[key] = k;
  return k;
}

c10::IValue FusedKernel::forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
  if (!kwargs.empty())
    throw Error(ErrorKind::kRuntime, spec_.name + " (fx::jit::FusedKernel) takes no kwargs");
  if (failed_.load() || args.size() != spec_.inputs.size()) return run_eager(std::move(args));
  std::vector<at::Tensor> ins;
  ins.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    if (!args[k].isTensor()) return run_eager(std::move(args));
    const at::Tensor& t = args[k].toTensor();
    if (t.scalar_type() != spec_.inputs[k] || !t.device().is_cpu() || t.layout() != c10::kStrided)
      return run_eager(std::move(args));
    ins.push_back(t);
  }
  // 2. loop shape
  std::vector<int64_t> shape;
  try {
    for (const auto& t : ins) shape = at::infer_size(shape, t.sizes());
  } catch (const std::exception&) {
    return run_eager(std::move(args));  // eager raises ATen's own error
  }
  for (const auto& deps : spec_.out_deps) {
    std::vector<int64_t> s;
    for (int k : deps) s = at::infer_size(s, ins[k].sizes());
    if (s != shape) return run_eager(std::move(args));
  }
  // 3. outputs, collapsed layout
  std::vector<at::Tensor> outs;
  for (auto d : spec_.outputs) outs.push_back(empty_output(shape, d));
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel > 0) {
    const size_t nin = ins.size();
    const int64_t R0 = static_cast<int64_t>(shape.size());
    // Dims from innermost outwards: sizes and per-input strides (0 where broadcast).
    std::vector<int64_t> sizes;
    std::vector<std::vector<int64_t>> strides(nin);
    for (int64_t d = R0 - 1; d >= 0; --d) {
      if (shape[d] == 1) continue;
      std::vector<int64_t> st(nin);
      for (size_t k = 0; k < nin; ++k) {
        int64_t kd = d - (R0 - ins[k].dim());
        st[k] = (kd < 0 || ins[k].size(kd) == 1) ? 0 : ins[k].stride(kd);
      }
      if (!sizes.empty()) {
        bool merge = true;
        for (size_t k = 0; k < nin && merge; ++k) merge = st[k] == strides[k].back() * sizes.back();
        if (merge) {
          sizes.back() *= shape[d];
          continue;
        }
      }
      sizes.push_back(shape[d]);
      for (size_t k = 0; k < nin; ++k) strides[k].push_back(st[k]);
    }
    std::reverse(sizes.begin(), sizes.end());
    for (auto& s : strides) std::reverse(s.begin(), s.end());
    const int R = static_cast<int>(sizes.size());
    Variant v;
    v.flat = R == 0;
    if (R == 1) {
      v.flat = true;
      for (size_t k = 0; k < nin; ++k)
        v.flat = v.flat && (strides[k][0] == 0 || strides[k][0] == 1);
    }
    v.rank = std::max(R, 1);
    for (size_t k = 0; k < nin; ++k) {
      int64_t inner = R == 0 ? 0 : strides[k][R - 1];
      v.pattern += inner == 0 ? 'b' : inner == 1 ? 'c' : 's';
    }
    auto kernel = kernel_for(v);
    if (!kernel) return run_eager(std::move(args));
    std::vector<void*> ptrs;
    for (auto& t : ins) ptrs.push_back(t.data_ptr());
    for (auto& t : outs) ptrs.push_back(t.data_ptr());
    std::vector<int64_t> flat_strides;
    for (size_t k = 0; k < nin; ++k)
      flat_strides.insert(flat_strides.end(), strides[k].begin(), strides[k].end());
    CpuKernelFn fn = kernel->fn;
    ++kernel_calls_;
    if (v.flat) {
      parallel_range(numel, kGrain, outs[0], [&](int64_t b, int64_t e) {
        fn(ptrs.data(), sizes.data(), flat_strides.data(), b, e);
      });
    } else {
      int64_t inner = sizes[R - 1];
      int64_t rows = numel / inner;
      parallel_range(
          rows, std::max<int64_t>(1, kGrain / inner), outs[0],
          [&](int64_t b, int64_t e) { fn(ptrs.data(), sizes.data(), flat_strides.data(), b, e); });
    }
  }
  if (outs.size() == 1) return outs[0];
  std::vector<c10::IValue> items(outs.begin(), outs.end());
  return c10::ivalue::Tuple::create(std::move(items));
}

}  // namespace fx::jit
