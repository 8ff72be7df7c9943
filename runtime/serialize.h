// save / load: a GraphModule as one self-contained file (graph, tensors, nested
// GraphModules), so a C++ service can load and run a model without the code that
// built it. The format ("FXGM", version 1) is specified in docs/graph_module_format.md.
// Deliberately not saved: node meta other than tensor_meta, custom code generators.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace fx {

class GraphModule;

// The newest format version this build writes and reads.
constexpr uint32_t kGraphModuleFormatVersion = 1;

// Writes gm to path: every node of its graph in order (name, opcode, target,
// type annotation, args and kwargs with every Argument kind, tensor_meta when
// present), its attribute values, and its submodules. The file is written
// next to path and renamed over it, so readers never see half a file.
//
// Tensors are written as contiguous CPU bytes (moved off the GPU first); a
// tensor object reached twice (tied weights) is written once and comes back as
// one tensor. Attribute values may be tensors, None, bools, ints, doubles,
// strings, lists of ints/doubles/bools/tensors, and tuples of these.
// Submodules must be GraphModules (saved recursively); any other Module kind
// is an fx::Error (kGraph) naming the submodule and its kind(), as are
// tensors without data (meta, sparse, quantized, undefined). I/O failures are
// fx::Error (kRuntime) naming the path. gm is not modified.
void save(const GraphModule& gm, const std::string& path);

// Reads a file written by save and builds the GraphModule again (recompiled,
// ready to run). Node names, args, kwargs and printed form are identical to
// the saved graph's; tensors come back on the CPU with the same dtype, shape
// and bytes, contiguous, with requires_grad as saved. Move the result to
// another device yourself.
//
// Never crashes on bad input: a missing or unreadable file, wrong magic, a
// newer format version, truncation, malformed or ill-typed JSON, blobs out of
// range and references to undefined nodes are fx::Error (kParse) naming the
// path and what is wrong. Errors from building the GraphModule (an unknown
// operator, a missing attribute) keep their kind and gain the path.
std::unique_ptr<GraphModule> load(const std::string& path);

}  // namespace fx
