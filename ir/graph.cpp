// Graph construction, insertion points, erasure, copying and printing.
#include "ir/graph.h"

#include <algorithm>
#include <functional>
#include <ostream>

#include <c10/util/Exception.h>

#include "ir/dead_code.h"
#include "ir/error.h"
#include "ir/lint.h"

namespace fx {

Node* NodeList::step(Node* n, bool reverse) { return reverse ? n->prev_ : n->next_; }
bool NodeList::is_erased(Node* n) { return n->erased_; }

NodeList::iterator& NodeList::iterator::operator++() {
  cur_ = step(cur_, reverse_);
  skip();
  return *this;
}

void NodeList::iterator::skip() {
  while (cur_ != root_ && is_erased(cur_)) cur_ = step(cur_, reverse_);
}

NodeList::iterator NodeList::begin() const {
  return iterator(reverse_ ? root_->prev_ : root_->next_, root_, reverse_);
}

InsertPoint::InsertPoint(Graph* graph, Node* anchor, bool before)
    : graph_(graph), saved_anchor_(graph->insert_anchor_), saved_before_(graph->insert_before_) {
  graph->insert_anchor_ = anchor;
  graph->insert_before_ = before;
  ++graph->insert_guards_;
}

InsertPoint::~InsertPoint() {
  graph_->insert_anchor_ = saved_anchor_;
  graph_->insert_before_ = saved_before_;
  --graph_->insert_guards_;
}

Graph::Graph() {
  // The sentinel: root_->next_ is the first node, root_->prev_ the last.
  owned_.emplace_back(new Node(this, "", Op::Output, "root", ""));
  root_ = owned_.back().get();
  insert_anchor_ = root_;
}

Graph::~Graph() = default;

void Graph::check_owned(const Node* n, const char* what) const {
  if (n->graph_ != this) throw_node_error(*n, std::string(what) + " a node of another graph");
}

void Graph::insert(Node* node) {
  if (insert_anchor_->erased_)
    throw_node_error(*insert_anchor_,
                     "the insertion point was erased; create a new one with "
                     "inserting_before/inserting_after");
  if (insert_before_) {
    node->link_before(insert_anchor_);
  } else {
    node->link_before(insert_anchor_->next_);
  }
}

Node* Graph::create_node(Op op, const std::string& target, Args args, Kwargs kwargs,
                         const std::optional<std::string>& name, std::string type) {
  if (!is_valid_op(op))
    throw GraphError("create_node: opcode " + std::to_string(static_cast<int>(op)) + " (target '" +
                     target +
                     "') is not one of placeholder, get_attr, call_function, call_method, "
                     "call_module, output");
  std::string candidate = name ? *name : default_node_name(op == Op::CallFunction, target);
  owned_.emplace_back(
      new Node(this, namespace_.create_name(candidate), op, target, std::move(type)));
  Node* node = owned_.back().get();
  try {
    node->update_args_kwargs(std::move(args), std::move(kwargs));
  } catch (...) {
    owned_.pop_back();  // the name stays reserved, which is harmless
    throw;
  }
  insert(node);
  ++size_;
  return node;
}

Node* Graph::placeholder(const std::string& name, std::optional<Argument> default_value,
                         std::string type) {
  Args args;
  if (default_value) args.push_back(std::move(*default_value));
  return create_node(Op::Placeholder, name, std::move(args), {}, std::nullopt, std::move(type));
}

Node* Graph::get_attr(const std::string& qualified_name, std::string type) {
  if (owning_module_ && !owning_module_->check_get_attr(qualified_name).empty())
    TORCH_WARN(
        "Attempted to insert a get_attr Node with no underlying reference in the owning "
        "GraphModule (target '",
        qualified_name,
        "')! Call GraphModule::add_submodule to add "
        "the necessary submodule, or GraphModule::set_attr to add the necessary parameter, "
        "buffer or constant");
  return create_node(Op::GetAttr, qualified_name, {}, {}, std::nullopt, std::move(type));
}

Node* Graph::call_function(const std::string& target, Args args, Kwargs kwargs, std::string type) {
  return create_node(Op::CallFunction, target, std::move(args), std::move(kwargs), std::nullopt,
                     std::move(type));
}

Node* Graph::call_method(const std::string& method_name, Args args, Kwargs kwargs,
                         std::string type) {
  return create_node(Op::CallMethod, method_name, std::move(args), std::move(kwargs), std::nullopt,
                     std::move(type));
}

Node* Graph::call_module(const std::string& module_name, Args args, Kwargs kwargs,
                         std::string type) {
  if (owning_module_) {
    std::string why = owning_module_->check_call_module(module_name);
    if (!why.empty())
      throw GraphError(
          "Attempted to insert a call_module Node with no underlying reference in the "
          "owning GraphModule: target '" +
          module_name + "': " + why +
          "; call GraphModule::add_submodule to add the necessary submodule first");
  }
  return create_node(Op::CallModule, module_name, std::move(args), std::move(kwargs), std::nullopt,
                     std::move(type));
}

Node* Graph::output(Argument result, std::string type) {
  return create_node(Op::Output, "output", {std::move(result)}, {}, std::nullopt, std::move(type));
}

void Graph::erase_node(Node* node) {
  check_owned(node, "erase_node was given");
  if (node->erased_) throw_node_error(*node, "has already been erased");
  if (!node->users_.empty()) {
    std::string users;
    for (Node* u : node->users_) users += (users.empty() ? "" : ", ") + u->name() + ": None";
    throw GraphError("Tried to erase Node " + node->name() + " but it still had " +
                     std::to_string(node->users_.size()) + " users in the graph: {" + users + "}!");
  }
  node->unlink();
  node->erased_ = true;
  --size_;
  // Inputs forget this user: every Node argument becomes None, as in torch.fx.
  auto to_none = [](Node*) { return Argument(); };
  node->update_args_kwargs(map_arg(node->args_, to_none), map_arg(node->kwargs_, to_none));
}

size_t Graph::release_erased() {
  if (insert_guards_ > 0) return 0;
  size_t before = owned_.size();
  // The insertion point itself stays until it is moved: insert() reports it.
  auto retiring = [&](const std::unique_ptr<Node>& n) {
    return n.get() != insert_anchor_ && std::binary_search(retiring_.begin(), retiring_.end(),
                                                           n.get(), std::less<const Node*>());
  };
  owned_.erase(std::remove_if(owned_.begin(), owned_.end(), retiring), owned_.end());
  retiring_.clear();
  for (const auto& n : owned_)
    if (n->erased_) retiring_.push_back(n.get());
  std::sort(retiring_.begin(), retiring_.end(), std::less<const Node*>());
  return before - owned_.size();
}

InsertPoint Graph::inserting_before(Node* n) {
  if (n == nullptr) return InsertPoint(this, root_, false);
  check_owned(n, "inserting_before was given");
  return InsertPoint(this, n, true);
}

InsertPoint Graph::inserting_after(Node* n) {
  if (n == nullptr) return InsertPoint(this, root_, true);
  check_owned(n, "inserting_after was given");
  return InsertPoint(this, n, false);
}

std::vector<Node*> Graph::find_nodes(Op op, const std::optional<std::string>& target) const {
  std::vector<Node*> out;
  for (Node* n : nodes())
    if (n->op() == op && (!target || n->target() == *target)) out.push_back(n);
  return out;
}

Node* Graph::output_node() const {
  for (Node* n : nodes().reversed())
    if (n->op() == Op::Output) return n;
  return nullptr;
}

Node* Graph::node_copy(const Node* node, const std::function<Argument(Node*)>& arg_transform) {
  auto identity = [](Node* n) { return Argument(n); };
  const auto& fn = arg_transform ? arg_transform : std::function<Argument(Node*)>(identity);
  Node* copy = create_node(node->op(), node->target(), map_arg(node->args(), fn),
                           map_arg(node->kwargs(), fn), node->name(), node->type());
  copy->meta_ = node->meta_;
  return copy;
}

std::optional<Argument> Graph::graph_copy(const Graph& g,
                                          std::unordered_map<const Node*, Node*>& val_map,
                                          const Node** output_node) {
  auto lookup = [&](Node* n) -> Argument {
    auto it = val_map.find(n);
    if (it == val_map.end())
      throw_node_error(*n,
                       "is used by the graph being copied but was neither copied nor "
                       "given in val_map; the source graph is probably not in "
                       "topological order (run lint() on it)");
    return it->second;
  };
  for (Node* node : g.nodes()) {
    if (val_map.count(node)) continue;
    if (node->op() == Op::Output) {
      if (output_node) *output_node = node;
      return node->args().empty() ? Argument() : map_arg(node->args()[0], lookup);
    }
    val_map[node] = node_copy(node, lookup);
  }
  return std::nullopt;
}

std::unique_ptr<Graph> Graph::clone() const {
  auto copy = std::make_unique<Graph>();
  std::unordered_map<const Node*, Node*> val_map;
  const Node* out = nullptr;
  std::optional<Argument> result = copy->graph_copy(*this, val_map, &out);
  if (result) {
    Node* new_out = copy->output(*result, out->type());
    new_out->meta_ = out->meta_;
  }
  return copy;
}

void Graph::lint() const { fx::lint(*this); }

bool Graph::eliminate_dead_code() { return fx::eliminate_dead_code(*this); }

std::string Graph::str() const {
  std::string out = "graph():";
  out.reserve(size_ * 112);
  for (Node* n : nodes()) {
    out += "\n    ";
    n->format_to(out);
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Graph& graph) { return os << graph.str(); }
std::ostream& operator<<(std::ostream& os, const Node& node) { return os << node.format(); }

}  // namespace fx
