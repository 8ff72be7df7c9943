// The CUDA C++ target (compiled with NVRTC; no includes beyond the prelude).
// FxArgs, passed by value, holds only 8-byte fields so the host fills it as an
// array of 64-bit words: ptr[inputs + outputs], size[rank], stride[inputs * rank], n.
//   flat: each thread handles kVec consecutive elements (a grid-stride loop),
//         then a scalar tail; broadcast inputs read element 0.
//   N-D:  a grid-stride loop over the linear index, offsets from div/mod by size.
// index32 selects 32-bit index arithmetic (the caller checks every offset fits).
#include <sstream>

#include "jit/kernel.h"
#include "jit/ops.h"

namespace fx::jit {

std::string cuda_source(const KernelSpec& spec, const Variant& variant, bool index32) {
  const size_t nin = spec.inputs.size(), nout = spec.outputs.size();
  const int R = variant.flat ? 1 : variant.rank;
  std::ostringstream os;
  os << "// fx fused kernel " << spec.name << " for NVRTC, variant " << variant.key()
     << (index32 ? " (32-bit indexing)" : " (64-bit indexing)") << "\n";
  os << kernel_prelude();
  os << "\nstruct FxArgs {\n  void* ptr[" << nin + nout << "];\n  long long size[" << R
     << "];\n  long long stride[" << (nin ? nin * R : 1) << "];\n  long long n;\n};\n";
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
  std::vector<std::string> in_refs, out_refs;
  for (size_t k = 0; k < nout; ++k) out_refs.push_back("out" + std::to_string(k) + "[i]");
  if (variant.flat) {
    for (size_t k = 0; k < nin; ++k)
      in_refs.push_back(variant.pattern[k] == 'b' ? "in" + std::to_string(k) + "[0]"
                                                  : "in" + std::to_string(k) + "[i]");
    os << "  const index_t kVec = 4;\n  const index_t nvec = n / kVec;\n";
    os << "  for (index_t v = (index_t)blockIdx.x * blockDim.x + threadIdx.x; v < nvec; v += step) "
          "{\n#pragma unroll\n    for (index_t u = 0; u < kVec; ++u) {\n"
       << "      const index_t i = v * kVec + u;\n"
       << element_body(spec, in_refs, out_refs, "      ") << "    }\n  }\n";
    os << "  for (index_t i = nvec * kVec + (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; "
          "i += step) {\n"
       << element_body(spec, in_refs, out_refs, "    ") << "  }\n}\n";
    return os.str();
  }
  for (size_t k = 0; k < nin; ++k)
    in_refs.push_back("in" + std::to_string(k) + "[off" + std::to_string(k) + "]");
  os << "  for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {\n";
  for (size_t k = 0; k < nin; ++k) os << "    index_t off" << k << " = 0;\n";
  os << "    index_t r = i;\n";
  os << "#pragma unroll\n    for (int d = " << R - 1 << "; d >= 0; --d) {\n";
  os << "      const index_t idx = r % (index_t)args.size[d];\n      r /= (index_t)args.size[d];\n";
  for (size_t k = 0; k < nin; ++k)
    os << "      off" << k << " += idx * (index_t)args.stride[" << k * R << " + d];\n";
  os << "    }\n" << element_body(spec, in_refs, out_refs, "    ") << "  }\n}\n";
  return os.str();
}

}  // namespace fx::jit
