// Outline, per match (in the matcher's order):
//   1. bind the replacement's placeholders to the matched values, following
//      earlier rewrites (a value replaced by an earlier match maps to its
//      replacement);
//   2. copy the replacement's nodes before the first user of the returned
//      values;
//   3. redirect the returned values' uses, then erase the matched nodes in
//      reverse pattern order.
#include "ir/subgraph_rewriter.h"

#include <unordered_set>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/subgraph_matcher.h"

namespace fx {

std::vector<Match> replace_pattern(Graph& graph, const Graph& pattern, const Graph& replacement) {
  SubgraphMatcher matcher(pattern);
  std::vector<InternalMatch> matches = matcher.match(graph);
  std::vector<const Node*> replacement_placeholders;
  for (const Node* n : replacement.nodes())
    if (n->op() == Op::Placeholder) replacement_placeholders.push_back(n);
  const Node* replacement_output = replacement.output_node();
  if (replacement_output == nullptr) throw GraphError("the replacement graph has no output node");

  std::unordered_map<const Node*, Node*> changed;  // graph node -> what replaced it
  auto current = [&](Node* n) {
    for (auto it = changed.find(n); it != changed.end(); it = changed.find(n)) n = it->second;
    return n;
  };
  std::vector<Match> result;
  for (InternalMatch& m : matches) {
    if (m.placeholder_nodes.size() != replacement_placeholders.size())
      throw GraphError("the replacement takes " + std::to_string(replacement_placeholders.size()) +
                       " inputs but the pattern takes " +
                       std::to_string(m.placeholder_nodes.size()) +
                       "; give both the same parameters, even unused ones");
    // 1. Replacement placeholders -> matched values.
    std::unordered_map<const Node*, Argument> value_of;
    for (size_t i = 0; i < replacement_placeholders.size(); ++i) {
      Argument v = m.placeholder_nodes[i];
      if (v.is_node()) v = current(v.to_node());
      value_of[replacement_placeholders[i]] = v;
    }
    // 2. Insert before the first user, in graph order, of the returned values.
    std::unordered_set<const Node*> users;
    for (Node* r : m.returning_nodes)
      for (Node* u : r->users()) users.insert(u);
    // Users follow the values they use, so scan forward from the earliest
    // returned value: local work instead of a walk over the whole graph.
    auto comes_before = [](const Node* a, const Node* b) {
      for (const Node* n = a; n != nullptr; n = n->next())
        if (n == b) return true;
      return false;
    };
    Node* start = m.returning_nodes.front();
    for (Node* r : m.returning_nodes)
      if (comes_before(r, start)) start = r;
    Node* first_user = nullptr;
    for (Node* n = start->next(); n != nullptr && first_user == nullptr; n = n->next())
      if (users.count(n)) first_user = n;
    FX_INTERNAL_ASSERT(first_user != nullptr,
                       "matched values returned by the pattern have no users");
    Match out;
    out.anchor = m.anchors.front();
    out.nodes_map = m.nodes_map;
    auto lookup = [&](Node* n) -> Argument {
      auto it = value_of.find(n);
      FX_INTERNAL_ASSERT(it != value_of.end(), "replacement node used before it was copied");
      return it->second;
    };
    {
      auto at = graph.inserting_before(first_user);
      for (const Node* rn : replacement.nodes()) {
        if (rn->op() == Op::Placeholder || rn->op() == Op::Output) continue;
        Node* copy = graph.node_copy(rn, lookup);
        value_of[rn] = copy;
        out.replacements.push_back(copy);
      }
    }
    Argument returned = replacement_output->args().empty()
                            ? Argument()
                            : map_arg(replacement_output->args()[0], lookup);
    std::vector<Argument> outputs = returned.kind() == Argument::Kind::kTuple
                                        ? returned.items()
                                        : std::vector<Argument>{returned};
    if (outputs.size() != m.returning_nodes.size())
      throw GraphError("the replacement returns " + std::to_string(outputs.size()) +
                       " values but the pattern returns " +
                       std::to_string(m.returning_nodes.size()));
    // 3. Redirect uses, then erase the matched nodes.
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].is_node())
        throw GraphError("the replacement returns a constant (" + repr_arg(outputs[i]) +
                         ") where the pattern returns a node; return a node");
      Node* gn = m.returning_nodes[i];
      gn->replace_all_uses_with(outputs[i].to_node());
      changed[gn] = outputs[i].to_node();
    }
    for (const Node* pn : pattern.nodes().reversed()) {
      if (pn->op() == Op::Placeholder || pn->op() == Op::Output) continue;
      graph.erase_node(m.nodes_map.at(pn));
    }
    result.push_back(std::move(out));
  }
  return result;
}

}  // namespace fx
