#include "serving/triton/model_loader.h"

#include <sys/stat.h>

#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "capture/export_import.h"
#include "capture/torchscript_import.h"
#include "ir/dtype_names.h"
#include "ir/error.h"
#include "jit/cuda_graph.h"
#include "jit/fuse.h"
#include "jit/fused_serialize.h"
#include "jit/optimize.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"
#include "serialize/serialize.h"

namespace fx::triton {
namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Every tensor attribute of gm and of its GraphModule submodules on device.
void move_module(GraphModule& gm, const c10::Device& device) {
  for (const auto& [name, value] : gm.attributes().values)
    if (value.isTensor()) gm.set_attr(name, value.toTensor().to(device));
  for (const auto& [name, module] : gm.attributes().modules)
    if (auto* child = dynamic_cast<GraphModule*>(module.get())) move_module(*child, device);
  gm.recompile();
}

std::unique_ptr<GraphModule> read(const std::string& file) {
  if (ends_with(file, ".fxgm")) {
    jit::register_serialization();  // files saved after fusion hold fused kernels
    return load(file);
  }
  if (ends_with(file, ".pt2") || is_exported_archive(file)) return load_exported(file);
  return load_torchscript(file);
}

void collect(const c10::IValue& v, std::vector<at::Tensor>* out) {
  if (v.isTensor()) {
    out->push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) collect(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) collect(e, out);
  } else {
    throw_error(ErrorKind::kRuntime, "a result that is not a tensor (" + v.tagKind() + ")");
  }
}

}  // namespace

std::string find_model_file(const std::string& version_dir, const ModelConfig& config) {
  if (!config.default_model_filename.empty()) {
    std::string path = version_dir + "/" + config.default_model_filename;
    if (!is_file(path))
      throw_error(ErrorKind::kRuntime, "model '" + config.name + "': default_model_filename '" +
                                           config.default_model_filename + "' is not a file in " +
                                           version_dir);
    return path;
  }
  for (const char* name : {"model.fxgm", "model.pt2", "model.pt"}) {
    std::string path = version_dir + "/" + name;
    if (is_file(path)) return path;
  }
  throw_error(ErrorKind::kRuntime, "model '" + config.name + "': " + version_dir +
                                       " holds none of model.fxgm, model.pt2, model.pt");
}

std::vector<c10::IValue> example_inputs(const ModelConfig& config, const c10::Device& device) {
  std::vector<c10::IValue> out;
  for (const TensorSpec& spec : config.inputs) {
    std::vector<int64_t> shape;
    if (config.max_batch_size > 0) shape.push_back(1);
    for (int64_t d : spec.dims) shape.push_back(d == -1 ? 1 : d);
    auto options = at::TensorOptions().dtype(spec.dtype).device(device);
    out.emplace_back(at::isFloatingType(spec.dtype) ? at::randn(shape, options)
                                                    : at::zeros(shape, options));
  }
  return out;
}

std::vector<at::Tensor> outputs_of(const c10::IValue& result, const ModelConfig& config) {
  std::vector<at::Tensor> tensors;
  try {
    if (result.isGenericDict()) {
      auto dict = result.toGenericDict();
      for (const TensorSpec& spec : config.outputs) {
        auto it = dict.find(c10::IValue(spec.name));
        if (it == dict.end())
          throw_error(ErrorKind::kRuntime, "the result dict has no key '" + spec.name + "'");
        if (!it->value().isTensor())
          throw_error(ErrorKind::kRuntime, "result '" + spec.name + "' is not a tensor");
        tensors.push_back(it->value().toTensor());
      }
      return tensors;
    }
    collect(result, &tensors);
  } catch (const Error& e) {
    throw_error(ErrorKind::kRuntime, "model '" + config.name + "': " + e.what());
  }
  if (tensors.size() != config.outputs.size())
    throw_error(ErrorKind::kRuntime,
                "model '" + config.name + "' returned " + std::to_string(tensors.size()) +
                    " tensor" + (tensors.size() == 1 ? "" : "s") + " but config.pbtxt declares " +
                    std::to_string(config.outputs.size()) + " output" +
                    (config.outputs.size() == 1 ? "" : "s"));
  return tensors;
}

ServedModule load_for_serving(const std::string& file, const ModelConfig& config,
                              const c10::Device& device) {
  std::ostringstream summary;
  summary << file << " on " << device;
  std::shared_ptr<Module> module;
  try {
    std::unique_ptr<GraphModule> gm = read(file);
    if (!device.is_cpu()) move_module(*gm, device);
    std::vector<c10::IValue> examples = example_inputs(config, device);
    if (config.optimize) {
      jit::OptimizeOptions options;
      options.fuse = config.fuse;
      gm = jit::optimize_for_inference(*gm, examples, options);
      summary << ", optimized" << (config.fuse ? " and fused" : "");
    } else if (config.fuse) {
      shape_prop(*gm, examples);
      gm = jit::fuse(*gm);
      summary << ", fused";
    }
    gm->set_inference_mode(true);
    module = std::move(gm);
    if (config.cuda_graphs && device.is_cuda()) {
      std::string why;
      if (!jit::CudaGraphModule::available(&why))
        throw_error(ErrorKind::kRuntime, "cuda_graphs: CUDA graphs are not available: " + why);
      module = std::make_shared<jit::CudaGraphModule>(module);
      summary << ", CUDA graphs";
    }
    // The warm-up forward: kernels compiled, the outputs checked against the config.
    c10::InferenceMode guard;
    std::vector<at::Tensor> outs = outputs_of(module->forward(examples, {}), config);
    for (size_t i = 0; i < outs.size(); ++i)
      if (outs[i].scalar_type() != config.outputs[i].dtype)
        throw_error(ErrorKind::kRuntime, "output '" + config.outputs[i].name + "' is " +
                                             dtype_name(outs[i].scalar_type()) +
                                             " but config.pbtxt declares TYPE_" +
                                             config.outputs[i].data_type);
  } catch (const std::exception& e) {
    throw_error(ErrorKind::kRuntime,
                "model '" + config.name + "' (" + file + "): " + std::string(e.what()));
  }
  return {module, summary.str()};
}

}  // namespace fx::triton
