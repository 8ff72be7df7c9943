// inline_modules: replaces every call_module node whose submodule is a
// GraphModule (what import_torchscript keeps for child modules, and what
// split_module makes) by a copy of that module's graph, so later passes see
// ATen operators only. The child's attributes and submodules move into the
// parent under the call's path (`layer1.0` + `conv1.weight` ->
// `layer1.0.conv1.weight`), and every copied node records that path in
// meta()["module_path"] (outermost first, `.`-joined), torch.export's
// nn_module_stack in short. Applied until no GraphModule call is left.
//
// A call whose child returns a tuple or list is inlined when every use of the
// call is a getitem with a constant index; otherwise the call is kept and the
// log says why. Other kinds of submodules (fused kernels, wrapped torch::nn
// modules, TorchScript modules) are left alone. Returns whether the graph
// changed; does not recompile.
#pragma once

#include "passes/pass_log.h"
#include "runtime/graph_module.h"

namespace fx {

// Given:   %layer1 = call_module[target=layer1](args = (%x,))
// Execute: inline_modules(gm)
// Result:  %layer1_conv = call_function[target=aten::conv2d](args = (%x, %layer1_conv_weight))
//          ... the rest of layer1's graph, its get_attr targets prefixed with `layer1.`
bool inline_modules(GraphModule& gm, PassLog* log = nullptr);

}  // namespace fx
