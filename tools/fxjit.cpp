// fxjit: the fx command-line tool. Subcommands look at, run, time and convert
// a MODEL: a built-in example (fx-example, mlp), a file written by fx::save
// (fused models included), or a TorchScript file. `demo` is the README's
// first command: torch.fx's documentation example built by hand, edited,
// printed, run and checked against eager LibTorch. Errors are one line on
// stderr and a non-zero exit: 2 for bad usage, 1 for everything else.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "ir/dtype_names.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/fused_serialize.h"
#include "jit/optimize.h"
#include "runtime/graph_module.h"
#include "runtime/interpreter.h"
#include "serialize/serialize.h"
#include "runtime/shape_prop.h"
#include "tools/fxjit_models.h"

namespace {

const char* kUsage = R"(usage: fxjit <command> [options]

commands:
  demo                      torch.fx's documentation example, built, edited, run and printed
  graph MODEL [--input ...]  print the graph in torch.fx's format
  code MODEL [--input ...]  print the generated C++ source of forward
  dot MODEL [--png FILE]    print Graphviz source (or render it to FILE with `dot`)
  run MODEL [--input SHAPE[:DTYPE]]... [--seed N] [--device D] [--compare-eager]
                            run on random inputs; print output shapes and a checksum
run and bench work in inference mode; --grad runs them with autograd on.
  fuse MODEL [--input ...] [--device D] [--show-kernels] [-o FILE]
                            fuse elementwise groups into compiled kernels; say what was
                            fused, and why other elementwise nodes were not; -o saves
                            the fused model
  optimize MODEL [--input ...] [--no-onednn] [--no-mkl] [--no-fuse] [-o FILE]
                            the whole-model inference pipeline (inline, fold batch
                            norms and constants, oneDNN epilogues, fusion); say what
                            each pass did; -o saves the result
  bench MODEL [--input ...] [--device D] [--iters N] [--optimize] [--json FILE]
                            time eager, the Interpreter, the compiled Program, the
                            fused and (--optimize) the optimized module
  save MODEL -o FILE        write the model as an fx GraphModule file
  parse FILE                read a graph in the printed form, lint it, print it back

--device cpu|cuda[:N] runs run, fuse and bench on that device; --inputs-from FILE
takes the inputs from a torch.save file (a tensor or a list of tensors) instead.
MODEL is a built-in example (fx-example, mlp), a file written by fx::save,
`fxjit save` or `fxjit fuse -o` (fused kernels included), a torch.export archive
or a TorchScript file. A scripted model that branches on its inputs' shapes is
imported for the inputs given (--input or --inputs-from, also accepted by graph,
code, dot and save), with run-time checks that later inputs agree.
SHAPE is like 3x4 or 2,3,224,224; DTYPE is a torch dtype name (float32, float16,
bfloat16, int64, ...). `fxjit <command> --help` describes one command.
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Command-line options after the subcommand: positional words and --flags.
struct Options {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> values;
  bool has(const std::string& key) const { return values.count(key) != 0; }
  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  std::vector<std::string> all(const std::string& key) const {
    std::vector<std::string> out;
    auto range = values.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
  }
};

Options parse_options(int argc, char** argv, int first, const std::vector<std::string>& with_value,
                      const std::vector<std::string>& flags) {
  Options o;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-", 0) == 0 && a != "-") {
      if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
        o.values.emplace(a, "");
      } else if (std::find(with_value.begin(), with_value.end(), a) != with_value.end()) {
        if (i + 1 >= argc) throw UsageError(a + " needs a value");
        o.values.emplace(a, argv[++i]);
      } else {
        throw UsageError("unknown option " + a);
      }
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

std::string model_arg(const Options& o) {
  if (o.positional.size() != 1) throw UsageError("expected exactly one MODEL");
  return o.positional[0];
}

at::Tensor random_input(const std::string& spec) {
  std::string shape = spec, dtype = "float32";
  size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    shape = spec.substr(0, colon);
    dtype = spec.substr(colon + 1);
  }
  std::vector<int64_t> sizes;
  std::string dim;
  for (char c : shape + "x") {
    if (c == 'x' || c == ',') {
      if (dim.empty()) throw UsageError("bad shape '" + shape + "': expected sizes like 3x4");
      try {
        sizes.push_back(std::stoll(dim));
      } catch (const std::exception&) {
        throw UsageError("bad size '" + dim + "' in shape '" + shape + "'");
      }
      if (sizes.back() < 0) throw UsageError("negative size in shape '" + shape + "'");
      dim.clear();
    } else {
      dim += c;
    }
  }
  auto st = fx::dtype_from_name(dtype);
  if (!st) throw UsageError("unknown dtype '" + dtype + "'");
  if (at::isFloatingType(*st)) return at::randn(sizes, at::TensorOptions().dtype(*st));
  if (*st == at::kBool) return at::randint(0, 2, sizes).to(at::kBool);
  return at::randint(-100, 100, sizes, at::TensorOptions().dtype(*st));
}

