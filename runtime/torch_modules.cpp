#include "runtime/torch_modules.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include "ir/error.h"

namespace fx {

Attributes attributes_from(const torch::nn::Module& root) {
  Attributes attrs;
  for (const auto& p : root.named_parameters(/*recurse=*/true)) attrs.values[p.key()] = p.value();
  for (const auto& b : root.named_buffers(/*recurse=*/true)) attrs.values[b.key()] = b.value();
  return attrs;
}

std::unique_ptr<GraphModule> make_graph_module(const torch::nn::Module& root,
                                               std::unique_ptr<Graph> graph,
                                               std::string class_name) {
  if (class_name.empty()) {
    // torch::nn names modules by their C++ type; keep the unqualified name.
    class_name = root.name();
    size_t colon = class_name.rfind("::");
    if (colon != std::string::npos) class_name = class_name.substr(colon + 2);
  }
  return std::make_unique<GraphModule>(root, std::move(graph), std::move(class_name));
}

TorchModule::TorchModule(std::shared_ptr<torch::nn::Module> module, Forward forward)
    : module_(std::move(module)), forward_(std::move(forward)) {
  if (!module_) throw GraphError("TorchModule needs a torch::nn module, got null");
  if (!forward_)
    throw GraphError("TorchModule for " + module_->name() + " needs a forward function, got none");
}

c10::IValue TorchModule::forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
  return forward_(*module_, std::move(args), kwargs);
}

std::string TorchModule::kind() const { return module_->name(); }

namespace {

class TorchScriptModule : public Module {
 public:
  explicit TorchScriptModule(const torch::jit::Module& m) : module_(m) {}
  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) override {
    std::unordered_map<std::string, c10::IValue> kw(kwargs.begin(), kwargs.end());
    return module_.get_method("forward")(std::move(args), kw);
  }
  std::string kind() const override {
    return "TorchScript " + module_.type()->name()->qualifiedName();
  }

 private:
  torch::jit::Module module_;
};

}  // namespace

std::shared_ptr<Module> wrap_torchscript(const torch::jit::Module& module) {
  return std::make_shared<TorchScriptModule>(module);
}

}  // namespace fx
