#include "runtime/graph_module.h"

#include <algorithm>
#include <optional>
#include <set>
#include <typeinfo>
#include <unordered_map>

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include "ir/error.h"
#include "runtime/attribute_slot.h"
#include "runtime/codegen.h"
#include "runtime/program.h"
#include "runtime/torch_modules.h"

namespace fx {

namespace {

using NnModule = torch::nn::Module;
using NnPtr = std::shared_ptr<NnModule>;

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string join_parts(const std::vector<std::string>& parts, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += (i == begin ? "" : ".") + parts[i];
  return out;
}

NnPtr child_of(const NnModule& m, const std::string& name) {
  auto children = m.named_children();
  const NnPtr* c = children.find(name);
  return c ? *c : nullptr;
}

std::optional<at::Tensor> param_of(const NnModule& m, const std::string& name) {
  auto params = m.named_parameters(/*recurse=*/false);
  if (const at::Tensor* t = params.find(name)) return *t;
  return std::nullopt;
}

std::optional<at::Tensor> buffer_of(const NnModule& m, const std::string& name) {
  auto buffers = m.named_buffers(/*recurse=*/false);
  if (const at::Tensor* t = buffers.find(name)) return *t;
  return std::nullopt;
}

// Intermediate modules are plain torch::nn::Modules named "Module", as
// torch.fx creates torch.nn.Module() for them.
NnPtr make_intermediate() { return std::make_shared<NnModule>("Module"); }

// A module whose tensors fx may rebind: the GraphModule itself and plain
// torch::nn::Modules (intermediates). Other torch::nn modules keep their
// tensors in fields as well, so their entries can only be updated in place.
bool is_own(const NnModule& m) {
  return typeid(m) == typeid(NnModule) || dynamic_cast<const GraphModule*>(&m) != nullptr;
}

// Replaces (or, when t is empty, removes) the parameter or buffer `field` of
// an own module, keeping everything else and the order. LibTorch has no way
// to rebind or remove a registered buffer, so the module's state is rebuilt
// and assigned over it.
void rebuild_tensors(NnModule& m, const std::string& field, const std::optional<at::Tensor>& t) {
  NnModule fresh(m.name());
  fresh.train(m.is_training());  // before children are added: train() recurses
  for (const auto& p : m.named_parameters(false)) {
    if (p.key() != field)
      fresh.register_parameter(p.key(), p.value(), p.value().requires_grad());
    else if (t)
      fresh.register_parameter(field, *t, t->requires_grad());
  }
  for (const auto& b : m.named_buffers(false)) {
    if (b.key() != field)
      fresh.register_buffer(b.key(), b.value());
    else if (t)
      fresh.register_buffer(field, *t);
  }
  for (const auto& c : m.named_children()) fresh.register_module(c.key(), c.value());
  m.NnModule::operator=(fresh);
}

std::string kind_of_entry(const NnModule& m, const std::string& field) {
  if (param_of(m, field)) return "a parameter";
  if (buffer_of(m, field)) return "a buffer";
  if (child_of(m, field)) return "a module";
  return "";
}

// The get_attr and call_module nodes in the order their targets are
// installed: modules first, outer ones before those inside them, so that
// nothing installed under a name is replaced by the module installed at it.
std::vector<const Node*> reference_order(const Graph& graph) {
  std::vector<const Node*> order;
  for (const Node* n : graph.nodes())
    if (n->op() == Op::CallModule) order.push_back(n);
  std::stable_sort(order.begin(), order.end(), [](const Node* a, const Node* b) {
    return a->target().size() < b->target().size();
  });
  for (const Node* n : graph.nodes())
    if (n->op() == Op::GetAttr) order.push_back(n);
  return order;
}

}  // namespace

GraphModule::GraphModule(std::string class_name)
    : NnModule(class_name),
      class_name_(std::move(class_name)),
      codegen_(std::make_shared<CodeGen>()) {}

GraphModule::GraphModule(std::unique_ptr<Graph> graph, Attributes attributes,
                         std::string class_name)
    : GraphModule(std::move(class_name)) {
  if (!graph) throw GraphError("GraphModule needs a graph, got null");
  // Keep only what the graph refers to, and say what is missing up front.
  // Modules first, outer ones before those inside them, so that nothing
  // installed under a name is replaced by the module installed at it.
  for (const Node* n : reference_order(*graph)) {
    if (n->op() == Op::GetAttr) {
      if (get_attr(n->target())) continue;
      auto it = attributes.values.find(n->target());
      if (it != attributes.values.end()) {
        install(n->target(), it->second);
        continue;
      }
      // `linear.weight` may lie inside a given module.
      bool found = false;
      std::vector<std::string> parts = split_name(n->target());
      for (size_t k = parts.size() - 1; k > 0 && !found; --k) {
        auto m = attributes.modules.find(join_parts(parts, 0, k));
        if (m == attributes.modules.end()) continue;
        if (add_submodule(m->first, m->second) && get_attr(n->target())) found = true;
      }
      if (!found)
        throw_node_error(*n, "Node " + n->name() + " referenced target " + n->target() +
                                 " but that target was not provided in the attributes");
    } else if (n->op() == Op::CallModule) {
      auto it = attributes.modules.find(n->target());
      if (it == attributes.modules.end())
        throw_node_error(*n, "Node " + n->name() + " referenced target " + n->target() +
                                 " but that target was not provided in the submodules");
      if (get_submodule(n->target()) == it->second) continue;
      if (!add_submodule(n->target(), it->second))
        throw_node_error(*n, "cannot install submodule '" + n->target() +
                                 "': a part of that name is an attribute value");
    }
  }
  adopt_graph(std::move(graph));
  recompile();
}

GraphModule::GraphModule(const NnModule& root, std::unique_ptr<Graph> graph, std::string class_name,
                         Attributes extra)
    : GraphModule(std::move(class_name)) {
  if (!graph) throw GraphError("GraphModule needs a graph, got null");
  // torch.fx's _copy_attr, for each target the graph uses.
  auto copy_from_root = [&](const Node& n) -> bool {
    std::vector<std::string> parts = split_name(n.target());
    const NnModule* from = &root;
    NnModule* to = this;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      NnPtr f = child_of(*from, parts[i]);
      if (!f) return false;
      NnPtr t = child_of(*to, parts[i]);
      if (t == f) return true;  // a parent is installed already, and with it this target
      if (!t) {
        if (!kind_of_entry(*to, parts[i]).empty())
          throw_node_error(n, "cannot copy '" + n.target() + "' from the root: '" + parts[i] +
                                  "' is " + kind_of_entry(*to, parts[i]) + " here");
        t = make_intermediate();
        to->register_module(parts[i], t);
      }
      from = f.get();
      to = t.get();
    }
    const std::string& field = parts.back();
    if (std::optional<at::Tensor> p = param_of(*from, field)) {
      if (!param_of(*to, field)) to->register_parameter(field, *p, p->requires_grad());
      return true;
    }
    if (std::optional<at::Tensor> b = buffer_of(*from, field)) {
      if (!buffer_of(*to, field)) to->register_buffer(field, *b);
      return true;
    }
    if (NnPtr m = child_of(*from, field)) {
      if (child_of(*to, field) == m) return true;
      if (std::dynamic_pointer_cast<GraphModule>(m) || n.op() == Op::GetAttr) {
        // A GraphModule child, or a module as a value: shared, as torch.fx does.
        if (child_of(*to, field)) {
          to->replace_module(field, m);
        } else {
          to->register_module(field, m);
        }
        return true;
      }
      throw_node_error(n, "calls submodule '" + n.target() + "' of the root, a " + m->name() +
                              ", which fx cannot call by itself: pass an fx::TorchModule for "
                              "it (fx::wrap_module) in the extra modules");
    }
    return false;
  };
  for (const Node* n : reference_order(*graph)) {
    const std::string& target = n->target();
    if (n->op() == Op::CallModule) {
      auto it = extra.modules.find(target);
      if (it != extra.modules.end()) {
        if (get_submodule(target) != it->second && !add_submodule(target, it->second))
          throw_node_error(*n, "cannot install submodule '" + target +
                                   "': a part of that name is an attribute value");
        continue;
      }
    } else if (get_attr(target)) {
      continue;
    }
    if (copy_from_root(*n)) continue;
    if (n->op() == Op::GetAttr) {
      auto it = extra.values.find(target);
      if (it == extra.values.end())
        throw_node_error(*n, "Node " + n->name() + " referenced target " + target +
                                 " but the root module has no such attribute");
      install(target, it->second);
    } else {
      throw_node_error(*n, "Node " + n->name() + " referenced target " + target +
                               " but the root module has no such submodule");
    }
  }
  adopt_graph(std::move(graph));
  recompile();
}

