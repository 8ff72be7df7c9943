// Program: what GraphModule::forward runs. A flat list of instructions over
// numbered value slots, built once by recompile() from each node's lowering
// (runtime/lowering.h, shared with the Interpreter and the C++ emitter):
// operator handles, argument binding (Note [Argument binding] in
// runtime/operator.h), call_method overloads (picked once for Tensor values,
// cached per kind of value otherwise), submodules and constant conversions are
// all resolved up front, so a call does no look-up by name. get_attr reads an
// AttributeSlot (runtime/attribute_slot.h), so set_attr is seen without
// recompile(). Each value slot is released right after its last use. A
// Program is immutable once built; run() keeps its slots on its own stack
// frame, so any number of threads may run one Program at once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include "ir/argument.h"
#include "runtime/attribute_slot.h"
#include "runtime/functions.h"
#include "runtime/lowering.h"
#include "runtime/module.h"

namespace fx {

class Graph;
class Node;
class CodeGen;
struct Attributes;

class Program {
 public:
  // The slot holding an attribute's current value; nullptr when there is none.
  using SlotFor = std::function<std::shared_ptr<const AttributeSlot>(const std::string&)>;

  // Compiles graph against attributes: get_attr nodes read the slots slot_for
  // gives (attributes.values names what there is, for errors), call_module
  // nodes call attributes.modules. Throws fx::Error naming the node for
  // unknown operators, missing attributes or submodules, arguments that do
  // not fit the operator's schema, and graphs that do not lint.
  static std::shared_ptr<const Program> build(const Graph& graph, const Attributes& attributes,
                                              const SlotFor& slot_for,
                                              std::shared_ptr<const CodeGen> codegen);
  // The same, each get_attr reading a slot of its own that holds the value in
  // attributes.values (a snapshot: nothing writes those slots).
  static std::shared_ptr<const Program> build(const Graph& graph, const Attributes& attributes,
                                              std::shared_ptr<const CodeGen> codegen);

  c10::IValue run(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs) const;

  size_t num_instructions() const { return instrs_.size(); }
  size_t num_slots() const { return num_slots_; }

 private:
  // Where one input of an instruction comes from (an Operand with its node
  // replaced by the node's slot).
  struct Source {
    enum class Kind : uint8_t { kConstant, kSlot, kComposite };
    Kind kind = Kind::kConstant;
    int slot = -1;                          // kSlot
    c10::IValue constant;                   // kConstant (already coerced)
    std::vector<Source> items;              // kComposite: a list/tuple holding nodes
    bool is_tuple = false;                  // kComposite
    const c10::Argument* formal = nullptr;  // schema formal to coerce to, if any
  };
  struct Instr {
    using Kind = LoweredNode::Kind;
    Kind kind;
    std::string where;                      // describe(node), for errors
    std::string name;                       // the node's target (placeholders: the input's name)
    std::optional<c10::OperatorHandle> op;  // kOperator; kMethod: the overload for Tensors
    std::vector<Source> bound;              // op's inputs, in schema order
    std::vector<std::pair<int, ValueKind>> assumed;  // kMethod: op applies when these hold these
    std::shared_ptr<const MethodCall> method;        // kMethod
    const Function* function = nullptr;              // kFunction, kGetItem
    int64_t index = 0;                               // kGetItem
    std::shared_ptr<Module> module;                  // kModule
    std::shared_ptr<const AttributeSlot> attribute;  // kGetAttr
    std::vector<Source> inputs;                      // positional args
    std::vector<std::pair<std::string, Source>> kwargs;  // kMethod/kFunction/kModule
    std::optional<c10::IValue> default_value;            // kPlaceholder
    bool varargs = false;                                // kPlaceholder `*args`
    int out = -1;
    std::vector<int> release;  // slots whose last use is this instruction
    explicit Instr(Kind k) : kind(k) {}
  };

  explicit Program(std::shared_ptr<const CodeGen> codegen) : codegen_(std::move(codegen)) {}
  c10::IValue fetch(const Source& s, const std::vector<c10::IValue>& slots) const;
  c10::IValue execute(const Instr& instr, std::vector<c10::IValue>& slots,
                      std::vector<c10::IValue>& stack) const;

  std::vector<Instr> instrs_;
  size_t num_slots_ = 0;
  std::vector<std::string> placeholder_names_;
  bool has_varargs_ = false;
  std::shared_ptr<const CodeGen> codegen_;
};

}  // namespace fx
