// SubgraphMatcher: finds the places where a pattern graph occurs in a graph,
// as torch.fx's SubgraphMatcher does. Matching is
// anchored at the nodes the pattern returns and walks their inputs backwards:
// a pattern placeholder binds any value (a node or a literal), but one
// placeholder must bind the same value everywhere; other nodes must have the
// same opcode and target, literals must be equal and of the same type, kwargs
// must name the same keys. A match is kept only if no matched internal node
// has a user outside the match, fusing it would not create a cycle, and (by
// default) it does not overlap an earlier match.
#pragma once

#include <unordered_map>
#include <vector>

#include "ir/argument.h"

namespace fx {

class Graph;
class Node;

struct InternalMatch {
  std::vector<const Node*> anchors;                    // pattern nodes
  std::unordered_map<const Node*, Node*> nodes_map;    // pattern node -> graph node
  std::unordered_map<const Node*, Argument> literals;  // pattern placeholder -> literal it bound
  std::vector<Argument> placeholder_nodes;             // per pattern placeholder: node or literal
  std::vector<Node*> returning_nodes;                  // per value the pattern returns
};

class SubgraphMatcher {
 public:
  // REQUIRES: pattern ends in an output node and has no dead code (FX's
  // check); throws fx::Error otherwise. The pattern must outlive the matcher.
  // match_placeholder: pattern placeholders only match graph placeholders.
  explicit SubgraphMatcher(const Graph& pattern, bool match_placeholder = false,
                           bool remove_overlapping_matches = true);

  // All matches in graph, in the order of their anchors in the graph.
  std::vector<InternalMatch> match(const Graph& graph) const;

 private:
  bool nodes_are_equal(const Node* pn, const Node* gn) const;
  bool match_nodes(const Node* pn, Node* gn, InternalMatch& m) const;
  bool match_args(const std::vector<Argument>& pa, const std::vector<Argument>& ga,
                  InternalMatch& m) const;
  bool match_literal(const Argument& pa, const Argument& ga, InternalMatch& m) const;
  bool is_contained(const InternalMatch& m) const;

  const Graph& pattern_;
  bool match_placeholder_;
  bool remove_overlapping_;
  std::vector<const Node*> placeholders_;
  std::vector<const Node*> returning_;
  std::vector<const Node*> anchors_;
};

}  // namespace fx
