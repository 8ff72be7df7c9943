// shape_prop: runs a GraphModule once on example inputs and records, on every
// node that produces a tensor, its TensorMeta (shape, dtype, stride, device,
// memory format) under meta()["tensor_meta"], as torch.fx's ShapeProp does.
// Nodes producing a tuple or list of tensors get a std::vector<TensorMeta>
// under "tensor_meta" instead; every node gets its value's kind (`Tensor`,
// `Tuple`, `Int`, ...) as a std::string under "type".
//
// Inputs may be meta tensors: then parameters and buffers are moved to the
// meta device for the run, so no data is read or computed. Operators with no
// meta kernel in C++ (convolution, ...) run instead on zero-filled CPU
// stand-ins of the same layout, and only their output layout is kept. Returns the
// output, like FX's propagate(). An operator that fails raises fx::Error
// naming the node.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/meta.h"

namespace at {
class Tensor;
}

namespace fx {

class GraphModule;

c10::IValue shape_prop(GraphModule& module, std::vector<c10::IValue> inputs);

// How shape_prop names a value's kind: Tensor, TensorList, IntList, Int,
// Double, Bool, Tuple, None, ...
std::string value_kind(const c10::IValue& v);

// The metadata of one tensor.
TensorMeta tensor_meta_of(const at::Tensor& t);

}  // namespace fx
