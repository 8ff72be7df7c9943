// One lowering for three executors: the same graphs run through forward (the
// Program), the Interpreter and the generated C++ source (compiled with the
// host compiler) and give eager LibTorch's numbers; set_attr reaches all three
// without recompile(); call_method overloads are resolved once, not per call.
#include "runtime/lowering.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/custom_class.h>
#include <torch/nn/modules/linear.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/functions.h"
#include "runtime/graph_module.h"
#include "runtime/interpreter.h"
#include "runtime/operator.h"
#include "runtime/torch_modules.h"
#include "tests/expect_error.h"

// A custom class whose method `add` shares its name with a Tensor method: a
// call_method on one of its objects must call the object's method.
struct Accumulator : torch::CustomClassHolder {
  Accumulator(at::Tensor base, double scale) : base(std::move(base)), scale(scale) {}
  at::Tensor add(at::Tensor x) { return base * scale + x; }
  at::Tensor base;
  double scale;
};

TORCH_LIBRARY(fx_lowering_test, m) {
  m.class_<Accumulator>("Accumulator")
      .def(torch::init<at::Tensor, double>())
      .def("add", &Accumulator::add);
}

namespace fx {
namespace {

using testing_support::expect_error;

// ---- the graphs --------------------------------------------------------------------------------

// Operators with kwargs and schema defaults, a placeholder default, Tensor
// methods (one whose argument is a float), getitem of a multi-output
// operator, a tensor list, and a parameter, a buffer and an int constant.
std::unique_ptr<Graph> operators_graph() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* scale = g->placeholder("scale", Argument(0.5), "float");
  Node* w = g->get_attr("w");
  Node* b = g->get_attr("b");
  Node* k = g->get_attr("k", "int");
  Node* mm = g->call_function("aten::mm", {x, w});
  Node* add = g->call_function("aten::add.Tensor", {mm, b}, {{"alpha", Argument(int64_t{2})}});
  Node* mul = g->call_method("mul", {add, scale});
  Node* topk =
      g->call_function("aten::topk", {mul, Argument(int64_t{2})}, {{"dim", Argument(int64_t{-1})}});
  Node* values = g->call_function("getitem", {topk, Argument(int64_t{0})});
  Node* indices = g->call_function("getitem", {topk, Argument(int64_t{1})});
  Node* shifted = g->call_method("add", {values, k});
  Node* sum =
      g->call_function("aten::sum.dim_IntList", {shifted, Argument::list({Argument(int64_t{1})})},
                       {{"keepdim", Argument(true)}});
  Node* view = g->call_method("view", {sum, Argument::list({Argument(int64_t{-1})})});
  Node* cat = g->call_function("aten::cat", {Argument::list({view, view})});
  g->output(Argument::tuple({cat, indices}));
  return g;
}

Attributes operators_attributes() {
  Attributes attrs;
  attrs.values["w"] = at::randn({4, 5}).requires_grad_();  // a parameter
  attrs.values["b"] = at::randn({5});                      // a buffer
  attrs.values["k"] = int64_t{3};                          // a constant
  return attrs;
}

// What operators_graph computes, written with ATen.
std::vector<at::Tensor> operators_eager(const at::Tensor& x, double scale, const at::Tensor& w,
                                        const at::Tensor& b, int64_t k) {
  at::Tensor mul = at::add(at::mm(x, w), b, 2) * scale;
  auto [values, indices] = at::topk(mul, 2, -1);
  at::Tensor view = (values + k).sum({1}, true).view({-1});
  return {at::cat({view, view}), indices};
}

// A custom-class receiver whose method name is also a Tensor method.
std::unique_ptr<Graph> object_graph() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* y = g->placeholder("y");
  Node* acc = g->call_function("__torch__.torch.classes.fx_lowering_test.Accumulator",
                               {x, Argument(2.0)}, {}, "Accumulator");
  Node* add = g->call_method("add", {acc, y});
  Node* neg = g->call_method("neg", {add});
  g->output(neg);
  return g;
}

// Attributes inside submodules: a nested GraphModule (called, and read from)
// and a wrapped torch::nn::Linear (called, and its weight read).
std::unique_ptr<Graph> submodules_graph() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* sub = g->call_module("sub", {x}, {{"bias", Argument(1.5)}});
  Node* scale = g->get_attr("sub.scale");
  Node* lin = g->call_module("lin", {sub});
  Node* weight = g->get_attr("lin.weight");
  Node* mm = g->call_function("aten::mm", {lin, weight});
  Node* mul = g->call_function("aten::mul.Tensor", {mm, scale});
  g->output(mul);
  return g;
}

