// See jit/fused_kernel.h. Per call:
//   1. check the inputs against the spec (tensors, dtypes, all on one CPU or
//      CUDA device); else eager;
//   2. broadcast the input shapes to the loop shape; every output must span it
//      (an output fed only by smaller inputs would not), else eager;
//   3. allocate contiguous outputs on that device; collapse dimensions that
//      every operand walks contiguously, pick the Variant, fetch its kernel
//      (compiling once);
//   4. CPU: run it over chunks on ATen's intra-op threads (Note [Threads for
//      CPU kernels]). CUDA: launch it with the driver API on LibTorch's current
//      stream of that device (Note [CUDA launches]).
#include "jit/fused_kernel.h"

#include <algorithm>

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
#include "jit/cuda_driver.h"

#if FX_HAVE_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

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

// Dimensions of the loop after collapsing: sizes outermost first, and per
// input its strides in elements (0 where it broadcasts).
struct FusedLayout {
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> strides;
};

namespace {

FusedLayout collapse(const std::vector<int64_t>& shape, const std::vector<at::Tensor>& ins) {
  const size_t nin = ins.size();
  const int64_t R0 = static_cast<int64_t>(shape.size());
  FusedLayout l;
  l.strides.resize(nin);
  // From the innermost dim outwards, merging a dim into the previous one when
  // every input walks both as one.
  for (int64_t d = R0 - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    std::vector<int64_t> st(nin);
    for (size_t k = 0; k < nin; ++k) {
      int64_t kd = d - (R0 - ins[k].dim());
      st[k] = (kd < 0 || ins[k].size(kd) == 1) ? 0 : ins[k].stride(kd);
    }
    if (!l.sizes.empty()) {
      bool merge = true;
      for (size_t k = 0; k < nin && merge; ++k)
        merge = st[k] == l.strides[k].back() * l.sizes.back();
      if (merge) {
        l.sizes.back() *= shape[d];
        continue;
      }
    }
    l.sizes.push_back(shape[d]);
    for (size_t k = 0; k < nin; ++k) l.strides[k].push_back(st[k]);
  }
  std::reverse(l.sizes.begin(), l.sizes.end());
  for (auto& s : l.strides) std::reverse(s.begin(), s.end());
  return l;
}

Variant pick_variant(const FusedLayout& l) {
  const int R = static_cast<int>(l.sizes.size());
  Variant v;
  v.flat = R == 0;
  if (R == 1) {
    v.flat = true;
    for (const auto& st : l.strides) v.flat = v.flat && (st[0] == 0 || st[0] == 1);
  }
  v.rank = std::max(R, 1);
  for (const auto& st : l.strides) {
    int64_t inner = R == 0 ? 0 : st[R - 1];
    v.pattern += inner == 0 ? 'b' : inner == 1 ? 'c' : 's';
  }
  return v;
}

// Note [CUDA launches]: blocks of 256 threads in a grid-stride loop, at most
// 32 blocks per multiprocessor (4 waves of the 8 that fit), fewer when there
// is less work. On an H200 this beat 4, 8 and 16 blocks per SM on the 8- and
// 16-op benchmark chains by up to 7%, and 32-byte vector accesses did not help
// (bench/RESULTS.md, GPU sweep). The kernel's argument is one struct of 64-bit
// words (jit/cuda_codegen.cpp), passed by value.
constexpr unsigned kCudaBlock = 256;

// What FusedKernel::sources() lists a CUDA kernel under.
std::string cuda_kernel_key(const Variant& v, bool index32) {
  return "cuda_" + v.key() + (index32 ? "_i32" : "_i64");
}
std::atomic<int> g_vector_bytes{16}, g_blocks_per_sm{32};

}  // namespace

void set_cuda_launch_tuning(CudaLaunchTuning t) {
  g_vector_bytes = t.vector_bytes >= 32 ? 32 : 16;
  g_blocks_per_sm = std::max(1, std::min(t.blocks_per_sm, 64));
}

CudaLaunchTuning cuda_launch_tuning() { return {g_vector_bytes.load(), g_blocks_per_sm.load()}; }

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

std::shared_ptr<const CpuKernel> FusedKernel::kernel_for(const Variant& v) {
  std::string key = v.key();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kernels_.find(key);
    if (it != kernels_.end()) return it->second;
  }
  std::string src = source(v);
  bool memory_hit = false;
  std::shared_ptr<const CpuKernel> k;
  try {
    k = compile_cpu_kernel(src, cpu_options_, &memory_hit);
  } catch (const std::exception& e) {
    fail(key, v, src, e.what());
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  note_kernel(key, v, src, memory_hit || k->from_disk, k->compile_ms);
  kernels_[key] = k;
  return k;
}

