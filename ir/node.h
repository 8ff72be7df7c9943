// Node: one operation in a Graph, torch.fx's `Node`. A node has an opcode, a
// target, args and kwargs (Arguments that may refer to other nodes), a name
// unique in its graph, an insertion-ordered list of users, and free-form meta.
//
// Note [Graph ownership]: the Graph creates and owns every Node. Nodes cannot
// be copied or moved. A Node* stays valid for the Graph's whole life, even
// after erase_node (an erased node is unlinked, inert and skipped by
// iteration; using it as an argument again is an error).
//
// Note [Use lists]: `users()` and `all_input_nodes()` are kept exact by every
// mutation (set_args, update_arg, replace_all_uses_with, erase_node, ...);
// there is no way to change args or kwargs without going through them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/argument.h"
#include "ir/meta.h"

namespace fx {

class Graph;

enum class Op { Placeholder, GetAttr, CallFunction, CallMethod, CallModule, Output };

// "placeholder", "get_attr", "call_function", ...
const char* op_name(Op op);
// Whether op is one of the six opcodes (an Op cast from an integer may not be).
bool is_valid_op(Op op);
std::optional<Op> op_from_name(const std::string& name);

class Node {
 public:
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  // torch.fx's Node._rename: takes candidate through the graph's namespace
  // (sanitised and made unique as new names are; the old name stays
  // reserved) and returns the new name. The printed graph and generated
  // code use it from then on; renaming to the current name changes nothing.
  const std::string& rename(const std::string& candidate);
  Op op() const { return op_; }
  const std::string& target() const { return target_; }
  const Args& args() const { return args_; }
  const Kwargs& kwargs() const { return kwargs_; }
  // The kwarg named key, or nullptr.
  const Argument* kwarg(const std::string& key) const;
  // Distinct user nodes, in the order their uses were registered.
  const std::vector<Node*>& users() const { return users_; }
  // Distinct input nodes: first occurrence in args, then in kwargs.
  const std::vector<Node*>& all_input_nodes() const { return inputs_; }
  Meta& meta() { return meta_; }
  const Meta& meta() const { return meta_; }
  // Shortcut for meta().get<TensorMeta>("tensor_meta").
  const TensorMeta* tensor_meta() const { return meta_.get<TensorMeta>("tensor_meta"); }
  // Optional type annotation, printed after the name (`%dim : int [#users=0]`).
  const std::string& type() const { return type_; }
  void set_type(std::string type) { type_ = std::move(type); }
  Graph* graph() const { return graph_; }
  bool erased() const { return erased_; }

  // Neighbours in graph order; nullptr at either end.
  Node* next() const;
  Node* prev() const;

  // Moves x (from anywhere in this graph) to sit immediately before this node.
  // Does not check topological order; Graph::lint does.
  //   Given:   x, a, b     Execute: b->prepend(x)     Result: a, x, b
  void prepend(Node* x);
  // Moves x to sit immediately after this node.
  //   Given:   x, a, b     Execute: a->append(x)      Result: a, x, b
  void append(Node* x);

  // Replace args or kwargs, keeping use lists exact. This node moves to the
  // end of each input's users list, as in torch.fx.
  void set_args(Args args);
  void set_kwargs(Kwargs kwargs);
  // Given:   %y = call_function[target=aten::add.Tensor](args = (%x, %x), ...)
  // Execute: y->update_arg(1, z)
  // Result:  %y = call_function[target=aten::add.Tensor](args = (%x, %z), ...)
  void update_arg(size_t index, Argument arg);
  // Replaces the kwarg named key, or adds it at the end.
  void update_kwarg(const std::string& key, Argument arg);
  void set_target(std::string target) { target_ = std::move(target); }

  // Rewrites every user for which delete_user_cb returns true (all users when
  // it is empty) to use replace_with instead of this node; returns the users
  // that changed. This node is not erased.
  // Given:   %y = call_function[target=aten::relu](args = (%x,))
  // Execute: x->replace_all_uses_with(z)
  // Result:  %y = call_function[target=aten::relu](args = (%z,))
  std::vector<Node*> replace_all_uses_with(Node* replace_with,
                                           const std::function<bool(Node*)>& delete_user_cb = {});
  // Replaces every occurrence of old_input in this node's args and kwargs.
  void replace_input_with(Node* old_input, Node* new_input);

  // Whether dead-code elimination must keep this node even without users:
  // placeholders, the output, side-effecting operators (asserts, printing,
  // profiler records), operators whose schema writes to an input (in-place
  // and out= overloads), and in-place methods (`mul_`). torch.fx 1.13 only
  // keeps asserts and profiler ops; keeping mutating ops is deliberate (it
  // fixes pytorch#68301). A call_module is impure when the graph's owning
  // module says so (torch.fx's `_is_impure`), and always when the graph has
  // no owner, since nothing can tell.
  bool is_impure() const;

  // The one-line form used by Graph::str():
  // `%add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %y), kwargs = {})`
  std::string format() const;
  // Appends format() to out (Graph::str builds one string this way).
  void format_to(std::string& out) const;

 private:
  friend class Graph;
  friend class NodeList;
  Node(Graph* graph, std::string name, Op op, std::string target, std::string type);

  void update_args_kwargs(Args args, Kwargs kwargs);
  void remove_user(Node* user);
  void unlink();
  void link_before(Node* anchor);

  Graph* graph_;
  std::string name_;
  Op op_;
  std::string target_;
  std::string type_;
  Args args_;
  Kwargs kwargs_;
  std::vector<Node*> users_;
  std::vector<Node*> inputs_;
  Meta meta_;
  Node* prev_ = this;
  Node* next_ = this;
  bool erased_ = false;
};

}  // namespace fx
