// See passes/remove_inference_noops.h.
#include "passes/remove_inference_noops.h"

#include <set>

#include "ir/graph.h"
#include "passes/schema_args.h"

namespace fx {

namespace {

using passes::SchemaArgs;

// Whether a tensor of meta m is laid out densely in format fmt, dimensions of
// size one ignored (a [N, C, 1, 1] tensor is both contiguous and channels last).
bool dense_in(const TensorMeta& m, c10::MemoryFormat fmt) {
  size_t d = m.shape.size();
  if (m.stride.size() != d) return false;
  std::vector<size_t> order;  // dimensions from innermost to outermost
  if (fmt == c10::MemoryFormat::ChannelsLast && d == 4) {
    order = {1, 3, 2, 0};
  } else if (fmt == c10::MemoryFormat::ChannelsLast3d && d == 5) {
    order = {1, 4, 3, 2, 0};
  } else if (fmt == c10::MemoryFormat::Contiguous) {
    for (size_t i = d; i-- > 0;) order.push_back(i);
  } else {
    return false;
  }
  int64_t expected = 1;
  for (size_t i : order) {
    if (m.shape[i] == 1) continue;
    if (m.stride[i] != expected) return false;
    expected *= m.shape[i];
  }
  return true;
}

// The input node n reduces to in eval mode, or nullptr when n does work.
Node* noop_input(const Node& n) {
  static const std::set<std::string> kDropouts = {
      "aten::dropout",       "aten::dropout_",       "aten::feature_dropout",
      "aten::feature_dropout_", "aten::alpha_dropout", "aten::alpha_dropout_",
      "aten::feature_alpha_dropout", "aten::feature_alpha_dropout_"};
  if (n.op() != Op::CallFunction) return nullptr;
  std::string base = passes::op_base_name(n.target());
  bool dropout = kDropouts.count(base) != 0;
  if (!dropout && base != "aten::detach" && base != "aten::contiguous" &&
      n.target() != "aten::to.dtype" && base != "aten::type_as")
    return nullptr;
  std::optional<SchemaArgs> a = SchemaArgs::of(n);
  if (!a || !a->schema().arguments().size()) return nullptr;
  const Argument& self = (*a)[a->schema().arguments()[0].name()];
  if (!self.is_node()) return nullptr;
  Node* in = self.to_node();
  if (dropout) {
    const Argument& train = (*a)["train"];
    return train.kind() == Argument::Kind::kBool && !train.to_bool() ? in : nullptr;
  }
  if (base == "aten::detach") return in;
  const TensorMeta* m = in->tensor_meta();
  if (!m) return nullptr;
  if (base == "aten::contiguous") {
    const Argument& fmt = (*a)["memory_format"];
    c10::MemoryFormat want = fmt.kind() == Argument::Kind::kMemoryFormat
                                 ? fmt.to_memory_format()
                                 : fmt.kind() == Argument::Kind::kInt
                                       ? static_cast<c10::MemoryFormat>(fmt.to_int())
                                       : c10::MemoryFormat::Contiguous;
    return dense_in(*m, want) ? in : nullptr;
  }
  if (base == "aten::type_as") {
    const Argument& other = (*a)["other"];
    if (!other.is_node() || !other.to_node()->tensor_meta()) return nullptr;
    return other.to_node()->tensor_meta()->dtype == m->dtype ? in : nullptr;
  }
  // aten::to.dtype(self, dtype, non_blocking, copy, memory_format)
  const Argument& dtype = (*a)["dtype"];
  const Argument& copy = (*a)["copy"];
  const Argument& fmt = (*a)["memory_format"];
  bool same = (dtype.kind() == Argument::Kind::kDtype && dtype.to_dtype() == m->dtype) ||
              (dtype.kind() == Argument::Kind::kInt &&
               static_cast<c10::ScalarType>(dtype.to_int()) == m->dtype);
  bool no_copy = copy.kind() == Argument::Kind::kBool && !copy.to_bool();
  return same && no_copy && fmt.is_none() ? in : nullptr;
}

}  // namespace

bool remove_inference_noops(GraphModule& gm, PassLog* log) {
  bool changed = false;
  Graph& g = gm.graph();
  for (Node* n : g.nodes()) {
    Node* in = noop_input(*n);
    if (!in) continue;
    note(log, "removed " + n->name() + " (" + n->target() + ")");
    n->replace_all_uses_with(in);
    g.erase_node(n);
    changed = true;
  }
  return changed;
}

}  // namespace fx
