// fx::jit::optimize_for_inference on a conv-bn-relu residual net built with
// the Graph API (its block a nested GraphModule) and on TorchScript models
// (a small torchvision ResNet and mobilenet_v3_small, written in set-up by
// make_optimize_models.py beside this file; skipped without Python, torch and
// torchvision): the result equals the original module on fresh inputs of
// other batch sizes, runs in inference mode, has no batch norm left, uses
// oneDNN primitives when LibTorch has oneDNN, survives fx::save / fx::load
// (packed weights saved dense, packed again by optimizing the loaded module),
// and leaves the input module unchanged; OptimizeOptions without oneDNN and
// fusion still give the same function.
#include "jit/optimize.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "capture/torchscript_import.h"
#include "serialize/serialize.h"
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "jit/fused_kernel.h"
#include "jit/fused_serialize.h"
#include "runtime/buffer_pool.h"
#include "tests/saved_files.h"
#include "tests/python_models.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

// got == want within rtol 1e-4 and an absolute tolerance of 1e-4 of want's
// largest magnitude (float32 sums over a few thousand products).
::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& want) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  double atol = 1e-4 * std::max(1.0, w.abs().max().item<double>());
  if (at::allclose(g, w, 1e-4, atol)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max |got - want| = " << (g - w).abs().max().item<double>() << " (atol " << atol << ")";
}

size_t count(const Graph& g, const std::string& target) {
  return g.find_nodes(Op::CallFunction, target).size();
}

size_t count_prefix(const Graph& g, const std::string& prefix) {
  size_t n = 0;
  for (const Node* node : g.nodes())
    n += node->op() == Op::CallFunction && node->target().rfind(prefix, 0) == 0;
  return n;
}

// Every tensor attribute of gm and of its nested GraphModules, cloned, by
// qualified name; and the printed graphs. What "unchanged" compares.
struct Snapshot {
  std::map<std::string, at::Tensor> tensors;
  std::vector<std::string> graphs;
  bool inference_mode = false;
};

Snapshot snapshot(const GraphModule& gm, const std::string& prefix = "") {
  Snapshot s;
  s.inference_mode = gm.inference_mode();
  s.graphs.push_back(prefix + ":\n" + gm.graph().str());
  for (const auto& [name, v] : gm.attributes().values)
    if (v.isTensor()) s.tensors[prefix + name] = v.toTensor().clone();
  for (const auto& [name, m] : gm.attributes().modules)
    if (auto child = std::dynamic_pointer_cast<GraphModule>(m)) {
      Snapshot c = snapshot(*child, prefix + name + ".");
      s.tensors.insert(c.tensors.begin(), c.tensors.end());
      s.graphs.insert(s.graphs.end(), c.graphs.begin(), c.graphs.end());
    }
  return s;
}

void expect_unchanged(const GraphModule& gm, const Snapshot& before) {
  Snapshot now = snapshot(gm);
  EXPECT_EQ(now.graphs, before.graphs);
  EXPECT_EQ(now.inference_mode, before.inference_mode);
  ASSERT_EQ(now.tensors.size(), before.tensors.size());
  for (const auto& [name, t] : before.tensors) {
    ASSERT_TRUE(now.tensors.count(name)) << name;
    EXPECT_TRUE(at::equal(now.tensors.at(name), t)) << name << " was written";
  }
}

// Fused kernels in gm that fell back to eager after running.
void expect_kernels_ran(const GraphModule& gm) {
  for (const Node* n : gm.graph().find_nodes(Op::CallModule)) {
    auto k = std::dynamic_pointer_cast<FusedKernel>(gm.get_submodule(n->target()));
    if (!k) continue;
    EXPECT_FALSE(k->fell_back()) << n->target() << ": " << k->fallback_reason();
  }
}

