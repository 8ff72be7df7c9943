// Meta tensors and their CPU stand-ins: what the tracer and shape_prop use to
// get output layouts of operators that have no meta kernel in C++
// (convolution, layer_norm, ...): run them on zero-filled CPU tensors of the
// same layout and keep only the layout of the results.
#pragma once

#include <ATen/core/ivalue.h>

namespace fx {

// Meta tensors (alone, in tensor lists or generic lists) become zero-filled
// CPU tensors of the same sizes, strides and dtype; a meta device becomes
// the CPU. Zeros rather than garbage so that index-like operators stay in
// range. Everything else passes through.
c10::IValue cpu_stand_in(const c10::IValue& v);

// Tensors (alone, in tensor lists or tuples) become meta tensors of the same
// layout; everything else passes through.
c10::IValue meta_like(const c10::IValue& v);

}  // namespace fx
