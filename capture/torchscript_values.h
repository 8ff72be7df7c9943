// Internal to the TorchScript importer (capture/torchscript_import.cpp): how a
// TorchScript value is represented during import, and the helpers that read
// TorchScript nodes (source locations, names, literals) or register the
// TorchScript-only operators fx calls. Not part of the public API.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/operator.h>

#include "ir/node.h"
#include "runtime/script_functions.h"

namespace fx::ts {

using TsNode = torch::jit::Node;
using TsValue = torch::jit::Value;
using TsBlock = torch::jit::Block;

// Unrolling a prim::Loop past this many iterations is refused.
inline constexpr int64_t kMaxUnroll = 4096;


// What one TorchScript value is during import.
struct Val {
  enum class Kind {
    kNode,           // computed by the fx node `node`
    kKnown,          // known now: `known`; when it holds tensors of the module, `attr` names the
                     // attribute and `node` is its get_attr once one was needed
    kSeq,            // a list or tuple built from other values (some computed by nodes)
    kModule,         // a module, `path` from the module being imported ("" = itself)
    kFunction,       // a TorchScript function, inlined when called
    kUninitialized,  // prim::Uninitialized: a branch's placeholder result that must never be used
  };
  Kind kind = Kind::kKnown;
  Node* node = nullptr;
  // kNode made on first use: the TorchScript node and its inputs (prim::NumToTensor, which
  // traced graphs wrap around sizes only to unwrap them with aten::Int).
  const torch::jit::Node* pending = nullptr;
  std::vector<std::shared_ptr<Val>> pending_inputs;
  std::shared_ptr<Val> number;  // for prim::NumToTensor: the number it wraps
  c10::IValue known;
  std::string attr;
  std::vector<std::shared_ptr<Val>> items;
  bool tuple = false;
  torch::jit::Module module;
  std::string path;
  torch::jit::Function* function = nullptr;
  // A list made by prim::ListConstruct during this import, which aten::append may grow.
  bool owned_list = false;
  // What a value computed by the graph (kNode) is on the example inputs
  // (ImportOptions::example_inputs), when that could be worked out: tensors as
  // meta tensors (sizes, strides, dtype, requires_grad), their device in
  // example_device. Note [Assumptions] in torchscript_import.cpp says what it is for.
  bool has_example = false;
  c10::IValue example;
  c10::Device example_device = c10::Device(c10::DeviceType::CPU);

  // A plain value: usable as a literal and in evaluation during import.
  bool literal() const { return kind == Kind::kKnown && attr.empty(); }
};
using ValPtr = std::shared_ptr<Val>;
using Env = std::unordered_map<const TsValue*, ValPtr>;

ValPtr node_val(Node* n);
ValPtr known_val(c10::IValue iv);
bool type_has_tensor(const c10::TypePtr& t);
bool ivalue_has_tensor(const c10::IValue& v);
// Python's `==` on the literals a schema default can hold.
bool same_literal(const c10::IValue& a, const c10::IValue& b);
c10::TypePtr unwrap_optional(c10::TypePtr t);
bool is_op(const TsNode* n, const char* name, const char* overload);

// Where n came from: the Python source when the module kept it, else the
// serialized code (see the definition for damaged debug information).
torch::jit::SourceRange source_of(const TsNode* n);

// Scopes one import: the record of sources whose debug information failed to
// load is forgotten when an import starts and ends (a Source's address may be
// reused by another module afterwards).
struct ImportScope {
  ImportScope();
  ~ImportScope();
  ImportScope(const ImportScope&) = delete;
  ImportScope& operator=(const ImportScope&) = delete;
};

// `file.py:12:4`.
std::string location(const TsNode* n);
// The source text n came from (`src.dim() != 3`), or "" when there is none.
std::string source_text(const TsNode* n);
// The node as TorchScript prints it, without its source comment.
std::string node_text(const TsNode* n);
// `x.1` -> `x`: TorchScript's unique suffix is not part of the name.
std::string base_name(const std::string& name);
// The registered TorchScript operator qualified_name.overload (an internal
// error when LibTorch lacks it).
const torch::jit::Operator& jit_operator(const char* qualified_name, const char* overload);

}  // namespace fx::ts