// What every optimized module must satisfy: same function as original on
// each input, inference mode, no batch norm, oneDNN primitives when there is
// oneDNN (and onednn is on).
void expect_optimized(GraphModule& original, GraphModule& optimized,
                      const std::vector<at::Tensor>& inputs, bool onednn) {
  EXPECT_TRUE(optimized.inference_mode());
  const Graph& g = optimized.graph();
  EXPECT_EQ(count(g, "aten::batch_norm"), 0u) << g.str();
  if (onednn && at::hasMKLDNN())
    EXPECT_GT(count_prefix(g, "mkldnn::"), 0u) << g.str();
  else
    EXPECT_EQ(count_prefix(g, "mkldnn::"), 0u) << g.str();
  for (const at::Tensor& x : inputs) {
    at::Tensor want = original.forward({x}).toTensor();
    at::Tensor got = optimized.forward({x}).toTensor();
    EXPECT_TRUE(close(got, want)) << "input " << x.sizes();
    EXPECT_TRUE(got.is_inference()) << "input " << x.sizes();
    EXPECT_EQ(got.strides(), want.strides()) << "input " << x.sizes();
  }
}

// Saved and loaded, optimized gives the same outputs (weights come back
// dense); optimizing the loaded module packs them again.
void expect_save_load(GraphModule& optimized, const std::vector<at::Tensor>& inputs,
                      const at::Tensor& example) {
  register_serialization();
  saved_files::TempFile file("fx_optimize_");
  save(optimized, file.path());
  std::unique_ptr<GraphModule> loaded = load(file.path());
  EXPECT_TRUE(loaded->inference_mode());
  EXPECT_EQ(loaded->graph().str(), optimized.graph().str());
  for (const auto& [name, v] : loaded->attributes().values)
    EXPECT_FALSE(v.isTensor() && v.toTensor().is_mkldnn()) << name << " was loaded packed";
  for (const at::Tensor& x : inputs)
    EXPECT_TRUE(close(loaded->forward({x}).toTensor(), optimized.forward({x}).toTensor()))
        << "loaded, input " << x.sizes();
  expect_kernels_ran(*loaded);

  std::unique_ptr<GraphModule> again = optimize_for_inference(*loaded, {example});
  if (at::hasMKLDNN()) {
    size_t packed = 0;
    for (const auto& [name, v] : again->attributes().values)
      packed += v.isTensor() && v.toTensor().is_mkldnn();
    EXPECT_GT(packed, 0u) << again->graph().str();
  }
  for (const at::Tensor& x : inputs)
    EXPECT_TRUE(close(again->forward({x}).toTensor(), optimized.forward({x}).toTensor()))
        << "re-optimized, input " << x.sizes();
}

// ---- a residual net built with the Graph API --------------------------------------------------

Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

void add_bn(Attributes& a, const std::string& name, int64_t c) {
  a.values[name + ".weight"] = at::randn({c}) * 0.2 + 1;
  a.values[name + ".bias"] = at::randn({c}) * 0.2;
  a.values[name + ".running_mean"] = at::randn({c}) * 0.2;
  a.values[name + ".running_var"] = at::rand({c}) + 0.5;
}

Node* batch_norm(Graph& g, Node* x, const std::string& name) {
  return g.call_function("aten::batch_norm",
                         {x, g.get_attr(name + ".weight"), g.get_attr(name + ".bias"),
                          g.get_attr(name + ".running_mean"), g.get_attr(name + ".running_var"),
                          false, 0.1, 1e-5, true});
}

// block(x): relu(bn2(conv2(relu_(bn1(conv1(x))))) + x), 8 channels.
std::shared_ptr<GraphModule> residual_block() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* c1 = g->call_function(
      "aten::conv2d", {x, g->get_attr("conv1.weight"), Argument(), ints({1, 1}), ints({1, 1})});
  Node* r1 = g->call_function("aten::relu_", {batch_norm(*g, c1, "bn1")});
  Node* c2 = g->call_function(
      "aten::conv2d", {r1, g->get_attr("conv2.weight"), Argument(), ints({1, 1}), ints({1, 1})});
  Node* add = g->call_function("aten::add.Tensor", {batch_norm(*g, c2, "bn2"), x});
  g->output(g->call_function("aten::relu", {add}));
  Attributes a;
  a.values["conv1.weight"] = at::randn({8, 8, 3, 3}) * 0.15;
  a.values["conv2.weight"] = at::randn({8, 8, 3, 3}) * 0.15;
  add_bn(a, "bn1", 8);
  add_bn(a, "bn2", 8);
  return std::make_shared<GraphModule>(std::move(g), std::move(a), "BasicBlock");
}

