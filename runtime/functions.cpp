#include "runtime/functions.h"

#include <map>
#include <memory>
#include <shared_mutex>

#include "ir/error.h"
#include "runtime/operator.h"
#include "runtime/script_functions.h"

namespace fx {

namespace {

struct Registry {
  std::shared_mutex mutex;
  // Values are never destroyed while the process runs, so pointers handed out
  // by find_function stay valid even if a name is registered again.
  std::map<std::string, std::shared_ptr<Function>> functions;
  std::vector<std::shared_ptr<Function>> retired;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->functions["getitem"] =
        std::make_shared<Function>([](std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
          if (args.size() != 2 || !kwargs.empty())
            throw RuntimeError("getitem takes exactly 2 positional arguments (container, index)");
          return getitem(args[0], args[1]);
        });
    return reg;
  }();
  return *r;
}

}  // namespace

void register_function(const std::string& name, Function fn) {
  if (name.find("::") != std::string::npos)
    throw GraphError("cannot register function '" + name +
                     "': names with `::` are dispatcher operators; register "
                     "it with TORCH_LIBRARY instead");
  Registry& r = registry();
  std::unique_lock<std::shared_mutex> lock(r.mutex);
  auto& slot = r.functions[name];
  if (slot) r.retired.push_back(slot);
  slot = std::make_shared<Function>(std::move(fn));
}

bool is_registered_function(const std::string& name) {
  Registry& r = registry();
  std::shared_lock<std::shared_mutex> lock(r.mutex);
  return r.functions.count(name) != 0;
}

const Function* find_function(const std::string& name) {
  Registry& r = registry();
  {
    std::shared_lock<std::shared_mutex> lock(r.mutex);
    auto it = r.functions.find(name);
    if (it != r.functions.end()) return it->second.get();
  }
  // Functions that exist by convention are registered on first use, so a
  // process that loads a saved graph finds them without having made it:
  // `jit.<ns>.<op>` functions made by TorchScript import, and a TorchScript
  // custom class name, which calls its constructor (see fx::make_object).
  if (name.rfind("jit.", 0) == 0) {
    if (!register_torchscript_function(name)) return nullptr;
  } else if (name.rfind("__torch__.torch.classes.", 0) == 0) {
    c10::ClassTypePtr type = find_custom_class(name);
    if (!type) return nullptr;
    register_function(name, [type](std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
      if (!kwargs.empty())
        throw RuntimeError("constructors of " + type->name()->qualifiedName() +
                           " take no keyword arguments");
      return construct_object(type, std::move(args));
    });
  } else {
    return nullptr;
  }
  std::shared_lock<std::shared_mutex> lock(r.mutex);
  return r.functions.at(name).get();
}

namespace {

class FunctionModule : public Module {
 public:
  FunctionModule(std::string kind, ModuleFn fn) : kind_(std::move(kind)), fn_(std::move(fn)) {}
  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) override {
    return fn_(std::move(args), kwargs);
  }
  std::string kind() const override { return kind_; }

 private:
  std::string kind_;
  ModuleFn fn_;
};

}  // namespace

std::shared_ptr<Module> make_module(std::string kind, ModuleFn fn) {
  return std::make_shared<FunctionModule>(std::move(kind), std::move(fn));
}

}  // namespace fx
