// Models fxjit can load by name or from a file: built-in examples (traced
// from C++ torch::nn modules), saved GraphModules (fx::save files),
// TorchScript files and torch.export archives (.pt2). Kept apart from the
// command-line code so tests and other tools can load models the same way.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/graph_module.h"

namespace fx::tool {

struct LoadedModel {
  std::unique_ptr<GraphModule> gm;
  std::string description;
  // The model's own eager implementation, when there is one (the torch::nn
  // module a built-in was traced from, or the TorchScript module).
  std::function<c10::IValue(std::vector<c10::IValue>)> eager;
  // Inputs to use when the user gives none.
  std::vector<c10::IValue> default_inputs;
};

// The built-in model names, for --help.
std::vector<std::string> builtin_models();

// A built-in name, an fx::save file, a TorchScript file or a .pt2 archive.
// example_inputs are the inputs the model will run on (may be empty): a
// TorchScript model is imported for them (ImportOptions::example_inputs).
// Throws fx::Error with a clear message for anything else.
LoadedModel load_model(const std::string& spec,
                       const std::vector<c10::IValue>& example_inputs = {});

// Tensors from a file written by Python's torch.save (or torch::pickle_save):
// one tensor, or a list/tuple of them, one per model input.
std::vector<c10::IValue> load_inputs(const std::string& path);

}  // namespace fx::tool