// x [N, 3, H, W] -> relu(bn(conv 3 -> 8)) -> layer1 (a GraphModule) ->
// dropout(train=False) -> detach -> mean over H, W -> linear(8 -> 5) -> sigmoid * 2.
std::unique_ptr<GraphModule> small_net() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* conv = g->call_function(
      "aten::conv2d",
      {x, g->get_attr("conv1.weight"), g->get_attr("conv1.bias"), ints({1, 1}), ints({1, 1})});
  Node* relu = g->call_function("aten::relu", {batch_norm(*g, conv, "bn1")});
  Node* block = g->call_module("layer1", {relu});
  Node* drop = g->call_function("aten::dropout", {block, 0.2, false});
  Node* detach = g->call_function("aten::detach", {drop});
  Node* mean = g->call_function("aten::mean.dim", {detach, ints({2, 3})});
  Node* fc =
      g->call_function("aten::linear", {mean, g->get_attr("fc.weight"), g->get_attr("fc.bias")});
  Node* sig = g->call_function("aten::sigmoid", {fc});
  g->output(g->call_function("aten::mul.Scalar", {sig, 2}));
  Attributes a;
  a.values["conv1.weight"] = at::randn({8, 3, 3, 3}) * 0.3;
  a.values["conv1.bias"] = at::randn({8}) * 0.1;
  add_bn(a, "bn1", 8);
  a.values["fc.weight"] = at::randn({5, 8}) * 0.3;
  a.values["fc.bias"] = at::randn({5}) * 0.1;
  a.modules["layer1"] = residual_block();
  return std::make_unique<GraphModule>(std::move(g), std::move(a), "SmallNet");
}

TEST(OptimizeForInference, SmallResidualNet) {
  auto gm = small_net();
  Snapshot before = snapshot(*gm);
  at::Tensor example = at::randn({2, 3, 16, 16});
  PassLog log;
  std::unique_ptr<GraphModule> opt = optimize_for_inference(*gm, {example}, {}, &log);
  expect_unchanged(*gm, before);

  const Graph& g = opt->graph();
  for (const char* gone : {"aten::dropout", "aten::detach", "aten::relu_", "aten::conv2d"})
    EXPECT_EQ(count(g, gone), 0u) << gone << "\n" << g.str();
  for (const Node* n : g.find_nodes(Op::CallModule))
    EXPECT_NE(n->target(), "layer1") << "the block was not inlined";
  if (at::hasMKLDNN()) {
    // Three convolutions, the block's second with its residual add and relu.
    EXPECT_EQ(count_prefix(g, "mkldnn::_convolution_pointwise"), 3u) << g.str();
    // (in place when onednn_inplace_residuals finds the residual free)
    EXPECT_EQ(count(g, "mkldnn::_convolution_pointwise.binary") +
                  count(g, "mkldnn::_convolution_pointwise_.binary"),
              1u)
        << g.str();
  }
  std::string text = log.str();
  size_t at = 0;
  for (const char* section :
       {"inline_modules:", "remove_inference_noops:", "functionalize:", "fold_constants:",
        "fold_batch_norm:", "onednn_epilogues:", "pack_onednn_weights:",
        "onednn_inplace_residuals:", "fuse:"}) {
    size_t found = text.find(section, at);
    EXPECT_NE(found, std::string::npos) << section << " missing or out of order in\n" << text;
    if (found != std::string::npos) at = found;
  }
  EXPECT_NE(text.find("folded 3 batch norms into convolutions"), std::string::npos) << text;

  std::vector<at::Tensor> inputs = {at::randn({2, 3, 16, 16}), at::randn({5, 3, 16, 16}),
                                    at::randn({1, 3, 20, 12})};
  expect_optimized(*gm, *opt, inputs, true);
  expect_kernels_ran(*opt);
  expect_unchanged(*gm, before);
  expect_save_load(*opt, inputs, example);
}

