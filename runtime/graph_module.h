// GraphModule: a Graph plus everything its get_attr and call_module nodes
// refer to, plus what is generated from the graph by recompile(): readable
// C++ source (code()) and the Program that forward() runs. The analog of
// torch.fx's GraphModule, and like it a module: it derives from
// torch::nn::Module, so LibTorch code that takes a module takes it.
//
// Note [The module tree]: tensors live in a torch::nn::Module tree rooted at
// the GraphModule, as torch.fx keeps them in the nn.Module hierarchy.
// `linear.weight` is the parameter `weight` of the child module `linear`.
// Parameters and buffers stay apart (named_parameters(), named_buffers());
// other values (ints, lists, ...) are constants kept beside the tree and
// reached by get_attr under the same qualified names. The children are:
//   - intermediate modules (plain torch::nn::Module named "Module"), created
//     for the prefixes of qualified names, as torch.fx creates nn.Module();
//   - nested GraphModules;
//   - the torch::nn module inside an fx::TorchModule (runtime/torch_modules.h),
//     so its own weights are reachable (`get_parameter("linear.weight")`) and
//     to(), eval() and state dicts reach it;
//   - for any other fx::Module (fused kernels, TorchScript modules, callables
//     from make_module), an empty torch::nn::Module named after its kind().
// call_module nodes call the fx::Module installed at their target.
//
// Parameter or buffer: a tensor given through Attributes (or set_attr) is a
// parameter when it requires grad, else a buffer (torch.fx makes a tensor
// that is not an nn.Parameter a buffer). A GraphModule built from a root
// module keeps the root's choice.
//
// Thread safety: forward() may be called from many threads at once.
// Mutating the graph, the attributes or the module tree, or calling
// recompile(), while other threads run forward() is not allowed.
//
// Editing the graph in place does not update code() or forward(): call
// recompile() afterwards, as in torch.fx. Setting attributes and adding or
// deleting submodules take effect at once for the compiled forward, as
// attribute look-ups do in torch.fx: get_attr reads an AttributeSlot
// (runtime/attribute_slot.h) that set_attr writes, also when the attribute
// lives in a nested GraphModule and is set there. An attribute the compiled
// forward reads that is then removed (its module deleted) is an fx::Error
// (kRuntime) naming the node and the attribute when forward runs, never the
// old value.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <torch/nn/module.h>

#include "ir/graph.h"
#include "ir/owning_module.h"
#include "runtime/buffer_plans.h"
#include "runtime/module.h"

namespace fx {

class CodeGen;
class Program;
struct AttributeSlot;

// What get_attr and call_module nodes resolve against: qualified name ->
// tensor (parameter, buffer or constant; any IValue is allowed) or submodule.
struct Attributes {
  std::map<std::string, c10::IValue> values;
  std::map<std::string, std::shared_ptr<Module>> modules;
};

class GraphModule : public fx::Module, public torch::nn::Module, public OwningModule {
 public:
  // Takes the graph and the attributes its nodes refer to, by qualified name
  // (torch.fx's GraphModule(dict, graph)). Only referenced attributes are
  // kept; a `.` in a name creates the intermediate modules. A get_attr target
  // that is missing from attributes.values may lie inside a module of
  // attributes.modules (`linear.weight` in a wrapped torch::nn::Linear); that
  // module is then installed. A target found nowhere is an fx::Error naming
  // the node.
  GraphModule(std::unique_ptr<Graph> graph, Attributes attributes,
              std::string class_name = "GraphModule");
  // torch.fx's GraphModule(root, graph): copies from root only what the graph
  // uses, with the hierarchy between (torch.fx's _copy_attr): for
  // `foo.bar.w`, intermediate modules `foo` and `foo.bar` and the tensor w,
  // shared with root, as a parameter or buffer as it is in root. A used
  // submodule of root is shared whole when it is a GraphModule. Targets root
  // does not have are looked up in extra (traced constants, leaf modules).
  GraphModule(const torch::nn::Module& root, std::unique_ptr<Graph> graph,
              std::string class_name = "GraphModule", Attributes extra = {});
  ~GraphModule() override;
  GraphModule(const GraphModule&) = delete;
  GraphModule& operator=(const GraphModule&) = delete;

  Graph& graph() { return *graph_; }
  const Graph& graph() const { return *graph_; }
  // Replaces the graph (torch.fx's `gm.graph = g`), takes ownership of it as
  // its owning module, and recompiles.
  void set_graph(std::unique_ptr<Graph> graph);
  const std::string& class_name() const { return class_name_; }

  // Regenerates code() and the Program from the graph. Throws fx::Error when
  // the graph does not lint or names an unknown operator or attribute.
  void recompile();
  // The C++ source of forward, as last generated.
  const std::string& code() const;
  // code() with a header comment naming the class, like FX's print_readable.
  std::string print_readable() const;

