// TorchScript import: turns a scripted or traced TorchScript module (what
// Python users export with torch.jit.script / torch.jit.trace) into a
// GraphModule that keeps the module's structure. It reads the graphs as they
// are stored, without running TorchScript's optimisation passes. Control flow
// is resolved during import: on values known then (constants, module flags),
// or, given example inputs, on their shapes, dtypes and devices under run-time
// checks. Control flow on tensor data, mutation of module attributes, dicts
// that are not constant, and objects that are not modules are not supported.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/graph_module.h"
#include "runtime/script_functions.h"  // register_torchscript_function

namespace torch {
namespace jit {
struct Module;
}
}  // namespace torch

namespace fx {

struct ImportOptions {
  ImportOptions() = default;
  explicit ImportOptions(bool inline_calls_) : inline_calls(inline_calls_) {}

  // Inline every submodule call down to ATen operators: the result has only
  // placeholder, get_attr, call_function and output nodes.
  bool inline_calls = false;
  // Inputs like the ones the model will run on, for forward's arguments after
  // `self` (missing trailing ones take their defaults, as in a Python call).
  // Only their metadata is read: sizes, strides, dtype, device, requires_grad,
  // None or not, which arguments are the same tensor; and the values of
  // non-tensor arguments. Branches that depend on these follow the examples;
  // see import_torchscript. Empty: no such branch can be imported.
  std::vector<c10::IValue> example_inputs;
  // What `torch.is_grad_enabled()` is in the model. TorchScript code asks
  // only to choose inference fast paths (nn.TransformerEncoderLayer's
  // aten::_transformer_encoder_layer_fwd, nn.MultiheadAttention's
  // aten::_native_multi_head_attention), which have no gradient. true imports
  // the general path, correct with and without autograd; false imports the
  // fast paths, for graphs that only ever run without gradients.
  bool grad_enabled = true;
};

// Imports module's forward. The mapping, node by node:
//   graph inputs (but `self`)        -> placeholder, named after the input (`x`)
//   prim::GetAttr of a tensor        -> get_attr with the qualified name
//                                       (`layer1.0.bn1.running_mean`, node
//                                       `layer1_0_bn1_running_mean`)
//   prim::GetAttr of anything else   -> a literal (ints, floats, bools, strings, None, lists)
//   prim::CallMethod forward on a    -> call_module with the qualified path (`layer1.0`); the
//     child module                      submodule is that child imported the same way (one
//                                       GraphModule per child instance, shared by every call)
//   other methods and functions      -> inlined
//   dispatcher operators             -> call_function `ns::name.overload`; arguments equal to
//                                       their schema default are left out, keyword-only
//                                       arguments become kwargs
//   TorchScript-only operators       -> call_function of a registered function
//   `jit.ns.name.overload`
//     (aten::dim, aten::len, ...)       that runs the TorchScript operator (fx::register_function)
//   prim::Constant                   -> literal arguments (ints become dtypes, layouts and memory
//                                       formats where the schema says so)
//   List/TupleConstruct              -> list/tuple arguments; unpacking and constant indexing of
//                                       a node's result -> getitem nodes
//   operators on values known at import time (module flags such as `training`, constants, the
//     dtype, device or rank of a module's own tensors, `torch.jit.is_scripting()`)
//                                    -> evaluated during import
//   prim::If on a known condition    -> the taken branch (the other one may hold
//                                       prim::Uninitialized and prim::RaiseException)
//   prim::Loop with a known trip count and condition -> unrolled
//   `if cond: raise ...` on data     -> a runtime check (aten::_assert_scalar) and the other branch
//   `a and b`, `x if c else y` on    -> both branches and a `jit.if_else` node
//     scalars known only at run time
//   other branches and loops whose   -> the branch the example inputs take (loops unrolled as
//     condition or trip count             often as on them), plus an aten::_assert_scalar that
//     depends on the example inputs       checks at run time that the condition comes out the
//     (`src.dim() == 3`, `mask is None`,  same; its meta["assumption"] says which, e.g.
//     `query is key`, `x.dtype`,          "`src.dim() != 3` is False (transformer.py:847:13)".
//     `x.device.type in [...]`, sizes)    A call that breaks one raises fx::Error (kRuntime)
//   `isinstance(x, T)`               -> decided by x's value or static type; on an Optional[T]
//                                       argument, `x is not None` (so the row above applies)
//   `torch.is_grad_enabled()`        -> ImportOptions::grad_enabled
//   `torch.is_autocast_enabled()`    -> its value while importing (normally False)
//   list.append on a list the code   -> followed during import
//     built itself, constant dicts
//   prim::NumToTensor then aten::Int -> the number itself (traced `x.view(x.size(0), -1)`)
// A child module is imported for the examples of its first call; a later call
// whose arguments differ on the examples is inlined. The result is
// specialised to the module's state at import time (e.g. eval vs training
// mode); parameters and buffers are shared with module, not copied.
// Throws fx::TraceError for what cannot become a graph: control flow on data
// (naming prim::If / prim::Loop and the source location), branches on shapes
// without example inputs, attribute assignment, mutation of lists the code did
// not build, operators without a schema or an implementation.
std::unique_ptr<GraphModule> import_torchscript(const torch::jit::Module& module,
                                                ImportOptions options = {});

// torch::jit::load(path) followed by import_torchscript. A file that cannot
// be loaded is an fx::TraceError naming the path.
std::unique_ptr<GraphModule> load_torchscript(const std::string& path, ImportOptions options = {});

}  // namespace fx