// The inputs --input or --inputs-from give (none without them).
std::vector<c10::IValue> given_inputs(const Options& o) {
  if (o.has("--seed")) at::manual_seed(std::stoll(o.get("--seed")));
  std::vector<c10::IValue> inputs;
  for (const std::string& spec : o.all("--input")) inputs.push_back(random_input(spec));
  if (o.has("--inputs-from")) {
    if (!inputs.empty()) throw UsageError("give either --input or --inputs-from, not both");
    inputs = fx::tool::load_inputs(o.get("--inputs-from"));
  }
  return inputs;
}

// MODEL, loaded for the given inputs (a TorchScript model follows their
// shapes where it branches on them), and the inputs to run it on: the given
// ones, else the model's defaults.
fx::tool::LoadedModel load_for_inputs(const Options& o, std::vector<c10::IValue>* run_inputs) {
  std::vector<c10::IValue> inputs = given_inputs(o);
  fx::tool::LoadedModel m = fx::tool::load_model(model_arg(o), inputs);
  if (!run_inputs) return m;
  if (inputs.empty()) {
    for (const auto& v : m.default_inputs) {
      if (!v.isTensor()) {
        inputs.push_back(v);
        continue;
      }
      const at::Tensor& t = v.toTensor();
      inputs.push_back(at::isFloatingType(t.scalar_type()) ? at::randn(t.sizes(), t.options())
                                                           : t.clone());
    }
  }
  if (inputs.empty()) throw UsageError("this model needs --input SHAPE[:DTYPE] for each input");
  *run_inputs = std::move(inputs);
  return m;
}

// Moves every tensor attribute of gm and of its GraphModule submodules.
void move_module(fx::GraphModule& gm, const c10::Device& device) {
  for (const auto& [name, value] : gm.attributes().values)
    if (value.isTensor()) gm.set_attr(name, value.toTensor().to(device));
  for (const auto& [name, module] : gm.attributes().modules)
    if (auto* child = dynamic_cast<fx::GraphModule*>(module.get())) move_module(*child, device);
  gm.recompile();
}

// --device, checked before any model is loaded: a device this machine has.
std::optional<c10::Device> requested_device(const Options& o) {
  if (!o.has("--device")) return std::nullopt;
  const std::string text = o.get("--device");
  c10::Device device(c10::DeviceType::CPU);
  try {
    device = c10::Device(text);
  } catch (const std::exception&) {
    throw UsageError("unknown device '" + text + "' (cpu, cuda, cuda:1, ...)");
  }
  if (!device.is_cpu() && !device.is_cuda())
    throw UsageError("unsupported device '" + text + "': fxjit runs on cpu and cuda");
  if (device.is_cuda()) {
    if (!at::hasCUDA())
      throw fx::Error(fx::ErrorKind::kRuntime,
                      "--device " + text + ": no CUDA device is usable on this machine");
    int count = torch::cuda::device_count();
    if (device.has_index() && device.index() >= count)
      throw fx::Error(fx::ErrorKind::kRuntime, "--device " + text + ": this machine has " +
                                                   std::to_string(count) + " CUDA device" +
                                                   (count == 1 ? "" : "s"));
  }
  return device;
}

