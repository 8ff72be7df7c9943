// Outline of SubgraphMatcher::match:
//   1. candidates: for each pattern anchor, the graph nodes equal to it;
//   2. backtracking over one candidate per anchor, each extended by a
//      backwards walk (match_nodes) that rolls back on failure;
//   3. filters: containment (internal nodes have no outside users), no cycle
//      if the match were fused, no overlap with an earlier match.
#include "ir/subgraph_matcher.h"

#include <algorithm>
#include <functional>
#include <unordered_set>

#include "ir/error.h"
#include "ir/graph.h"

namespace fx {

SubgraphMatcher::SubgraphMatcher(const Graph& pattern, bool match_placeholder,
                                 bool remove_overlapping_matches)
    : pattern_(pattern),
      match_placeholder_(match_placeholder),
      remove_overlapping_(remove_overlapping_matches) {
  const Node* output = pattern.output_node();
  if (pattern.size() == 0 || output == nullptr)
    throw GraphError("SubgraphMatcher needs a pattern graph that ends in an output node");
  for (const Node* n : pattern.nodes()) {
    if (n->op() != Op::Output && n->users().empty())
      throw GraphError("SubgraphMatcher cannot be initialized with an pattern with dead code (" +
                       describe(*n) + " is unused; remove it or use it)");
    if (n->op() == Op::Placeholder) placeholders_.push_back(n);
  }
  for (const Node* n : output->all_input_nodes()) {
    returning_.push_back(n);
    if (n->users().size() == 1) anchors_.push_back(n);
  }
  if (anchors_.empty())
    throw GraphError("the pattern has no anchor: every value it returns is also used inside it");
}

bool SubgraphMatcher::nodes_are_equal(const Node* pn, const Node* gn) const {
  if (!match_placeholder_ && pn->op() == Op::Placeholder) return true;
  if (pn->op() != gn->op()) return false;
  if (pn->op() == Op::Placeholder || pn->op() == Op::Output) return true;
  return pn->target() == gn->target();
}

bool SubgraphMatcher::match_literal(const Argument& pa, const Argument& ga,
                                    InternalMatch& m) const {
  if (pa.is_node()) {
    const Node* pn = pa.to_node();
    if (pn->op() != Op::Placeholder) return false;
    if (m.nodes_map.count(pn)) return false;  // bound to a node already
    auto it = m.literals.find(pn);
    if (it != m.literals.end()) return it->second == ga;
    m.literals.emplace(pn, ga);
    return true;
  }
  if (ga.is_node()) return false;
  return pa == ga;
}

bool SubgraphMatcher::match_args(const std::vector<Argument>& pa, const std::vector<Argument>& ga,
                                 InternalMatch& m) const {
  if (pa.size() != ga.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i) {
    bool ok;
    if (pa[i].is_node() && ga[i].is_node()) {
      ok = match_nodes(pa[i].to_node(), ga[i].to_node(), m);
    } else if (pa[i].is_sequence() && ga[i].is_sequence()) {
      ok = match_args(pa[i].items(), ga[i].items(), m);
    } else {
      ok = match_literal(pa[i], ga[i], m);
    }
    if (!ok) return false;
  }
  return true;
}

bool SubgraphMatcher::match_nodes(const Node* pn, Node* gn, InternalMatch& m) const {
  auto found = m.nodes_map.find(pn);
  if (found != m.nodes_map.end()) return found->second == gn;
  if (m.literals.count(pn)) return false;
  for (const auto& kv : m.nodes_map)
    if (kv.second == gn) return false;  // a graph node is matched at most once
  if (!nodes_are_equal(pn, gn)) return false;
  InternalMatch saved = m;
  m.nodes_map[pn] = gn;
  if (pn->op() == Op::Placeholder) return true;
  // Positional args, then kwargs by name (the key sets must be equal).
  std::vector<Argument> pa(pn->args().begin(), pn->args().end());
  std::vector<Argument> ga(gn->args().begin(), gn->args().end());
  bool ok = pn->kwargs().size() == gn->kwargs().size();
  for (size_t i = 0; ok && i < pn->kwargs().size(); ++i) {
    const Argument* g = gn->kwarg(pn->kwargs()[i].first);
    ok = g != nullptr;
    if (ok) {
      pa.push_back(pn->kwargs()[i].second);
      ga.push_back(*g);
    }
  }
  if (!ok || !match_args(pa, ga, m)) {
    m = std::move(saved);
    return false;
  }
  return true;
}

bool SubgraphMatcher::is_contained(const InternalMatch& m) const {
  std::unordered_set<const Node*> matched;
  for (const auto& kv : m.nodes_map) matched.insert(kv.second);
  for (const auto& kv : m.nodes_map) {
    const Node* pn = kv.first;
    if (pn->op() == Op::Placeholder) continue;
    if (std::find(returning_.begin(), returning_.end(), pn) != returning_.end()) continue;
    for (const Node* user : kv.second->users())
      if (!matched.count(user)) return false;
  }
  return true;
}

namespace {

// Would fusing these nodes into one create a cycle? True when a path leaves
// the partition and comes back into it. Nodes after the partition's last
// node (in graph order) cannot lead back, so the search stops there and
// stays local.
bool fusing_makes_cycle(const std::vector<Node*>& partition,
                        const std::unordered_map<const Node*, size_t>& position) {
  std::unordered_set<const Node*> inside(partition.begin(), partition.end());
  size_t last = 0;
  for (const Node* n : partition) last = std::max(last, position.at(n));
  std::vector<const Node*> stack;
  std::unordered_set<const Node*> seen;
  auto visit = [&](const Node* u) {
    if (!inside.count(u) && position.at(u) < last && seen.insert(u).second) stack.push_back(u);
  };
  for (const Node* n : partition)
    for (const Node* u : n->users()) visit(u);
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (const Node* u : n->users()) {
      if (inside.count(u)) return true;
      visit(u);
    }
  }
  return false;
}

}  // namespace

