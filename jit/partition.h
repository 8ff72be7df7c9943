// The fusion partitioner: finds maximal groups of fusible elementwise nodes
// (jit/ops.h decides what is fusible) that can each become one kernel, and
// explains why every other elementwise node was left out. An analysis: it
// never changes the graph.
//
// Groups may also hold reductions and normalizations (jit/reductions.h) over
// the same trailing dims of one full shape S: then every member is full-size
// (shape S), a row value (S with the reduced dims 1, or without them) or a
// reduction of a full-size value, and one row kernel computes them all
// (Note [Row kernels] in jit/kernel.h). A full-size member may read rows kept
// as 1s (they broadcast along the row); a row member reads rows of its own
// shape only. A reduction whose result is a tuple (native_layer_norm) is
// fused only together with every getitem that reads it. A group_norm whose
// groups span several channels reduces row_group consecutive rows together;
// its group holds full-size members only.
//
// Deliberate limits: groups are formed greedily in graph order (a producer is
// merged into its consumer, and groups that feed one consumer are merged
// together) rather than by a global optimum; all members of an elementwise
// group must have the same output shape and device, so one loop computes them
// all.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fx {
class Graph;
class Node;
}  // namespace fx

namespace fx::jit {

struct PartitionOptions {
  size_t min_group_size = 2;    // smaller groups are left unfused
  size_t max_group_size = 64;   // members per group
  size_t max_tensor_args = 32;  // inputs + outputs per group (kernel parameter limits)
};

struct FusionGroup {
  std::vector<Node*> nodes;    // members, in graph order
  std::vector<Node*> inputs;   // nodes outside the group that members read, first use first
  std::vector<Node*> outputs;  // members used outside the group (or by the output), graph order
  // Groups with a reduction stage (jit/reductions.h): the full shape and the
  // number of trailing dims reduced; 0 for elementwise-only groups.
  std::vector<int64_t> shape;
  int64_t reduce_dims = 0;
  // Consecutive rows reduced together (group_norm's channels of one group,
  // ReductionInfo::row_group); then every member is full-size.
  int64_t row_group = 1;
};

struct Unfused {
  Node* node;
  std::string reason;  // "unsupported overload aten::add.out", "would form a cycle", ...
};

struct Partition {
  std::vector<FusionGroup> groups;
  // Every elementwise or reduction call_function node (by name, see
  // is_elementwise_name and is_reduction_name) that is in no group, in graph
  // order, with why.
  std::vector<Unfused> unfused;
  // One line per group and per unfused node, for people reading a benchmark.
  std::string explain() const;
};

// The groups of graph. Algorithm:
//   1. walk the nodes in graph order; a fusible node joins the union of the
//      groups of its fusible producers (or starts a group), when
//      2. no path leaves that union and comes back into it through an outside
//         node (tracked with per-node bitsets of the groups each node depends on),
//      3. the shapes and devices match and the caps hold;
//   4. groups below min_group_size are dissolved and explained.
Partition partition(const Graph& graph, const PartitionOptions& options = {});

}  // namespace fx::jit
