// TorchScript import: turns a scripted or traced TorchScript module (what
// Python users export with torch.jit.script / torch.jit.trace) into a
// GraphModule that keeps the module's structure. It reads the graphs as they
// are stored, without running TorchScript's optimisation passes, and does not
// support data-dependent control flow, mutation of module attributes, dicts,
// or objects that are not modules.
#pragma once

#include <memory>
#include <string>

#include "runtime/graph_module.h"
#include "runtime/script_functions.h"  // register_torchscript_function

namespace torch {
namespace jit {
struct Module;
}
}  // namespace torch

namespace fx {

struct ImportOptions {
  // Inline every submodule call down to ATen operators: the result has only
  // placeholder, get_attr, call_function and output nodes.
  bool inline_calls = false;
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
//   operators on values known at import time (module flags such as `training`, constants)
//                                    -> evaluated during import
//   prim::If on a known condition    -> the taken branch; prim::Loop with a known trip count and
//                                       condition -> unrolled
//   `if cond: raise ...` on data     -> a runtime check (aten::_assert_scalar) and the other branch
//   `a and b`, `x if c else y` on    -> both branches and a `jit.if_else` node
//     scalars known only at run time
//   prim::NumToTensor then aten::Int -> the number itself (traced `x.view(x.size(0), -1)`)
// The result is specialised to the module's state at import time (e.g. eval
// vs training mode); parameters and buffers are shared with module, not
// copied.
// Throws fx::TraceError for what cannot become a graph: control flow on data
// (naming prim::If / prim::Loop and the source location), attribute
// assignment, in-place list mutation, operators without a schema or an
// implementation.
std::unique_ptr<GraphModule> import_torchscript(const torch::jit::Module& module,
                                                ImportOptions options = {});

// torch::jit::load(path) followed by import_torchscript. A file that cannot
// be loaded is an fx::TraceError naming the path.
std::unique_ptr<GraphModule> load_torchscript(const std::string& path, ImportOptions options = {});

}  // namespace fx
