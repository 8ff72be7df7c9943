// Node bookkeeping: use lists, list links, formatting, purity.
#include "ir/node.h"

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include "ir/error.h"
#include "ir/graph.h"

namespace fx {

const char* op_name(Op op) {
  switch (op) {
    case Op::Placeholder: return "placeholder";
    case Op::GetAttr: return "get_attr";
    case Op::CallFunction: return "call_function";
    case Op::CallMethod: return "call_method";
    case Op::CallModule: return "call_module";
    case Op::Output: return "output";
  }
  return "?";
}

bool is_valid_op(Op op) { return static_cast<unsigned>(op) <= static_cast<unsigned>(Op::Output); }

std::optional<Op> op_from_name(const std::string& name) {
  for (Op op : {Op::Placeholder, Op::GetAttr, Op::CallFunction, Op::CallMethod, Op::CallModule,
                Op::Output}) {
    if (name == op_name(op)) return op;
  }
  return std::nullopt;
}

Node::Node(Graph* graph, std::string name, Op op, std::string target, std::string type)
    : graph_(graph),
      name_(std::move(name)),
      op_(op),
      target_(std::move(target)),
      type_(std::move(type)) {}

const Argument* Node::kwarg(const std::string& key) const {
  for (const auto& kv : kwargs_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Node* Node::next() const { return next_ == graph_->root_ ? nullptr : next_; }
Node* Node::prev() const { return prev_ == graph_->root_ ? nullptr : prev_; }

void Node::unlink() {
  prev_->next_ = next_;
  next_->prev_ = prev_;
}

void Node::link_before(Node* anchor) {
  prev_ = anchor->prev_;
  next_ = anchor;
  anchor->prev_->next_ = this;
  anchor->prev_ = this;
}

void Node::prepend(Node* x) {
  if (x->graph_ != graph_)
    throw_node_error(*x, "cannot be moved next to " + describe(*this) +
                             ", which is in a different graph; copy it with node_copy instead");
  if (x->erased_ || erased_)
    throw_node_error(x->erased_ ? *x : *this,
                     "has been erased and cannot be moved or used as a position");
  if (x == this) {
    TORCH_WARN("Trying to prepend a node to itself. This behavior has no effect on the graph.");
    return;
  }
  x->unlink();
  x->link_before(this);
}

void Node::append(Node* x) {
  if (x == this) {
    TORCH_WARN("Trying to append a node to itself. This behavior has no effect on the graph.");
    return;
  }
  // next_ may be the root sentinel, which is a Node too.
  next_->prepend(x);
}

void Node::remove_user(Node* user) {
  // Search from the back: passes usually remove the most recent user first.
  auto it = std::find(users_.rbegin(), users_.rend(), user);
  FX_INTERNAL_ASSERT(it != users_.rend(),
                     "use list of '" + name_ + "' lacks '" + user->name_ + "'");
  users_.erase(std::next(it).base());
}

void Node::update_args_kwargs(Args args, Kwargs kwargs) {
  auto check = [this](Node* n) {
    if (n->erased_)
      throw_node_error(*this, "cannot take erased node '" + n->name_ + "' as an argument");
  };
  for (const Argument& a : args) for_each_node(a, check);
  for (const auto& kv : kwargs) for_each_node(kv.second, check);

  for (Node* old_input : inputs_) old_input->remove_user(this);
  inputs_.clear();
  args_ = std::move(args);
  kwargs_ = std::move(kwargs);
  auto add_input = [this](Node* n) {
    if (std::find(inputs_.begin(), inputs_.end(), n) == inputs_.end()) inputs_.push_back(n);
  };
  for (const Argument& a : args_) for_each_node(a, add_input);
  for (const auto& kv : kwargs_) for_each_node(kv.second, add_input);
  for (Node* n : inputs_) n->users_.push_back(this);
}

void Node::set_args(Args args) { update_args_kwargs(std::move(args), kwargs_); }
void Node::set_kwargs(Kwargs kwargs) { update_args_kwargs(args_, std::move(kwargs)); }

void Node::update_arg(size_t index, Argument arg) {
  if (index >= args_.size())
    throw_node_error(*this, "update_arg index " + std::to_string(index) +
                                " is out of range; the node has " + std::to_string(args_.size()) +
                                " positional args");
  Args args = args_;
  args[index] = std::move(arg);
  set_args(std::move(args));
}

void Node::update_kwarg(const std::string& key, Argument arg) {
  Kwargs kwargs = kwargs_;
  auto it =
      std::find_if(kwargs.begin(), kwargs.end(), [&](const auto& kv) { return kv.first == key; });
  if (it == kwargs.end()) {
    kwargs.emplace_back(key, std::move(arg));
  } else {
    it->second = std::move(arg);
  }
  set_kwargs(std::move(kwargs));
}

std::vector<Node*> Node::replace_all_uses_with(Node* replace_with,
                                               const std::function<bool(Node*)>& delete_user_cb) {
  if (replace_with == nullptr)
    throw_node_error(*this, "replace_all_uses_with needs a node, got null");
  if (replace_with->graph_ != graph_)
    throw_node_error(*this, "cannot replace its uses with " + describe(*replace_with) +
                                ", which belongs to another graph");
  std::vector<Node*> to_process = users_;
  std::vector<Node*> changed;
  auto swap = [&](Node* n) -> Argument { return n == this ? replace_with : n; };
  for (Node* user : to_process) {
    if (delete_user_cb && !delete_user_cb(user)) continue;
    user->update_args_kwargs(map_arg(user->args_, swap), map_arg(user->kwargs_, swap));
    changed.push_back(user);
  }
  FX_INTERNAL_ASSERT(users_.size() == to_process.size() - changed.size(),
                     "replace_all_uses_with left stale users on '" + name_ + "'");
  return changed;
}

void Node::replace_input_with(Node* old_input, Node* new_input) {
  auto swap = [&](Node* n) -> Argument { return n == old_input ? new_input : n; };
  update_args_kwargs(map_arg(args_, swap), map_arg(kwargs_, swap));
}

namespace {

bool schema_mutates(const std::string& target) {
  size_t dot = target.find('.');
  std::string name = target.substr(0, dot);
  std::string overload = dot == std::string::npos ? "" : target.substr(dot + 1);
  if (name.find("::") == std::string::npos) return false;
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  return handle && handle->hasSchema() && handle->schema().is_mutable();
}

bool has_side_effect(const std::string& target) {
  static const std::unordered_set<std::string> ops = {
      "_assert_specialized",  // the tracer's check of a baked-in input (capture/tracer.h)
      "aten::_assert_async",
      "aten::_assert_async.msg",
      "aten::_assert_scalar",
      "aten::_assert_tensor_metadata",
      "aten::_print",
      "aten::sym_constrain_range",
      "aten::sym_constrain_range_for_size",
      "profiler::_record_function_enter",
      "profiler::_record_function_enter_new",
      "profiler::_record_function_exit",
      "profiler::_record_function_exit._RecordFunction",
  };
  return ops.count(target) != 0;
}

}  // namespace

const std::string& Node::rename(const std::string& candidate) {
  if (candidate == name_) return name_;
  if (erased_) throw_node_error(*this, "cannot rename an erased node");
  name_ = graph_->namespace_.create_name(candidate);
  return name_;
}

bool Node::is_impure() const {
  switch (op_) {
    case Op::Placeholder:
    case Op::Output: return true;
    case Op::CallFunction: return has_side_effect(target_) || schema_mutates(target_);
    case Op::CallMethod:
      // Tensor methods that end in one underscore write to their receiver.
      return target_.size() > 1 && target_.back() == '_' && target_[target_.size() - 2] != '_';
    case Op::GetAttr: return false;
    case Op::CallModule: {
      const OwningModule* owner = graph_->owning_module();
      return owner == nullptr || owner->is_impure_module(target_);
    }
  }
  return false;
}

std::string Node::format() const {
  std::string out;
  format_to(out);
  return out;
}

void Node::format_to(std::string& out) const {
  if (op_ == Op::Output) {
    out += "return ";
    if (args_.empty()) {
      out += "None";
    } else {
      str_arg_to(out, args_[0]);
    }
    return;
  }
  out += '%';
  out += name_;
  out += " : ";
  if (!type_.empty()) {
    out += type_;
    out += ' ';
  }
  out += "[#users=";
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), users_.size());
  out.append(buf, res.ptr);
  out += "] = ";
  out += op_name(op_);
  out += "[target=";
  out += target_;
  out += ']';
  switch (op_) {
    case Op::Placeholder:
      if (!args_.empty()) {
        out += "(default=";
        str_arg_to(out, args_[0]);
        out += ')';
      }
      break;
    case Op::GetAttr: break;
    default:
      out += "(args = ";
      format_args_to(out, args_);
      out += ", kwargs = ";
      format_kwargs_to(out, kwargs_);
      out += ')';
  }
}

std::string describe(const Node& node) {
  std::string out = "node '" + node.name() + "' (" + op_name(node.op());
  if (node.op() != Op::Output && node.op() != Op::Placeholder) out += " " + node.target();
  return out + ")";
}

}  // namespace fx
