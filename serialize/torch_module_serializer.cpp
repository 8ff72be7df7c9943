#include "serialize/torch_module_serializer.h"

#include <unordered_map>

#include "serialize/serialize.h"
#include <torch/nn/module.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/graph_module.h"
#include "runtime/torch_modules.h"

namespace fx {

namespace {

// The module's parameters and buffers as a GraphModule: one get_attr per
// tensor, returned as a tuple, so the tensors are saved under their names.
std::shared_ptr<const GraphModule> state_module(const torch::nn::Module& m) {
  auto g = std::make_unique<Graph>();
  Attributes attrs;
  std::vector<Argument> outs;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    attrs.values[name] = t;
    outs.push_back(g->get_attr(name));
  };
  for (const auto& p : m.named_parameters(true)) add(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) add(b.key(), b.value());
  g->output(Argument::tuple(std::move(outs)));
  return std::make_shared<GraphModule>(std::move(g), std::move(attrs), "TorchModuleState");
}

// SavedModule points at a GraphModule that must outlive the save; the state
// module is made here, so it is kept per module (and thread) until the next
// save of that module replaces it. It shares the module's tensors.
std::shared_ptr<const GraphModule> keep(const Module* m, std::shared_ptr<const GraphModule> state) {
  thread_local std::unordered_map<const Module*, std::shared_ptr<const GraphModule>> kept;
  kept[m] = state;
  return state;
}

}  // namespace

void register_torch_module_kind(const std::string& kind, TorchModuleFactory make) {
  if (kind.empty()) throw GraphError("register_torch_module_kind needs a kind, got an empty one");
  if (!make)
    throw GraphError("register_torch_module_kind(\"" + kind + "\") needs a factory, got none");
  ModuleSerializer s;
  s.save = [kind](const Module& m) {
    const auto* tm = dynamic_cast<const TorchModule*>(&m);
    if (!tm)
      throw GraphError("a module of kind " + kind +
                       " that is not an fx::TorchModule cannot be saved as one");
    SavedModule saved;
    saved.module = keep(&m, state_module(*tm->module())).get();
    return saved;
  };
  s.load = [kind, make](std::unique_ptr<GraphModule> state_gm,
                        const std::string&) -> std::shared_ptr<Module> {
    std::map<std::string, at::Tensor> state = state_gm->state_dict();
    std::shared_ptr<TorchModule> tm = make(state);
    if (!tm) throw RuntimeError("the factory for " + kind + " made no module");
    if (tm->kind() != kind) throw RuntimeError("the factory for " + kind + " made a " + tm->kind());
    torch::nn::Module& m = *tm->module();
    std::map<std::string, at::Tensor> own;
    for (const auto& p : m.named_parameters(true)) own[p.key()] = p.value();
    for (const auto& b : m.named_buffers(true)) own[b.key()] = b.value();
    for (const auto& [name, t] : own)
      if (!state.count(name))
        throw ParseError("the saved " + kind + " has no tensor '" + name +
                         "' that the new one has");
    for (const auto& [name, t] : state) {
      auto it = own.find(name);
      if (it == own.end())
        throw ParseError("the saved " + kind + " has a tensor '" + name +
                         "' that the new one does not have");
      if (it->second.sizes() != t.sizes())
        throw ParseError("the saved " + kind + "'s '" + name + "' has shape " +
                         c10::str(t.sizes()) + " but the new one's has " +
                         c10::str(it->second.sizes()));
      c10::NoGradGuard no_grad;
      it->second.copy_(t);
    }
    return tm;
  };
  register_module_serializer(kind, std::move(s));
}

}  // namespace fx
