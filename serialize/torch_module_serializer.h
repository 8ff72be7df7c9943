// Saving GraphModules that hold wrapped torch::nn modules (fx::TorchModule,
// runtime/torch_modules.h). A torch::nn module is C++ code, not data, so a
// file can only name its kind and carry its tensors; the program that loads
// it must know how to make a module of that kind. Register that once per kind:
//
//   fx::register_torch_module_kind("torch::nn::LinearImpl", [](const auto& state) {
//     const at::Tensor& w = state.at("weight");
//     return fx::wrap_module(torch::nn::Linear(w.size(1), w.size(0)));
//   });
//
// save then writes the module's kind (its name()) and its parameters and
// buffers by name (through the module serializer registry, Note [Saving other
// module kinds] in serialize/serialize.h); load calls make with the saved
// tensors, copies them into the new module (names and shapes must match), and
// installs it. Without a registration, save is an fx::Error naming the
// submodule and its kind, as for any module kind fx cannot save.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

namespace fx {

class TorchModule;

using TorchModuleFactory =
    std::function<std::shared_ptr<TorchModule>(const std::map<std::string, at::Tensor>& state)>;

// Registers (or replaces) how to rebuild torch::nn modules whose name() is
// kind. Thread-safe. An empty kind or factory is an fx::Error (kGraph).
void register_torch_module_kind(const std::string& kind, TorchModuleFactory make);

}  // namespace fx