GraphModule::~GraphModule() = default;

void GraphModule::adopt_graph(std::unique_ptr<Graph> graph) {
  if (!graph) throw GraphError("GraphModule needs a graph, got null");
  graph_ = std::move(graph);
  graph_->set_owning_module(this);
}

std::string GraphModule::why_missing(const std::string& name) const {
  std::vector<std::string> parts = split_name(name);
  const NnModule* m = this;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string seen = join_parts(parts, 0, i);
    const std::string& atom = parts[i];
    if (i + 1 == parts.size()) {
      if (constants_.count(name) || param_of(*m, atom) || buffer_of(*m, atom) || child_of(*m, atom))
        return "";
      return "nonexistent attribute `" + atom + "` of `" + seen + "`";
    }
    NnPtr child = child_of(*m, atom);
    if (!child) {
      if (constants_.count(join_parts(parts, 0, i + 1)) || param_of(*m, atom) ||
          buffer_of(*m, atom))
        return "`" + atom + "` of `" + seen + "`, which is not a module";
      return "nonexistent attribute `" + atom + "` of `" + seen + "`";
    }
    if (auto gm = std::dynamic_pointer_cast<GraphModule>(child)) {
      std::string why = gm->why_missing(join_parts(parts, i + 1, parts.size()));
      return why.empty() ? why : why + " (in `" + join_parts(parts, 0, i + 1) + "`)";
    }
    m = child.get();
  }
  return "";
}

