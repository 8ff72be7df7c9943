// See jit/fused_kernel.h. Per call:
//   1. check the inputs against the spec (tensors, dtypes, all on one CPU or
//      CUDA device); else eager;
//   2. broadcast the input shapes to the loop shape; every output must span it
//      (an output fed only by smaller inputs would not), else eager;
//   3. allocate contiguous outputs on that device; collapse dimensions that
//      every operand walks contiguously, pick the Variant, fetch its kernel
//      (compiling once);
//   4. CPU: run it over chunks on ATen's intra-op threads (Note [Threads for
//      CPU kernels], jit/fused_cpu_launch.cpp). CUDA: launch it with the
//      driver API on LibTorch's current stream of that device (Note [CUDA
//      launches], jit/fused_cuda_launch.cpp).
// The collapsing and the Variant are jit/fused_layout.h's; row kernels run
// here (run_rows).
#include "jit/fused_kernel.h"

#include <algorithm>

#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>

#include "ir/error.h"
#include "jit/cpu_parallel.h"
#include "jit/env.h"
#include "jit/fused_layout.h"
#include "runtime/buffer_pool.h"

namespace fx::jit {
namespace {

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
  static const bool on = env_jit_hugepages();
  return on;
}

at::Tensor empty_output(const std::vector<int64_t>& shape, c10::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  // Inside a module that reuses its buffers the pool serves (and keeps) the
  // block; a mapping of our own would be faulted in again on every call.
  if (!huge_pages_enabled() || BufferPool::active() ||
      static_cast<size_t>(numel) * c10::elementSize(dtype) < kHugeOutputBytes)
    return at::empty(shape, at::TensorOptions().dtype(dtype));
  static HugePageAllocator allocator;
  return at::detail::empty_generic(shape, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   dtype, std::nullopt);
}

}  // namespace

FusedKernel::FusedKernel(KernelSpec spec, std::unique_ptr<GraphModule> eager, c10::Device device,
                         CpuCompilerOptions cpu_options, CudaCompilerOptions cuda_options)
    : spec_(std::move(spec)),
      eager_(std::move(eager)),
      device_(device),
      cpu_options_(std::move(cpu_options)),
      cuda_options_(std::move(cuda_options)) {}

FusedKernel::FusedKernel(KernelSpec spec, std::unique_ptr<GraphModule> eager, c10::Device device,
                         CpuCompilerOptions cpu_options)
    : FusedKernel(std::move(spec), std::move(eager), device, cpu_options,
                  cuda_options_sharing_cache(cpu_options)) {}

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

std::string FusedKernel::source(const Variant& variant) const {
  return spec_.is_rows() ? cpu_row_source(spec_, variant) : cpu_source(spec_, variant);
}

std::string FusedKernel::cuda_source(const Variant& variant, bool index32) const {
  return fx::jit::cuda_source(spec_, variant, index32);
}

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

void FusedKernel::fail(const std::string& key, const Variant& v, const std::string& src,
                       const char* what) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!src.empty()) sources_[key] = src;
  variants_[key] = v;
  if (!failed_.exchange(true)) {
    std::string members;
    for (const auto& m : spec_.members) members += (members.empty() ? "" : ", ") + m;
    fallback_reason_ = "failed to compile " + spec_.name + " (nodes " + members +
                       "); running its nodes eagerly: " + what;
    TORCH_WARN(fallback_reason_);
  }
}

void FusedKernel::note_kernel(const std::string& key, const Variant& v, const std::string& src,
                              bool cached, double compile_ms) {
  sources_[key] = src;
  variants_[key] = v;
  if (cached)
    ++cache_hits_;
  else
    compile_ms_ += compile_ms;
}

c10::IValue FusedKernel::forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
  if (!kwargs.empty()) throw RuntimeError(spec_.name + " (fx::jit::FusedKernel) takes no kwargs");
  // A row kernel's arguments are views of its inputs (Note [Row kernels]).
  const std::vector<c10::ScalarType>& want = spec_.is_rows() ? spec_.group_inputs : spec_.inputs;
  if (failed_.load() || args.size() != want.size()) return run_eager(std::move(args));
  std::vector<at::Tensor> ins;
  ins.reserve(args.size());
  std::optional<c10::Device> device;
  for (size_t k = 0; k < args.size(); ++k) {
    if (!args[k].isTensor()) return run_eager(std::move(args));
    const at::Tensor& t = args[k].toTensor();
    if (t.scalar_type() != want[k] || t.layout() != c10::kStrided ||
        !(t.device().is_cpu() || t.device().is_cuda()) || (device && t.device() != *device))
      return run_eager(std::move(args));
    device = t.device();
    ins.push_back(t);
  }
  // A kernel without tensor inputs has nothing to say where it runs.
  if (!device) return run_eager(std::move(args));
  const bool cuda = device->is_cuda();
  if (spec_.is_rows()) {
    if (cuda) return run_cuda_rows(std::move(args), ins);  // jit/cuda_row_launch.cpp
    return run_rows(std::move(args), ins);
  }
#if !FX_HAVE_CUDA
  if (cuda) return run_eager(std::move(args));
