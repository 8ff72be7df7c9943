// parse_graph: reads the printed form of a graph (Graph::str()) back into a
// Graph, so tests and users can write graphs as text:
//
//   graph():
//       %x : [#users=1] = placeholder[target=x]
//       %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
//       return relu
//
// Printing the result gives the same text back. `#users` counts are ignored
// (they are recomputed); the `graph():` header is optional. Names are kept
// when they are legal and unused, otherwise uniqued as Graph does.
// On the return line a bare name must name a node (a string is quoted).
// Limits: printed tensor constants (`<tensor float32[3]>`) cannot be read
// back, and a bare string argument cannot contain `,`, `)`, `]` or `}`.
// Errors are fx::Error(kParse) naming the line.
#pragma once

#include <memory>
#include <string_view>

namespace fx {

class Graph;

std::unique_ptr<Graph> parse_graph(std::string_view text);

}  // namespace fx
