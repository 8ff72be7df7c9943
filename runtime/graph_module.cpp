#include "runtime/graph_module.h"

#include <c10/core/InferenceMode.h>

#include <optional>
#include <set>

#include "ir/error.h"
#include "runtime/codegen.h"
#include "runtime/program.h"

namespace fx {

GraphModule::GraphModule(std::unique_ptr<Graph> graph, Attributes attributes,
                         std::string class_name)
    : graph_(std::move(graph)),
      class_name_(std::move(class_name)),
      codegen_(std::make_shared<CodeGen>()) {
  if (!graph_) throw Error(ErrorKind::kGraph, "GraphModule needs a graph, got null");
  // Keep only what the graph refers to, and say what is missing up front.
  for (const Node* n : graph_->nodes()) {
    if (n->op() == Op::GetAttr) {
      auto it = attributes.values.find(n->target());
      if (it == attributes.values.end())
        throw_node_error(*n, "Node " + n->name() + " referenced target " + n->target() +
                                 " but that target was not provided in the attributes");
      attributes_.values.insert(*it);
    } else if (n->op() == Op::CallModule) {
      auto it = attributes.modules.find(n->target());
      if (it == attributes.modules.end())
        throw_node_error(*n, "Node " + n->name() + " referenced target " + n->target() +
                                 " but that target was not provided in the submodules");
      attributes_.modules.insert(*it);
    }
  }
  recompile();
}

GraphModule::~GraphModule() = default;

void GraphModule::recompile() {
  graph_->release_erased();
  auto program = Program::build(*graph_, attributes_, codegen_);
  // The source is for reading and for ahead-of-time builds; a construct it
  // cannot spell must not stop the module from running.
  try {
    code_ = codegen_->generate(*graph_, class_name_);
  } catch (const std::exception& e) {
    code_ = "// fx could not generate C++ for " + class_name_ + ": " + e.what() + "\n";
  }
  program_ = std::move(program);
}

const std::string& GraphModule::code() const { return code_; }

std::string GraphModule::print_readable() const {
  return "// class " + class_name_ + " (fx::GraphModule)\n" + code_;
}

c10::IValue GraphModule::forward(std::vector<c10::IValue> inputs, const IValueKwargs& kwargs) {
  // Copy the shared pointer: the Program stays alive for this call.
  std::shared_ptr<const Program> program = program_;
  // Only entered when on: InferenceMode(false) would switch a caller's
  // inference mode off (and grad mode on) for the call.
  std::optional<c10::InferenceMode> guard;
  if (inference_mode_) guard.emplace();
  return program->run(std::move(inputs), kwargs);
}

void GraphModule::set_codegen(std::shared_ptr<CodeGen> codegen) {
  if (!codegen) throw Error(ErrorKind::kGraph, "set_codegen needs a CodeGen, got null");
  codegen_ = std::move(codegen);
}

const c10::IValue* GraphModule::get_attr(const std::string& name) const {
  auto it = attributes_.values.find(name);
  return it == attributes_.values.end() ? nullptr : &it->second;
}

void GraphModule::set_attr(const std::string& name, c10::IValue value) {
  attributes_.values[name] = std::move(value);
}

std::shared_ptr<Module> GraphModule::get_submodule(const std::string& name) const {
  auto it = attributes_.modules.find(name);
  return it == attributes_.modules.end() ? nullptr : it->second;
}

bool GraphModule::add_submodule(const std::string& name, std::shared_ptr<Module> m) {
  if (!m || attributes_.values.count(name)) return false;
  attributes_.modules[name] = std::move(m);
  return true;
}

bool GraphModule::delete_submodule(const std::string& name) {
  return attributes_.modules.erase(name) != 0;
}

}  // namespace fx
