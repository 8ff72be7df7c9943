// split_module: partitions a GraphModule into one child GraphModule per
// partition (`submod_<id>`) plus a parent that calls them in topological
// order (torch.fx 1.13's passes.split_module). It does not choose partitions
// (the caller does) and does not keep the original order of partitions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/graph_module.h"

namespace fx {

// Splits gm by partition_of_node, which gives a partition id (any integer)
// for every node except placeholders, get_attrs and the output; it is called
// once per node, in graph order. gm is not modified; the result shares gm's
// tensors and submodules (nothing is copied).
//
// The result, as torch.fx 1.13 builds it:
//   - the parent keeps gm's placeholders (names, defaults, types, meta) and
//     calls each child with a call_module node `submod_<id>`; partitions are
//     sorted by their dependencies (a LIFO of ready partitions, as FX);
//   - a value defined in one partition and used in another (or by the
//     output) becomes an output of the first and a placeholder of the
//     second, named after the original node; inputs and outputs are listed in
//     first-use order. A child with one output returns it bare; with several
//     it returns a tuple, unpacked in the parent with `getitem` nodes; with
//     none it returns `()`;
//   - nodes are re-created in the child without their names, so they are
//     named from their targets again (`add_1` becomes `add`); type and meta
//     are copied;
//   - call_module targets are flattened in the child (`layer1.0` becomes
//     `layer1_0`), sharing the submodule object.
// One deliberate difference: FX 1.13 keeps get_attr nodes in the parent and
// passes the tensors to the children as inputs. Here a get_attr is copied
// into each partition that uses it, with the flattened target
// (`linear.weight` becomes `linear_weight`), so each child holds the tensors
// it needs; the parent keeps a get_attr only when the output returns it.
//
// qualname_map, when given, gets `submod_<id>.<flat name>` -> original
// qualified name for every flattened attribute and submodule:
//   (*qualname_map)["submod_0.linear_weight"] == "linear.weight"
//
// Example (partition 0 holds add; partition 1 holds relu and mul):
//   Given:   %x = placeholder[target=x]
//            %w = get_attr[target=w]
//            %add = call_function[target=aten::add.Tensor](args = (%x, %w))
//            %relu = call_function[target=aten::relu](args = (%add,))
//            %mul = call_function[target=aten::mul.Tensor](args = (%relu, %add))
//            return mul
//   Execute: split_module(gm, partition_of_node)
//   Result:  parent:   %x = placeholder[target=x]
//                      %submod_0 = call_module[target=submod_0](args = (%x,))
//                      %submod_1 = call_module[target=submod_1](args = (%submod_0,))
//                      return submod_1
//            submod_0: %x = placeholder, %w = get_attr[target=w], %add, return add
//            submod_1: %add = placeholder, %relu, %mul, return mul
//
// Throws fx::Error: "cycle exists between partitions!" (with the partitions
// and a node edge that closes the cycle) when values flow both ways between
// partitions; when a node uses a value defined after it (run fx::legalize
// first); when a get_attr or call_module target is missing from gm; when two
// different targets flatten to the same name in one child.
std::unique_ptr<GraphModule> split_module(
    const GraphModule& gm, const std::function<int64_t(const Node*)>& partition_of_node,
    std::map<std::string, std::string>* qualname_map = nullptr);

}  // namespace fx
