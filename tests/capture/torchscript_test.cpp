// import_torchscript on models scripted and traced in Python: the FX
// documentation example, stacks of modules, buffers, tuples, constants,
// inlining, the errors for control flow on data, and torchvision's resnet18
// and mobilenet_v2, each checked against the TorchScript module's own output.
// The models are written in set-up by make_torchscript_models.py (next to
// this file) with the project's Python; without it the tests are skipped.
#include "capture/torchscript_import.h"
#include "capture/tracer.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/script.h>

#include "ir/error.h"
#include "tests/expect_error.h"
#include "tests/fx_doc_example.h"
#include "tests/python_models.h"

namespace fx {
namespace {

using testing_support::expect_error;

namespace fs = std::filesystem;

std::string script_path() {
  return python_models::script_path(__FILE__, "make_torchscript_models.py");
}

class TorchScript : public ::testing::Test {
 protected:
  // Writes the models once for the whole suite, with the first Python that
  // has torch and torchvision (the script exits with 77 when one lacks them).
  static void SetUpTestSuite() {
    python_models::Written w = python_models::write_models(__FILE__, "make_torchscript_models.py");
    dir_ = w.dir;
    skip_ = w.skip;
    error_ = w.error;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
    dir_.clear();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
  }

  static std::string model(const std::string& name) { return dir_ + "/" + name + ".pt"; }

  static std::string dir_;
  static std::string skip_;
  static std::string error_;
};

std::string TorchScript::dir_;
std::string TorchScript::skip_;
std::string TorchScript::error_;

// "name op target" per node, one string per node.
std::vector<std::string> summary(const Graph& g) {
  std::vector<std::string> out;
  for (const Node* n : g.nodes())
    out.push_back(n->name() + " " + op_name(n->op()) + " " + n->target());
  return out;
}

std::set<Op> opcodes(const Graph& g) {
  std::set<Op> out;
  for (const Node* n : g.nodes()) out.insert(n->op());
  return out;
}

// max |a - b| / max(max |b|, 1e-6): tolerant of the summation order of
// im2col/GEMM paths, strict enough to catch a wrong argument.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  double scale = std::max(b.abs().max().item<double>(), 1e-6);
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() / scale;
}

void expect_same(const c10::IValue& actual, const c10::IValue& expected, double tol = 1e-5) {
  if (expected.isTensor()) {
    ASSERT_TRUE(actual.isTensor()) << actual.tagKind();
    const at::Tensor& a = actual.toTensor();
    const at::Tensor& e = expected.toTensor();
    ASSERT_EQ(a.sizes(), e.sizes());
    ASSERT_EQ(a.scalar_type(), e.scalar_type());
    if (at::isFloatingType(e.scalar_type()))
      EXPECT_LT(relative_error(a, e), tol);
    else
      EXPECT_TRUE(at::equal(a, e));
  } else if (expected.isTuple()) {
    ASSERT_TRUE(actual.isTuple()) << actual.tagKind();
    const auto& a = actual.toTupleRef().elements();
    const auto& e = expected.toTupleRef().elements();
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) expect_same(a[i], e[i], tol);
  } else {
    EXPECT_EQ(actual, expected);
  }
}

// Runs both on fresh random inputs of each shape and compares.
void expect_runs_like(GraphModule& gm, torch::jit::Module& ts,
                      const std::vector<std::vector<int64_t>>& shapes, double tol = 1e-5) {
  torch::NoGradGuard no_grad;
  for (const auto& shape : shapes) {
    at::Tensor x = torch::randn(shape);
    c10::IValue expected = ts.forward({x.clone()});
    c10::IValue actual = gm.forward({x.clone()});
    SCOPED_TRACE("input shape " + c10::str(at::IntArrayRef(shape)));
    expect_same(actual, expected, tol);
  }
}

const Node* find(const Graph& g, const std::string& name) {
  for (const Node* n : g.nodes())
    if (n->name() == name) return n;
  return nullptr;
}