std::shared_ptr<const CudaKernel> FusedKernel::cuda_kernel_for(const Variant& v, bool index32,
                                                               int device) {
  std::string key = cuda_kernel_key(v, index32);
  std::string cache_key = key + "@" + std::to_string(device);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cuda_kernels_.find(cache_key);
    if (it != cuda_kernels_.end()) return it->second;
  }
  std::string src = fx::jit::cuda_source(spec_, v, index32);
  CudaCompilerOptions o;
  o.cache_dir = cpu_options_.cache_dir;
  o.disk_cache = cpu_options_.disk_cache;
  bool memory_hit = false;
  std::shared_ptr<const CudaKernel> k;
  try {
    k = compile_cuda_kernel(src, spec_.name, device, o, &memory_hit);
  } catch (const std::exception& e) {
    fail(key, v, src, e.what());
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  note_kernel(key, v, src, memory_hit || k->from_disk, k->compile_ms);
  cuda_kernels_[cache_key] = k;
  return k;
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
    const int R = static_cast<int>(layout.sizes.size());
    if (cuda) {
      if (!launch_cuda(v, layout, ptrs, numel, device->index())) return run_eager(std::move(args));
    } else {
      auto kernel = kernel_for(v);
      if (!kernel) return run_eager(std::move(args));
      std::vector<int64_t> flat_strides;
      for (const auto& st : layout.strides)
        flat_strides.insert(flat_strides.end(), st.begin(), st.end());
      const int64_t* sizes = layout.sizes.data();
      CpuKernelFn fn = kernel->fn;
      ++kernel_calls_;
      if (v.flat) {
        parallel_range(numel, kGrain, outs[0], [&](int64_t b, int64_t e) {
          fn(ptrs.data(), sizes, flat_strides.data(), b, e);
        });
      } else {
        int64_t inner = layout.sizes[R - 1];
        int64_t rows = numel / inner;
        parallel_range(
            rows, std::max<int64_t>(1, kGrain / inner), outs[0],
            [&](int64_t b, int64_t e) { fn(ptrs.data(), sizes, flat_strides.data(), b, e); });
      }
    }
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

bool FusedKernel::launch_cuda(Variant v, const FusedLayout& layout, const std::vector<void*>& ptrs,
                              int64_t numel, int device) {
#if FX_HAVE_CUDA
  const size_t nin = spec_.inputs.size();
  if (v.flat) {
    // Vector accesses need every contiguous operand aligned to a whole vector.
    int vec = cuda_vector_width(spec_, v.pattern, g_vector_bytes.load());
    for (size_t k = 0; k < ptrs.size() && vec > 1; ++k) {
      if (k < nin && v.pattern[k] != 'c') continue;
      size_t bytes = c10::elementSize(k < nin ? spec_.inputs[k] : spec_.outputs[k - nin]) * vec;
      if (reinterpret_cast<uintptr_t>(ptrs[k]) % bytes != 0) vec = 1;
    }
    v.vec = vec;
  }
  const int64_t work = v.flat ? (numel + v.vec - 1) / v.vec : numel;
  const int64_t max_blocks = int64_t{g_blocks_per_sm.load()} * cuda_sm_count(device);
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>(max_blocks, (work + kCudaBlock - 1) / kCudaBlock));
  const bool index32 =
      fits_32bit_index(numel, layout.sizes, layout.strides, blocks * kCudaBlock * v.vec);
  auto kernel = cuda_kernel_for(v, index32, device);
  if (!kernel) return false;
  // FxArgs: ptr[nin + nout], size[R], stride[max(nin * R, 1)], n; R = 1 when flat.
  std::vector<int64_t> words;
  for (void* p : ptrs) words.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(p)));
  if (v.flat) {
    words.push_back(numel);
    for (size_t i = 0; i < std::max<size_t>(nin, 1); ++i) words.push_back(0);
  } else {
    words.insert(words.end(), layout.sizes.begin(), layout.sizes.end());
    for (const auto& st : layout.strides) words.insert(words.end(), st.begin(), st.end());
    if (nin == 0) words.push_back(0);
  }
  words.push_back(numel);
  cudaStream_t stream =
      c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
  try {
    kernel->function->launch(words.data(), words.size() * sizeof(int64_t),
                             static_cast<unsigned>(blocks), kCudaBlock, stream);
  } catch (const std::exception& e) {
    fail(cuda_kernel_key(v, index32), v, "", e.what());
    return false;
  }
  ++kernel_calls_;
  return true;
#else
  (void)v, (void)layout, (void)ptrs, (void)numel, (void)device;
  return false;
#endif
}

}  // namespace fx::jit