// The nested module: x * scale + bias, where bias is a keyword input with a default.
std::shared_ptr<GraphModule> scaling_module(const at::Tensor& scale) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* bias = g->placeholder("bias", Argument(0.0), "float");
  Node* s = g->get_attr("scale");
  Node* mul = g->call_function("aten::mul.Tensor", {x, s});
  Node* add = g->call_method("add", {mul, bias});
  g->output(add);
  Attributes attrs;
  attrs.values["scale"] = scale;
  return std::make_shared<GraphModule>(std::move(g), std::move(attrs), "Scaling");
}

struct SubmodulesModel {
  std::shared_ptr<GraphModule> gm;
  std::shared_ptr<GraphModule> sub;
  torch::nn::Linear lin{4, 4};
};

SubmodulesModel submodules_model() {
  SubmodulesModel m;
  m.sub = scaling_module(at::randn({4}));
  Attributes attrs;
  attrs.modules["sub"] = m.sub;
  attrs.modules["lin"] = wrap_module(m.lin);
  m.gm = std::make_shared<GraphModule>(submodules_graph(), std::move(attrs), "Submodules");
  return m;
}

at::Tensor submodules_eager(const SubmodulesModel& m, const at::Tensor& x) {
  at::Tensor scale = m.sub->get_attr("scale")->toTensor();
  at::Tensor sub = x * scale + 1.5;
  return at::mm(at::linear(sub, m.lin->weight, m.lin->bias), m.lin->weight) * scale;
}

// ---- the generated source, compiled once -------------------------------------------------------

using Callables = std::map<std::string, Function>;
using Entry = void (*)(const std::map<std::string, c10::IValue>*, const Callables*,
                       const Callables*, const std::vector<c10::IValue>*, c10::IValue*);

// The generated code of each graph in a namespace of its own, with an entry
// point that fills Self and calls forward with the inputs.
struct Generated {
  std::string name;
  std::string code;
  std::string inputs;  // one letter per input: T for an at::Tensor parameter, V for a c10::IValue
};

class Compiled {
 public:
  static Compiled& get() {
    static Compiled c;
    return c;
  }
  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  Entry entry(const std::string& name) const {
    return reinterpret_cast<Entry>(dlsym(lib_, (name + "_entry").c_str()));
  }

  // The code every test compares: what the GraphModules generate now.
  static std::vector<Generated> sources() {
    GraphModule ops(operators_graph(), operators_attributes());
    GraphModule obj(object_graph(), {});
    SubmodulesModel sub = submodules_model();
    return {{"operators", ops.code(), "TV"},
            {"object", obj.code(), "TT"},
            {"submodules", sub.gm->code(), "T"}};
  }