TEST(OptimizeForInference, WithoutOnednnOrFusion) {
  auto gm = small_net();
  Snapshot before = snapshot(*gm);
  at::Tensor example = at::randn({2, 3, 16, 16});
  OptimizeOptions options;
  options.onednn = false;
  options.fuse = false;
  std::unique_ptr<GraphModule> opt = optimize_for_inference(*gm, {example}, options);
  expect_unchanged(*gm, before);
  const Graph& g = opt->graph();
  EXPECT_TRUE(g.find_nodes(Op::CallModule).empty()) << g.str();
  EXPECT_EQ(count(g, "aten::convolution"), 3u) << g.str();
  EXPECT_EQ(count(g, "aten::relu"), 3u) << g.str() << "\nthe in-place relu_ is functional";
  for (const auto& [name, v] : opt->attributes().values)
    EXPECT_FALSE(v.isTensor() && v.toTensor().is_mkldnn()) << name;
  expect_optimized(*gm, *opt, {at::randn({3, 3, 16, 16}), at::randn({1, 3, 9, 11})}, false);

  // Batch-norm folding off too: the batch norms stay.
  options.fold_batch_norm = false;
  std::unique_ptr<GraphModule> plain = optimize_for_inference(*gm, {example}, options);
  EXPECT_EQ(count(plain->graph(), "aten::batch_norm"), 3u) << plain->graph().str();
  at::Tensor x = at::randn({4, 3, 16, 16});
  EXPECT_TRUE(close(plain->forward({x}).toTensor(), gm->forward({x}).toTensor()));
  expect_unchanged(*gm, before);
}

// ---- TorchScript models -----------------------------------------------------------------------

class OptimizeTorchScript : public ::testing::Test {
 protected:
  // Writes the models once per process (this suite and OptimizeZoo share
  // them) with the first Python that has torch and torchvision (the script
  // exits with 77 when one lacks them); they are removed at exit.
  static void SetUpTestSuite() {
    static bool made = false;
    if (made) return;
    made = true;
    static struct RemoveAtExit {
      ~RemoveAtExit() {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
      }
    } remove_at_exit;
    python_models::Written w = python_models::write_models(__FILE__, "make_optimize_models.py");
    dir_ = w.dir;
    skip_ = w.skip;
    error_ = w.error;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
  }

  // Imports model `name` (its children kept as call_module GraphModules),
  // optimizes it for a [1, 3, 64, 64] example and checks it against both the
  // imported module and TorchScript itself.
  static void check(const std::string& name) {
    std::string path = dir_ + "/" + name + ".pt";
    torch::jit::Module ts = torch::jit::load(path);
    ts.eval();
    std::unique_ptr<GraphModule> gm = import_torchscript(ts);
    ASSERT_FALSE(gm->graph().find_nodes(Op::CallModule).empty());
    Snapshot before = snapshot(*gm);
    at::Tensor example = at::randn({1, 3, 64, 64});
    PassLog log;
    std::unique_ptr<GraphModule> opt = optimize_for_inference(*gm, {example}, {}, &log);
    expect_unchanged(*gm, before);
    SCOPED_TRACE(log.str());
    // Every batch norm follows a convolution, and goes into it.
    EXPECT_NE(log.str().find("batch norms into convolutions"), std::string::npos);
    EXPECT_EQ(log.str().find("into mul + add"), std::string::npos);
    for (const Node* n : opt->graph().find_nodes(Op::CallModule))
      EXPECT_TRUE(std::dynamic_pointer_cast<FusedKernel>(opt->get_submodule(n->target())))
          << n->target() << " is not a fused kernel: the model was not inlined";

    std::vector<at::Tensor> inputs = {at::randn({1, 3, 64, 64}), at::randn({3, 3, 64, 64}),
                                      at::randn({2, 3, 48, 56})};
    expect_optimized(*gm, *opt, inputs, true);
    {
      torch::NoGradGuard no_grad;
      for (const at::Tensor& x : inputs)
        EXPECT_TRUE(close(opt->forward({x}).toTensor(), ts.forward({x}).toTensor()))
            << "against TorchScript, input " << x.sizes();
    }
    expect_kernels_ran(*opt);
    expect_unchanged(*gm, before);
    expect_save_load(*opt, inputs, example);

    OptimizeOptions options;
    options.onednn = false;
    options.fuse = false;
    std::unique_ptr<GraphModule> plain = optimize_for_inference(*gm, {example}, options);
    EXPECT_TRUE(plain->graph().find_nodes(Op::CallModule).empty()) << plain->graph().str();
    expect_optimized(*gm, *plain, inputs, false);
  }

  static std::string dir_;
  static std::string skip_;
  static std::string error_;
};

std::string OptimizeTorchScript::dir_;
std::string OptimizeTorchScript::skip_;
std::string OptimizeTorchScript::error_;

