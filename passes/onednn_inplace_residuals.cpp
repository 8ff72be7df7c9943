// See passes/onednn_inplace_residuals.h.
#include "passes/onednn_inplace_residuals.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "passes/aliasing.h"

namespace fx {

namespace {

constexpr const char* kBinary = "mkldnn::_convolution_pointwise.binary";
constexpr const char* kInPlace = "mkldnn::_convolution_pointwise_.binary";

bool same_layout(const TensorMeta* a, const TensorMeta* b) {
  return a && b && a->shape == b->shape && a->dtype == b->dtype && a->stride == b->stride;
}

}  // namespace

bool onednn_inplace_residuals(GraphModule& gm, PassLog* log) {
  Graph& g = gm.graph();
  const std::unordered_map<const Node*, size_t> position = passes::node_positions(g);
  std::unordered_set<const Node*> made;
  for (Node* n : g.nodes()) {
    if (n->op() != Op::CallFunction || n->target() != kBinary || n->args().size() != 13 ||
        !n->args()[1].is_node())
      continue;
    Node* r = n->args()[1].to_node();
    auto keep = [&](const std::string& why) {
      note(log, "kept " + n->name() + " out of place: " + why);
    };
    if (r->op() == Op::Placeholder || r->op() == Op::GetAttr) {
      keep("its residual '" + r->name() + "' is " +
           (r->op() == Op::Placeholder ? "an input" : "a constant"));
      continue;
    }
    if (r->op() != Op::CallFunction || (!made.count(r) && !passes::returns_fresh(r->target()))) {
      keep("its residual '" + r->name() + "' may be a view or alias of another value");
      continue;
    }
    if (const Node* late = passes::read_after(*r, *n, position)) {
      keep("'" + late->name() + "' reads its residual '" + r->name() + "' afterwards");
      continue;
    }
    const std::vector<const Node*> aliases = passes::aliases_of(*r);
    if (n->args()[0].is_node() &&
        std::find(aliases.begin(), aliases.end(), n->args()[0].to_node()) != aliases.end()) {
      keep("its input '" + n->args()[0].to_node()->name() + "' may alias its residual '" +
           r->name() + "'");
      continue;
    }
    if (!same_layout(r->tensor_meta(), n->tensor_meta())) {
      keep("its residual '" + r->name() + "' differs from its result in shape, dtype or strides");
      continue;
    }
    Args args = n->args();
    std::swap(args[0], args[1]);
    n->set_args(std::move(args));
    n->set_target(kInPlace);
    made.insert(n);
  }
  if (!made.empty())
    note(log, "made " + std::to_string(made.size()) + " residual convolutions write in place");
  return !made.empty();
}

}  // namespace fx