 private:
  Compiled() {
#if !defined(FX_TEST_CXX) || !defined(FX_TEST_TORCH_INCLUDE) || !defined(FX_TEST_TORCH_LIBDIR)
    why_ = "the build did not say where the compiler and LibTorch are";
#else
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("fx_lowering_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
      std::ofstream src(dir / "gen.cpp");
      // The generated files' own includes, first, so that the copies inside
      // the namespaces below are no-ops.
      src << "#include <ATen/ATen.h>\n#include <ATen/Operators.h>\n"
             "#include <ATen/core/dispatch/Dispatcher.h>\n#include <ATen/core/class_type.h>\n"
             "#include <ATen/core/function.h>\n#include <functional>\n#include <limits>\n"
             "#include <map>\n#include <string>\n#include <vector>\n";
      for (const Generated& g : sources()) {
        src << "namespace " << g.name << " {\n" << g.code;
        src << "extern \"C\" void " << g.name
            << "_entry(const std::map<std::string, c10::IValue>* attrs,\n"
               "    const std::map<std::string, Self::Callable>* modules,\n"
               "    const std::map<std::string, Self::Callable>* functions,\n"
               "    const std::vector<c10::IValue>* in, c10::IValue* out) {\n"
               "  Self self;\n  self.attrs = *attrs;\n  self.modules = *modules;\n"
               "  self.functions = *functions;\n";
        src << "  *out = forward(self";
        for (size_t i = 0; i < g.inputs.size(); ++i)
          src << ", in->at(" << i << ")" << (g.inputs[i] == 'T' ? ".toTensor()" : "");
        src << ");\n}\n}  // namespace " << g.name << "\n";
      }
    }
    std::string cmd = std::string(FX_TEST_CXX) + " -std=c++17 -O0 -shared -fPIC -w -isystem " +
                      FX_TEST_TORCH_INCLUDE + " " + (dir / "gen.cpp").string() + " -o " +
                      (dir / "gen.so").string() + " -L" + FX_TEST_TORCH_LIBDIR +
                      " -ltorch_cpu -lc10 2> " + (dir / "log.txt").string();
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream log(dir / "log.txt");
      std::ifstream code(dir / "gen.cpp");
      why_ = "compiling the generated source failed:\n" +
             std::string((std::istreambuf_iterator<char>(log)), {}) + "\n" +
             std::string((std::istreambuf_iterator<char>(code)), {});
      return;
    }
    lib_ = dlopen((dir / "gen.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_) why_ = dlerror();
    fs::remove_all(dir);
#endif
  }
  void* lib_ = nullptr;
  std::string why_;
};

// Runs the compiled source of graph `name` against gm's attributes and modules as they are now.
c10::IValue run_generated(const std::string& name, GraphModule& gm,
                          const std::vector<c10::IValue>& inputs) {
  std::map<std::string, c10::IValue> attrs;
  Callables modules, functions;
  for (const Node* n : gm.graph().nodes()) {
    if (n->op() == Op::GetAttr) attrs[n->target()] = *gm.get_attr(n->target());
    if (n->op() == Op::CallModule) {
      std::shared_ptr<Module> m = gm.get_submodule(n->target());
      modules[n->target()] = [m](std::vector<c10::IValue> a, const IValueKwargs& kw) {
        return m->forward(std::move(a), kw);
      };
    }
    if (n->op() == Op::CallFunction && find_function(n->target()))
      functions[n->target()] = *find_function(n->target());
  }
  Entry entry = Compiled::get().entry(name);
  EXPECT_NE(entry, nullptr) << name;
  c10::IValue out;
  if (entry) entry(&attrs, &modules, &functions, &inputs, &out);
  return out;
}

#define REQUIRE_COMPILED()                                              \
  do {                                                                  \
    if (!Compiled::get().ok()) {                                        \
      if (Compiled::get().why().rfind("the build did not say", 0) == 0) \
        GTEST_SKIP() << Compiled::get().why();                          \
      FAIL() << Compiled::get().why();                                  \
    }                                                                   \
  } while (0)

void expect_tensors(const c10::IValue& got, const std::vector<at::Tensor>& want,
                    const std::string& who) {
  std::vector<c10::IValue> items =
      got.isTuple() ? got.toTupleRef().elements().vec() : std::vector<c10::IValue>{got};
  ASSERT_EQ(items.size(), want.size()) << who;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(items[i].isTensor()) << who << " output " << i;
    at::Tensor t = items[i].toTensor();
    EXPECT_TRUE(t.scalar_type() == want[i].scalar_type() && t.sizes() == want[i].sizes() &&
                at::allclose(t, want[i], 1e-5, 1e-6))
        << who << " output " << i << ":\n"
        << t << "\nexpected\n"
        << want[i];
  }
}

// Runs inputs through forward, a fresh Interpreter and the generated source,
// and compares each with want.
void expect_three_agree(const std::string& name, GraphModule& gm,
                        const std::vector<c10::IValue>& inputs,
                        const std::vector<at::Tensor>& want) {
  expect_tensors(gm.forward(inputs), want, name + ": forward");
  expect_tensors(Interpreter(gm).run(inputs), want, name + ": Interpreter");
  expect_tensors(run_generated(name, gm, inputs), want, name + ": generated code");
}

// ---- tests -------------------------------------------------------------------------------------

