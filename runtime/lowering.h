// Lowering: what one node does, decided once from the graph and the operator
// registry, before any value exists. The three executors start from it, so
// they agree by construction: the Program (GraphModule::forward) turns it into
// instructions over numbered slots, the Interpreter calls through it node by
// node, and the C++ emitter (GraphModule::code()) spells it out.
//
// Contract: lower_node(node) decides, for
//   - placeholder: the input's name, whether it is `*args`, and its default;
//   - get_attr: the qualified name (the value is each executor's business: the
//     Program reads an AttributeSlot, the Interpreter asks the module);
//   - call_function: the operator handle and the binding of args and kwargs to
//     its schema (Note [Argument binding] in runtime/operator.h), constants
//     already coerced to their formals; or the registered function, with
//     `getitem(node, <int>)` recognised as an index into a node's value;
//   - call_method: a MethodCall, which knows whether the receiver is made by a
//     custom-class constructor and which Tensor overload the call takes;
//   - call_module: the target; output: the returned argument.
// It reads no attribute and no submodule. It throws GraphError naming the node
// for an unknown operator, function or method, arguments that do not bind to
// the operator's schema, a constant that does not fit its formal, a
// call_method without a receiver, and a placeholder default that refers to a
// node. Operands point into the node (Operand::arg): a lowering is valid while
// the graph it came from is not edited.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include "ir/argument.h"
#include "runtime/functions.h"
#include "runtime/module.h"

namespace torch::jit {
struct Function;
}

namespace fx {

class Node;

// Where one input of a lowered node comes from.
struct Operand {
  enum class Kind : uint8_t { kConstant, kNode, kComposite };
  Kind kind = Kind::kConstant;
  c10::IValue constant;                   // kConstant (coerced to formal, if any)
  const Node* node = nullptr;             // kNode: an earlier node's value
  std::vector<Operand> items;             // kComposite: a list or tuple holding nodes
  bool is_tuple = false;                  // kComposite
  const c10::Argument* formal = nullptr;  // the schema formal the value must fit, if any
  const Argument* arg = nullptr;          // the node's own argument; nullptr: schema default
};

// The kind a node's value is taken to have before it exists: its declared
// type when that is `int`, `float` or `bool`, else Tensor.
enum class ValueKind : uint8_t { kTensor, kInt, kFloat, kBool };
ValueKind assumed_kind(const Node& n);
inline bool has_kind(const c10::IValue& v, ValueKind k) {
  switch (k) {
    case ValueKind::kTensor: return v.isTensor();
    case ValueKind::kInt: return v.isInt();
    case ValueKind::kFloat: return v.isDouble();
    case ValueKind::kBool: return v.isBool();
  }
  return false;
}

// A call_method's callee, resolved once and shared by every executor.
//
// Tensor methods: the overload taken when every node value the call uses has
// its assumed kind (assumed_kind: Tensors, unless declared otherwise; the
// usual case, and the one the emitter writes) is picked and bound at lowering.
// For values of other kinds the overload is picked on first sight and
// remembered per kind of each value (Tensor, int, list of ints, ...), so a
// method is resolved by name at most once per combination, never per call.
// Custom-class receivers (torch::class_ objects): the method is found once per
// class. Thread-safe: the caches take a lock, and the Program's path for the
// assumed kinds takes none.
class MethodCall {
 public:
  // Throws GraphError naming n when there is no Tensor method of that name and
  // the receiver is not made by a custom-class constructor.
  explicit MethodCall(const Node& n);

  const std::string& name() const { return name_; }
  // Whether args[0] is made by a custom-class constructor (known statically).
  bool object_receiver() const { return object_receiver_; }
  // The overload for node values of their assumed kinds, or nullopt when none
  // takes them.
  const std::optional<c10::OperatorHandle>& static_overload() const { return static_overload_; }
  // The node's args and kwargs bound to static_overload()'s schema, in schema order.
  const std::vector<Operand>& static_inputs() const { return static_inputs_; }
  // Every node the call reads, with the kind static_overload() assumed for it.
  const std::vector<std::pair<const Node*, ValueKind>>& assumed() const { return assumed_; }

  // The Tensor overload these values take; throws fx::RuntimeError listing the
  // candidates when none does.
  c10::OperatorHandle overload_for(const std::vector<c10::IValue>& args,
                                   const IValueKwargs& kwargs) const;
  // Runs the call: the object's method when args[0] is a custom-class object,
  // else the Tensor overload for these values.
  c10::IValue call(std::vector<c10::IValue> args, const IValueKwargs& kwargs) const;

 private:
  c10::IValue call_object_method(std::vector<c10::IValue> args, const IValueKwargs& kwargs) const;

  std::string name_;     // the method's name, `relu`
  std::string op_name_;  // `aten::relu`
  bool object_receiver_ = false;
  std::optional<c10::OperatorHandle> static_overload_;
  std::vector<Operand> static_inputs_;
  std::vector<std::pair<const Node*, ValueKind>> assumed_;
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<std::string, c10::OperatorHandle>> by_kinds_;
  mutable std::vector<std::pair<c10::ClassTypePtr, torch::jit::Function*>> by_class_;
};

struct LoweredNode {
  enum class Kind : uint8_t {
    kPlaceholder,
    kGetAttr,
    kOperator,  // call_function of a dispatcher operator
    kMethod,    // call_method
    kFunction,  // call_function of a registered function
    kGetItem,   // call_function getitem(node, <int>)
    kModule,    // call_module
    kOutput
  };
  Kind kind = Kind::kOutput;
  const Node* node = nullptr;

  bool varargs = false;                      // kPlaceholder: `*args`
  std::optional<c10::IValue> default_value;  // kPlaceholder
  std::optional<c10::OperatorHandle> op;     // kOperator
  std::shared_ptr<const MethodCall> method;  // kMethod
  const Function* function = nullptr;        // kFunction, kGetItem (the registered getitem)
  int64_t index = 0;                         // kGetItem

  // kOperator: one per schema formal, in schema order. kMethod, kFunction,
  // kGetItem, kModule: the node's positional args. kOutput: the output value.
  std::vector<Operand> inputs;
  // kMethod, kFunction, kModule: the node's kwargs.
  std::vector<std::pair<std::string, Operand>> kwargs;
};

// With operands false, inputs and kwargs stay empty and an operator's
// arguments are not bound to its schema here: for a caller that binds values
// when it calls (the Interpreter, whose hooks may change them), with the same
// bind_arguments and coercions.
LoweredNode lower_node(const Node& n, bool operands = true);

}  // namespace fx