TEST_F(TorchScript, FxDocumentationExampleScripted) {
  torch::jit::Module ts = torch::jit::load(model("fx_example_script"));
  auto gm = import_torchscript(ts);
  EXPECT_EQ(gm->class_name(), "FxExample");
  EXPECT_EQ(gm->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %param : [#users=1] = get_attr[target=param]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %param), kwargs = {})
    %linear : [#users=1] = call_module[target=linear](args = (%add,), kwargs = {})
    %clamp : [#users=1] = call_function[target=aten::clamp](args = (%linear, 0.0, 1.0), kwargs = {})
    return clamp)");
  auto linear = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("linear"));
  ASSERT_TRUE(linear);
  EXPECT_EQ(linear->class_name(), "Linear");
  EXPECT_EQ(linear->graph().str(), R"(graph():
    %input_1 : [#users=1] = placeholder[target=input]
    %weight : [#users=1] = get_attr[target=weight]
    %bias : [#users=1] = get_attr[target=bias]
    %linear : [#users=1] = call_function[target=aten::linear](args = (%input_1, %weight, %bias), kwargs = {})
    return linear)");
  const std::string* trace = find(gm->graph(), "add")->meta().get<std::string>("stack_trace");
  ASSERT_TRUE(trace);
  std::istringstream script(python_models::read_file(script_path()));
  int line = 0;
  for (std::string text;
       std::getline(script, text) && text.find("self.linear(x + ") == std::string::npos;)
    ++line;
  EXPECT_NE(trace->find("make_torchscript_models.py\", line " + std::to_string(line + 1)),
            std::string::npos)
      << *trace;
  // Parameters are shared with the TorchScript module, not copied.
  EXPECT_TRUE(gm->get_attr("param")->toTensor().is_same(ts.attr("param").toTensor()));
  expect_runs_like(*gm, ts, {{3, 4}, {3, 4}, {2, 3, 4}});
}

TEST_F(TorchScript, FxDocumentationExampleTraced) {
  auto gm = load_torchscript(model("fx_example_trace"));
  torch::jit::Module ts = torch::jit::load(model("fx_example_trace"));
  EXPECT_EQ(
      summary(gm->graph()),
      (std::vector<std::string>{"x placeholder x", "param get_attr param",
                                "add call_function aten::add.Tensor", "linear call_module linear",
                                "clamp call_function aten::clamp", "output output output"}));
  expect_runs_like(*gm, ts, {{3, 4}, {3, 4}});
}

TEST_F(TorchScript, SequentialStacks) {
  for (const char* name : {"stack_script", "stack_trace"}) {
    SCOPED_TRACE(name);
    torch::jit::Module ts = torch::jit::load(model(name));
    auto gm = import_torchscript(ts);
    std::vector<std::string> modules;
    for (const Node* n : gm->graph().find_nodes(Op::CallModule)) modules.push_back(n->target());
    if (std::string(name) == "stack_script") {
      // The ModuleList loop and range(3) are unrolled; head[0][0] is a GetAttr chain.
      EXPECT_EQ(modules,
                (std::vector<std::string>{"seq", "blocks.0", "blocks.1", "head.0.0", "head"}));
      EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, "aten::mul.Scalar").size(), 3u);
      EXPECT_TRUE(find(gm->graph(), "head_0_0"));
    } else {
      EXPECT_EQ(modules.front(), "seq");
    }
    auto seq = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("seq"));
    ASSERT_TRUE(seq);
    EXPECT_EQ(seq->class_name(), "Sequential");
    std::vector<std::string> inner;
    for (const Node* n : seq->graph().find_nodes(Op::CallModule)) inner.push_back(n->target());
    EXPECT_EQ(inner, (std::vector<std::string>{"0", "1", "2"}));
    expect_runs_like(*gm, ts, {{2, 8}, {5, 8}});
  }
}

TEST_F(TorchScript, BuffersAndModuleState) {
  torch::jit::Module ts = torch::jit::load(model("buffers_script"));
  auto gm = import_torchscript(ts);
  std::vector<std::string> attrs;
  for (const Node* n : gm->graph().find_nodes(Op::GetAttr)) attrs.push_back(n->target());
  EXPECT_EQ(attrs, (std::vector<std::string>{"mean", "var", "weight"}));
  // `self.eps` is a float literal and `if self.bias is not None` is decided now.
  const Node* add = gm->graph().find_nodes(Op::CallFunction, "aten::add.Scalar").at(0);
  EXPECT_EQ(add->args().at(1), Argument(1e-3));
  EXPECT_EQ(gm->graph().find_nodes(Op::CallModule).size(), 1u);

  // BatchNorm1d's forward reads running stats; `training` is False.
  auto bn = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("bn"));
  ASSERT_TRUE(bn);
  attrs.clear();
  for (const Node* n : bn->graph().find_nodes(Op::GetAttr)) attrs.push_back(n->target());
  EXPECT_EQ(attrs, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var"}));
  auto bns = bn->graph().find_nodes(Op::CallFunction, "aten::batch_norm");
  ASSERT_EQ(bns.size(), 1u);
  EXPECT_EQ(bns[0]->args().at(5), Argument(false));  // training
  expect_runs_like(*gm, ts, {{4, 6}, {3, 6}});

  // Its `if input.dim() not in (2, 3): raise ValueError(...)` became a run-time check.
  EXPECT_EQ(bn->graph().find_nodes(Op::CallFunction, "aten::_assert_scalar").size(), 1u);
  expect_error([&] { gm->forward({torch::randn({2, 3, 4, 6})}); }, ErrorKind::kRuntime,
               {"ValueError: expected 2D or 3D input"});
}

TEST_F(TorchScript, TupleOutputsAndUnpacking) {
  torch::jit::Module ts = torch::jit::load(model("tuples_script"));
  auto gm = import_torchscript(ts);
  const Graph& g = gm->graph();
  // self.split(x) returns a tuple (unpacked with getitem); chunk returns a
  // list (unpacked); max.dim has two outputs; `pair[1]` indexes a tuple the
  // graph built itself, so it needs no node.
  EXPECT_EQ(g.find_nodes(Op::CallModule, "split").size(), 1u);
  EXPECT_EQ(g.find_nodes(Op::CallFunction, "getitem").size(), 7u);
  const Node* out = g.output_node();
  ASSERT_EQ(out->args().at(0).kind(), Argument::Kind::kTuple);
  EXPECT_EQ(out->args().at(0).items().size(), 5u);
  auto split = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("split"));
  ASSERT_TRUE(split);
  EXPECT_EQ(split->graph().output_node()->args().at(0).kind(), Argument::Kind::kTuple);
  expect_runs_like(*gm, ts, {{3, 4}, {2, 4}});
}

TEST_F(TorchScript, ConstantsOfSeveralKinds) {
  torch::jit::Module ts = torch::jit::load(model("constants_script"));
  auto gm = import_torchscript(ts);
  const Graph& g = gm->graph();
  auto one = [&](const std::string& target) {
    auto nodes = g.find_nodes(Op::CallFunction, target);
    EXPECT_EQ(nodes.size(), 1u) << target << "\n" << g;
    return nodes.empty() ? nullptr : nodes[0];
  };
  auto tos = g.find_nodes(Op::CallFunction, "aten::to.dtype");  // .to(torch.float64), .float()
  ASSERT_EQ(tos.size(), 2u);
  const Node* to = tos[0];
  EXPECT_EQ(to->args().at(1), Argument(c10::ScalarType::Double));
  const Node* zeros = one("aten::zeros");
  ASSERT_TRUE(zeros);
  EXPECT_EQ(zeros->args().at(0), Argument::list({4, 4}));
  ASSERT_TRUE(zeros->kwarg("dtype"));
  EXPECT_EQ(*zeros->kwarg("dtype"), Argument(c10::ScalarType::Float));
  ASSERT_TRUE(zeros->kwarg("device"));
  EXPECT_EQ(*zeros->kwarg("device"), Argument(c10::Device("cpu")));
  EXPECT_FALSE(zeros->kwarg("layout"));  // None is the default: left out
  const Node* contiguous = one("aten::contiguous");
  ASSERT_TRUE(contiguous);
  EXPECT_TRUE(contiguous->kwargs().empty());  // contiguous_format is the default
  const Node* sum = one("aten::sum.dim_IntList");
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->args().at(1), Argument::list({0, 1}));
  EXPECT_EQ(sum->args().at(2), Argument(true));
  const Node* div = one("aten::div.Scalar_mode");
  ASSERT_TRUE(div);
  ASSERT_TRUE(div->kwarg("rounding_mode"));
  EXPECT_EQ(*div->kwarg("rounding_mode"), Argument("floor"));
  const Node* full = one("aten::full");
  ASSERT_TRUE(full && full->kwarg("dtype"));
  EXPECT_EQ(*full->kwarg("dtype"), Argument(c10::ScalarType::Long));
  expect_runs_like(*gm, ts, {{4, 4}});
}

TEST_F(TorchScript, InlineCallsLeavesOnlyOperators) {
  torch::jit::Module ts = torch::jit::load(model("fx_example_script"));
  auto gm = import_torchscript(ts, ImportOptions{/*inline_calls=*/true});
  EXPECT_EQ(gm->graph().str(), testing_support::fx_doc_example_graph());
  EXPECT_TRUE(gm->attributes().modules.empty());
  expect_runs_like(*gm, ts, {{3, 4}});

  torch::jit::Module stack = torch::jit::load(model("stack_script"));
  auto flat = import_torchscript(stack, ImportOptions{true});
  EXPECT_EQ(opcodes(flat->graph()),
            (std::set<Op>{Op::Placeholder, Op::GetAttr, Op::CallFunction, Op::Output}));
  EXPECT_TRUE(find(flat->graph(), "head_0_0_weight"));
  expect_runs_like(*flat, stack, {{2, 8}});
}

// The message names the TorchScript node kind, where it came from, and the module.
void expect_import_error(const std::string& path, const std::vector<std::string>& parts) {
  torch::jit::Module ts = torch::jit::load(path);
  SCOPED_TRACE(path);
  expect_error([&] { import_torchscript(ts); }, ErrorKind::kTrace, parts);
}

TEST_F(TorchScript, ControlFlowOnDataIsAnErrorNamingTheSource) {
  expect_import_error(model("data_if_script"),
                      {"prim::If", "make_torchscript_models.py:", "if x.sum() > 0", "DataIf"});
  expect_import_error(model("data_loop_script"),
                      {"prim::Loop", "trip count",
                       "make_torchscript_models.py:", "for _ in range(x.size(0))", "DataLoop"});
}

TEST_F(TorchScript, TracedSizeArithmetic) {
  // view(y.size(0), -1) traced: size.int, wrapped by prim::NumToTensor and
  // unwrapped by aten::Int, which the import drops.
  torch::jit::Module ts = torch::jit::load(model("reshape_trace"));
  auto gm = import_torchscript(ts);
  EXPECT_EQ(summary(gm->graph()),
            (std::vector<std::string>{
                "x placeholder x", "conv call_module conv", "size call_function aten::size.int",
                "view call_function aten::view", "softmax call_function aten::softmax.int",
                "output output output"}));
  const Node* view = find(gm->graph(), "view");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->args().at(1), Argument::list({const_cast<Node*>(find(gm->graph(), "size")), -1}));
  expect_runs_like(*gm, ts, {{2, 3, 8, 8}, {5, 3, 8, 8}});
}

