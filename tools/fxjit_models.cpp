#include "tools/fxjit_models.h"

#include <fstream>

#include <torch/torch.h>

#include "ir/error.h"
#include "serialize/serialize.h"
#include "capture/export_import.h"
#include "capture/tracer.h"

#if __has_include("capture/torchscript_import.h") && defined(FX_HAVE_TORCHSCRIPT_IMPORT)
#include <torch/script.h>

#include "capture/torchscript_import.h"
#endif

namespace fx::tool {

namespace {

// torch.fx's documentation example.
struct FxExampleImpl : torch::nn::Module {
  FxExampleImpl()
      : param(register_parameter("param", torch::rand({3, 4}))),
        linear(register_module("linear", torch::nn::Linear(4, 5))) {}
  torch::Tensor forward(const torch::Tensor& x) { return linear(x + param).clamp(0.0, 1.0); }
  torch::Tensor param;
  torch::nn::Linear linear;
};

// An elementwise-heavy transformer MLP block: LayerNorm, Linear, GELU written out
// as its tanh formula (as many models do), Linear, scaled residual.
struct MlpBlockImpl : torch::nn::Module {
  explicit MlpBlockImpl(int64_t dim = 256, int64_t hidden = 1024)
      : norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})))),
        fc1(register_module("fc1", torch::nn::Linear(dim, hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, dim))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = fc1(norm(x));
    h = 0.5 * h * (1 + torch::tanh(0.7978845608 * (h + 0.044715 * h.pow(3))));
    return x + fc2(h) * 0.5;
  }
  torch::nn::LayerNorm norm;
  torch::nn::Linear fc1, fc2;
};

template <typename M>
LoadedModel traced(std::shared_ptr<M> module, std::vector<c10::IValue> inputs,
                   const std::string& description) {
  module->eval();
  auto fn = [module](std::vector<c10::IValue> in) {
    torch::NoGradGuard no_grad;
    return c10::IValue(module->forward(in.at(0).toTensor()));
  };
  LoadedModel m;
  m.gm = symbolic_trace(*module, fn, inputs);
  m.description = description;
  m.eager = fn;
  m.default_inputs = std::move(inputs);
  return m;
}

std::string read_prefix(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot open '" + path + "'");
  std::string prefix(n, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(n));
  prefix.resize(static_cast<size_t>(in.gcount()));
  return prefix;
}

}  // namespace

std::vector<std::string> builtin_models() { return {"fx-example", "mlp"}; }

LoadedModel load_model(const std::string& spec, const std::vector<c10::IValue>& example_inputs) {
  if (spec == "fx-example")
    return traced(std::make_shared<FxExampleImpl>(), {torch::randn({3, 4})},
                  "built-in: torch.fx's documentation example (Parameter, Linear, clamp)");
  if (spec == "mlp")
    return traced(
        std::make_shared<MlpBlockImpl>(), {torch::randn({64, 256})},
        "built-in: MLP block (LayerNorm, Linear 256->1024, tanh-form GELU, Linear, residual)");
  std::string prefix = read_prefix(spec, 4);
  if (prefix == "FXGM") {
    LoadedModel m;
    m.gm = load(spec);
    m.description = "saved GraphModule " + spec;
    return m;
  }
  if (prefix.rfind("PK", 0) == 0 && is_exported_archive(spec)) {
    LoadedModel m;
    m.gm = load_exported(spec);
    m.description = "torch.export archive " + spec;
    try {
      m.default_inputs = exported_sample_inputs(spec);
    } catch (const Error&) {
      // Inputs are optional: without them the user passes --input.
    }
    return m;
  }
  if (prefix.rfind("PK", 0) == 0) {
#if __has_include("capture/torchscript_import.h") && defined(FX_HAVE_TORCHSCRIPT_IMPORT)
    LoadedModel m;
    ImportOptions options;
    options.example_inputs = example_inputs;
    m.gm = load_torchscript(spec, options);
    auto module = std::make_shared<torch::jit::Module>(torch::jit::load(spec));
    module->eval();
    m.eager = [module](std::vector<c10::IValue> in) { return module->forward(std::move(in)); };
    m.description = "TorchScript " + spec;
    return m;
#else
    throw RuntimeError("'" + spec +
                       "' is a TorchScript file, but this build has no TorchScript import");
#endif
  }
  std::string names;
  for (const auto& n : builtin_models()) names += (names.empty() ? "" : ", ") + n;
  throw RuntimeError("'" + spec + "' is neither a built-in model (" + names +
                     "), an fx::save file, a torch.export archive nor a TorchScript file");
}

std::vector<c10::IValue> load_inputs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot open '" + path + "'");
  std::vector<char> data((std::istreambuf_iterator<char>(in)), {});
  c10::IValue v;
  try {
    v = torch::pickle_load(data);
  } catch (const c10::Error& e) {
    throw RuntimeError("'" + path +
                       "' is not a file written by torch.save: " + e.what_without_backtrace());
  }
  if (v.isTensor()) return {v};
  if (v.isTuple()) return v.toTupleRef().elements().vec();
  if (v.isList()) return v.toListRef().vec();
  throw RuntimeError("'" + path + "' holds a " + std::string(v.tagKind()) +
                     "; expected a tensor or a list of tensors");
}

}  // namespace fx::tool
