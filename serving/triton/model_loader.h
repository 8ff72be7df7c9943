// Loading one model instance's module for the fx Triton backend: finds the
// model file in the version directory, reads it with the importer its kind
// needs, puts its weights on the instance's device and prepares it as the
// config's parameters ask. Each instance gets its own module.
//
//   <repository>/<model>/<version>/model.fxgm   fx::load
//                                  model.pt2    fx::load_exported (torch.export)
//                                  model.pt     fx::load_torchscript
// default_model_filename in config.pbtxt names another file; its kind is
// then told by its extension (.fxgm, .pt2, anything else is TorchScript).
//
// Preparation, in order: weights moved to the device; with `optimize`,
// fx::jit::optimize_for_inference on example inputs built from the config
// (fusing when `fuse`); with `fuse` alone, shape_prop then fx::jit::fuse; the
// module always runs under c10::InferenceMode; with `cuda_graphs` on a CUDA
// device, a CudaGraphModule around it. Then one warm-up forward on the example
// inputs (which compiles the JIT's kernels before the first request) whose
// outputs are checked against the config: their number and dtypes. Any
// failure is an fx::Error naming the model and the file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include "runtime/module.h"
#include "serving/triton/model_config.h"

namespace fx::triton {

// The model file in version_dir. Throws fx::Error when there is none.
std::string find_model_file(const std::string& version_dir, const ModelConfig& config);

// Example inputs for the config's inputs: batch 1 when batching, 1 for each
// -1 dimension; random normal floats, zeros otherwise.
std::vector<c10::IValue> example_inputs(const ModelConfig& config, const c10::Device& device);

struct ServedModule {
  std::shared_ptr<Module> module;
  std::string summary;  // one line for the server's log: file, device, what was done
};

ServedModule load_for_serving(const std::string& file, const ModelConfig& config,
                              const c10::Device& device);

// The module's result as the config's outputs, in config order: a single
// tensor for one output, a tuple or list by position, a dict by name.
// Throws fx::Error (naming the model) when the result does not fit.
std::vector<at::Tensor> outputs_of(const c10::IValue& result, const ModelConfig& config);

}  // namespace fx::triton
