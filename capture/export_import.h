// torch.export import: reads an archive written by Python's torch.export.save
// (`.pt2`: a zip holding the exported program's graph and signature as JSON,
// and its weights and constants as raw bytes) into a GraphModule, without
// Python. The graph is already ATen-level FX, so the import is a translation,
// node for node. Deliberate limits: the archive's one program (`model`), read
// as torch 2.11 writes it (schema 8.x); no higher-order operators (cond, map,
// while_loop, ...), custom objects, tensor subclasses, complex scalars, dict
// arguments or training-only outputs (gradients, effect tokens).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

#include "runtime/graph_module.h"

namespace fx {

// Loads the exported program in the archive at path. The mapping:
//   parameter, buffer, tensor constant   -> get_attr of its fully qualified name
//     (signature's lifted placeholders)     (`bn.running_mean`), keeping the placeholder's
//                                           name (`b_bn_running_mean`); the tensor read from
//                                           the archive (tied weights share storage)
//   user input                           -> placeholder, same name and order (inputs are
//                                           the flattened (args, kwargs) leaves)
//   `torch.ops.ns.op.overload` node      -> call_function `ns::op.overload` (`ns::op` for
//                                           `.default`), args and kwargs placed as Python's
//                                           deserializer places them; node name as in the
//                                           archive (fx's reserved names, such as `input`,
//                                           get fx's usual `_1` suffix)
//   several results                      -> `getitem` nodes, named as the archive names them
//   SymInt/SymFloat/SymBool arithmetic   -> call_function of the TorchScript scalar operator
//     (`operator.mul`, `torch.sym_max`)     (`jit.aten.mul`, `jit.prim.max`;
//     runtime/script_functions.h)
//   buffer and parameter mutations       -> `aten::copy_(buffer, new value)` before the output,
//     (functionalized programs)             as ep.module() writes them back; user-input
//                                           mutations likewise into the placeholder
//   user outputs                         -> the output, shaped by the signature's out_spec:
//                                           tuples and lists kept, a single leaf returned
//                                           bare, dicts and named tuples flattened to tuples
//                                           (in key / field order)
// Meta: "tensor_meta" from the archive's tensor values when every size and
// stride is concrete; "sym_shape" (`[s77, 10]`) when some are symbolic, and
// "sym_expr" on SymInt/SymFloat/SymBool nodes; "sym_ranges" on placeholders
// (`s77: [2, 64]`). Every node metadata entry is kept as a string under its
// key ("stack_trace", "nn_module_stack" in the archive's `key,path,type;...`
// form, "torch_fn", ...). Symbolic dimensions are not specialised: a dimension
// exported as dynamic accepts any size at run time (the range is not checked).
// Throws fx::TraceError naming the archive, its torch and schema versions and
// where (node, input, field, weight) for anything it cannot read or does not
// support: damaged zips, missing records, malformed JSON, unknown operators,
// weights whose bytes do not cover their shape. It never returns a partial
// module.
std::unique_ptr<GraphModule> load_exported(const std::string& path);

// The example inputs the program was exported with (the archive's
// `data/sample_inputs/model.pt`), flattened like load_exported's
// placeholders; empty when the archive has none. Throws fx::TraceError when
// the record exists but cannot be read.
std::vector<c10::IValue> exported_sample_inputs(const std::string& path);

// Whether path is a zip archive written by torch.export.save (it has an
// `archive_format` record saying `pt2`). Never throws.
bool is_exported_archive(const std::string& path);

}  // namespace fx
