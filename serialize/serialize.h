// save / load: a GraphModule as one self-contained file (graph, tensors, nested
// GraphModules and registered module kinds such as fused kernels), so a C++
// service can load and run a model without the code that built it. The format
// ("FXGM", versions 1 and 2) is specified in docs/graph_module_format.md.
// Deliberately not saved: node meta other than tensor_meta, custom code generators.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace fx {

class GraphModule;
class Module;

// The newest format version this build reads. save writes the oldest version
// that can describe the module: 1 when every submodule is a GraphModule, 2 when
// a registered module kind (below) is in it.
constexpr uint32_t kGraphModuleFormatVersion = 2;

// Writes gm to path: every node of its graph in order (name, opcode, target,
// type annotation, args and kwargs with every Argument kind, tensor_meta when
// present), its attribute values, and its submodules. The file is written
// next to path and renamed over it, so readers never see half a file.
//
// Tensors are written as contiguous CPU bytes (moved off the GPU first); a
// tensor object reached twice (tied weights) is written once and comes back as
// one tensor. Attribute values may be tensors, None, bools, ints, doubles,
// strings, lists of ints/doubles/bools/tensors, and tuples of these.
// Submodules must be GraphModules (saved recursively) or of a kind() with a
// registered ModuleSerializer; any other Module kind is an fx::Error (kGraph)
// naming the submodule and its kind(), as are
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
// operator, a missing attribute) keep their kind and gain the path. A
// submodule of a kind with no registered ModuleSerializer is an fx::Error
// (kParse) that names the kind and what to link and call.
std::unique_ptr<GraphModule> load(const std::string& path);

// Note [Saving other module kinds]: a Module that is not a GraphModule (a
// fused kernel, say) is saved as a GraphModule that computes the same thing
// plus a string of data of its own, both produced by a ModuleSerializer
// registered for its kind(). Loading builds the GraphModule first, then hands
// it and the data back to the serializer, which rebuilds the module. The
// runtime knows nothing else about such kinds; the library that defines a kind
// registers it (fx::jit::register_serialization() for fx::jit::FusedKernel).

// What a serializer saves for one module.
struct SavedModule {
  // Saved recursively as a nested GraphModule; must not be null and must stay
  // alive until save returns (typically owned by the module being saved).
  const GraphModule* module = nullptr;
  // Any text (JSON recommended); stored as a JSON string.
  std::string data;
};

struct ModuleSerializer {
  // Called by save with a module whose kind() is the registered kind. Throws
  // fx::Error when it cannot save this module (it gains the path and the
  // submodule's name).
  std::function<SavedModule(const Module&)> save;
  // Called by load with the nested GraphModule (already built) and the data.
  // Returns the module to install; throws fx::Error when the data is bad.
  std::function<std::shared_ptr<Module>(std::unique_ptr<GraphModule>, const std::string& data)>
      load;
};

// Registers (or replaces) the serializer for modules whose kind() is kind.
// Thread-safe. "GraphModule", an empty kind, and serializers without both
// functions are fx::Error (kGraph).
void register_module_serializer(const std::string& kind, ModuleSerializer serializer);
bool has_module_serializer(const std::string& kind);

}  // namespace fx