std::vector<InternalMatch> SubgraphMatcher::match(const Graph& graph) const {
  // 1. Candidates per anchor, in graph order.
  std::vector<std::vector<Node*>> candidates(anchors_.size());
  for (size_t a = 0; a < anchors_.size(); ++a)
    for (Node* n : graph.nodes())
      if (nodes_are_equal(anchors_[a], n)) candidates[a].push_back(n);

  // 2. Backtracking: one candidate per anchor (recursion depth = anchors).
  std::vector<InternalMatch> matches;
  std::function<void(size_t, InternalMatch&)> extend = [&](size_t a, InternalMatch& m) {
    if (a == anchors_.size()) {
      InternalMatch done = m;
      done.anchors = anchors_;
      for (const Node* pn : placeholders_) {
        auto n = done.nodes_map.find(pn);
        if (n != done.nodes_map.end()) {
          done.placeholder_nodes.push_back(n->second);
        } else {
          done.placeholder_nodes.push_back(done.literals.at(pn));
        }
      }
      for (const Node* pn : returning_) done.returning_nodes.push_back(done.nodes_map.at(pn));
      matches.push_back(std::move(done));
      return;
    }
    for (Node* candidate : candidates[a]) {
      InternalMatch saved = m;
      if (match_nodes(anchors_[a], candidate, m)) extend(a + 1, m);
      m = std::move(saved);
    }
  };
  InternalMatch empty;
  extend(0, empty);

  // 3. Filters.
  std::unordered_map<const Node*, size_t> position;
  if (!matches.empty())
    for (const Node* n : graph.nodes()) position.emplace(n, position.size());
  std::vector<InternalMatch> kept;
  std::unordered_set<const Node*> claimed;
  for (InternalMatch& m : matches) {
    if (!is_contained(m)) continue;
    std::vector<Node*> compute;
    for (const auto& kv : m.nodes_map)
      if (kv.first->op() != Op::Placeholder && kv.first->op() != Op::Output)
        compute.push_back(kv.second);
    if (fusing_makes_cycle(compute, position)) continue;
    if (remove_overlapping_) {
      bool overlap = std::any_of(compute.begin(), compute.end(),
                                 [&](Node* n) { return claimed.count(n) != 0; });
      if (overlap) continue;
      claimed.insert(compute.begin(), compute.end());
    }
    kept.push_back(std::move(m));
  }
  return kept;
}

}  // namespace fx