  // Runs the Program. Inputs fill the placeholders in order; missing ones
  // take their defaults. A module the compiled code calls that was deleted
  // since is an fx::Error (kRuntime) naming the node and the module.
  c10::IValue forward(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs = {}) override;
  template <typename... Ts>
  c10::IValue operator()(Ts&&... inputs) {
    return forward(std::vector<c10::IValue>{c10::IValue(std::forward<Ts>(inputs))...});
  }
  std::string kind() const override { return class_name_; }

  // The code generator: signature, how inputs are unpacked and outputs
  // packed. Takes effect at the next recompile().
  void set_codegen(std::shared_ptr<CodeGen> codegen);
  const CodeGen& codegen() const { return *codegen_; }

  // --- attributes, by qualified name ----------------------------------------
  // A parameter, buffer or constant, anywhere in the tree (also inside
  // wrapped torch::nn modules and nested GraphModules), or nullptr. The
  // pointer stays valid while the module lives; it sees later set_attr calls
  // for the same name only when get_attr is called again.
  const c10::IValue* get_attr(const std::string& name) const;
  // Sets an attribute, creating intermediate modules. A tensor replaces a
  // parameter or buffer of that name and keeps its kind (inside a torch::nn
  // module that is not fx's own, the existing tensor's data is replaced, since
  // such modules hold their tensors in fields); a new tensor is a parameter if
  // it requires grad, else a buffer. Any other value is a constant. Takes
  // effect for forward() at once (no recompile() needed).
  void set_attr(const std::string& name, c10::IValue value);
  // torch.fx's get_parameter / get_buffer: the tensor, or an fx::Error
  // (kGraph) saying which part of the name is missing or what it is instead.
  at::Tensor get_parameter(const std::string& name) const;
  at::Tensor get_buffer(const std::string& name) const;
  // Parameters and buffers by qualified name (torch.fx's state_dict);
  // load_state_dict copies values into them in place (strict: every key must
  // match both ways, and shapes must agree).
  std::map<std::string, at::Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, at::Tensor>& state, bool strict = true);

  // --- submodules --------------------------------------------------------
  // The callable module at name (what a call_module node with that target
  // calls), or nullptr when there is none (also for intermediate modules).
  std::shared_ptr<fx::Module> get_submodule(const std::string& name) const;
  // torch.fx's get_submodule: the torch::nn::Module at name in the tree ("" is
  // this module), intermediates included; a missing one is an fx::Error
  // (kGraph) naming the part of the path that is missing.
  std::shared_ptr<torch::nn::Module> get_module(const std::string& name) const;
  // torch.fx's add_submodule: installs m at name, creating intermediate
  // modules; replaces a module already there. Returns false (and changes
  // nothing) when a part of the path, or name itself, is a parameter, buffer
  // or constant, or m is null.
  bool add_submodule(const std::string& name, std::shared_ptr<fx::Module> m);
  // torch.fx's delete_submodule: removes the module at name (and what is
  // under it). Returns false when there is no module there. The compiled
  // forward then fails, naming the node, until recompile() of a graph that
  // no longer uses it, or until a module is added there again.
  bool delete_submodule(const std::string& name);
  // torch.fx's delete_all_unused_submodules: deletes every module that no
  // get_attr or call_module target goes through, nor lies inside a called one.
  void delete_all_unused_submodules();
  // A flat view: parameters, buffers and constants (values) and callable modules (modules) by
  // name, not inside nested GraphModules or wrapped torch::nn modules (rebuilt with their
  // contents). Enough to build an equivalent GraphModule over the same graph.
  Attributes attributes() const;

  // --- torch::nn::Module ----------------------------------------------------
  // torch.fx's copy.deepcopy(gm): new tensors (ties between them kept), a new
  // graph with the same names, the same code. Wrapped torch::nn modules are
  // cloned (an fx::Error naming the module when it is not Cloneable); other
  // modules fx cannot look into (fused kernels, TorchScript modules) are shared.
  std::unique_ptr<GraphModule> deepcopy() const;
  // LibTorch's clone: deepcopy(), moved to device when given.
  std::shared_ptr<torch::nn::Module> clone(
      const std::optional<torch::Device>& device = std::nullopt) const override;
  // LibTorch's to(), then the compiled program is rebound to the moved tensors.
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;
  // LibTorch's named_modules and modules, which also work when this module
  // is not held by a std::shared_ptr (the entry for itself then does not own it).
  torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>> named_modules(
      const std::string& name_prefix = std::string(), bool include_self = true) const;
  std::vector<std::shared_ptr<torch::nn::Module>> modules(bool include_self = true) const;