std::string GraphModule::check_get_attr(const std::string& target) const {
  return why_missing(target);
}

std::string GraphModule::check_call_module(const std::string& target) const {
  if (get_submodule(target)) return "";
  std::string why = why_missing(target);
  if (!why.empty()) return why;
  return "`" + target +
         "`, which is not a module fx can call (wrap a torch::nn module with "
         "fx::wrap_module)";
}

bool GraphModule::is_impure_module(const std::string& target) const {
  std::shared_ptr<fx::Module> m = get_submodule(target);
  return m == nullptr || m->is_impure();
}

void GraphModule::set_graph(std::unique_ptr<Graph> graph) {
  adopt_graph(std::move(graph));
  recompile();
}

Attributes GraphModule::resolve(const Graph& graph) const {
  Attributes out = attributes();
  for (const Node* n : graph.nodes()) {
    if (n->op() == Op::GetAttr && !out.values.count(n->target())) {
      if (const c10::IValue* v = get_attr(n->target())) out.values[n->target()] = *v;
    } else if (n->op() == Op::CallModule && !out.modules.count(n->target())) {
      if (auto m = get_submodule(n->target())) out.modules[n->target()] = m;
    }
  }
  return out;
}

std::shared_ptr<AttributeSlot> GraphModule::attribute_slot(const std::string& name) const {
  if (!constants_.count(name)) {
    // A name inside a nested GraphModule is that module's to keep.
    std::vector<std::string> parts = split_name(name);
    const NnModule* m = this;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      NnPtr child = child_of(*m, parts[i]);
      if (!child) return nullptr;
      if (auto gm = std::dynamic_pointer_cast<GraphModule>(child))
        return gm->attribute_slot(join_parts(parts, i + 1, parts.size()));
      m = child.get();
    }
  }
  std::optional<c10::IValue> value = lookup(name);
  if (!value) return nullptr;
  std::shared_ptr<AttributeSlot>& slot = slots_[name];
  if (!slot) slot = std::make_shared<AttributeSlot>(AttributeSlot{name, std::nullopt});
  slot->value = std::move(value);
  return slot;
}

void GraphModule::refresh_slots(const std::string& name) {
  for (auto& [key, slot] : slots_)
    if (key == name || (key.size() > name.size() && key.compare(0, name.size(), name) == 0 &&
                        key[name.size()] == '.'))
      slot->value = lookup(key);
}

