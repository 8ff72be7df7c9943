// FusedKernel::run_cuda_rows: a row kernel's call on a CUDA device. The
// layout steps are the host path's (FusedKernel::run_rows): view each
// argument as the spec says, broadcast to the full shape S, check ranks,
// spans and fixed sizes (else eager, which decides), run empty tensors
// eagerly, allocate the outputs on the device (full-size ones channels last
// after a channels-last input), collapse every walker's reduced dims to one
// stride (copying an argument that does not collapse) and merge outer dims.
// Then Note [CUDA row launches].
#include <algorithm>
#include <cstdint>

#include <ATen/ATen.h>

#include "ir/error.h"
#include "jit/cuda_driver.h"
#include "jit/fused_kernel.h"

#if FX_HAVE_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace fx::jit {
#if FX_HAVE_CUDA
namespace {

// Note [CUDA row launches]: rows of up to kWarpRowMax elements get one warp
// each, 8 warps (256 threads) per block; longer rows get one block each, of
// 128 to 1024 threads (about 16 elements per thread per walk). A group of
// rows reduced together (KernelSpec::row_group) counts as one row of their
// total length. The grid
// strides over rows: at most blocks_per_sm (cuda_launch_tuning) blocks of 256
// threads per multiprocessor, or as many bigger blocks as that many threads.
// Vector accesses (16 bytes of the widest contiguous walker) are used when
// every contiguous walker's base and each of its row starts are aligned.
constexpr int64_t kWarpRowMax = 1024;
constexpr unsigned kWarpBlock = 256;

unsigned block_threads(int64_t n) {
  unsigned t = 128;
  while (t < 1024 && static_cast<int64_t>(t) * 16 < n) t *= 2;
  return t;
}

}  // namespace
#endif

