// See passes/fold_constants.h.
#include "passes/fold_constants.h"

#include <ATen/core/Tensor.h>

#include "ir/graph.h"
#include "passes/schema_args.h"
#include "runtime/operator.h"

namespace fx {

namespace {

bool is_random(const std::string& target) {
  std::string base = passes::op_base_name(target);
  for (const char* word : {"rand", "dropout", "bernoulli", "multinomial", "normal", "poisson",
                           "uniform", "exponential", "cauchy", "geometric", "log_normal"})
    if (base.find(word) != std::string::npos) return true;
  return false;
}

// Whether n can be computed now: an operator, pure, reading at least one
// get_attr and nothing that is not a get_attr.
bool foldable(const Node& n) {
  if (n.op() != Op::CallFunction || n.target().find("::") == std::string::npos) return false;
  if (n.is_impure() || is_random(n.target()) || n.all_input_nodes().empty()) return false;
  for (const Node* in : n.all_input_nodes())
    if (in->op() != Op::GetAttr) return false;
  return true;
}

}  // namespace

bool fold_constants(GraphModule& gm, PassLog* log) {
  Graph& g = gm.graph();
  int folded = 0;
  for (Node* n : g.nodes()) {
    if (!foldable(*n)) continue;
    c10::IValue result;
    try {
      auto value_of = [&](Node* in) { return *gm.get_attr(in->target()); };
      std::vector<c10::IValue> args;
      for (const Argument& a : n->args()) args.push_back(to_ivalue(a, value_of));
      IValueKwargs kwargs;
      for (const auto& [k, a] : n->kwargs()) kwargs.emplace_back(k, to_ivalue(a, value_of));
      result = call_operator(find_operator(n->target()), std::move(args), kwargs);
    } catch (const std::exception& e) {
      note(log, "kept " + n->name() + " (" + n->target() + "): " + e.what());
      continue;
    }
    Node* replacement = nullptr;
    if (result.isTensor()) {
      auto at = g.inserting_before(n);
      replacement = passes::add_constant(gm, "_folded_" + n->name(), result.toTensor());
      replacement->meta() = n->meta();
      n->replace_all_uses_with(replacement);
    } else if (std::optional<Argument> literal = passes::argument_from_ivalue(result)) {
      auto swap = [&](Node* x) { return x == n ? *literal : Argument(x); };
      for (Node* u : std::vector<Node*>(n->users())) {
        u->set_args(map_arg(u->args(), swap));
        u->set_kwargs(map_arg(u->kwargs(), swap));
      }
    } else {
      continue;
    }
    g.erase_node(n);
    ++folded;
  }
  if (folded) {
    g.eliminate_dead_code();
    note(log, "computed " + std::to_string(folded) + " constant expressions once");
  }
  return folded != 0;
}

}  // namespace fx