std::shared_ptr<const Program> GraphModule::build_program(
    const Graph& graph, std::shared_ptr<const CodeGen> codegen) const {
  return Program::build(
      graph, resolve(graph),
      [this](const std::string& name) -> std::shared_ptr<const AttributeSlot> {
        return attribute_slot(name);
      },
      std::move(codegen));
}

void GraphModule::recompile() {
  graph_->release_erased();
  auto compiled = graph_->clone();
  auto program = build_program(*compiled, codegen_);
  // The source is for reading and for ahead-of-time builds; a construct it
  // cannot spell must not stop the module from running.
  try {
    code_ = codegen_->generate(*graph_, class_name_);
  } catch (const std::exception& e) {
    code_ = "// fx could not generate C++ for " + class_name_ + ": " + e.what() + "\n";
  }
  program_ = std::move(program);
  // Slots no Program reads any more.
  for (auto it = slots_.begin(); it != slots_.end();)
    it = it->second.use_count() == 1 ? slots_.erase(it) : std::next(it);
  compiled_graph_ = std::move(compiled);
  compiled_codegen_ = codegen_;
  unbound_.clear();
}

void GraphModule::rebind() {
  if (!compiled_graph_) return;
  try {
    program_ = build_program(*compiled_graph_, compiled_codegen_);
    unbound_.clear();
  } catch (const Error& e) {
    program_.reset();
    unbound_ = e.what();
  }
}

bool GraphModule::compiled_uses(const std::string& name) const {
  if (!compiled_graph_) return false;
  for (const Node* n : compiled_graph_->nodes()) {
    if (n->op() != Op::GetAttr && n->op() != Op::CallModule) continue;
    const std::string& t = n->target();
    if (t == name ||
        (t.size() > name.size() && t.compare(0, name.size(), name) == 0 && t[name.size()] == '.'))
      return true;
  }
  return false;
}

const std::string& GraphModule::code() const { return code_; }

std::string GraphModule::print_readable() const {
  return "// class " + class_name_ + " (fx::GraphModule)\n" + code_;
}

c10::IValue GraphModule::forward(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs) {
  // Copy the shared pointer: the Program stays alive for this call.
  std::shared_ptr<const Program> program = program_;
  if (!program)
    throw RuntimeError(class_name_ + ".forward cannot run: " + unbound_ +
                       " (it was deleted after the last recompile(); add it again, or recompile() "
                       "a graph that does not use it)");
  // Only entered when on: InferenceMode(false) would switch a caller's
  // inference mode off (and grad mode on) for the call.
  std::optional<c10::InferenceMode> guard;
  if (inference_mode_) guard.emplace();
  const BufferReuse reuse = buffer_reuse_.load(std::memory_order_relaxed);
  const bool pooled = reuse == BufferReuse::kAlways ||
                      (reuse == BufferReuse::kInInferenceMode && c10::InferenceMode::is_enabled());
  // A null pool also keeps an enclosing module's pool away from this call.
  BufferPool::Scope scope(pooled ? buffer_plans_->pool_for(inputs) : nullptr);
  return program->run(std::move(inputs), kwargs);
}

void GraphModule::set_buffer_reuse(BufferReuse mode) {
  buffer_reuse_.store(mode);
  if (mode == BufferReuse::kNever) buffer_plans_->release();
}

void GraphModule::release_buffers() { buffer_plans_->release(); }

BufferPool::Stats GraphModule::buffer_stats() const { return buffer_plans_->stats(); }

void GraphModule::set_codegen(std::shared_ptr<CodeGen> codegen) {
  if (!codegen) throw GraphError("set_codegen needs a CodeGen, got null");
  codegen_ = std::move(codegen);
}

// --- attributes ---------------------------------------------------------------

std::optional<c10::IValue> GraphModule::lookup(const std::string& name) const {
  auto c = constants_.find(name);
  if (c != constants_.end()) return c->second;
  std::vector<std::string> parts = split_name(name);
  const NnModule* m = this;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    NnPtr child = child_of(*m, parts[i]);
    if (!child) return std::nullopt;
    if (auto gm = std::dynamic_pointer_cast<GraphModule>(child))
      return gm->lookup(join_parts(parts, i + 1, parts.size()));
    m = child.get();
  }
  if (auto p = param_of(*m, parts.back())) return c10::IValue(*p);
  if (auto b = buffer_of(*m, parts.back())) return c10::IValue(*b);
  return std::nullopt;
}