#endif
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
  // 3. outputs, collapsed layout. When a full-size input is channels last
  // (and not also contiguous), the loop runs in N, H, W, C order so that the
  // outputs come out channels last too, as ATen's own elementwise kernels
  // make them; a convolution reading them then needs no layout copy.
  const bool nhwc = shape.size() == 4 && std::any_of(ins.begin(), ins.end(), [&](const at::Tensor& t) {
    return t.sizes().equals(shape) && !t.is_contiguous() &&
           t.is_contiguous(at::MemoryFormat::ChannelsLast);
  });
  if (nhwc) {
    for (at::Tensor& t : ins) {
      while (t.dim() < 4) t = t.unsqueeze(0);
      t = t.permute({0, 2, 3, 1});
    }
    shape = {shape[0], shape[2], shape[3], shape[1]};
  }
  std::vector<at::Tensor> outs;
  for (auto d : spec_.outputs)
    outs.push_back(cuda ? at::empty(shape, at::TensorOptions().dtype(d).device(*device))
                        : empty_output(shape, d));
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel > 0) {
    FusedLayout layout = collapse(shape, ins);
    Variant v = pick_variant(layout);
    std::vector<void*> ptrs;
    for (auto& t : ins) ptrs.push_back(t.data_ptr());
    for (auto& t : outs) ptrs.push_back(t.data_ptr());
    const bool ran = cuda ? launch_cuda(v, layout, ptrs, numel, device->index())
                          : launch_cpu(v, layout, ptrs, numel, outs[0]);
    if (!ran) return run_eager(std::move(args));
  }
  if (nhwc)
    for (at::Tensor& t : outs) t = t.permute({0, 3, 1, 2});
  if (outs.size() == 1) return outs[0];
  std::vector<c10::IValue> items(outs.begin(), outs.end());
  return c10::ivalue::Tuple::create(std::move(items));
}