TEST(ThreeExecutors, SameGraphsGiveEagerNumbers) {
  REQUIRE_COMPILED();
  // The graphs' code is what was compiled.
  std::vector<Generated> sources = Compiled::sources();
  GraphModule ops(operators_graph(), operators_attributes());
  EXPECT_EQ(ops.code(), sources[0].code);
  GraphModule obj(object_graph(), {});
  SubmodulesModel sub = submodules_model();
  for (int round = 0; round < 3; ++round) {
    at::Tensor x = at::randn({3, 4});
    at::Tensor w = ops.get_attr("w")->toTensor(), b = ops.get_attr("b")->toTensor();
    // The default scale, and a given one.
    expect_three_agree("operators", ops, {x, 0.5}, operators_eager(x, 0.5, w, b, 3));
    double scale = 0.25 + round;
    expect_three_agree("operators", ops, {x, scale}, operators_eager(x, scale, w, b, 3));

    at::Tensor y = at::randn({3, 4});
    expect_three_agree("object", obj, {x, y}, {-(x * 2.0 + y)});

    expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});
  }
  // A placeholder default left out: forward and the Interpreter take it.
  at::Tensor x = at::randn({3, 4});
  at::Tensor w = ops.get_attr("w")->toTensor(), b = ops.get_attr("b")->toTensor();
  expect_tensors(ops.forward({x}), operators_eager(x, 0.5, w, b, 3), "forward, default");
  expect_tensors(Interpreter(ops).run({x}), operators_eager(x, 0.5, w, b, 3),
                 "Interpreter, default");
}

TEST(ThreeExecutors, SetAttrReachesEveryExecutorWithoutRecompile) {
  REQUIRE_COMPILED();
  GraphModule ops(operators_graph(), operators_attributes());
  at::Tensor x = at::randn({3, 4});
  ops.forward({x, 1.0});  // compiled and run once before the changes

  at::Tensor w = at::randn({4, 5}).requires_grad_();
  at::Tensor b = at::randn({5});
  ops.set_attr("w", w);
  ops.set_attr("b", b);
  ops.set_attr("k", int64_t{-7});
  EXPECT_TRUE(ops.get_parameter("w").is_same(w));
  EXPECT_TRUE(ops.get_buffer("b").is_same(b));
  expect_three_agree("operators", ops, {x, 1.0}, operators_eager(x, 1.0, w, b, -7));

  // Attributes in submodules: through the parent, on the nested GraphModule
  // itself, and inside a wrapped torch::nn::Linear.
  SubmodulesModel sub = submodules_model();
  sub.gm->forward({x});
  sub.gm->set_attr("sub.scale", at::randn({4}));
  expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});
  sub.sub->set_attr("scale", at::randn({4}));
  expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});
  at::Tensor weight = at::randn({4, 4});
  sub.gm->set_attr("lin.weight", weight);
  EXPECT_TRUE(at::equal(sub.lin->weight, weight));
  expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});

  // The nested GraphModule replaced: forward calls the new one and reads its scale.
  sub.sub = scaling_module(at::randn({4}));
  ASSERT_TRUE(sub.gm->add_submodule("sub", sub.sub));
  expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});
  sub.sub->set_attr("scale", at::randn({4}));
  expect_three_agree("submodules", *sub.gm, {x}, {submodules_eager(sub, x)});
}

TEST(ThreeExecutors, AnAttributeThatIsGoneIsAnErrorNotItsOldValue) {
  auto inner = scaling_module(at::randn({4}));
  inner->set_attr("extra.offset", at::randn({4}));  // not used by inner's own graph
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* offset = g->get_attr("inner.extra.offset");
  g->output(g->call_function("aten::add.Tensor", {x, offset}));
  Attributes attrs;
  attrs.modules["inner"] = inner;
  GraphModule gm(std::move(g), std::move(attrs), "Outer");
  at::Tensor x_in = at::randn({4});
  EXPECT_TRUE(
      at::allclose(gm(x_in).toTensor(), x_in + inner->get_attr("extra.offset")->toTensor()));

  ASSERT_TRUE(inner->delete_submodule("extra"));
  expect_error([&] { gm(x_in); }, ErrorKind::kRuntime,
               {"while executing node 'inner_extra_offset'", "attribute 'inner.extra.offset'",
                "no longer exists"});
  EXPECT_THROW(Interpreter(gm).run({x_in}), RuntimeError);

  at::Tensor again = at::randn({4});
  inner->set_attr("extra.offset", again);
  EXPECT_TRUE(at::allclose(gm(x_in).toTensor(), x_in + again));
  EXPECT_TRUE(at::allclose(Interpreter(gm).run({x_in}).toTensor(), x_in + again));
}