const c10::IValue* GraphModule::get_attr(const std::string& name) const {
  std::optional<c10::IValue> v = lookup(name);
  if (!v) return nullptr;
  std::lock_guard<std::mutex> lock(attr_mutex_);
  c10::IValue& slot = attr_cache_[name];
  slot = std::move(*v);
  return &slot;
}

NnModule* GraphModule::parent_of(const std::string& name, std::string* field, GraphModule** nested,
                                 std::string* rest) {
  std::vector<std::string> parts = split_name(name);
  NnModule* m = this;
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    NnPtr child = child_of(*m, parts[i]);
    prefix += (i ? "." : "") + parts[i];
    if (!child) {
      if (!kind_of_entry(*m, parts[i]).empty() || constants_.count(prefix))
        throw GraphError("cannot set attribute '" + name + "': '" + prefix + "' is " +
                         (constants_.count(prefix) ? "a constant" : kind_of_entry(*m, parts[i])) +
                         ", not a module");
      child = make_intermediate();
      m->register_module(parts[i], child);
    } else if (auto gm = std::dynamic_pointer_cast<GraphModule>(child)) {
      *nested = gm.get();
      *rest = join_parts(parts, i + 1, parts.size());
      return nullptr;
    }
    m = child.get();
  }
  *field = parts.back();
  return m;
}

void GraphModule::install(const std::string& name, const c10::IValue& value) {
  std::string field, rest;
  GraphModule* nested = nullptr;
  NnModule* m = parent_of(name, &field, &nested, &rest);
  if (nested) {
    nested->set_attr(rest, value);
    return;
  }
  if (child_of(*m, field))
    throw GraphError("cannot set attribute '" + name + "': it is a submodule; delete it first");
  const bool is_param = param_of(*m, field).has_value();
  const bool is_buffer = buffer_of(*m, field).has_value();
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (is_param || is_buffer) {
      if (is_own(*m)) {
        rebuild_tensors(*m, field, t);
      } else {
        // A torch::nn module reads its tensors from fields: update in place.
        at::Tensor old = is_param ? *param_of(*m, field) : *buffer_of(*m, field);
        old.set_data(t);
      }
    } else if (t.defined() && t.requires_grad()) {
      m->register_parameter(field, t, true);
    } else {
      m->register_buffer(field, t);
    }
    constants_.erase(name);
    refresh_slots(name);
    return;
  }
  if (is_param || is_buffer) {
    if (!is_own(*m))
      throw GraphError("cannot set attribute '" + name + "' to a " + value.tagKind() +
                       ": it is a tensor of the " + m->name() + " there");
    rebuild_tensors(*m, field, std::nullopt);
  }
  constants_[name] = value;
  refresh_slots(name);
}

void GraphModule::set_attr(const std::string& name, c10::IValue value) {
  if (name.empty()) throw GraphError("set_attr needs a name, got an empty one");
  install(name, value);
}

namespace {

// torch.fx's get_parameter/get_buffer messages.
[[noreturn]] void no_attr(const std::string& owner, const std::string& item) {
  throw GraphError(owner + " has no attribute `" + item + "`");
}

}  // namespace

at::Tensor GraphModule::get_parameter(const std::string& name) const {
  std::vector<std::string> parts = split_name(name);
  NnPtr m = get_module(join_parts(parts, 0, parts.size() - 1));
  if (auto p = param_of(*m, parts.back())) return *p;
  if (buffer_of(*m, parts.back()) || child_of(*m, parts.back()))
    throw GraphError("`" + parts.back() + "` is not an nn.Parameter");
  no_attr(m->name(), parts.back());
}

at::Tensor GraphModule::get_buffer(const std::string& name) const {
  std::vector<std::string> parts = split_name(name);
  NnPtr m = get_module(join_parts(parts, 0, parts.size() - 1));
  if (auto b = buffer_of(*m, parts.back())) return *b;
  if (param_of(*m, parts.back()) || child_of(*m, parts.back()))
    throw GraphError("`" + parts.back() + "` is not a buffer");
  no_attr(m->name(), parts.back());
}