// The model and its inputs on --device. The built-ins' eager modules stay on
// the CPU, so there is no eager reference elsewhere.
void apply_device(const std::optional<c10::Device>& device, fx::tool::LoadedModel& m,
                  std::vector<c10::IValue>& inputs) {
  if (!device || device->is_cpu()) return;
  move_module(*m.gm, *device);
  for (auto& v : inputs)
    if (v.isTensor()) v = v.toTensor().to(*device);
  m.eager = nullptr;
}

void collect_tensors(const c10::IValue& v, std::vector<at::Tensor>* out) {
  if (v.isTensor()) {
    out->push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) collect_tensors(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) collect_tensors(e, out);
  }
}

std::string shape_of(const at::Tensor& t) {
  std::ostringstream os;
  os << fx::dtype_name(t.scalar_type()) << t.sizes();
  return os.str();
}

double max_abs_diff(const c10::IValue& a, const c10::IValue& b) {
  std::vector<at::Tensor> ta, tb;
  collect_tensors(a, &ta);
  collect_tensors(b, &tb);
  if (ta.size() != tb.size())
    throw fx::Error(fx::ErrorKind::kRuntime, "the two runs returned different numbers of tensors");
  double worst = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].sizes() != tb[i].sizes())
      throw fx::Error(fx::ErrorKind::kRuntime, "output " + std::to_string(i) + " has shape " +
                                                   shape_of(ta[i]) + " in one run and " +
                                                   shape_of(tb[i]) + " in the other");
    if (ta[i].numel() == 0) continue;
    worst =
        std::max(worst, (ta[i].to(at::kDouble) - tb[i].to(at::kDouble)).abs().max().item<double>());
  }
  return worst;
}

// Fusion needs shapes and dtypes on every node: traced built-ins have them,
// saved and imported models get them from one shape_prop run on the inputs.
// With --device, only groups on that device are fused.
std::unique_ptr<fx::GraphModule> fused_model(fx::tool::LoadedModel& m,
                                             const std::vector<c10::IValue>& inputs,
                                             const std::optional<c10::Device>& device) {
  fx::shape_prop(*m.gm, inputs);
  fx::jit::FuseOptions options;
  if (device)
    options.backend = device->is_cuda() ? fx::jit::FuseOptions::Backend::kCuda
                                        : fx::jit::FuseOptions::Backend::kCpu;
  return fx::jit::fuse(*m.gm, options);
}

std::vector<const fx::jit::FusedKernel*> fused_kernels(const fx::GraphModule& gm) {
  std::vector<const fx::jit::FusedKernel*> out;
  for (const fx::Node* n : gm.graph().nodes()) {
    if (n->op() != fx::Op::CallModule) continue;
    auto m = gm.get_submodule(n->target());
    if (auto* k = dynamic_cast<const fx::jit::FusedKernel*>(m.get())) out.push_back(k);
  }
  return out;
}

// gm with each fused kernel replaced by a copy of the GraphModule of its
// original nodes: the reference a fused model (a loaded `fxjit fuse -o` file)
// is compared against. Null when gm has no fused kernels.
std::unique_ptr<fx::GraphModule> unfused_copy(const fx::GraphModule& gm) {
  fx::Attributes attrs = gm.attributes();
  bool any = false;
  for (auto& [name, module] : attrs.modules) {
    auto* k = dynamic_cast<const fx::jit::FusedKernel*>(module.get());
    if (!k) continue;
    const fx::GraphModule& eager = k->eager_module();
    module = std::make_shared<fx::GraphModule>(eager.graph().clone(), eager.attributes(),
                                               eager.class_name());
    any = true;
  }
  if (!any) return nullptr;
  return std::make_unique<fx::GraphModule>(gm.graph().clone(), std::move(attrs), gm.class_name());
}