TEST_F(TorchScript, TorchScriptOnlyOperatorsAreFunctions) {
  // BatchNorm's rank check needs aten::dim, which only TorchScript defines.
  torch::jit::Module ts = torch::jit::load(model("buffers_script"));
  auto gm = import_torchscript(ts, ImportOptions{true});
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, "jit.aten.dim").size(), 2u);
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, "jit.if_else").size(), 1u);
  EXPECT_TRUE(register_torchscript_function("jit.aten.dim"));
  EXPECT_TRUE(register_torchscript_function("jit.aten.__not__"));
  EXPECT_TRUE(register_torchscript_function("jit.prim.NumToTensor.Scalar"));
  EXPECT_TRUE(register_torchscript_function("jit.if_else"));
  EXPECT_FALSE(register_torchscript_function("jit.aten.no_such_operator"));
  EXPECT_FALSE(register_torchscript_function("aten::relu"));
  expect_runs_like(*gm, ts, {{4, 6}});
}

TEST_F(TorchScript, LoadErrorNamesThePath) {
  expect_error([&] { load_torchscript(dir_ + "/missing.pt"); }, ErrorKind::kTrace,
               {dir_ + "/missing.pt"});
}

void check_torchvision(const std::string& path, const std::vector<std::string>& top_modules) {
  torch::jit::Module ts = torch::jit::load(path);
  for (bool inline_calls : {false, true}) {
    SCOPED_TRACE(inline_calls ? "inline_calls" : "call_module");
    auto gm = import_torchscript(ts, ImportOptions{inline_calls});
    std::vector<std::string> modules;
    for (const Node* n : gm->graph().find_nodes(Op::CallModule)) modules.push_back(n->target());
    if (inline_calls) {
      EXPECT_TRUE(modules.empty());
      EXPECT_EQ(opcodes(gm->graph()),
                (std::set<Op>{Op::Placeholder, Op::GetAttr, Op::CallFunction, Op::Output}));
    } else {
      EXPECT_EQ(modules, top_modules);
    }
    expect_runs_like(*gm, ts, {{1, 3, 64, 64}, {2, 3, 64, 64}}, 1e-4);
  }
}