std::map<std::string, at::Tensor> GraphModule::state_dict() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : named_buffers(true)) out[b.key()] = b.value();
  return out;
}

void GraphModule::load_state_dict(const std::map<std::string, at::Tensor>& state, bool strict) {
  std::map<std::string, at::Tensor> own = state_dict();
  if (strict) {
    std::string missing, unexpected;
    for (const auto& [k, v] : own)
      if (!state.count(k)) missing += (missing.empty() ? "" : ", ") + k;
    for (const auto& [k, v] : state)
      if (!own.count(k)) unexpected += (unexpected.empty() ? "" : ", ") + k;
    if (!missing.empty() || !unexpected.empty())
      throw GraphError("load_state_dict for " + class_name_ + ": missing keys [" + missing +
                       "], unexpected keys [" + unexpected + "]");
  }
  c10::NoGradGuard no_grad;
  for (const auto& [k, v] : state) {
    auto it = own.find(k);
    if (it == own.end()) continue;
    if (it->second.sizes() != v.sizes())
      throw GraphError("load_state_dict for " + class_name_ + ": '" + k + "' has shape " +
                       c10::str(it->second.sizes()) + " here but " + c10::str(v.sizes()) +
                       " in the state");
    it->second.copy_(v);
  }
}

Attributes GraphModule::attributes() const {
  Attributes out;
  // Walk the tree, stopping at callable modules.
  std::function<void(const NnModule&, const std::string&)> walk = [&](const NnModule& m,
                                                                      const std::string& prefix) {
    auto q = [&](const std::string& k) { return prefix.empty() ? k : prefix + "." + k; };
    for (const auto& p : m.named_parameters(false)) out.values[q(p.key())] = p.value();
    for (const auto& b : m.named_buffers(false)) out.values[q(b.key())] = b.value();
    for (const auto& c : m.named_children()) {
      std::shared_ptr<fx::Module> callable = callable_of(c.value());
      if (callable) out.modules[q(c.key())] = callable;
      // Inside a module fx cannot look into, the tree node is fx's own and
      // what is under it belongs to this GraphModule.
      if (!callable || typeid(*c.value()) == typeid(NnModule)) walk(*c.value(), q(c.key()));
    }
  };
  walk(*this, "");
  for (const auto& [k, v] : constants_) out.values[k] = v;
  return out;
}

// --- submodules ---------------------------------------------------------------

std::shared_ptr<fx::Module> GraphModule::callable_of(const NnPtr& node) const {
  auto it = callables_.find(node.get());
  if (it != callables_.end()) return it->second.module;
  if (auto gm = std::dynamic_pointer_cast<GraphModule>(node)) return gm;
  return nullptr;
}

NnPtr GraphModule::self_ptr() const {
  if (auto s = weak_from_this().lock()) return std::const_pointer_cast<NnModule>(s);
  // Not held by a shared_ptr: a pointer that does not own.
  return NnPtr(NnPtr(), const_cast<GraphModule*>(this));
}

NnPtr GraphModule::get_module(const std::string& name) const {
  if (name.empty()) return self_ptr();
  NnPtr m = self_ptr();
  for (const std::string& item : split_name(name)) {
    NnPtr child = child_of(*m, item);
    if (!child) {
      if (param_of(*m, item) || buffer_of(*m, item))
        throw GraphError("`" + item + "` is not an nn.Module");
      no_attr(m->name(), item);
    }
    m = child;
  }
  return m;
}

std::shared_ptr<fx::Module> GraphModule::get_submodule(const std::string& name) const {
  std::vector<std::string> parts = split_name(name);
  const NnModule* m = this;
  for (size_t i = 0; i < parts.size(); ++i) {
    NnPtr child = child_of(*m, parts[i]);
    if (!child) return nullptr;
    if (i + 1 == parts.size()) return callable_of(child);
    if (auto gm = std::dynamic_pointer_cast<GraphModule>(child))
      return gm->get_submodule(join_parts(parts, i + 1, parts.size()));
    m = child.get();
  }
  return nullptr;
}

NnPtr GraphModule::node_for(const std::shared_ptr<fx::Module>& m) {
  if (auto gm = std::dynamic_pointer_cast<GraphModule>(m)) return gm;
  NnPtr node;
  if (auto tm = std::dynamic_pointer_cast<TorchModule>(m)) {
    node = tm->module();
  } else {
    node = std::make_shared<NnModule>(m->kind());
  }
  callables_[node.get()] = Callable{node, m};
  return node;
}

