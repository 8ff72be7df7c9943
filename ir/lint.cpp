#include "ir/lint.h"

#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace fx {

namespace {

// An insert-only open-addressing set of pointers: lint touches every edge of
// the graph, and std::unordered_set's node allocations dominate otherwise.
class PointerSet {
 public:
  explicit PointerSet(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, nullptr);
    mask_ = cap - 1;
  }
  void insert(const void* p) {
    size_t i = slot(p);
    while (slots_[i] != nullptr && slots_[i] != p) i = (i + 1) & mask_;
    slots_[i] = p;
  }
  bool contains(const void* p) const {
    for (size_t i = slot(p);; i = (i + 1) & mask_) {
      if (slots_[i] == p) return true;
      if (slots_[i] == nullptr) return false;
    }
  }

 private:
  size_t slot(const void* p) const {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull) &
           mask_;
  }
  std::vector<const void*> slots_;
  size_t mask_;
};

}  // namespace

void lint(const Graph& graph) {
  PointerSet seen_values(graph.size() + 1);
  std::unordered_set<std::string_view> seen_names;
  seen_names.reserve(graph.size() * 2);
  auto fail = [&](const std::string& what) { throw LintError(what + "\n" + graph.str()); };
  const Node* output = nullptr;
  for (const Node* node : graph.nodes()) {
    if (node->graph() != &graph) fail("Node '" + node->name() + "' does not belong to this Graph!");
    if (!is_valid_op(node->op()))
      fail("Node '" + node->name() + "' had unknown opcode " +
           std::to_string(static_cast<int>(node->op())) + "!");
    if (output)
      fail(describe(*output) + " must be the last node of the graph, but '" + node->name() +
           "' comes after it; move the output with " + node->name() +
           "->append(output) or build the graph in order");
    for (const Node* arg : node->all_input_nodes()) {
      if (arg->graph() != &graph)
        fail("Argument '" + arg->name() + "' of Node '" + node->name() +
             "' does not belong to this Graph, but was used as an argument! If you are copying "
             "nodes from another graph, make sure to use ``arg_transform`` on node_copy() to "
             "remap values");
      if (!seen_values.contains(arg))
        fail("Argument '" + arg->name() + "' of Node '" + node->name() +
             "' was used before it has been defined! Please check that Nodes in the graph are "
             "topologically ordered");
    }
    seen_values.insert(node);
    if (!seen_names.insert(node->name()).second) fail("Node redefined name " + node->name() + "!");
    if (node->op() == Op::Output) output = node;
  }
  // With an owning module, every get_attr and call_module target must exist.
  if (const OwningModule* owner = graph.owning_module()) {
    for (const Node* node : graph.nodes()) {
      std::string why;
      if (node->op() == Op::GetAttr) why = owner->check_get_attr(node->target());
      if (node->op() == Op::CallModule) why = owner->check_call_module(node->target());
      if (!why.empty())
        fail("Node " + node->name() + " target " + node->target() + " references " + why);
    }
  }
}

}  // namespace fx
