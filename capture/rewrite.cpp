#include "capture/rewrite.h"

namespace fx {

std::vector<Match> replace_pattern(GraphModule& gm, const Graph& pattern,
                                   const Graph& replacement) {
  std::vector<Match> matches = replace_pattern(gm.graph(), pattern, replacement);
  gm.recompile();
  return matches;
}

std::vector<Match> replace_pattern(GraphModule& gm, const TracedFn& pattern,
                                   const TracedFn& replacement,
                                   const std::vector<c10::IValue>& example_inputs) {
  auto pattern_graph = Tracer().trace(pattern, example_inputs);
  auto replacement_graph = Tracer().trace(replacement, example_inputs);
  return replace_pattern(gm, *pattern_graph, *replacement_graph);
}

}  // namespace fx