int cmd_fuse(const Options& o) {
  std::optional<c10::Device> device = requested_device(o);
  std::vector<c10::IValue> inputs;
  fx::tool::LoadedModel m = load_for_inputs(o, &inputs);
  apply_device(device, m, inputs);
  std::unique_ptr<fx::GraphModule> fused = fused_model(m, inputs, device);
  std::cout << m.description << "\n" << fx::jit::explain_fusion(*m.gm) << "\n";
  std::cout << "# fused graph\n" << fused->graph() << "\n";
  c10::IValue out = fused->forward(inputs);  // compiles the kernels for these inputs
  std::cout << "# max |fused - unfused| = " << max_abs_diff(out, m.gm->forward(inputs)) << "\n";
  for (const fx::jit::FusedKernel* k : fused_kernels(*fused)) {
    std::string members;
    for (const auto& name : k->members()) members += (members.empty() ? "" : ", ") + name;
    if (k->spec().is_rows()) {
      members += "; reductions:";
      for (const auto& name : k->spec().reductions) members += " " + name;
    }
    std::printf("# kernel over [%s]: compile %.1f ms, cache hits %lld%s\n", members.c_str(),
                k->compile_ms(), static_cast<long long>(k->cache_hits()),
                k->fell_back() ? (", fell back to eager: " + k->fallback_reason()).c_str() : "");
    if (o.has("--show-kernels"))
      for (const auto& [key, source] : k->sources())
        std::cout << "// variant " << key << "\n" << source << "\n";
  }
  if (o.has("-o")) {
    fx::save(*fused, o.get("-o"));
    size_t n = fused_kernels(*fused).size();
    std::cout << "wrote the fused model to " << o.get("-o") << " (" << n << " fused kernel"
              << (n == 1 ? "" : "s") << ", compiled again on first use after loading)\n";
  }
  return 0;
}

int cmd_optimize(const Options& o) {
  std::optional<c10::Device> device = requested_device(o);
  std::vector<c10::IValue> inputs;
  fx::tool::LoadedModel m = load_for_inputs(o, &inputs);
  apply_device(device, m, inputs);
  fx::jit::OptimizeOptions options;
  options.onednn = !o.has("--no-onednn");
  options.mkl_linear = !o.has("--no-mkl");
  options.fuse = !o.has("--no-fuse");
  fx::PassLog log;
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<fx::GraphModule> optimized =
      fx::jit::optimize_for_inference(*m.gm, inputs, options, &log);
  c10::IValue out = optimized->forward(inputs);  // compiles the kernels for these inputs
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << m.description << "\n" << log.str() << "\n# optimized graph\n"
            << optimized->graph() << "\n";
  c10::IValue reference = m.eager ? m.eager(inputs) : m.gm->forward(inputs);
  std::printf("# %zu nodes before, %zu after; optimized and ran once in %.2f s\n",
              m.gm->graph().size(), optimized->graph().size(), seconds);
  std::cout << "# max |optimized - original| = " << max_abs_diff(out, reference) << "\n";
  if (o.has("-o")) {
    fx::save(*optimized, o.get("-o"));
    std::cout << "wrote the optimized model to " << o.get("-o") << "\n";
  }
  return 0;
}

// run and bench work in inference mode (as a deployed model runs) unless
// --grad asks for autograd; they say which.
const char* mode_name(const Options& o) {
  return o.has("--grad") ? "autograd on (--grad)" : "inference mode";
}

