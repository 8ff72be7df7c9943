// Node metadata: a string-keyed map of values that passes attach to nodes
// (torch.fx's `node.meta`), plus TensorMeta, the shape/dtype/stride/device
// record that shape propagation and tracing store under "tensor_meta".
// Values are std::any, so copying a Meta copies each value (for shared
// ownership, store a shared_ptr).
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

namespace fx {

struct TensorMeta {
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  c10::ScalarType dtype = c10::ScalarType::Float;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  bool requires_grad = false;
  // The first of contiguous, channels_last, channels_last_3d the tensor is
  // contiguous in (checked in that fixed order), else nullopt.
  std::optional<c10::MemoryFormat> memory_format;

  // `float32[3, 4]`
  std::string str() const;
  bool operator==(const TensorMeta& o) const;
};

class Meta {
 public:
  template <typename T>
  void set(const std::string& key, T value) {
    values_[key] = std::move(value);
  }
  // The value under key if it holds a T, else nullptr.
  template <typename T>
  const T* get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : std::any_cast<T>(&it->second);
  }
  template <typename T>
  T* get(const std::string& key) {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : std::any_cast<T>(&it->second);
  }
  bool contains(const std::string& key) const { return values_.count(key) != 0; }
  bool erase(const std::string& key) { return values_.erase(key) != 0; }
  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  std::vector<std::string> keys() const;

 private:
  std::map<std::string, std::any> values_;
};

}  // namespace fx