bool GraphModule::add_submodule(const std::string& name, std::shared_ptr<fx::Module> m) {
  if (!m || name.empty()) return false;
  std::vector<std::string> parts = split_name(name);
  NnModule* parent = this;
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i ? "." : "") + parts[i];
    if (constants_.count(prefix)) return false;
    NnPtr child = child_of(*parent, parts[i]);
    if (!child) {
      if (!kind_of_entry(*parent, parts[i]).empty()) return false;
      child = make_intermediate();
      parent->register_module(parts[i], child);
    } else if (auto gm = std::dynamic_pointer_cast<GraphModule>(child)) {
      if (!gm->add_submodule(join_parts(parts, i + 1, parts.size()), m)) return false;
      if (compiled_uses(name)) rebind();
      return true;
    }
    parent = child.get();
  }
  const std::string& field = parts.back();
  if (constants_.count(name) || param_of(*parent, field) || buffer_of(*parent, field)) return false;
  NnPtr node = node_for(m);
  if (NnPtr old = child_of(*parent, field)) {
    // What an intermediate module held moves to the module that takes its
    // place when that is fx's own (a module fx cannot look into).
    if (typeid(*old) == typeid(NnModule) && !callables_.count(old.get()) &&
        typeid(*node) == typeid(NnModule) && node != old) {
      for (const auto& p : old->named_parameters(false))
        node->register_parameter(p.key(), p.value(), p.value().requires_grad());
      for (const auto& b : old->named_buffers(false)) node->register_buffer(b.key(), b.value());
      for (const auto& c : old->named_children()) node->register_module(c.key(), c.value());
    }
    parent->replace_module(field, node);
  } else {
    parent->register_module(field, node);
  }
  forget_unreachable_callables();
  refresh_slots(name);
  if (compiled_uses(name) || !unbound_.empty()) rebind();
  return true;
}

bool GraphModule::delete_submodule(const std::string& name) {
  if (name.empty()) return false;
  std::vector<std::string> parts = split_name(name);
  NnModule* parent = this;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    NnPtr child = child_of(*parent, parts[i]);
    if (!child) return false;
    if (auto gm = std::dynamic_pointer_cast<GraphModule>(child)) {
      if (!gm->delete_submodule(join_parts(parts, i + 1, parts.size()))) return false;
      if (compiled_uses(name)) rebind();
      return true;
    }
    parent = child.get();
  }
  if (!child_of(*parent, parts.back())) return false;
  parent->unregister_module(parts.back());
  // Constants lived under it.
  const std::string under = name + ".";
  for (auto it = constants_.begin(); it != constants_.end();)
    it = it->first.compare(0, under.size(), under) == 0 ? constants_.erase(it) : std::next(it);
  forget_unreachable_callables();
  refresh_slots(name);
  if (compiled_uses(name)) rebind();
  return true;
}

void GraphModule::forget_unreachable_callables() {
  std::set<const NnModule*> reachable;
  for (const auto& item : NnModule::named_modules("", /*include_self=*/false))
    reachable.insert(item.value().get());
  for (auto it = callables_.begin(); it != callables_.end();)
    it = reachable.count(it->first) ? std::next(it) : callables_.erase(it);
}

void GraphModule::delete_all_unused_submodules() {
  std::set<std::string> used;
  for (const Node* n : graph_->nodes()) {
    if (n->op() != Op::CallModule && n->op() != Op::GetAttr) continue;
    std::vector<std::string> parts = split_name(n->target());
    for (size_t k = 1; k <= parts.size(); ++k) used.insert(join_parts(parts, 0, k));
    if (n->op() == Op::CallModule) {
      NnPtr sub;
      try {
        sub = get_module(n->target());
      } catch (const Error&) {
        continue;  // refers to a module that is not there: nothing to keep
      }
      for (const auto& item : sub->named_modules("", /*include_self=*/false))
        used.insert(n->target() + "." + item.key());
    }
  }
  std::vector<std::string> to_delete;
  for (const auto& item : NnModule::named_modules("", /*include_self=*/false))
    if (!used.count(item.key())) to_delete.push_back(item.key());
  for (const std::string& name : to_delete) delete_submodule(name);
}

