// See jit/fused_serialize.h. Loading a FusedKernel:
//   1. read its data (name, device, members);
//   2. rebuild the FusionGroup from the eager graph: placeholders are the
//      inputs, the call_function nodes the members (each must be fusible on
//      its own terms, and all must share one shape, as the partitioner
//      guarantees), the output's node or tuple of nodes the outputs;
//   3. build the KernelSpec from it, check that its members are the saved
//      ones, and make the FusedKernel (nothing is compiled yet).
#include "jit/fused_serialize.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "ir/graph.h"
#include "jit/fused_kernel.h"
#include "jit/kernel.h"
#include "jit/ops.h"
#include "jit/partition.h"
#include "jit/reductions.h"
#include "serialize/serialize.h"

namespace fx::jit {
namespace {

using Json = nlohmann::json;

const char* const kKind = "fx::jit::FusedKernel";

[[noreturn]] void bad_data(const std::string& what) { throw ParseError("data: " + what); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

SavedModule save_fused(const Module& m) {
  const auto* k = dynamic_cast<const FusedKernel*>(&m);
  if (!k)
    throw GraphError(std::string("its kind() is ") + kKind +
                     " but it is not an fx::jit::FusedKernel object, so it "
                     "cannot be saved as one");
  Json data;
  data["name"] = k->spec().name;
  data["device"] = k->device().str();
  data["members"] = k->members();
  return SavedModule{&k->eager_module(), data.dump()};
}

// A row kernel's group (its graph holds a reduction): the partitioner must find
// all of its members to be one group, as fuse did.
FusionGroup row_group_of(const Graph& g) {
  PartitionOptions o;
  o.min_group_size = 1;
  o.max_group_size = SIZE_MAX;
  o.max_tensor_args = SIZE_MAX;
  Partition p = partition(g, o);
  size_t calls = 0;
  for (const Node* n : g.nodes()) calls += n->op() == Op::CallFunction;
  if (p.groups.size() != 1 || p.groups[0].nodes.size() != calls ||
      p.groups[0].reduce_dims == 0) {
    std::string why = p.explain();
    throw ParseError("the fused row kernel's graph is not one fusible group with a reduction: " +
                     (why.empty() ? std::string("no groups") : why));
  }
  FusionGroup group = p.groups[0];
  group.inputs.clear();
  for (Node* n : g.nodes())
    if (n->op() == Op::Placeholder) group.inputs.push_back(n);
  return group;
}

// 2. The group the eager graph computes, checked to be one fuse could build.
FusionGroup group_of(const Graph& g) {
  for (const Node* n : g.nodes())
    if (n->op() == Op::CallFunction && node_is_reduction(*n, nullptr, nullptr)) {
      FusionGroup rows = row_group_of(g);
      FusionGroup checked = rows;
      checked.outputs.clear();
      const Node* out = g.output_node();
      if (out && out->args().size() == 1) {
        const Argument& result = out->args()[0];
        if (result.kind() == Argument::Kind::kTuple && result.items().size() >= 2) {
          for (const Argument& item : result.items())
            if (item.is_node()) checked.outputs.push_back(item.to_node());
        } else if (result.is_node()) {
          checked.outputs.push_back(result.to_node());
        }
      }
      if (checked.outputs != rows.outputs)
        throw ParseError(
            "the fused row kernel's graph must return its members used outside it, in "
            "graph order");
      return checked;
    }
  FusionGroup group;
  const TensorMeta* shape = nullptr;
  for (Node* n : g.nodes()) {
    switch (n->op()) {
      case Op::Placeholder:
        if (!group.nodes.empty())
          throw_node_error(*n,
                           "comes after a member of the fused kernel; its inputs must come first",
                           ErrorKind::kParse);
        group.inputs.push_back(n);
        break;
      case Op::CallFunction: {
        std::string why;
        if (!node_is_fusible(*n, &why))
          throw_node_error(*n, "cannot be part of a fused kernel: " + why, ErrorKind::kParse);
        const TensorMeta* m = n->tensor_meta();
        if (!shape) shape = m;
        if (m->shape != shape->shape || m->device != shape->device)
          throw_node_error(*n,
                           "has shape " + m->str() + " but the fused kernel's first member has " +
                               shape->str() + "; all members of a fused kernel share one shape",
                           ErrorKind::kParse);
        group.nodes.push_back(n);
        break;
      }
      case Op::Output: break;
      default:
        throw_node_error(*n,
                         "cannot be part of a fused kernel, whose graph holds only placeholders, "
                         "fusible call_function nodes and the output",
                         ErrorKind::kParse);
    }
  }
  const Node* out = g.output_node();
  if (group.nodes.empty() || !out || out->args().size() != 1)
    throw ParseError(
        "the fused kernel's graph has no members or no output; expected the nodes of one "
        "fusion group and an output that returns some of them");
  const Argument& result = out->args()[0];
  auto add_output = [&](const Argument& a) {
    if (a.kind() != Argument::Kind::kNode || a.to_node()->op() != Op::CallFunction)
      throw_node_error(*out,
                       "must return members of the fused kernel (a node or a tuple of two "
                       "or more nodes)",
                       ErrorKind::kParse);
    group.outputs.push_back(a.to_node());
  };
  if (result.kind() == Argument::Kind::kTuple && result.items().size() >= 2) {
    for (const Argument& item : result.items()) add_output(item);
  } else {
    add_output(result);
  }
  return group;
}

std::shared_ptr<Module> load_fused(std::unique_ptr<GraphModule> eager, const std::string& text) {
  // 1. data
  Json data;
  try {
    data = Json::parse(text);
  } catch (const Json::exception& e) {
    bad_data(std::string("not JSON (") + e.what() + ")");
  }
  if (!data.is_object()) bad_data("expected a JSON object");
  auto field = [&](const char* key) -> const Json& {
    auto it = data.find(key);
    if (it == data.end()) bad_data(std::string("missing field '") + key + "'");
    return *it;
  };
  const Json& name = field("name");
  const Json& device_text = field("device");
  const Json& members = field("members");
  if (!name.is_string()) bad_data("name: expected a string");
  if (!device_text.is_string()) bad_data("device: expected a string");
  if (!members.is_array()) bad_data("members: expected an array of node names");
  std::vector<std::string> saved_members;
  for (const Json& m : members) {
    if (!m.is_string()) bad_data("members: expected an array of node names");
    saved_members.push_back(m.get<std::string>());
  }
  c10::Device device(c10::DeviceType::CPU);
  try {
    device = c10::Device(device_text.get<std::string>());
  } catch (const c10::Error&) {
    bad_data("device: invalid device '" + device_text.get<std::string>() + "'");
  }
  // 2, 3.
  KernelSpec spec = build_kernel_spec(group_of(eager->graph()), name.get<std::string>());
  if (spec.members != saved_members)
    bad_data("members: the file lists [" + join(saved_members) +
             "] but the kernel's graph computes [" + join(spec.members) + "]");
  return std::make_shared<FusedKernel>(std::move(spec), std::move(eager), device,
                                       CpuCompilerOptions{});
}

}  // namespace

void register_serialization() {
  static std::once_flag once;
  std::call_once(once, [] { register_module_serializer(kKind, {save_fused, load_fused}); });
}

}  // namespace fx::jit
