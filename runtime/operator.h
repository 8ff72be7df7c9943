// Calling operators through the c10 dispatcher by name and schema, so every
// ATen operator and every registered custom operator works on every device.
//
// Note [Argument binding]: a node's args and kwargs are bound to the schema
// the way Python binds them: positional args fill the positional formals in
// order, kwargs match formals by name, missing formals take their schema
// defaults. Each value is then coerced to its formal's type with the rules of
// torch's Python argument parser: an int where a float is expected becomes a
// float, an int where `int[N]` is expected is repeated N times, a number where
// a Tensor is expected becomes a wrapped-number tensor (so type promotion
// treats it as a Python scalar), tuples and generic lists become typed lists.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include "ir/argument.h"

namespace fx {

using IValueKwargs = std::vector<std::pair<std::string, c10::IValue>>;

// The operator `ns::name.overload` (or `ns::name` for the unnamed overload).
// Throws fx::Error naming the known overloads when there is no such operator.
c10::OperatorHandle find_operator(const std::string& qualified_name);

// Every overload of `ns::name`, in registration order (empty if none).
const std::vector<c10::OperatorHandle>& find_overloads(const std::string& ns_name);

// Where each schema argument's value comes from: index into the positional
// args (>= 0), into the kwargs (kFromKwarg + k), or the schema default.
struct Binding {
  static constexpr int kDefault = -1;
  static constexpr int kFromKwarg = 1 << 20;
  std::vector<int> sources;
};

// Binds nargs positional args and the named kwargs to schema (see Note
// [Argument binding]). On failure returns false and says why in *why.
bool bind_arguments(const c10::FunctionSchema& schema, size_t nargs,
                    const std::vector<std::string>& kwarg_names, Binding* binding,
                    std::string* why);

// Coerces value to what formal expects. Returns false (value untouched) when
// it cannot; with strict, only conversions that lose nothing are allowed
// (used to rank overloads).
bool coerce_to(const c10::Argument& formal, c10::IValue& value, bool strict = false);

// The formal's type as schemas spell it: `Scalar`, `int[1]?`, `ScalarType?`.
std::string type_name(const c10::Argument& formal);

// A constant Argument as an IValue, without schema context: dtypes, layouts
// and memory formats become ints (as TorchScript stores them), lists become
// typed lists when their elements agree, tuples become tuples. Nodes are
// looked up with value_of.
c10::IValue to_ivalue(const Argument& arg, const std::function<c10::IValue(Node*)>& value_of = {});

// A list IValue from items: typed (int[], float[], bool[], Tensor[]) when
// all items agree, otherwise a generic list.
c10::IValue make_list(std::vector<c10::IValue> items);

// Picks the overload of ns_name that accepts these values: first one that
// binds without lossy conversions, else the first that binds at all.
// Throws fx::Error listing the candidates when none fits.
c10::OperatorHandle resolve_overload(const std::string& ns_name,
                                     const std::vector<c10::IValue>& args,
                                     const IValueKwargs& kwargs);

// How many times resolve_overload has run in this process. A diagnostic:
// compiled code resolves each call_method once, not per call, and the tests
// check that with it.
size_t overload_resolutions();

// Calls op with args/kwargs bound and coerced to its schema. Returns the
// single result, None for no results, or a tuple for several.
c10::IValue call_operator(const c10::OperatorHandle& op, std::vector<c10::IValue> args,
                          const IValueKwargs& kwargs);

// The result of a boxed call left on stack, as call_operator returns it.
c10::IValue pack_returns(std::vector<c10::IValue>& stack);

// TorchScript custom classes (torch::class_<T>), the C++ analog of torch.fx's
// ProxyableClassMeta classes. `qualified` is `__torch__.torch.classes.ns.Name`
// (or the short `ns.Name`); nullptr when no such class is registered.
c10::ClassTypePtr find_custom_class(const std::string& name);
std::string custom_class_qualified_name(const std::string& name);
// Constructs an object of the class from args (its __init__).
c10::IValue construct_object(const c10::ClassTypePtr& type, std::vector<c10::IValue> args);
// Calls a method of a custom-class object; the result packed as call_operator does.
c10::IValue invoke_method(const c10::IValue& self, const std::string& method,
                          std::vector<c10::IValue> args);

// Python's operator.getitem on a value: tuple/list indexing (negative indices
// count from the end).
c10::IValue getitem(const c10::IValue& container, const c10::IValue& index);

}  // namespace fx