c10::IValue FusedKernel::run_cuda_rows(std::vector<c10::IValue> args,
                                       const std::vector<at::Tensor>& ins) {
#if FX_HAVE_CUDA
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
      if ((views[a].size(d) != 1) != (spec_.arg_spans[a][d] == '1'))
        return run_eager(std::move(args));
    }
  if (!spec_.fixed_reduced.empty() &&
      !std::equal(spec_.fixed_reduced.begin(), spec_.fixed_reduced.end(), shape.end() - k))
    return run_eager(std::move(args));
  int64_t n = 1, rows = 1;
  for (int64_t d = 0; d < r; ++d) (d < r - k ? rows : n) *= shape[d];
  if (n == 0 || rows == 0) return run_eager(std::move(args));
  const c10::Device device = ins[0].device();
  bool nhwc = false;
  for (size_t a = 0; a < nargs && r == 4; ++a) {
    const at::Tensor& t = ins[spec_.arg_input[a]];
    nhwc = nhwc || (spec_.arg_view[a] == 'f' && t.sizes().equals(shape) && !t.is_contiguous() &&
                    t.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
  std::vector<int64_t> keep = shape, drop(shape.begin(), shape.end() - k);
  for (int64_t d = r - k; d < r; ++d) keep[d] = 1;
  std::vector<at::Tensor> outs;
  std::vector<size_t> full_outs;
  for (size_t o = 0; o < spec_.outputs.size(); ++o) {
    const char view = spec_.out_view[o];
    if (view == 'f') full_outs.push_back(o);
    auto options = at::TensorOptions().dtype(spec_.outputs[o]).device(device);
    if (view == 'f' && nhwc)
      outs.push_back(at::empty(shape, options.memory_format(at::MemoryFormat::ChannelsLast)));
    else
      outs.push_back(at::empty(view == 'f' ? shape : view == 'k' ? keep : drop, options));
  }
  auto walk = [&](const at::Tensor& t, int64_t* stride) {
    int64_t expect = -1;
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
        outs[full_outs[g]] =
            at::empty(shape, at::TensorOptions().dtype(spec_.outputs[full_outs[g]]).device(device));
        walk(outs[full_outs[g]], &inner[nargs + g]);
      }
      break;
    }
  std::vector<at::Tensor> walkers = views;
  for (size_t o : full_outs) walkers.push_back(outs[o]);
  const size_t nw = walkers.size();
  std::vector<int64_t> osizes;
  std::vector<std::vector<int64_t>> ostrides(nw);
  for (int64_t d = r - k - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    std::vector<int64_t> st(nw);
    for (size_t a = 0; a < nw; ++a) st[a] = walkers[a].size(d) == 1 ? 0 : walkers[a].stride(d);
    if (!osizes.empty()) {
      bool merge = true;
      for (size_t a = 0; a < nw && merge; ++a) merge = st[a] == ostrides[a].back() * osizes.back();
      if (merge) {
        osizes.back() *= shape[d];
        continue;
      }
    }
    osizes.push_back(shape[d]);
    for (size_t a = 0; a < nw; ++a) ostrides[a].push_back(st[a]);
  }
  std::reverse(osizes.begin(), osizes.end());
  for (auto& s : ostrides) std::reverse(s.begin(), s.end());
  Variant v;
  v.rows = true;
  v.flat = false;
  v.rank = static_cast<int>(osizes.size());
  for (size_t a = 0; a < nw; ++a) {
    if (a == nargs) v.pattern += '_';
    v.pattern += inner[a] == 0 ? 'b' : inner[a] == 1 ? 'c' : 's';
  }
  // What one warp or block reduces: a row, or a group of row_group rows.
  const int64_t group = spec_.row_group, units = rows / group;
  v.row_mode = n * group <= kWarpRowMax ? 'w' : 'b';
  // Vector width: 16 bytes of the widest contiguous walker, when all of them
  // start every row aligned.
  {
    size_t widest = 0;
    for (size_t a = 0; a < nw; ++a)
      if (v.pattern[a < nargs ? a : a + 1] == 'c' && (a >= nargs || spec_.arg_view[a] == 'f'))
        widest = std::max<size_t>(widest, walkers[a].element_size());
    int vec = widest > 0 && widest < 16 ? static_cast<int>(16 / widest) : 1;
    for (size_t a = 0; a < nw && vec > 1; ++a) {
      if (v.pattern[a < nargs ? a : a + 1] != 'c' || (a < nargs && spec_.arg_view[a] != 'f'))
        continue;
      const size_t bytes = walkers[a].element_size() * vec;
      bool ok = reinterpret_cast<uintptr_t>(walkers[a].data_ptr()) % bytes == 0;
      for (int64_t s : ostrides[a]) ok = ok && s % vec == 0;
      if (!ok) vec = 1;
    }
    if (vec > 1 && n >= vec) v.vec = vec;
  }
  const unsigned threads = v.row_mode == 'w' ? kWarpBlock : block_threads(n * group);
  const int64_t rows_per_block = v.row_mode == 'w' ? kWarpBlock / 32 : 1;
  const int64_t sms = cuda_sm_count(device.index());
  const int64_t max_blocks = std::max<int64_t>(
      1, int64_t{cuda_launch_tuning().blocks_per_sm} * sms * kWarpBlock / threads);
  const int64_t blocks =
      std::max<int64_t>(1, std::min(max_blocks, (units + rows_per_block - 1) / rows_per_block));
  std::vector<int64_t> sizes = osizes;
  sizes.push_back(n);
  std::vector<std::vector<int64_t>> strides(nw);
  for (size_t a = 0; a < nw; ++a) {
    strides[a] = ostrides[a];
    strides[a].push_back(inner[a]);
  }
  const int64_t slack =
      std::max<int64_t>(blocks * rows_per_block * group, int64_t{threads} * v.vec);
  const bool index32 = fits_32bit_index(rows * n, sizes, strides, slack);
  auto kernel = cuda_kernel_for(v, index32, device.index());
  if (!kernel) return run_eager(std::move(args));
  // FxRowArgs: ptr[arguments + outputs], size[rank + 1], stride[walkers * (rank + 1)], rows.
  std::vector<int64_t> words;
  for (auto& t : views)
    words.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(t.data_ptr())));
  for (auto& t : outs)
    words.push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(t.data_ptr())));
  words.insert(words.end(), sizes.begin(), sizes.end());
  for (const auto& s : strides) words.insert(words.end(), s.begin(), s.end());
  words.push_back(rows);
  cudaStream_t stream =
      c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device.index())).stream();
  try {
    kernel->function->launch(words.data(), words.size() * sizeof(int64_t),
                             static_cast<unsigned>(blocks), threads, stream);
  } catch (const std::exception& e) {
    fail("cuda_" + v.key() + (index32 ? "_i32" : "_i64"), v, "", e.what());
    return run_eager(std::move(args));
  }
  ++kernel_calls_;
  if (outs.size() == 1) return outs[0];
  std::vector<c10::IValue> items(outs.begin(), outs.end());
  return c10::ivalue::Tuple::create(std::move(items));
#else
  (void)ins;
  return run_eager(std::move(args));
#endif
}

}  // namespace fx::jit
