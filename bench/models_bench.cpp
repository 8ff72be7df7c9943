// fx_models_bench: fx on whole models, the C++ half of bench/models/run.sh.
// For each model and batch it loads the traced TorchScript file and the input
// that bench/models/peers.py exported (<dir>/<model>_b<batch>.pt and
// <model>_b<batch>_input.pt), imports it, and times two columns under
// c10::InferenceMode, interleaved round by round so that drift on a noisy
// machine hits both alike:
//   fx            the imported GraphModule as captured
//   fx_optimized  fx::jit::optimize_for_inference of it (compile_s: the time
//                 the pipeline and the first call took)
//   fx_opt_no_reuse  the same optimized graph and weights with buffer reuse
//                 off (GraphModule::BufferReuse::kNever), to show what reuse is worth
// Each result also records the largest difference from the TorchScript
// module's own output. Writes {"env", "results": [...]} as JSON for
// bench/models/report.py, which sets it beside the Python peers.
//   fx_models_bench --dir build/bench-models --models resnet18,bert_layer --batches 1,16
//                   [--threads 2] [--iters 30] [--warmup 5] [--columns A,B] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/serialize.h>
#include <torch/headeronly/version.h>

#include "capture/torchscript_import.h"
#include "jit/optimize.h"
#include "runtime/graph_module.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<c10::IValue> load_inputs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), {});
  c10::IValue v = torch::pickle_load(data);
  if (v.isTensor()) return {v};
  if (v.isList()) return v.toListRef().vec();
  if (v.isTuple()) return v.toTupleRef().elements().vec();
  throw std::runtime_error(path + " holds neither a tensor nor a list of tensors");
}

