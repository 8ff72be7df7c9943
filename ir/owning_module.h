// OwningModule: what a Graph knows of the module that owns it, torch.fx's
// Graph.owning_module. ir/ knows nothing of modules; GraphModule implements
// this interface and attaches itself to its graph (Graph::owning_module()).
//
// With an owner, a Graph checks references as torch.fx does: get_attr of a
// name the owner does not have warns, call_module of a module it does not have
// is refused, lint() checks every get_attr and call_module target, and dead
// code elimination asks the owner whether a call_module is impure. Without
// one, dead code elimination keeps every call_module (it cannot know).
#pragma once

#include <string>

namespace fx {

class OwningModule {
 public:
  virtual ~OwningModule() = default;
  // "" when a get_attr of target reaches a module, parameter, buffer or
  // constant; otherwise why not, e.g. "nonexistent attribute `w` of `foo`".
  virtual std::string check_get_attr(const std::string& target) const = 0;
  // "" when a call_module of target reaches a callable module; otherwise why not.
  virtual std::string check_call_module(const std::string& target) const = 0;
  // Whether calling the module at target has side effects that dead code
  // elimination must keep (torch.fx's `_is_impure`). A missing module counts
  // as impure.
  virtual bool is_impure_module(const std::string& target) const = 0;
};

}  // namespace fx
