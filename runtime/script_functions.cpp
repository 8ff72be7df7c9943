// See runtime/script_functions.h.
#include "runtime/script_functions.h"

#include <torch/csrc/jit/runtime/operator.h>

#include "ir/error.h"
#include "runtime/functions.h"
#include "runtime/operator.h"

namespace fx {

std::string jit_function(const torch::jit::Operator& op) {
  const c10::FunctionSchema& schema = op.schema();
  std::string name = schema.name();
  size_t ns = name.find("::");
  if (ns != std::string::npos) name.replace(ns, 2, ".");
  std::string target =
      "jit." + name + (schema.overload_name().empty() ? "" : "." + schema.overload_name());
  if (is_registered_function(target)) return target;
  torch::jit::Operation operation = op.getOperation();
  std::vector<c10::Argument> formals = schema.arguments();
  bool vararg = schema.is_vararg();
  register_function(target, [operation, formals, vararg, target](std::vector<c10::IValue> args,
                                                                 const IValueKwargs& kwargs) {
    if (!kwargs.empty()) throw RuntimeError(target + " takes positional arguments only");
    torch::jit::Stack stack;
    size_t n = args.size();
    for (size_t i = 0; i < n; ++i) {
      if (i < formals.size()) coerce_to(formals[i], args[i]);
      stack.push_back(std::move(args[i]));
    }
    if (vararg) stack.emplace_back(static_cast<int64_t>(n));
    torch::jit::Operation op = operation;
    op(stack);
    return pack_returns(stack);
  });
  return target;
}

std::string if_else_function() {
  if (!is_registered_function(kIfElse)) {
    register_function(kIfElse, [](std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
      if (args.size() != 3 || !kwargs.empty() || !args[0].isBool())
        throw RuntimeError("jit.if_else takes (bool condition, value if true, value if false)");
      return args[0].toBool() ? args[1] : args[2];
    });
  }
  return kIfElse;
}

bool register_torchscript_function(const std::string& target) {
  if (target == kIfElse) {
    if_else_function();
    return true;
  }
  // jit.<ns>.<name>[.<overload>]; names may start with `__` but hold no dots.
  if (target.rfind("jit.", 0) != 0) return false;
  size_t ns_end = target.find('.', 4);
  if (ns_end == std::string::npos) return false;
  size_t name_end = target.find('.', ns_end + 1);
  std::string symbol =
      target.substr(4, ns_end - 4) + "::" +
      target.substr(ns_end + 1,
                    name_end == std::string::npos ? std::string::npos : name_end - ns_end - 1);
  std::string overload = name_end == std::string::npos ? "" : target.substr(name_end + 1);
  for (const auto& op : torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(symbol))) {
    if (op->schema().overload_name() == overload && op->hasOperation()) {
      jit_function(*op);
      return true;
    }
  }
  return false;
}

}  // namespace fx
