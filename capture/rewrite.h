// replace_pattern on a GraphModule: the IR rewriter (ir/subgraph_rewriter.h)
// followed by recompile(), and a form that takes the pattern and the
// replacement as C++ callables, traced with fx::symbolic_trace on example
// inputs (meta tensors are enough) the way torch.fx traces Python functions.
#pragma once

#include <vector>

#include <ATen/core/ivalue.h>

#include "ir/subgraph_rewriter.h"
#include "capture/tracer.h"

namespace fx {

std::vector<Match> replace_pattern(GraphModule& gm, const Graph& pattern, const Graph& replacement);

std::vector<Match> replace_pattern(GraphModule& gm, const TracedFn& pattern,
                                   const TracedFn& replacement,
                                   const std::vector<c10::IValue>& example_inputs);

}  // namespace fx
