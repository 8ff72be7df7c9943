// The CUDA C++ target (compiled with NVRTC; no includes beyond the prelude).
// The kernel's one parameter, FxArgs, is declared and indexed as CudaArgs
// describes it (Note [CUDA kernel arguments] in jit/cuda_args.h).
//   flat: each thread handles `vec` consecutive elements per step of a
//         grid-stride loop, loading and storing every contiguous operand as
//         one aligned access of vec elements (16 bytes for the widest type),
//         then a scalar tail; broadcast inputs read element 0.
//   N-D:  a grid-stride loop over the linear index, offsets from div/mod by size.
// index32 selects 32-bit index arithmetic (the caller checks with
// fits_32bit_index that every offset fits).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "jit/cuda_args.h"
#include "jit/kernel.h"
#include "jit/ops.h"

namespace fx::jit {

int cuda_vector_width(const KernelSpec& spec, const std::string& pattern, int vector_bytes) {
  size_t widest = 0;
  for (size_t k = 0; k < spec.inputs.size(); ++k)
    if (k < pattern.size() && pattern[k] == 'c')
      widest = std::max(widest, c10::elementSize(spec.inputs[k]));
  for (auto d : spec.outputs) widest = std::max(widest, c10::elementSize(d));
  const size_t bytes = vector_bytes > 0 ? static_cast<size_t>(vector_bytes) : 16;
  if (widest == 0 || widest >= bytes) return 1;
  return static_cast<int>(bytes / widest);
}

bool fits_32bit_index(int64_t numel, const std::vector<int64_t>& sizes,
                      const std::vector<std::vector<int64_t>>& strides, int64_t stride_slack) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (numel < 0 || stride_slack < 0 || numel > kMax - stride_slack) return false;
  for (const auto& st : strides) {
    int64_t reach = 0;
    for (size_t d = 0; d < sizes.size() && d < st.size(); ++d) {
      if (sizes[d] <= 0) return true;  // empty: nothing is addressed
      int64_t s = st[d] < 0 ? -st[d] : st[d];
      if (s != 0 && sizes[d] - 1 > (kMax - reach) / s) return false;
      reach += (sizes[d] - 1) * s;
    }
  }
  return true;
}

std::string cuda_source(const KernelSpec& spec, const Variant& variant, bool index32) {
  if (spec.is_rows()) return cuda_row_source(spec, variant, index32);
  const size_t nin = spec.inputs.size(), nout = spec.outputs.size();
  const CudaArgs args = cuda_args(spec, variant);
  const int64_t R = args.rank;
  const int vec = variant.flat ? std::max(1, variant.vec) : 1;
  std::ostringstream os;
  os << "// fx fused kernel " << spec.name << " for NVRTC, variant " << variant.key()
     << (index32 ? " (32-bit indexing)" : " (64-bit indexing)") << "\n";
  os << kernel_prelude();
  os << "\n" << args.declaration();
  if (vec > 1)
    os << "template <typename T, int N> struct alignas(sizeof(T) * N) FxVec { T v[N]; };\n";
  os << "typedef " << (index32 ? "int" : "long long") << " index_t;\n";
  os << "extern \"C\" __global__ void fx_kernel(const FxArgs args) {\n";
  for (size_t k = 0; k < nin; ++k)
    os << "  const " << storage_ctype(spec.inputs[k]) << "* __restrict__ in" << k << " = (const "
       << storage_ctype(spec.inputs[k]) << "*)args.ptr[" << k << "];\n";
  for (size_t k = 0; k < nout; ++k)
    os << "  " << storage_ctype(spec.outputs[k]) << "* __restrict__ out" << k << " = ("
       << storage_ctype(spec.outputs[k]) << "*)args.ptr[" << nin + k << "];\n";
  os << "  const index_t n = (index_t)args.n;\n";
  os << "  const index_t step = (index_t)blockDim.x * gridDim.x;\n";
  os << "  const index_t first = (index_t)blockIdx.x * blockDim.x + threadIdx.x;\n";
  std::vector<std::string> in_refs, out_refs;
  if (variant.flat) {
    std::string tail_start = "0";
    if (vec > 1) {
      // Vector part: loads into registers, the element body per lane, vector stores.
      std::vector<std::string> vin_refs, vout_refs;
      std::ostringstream loads, stores;
      for (size_t k = 0; k < nin; ++k) {
        std::string ks = std::to_string(k);
        if (variant.pattern[k] == 'b') {
          vin_refs.push_back("in" + ks + "[0]");
          continue;
        }
        std::string vt = std::string("FxVec<") + storage_ctype(spec.inputs[k]) + ", " +
                         std::to_string(vec) + ">";
        loads << "    const " << vt << " l" << ks << " = ((const " << vt << "*)in" << ks
              << ")[v];\n";
        vin_refs.push_back("l" + ks + ".v[u]");
      }
      for (size_t k = 0; k < nout; ++k) {
        std::string ks = std::to_string(k);
        std::string vt = std::string("FxVec<") + storage_ctype(spec.outputs[k]) + ", " +
                         std::to_string(vec) + ">";
        loads << "    " << vt << " s" << ks << ";\n";
        stores << "    ((" << vt << "*)out" << ks << ")[v] = s" << ks << ";\n";
        vout_refs.push_back("s" + ks + ".v[u]");
      }
      os << "  const index_t nvec = n / " << vec << ";\n";
      os << "  for (index_t v = first; v < nvec; v += step) {\n"
         << loads.str() << "#pragma unroll\n    for (int u = 0; u < " << vec << "; ++u) {\n"
         << element_body(spec, vin_refs, vout_refs, "      ") << "    }\n"
         << stores.str() << "  }\n";
      tail_start = "nvec * " + std::to_string(vec);
    }
    for (size_t k = 0; k < nin; ++k)
      in_refs.push_back(variant.pattern[k] == 'b' ? "in" + std::to_string(k) + "[0]"
                                                  : "in" + std::to_string(k) + "[i]");
    for (size_t k = 0; k < nout; ++k) out_refs.push_back("out" + std::to_string(k) + "[i]");
    os << "  for (index_t i = " << tail_start << " + first; i < n; i += step) {\n"
       << element_body(spec, in_refs, out_refs, "    ") << "  }\n}\n";
    return os.str();
  }
  for (size_t k = 0; k < nin; ++k)
    in_refs.push_back("in" + std::to_string(k) + "[off" + std::to_string(k) + "]");
  for (size_t k = 0; k < nout; ++k) out_refs.push_back("out" + std::to_string(k) + "[i]");
  os << "  for (index_t i = first; i < n; i += step) {\n";
  for (size_t k = 0; k < nin; ++k) os << "    index_t off" << k << " = 0;\n";
  os << "    index_t r = i;\n";
  os << "#pragma unroll\n    for (int d = " << R - 1 << "; d >= 0; --d) {\n";
  os << "      const index_t idx = r % (index_t)args.size[d];\n      r /= (index_t)args.size[d];\n";
  for (size_t k = 0; k < nin; ++k)
    os << "      off" << k << " += idx * (index_t)args.stride["
       << args.stride_index(static_cast<int64_t>(k), 0) << " + d];\n";
  os << "    }\n" << element_body(spec, in_refs, out_refs, "    ") << "  }\n}\n";
  return os.str();
}

}  // namespace fx::jit