// Per call of a row kernel:
//   1. view each argument as its spec says ('f', 'k', 'd') at the spec's rank;
//      the full shape S is their broadcast, and every argument must have its
//      fuse-time rank and span S exactly where it did at fuse time (else
//      eager, which decides);
//   2. empty tensors and rows run eagerly (ATen's own errors and values);
//   3. allocate the outputs (full-size ones channels last after a channels-last
//      input);
//   4. collapse each argument's and full-size output's reduced dims to one
//      walk (stride 1, 0 or another); an argument whose reduced dims do not
//      collapse is copied contiguous first; collapse the outer dims as
//      collapse() does;
//   5. run rows over ATen's threads, at least kGrain elements per chunk.
c10::IValue FusedKernel::run_rows(std::vector<c10::IValue> args,
                                  const std::vector<at::Tensor>& ins) {
  const int64_t r = spec_.rank, k = spec_.reduce_dims;
  const size_t nargs = spec_.arg_input.size();
  std::vector<at::Tensor> views;
  views.reserve(nargs);
  for (size_t a = 0; a < nargs; ++a) {
    at::Tensor t = ins[spec_.arg_input[a]];
    const char view = spec_.arg_view[a];
    const int64_t want = view == 'd' ? r - k : r;
    if (t.dim() != spec_.arg_rank[a] || t.dim() > want) return run_eager(std::move(args));
    while (t.dim() < want) t = t.unsqueeze(0);
    if (view == 'd')
      for (int64_t i = 0; i < k; ++i) t = t.unsqueeze(-1);
    views.push_back(t);
  }
  std::vector<int64_t> shape(r, 1);
  for (const at::Tensor& t : views)
    for (int64_t d = 0; d < r; ++d) {
      const int64_t s = t.size(d);
      if (s == 1) continue;
      if (shape[d] != 1 && shape[d] != s) return run_eager(std::move(args));
      shape[d] = s;
    }
  for (size_t a = 0; a < nargs; ++a)
    for (int64_t d = 0; d < r; ++d) {
      if (shape[d] == 1) continue;
      const bool spans = views[a].size(d) != 1;
      if (spans != (spec_.arg_spans[a][d] == '1')) return run_eager(std::move(args));
    }
  if (!spec_.fixed_reduced.empty() &&
      !std::equal(spec_.fixed_reduced.begin(), spec_.fixed_reduced.end(), shape.end() - k))
    return run_eager(std::move(args));
  int64_t n = 1, rows = 1;
  for (int64_t d = 0; d < r; ++d) (d < r - k ? rows : n) *= shape[d];
  if (n == 0 || rows == 0) return run_eager(std::move(args));
  // 3. Full-size outputs: channels last when a full-size input is (and not
  // also contiguous), as ATen's elementwise operators make them; row outputs
  // contiguous, in the shapes of their nodes.
  bool nhwc = false;
  for (size_t a = 0; a < nargs && r == 4; ++a) {
    const at::Tensor& t = ins[spec_.arg_input[a]];
    nhwc = nhwc || (spec_.arg_view[a] == 'f' && t.sizes().equals(shape) && !t.is_contiguous() &&
                    t.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
  std::vector<int64_t> keep = shape, drop(shape.begin(), shape.end() - k);
  for (int64_t d = r - k; d < r; ++d) keep[d] = 1;
  std::vector<at::Tensor> outs;
  std::vector<size_t> full_outs;  // indices of the full-size outputs
  for (size_t o = 0; o < spec_.outputs.size(); ++o) {
    const char view = spec_.out_view[o];
    if (view == 'f') full_outs.push_back(o);
    if (view == 'f' && nhwc)
      outs.push_back(at::empty(shape, at::TensorOptions()
                                          .dtype(spec_.outputs[o])
                                          .memory_format(at::MemoryFormat::ChannelsLast)));
    else
      outs.push_back(empty_output(view == 'f' ? shape : view == 'k' ? keep : drop, spec_.outputs[o]));
  }
  // 4. The walk along the row of each argument and full-size output, then
  // the outer dims. An argument whose reduced dims do not collapse is copied;
  // full-size outputs that do not are made contiguous (all of them).
  auto walk = [&](const at::Tensor& t, int64_t* stride) {
    int64_t expect = -1;  // the stride the next outer reduced dim must have
    *stride = 0;
    bool any = false;
    for (int64_t d = r - 1; d >= r - k; --d) {
      if (shape[d] == 1) continue;
      const int64_t s = t.size(d) == 1 ? 0 : t.stride(d);
      if (!any) {
        *stride = s;
        any = true;
      } else if (s != expect) {
        return false;
      }
      expect = s * shape[d];
    }
    return true;
  };
  std::vector<int64_t> inner(nargs + full_outs.size(), 0);
  for (size_t a = 0; a < nargs; ++a) {
    at::Tensor& t = views[a];
    if (!walk(t, &inner[a])) {
      std::vector<int64_t> e = t.sizes().vec();
      for (int64_t d = r - k; d < r; ++d) e[d] = shape[d];
      t = t.expand(e).contiguous();
      walk(t, &inner[a]);
    }
  }
  for (size_t f = 0; f < full_outs.size(); ++f)
    if (!walk(outs[full_outs[f]], &inner[nargs + f])) {
      for (size_t g = 0; g < full_outs.size(); ++g) {
        outs[full_outs[g]] = empty_output(shape, spec_.outputs[full_outs[g]]);
        walk(outs[full_outs[g]], &inner[nargs + g]);
      }
      break;
    }
  std::vector<at::Tensor> walkers = views;
  for (size_t o : full_outs) walkers.push_back(outs[o]);
  const size_t nw = walkers.size();
  FusedLayout outer;  // outer dims, merged where every walker walks them as one
  outer.strides.resize(nw);
  for (int64_t d = r - k - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    std::vector<int64_t> st(nw);
    for (size_t a = 0; a < nw; ++a) st[a] = walkers[a].size(d) == 1 ? 0 : walkers[a].stride(d);
    if (!outer.sizes.empty()) {
      bool merge = true;
      for (size_t a = 0; a < nw && merge; ++a)
        merge = st[a] == outer.strides[a].back() * outer.sizes.back();
      if (merge) {
        outer.sizes.back() *= shape[d];
        continue;
      }
    }
    outer.sizes.push_back(shape[d]);
    for (size_t a = 0; a < nw; ++a) outer.strides[a].push_back(st[a]);
  }
  std::reverse(outer.sizes.begin(), outer.sizes.end());
  for (auto& s : outer.strides) std::reverse(s.begin(), s.end());
  Variant v;
  v.rows = true;
  v.flat = false;
  v.rank = static_cast<int>(outer.sizes.size());
  for (size_t a = 0; a < nw; ++a) {
    if (a == nargs) v.pattern += '_';
    v.pattern += inner[a] == 0 ? 'b' : inner[a] == 1 ? 'c' : 's';
  }
  std::vector<int64_t> sizes = outer.sizes;
  sizes.push_back(n);
  std::vector<int64_t> strides;
  for (size_t a = 0; a < nw; ++a) {
    strides.insert(strides.end(), outer.strides[a].begin(), outer.strides[a].end());
    strides.push_back(inner[a]);
  }
  auto kernel = kernel_for(v);
  if (!kernel) return run_eager(std::move(args));
  std::vector<void*> ptrs;
  for (auto& t : views) ptrs.push_back(t.data_ptr());
  for (auto& t : outs) ptrs.push_back(t.data_ptr());
  CpuKernelFn fn = kernel->fn;
  ++kernel_calls_;
  // Any tensor of at least `rows` bytes anchors parallel_range's byte view.
  at::Tensor anchor = outs[0].nbytes() >= static_cast<size_t>(rows)
                          ? outs[0]
                          : at::empty({rows}, at::TensorOptions().dtype(at::kByte));
  parallel_range(rows, std::max<int64_t>(1, kGrain / n), anchor, [&](int64_t b, int64_t e) {
    fn(ptrs.data(), sizes.data(), strides.data(), b, e);
  });
  if (outs.size() == 1) return outs[0];
  std::vector<c10::IValue> items(outs.begin(), outs.end());
  return c10::ivalue::Tuple::create(std::move(items));
}

}  // namespace fx::jit