// A graph whose methods take a Tensor (x.relu(), x.mul(t)) and a value that
// is a float at run time although nothing says so (x.mul(s), s untyped).
std::unique_ptr<GraphModule> methods_module() {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* s = g->placeholder("s");
  Node* relu = g->call_method("relu", {x});
  Node* mul = g->call_method("mul", {relu, s});
  Node* sub = g->call_method("sub", {mul, x}, {{"alpha", Argument(2.0)}});
  g->output(sub);
  return std::make_unique<GraphModule>(std::move(g), Attributes{}, "Methods");
}

TEST(MethodOverloads, ResolvedOnceNotPerCall) {
  auto gm = methods_module();
  at::Tensor x = at::randn({5});
  at::Tensor t = at::randn({5});

  // Tensor values: the overloads picked when the module was compiled.
  size_t before = overload_resolutions();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(at::allclose(gm->forward({x, t}).toTensor(), x.relu() * t - 2.0 * x));
  EXPECT_EQ(overload_resolutions(), before);

  // A float where the graph assumed a Tensor: resolved on first sight, then remembered.
  ASSERT_TRUE(at::allclose(gm->forward({x, 3.0}).toTensor(), x.relu() * 3.0 - 2.0 * x));
  size_t after_first = overload_resolutions();
  EXPECT_EQ(after_first, before + 1);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(at::allclose(gm->forward({x, double(i)}).toTensor(), x.relu() * i - 2.0 * x));
  EXPECT_EQ(overload_resolutions(), after_first);
  // The same for an int, once; and Tensors still take the compiled path.
  ASSERT_TRUE(at::allclose(gm->forward({x, int64_t{2}}).toTensor(), x.relu() * 2 - 2.0 * x));
  ASSERT_TRUE(at::allclose(gm->forward({x, int64_t{4}}).toTensor(), x.relu() * 4 - 2.0 * x));
  ASSERT_TRUE(at::allclose(gm->forward({x, t}).toTensor(), x.relu() * t - 2.0 * x));
  EXPECT_EQ(overload_resolutions(), after_first + 1);

  // The Interpreter shares the lowering: no resolution per call either (each
  // run starts from an empty environment, or it would return the last output).
  Interpreter interp(*gm);
  auto run = [&](c10::IValue s) {
    interp.env().clear();
    return interp.run({x, std::move(s)}).toTensor();
  };
  run(t);
  run(1.5);
  size_t warm = overload_resolutions();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(at::allclose(run(t), x.relu() * t - 2.0 * x));
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(at::allclose(run(0.5 * i), x.relu() * (0.5 * i) - 2.0 * x));
  EXPECT_EQ(overload_resolutions(), warm);
}

TEST(MethodOverloads, DeclaredTypesPickTheOverloadUpFront) {
  // s declared `float`: mul.Scalar is picked when compiling, and the generated
  // source calls it with a Scalar.
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* s = g->placeholder("s", std::nullopt, "float");
  g->output(g->call_method("mul", {x, s}));
  GraphModule gm(std::move(g), Attributes{});
  EXPECT_NE(gm.code().find("at::_ops::mul_Scalar::call(x, s.toScalar())"), std::string::npos)
      << gm.code();
  at::Tensor x_in = at::randn({3});
  size_t before = overload_resolutions();
  EXPECT_TRUE(at::allclose(gm.forward({x_in, 2.5}).toTensor(), x_in * 2.5));
  EXPECT_EQ(overload_resolutions(), before);
  // A Tensor where a float was declared still runs, resolved once.
  at::Tensor t = at::randn({3});
  EXPECT_TRUE(at::allclose(gm.forward({x_in, t}).toTensor(), x_in * t));
  EXPECT_TRUE(at::allclose(gm.forward({x_in, t}).toTensor(), x_in * t));
  EXPECT_EQ(overload_resolutions(), before + 1);
}