// The whole-model benchmark's zoo, traced: optimized output against
// TorchScript's on fresh random inputs of two batch sizes, with each model's
// stated float32 tolerance (|got - want| <= atol + rtol * |want|). The CNNs'
// folded batch norms and oneDNN's blocked convolutions reassociate sums, so
// their outputs move by a few ulps of the largest activations.
struct ZooModel {
  const char* name;
  std::vector<int64_t> input;  // batch 1
  double rtol, atol;
};

class OptimizeZoo : public OptimizeTorchScript,
                    public ::testing::WithParamInterface<ZooModel> {};

TEST_P(OptimizeZoo, MatchesTorchScriptWithinItsTolerance) {
  const ZooModel& z = GetParam();
  torch::jit::Module ts = torch::jit::load(dir_ + "/" + z.name + ".pt");
  ts.eval();
  std::unique_ptr<GraphModule> gm = import_torchscript(ts);
  at::Tensor example = at::randn(z.input);
  PassLog log;
  std::unique_ptr<GraphModule> opt = optimize_for_inference(*gm, {example}, {}, &log);
  SCOPED_TRACE(log.str());
  if (at::hasMKLDNN()) {
    EXPECT_GT(count_prefix(opt->graph(), "mkldnn::"), 0u);
  }
  torch::NoGradGuard no_grad;
  EXPECT_EQ(opt->buffer_reuse(), GraphModule::BufferReuse::kAlways);
  // These shapes are small: pool from 64 KiB up so that every model pools.
  struct MinBlock {
    size_t was = BufferPool::min_block_bytes();
    MinBlock() { BufferPool::set_min_block_bytes(size_t{64} << 10); }
    ~MinBlock() { BufferPool::set_min_block_bytes(was); }
  } min_block;
  int64_t fresh_after_first_pass = -1;
  // The second pass over the batch sizes runs on the buffers the first one
  // left (one plan per batch size) and makes none.
  for (int64_t batch : {1, 3, 0, 1, 3}) {
    if (batch == 0) {
      fresh_after_first_pass = opt->buffer_stats().fresh;
      continue;
    }
    std::vector<int64_t> shape = z.input;
    shape[0] = batch;
    at::Tensor x = at::randn(shape);
    at::Tensor want = ts.forward({x}).toTensor();
    at::Tensor got = opt->forward({x}).toTensor();
    ASSERT_EQ(got.sizes(), want.sizes());
    at::Tensor err = (got.to(at::kDouble) - want.to(at::kDouble)).abs();
    at::Tensor bound = z.atol + z.rtol * want.to(at::kDouble).abs();
    EXPECT_TRUE((err <= bound).all().item<bool>())
        << z.name << " batch " << batch << ": max |got - want| = " << err.max().item<double>()
        << ", max |want| = " << want.abs().max().item<double>();
  }
  EXPECT_EQ(opt->buffer_stats().fresh, fresh_after_first_pass);
  EXPECT_GT(fresh_after_first_pass, 0);
  EXPECT_GT(opt->buffer_stats().reused, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, OptimizeZoo,
    ::testing::Values(ZooModel{"zoo_resnet18", {1, 3, 64, 64}, 1e-4, 1e-4},
                      ZooModel{"zoo_mobilenet_v2", {1, 3, 64, 64}, 1e-4, 1e-4},
                      ZooModel{"zoo_efficientnet_b0", {1, 3, 64, 64}, 1e-4, 1e-4},
                      ZooModel{"zoo_bert_layer", {1, 32, 768}, 1e-4, 1e-4},
                      ZooModel{"zoo_mlp", {1, 64, 512}, 1e-4, 1e-4}),
    [](const ::testing::TestParamInfo<ZooModel>& info) {
      return std::string(info.param.name).substr(4);
    });

TEST_F(OptimizeTorchScript, MiniResNet) { check("mini_resnet_script"); }

TEST_F(OptimizeTorchScript, MobileNetV3Small) { check("mobilenet_v3_small_script"); }

// The BERT-style layer: its scaled, masked softmax becomes a row kernel
// (jit/reductions.h). Where LibTorch has MKL, the linears without an
// activation run as MKL packed GEMMs and each residual add + layer_norm is a
// row kernel; with oneDNN and no MKL the adds go into oneDNN's linears and
// the layer norms stay ATen's; without oneDNN each add + layer_norm is a row
// kernel too. All match TorchScript on other batch and sequence lengths, and
// saved and loaded (MKL's packed weights are saved empty and packed again
// by optimizing the loaded module).
TEST_F(OptimizeTorchScript, BertLayerRowKernels) {
  torch::jit::Module ts = torch::jit::load(dir_ + "/bert_layer_script.pt");
  ts.eval();
  std::unique_ptr<GraphModule> gm = import_torchscript(ts);
  at::Tensor x = at::randn({2, 16, 64}), mask = at::randn({2, 1, 1, 16});
  for (bool onednn : {true, false}) {
    SCOPED_TRACE(onednn ? "oneDNN" : "no oneDNN");
    OptimizeOptions options;
    options.onednn = onednn;
    PassLog log;
    std::unique_ptr<GraphModule> opt = optimize_for_inference(*gm, {x, mask}, options, &log);
    SCOPED_TRACE(log.str());
    std::vector<std::shared_ptr<FusedKernel>> rows;
    for (const Node* n : opt->graph().find_nodes(Op::CallModule))
      if (auto k = std::dynamic_pointer_cast<FusedKernel>(opt->get_submodule(n->target())))
        if (k->spec().is_rows()) rows.push_back(k);
    std::multiset<std::string> reductions;
    for (const auto& k : rows)
      for (const auto& r : k->spec().reductions) reductions.insert(r.substr(0, r.find('_')));
    EXPECT_EQ(reductions.count("softmax"), 1u) << opt->graph().str();
    if (!onednn || !at::hasMKLDNN() || at::hasMKL()) {
      EXPECT_EQ(reductions.count("layer"), 2u) << opt->graph().str();
    }
    const size_t mkl_linears = opt->graph().find_nodes(Op::CallFunction, "mkl::_mkl_linear").size();
    if (onednn && at::hasMKLDNN() && at::hasMKL()) {
      // in-projection, out-projection, second FFN linear (the first has its GELU)
      EXPECT_EQ(mkl_linears, 3u) << opt->graph().str();
    }
    torch::NoGradGuard no_grad;
    for (auto [b, s] : {std::pair<int64_t, int64_t>{2, 16}, {3, 16}, {1, 7}}) {
      at::Tensor xi = at::randn({b, s, 64}), mi = at::randn({b, 1, 1, s});
      EXPECT_TRUE(close(opt->forward({xi, mi}).toTensor(), ts.forward({xi, mi}).toTensor()))
          << "input " << xi.sizes();
    }
    for (const auto& k : rows) {
      EXPECT_EQ(k->kernel_calls(), 3) << k->spec().name << " ran eagerly";
      EXPECT_FALSE(k->fell_back()) << k->fallback_reason();
    }
    if (mkl_linears == 0) continue;
    register_serialization();
    saved_files::TempFile file("fx_optimize_bert_");
    save(*opt, file.path());
    std::unique_ptr<GraphModule> loaded = load(file.path());
    size_t empty = 0;
    for (const Node* n : loaded->graph().find_nodes(Op::CallFunction, "mkl::_mkl_linear")) {
      const at::Tensor& w = loaded->get_attr(n->args()[1].to_node()->target())->toTensor();
      EXPECT_FALSE(w.is_mkldnn());
      empty += w.numel() == 0;
    }
    EXPECT_EQ(empty, mkl_linears) << "MKL's packed weights are saved empty";
    std::unique_ptr<GraphModule> again = optimize_for_inference(*loaded, {x, mask});
    size_t packed = 0;
    for (const Node* n : again->graph().find_nodes(Op::CallFunction, "mkl::_mkl_linear"))
      packed += again->get_attr(n->args()[1].to_node()->target())->toTensor().is_mkldnn();
    EXPECT_EQ(packed, mkl_linears) << again->graph().str();
    for (auto [b, s] : {std::pair<int64_t, int64_t>{2, 16}, {1, 7}}) {
      at::Tensor xi = at::randn({b, s, 64}), mi = at::randn({b, 1, 1, s});
      at::Tensor want = ts.forward({xi, mi}).toTensor();
      EXPECT_TRUE(close(loaded->forward({xi, mi}).toTensor(), want)) << "loaded, " << xi.sizes();
      EXPECT_TRUE(close(again->forward({xi, mi}).toTensor(), want)) << "re-optimized, " << xi.sizes();
    }
  }
}

}  // namespace
}  // namespace fx::jit