int cmd_run(const Options& o) {
  std::optional<c10::InferenceMode> mode;
  if (!o.has("--grad")) mode.emplace();
  std::optional<c10::Device> device = requested_device(o);
  std::vector<c10::IValue> inputs;
  fx::tool::LoadedModel m = load_for_inputs(o, &inputs);
  apply_device(device, m, inputs);
  c10::IValue out = m.gm->forward(inputs);
  std::vector<at::Tensor> tensors;
  collect_tensors(out, &tensors);
  std::cout << m.description << " (" << mode_name(o) << ")\n";
  for (size_t i = 0; i < tensors.size(); ++i)
    std::cout << "output " << i << ": " << shape_of(tensors[i]) << "  checksum "
              << (tensors[i].numel() ? tensors[i].to(at::kDouble).sum().item<double>() : 0.0)
              << "\n";
  if (o.has("--compare-eager")) {
    c10::IValue reference;
    std::string against;
    if (m.eager) {
      reference = m.eager(inputs);
      against = "the model's own eager forward";
    } else if (std::unique_ptr<fx::GraphModule> unfused = unfused_copy(*m.gm)) {
      fx::Interpreter interp(*unfused);
      reference = interp.run(inputs);
      against = "the Interpreter, each fused kernel replaced by its own nodes";
    } else {
      fx::Interpreter interp(*m.gm);
      reference = interp.run(inputs);
      against = "the Interpreter (node by node)";
    }
    std::cout << "max |fx - eager| = " << max_abs_diff(out, reference) << " (against " << against
              << ")\n";
  }
  return 0;
}

double median_ms(const std::function<void()>& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int cmd_bench(const Options& o) {
  std::optional<c10::InferenceMode> mode;
  if (!o.has("--grad")) mode.emplace();
  std::optional<c10::Device> device = requested_device(o);
  std::vector<c10::IValue> inputs;
  fx::tool::LoadedModel m = load_for_inputs(o, &inputs);
  apply_device(device, m, inputs);
  int iters = std::stoi(o.get("--iters", "30"));
  if (iters < 1) throw UsageError("--iters must be at least 1");
  std::vector<std::pair<std::string, double>> rows;
  if (m.eager) rows.emplace_back("eager", median_ms([&] { m.eager(inputs); }, iters));
  rows.emplace_back("interpreter", median_ms([&] { fx::Interpreter(*m.gm).run(inputs); }, iters));
  rows.emplace_back("program", median_ms([&] { m.gm->forward(inputs); }, iters));
  std::unique_ptr<fx::GraphModule> fused = fused_model(m, inputs, device);
  rows.emplace_back("fused", median_ms([&] { fused->forward(inputs); }, iters));
  double optimize_s = -1;
  if (o.has("--optimize")) {
    auto start = std::chrono::steady_clock::now();
    std::unique_ptr<fx::GraphModule> optimized = fx::jit::optimize_for_inference(*m.gm, inputs);
    optimized->forward(inputs);
    optimize_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rows.emplace_back("optimized", median_ms([&] { optimized->forward(inputs); }, iters));
  }
  double base = rows.front().second;
  std::cout << m.description << "\n"
            << "median of " << iters << " runs after 3 warm-ups, " << mode_name(o) << "\n";
  std::printf("%-12s %12s %10s\n", "variant", "median ms", "vs first");
  for (const auto& [name, ms] : rows)
    std::printf("%-12s %12.4f %9.2fx\n", name.c_str(), ms, base / ms);
  if (o.has("--json")) {
    nlohmann::json j;
    j["model"] = m.description;
    j["iters"] = iters;
    j["inference_mode"] = !o.has("--grad");
    if (optimize_s >= 0) j["optimize_s"] = optimize_s;
    for (const auto& [name, ms] : rows) j["median_ms"][name] = ms;
    std::ofstream out(o.get("--json"));
    if (!out) throw fx::Error(fx::ErrorKind::kRuntime, "cannot write '" + o.get("--json") + "'");
    out << j.dump(2) << "\n";
  }
  return 0;
}

int cmd_dot(const Options& o) {
  fx::tool::LoadedModel m = load_for_inputs(o, nullptr);
  std::string dot = m.gm->graph().to_dot(m.gm->class_name());
  if (!o.has("--png")) {
    std::cout << dot;
    return 0;
  }
  std::string cmd = "dot -Tpng -o '" + o.get("--png") + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "w");
  if (pipe == nullptr) throw fx::Error(fx::ErrorKind::kRuntime, "cannot run Graphviz `dot`");
  std::fwrite(dot.data(), 1, dot.size(), pipe);
  int rc = pclose(pipe);
  if (rc != 0)
    throw fx::Error(fx::ErrorKind::kRuntime,
                    "Graphviz `dot` failed (is it installed? apt-get install graphviz)");
  std::cout << "wrote " << o.get("--png") << "\n";
  return 0;
}