double max_abs_diff(const c10::IValue& a, const c10::IValue& b) {
  if (a.isTensor() && b.isTensor())
    return (a.toTensor().to(at::kDouble) - b.toTensor().to(at::kDouble)).abs().max().item<double>();
  if (a.isTuple() && b.isTuple()) {
    const auto& x = a.toTupleRef().elements();
    const auto& y = b.toTupleRef().elements();
    double worst = 0;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
      worst = std::max(worst, max_abs_diff(x[i], y[i]));
    return worst;
  }
  return -1;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Column {
  std::string name;
  fx::GraphModule* gm = nullptr;
  std::vector<double> samples;
  double compile_s = -1;
  double diff = -1;
};

nlohmann::json result(const std::string& model, int batch, const Column& c) {
  std::vector<double> s = c.samples;
  std::sort(s.begin(), s.end());
  nlohmann::json j = {{"model", model}, {"batch", batch}, {"column", c.name},
                      {"ms_median", s[s.size() / 2]}, {"ms_p10", s[s.size() / 10]},
                      {"max_abs_diff", c.diff}, {"error", nullptr}, {"note", ""}};
  j["compile_s"] = c.compile_s >= 0 ? nlohmann::json(c.compile_s) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json error_result(const std::string& model, int batch, const std::string& column,
                            const std::string& what) {
  return {{"model", model}, {"batch", batch}, {"column", column}, {"ms_median", nullptr},
          {"ms_p10", nullptr}, {"compile_s", nullptr}, {"max_abs_diff", nullptr},
          {"error", what}, {"note", ""}};
}

std::vector<nlohmann::json> bench_one(const std::string& dir, const std::string& model, int batch,
                                      int iters, int warmup,
                                      const std::vector<std::string>& only) {
  std::string stem = dir + "/" + model + "_b" + std::to_string(batch);
  c10::InferenceMode guard;
  torch::jit::Module script = torch::jit::load(stem + ".pt");
  script.eval();
  std::vector<c10::IValue> inputs = load_inputs(stem + "_input.pt");
  c10::IValue reference = script.forward(inputs);

  std::unique_ptr<fx::GraphModule> plain = fx::load_torchscript(stem + ".pt");
  auto start = Clock::now();
  std::unique_ptr<fx::GraphModule> optimized = fx::jit::optimize_for_inference(*plain, inputs);
  c10::IValue first = optimized->forward(inputs);
  double compile_s = ms_since(start) / 1e3;

  // Shares the optimized module's graph and (packed) weights; only buffer reuse differs.
  auto no_reuse = std::make_unique<fx::GraphModule>(optimized->graph().clone(),
                                                    optimized->attributes(),
                                                    optimized->class_name());
  no_reuse->set_inference_mode(true);
  no_reuse->set_buffer_reuse(fx::GraphModule::BufferReuse::kNever);

  std::vector<Column> cols(3);
  cols[0].name = "fx";
  cols[0].gm = plain.get();
  cols[0].diff = max_abs_diff(plain->forward(inputs), reference);
  cols[1].name = "fx_optimized";
  cols[1].gm = optimized.get();
  cols[1].compile_s = compile_s;
  cols[1].diff = max_abs_diff(first, reference);
  cols[2].name = "fx_opt_no_reuse";
  cols[2].gm = no_reuse.get();
  cols[2].diff = max_abs_diff(no_reuse->forward(inputs), reference);
  if (!only.empty())
    cols.erase(std::remove_if(cols.begin(), cols.end(),
                              [&](const Column& c) {
                                return std::find(only.begin(), only.end(), c.name) == only.end();
                              }),
               cols.end());
  for (Column& c : cols)
    for (int i = 0; i < warmup; ++i) c.gm->forward(inputs);
  // Rounds of a few calls per column, alternating.
  const int per_round = std::max(1, iters / 6);
  for (int done = 0; done < iters; done += per_round)
    for (Column& c : cols)
      for (int i = 0; i < per_round && done + i < iters; ++i) {
        auto t = Clock::now();
        c.gm->forward(inputs);
        c.samples.push_back(ms_since(t));
      }
  std::vector<nlohmann::json> out;
  for (const Column& c : cols) out.push_back(result(model, batch, c));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "build/bench-models", json_path;
  std::vector<std::string> models = {"resnet18", "mobilenet_v2", "efficientnet_b0", "bert_layer",
                                     "mlp"};
  std::vector<int> batches = {1, 16};
  std::vector<std::string> columns;  // empty: all
  int threads = 2, iters = 30, warmup = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "fx_models_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") dir = value();
    else if (a == "--models") models = split(value());
    else if (a == "--batches") {
      batches.clear();
      for (const std::string& b : split(value())) batches.push_back(std::stoi(b));
    } else if (a == "--threads") threads = std::stoi(value());
    else if (a == "--iters") iters = std::stoi(value());
    else if (a == "--warmup") warmup = std::stoi(value());
    else if (a == "--json") json_path = value();
    else if (a == "--columns") columns = split(value());
    else {
      std::cerr << "fx_models_bench: unknown option " << a
                << "\nusage: fx_models_bench --dir DIR --models A,B --batches 1,16 [--threads N] "
                   "[--iters N] [--warmup N] [--columns fx,fx_optimized,fx_opt_no_reuse] [--json FILE]\n";
      return 2;
    }
  }
  if (iters < 1 || threads < 1) {
    std::cerr << "fx_models_bench: --iters and --threads must be at least 1\n";
    return 2;
  }
  at::set_num_threads(threads);
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& model : models)
    for (int batch : batches) {
      std::vector<nlohmann::json> rows;
      try {
        rows = bench_one(dir, model, batch, iters, warmup, columns);
      } catch (const std::exception& e) {
        for (const char* c : {"fx", "fx_optimized", "fx_opt_no_reuse"})
          rows.push_back(error_result(model, batch, c, e.what()));
      }
      for (const auto& r : rows) {
        if (r["error"].is_null())
          std::printf("%-16s b%-3d %-13s %9.3f ms  (max |diff| %.2g)\n", model.c_str(), batch,
                      r["column"].get<std::string>().c_str(), r["ms_median"].get<double>(),
                      r["max_abs_diff"].get<double>());
        else
          std::printf("%-16s b%-3d %-13s error: %s\n", model.c_str(), batch,
                      r["column"].get<std::string>().c_str(),
                      r["error"].get<std::string>().c_str());
        std::fflush(stdout);
        results.push_back(r);
      }
    }
  if (!json_path.empty()) {
    nlohmann::json j;
    j["env"] = {{"runner", "fx_models_bench"}, {"threads", threads}, {"iters", iters},
                {"torch", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH)}, {"mkldnn", at::hasMKLDNN()}};
    j["results"] = results;
    std::ofstream out(json_path);
    if (!out) {
      std::cerr << "fx_models_bench: cannot write " << json_path << "\n";
      return 1;
    }
    out << j.dump(2) << "\n";
  }
  return 0;
}