  // --- OwningModule (ir/owning_module.h): what the graph asks its owner ----
  std::string check_get_attr(const std::string& target) const override;
  std::string check_call_module(const std::string& target) const override;
  bool is_impure_module(const std::string& target) const override;

  // When on, forward() runs under c10::InferenceMode (no autograd records, no
  // version counters); its outputs are then inference tensors. Off by default;
  // fx::jit::optimize_for_inference turns it on.
  void set_inference_mode(bool on) { inference_mode_ = on; }
  bool inference_mode() const { return inference_mode_; }

  // Whether forward() keeps the CPU buffers of its intermediates (and
  // outputs) between calls and reuses them on the next call with the same
  // input signature, so that a model run repeatedly stops allocating after
  // its first call (runtime/buffer_pool.h says how, and what it costs in
  // memory). By default it does when the call runs under c10::InferenceMode
  // (the module's own, set_inference_mode, or the caller's), where no
  // autograd graph holds on to intermediates; kAlways and kNever override.
  // release_buffers() gives the kept buffers back (blocks in use when their
  // tensors die) and forgets the plans.
  enum class BufferReuse { kInInferenceMode, kAlways, kNever };
  // kNever also gives the kept buffers back.
  void set_buffer_reuse(BufferReuse mode);
  BufferReuse buffer_reuse() const { return buffer_reuse_.load(); }
  void release_buffers();
  // Blocks made and reused so far, summed over the kept signatures.
  BufferPool::Stats buffer_stats() const;

 private:
  struct Callable {
    std::shared_ptr<torch::nn::Module> node;  // keeps the tree node alive
    std::shared_ptr<fx::Module> module;
  };
  GraphModule(std::string class_name);  // for deepcopy
  void adopt_graph(std::unique_ptr<Graph> graph);
  // The tree node for a callable module, registering it as callable.
  std::shared_ptr<torch::nn::Module> node_for(const std::shared_ptr<fx::Module>& m);
  std::shared_ptr<fx::Module> callable_of(const std::shared_ptr<torch::nn::Module>& node) const;
  // The module that holds the last part of name, creating intermediates;
  // *field gets the last part. When the path enters a nested GraphModule,
  // returns nullptr with *nested and *rest set instead.
  torch::nn::Module* parent_of(const std::string& name, std::string* field, GraphModule** nested,
                               std::string* rest);
  void install(const std::string& name, const c10::IValue& value);
  std::optional<c10::IValue> lookup(const std::string& name) const;
  // Why the path to name stops, or "" when it reaches something.
  std::string why_missing(const std::string& name) const;
  std::shared_ptr<torch::nn::Module> self_ptr() const;
  void forget_unreachable_callables();
  // Whether the compiled graph has a get_attr or call_module target at or
  // under name.
  bool compiled_uses(const std::string& name) const;
  // Builds the Program from the compiled graph against the current tree.
  void rebind();
  // The slot holding attribute name's value, refreshed from the tree, shared
  // with compiled Programs; made by the GraphModule that holds the attribute
  // (a nested one, for a name inside it). nullptr when there is no such value.
  std::shared_ptr<AttributeSlot> attribute_slot(const std::string& name) const;
  // Refreshes the slots of this module at or under name from the tree (an
  // attribute that is gone empties its slot).
  void refresh_slots(const std::string& name);
  // Program::build against the current tree, get_attr reading slots.
  std::shared_ptr<const Program> build_program(const Graph& graph,
                                               std::shared_ptr<const CodeGen> codegen) const;
  Attributes resolve(const Graph& graph) const;

  std::unique_ptr<Graph> graph_;
  std::string class_name_;
  std::map<std::string, c10::IValue> constants_;
  std::map<const torch::nn::Module*, Callable> callables_;
  std::shared_ptr<CodeGen> codegen_;
  std::string code_;
  std::unique_ptr<Graph> compiled_graph_;
  std::shared_ptr<CodeGen> compiled_codegen_;
  std::shared_ptr<const Program> program_;
  std::string unbound_;  // why the compiled code cannot run now, if it cannot
  bool inference_mode_ = false;
  std::atomic<BufferReuse> buffer_reuse_{BufferReuse::kInInferenceMode};
  const std::shared_ptr<BufferPlans> buffer_plans_ = std::make_shared<BufferPlans>();
  // Attribute slots by qualified name, for the attributes this module holds
  // that a compiled Program reads (see attribute_slot).
  mutable std::map<std::string, std::shared_ptr<AttributeSlot>> slots_;
  mutable std::mutex attr_mutex_;
  mutable std::map<std::string, c10::IValue> attr_cache_;
};

}  // namespace fx