int cmd_parse(const Options& o) {
  if (o.positional.size() != 1) throw UsageError("expected exactly one FILE");
  const std::string& path = o.positional[0];
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(path);
    if (!in) throw fx::Error(fx::ErrorKind::kRuntime, "cannot open '" + path + "'");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto g = fx::parse_graph(text);
  g->lint();
  std::cout << *g << "\n";
  return 0;
}

int demo() {
  // The module from torch.fx's documentation:
  //   forward(x) = linear(x + param).clamp(min=0.0, max=1.0)
  // built with the Graph API, the way fx's tracer records it.
  auto graph = std::make_unique<fx::Graph>();
  fx::Graph& g = *graph;
  fx::Node* x = g.placeholder("x");
  fx::Node* param = g.get_attr("param");
  fx::Node* add = g.call_function("aten::add.Tensor", {x, param});
  fx::Node* weight = g.get_attr("linear.weight");
  fx::Node* bias = g.get_attr("linear.bias");
  fx::Node* linear = g.call_function("aten::linear", {add, weight, bias});
  fx::Node* clamp = g.call_function("aten::clamp", {linear, 0.0, 1.0});
  g.output(clamp);
  std::cout << "# torch.fx's example module, as an fx graph\n" << g << "\n\n";

  // A typical pass: swap clamp(0, 1) for a sigmoid, then clean up.
  fx::Node* sigmoid = nullptr;
  {
    auto at = g.inserting_after(clamp);
    sigmoid = g.call_function("aten::sigmoid", {linear});
  }
  clamp->replace_all_uses_with(sigmoid);
  g.eliminate_dead_code();
  g.lint();
  std::cout << "# after replacing clamp with sigmoid and eliminating dead code\n" << g << "\n\n";

  auto parsed = fx::parse_graph(g.str());
  std::cout << "# parsed back from text: " << (parsed->str() == g.str() ? "identical" : "DIFFERENT")
            << " (" << parsed->size() << " nodes)\n\n";
  std::cout << "# Graphviz source (fxjit dot MODEL | dot -Tpng -o graph.png)\n"
            << g.to_dot("MyModule") << "\n";

  // Run it: a GraphModule holds the graph and the tensors its get_attr nodes name.
  fx::Attributes attrs;
  attrs.values["param"] = at::rand({3, 4});
  attrs.values["linear.weight"] = at::randn({5, 4});
  attrs.values["linear.bias"] = at::randn({5});
  fx::GraphModule gm(std::move(graph), attrs, "MyModule");
  std::cout << "# the GraphModule's forward, as C++ source (GraphModule::code)\n"
            << gm.code().substr(gm.code().find("c10::IValue forward(")) << "\n";
  at::Tensor input = at::randn({3, 4});
  at::Tensor got = gm(input).toTensor();
  at::Tensor eager =
      at::linear(input + attrs.values["param"].toTensor(), attrs.values["linear.weight"].toTensor(),
                 attrs.values["linear.bias"].toTensor())
          .sigmoid();
  std::cout << "# forward on a random [3, 4] input: output " << got.sizes()
            << ", max |fx - eager LibTorch| = " << (got - eager).abs().max().item<double>() << "\n";
  fx::shape_prop(gm, {at::empty({3, 4}, at::TensorOptions().device(at::kMeta))});
  std::cout << "# shapes from shape_prop on a meta input:";
  for (const fx::Node* n : gm.graph().nodes())
    if (const fx::TensorMeta* m = n->tensor_meta())
      std::cout << " " << n->name() << "=" << m->str();
  std::cout << "\n\n";

  // The same module traced from C++ torch::nn code, and timed.
  fx::tool::LoadedModel mlp = fx::tool::load_model("mlp");
  std::cout << "# " << mlp.description << ", traced with fx::symbolic_trace\n"
            << mlp.gm->graph() << "\n";
  std::vector<c10::IValue> in = mlp.default_inputs;
  std::cout << "# max |fx - eager| = " << max_abs_diff(mlp.gm->forward(in), mlp.eager(in)) << "\n";
  std::unique_ptr<fx::GraphModule> fused = fx::jit::fuse(*mlp.gm);
  std::cout << "\n# the same block with its elementwise groups fused (fx::jit::fuse)\n"
            << fused->graph() << "\n"
            << "# max |fused - eager| = " << max_abs_diff(fused->forward(in), mlp.eager(in))
            << "\n";
  double eager_ms = median_ms([&] { mlp.eager(in); }, 20);
  double fx_ms = median_ms([&] { mlp.gm->forward(in); }, 20);
  double fused_ms = median_ms([&] { fused->forward(in); }, 20);
  std::printf(
      "# median of 20 runs: eager %.3f ms, fx GraphModule %.3f ms, fused %.3f ms (%.2fx eager)\n",
      eager_ms, fx_ms, fused_ms, eager_ms / fused_ms);
  return 0;
}

