// See jit/cuda_args.h and Note [CUDA kernel arguments].
#include "jit/cuda_args.h"

#include <cstdint>
#include <sstream>

#include "ir/error.h"

namespace fx::jit {

std::string CudaArgs::declaration() const {
  std::ostringstream os;
  os << "struct FxArgs {\n"
     << "  void* ptr[" << inputs + outputs << "];\n"
     << "  long long size[" << rank << "];\n"
     << "  long long stride[" << stride_words() << "];\n"
     << "  long long n;\n"
     << "};\n";
  return os.str();
}

std::vector<int64_t> CudaArgs::pack(const std::vector<void*>& ptrs, bool flat,
                                    const std::vector<int64_t>& sizes,
                                    const std::vector<std::vector<int64_t>>& strides,
                                    int64_t n) const {
  FX_INTERNAL_ASSERT(static_cast<int64_t>(ptrs.size()) == inputs + outputs,
                     "CUDA kernel arguments: " + std::to_string(ptrs.size()) +
                         " pointers for " + std::to_string(inputs) + " inputs and " +
                         std::to_string(outputs) + " outputs");
  FX_INTERNAL_ASSERT(flat || (static_cast<int64_t>(sizes.size()) == rank &&
                              static_cast<int64_t>(strides.size()) == inputs),
                     "CUDA kernel arguments: a layout of rank " + std::to_string(sizes.size()) +
                         " with strides for " + std::to_string(strides.size()) +
                         " inputs, for a kernel of rank " + std::to_string(rank) + " with " +
                         std::to_string(inputs) + " inputs");
  std::vector<int64_t> words(static_cast<size_t>(this->words()), 0);
  for (size_t k = 0; k < ptrs.size(); ++k)
    words[ptr_word() + k] = static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptrs[k]));
  if (flat) {
    words[size_word()] = n;
  } else {
    for (int64_t d = 0; d < rank; ++d) {
      words[size_word() + d] = sizes[d];
      for (int64_t k = 0; k < inputs; ++k) {
        FX_INTERNAL_ASSERT(static_cast<int64_t>(strides[k].size()) == rank,
                           "CUDA kernel arguments: input " + std::to_string(k) + " has " +
                               std::to_string(strides[k].size()) + " strides, not " +
                               std::to_string(rank));
        words[stride_word() + stride_index(k, d)] = strides[k][d];
      }
    }
  }
  words[n_word()] = n;
  return words;
}

CudaArgs cuda_args(const KernelSpec& spec, const Variant& variant) {
  CudaArgs a;
  a.inputs = static_cast<int64_t>(spec.inputs.size());
  a.outputs = static_cast<int64_t>(spec.outputs.size());
  a.rank = variant.flat ? 1 : variant.rank;
  return a;
}

}  // namespace fx::jit