// --- torch::nn::Module --------------------------------------------------------

torch::OrderedDict<std::string, NnPtr> GraphModule::named_modules(const std::string& name_prefix,
                                                                  bool include_self) const {
  torch::OrderedDict<std::string, NnPtr> out;
  if (include_self) out.insert(name_prefix, self_ptr());
  for (const auto& item : NnModule::named_modules(name_prefix, /*include_self=*/false))
    out.insert(item.key(), item.value());
  return out;
}

std::vector<NnPtr> GraphModule::modules(bool include_self) const {
  return named_modules("", include_self).values();
}

void GraphModule::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  NnModule::to(device, dtype, non_blocking);
  rebind();
}

void GraphModule::to(torch::Dtype dtype, bool non_blocking) {
  NnModule::to(dtype, non_blocking);
  rebind();
}

void GraphModule::to(torch::Device device, bool non_blocking) {
  NnModule::to(device, non_blocking);
  rebind();
}

std::unique_ptr<GraphModule> GraphModule::deepcopy() const {
  std::unique_ptr<GraphModule> out(new GraphModule(class_name_));
  // One copy per tensor, so tied weights stay tied.
  std::unordered_map<const c10::TensorImpl*, at::Tensor> memo;
  auto copy_tensor = [&](const at::Tensor& t) -> at::Tensor {
    if (!t.defined()) return t;
    auto it = memo.find(t.unsafeGetTensorImpl());
    if (it != memo.end()) return it->second;
    at::Tensor c = t.detach().clone();
    if (t.requires_grad()) c.set_requires_grad(true);
    memo.emplace(t.unsafeGetTensorImpl(), c);
    return c;
  };
  std::function<NnPtr(const NnPtr&)> copy_node = [&](const NnPtr& src) -> NnPtr {
    if (auto gm = std::dynamic_pointer_cast<GraphModule>(src)) return NnPtr(gm->deepcopy());
    auto it = callables_.find(src.get());
    if (it != callables_.end()) {
      std::shared_ptr<fx::Module> m = it->second.module;
      if (auto tm = std::dynamic_pointer_cast<TorchModule>(m)) {
        NnPtr cloned;
        try {
          cloned = tm->module()->clone();
        } catch (const c10::Error& e) {
          throw GraphError("deepcopy of " + class_name_ + ": cannot clone the " + tm->kind() +
                           " (" + e.what_without_backtrace() + ")");
        }
        m = std::make_shared<TorchModule>(cloned, tm->forward_fn());
      }
      return out->node_for(m);
    }
    auto n = std::make_shared<NnModule>(src->name());
    n->train(src->is_training());
    for (const auto& p : src->named_parameters(false))
      n->register_parameter(p.key(), copy_tensor(p.value()), p.value().requires_grad());
    for (const auto& b : src->named_buffers(false))
      n->register_buffer(b.key(), copy_tensor(b.value()));
    for (const auto& c : src->named_children()) n->register_module(c.key(), copy_node(c.value()));
    return n;
  };
  out->train(is_training());
  for (const auto& p : named_parameters(false))
    out->register_parameter(p.key(), copy_tensor(p.value()), p.value().requires_grad());
  for (const auto& b : named_buffers(false)) out->register_buffer(b.key(), copy_tensor(b.value()));
  for (const auto& c : named_children()) out->register_module(c.key(), copy_node(c.value()));
  for (const auto& [k, v] : constants_) out->constants_[k] = v;
  out->codegen_ = codegen_;
  out->inference_mode_ = inference_mode_;
  out->set_buffer_reuse(buffer_reuse());  // the copy makes its own plans
  out->adopt_graph(graph_->clone());
  // The same code: the copy runs what this module last compiled.
  if (compiled_graph_) {
    out->compiled_graph_ = compiled_graph_->clone();
    out->compiled_codegen_ = compiled_codegen_;
    out->code_ = code_;
    out->rebind();
  }
  return out;
}

NnPtr GraphModule::clone(const std::optional<torch::Device>& device) const {
  NnPtr out(deepcopy());
  if (device) out->to(*device);
  return out;
}

}  // namespace fx
