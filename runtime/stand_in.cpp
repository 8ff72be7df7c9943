#include "runtime/stand_in.h"

#include <ATen/ATen.h>

namespace fx {

c10::IValue cpu_stand_in(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined() || !t.is_meta()) return v;
    at::Tensor s = at::empty_strided(t.sizes(), t.strides(), t.options().device(at::kCPU));
    s.zero_();
    return s;
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorVector()) out.push_back(cpu_stand_in(t).toTensor());
    return out;
  }
  if (v.isList()) {
    c10::impl::GenericList out(v.toList().elementType());
    for (const c10::IValue& item : v.toListRef()) out.push_back(cpu_stand_in(item));
    return out;
  }
  if (v.isDevice() && v.toDevice().is_meta()) return c10::Device(at::kCPU);
  return v;
}

c10::IValue meta_like(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return v;
    return at::empty_strided(t.sizes(), t.strides(), t.options().device(at::kMeta));
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorVector()) out.push_back(meta_like(t).toTensor());
    return out;
  }
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& item : v.toTupleRef().elements()) items.push_back(meta_like(item));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return v;
}

}  // namespace fx
