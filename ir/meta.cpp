#include "ir/meta.h"

#include "ir/dtype_names.h"

namespace fx {

std::string TensorMeta::str() const {
  std::string out = dtype_name(dtype) + "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

bool TensorMeta::operator==(const TensorMeta& o) const {
  return shape == o.shape && stride == o.stride && dtype == o.dtype && device == o.device &&
         requires_grad == o.requires_grad && memory_format == o.memory_format;
}

std::vector<std::string> Meta::keys() const {
  std::vector<std::string> out;
  out.reserve(values_.size());
  for (const auto& kv : values_) out.push_back(kv.first);
  return out;
}

}  // namespace fx
