// split_module: one child GraphModule per partition plus a parent calling
// them, following torch.fx 1.13's passes/split_module.py step by step (the
// comments number the same steps), except that get_attrs move into children.
#include "runtime/split_module.h"

#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/error.h"

namespace fx {
namespace {

// An insertion-ordered set of small things (nodes, partition indices).
template <typename T>
class OrderedSet {
 public:
  bool insert(T v) {
    if (!seen_.insert(v).second) return false;
    items_.push_back(v);
    return true;
  }
  const std::vector<T>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<T> items_;
  std::unordered_set<T> seen_;
};

struct Partition {
  explicit Partition(int64_t id)
      : id(id), submod_name("submod_" + std::to_string(id)), graph(std::make_unique<Graph>()) {}
  int64_t id;
  std::string submod_name;
  OrderedSet<const Node*> inputs;   // values defined elsewhere, in first-use order
  OrderedSet<const Node*> outputs;  // values used elsewhere, in first-use order
  OrderedSet<const Node*> attrs;    // get_attr nodes it uses
  OrderedSet<size_t> dependents;    // partitions that use its outputs
  std::set<size_t> depends_on;      // partitions whose outputs it uses (not yet sorted)
  std::unique_ptr<Graph> graph;
  std::unordered_map<const Node*, Node*> env;  // original node -> node in graph
  Attributes attributes;
  std::unordered_map<std::string, std::string> flat_to_original;
};

std::string flatten(const std::string& qualified_name) {
  std::string flat = qualified_name;
  for (char& c : flat)
    if (c == '.') c = '_';
  return flat;
}

std::string describe_edge(const std::pair<const Node*, const Node*>& edge, const Partition& def_p,
                          const Partition& use_p) {
  return describe(*edge.second) + " in partition " + std::to_string(use_p.id) + " uses '" +
         edge.first->name() + "' from partition " + std::to_string(def_p.id);
}

}  // namespace

// 1. Assign every node but placeholders, get_attrs and the output to a
//    partition; record each cross-partition use as an output of the defining
//    partition, an input of the using one, and a dependency between them.
//    get_attr uses are recorded as attributes of the using partition.
// 2. Sort partitions topologically (LIFO of ready partitions); leftover
//    partitions are on a cycle.
// 3. Give each child a placeholder per input, then re-create its nodes in
//    graph order, get_attrs included, flattening attribute and module names.
// 4. Build the parent: placeholders, get_attrs the output returns, then per
//    partition in sorted order its call (and getitems), then the output.
std::unique_ptr<GraphModule> split_module(
    const GraphModule& gm, const std::function<int64_t(const Node*)>& partition_of_node,
    std::map<std::string, std::string>* qualname_map) {
  const Graph& graph = gm.graph();
  std::vector<Partition> partitions;
  std::unordered_map<int64_t, size_t> index_of_id;
  std::unordered_map<const Node*, size_t> partition_of;  // node -> index in partitions
  std::unordered_set<const Node*> parent_attrs;          // get_attrs the output returns
  // (defining partition, using partition) -> the first (def, use) nodes.
  std::map<std::pair<size_t, size_t>, std::pair<const Node*, const Node*>> first_edge;
  std::unordered_set<const Node*> defined;

  // Step 1. use_p is nullopt for the output node.
  auto record_use = [&](const Node* def, const Node* use, std::optional<size_t> use_p) {
    if (defined.count(def) == 0)
      throw_node_error(*use, "uses '" + def->name() +
                                 "' before it is defined; nodes must be in topological order "
                                 "(run fx::legalize first)");
    if (def->op() == Op::GetAttr) {
      if (use_p) {
        partitions[*use_p].attrs.insert(def);
      } else {
        parent_attrs.insert(def);
      }
      return;
    }
    auto it = partition_of.find(def);
    std::optional<size_t> def_p;
    if (it != partition_of.end()) def_p = it->second;
    if (def_p == use_p) return;
    if (def_p) {
      partitions[*def_p].outputs.insert(def);
      if (use_p) partitions[*def_p].dependents.insert(*use_p);
    }
    if (use_p) {
      partitions[*use_p].inputs.insert(def);
      if (def_p) {
        partitions[*use_p].depends_on.insert(*def_p);
        first_edge.emplace(std::make_pair(*def_p, *use_p), std::make_pair(def, use));
      }
    }
  };
  auto record_uses = [&](const Node* use, std::optional<size_t> use_p) {
    auto fn = [&](Node* def) { record_use(def, use, use_p); };
    for (const Argument& a : use->args()) for_each_node(a, fn);
    for (const auto& kv : use->kwargs()) for_each_node(kv.second, fn);
  };

  for (const Node* node : graph.nodes()) {
    if (node->op() == Op::Placeholder || node->op() == Op::GetAttr) {
      defined.insert(node);
      continue;
    }
    if (node->op() == Op::Output) {
      record_uses(node, std::nullopt);
      continue;
    }
    int64_t id = partition_of_node(node);
    auto [it, fresh] = index_of_id.emplace(id, partitions.size());
    if (fresh) partitions.emplace_back(id);
    partition_of[node] = it->second;
    record_uses(node, it->second);
    defined.insert(node);
  }

  // Step 2.
  std::vector<size_t> sorted;
  std::vector<size_t> ready;
  for (size_t i = 0; i < partitions.size(); ++i)
    if (partitions[i].depends_on.empty()) ready.push_back(i);
  while (!ready.empty()) {
    size_t p = ready.back();
    ready.pop_back();
    sorted.push_back(p);
    for (size_t d : partitions[p].dependents.items()) {
      partitions[d].depends_on.erase(p);
      if (partitions[d].depends_on.empty()) ready.push_back(d);
    }
  }
  if (sorted.size() != partitions.size()) {
    // Each unsorted partition still depends on an unsorted one: walk those
    // dependencies until a partition repeats; from there on is a cycle.
    std::vector<bool> is_sorted(partitions.size(), false);
    for (size_t p : sorted) is_sorted[p] = true;
    std::string stuck;
    size_t cur = partitions.size();
    for (size_t i = 0; i < partitions.size(); ++i) {
      if (is_sorted[i]) continue;
      if (cur == partitions.size()) cur = i;
      stuck += (stuck.empty() ? "" : ", ") + std::to_string(partitions[i].id);
    }
    std::vector<size_t> walk;
    std::unordered_map<size_t, size_t> step_of;
    while (step_of.emplace(cur, walk.size()).second) {
      walk.push_back(cur);
      cur = *partitions[cur].depends_on.begin();
    }
    // walk[k] depends on walk[k + 1], and the last on cur.
    std::string edges;
    for (size_t s = step_of[cur]; s < walk.size(); ++s) {
      size_t def_p = s + 1 < walk.size() ? walk[s + 1] : cur;
      edges += (edges.empty() ? "" : "; ") + describe_edge(first_edge.at({def_p, walk[s]}),
                                                           partitions[def_p], partitions[walk[s]]);
    }
    throw GraphError("cycle exists between partitions! partitions [" + stuck +
                     "] cannot be ordered: " + edges +
                     "; change partition_of_node so that values flow one way between partitions");
  }

  // Step 3.
  for (size_t p : sorted) {
    Partition& part = partitions[p];
    for (const Node* in : part.inputs.items()) {
      Node* ph = part.graph->placeholder(in->name(), std::nullopt, in->type());
      ph->meta() = in->meta();
      part.env[in] = ph;
    }
  }
  // Records that `flat` in part stands for `original`; a second original
  // flattening to the same name would make the child ambiguous.
  auto claim_name = [&](Partition& part, const Node& node, const std::string& flat) {
    auto [it, fresh] = part.flat_to_original.emplace(flat, node.target());
    if (!fresh && it->second != node.target())
      throw_node_error(node, "target '" + node.target() + "' flattens to '" + flat + "' in " +
                                 part.submod_name + ", which already holds '" + it->second +
                                 "' under that name; rename one of them");
    if (qualname_map) (*qualname_map)[part.submod_name + "." + flat] = node.target();
  };
  // get_attr node -> partitions that use it.
  std::unordered_map<const Node*, std::vector<size_t>> attr_users;
  for (size_t p = 0; p < partitions.size(); ++p)
    for (const Node* a : partitions[p].attrs.items()) attr_users[a].push_back(p);

  for (const Node* node : graph.nodes()) {
    if (node->op() == Op::GetAttr) {
      auto users = attr_users.find(node);
      if (users == attr_users.end()) continue;
      const c10::IValue* value = gm.get_attr(node->target());
      if (!value)
        throw_node_error(*node,
                         "target " + node->target() + " not found among the module's attributes");
      std::string flat = flatten(node->target());
      for (size_t p : users->second) {
        Partition& part = partitions[p];
        claim_name(part, *node, flat);
        part.attributes.values[flat] = *value;
        Node* copy = part.graph->create_node(Op::GetAttr, flat, {}, {}, std::nullopt, node->type());
        copy->meta() = node->meta();
        part.env[node] = copy;
      }
      continue;
    }
    auto it = partition_of.find(node);
    if (it == partition_of.end()) continue;
    Partition& part = partitions[it->second];
    auto lookup = [&part](Node* n) -> Argument {
      auto found = part.env.find(n);
      FX_INTERNAL_ASSERT(found != part.env.end(), "split_module lost the value " + n->name());
      return found->second;
    };
    Args args = map_arg(node->args(), lookup);
    Kwargs kwargs = map_arg(node->kwargs(), lookup);
    std::string target = node->target();
    if (node->op() == Op::CallModule) {
      std::shared_ptr<Module> module = gm.get_submodule(target);
      if (!module)
        throw_node_error(*node, "target " + target + " not found among the module's submodules");
      target = flatten(target);
      claim_name(part, *node, target);
      part.attributes.modules[target] = std::move(module);
    }
    Node* copy = part.graph->create_node(node->op(), target, std::move(args), std::move(kwargs),
                                         std::nullopt, node->type());
    copy->meta() = node->meta();
    part.env[node] = copy;
  }

  // Step 4.
  auto parent = std::make_unique<Graph>();
  Attributes parent_attributes;
  std::unordered_map<const Node*, Node*> parent_env;
  for (const Node* node : graph.nodes()) {
    if (node->op() == Op::Placeholder) {
      std::optional<Argument> default_value;
      if (!node->args().empty()) default_value = node->args()[0];
      Node* ph = parent->placeholder(node->target(), default_value, node->type());
      ph->meta() = node->meta();
      parent_env[node] = ph;
    } else if (node->op() == Op::GetAttr && parent_attrs.count(node) != 0) {
      const c10::IValue* value = gm.get_attr(node->target());
      if (!value)
        throw_node_error(*node,
                         "target " + node->target() + " not found among the module's attributes");
      parent_attributes.values[node->target()] = *value;
      Node* copy = parent->get_attr(node->target(), node->type());
      copy->meta() = node->meta();
      parent_env[node] = copy;
    }
  }
  for (size_t p : sorted) {
    Partition& part = partitions[p];
    std::vector<Argument> outs;
    for (const Node* out : part.outputs.items()) outs.emplace_back(part.env.at(out));
    part.graph->output(outs.size() == 1 ? outs[0] : Argument::tuple(outs));
    parent_attributes.modules[part.submod_name] =
        std::make_shared<GraphModule>(std::move(part.graph), std::move(part.attributes));

    Args call_args;
    for (const Node* in : part.inputs.items()) {
      auto found = parent_env.find(in);
      FX_INTERNAL_ASSERT(found != parent_env.end(),
                         "partition inputs are not ready for " + part.submod_name);
      call_args.emplace_back(found->second);
    }
    Node* call = parent->call_module(part.submod_name, std::move(call_args));
    const auto& outputs = part.outputs.items();
    if (outputs.size() == 1) {
      parent_env[outputs[0]] = call;
    } else {
      for (size_t i = 0; i < outputs.size(); ++i)
        parent_env[outputs[i]] = parent->call_function("getitem", {call, static_cast<int64_t>(i)});
    }
  }
  if (const Node* out = graph.output_node()) {
    Argument result = map_arg(out->args().empty() ? Argument() : out->args()[0],
                              [&](Node* n) -> Argument { return parent_env.at(n); });
    parent->output(std::move(result), out->type());
  }
  return std::make_unique<GraphModule>(std::move(parent), std::move(parent_attributes));
}

}  // namespace fx