TEST(MethodOverloads, AnUnknownMethodIsATypedErrorNamingTheNode) {
  auto make = [] {
    auto g = std::make_unique<Graph>();
    Node* x = g->placeholder("x");
    g->output(g->call_method("no_such_method", {x}));
    return g;
  };
  expect_error([&] { GraphModule(make(), Attributes{}); }, ErrorKind::kGraph,
               {"node 'no_such_method' (call_method no_such_method)",
                "there is no Tensor method 'no_such_method'"});
  EXPECT_THROW(GraphModule(make(), Attributes{}), GraphError);

  // Added after compiling: the Interpreter, which runs the graph as it is, names it too.
  auto gm = methods_module();
  Node* out = gm->graph().output_node();
  Node* bad;
  {
    auto at = gm->graph().inserting_before(out);
    bad = gm->graph().call_method("no_such_method", {out->args()[0]});
  }
  out->replace_input_with(out->args()[0].to_node(), bad);
  expect_error(
      [&] {
        Interpreter(*gm).run({at::randn({2}), at::randn({2})});
      },
      ErrorKind::kGraph, {"while executing node 'no_such_method'", "there is no Tensor method"});
  expect_error([&] { gm->recompile(); }, ErrorKind::kGraph,
               {"node 'no_such_method' (call_method no_such_method)"});
  // A call without a receiver.
  auto g = std::make_unique<Graph>();
  g->output(g->call_method("relu", {}));
  expect_error([&] { GraphModule(std::move(g), Attributes{}); }, ErrorKind::kGraph,
               {"node 'relu' (call_method relu)", "needs its receiver as args[0]"});
}

TEST(Lowering, DescribesWhatEachNodeDoes) {
  auto g = operators_graph();
  std::vector<LoweredNode> lowered;
  for (const Node* n : g->nodes()) lowered.push_back(lower_node(*n));
  using K = LoweredNode::Kind;
  // x, scale, w, b, k, mm, add, mul, topk, getitem, getitem_1, add_1, sum, view, cat, output
  std::vector<K> kinds;
  for (const auto& l : lowered) kinds.push_back(l.kind);
  EXPECT_EQ(kinds, (std::vector<K>{K::kPlaceholder, K::kPlaceholder, K::kGetAttr, K::kGetAttr,
                                   K::kGetAttr, K::kOperator, K::kOperator, K::kMethod,
                                   K::kOperator, K::kGetItem, K::kGetItem, K::kMethod, K::kOperator,
                                   K::kMethod, K::kOperator, K::kOutput}));
  EXPECT_FALSE(lowered[0].default_value.has_value());
  ASSERT_TRUE(lowered[1].default_value.has_value());
  EXPECT_EQ(lowered[1].default_value->toDouble(), 0.5);
  // aten::add.Tensor(self, other, *, alpha): the kwarg bound to its formal,
  // coerced from the int 2 to a Scalar.
  const LoweredNode& add = lowered[6];
  ASSERT_EQ(add.inputs.size(), 3u);
  EXPECT_EQ(add.inputs[0].kind, Operand::Kind::kNode);
  EXPECT_EQ(add.inputs[2].formal->name(), "alpha");
  EXPECT_EQ(add.inputs[2].constant.toScalar().toLong(), 2);
  // topk(self, k, dim=-1, largest=True, sorted=True): schema defaults filled in.
  const LoweredNode& topk = lowered[8];
  ASSERT_EQ(topk.inputs.size(), 5u);
  EXPECT_EQ(topk.inputs[3].arg, nullptr);
  EXPECT_TRUE(topk.inputs[3].constant.toBool());
  EXPECT_EQ(lowered[10].index, 1);
  // mul(add, scale) with scale a float: mul.Scalar; add(values, k) with k an int: add.Scalar.
  ASSERT_TRUE(lowered[7].method->static_overload());
  EXPECT_EQ(lowered[7].method->static_overload()->operator_name().overload_name, "Scalar");
  ASSERT_TRUE(lowered[11].method->static_overload());
  EXPECT_EQ(lowered[11].method->static_overload()->operator_name().overload_name, "Scalar");

  // An argument that does not fit the schema is an error naming the node.
  auto bad = std::make_unique<Graph>();
  Node* x = bad->placeholder("x");
  Node* sum = bad->call_function("aten::sum.dim_IntList", {x, Argument("rows")});
  expect_error([&] { lower_node(*sum); }, ErrorKind::kGraph,
               {"(call_function aten::sum.dim_IntList)", "argument 'dim'"});
  Node* unknown = bad->call_function("aten::no_such_op", {x});
  expect_error([&] { lower_node(*unknown); }, ErrorKind::kGraph,
               {"node 'no_such_op'", "no operator 'aten::no_such_op'"});
}

}  // namespace
}  // namespace fx
