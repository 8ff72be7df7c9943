// fx::jit::optimize_for_inference: the whole-model pipeline. Takes a
// GraphModule as captured (TorchScript import, symbolic_trace, a loaded .fxgm
// file) and example inputs, and returns a new GraphModule that computes the
// same function faster on those inputs' devices and dtypes; the input module
// is not changed. The pipeline is a list of passes (each in passes/):
//
//   inline_modules          one flat graph of ATen operators
//   shape_prop              tensor_meta from the example inputs
//   remove_inference_noops  eval dropout, detach, no-op contiguous / to
//   functionalize           in-place operators made functional where safe
//   fold_constants          everything computable from weights, once
//   fold_batch_norm         eval batch norms into the convolutions before them
//   fold_constants
//   onednn_epilogues        conv / linear + activation / residual add as one
//                           oneDNN primitive, convolutions channels last
//   remove_inference_noops  the layout conversions that turned out no-ops
//   pack_onednn_weights     oneDNN weights laid out once, for the input shapes
//   fuse                    the remaining elementwise groups as JIT kernels
//
// Running it again on its own (saved and loaded) result packs the weights
// again, which fx::save writes dense: optimize after fx::load in a service.
// The result runs under c10::InferenceMode (GraphModule::set_inference_mode),
// so its outputs are inference tensors, and reuses its CPU buffers from one
// call to the next (GraphModule::set_buffer_reuse). Shapes other than the examples' stay
// correct (every rewrite is shape-generic); only the example inputs' devices
// and dtypes decide what is rewritten. Errors in a pass surface as fx::Error
// naming the node; an operator that cannot be folded is left for run time.
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/ivalue.h>

#include "jit/fuse.h"
#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx::jit {

struct OptimizeOptions {
  bool fold_batch_norm = true;
  bool onednn = true;   // oneDNN convolution / linear epilogues (CPU float32)
  // With onednn: linears without an activation to fold run as MKL packed
  // GEMMs (faster, about 3.5x the weight's memory; OnednnEpilogueOptions).
  bool mkl_linear = true;
  bool fuse = true;     // JIT kernels for the remaining elementwise groups
  // The result keeps its CPU buffers between calls (GraphModule::BufferReuse
  // kAlways; false: kNever).
  bool reuse_buffers = true;
  FuseOptions fuse_options;
};

std::unique_ptr<GraphModule> optimize_for_inference(const GraphModule& gm,
                                                    const std::vector<c10::IValue>& example_inputs,
                                                    const OptimizeOptions& options = {},
                                                    PassLog* log = nullptr);

}  // namespace fx::jit