const std::map<std::string, std::string>& command_help() {
  static const std::map<std::string, std::string> help = {
      {"demo",
       "usage: fxjit demo\n\nbuilds torch.fx's documentation example with the Graph API, edits it, "
       "prints it as text\nand Graphviz source, runs it against eager LibTorch, prints its "
       "generated C++, then traces\nthe built-in MLP block from C++, fuses it, and times eager, "
       "GraphModule and fused\n"},
      {"graph",
       "usage: fxjit graph MODEL [--input SHAPE[:DTYPE]]... [--inputs-from FILE]\n\nprints "
       "MODEL's graph in torch.fx's format (a TorchScript model imported for the inputs given)\n"},
      {"code",
       "usage: fxjit code MODEL [--input SHAPE[:DTYPE]]... [--inputs-from FILE]\n\nprints the "
       "C++ source generated for MODEL's forward\n"},
      {"dot",
       "usage: fxjit dot MODEL [--png FILE]\n\nprints Graphviz source for MODEL's graph, or "
       "renders it to FILE with Graphviz `dot`\n"},
      {"run",
       "usage: fxjit run MODEL [--input SHAPE[:DTYPE]]... [--seed N] [--device D] "
       "[--compare-eager] [--grad]\n\nruns MODEL in inference mode (--grad: autograd on) on "
       "random inputs (the model's\ndefaults without --input) and prints each output's dtype, "
       "shape and sum; --compare-eager\nalso prints the largest difference from the model's eager "
       "forward (or from the Interpreter for saved "
       "GraphModules, with fused\nkernels replaced by their own nodes)\n"},
      {"bench",
       "usage: fxjit bench MODEL [--input SHAPE[:DTYPE]]... [--device D] [--iters N] [--optimize] "
       "[--grad] [--json FILE]\n\ntimes the "
       "model's eager forward (when it has one), fx's Interpreter, fx's compiled\nProgram, the "
       "fused module and, with --optimize, the optimized one (fxjit optimize): median of N "
       "runs\n(default 30) after 3 warm-ups, in inference mode (--grad: autograd on); --json "
       "writes the figures\n"},
      {"fuse",
       "usage: fxjit fuse MODEL [--input SHAPE[:DTYPE]]... [--device D] [--show-kernels] [-o "
       "FILE]\n\nfuses MODEL's elementwise groups into kernels compiled at run time (the host "
       "compiler on\nCPU, NVRTC with --device cuda), prints which nodes went into which kernel and "
       "why other\nelementwise nodes were left out, runs it once against the unfused module, and "
       "with\n--show-kernels prints the sources; -o FILE saves the fused model (fx::save), which "
       "fxjit\nrun, graph and bench read back\n"},
      {"optimize",
       "usage: fxjit optimize MODEL [--input SHAPE[:DTYPE]]... [--device D] [--no-onednn] "
       "[--no-mkl] [--no-fuse] [-o FILE]\n\nruns fx::jit::optimize_for_inference on MODEL with the given "
       "(or default) inputs:\ninlines submodules, removes inference no-ops, folds constants and "
       "batch norms, runs\nconvolutions and linear layers as oneDNN primitives with their "
       "activations and residual\nadds (linears with nothing to fold as MKL packed GEMMs unless --no-mkl), and fuses what is left; prints what each pass did, the "
       "resulting graph and the\nlargest difference from the original; -o FILE saves the result\n"},
      {"save",
       "usage: fxjit save MODEL -o FILE\n\nwrites MODEL as an fx GraphModule file (fx::save), "
       "loadable by fx::load and fxjit\n"},
      {"parse",
       "usage: fxjit parse FILE\n\nreads a graph in fx's printed form (FILE - is stdin), lints it "
       "and prints it back\n"},
  };
  return help;
}

