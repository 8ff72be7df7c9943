// Program: what GraphModule::forward runs. A flat list of instructions over
// numbered value slots, built once by recompile(): operator handles, argument
// binding (Note [Argument binding] in runtime/operator.h), attribute and
// submodule look-ups and constant conversions are all resolved up front, so
// a call does no look-up by name. Each slot is released right after its last
// use. A Program is immutable once built; run() keeps its slots on its own
// stack frame, so any number of threads may run one Program at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include "ir/argument.h"
#include "runtime/functions.h"
#include "runtime/module.h"

namespace fx {

class Graph;
class Node;
class CodeGen;
struct Attributes;

class Program {
 public:
  // Compiles graph against attributes. Throws fx::Error naming the node for
  // unknown operators, missing attributes or submodules, arguments that do
  // not fit the operator's schema, and graphs that do not lint.
  static std::shared_ptr<const Program> build(const Graph& graph, const Attributes& attributes,
                                              std::shared_ptr<const CodeGen> codegen);

  c10::IValue run(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs) const;

  size_t num_instructions() const { return instrs_.size(); }
  size_t num_slots() const { return num_slots_; }

 private:
  // Where one input of an instruction comes from.
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
    enum class Kind : uint8_t {
      kPlaceholder,
      kConstant,
      kOperator,
      kMethod,
      kFunction,
      kModule,
      kOutput
    };
    Kind kind;
    std::string where;                      // describe(node), for errors
    std::string name;                       // the node's name (placeholders: the target)
    std::optional<c10::OperatorHandle> op;  // kOperator
    std::string method;                     // kMethod: `aten::<name>`
    std::string target;                     // kFunction, kModule: the node's target
    const Function* function = nullptr;     // kFunction
    std::shared_ptr<Module> module;         // kModule
    std::vector<Source> inputs;             // positional (or schema order for kOperator)
    std::vector<std::pair<std::string, Source>> kwargs;  // kMethod/kFunction/kModule
    c10::IValue constant;      // kConstant (get_attr) or placeholder default
    bool has_default = false;  // kPlaceholder
    bool varargs = false;      // kPlaceholder `*args`
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
