// Graph: torch.fx's `Graph` in C++. An ordered list of Nodes (an intrusive
// doubly-linked list around a sentinel), a namespace of unique node names,
// and an insertion point where new nodes go. See Note [Graph ownership] and
// Note [Use lists] in ir/node.h.
//
// Deliberate limits: a Graph is not copyable (use clone()) nor movable (nodes
// point back to it); it is not thread-safe for concurrent mutation.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/argument.h"
#include "ir/namespace.h"
#include "ir/node.h"
#include "ir/owning_module.h"

namespace fx {

class Graph;

// A live view of a graph's nodes. Iteration skips erased nodes and survives
// erasing (or moving) the current node, as torch.fx's node list does.
class NodeList {
 public:
  class iterator {
   public:
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;
    using pointer = Node* const*;
    using reference = Node*;
    iterator(Node* cur, Node* root, bool reverse) : cur_(cur), root_(root), reverse_(reverse) {
      skip();
    }
    Node* operator*() const { return cur_; }
    iterator& operator++();
    bool operator==(const iterator& o) const { return cur_ == o.cur_; }
    bool operator!=(const iterator& o) const { return cur_ != o.cur_; }

   private:
    void skip();
    Node* cur_;
    Node* root_;
    bool reverse_;
  };

  NodeList(Node* root, bool reverse) : root_(root), reverse_(reverse) {}
  iterator begin() const;
  iterator end() const { return iterator(root_, root_, reverse_); }
  NodeList reversed() const { return NodeList(root_, !reverse_); }

 private:
  static Node* step(Node* n, bool reverse);
  static bool is_erased(Node* n);
  Node* root_;
  bool reverse_;
};

// Restores the graph's previous insertion point when destroyed. The new point
// takes effect as soon as the guard is created, as in torch.fx.
class InsertPoint {
 public:
  InsertPoint(const InsertPoint&) = delete;
  InsertPoint& operator=(const InsertPoint&) = delete;
  ~InsertPoint();

 private:
  friend class Graph;
  InsertPoint(Graph* graph, Node* anchor, bool before);
  Graph* graph_;
  Node* saved_anchor_;
  bool saved_before_;
};

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // --- the owning module ----------------------------------------------------
  // The module this graph belongs to (set by GraphModule), or nullptr. A
  // clone has none. See ir/owning_module.h for what an owner changes.
  OwningModule* owning_module() const { return owning_module_; }
  void set_owning_module(OwningModule* owner) { owning_module_ = owner; }

  // --- building -----------------------------------------------------------
  // Each builder creates a node at the insertion point (the end by default),
  // named after its target (or `name`) and uniqued as torch.fx does.
  Node* placeholder(const std::string& name, std::optional<Argument> default_value = {},
                    std::string type = "");
  // With an owning module that has no such attribute, warns as torch.fx does.
  Node* get_attr(const std::string& qualified_name, std::string type = "");
  // target: the operator as the dispatcher spells it, e.g. "aten::add.Tensor".
  Node* call_function(const std::string& target, Args args = {}, Kwargs kwargs = {},
                      std::string type = "");
  // args[0] is the receiver, as in torch.fx.
  Node* call_method(const std::string& method_name, Args args = {}, Kwargs kwargs = {},
                    std::string type = "");
  // With an owning module that has no such module, an fx::Error (kGraph)
  // naming the target; nothing is created.
  Node* call_module(const std::string& module_name, Args args = {}, Kwargs kwargs = {},
                    std::string type = "");
  Node* output(Argument result, std::string type = "");
  // An op outside the six opcodes is an fx::Error (kGraph).
  Node* create_node(Op op, const std::string& target, Args args = {}, Kwargs kwargs = {},
                    const std::optional<std::string>& name = {}, std::string type = "");

  // Removes a node that has no users. Its name stays reserved. The Node
  // object stays readable (erased() is true) until release_erased() has run
  // twice after the erasure (GraphModule::recompile() runs it once), so a
  // loop may erase the node it stands on, a pass may look at what it erased,
  // and replace_pattern's matches stay readable after its recompile().
  // Given:   %y = call_function[target=aten::relu](args = (%x,)), no users
  // Execute: graph.erase_node(y)
  // Result:  %y is gone; %x has one user fewer
  void erase_node(Node* node);

  // Frees the nodes that were already erased at the previous call (two
  // generations, see erase_node), after which pointers to them dangle. A
  // graph edited for a long time keeps its memory flat this way; recompile()
  // calls it. Does nothing while an InsertPoint guard is alive (it may
  // restore an erased anchor); must not be called while iterating over
  // nodes(). Returns how many nodes it freed.
  size_t release_erased();
  // Node objects held: live nodes, erased ones not yet released, the sentinel.
  size_t allocated_nodes() const { return owned_.size(); }

  // Move the insertion point until the returned guard dies.
  // inserting_before(n): new nodes go just before n, in creation order.
  // inserting_after(n): each new node goes immediately after n, so several
  //   come out in reverse creation order (torch.fx 1.13 behaviour).
  // inserting_before(nullptr) puts each new node first; inserting_after(nullptr)
  //   appends at the end (the default).
  [[nodiscard]] InsertPoint inserting_before(Node* n = nullptr);
  [[nodiscard]] InsertPoint inserting_after(Node* n = nullptr);

  // --- inspecting -----------------------------------------------------------
  NodeList nodes() const { return NodeList(root_, false); }
  size_t size() const { return size_; }  // live nodes
  // Nodes with this opcode (and target, when given), in graph order.
  std::vector<Node*> find_nodes(Op op, const std::optional<std::string>& target = {}) const;
  // The output node, or nullptr.
  Node* output_node() const;

  // --- copying ------------------------------------------------------------
  // Copies node (usually from another graph) to the insertion point, mapping
  // each Node argument through arg_transform (identity when empty). The old
  // name is a candidate only; meta is copied.
  Node* node_copy(const Node* node, const std::function<Argument(Node*)>& arg_transform = {});
  // Copies every node of g before its output, in order, skipping nodes that
  // are already keys of val_map (that is how graphs are inlined); val_map is
  // filled in place. Returns g's output value mapped through val_map, or
  // nullopt when g has no output; *output_node (if given) gets g's output.
  std::optional<Argument> graph_copy(const Graph& g,
                                     std::unordered_map<const Node*, Node*>& val_map,
                                     const Node** output_node = nullptr);
  // A deep copy with identical names (iterative: no recursion on long chains).
  std::unique_ptr<Graph> clone() const;

  // --- passes and checks (see ir/lint.h, ir/dead_code.h) --------------------
  void lint() const;
  bool eliminate_dead_code();

  // --- printing -------------------------------------------------------------
  // torch.fx 1.13's layout: "graph():" then one line per node, 4-space indent.
  std::string str() const;
  // Graphviz source; see ir/dot.h.
  std::string to_dot(const std::string& name = "fx_graph") const;

 private:
  friend class Node;
  friend class NodeList;
  friend class InsertPoint;
  void insert(Node* node);
  void check_owned(const Node* n, const char* what) const;

  Node* root_;
  size_t size_ = 0;
  Namespace namespace_;
  Node* insert_anchor_;
  bool insert_before_ = true;
  int insert_guards_ = 0;  // live InsertPoint guards
  std::vector<const Node*> retiring_;  // erased at the last release_erased(), sorted
  std::vector<std::unique_ptr<Node>> owned_;
  OwningModule* owning_module_ = nullptr;
};

std::ostream& operator<<(std::ostream& os, const Graph& graph);
std::ostream& operator<<(std::ostream& os, const Node& node);

}  // namespace fx
