// See jit/fused_layout.h.
#include "jit/fused_layout.h"

#include <algorithm>

namespace fx::jit {

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

}  // namespace fx::jit
