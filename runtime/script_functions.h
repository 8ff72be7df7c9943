// Functions that run TorchScript-only operators (`aten::dim`, `prim::NumToTensor`, ...) and
// TorchScript's scalar `if` as ordinary fx functions (runtime/functions.h). The TorchScript
// importer emits call_function nodes with these targets; the runtime resolves them on first use,
// so a saved graph runs in a process that never imported anything. Calling a torch::jit::Operator
// needs only LibTorch's operator registry, not the importer, which lives in capture/.
#pragma once

#include <string>

namespace torch::jit {
struct Operator;
}

namespace fx {

// The target of TorchScript's scalar `x if c else y` on values known only at run time:
// (bool condition, value if true, value if false) -> one of the two values.
inline const char* const kIfElse = "jit.if_else";

// Registers (once) and returns the target under which fx calls op: `jit.` followed by its schema
// name with `::` spelled `.` and `.overload` when it has one (`jit.prim.NumToTensor.Scalar`).
// The function binds positional arguments to op's schema and runs its operation. Thread-safe.
std::string jit_function(const torch::jit::Operator& op);

// Registers (once) and returns kIfElse. Thread-safe.
std::string if_else_function();

// Registers the function for target when target names one of the above (`jit.if_else`, or
// `jit.<ns>.<name>[.<overload>]` of an operator LibTorch has with an operation). Returns false
// when it names none. fx::find_function calls it on first use of a `jit.` target. Thread-safe.
bool register_torchscript_function(const std::string& target);

}  // namespace fx
