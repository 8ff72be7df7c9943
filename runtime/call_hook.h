// CallHook: lets a front end see the calls a running GraphModule makes to
// registered functions (fx::wrap) and to submodules, instead of what happens
// inside them. The tracer installs one while it traces, so re-tracing a
// GraphModule keeps wrapped functions and leaf modules as single nodes, as
// the first trace did. The hook is per thread; nullptr (the default) means
// calls run normally.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/functions.h"
#include "runtime/module.h"

namespace fx {

class CallHook {
 public:
  virtual ~CallHook() = default;
  // A call_function of the registered (non-operator) function name.
  virtual c10::IValue call_function(const std::string& name, const Function& fn,
                                    std::vector<c10::IValue> args, const IValueKwargs& kwargs) = 0;
  // A call_module of a module that is not a GraphModule (a GraphModule is run,
  // so what it calls is seen).
  virtual c10::IValue call_module(const std::string& target, const std::shared_ptr<Module>& module,
                                  std::vector<c10::IValue> args, const IValueKwargs& kwargs) = 0;
};

CallHook* current_call_hook();
// Installs hook for this thread until the returned guard dies.
class CallHookGuard {
 public:
  explicit CallHookGuard(CallHook* hook);
  ~CallHookGuard();
  CallHookGuard(const CallHookGuard&) = delete;
  CallHookGuard& operator=(const CallHookGuard&) = delete;

 private:
  CallHook* saved_;
};

}  // namespace fx