int dispatch(const std::string& cmd, int argc, char** argv) {
  if (cmd == "demo") {
    parse_options(argc, argv, 2, {}, {});
    return demo();
  }
  if (cmd == "graph" || cmd == "code") {
    Options o = parse_options(argc, argv, 2, {"--input", "--inputs-from", "--seed"}, {});
    fx::tool::LoadedModel m = load_for_inputs(o, nullptr);
    if (cmd == "graph") std::cout << m.gm->graph() << "\n";
    if (cmd == "code") std::cout << m.gm->code();
    return 0;
  }
  if (cmd == "dot")
    return cmd_dot(
        parse_options(argc, argv, 2, {"--png", "--input", "--inputs-from", "--seed"}, {}));
  if (cmd == "run")
    return cmd_run(parse_options(argc, argv, 2, {"--input", "--inputs-from", "--seed", "--device"},
                                 {"--compare-eager", "--grad"}));
  if (cmd == "fuse")
    return cmd_fuse(parse_options(argc, argv, 2,
                                  {"--input", "--inputs-from", "--seed", "--device", "-o"},
                                  {"--show-kernels"}));
  if (cmd == "optimize")
    return cmd_optimize(parse_options(argc, argv, 2,
                                      {"--input", "--inputs-from", "--seed", "--device", "-o"},
                                      {"--no-onednn", "--no-mkl", "--no-fuse"}));
  if (cmd == "bench")
    return cmd_bench(
        parse_options(argc, argv, 2,
                      {"--input", "--inputs-from", "--seed", "--device", "--iters", "--json"},
                      {"--optimize", "--grad"}));
  if (cmd == "parse") return cmd_parse(parse_options(argc, argv, 2, {}, {}));
  if (cmd == "save") {
    Options o = parse_options(argc, argv, 2, {"-o", "--input", "--inputs-from", "--seed"}, {});
    if (!o.has("-o")) throw UsageError("save needs -o FILE");
    fx::tool::LoadedModel m = load_for_inputs(o, nullptr);
    fx::save(*m.gm, o.get("-o"));
    std::cout << "wrote " << o.get("-o") << " (" << m.gm->graph().size() << " nodes)\n";
    return 0;
  }
  throw UsageError("unknown command '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      auto it = command_help().find(cmd);
      if (it == command_help().end()) break;
      std::cout << it->second;
      return 0;
    }
  }
  try {
    fx::jit::register_serialization();  // so that fused models load
    return dispatch(cmd, argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "fxjit " << cmd << ": " << e.what() << " (see fxjit " << cmd << " --help)\n";
    return 2;
  } catch (const fx::Error& e) {
    std::string msg = e.what();
    std::cerr << "fxjit: " << fx::error_kind_name(e.kind()) << " error: " << msg << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "fxjit: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fxjit: " << e.what() << "\n";
    return 1;
  }
}
