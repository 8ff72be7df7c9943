// See jit/fuse.h. Outline:
//   1. check that the nodes carry tensor_meta; copy the graph;
//   2. partition the copy; for each group, build its KernelSpec and an eager
//      GraphModule of its nodes, insert `call_module[target=fused_<i>]` (plus a
//      getitem per output when there are several) and erase the members;
//   3. restore topological order with fx::legalize (the fused node is inserted
//      where its first member was; where a later member read a node defined
//      after that point, the fused node moves down), and build the new
//      GraphModule with the old attributes plus the fused modules.
#include "jit/fuse.h"

#include <unordered_map>

#include <c10/util/Exception.h>

#include "ir/error.h"
#include "ir/legalize.h"
#include "jit/env.h"
#include "jit/fused_kernel.h"
#include "jit/fused_serialize.h"
#include "jit/kernel.h"
#include "jit/ops.h"
#include "jit/reductions.h"

namespace fx::jit {
namespace {

void check_meta(const Graph& g) {
  for (const Node* n : g.nodes()) {
    if (n->op() != Op::CallFunction ||
        (op_rows(n->target()).empty() && !is_reduction_name(n->target())))
      continue;
    if (!first_tensor_meta(*n))
      throw_node_error(*n,
                       "has no tensor_meta, which fusion needs (shapes and dtypes); run "
                       "fx::shape_prop(gm, example_inputs) or capture the module with "
                       "fx::symbolic_trace before fx::jit::fuse",
                       ErrorKind::kCompile);
  }
}

// Where a group runs: its first member's device (a tuple-valued member, such
// as native_layer_norm, has a list of tensor_meta; its first tells).
c10::Device device_of(const FusionGroup& g) { return first_tensor_meta(*g.nodes[0])->device; }

bool wanted(const FusionGroup& g, FuseOptions::Backend backend) {
  c10::Device d = device_of(g);
  // Shapes propagated on meta tensors say nothing about the device: such
  // groups run on CPU (other inputs fall back to eager at run time).
  if (d.is_meta()) return backend != FuseOptions::Backend::kCuda;
  switch (backend) {
    case FuseOptions::Backend::kCpu: return d.is_cpu();
    case FuseOptions::Backend::kCuda: return d.is_cuda();
    default: return d.is_cpu() || d.is_cuda();
  }
}

std::unique_ptr<GraphModule> eager_module(const FusionGroup& group) {
  auto g = std::make_unique<Graph>();
  std::unordered_map<const Node*, Node*> env;
  for (Node* in : group.inputs) {
    Node* p = g->placeholder(in->name());
    if (in->tensor_meta()) p->meta().set("tensor_meta", *in->tensor_meta());
    env[in] = p;
  }
  for (Node* n : group.nodes)
    env[n] = g->node_copy(n, [&](Node* x) { return Argument(env.at(x)); });
  if (group.outputs.size() == 1) {
    g->output(Argument(env.at(group.outputs[0])));
  } else {
    std::vector<Argument> outs;
    for (Node* o : group.outputs) outs.emplace_back(env.at(o));
    g->output(Argument::tuple(std::move(outs)));
  }
  return std::make_unique<GraphModule>(std::move(g), Attributes{}, "FusedEager");
}

}  // namespace

std::string explain_fusion(const GraphModule& gm, const FuseOptions& options) {
  check_meta(gm.graph());
  return partition(gm.graph(), options.partition).explain();
}

std::unique_ptr<GraphModule> fuse(const GraphModule& gm, FuseOptions options) {
  register_serialization();  // so that fx::save can write what fuse returns
  std::unique_ptr<Graph> graph = gm.graph().clone();
  Attributes attrs = gm.attributes();
  if (env_jit_disabled())
    return std::make_unique<GraphModule>(std::move(graph), std::move(attrs), gm.class_name());
  check_meta(*graph);
  Partition p = partition(*graph, options.partition);
  int next = 0;
  // Outputs of groups already fused -> the nodes that replaced them; a later
  // group can read them (when merging the two would have formed a cycle).
  std::unordered_map<const Node*, Node*> replaced;
  for (FusionGroup group : p.groups) {
    if (!wanted(group, options.backend)) continue;
    for (Node*& in : group.inputs) {
      auto it = replaced.find(in);
      if (it != replaced.end()) in = it->second;
    }
    std::string name;
    do {
      name = "fused_" + std::to_string(next++);
    } while (attrs.modules.count(name) || attrs.values.count(name));
    KernelSpec spec = build_kernel_spec(group, name);
    auto module = std::make_shared<FusedKernel>(
        std::move(spec), eager_module(group), device_of(group), options.cpu,
        options.cuda ? *options.cuda : cuda_options_sharing_cache(options.cpu));
    attrs.modules[name] = module;
    Args args;
    for (Node* in : group.inputs) args.emplace_back(in);
    std::vector<Node*> results;
    {
      auto guard = graph->inserting_before(group.nodes[0]);
      Node* call = graph->call_module(name, std::move(args));
      if (group.outputs.size() == 1) {
        call->meta().set("tensor_meta", *group.outputs[0]->tensor_meta());
        results.push_back(call);
      } else {
        std::vector<TensorMeta> metas;
        for (size_t i = 0; i < group.outputs.size(); ++i) {
          Node* item = graph->call_function("getitem", {call, static_cast<int64_t>(i)});
          item->meta().set("tensor_meta", *group.outputs[i]->tensor_meta());
          metas.push_back(*group.outputs[i]->tensor_meta());
          results.push_back(item);
        }
        call->meta().set("tensor_meta", metas);
      }
    }
    for (size_t i = 0; i < group.outputs.size(); ++i) {
      group.outputs[i]->replace_all_uses_with(results[i]);
      replaced[group.outputs[i]] = results[i];
    }
    for (auto it = group.nodes.rbegin(); it != group.nodes.rend(); ++it) graph->erase_node(*it);
  }
  legalize(*graph);
  return std::make_unique<GraphModule>(std::move(graph), std::move(attrs), gm.class_name());
}

}  // namespace fx::jit
