// Module: anything a call_module node can call. A nested GraphModule, a
// TorchScript module, a torch::nn module wrapped with its forward, or a fused
// kernel all reach the runtime through this one interface, so the runtime
// knows nothing about what is behind it.
//
// forward may be called from many threads at once; implementations must be
// thread-safe for concurrent calls.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/ivalue.h>

namespace fx {

using IValueKwargs = std::vector<std::pair<std::string, c10::IValue>>;

class Module {
 public:
  virtual ~Module() = default;
  virtual c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) = 0;
  // A short description for printing and errors: "GraphModule", "torch::nn::Linear", ...
  virtual std::string kind() const = 0;
  // Whether a call has side effects, so that dead code elimination must keep
  // an unused call_module of it (torch.fx's `_is_impure`). Default: pure.
  virtual bool is_impure() const { return false; }
};

using ModuleFn = std::function<c10::IValue(std::vector<c10::IValue>, const IValueKwargs&)>;

// A Module around a C++ callable, e.g. a torch::nn module's forward:
//   auto lin = torch::nn::Linear(4, 5);
//   auto m = fx::make_module("torch::nn::Linear", [lin](auto args, auto&) {
//     return c10::IValue(lin->forward(args.at(0).toTensor()));
//   });
std::shared_ptr<Module> make_module(std::string kind, ModuleFn fn);

}  // namespace fx