TEST_F(TorchScript, ResNet18) {
  check_torchvision(model("resnet18_script"), {"conv1", "bn1", "relu", "maxpool", "layer1",
                                               "layer2", "layer3", "layer4", "avgpool", "fc"});
  auto gm = load_torchscript(model("resnet18_script"), ImportOptions{true});
  EXPECT_TRUE(find(gm->graph(), "layer1_0_bn1_running_mean"));
  EXPECT_TRUE(gm->get_attr("layer1.0.bn1.running_mean"));
}

TEST_F(TorchScript, MobileNetV2) {
  check_torchvision(model("mobilenet_v2_script"), {"features", "classifier"});
}

// An imported model re-traced with fx::symbolic_trace: its nested GraphModules
// call operators through the dispatcher, so the trace flattens them into one
// graph of ATen operators that still computes the same thing.
TEST_F(TorchScript, ImportedModelsRetraceFlat) {
  for (const char* name : {"resnet18_script", "mobilenet_v2_script"}) {
    SCOPED_TRACE(name);
    torch::jit::Module ts = torch::jit::load(model(name));
    ts.eval();
    std::shared_ptr<GraphModule> imported = import_torchscript(ts);
    auto retraced = symbolic_trace(
        [imported](std::vector<c10::IValue> in) { return imported->forward(std::move(in)); },
        {torch::empty({1, 3, 64, 64}, torch::kMeta)});
    EXPECT_TRUE(retraced->graph().find_nodes(Op::CallModule).empty());
    EXPECT_GT(retraced->graph().find_nodes(Op::CallFunction).size(), 50u);
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({1, 3, 64, 64});
    torch::Tensor expected = ts.forward({x}).toTensor();
    EXPECT_TRUE(torch::allclose((*retraced)(x).toTensor(), expected, 1e-4, 1e-4));
  }
}

}  // namespace
}  // namespace fx
