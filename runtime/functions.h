// Non-operator call_function targets: C++ functions that a graph calls by a
// plain name (no `::`), such as the builtin `getitem` (Python's
// operator.getitem, used to pick one result of a multi-output node) and,
// later, functions registered with fx::wrap. Operators (`aten::relu`) are
// not here: they are called through the dispatcher (runtime/operator.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/module.h"

namespace fx {

using Function = std::function<c10::IValue(std::vector<c10::IValue>, const IValueKwargs&)>;

// Registers fn under name (thread-safe). Re-registering replaces it. Names
// containing `::` are reserved for dispatcher operators and are refused.
void register_function(const std::string& name, Function fn);

// The function registered under name, or nullptr. Functions that exist by
// convention (TorchScript import's `jit.*`, custom class constructors) are
// registered here on first use.
const Function* find_function(const std::string& name);

// Whether name has been registered (no registration on first use).
bool is_registered_function(const std::string& name);

}  // namespace fx
