// See passes/functionalize.h.
#include "passes/functionalize.h"

#include <map>
#include <unordered_map>

#include "ir/graph.h"
#include "passes/aliasing.h"
#include "passes/schema_args.h"
#include "runtime/operator.h"

namespace fx {

namespace {

// `aten::relu_` -> `aten::relu`, `aten::add_.Tensor` -> `aten::add.Tensor`;
// "" when target is not an in-place operator name.
std::string functional_name(const std::string& target) {
  size_t ns = target.find("::");
  if (ns == std::string::npos) return "";
  size_t dot = target.find('.', ns + 2);
  std::string name = target.substr(ns + 2, dot == std::string::npos ? std::string::npos : dot - ns - 2);
  if (name.size() < 2 || name.back() != '_' || name[name.size() - 2] == '_') return "";
  std::string out = target.substr(0, ns + 2) + name.substr(0, name.size() - 1);
  if (dot != std::string::npos) out += target.substr(dot);
  return out;
}

// Whether the two operators' schemas take the same arguments (names and
// types, in order).
bool same_arguments(const std::string& a, const std::string& b) {
  try {
    const auto& x = find_operator(a).schema().arguments();
    const auto& y = find_operator(b).schema().arguments();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].name() != y[i].name() || x[i].type()->str() != y[i].type()->str()) return false;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool functionalize(GraphModule& gm, PassLog* log) {
  Graph& g = gm.graph();
  const std::unordered_map<const Node*, size_t> position = passes::node_positions(g);
  std::map<std::string, int> made;
  for (Node* n : g.nodes()) {
    std::string functional;
    if (n->op() == Op::CallFunction) {
      functional = functional_name(n->target());
    } else if (n->op() == Op::CallMethod) {
      const std::string& t = n->target();
      if (t.size() > 1 && t.back() == '_' && t[t.size() - 2] != '_')
        functional = t.substr(0, t.size() - 1);
    }
    if (functional.empty()) continue;
    if (n->op() == Op::CallFunction && !passes::returns_fresh(functional)) {
      note(log, "kept " + n->name() + " (" + n->target() + "): no functional " + functional);
      continue;
    }
    if (n->op() == Op::CallFunction && !same_arguments(n->target(), functional)) {
      // mkldnn::_convolution_pointwise_.binary takes the tensor it writes
      // first, its functional form takes it second.
      note(log, "kept " + n->name() + " (" + n->target() + "): " + functional +
                    " takes other arguments");
      continue;
    }
    if (n->args().empty() || !n->args()[0].is_node()) continue;
    Node* x = n->args()[0].to_node();
    if (x->op() == Op::Placeholder || x->op() == Op::GetAttr) {
      note(log, "kept " + n->name() + " (" + n->target() + "): it writes to " +
                    (x->op() == Op::Placeholder ? "input '" : "constant '") + x->name() + "'");
      continue;
    }
    if (x->op() != Op::CallFunction || !passes::returns_fresh(x->target())) {
      note(log, "kept " + n->name() + " (" + n->target() + "): '" + x->name() +
                    "' may be a view or alias of another value");
      continue;
    }
    // x and every alias made from it (transitively) must be dead after n.
    const Node* late_reader = passes::read_after(*x, *n, position);
    if (late_reader) {
      note(log, "kept " + n->name() + " (" + n->target() + "): '" + late_reader->name() +
                    "' reads '" + x->name() + "' after it is written");
      continue;
    }
    ++made[n->target()];
    n->set_target(functional);
  }
  for (const auto& [target, count] : made)
    note(log, "made " + std::to_string(count) + " " + target + " functional");
  return !made.empty();
}

}  // namespace fx
