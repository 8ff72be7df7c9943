// symbolic_trace of LibTorch C++ code: graphs, numerics against eager,
// parameters and buffers, in-place ops and views, wrap, leaf modules,
// concrete inputs, meta inputs, and every TraceError.
#include "capture/tracer.h"
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ir/error.h"
#include "runtime/interpreter.h"
#include "runtime/torch_modules.h"
#include "tests/expect_error.h"
#include "tests/fx_doc_example.h"

namespace fx {
namespace {

using testing_support::expect_error;
using testing_support::MyModule;  // torch.fx's documentation example

TracedFn forward_of(MyModule& m) {
  return [m](std::vector<c10::IValue> in) mutable {
    return c10::IValue(m->forward(in[0].toTensor()));
  };
}

TEST(Trace, FxDocumentationExample) {
  MyModule m;
  auto gm = symbolic_trace(*m, forward_of(m), {torch::randn({3, 4})});
  // The C++ frontend's Linear calls addmm(bias, x, weight.t()) itself.
  EXPECT_EQ(gm->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %param : [#users=1] = get_attr[target=param]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %param), kwargs = {})
    %linear_weight : [#users=1] = get_attr[target=linear.weight]
    %t : [#users=1] = call_function[target=aten::t](args = (%linear_weight,), kwargs = {})
    %linear_bias : [#users=1] = get_attr[target=linear.bias]
    %addmm : [#users=1] = call_function[target=aten::addmm](args = (%linear_bias, %add, %t), kwargs = {})
    %clamp : [#users=1] = call_function[target=aten::clamp](args = (%addmm, 0.0, 1.0), kwargs = {})
    return clamp)");
  EXPECT_EQ(gm->class_name(), "MyModuleImpl");
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor x = torch::randn({3, 4});
    EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), m->forward(x)));
  }
  const TensorMeta* tm =
      gm->graph().find_nodes(Op::CallFunction, std::string("aten::addmm"))[0]->tensor_meta();
  ASSERT_NE(tm, nullptr);
  EXPECT_EQ(tm->shape, (std::vector<int64_t>{3, 5}));
}

struct Block : torch::nn::Module {
  Block() {
    seq = register_module("seq", torch::nn::Sequential(torch::nn::Linear(8, 16), torch::nn::GELU(),
                                                       torch::nn::Linear(16, 8)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({8})));
    bn = register_module("bn", torch::nn::BatchNorm1d(8));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor h = x + seq->forward(norm(x));
    h = bn(h.reshape({-1, 8})).view_as(x);
    auto parts = h.chunk(2, -1);
    torch::Tensor y = torch::cat({parts[1], parts[0]}, -1);
    y.mul_(0.5).relu_();
    return torch::softmax(y.transpose(0, 1), -1) + torch::zeros({1}, x.options());
  }
  torch::nn::Sequential seq{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

TEST(Trace, SequentialNormsInPlaceViewsAndBuffers) {
  auto block = std::make_shared<Block>();
  block->train();  // BatchNorm updates its running stats in place
  torch::Tensor mean_before = block->bn->running_mean.clone();
  int64_t batches_before = block->bn->num_batches_tracked.item<int64_t>();
  auto fn = [block](std::vector<c10::IValue> in) {
    return c10::IValue(block->forward(in[0].toTensor()));
  };
  auto gm = symbolic_trace(*block, fn, {torch::randn({4, 3, 8})});
  // Tracing did not touch the module's state.
  EXPECT_TRUE(torch::equal(block->bn->running_mean, mean_before));
  EXPECT_EQ(block->bn->num_batches_tracked.item<int64_t>(), batches_before);
  EXPECT_FALSE(gm->graph().find_nodes(Op::CallFunction, std::string("aten::mul_.Scalar")).empty());
  EXPECT_FALSE(gm->graph().find_nodes(Op::GetAttr, std::string("seq.0.weight")).empty());
  EXPECT_FALSE(gm->graph().find_nodes(Op::GetAttr, std::string("bn.running_mean")).empty());
  gm->graph().lint();
  // Eval mode: the traced graph equals eager on fresh inputs.
  block->eval();
  auto gm_eval = symbolic_trace(*block, fn, {torch::randn({4, 3, 8})});
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor x = torch::randn({4, 3, 8});
    EXPECT_TRUE(torch::allclose((*gm_eval)(x).toTensor(), block->forward(x), 1e-5, 1e-6));
  }
  // Running the training-mode graph updates the buffers, as eager does.
  block->train();
  torch::Tensor x = torch::randn({4, 3, 8});
  auto twin = std::make_shared<Block>();
  torch::manual_seed(0);
  {
    torch::NoGradGuard ng;
    for (auto& p : twin->named_parameters()) p.value().copy_(block->named_parameters()[p.key()]);
    for (auto& b : twin->named_buffers()) b.value().copy_(block->named_buffers()[b.key()]);
  }
  twin->train();
  torch::Tensor eager = twin->forward(x);
  torch::Tensor traced = (*gm)(x).toTensor();
  EXPECT_TRUE(torch::allclose(traced, eager, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(block->bn->running_mean, twin->bn->running_mean));
}

TEST(Trace, FreeFunctionsConstantsAndMultipleOutputs) {
  torch::Tensor table = torch::arange(6, torch::kFloat);
  auto fn = [table](std::vector<c10::IValue> in) {
    torch::Tensor x = in[0].toTensor();
    auto [values, indices] = torch::topk(x * table, 2);
    return c10::IValue(c10::ivalue::Tuple::create({values, indices.to(torch::kFloat) + 1}));
  };
  auto gm = symbolic_trace(fn, {torch::randn({3, 6})});
  EXPECT_FALSE(gm->graph().find_nodes(Op::GetAttr, std::string("_tensor_constant0")).empty());
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, std::string("getitem")).size(), 2u);
  torch::Tensor x = torch::randn({3, 6});
  c10::IValue got = (*gm)(x);
  c10::IValue want = fn({x});
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(torch::equal(got.toTupleRef().elements()[i].toTensor(),
                             want.toTupleRef().elements()[i].toTensor()));
}

TEST(Trace, MetaInputsAndConcreteArguments) {
  auto fn = [](std::vector<c10::IValue> in) {
    torch::Tensor x = in[0].toTensor();
    int64_t k = in[1].toInt();
    return c10::IValue(x.view({x.size(0), -1}).sum(1) * static_cast<double>(k));
  };
  auto gm = symbolic_trace(fn, {torch::empty({2, 3, 4}, torch::kMeta), int64_t{3}});
  // torch.fx names a concrete argument's placeholder `<name>_1` and asserts
  // its value.
  EXPECT_NE(gm->graph().str().find("%x_1_1 : [#users=1] = placeholder[target=x_1_1](default=3)"),
            std::string::npos)
      << gm->graph().str();
  EXPECT_NE(gm->graph().str().find("call_function[target=_assert_specialized](args = (%x_1_1, "
                                   "3, x_1), kwargs = {})"),
            std::string::npos)
      << gm->graph().str();
  torch::Tensor x = torch::randn({2, 3, 4});
  EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), x.view({2, -1}).sum(1) * 3.0));
}

TEST(Trace, ABakedInInputIsCheckedOnEveryCall) {
  auto fn = [](std::vector<c10::IValue> in) {
    return c10::IValue(in[0].toTensor() * static_cast<double>(in[1].toInt()));
  };
  auto gm = symbolic_trace(fn, {torch::randn({4}), int64_t{3}});
  torch::Tensor x = torch::randn({4});
  EXPECT_TRUE(torch::allclose(gm->forward({x, int64_t{3}}).toTensor(), x * 3.0));
  expect_error([&] { gm->forward({x, int64_t{4}}); }, ErrorKind::kRuntime,
               {"input 'x_1' has been specialized to have value 3 but got another value: 4"});
  // Dead code elimination keeps the check.
  EXPECT_FALSE(gm->graph().eliminate_dead_code());
  // A list of ints is checked the same way.
  auto fs = [](std::vector<c10::IValue> in) {
    return c10::IValue(in[0].toTensor().view(in[1].toIntVector()));
  };
  auto gs = symbolic_trace(fs, {torch::randn({6}), c10::IValue(std::vector<int64_t>{2, 3})});
  EXPECT_EQ(
      gs->forward({torch::randn({6}), c10::IValue(std::vector<int64_t>{2, 3})}).toTensor().sizes(),
      torch::IntArrayRef({2, 3}));
  EXPECT_THROW(gs->forward({torch::randn({6}), c10::IValue(std::vector<int64_t>{3, 2})}), Error);
}

TEST(Trace, ListsAndTuplesOfTensorsAreFlattenedIntoPlaceholders) {
  auto fn = [](std::vector<c10::IValue> in) {
    std::vector<torch::Tensor> xs = in[0].toTensorVector();
    const auto& pair = in[1].toTupleRef().elements();
    std::vector<torch::Tensor> inner = pair[1].toTensorVector();
    return c10::IValue(xs[0] * xs[1] + pair[0].toTensor() - inner[0] * inner[1]);
  };
  std::vector<torch::Tensor> xs = {torch::randn({3}), torch::randn({3})};
  auto pair = c10::ivalue::Tuple::create(
      {torch::randn({3}), c10::List<torch::Tensor>({torch::randn({3}), torch::randn({3})})});
  auto gm = symbolic_trace(fn, {c10::List<torch::Tensor>(xs), pair});
  std::vector<std::string> placeholders;
  for (Node* n : gm->graph().find_nodes(Op::Placeholder)) placeholders.push_back(n->name());
  EXPECT_EQ(placeholders, (std::vector<std::string>{"x_1", "x_2", "x_1_1", "x_1_2", "x_1_3"}));
  // forward takes the same structure and flattens it again.
  std::vector<torch::Tensor> ys = {torch::randn({3}), torch::randn({3})};
  auto qair = c10::ivalue::Tuple::create(
      {torch::randn({3}), c10::List<torch::Tensor>({torch::randn({3}), torch::randn({3})})});
  torch::Tensor got = gm->forward({c10::List<torch::Tensor>(ys), qair}).toTensor();
  EXPECT_TRUE(torch::allclose(got, fn({c10::List<torch::Tensor>(ys), qair}).toTensor()));
  // Another structure is an error naming the input.
  expect_error([&] { gm->forward({c10::List<torch::Tensor>({ys[0]}), qair}); },
               ErrorKind::kRuntime, {"input 0 should be a list of 2 elements"});
}

TEST(TraceErrors, AnInputFxCannotFlattenSaysWhichAndWhy) {
  auto fn = [](std::vector<c10::IValue> in) { return in[0]; };
  c10::impl::GenericList mixed(c10::AnyType::get());
  mixed.push_back(torch::randn({2}));
  mixed.push_back(int64_t{3});
  expect_error([&] { symbolic_trace(fn, {torch::randn({2}), mixed}); }, ErrorKind::kTrace,
               {"example input 1 ('x_1') cannot be flattened: x_1[1] is a Int"});
  c10::Dict<std::string, torch::Tensor> dict;
  dict.insert("a", torch::randn({2}));
  expect_error([&] { symbolic_trace(fn, {c10::IValue(dict)}); }, ErrorKind::kTrace,
               {"example input 0 ('x') is a Dict"});
}

TEST(Trace, WrapAndLeafModules) {
  static auto my_gelu = wrap("test_trace_gelu", [](std::vector<c10::IValue> a) {
    torch::Tensor x = a[0].toTensor();
    return c10::IValue(x * torch::sigmoid(1.702 * x));
  });
  auto leaf = make_module("Scale", [](std::vector<c10::IValue> a, const IValueKwargs&) {
    return c10::IValue(a[0].toTensor() * 3);
  });
  auto fn = [leaf](std::vector<c10::IValue> in) {
    torch::Tensor h = my_gelu({in[0]}).toTensor();
    return call_leaf("head.scale", leaf, {h.abs()});
  };
  auto gm = symbolic_trace(fn, {torch::randn({5})});
  EXPECT_EQ(gm->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %test_trace_gelu : [#users=1] = call_function[target=test_trace_gelu](args = (%x,), kwargs = {})
    %abs_1 : [#users=1] = call_function[target=aten::abs](args = (%test_trace_gelu,), kwargs = {})
    %head_scale : [#users=1] = call_module[target=head.scale](args = (%abs_1,), kwargs = {})
    return head_scale)");
  torch::Tensor x = torch::randn({5});
  EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), fn({x}).toTensor()));

  // Re-tracing the GraphModule keeps the wrapped function and the leaf
  // module as one node each, as the first trace did.
  GraphModule* first = gm.get();
  auto again = symbolic_trace([first](std::vector<c10::IValue> in) { return first->forward(in); },
                              {torch::randn({5})});
  EXPECT_EQ(again->graph().str(), gm->graph().str());
  EXPECT_EQ(again->get_submodule("head.scale"), leaf);
  EXPECT_TRUE(torch::allclose((*again)(x).toTensor(), fn({x}).toTensor()));
  // So does tracing it as a root module.
  auto as_root =
      symbolic_trace(*first, [first](std::vector<c10::IValue> in) { return first->forward(in); },
                     {torch::randn({5})});
  EXPECT_EQ(as_root->graph().str(), gm->graph().str());
}

// A Tracer subclass changes what is recorded without touching fx: here every
// node gets a tag, and parameters are recorded under a prefix.
class TaggingTracer : public Tracer {
 public:
  using Tracer::Tracer;
  Node* create_node(Op op, const std::string& target, Args args, Kwargs kwargs,
                    const std::optional<std::string>& name) override {
    Node* n = Tracer::create_node(op, target, std::move(args), std::move(kwargs), name);
    n->meta().set("tag", std::string("traced"));
    ++created;
    return n;
  }
  std::string qualified_name_of(const at::Tensor& t) override {
    std::string name = Tracer::qualified_name_of(t);
    return name.empty() ? name : "model." + name;
  }
  int created = 0;
};

TEST(Trace, TracerHooksAndInputNames) {
  MyModule m;
  TraceOptions options;
  options.input_names = {"features"};
  TaggingTracer tracer(options);
  auto graph = tracer.trace(forward_of(m), {torch::randn({3, 4})}, m.get());
  EXPECT_GT(tracer.created, 5);
  EXPECT_EQ(graph->find_nodes(Op::Placeholder)[0]->name(), "features");
  EXPECT_FALSE(graph->find_nodes(Op::GetAttr, std::string("model.linear.weight")).empty());
  for (Node* n : graph->nodes()) {
    if (n->op() != Op::Placeholder && n->op() != Op::Output) {
      EXPECT_NE(n->meta().get<std::string>("tag"), nullptr) << n->name();
    }
  }
  GraphModule gm(std::move(graph), tracer.attributes());
  torch::Tensor x = torch::randn({3, 4});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(gm(x).toTensor(), m->forward(x)));
}

std::string trace_error(const TracedFn& fn, std::vector<c10::IValue> inputs) {
  return expect_error([&] { symbolic_trace(fn, inputs); }, ErrorKind::kTrace);
}

TEST(TraceErrors, DataDependentCode) {
  std::string msg = trace_error(
      [](std::vector<c10::IValue> in) {
        torch::Tensor s = in[0].toTensor().sum();
        if (s.item<float>() > 0) return c10::IValue(s);
        return c10::IValue(-s);
      },
      {torch::randn({3})});
  EXPECT_NE(msg.find("reads the data of a traced value (node 'sum_1' (call_function aten::sum))"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("fx::wrap"), std::string::npos);

  msg = trace_error(
      [](std::vector<c10::IValue> in) { return c10::IValue(in[0].toTensor().nonzero()); },
      {torch::randn({3})});
  EXPECT_NE(msg.find("aten::nonzero has an output shape that depends on data"), std::string::npos)
      << msg;

  msg = trace_error(
      [](std::vector<c10::IValue> in) {
        float first = in[0].toTensor().data_ptr<float>()[0];
        return c10::IValue(in[0].toTensor() * first);
      },
      {torch::randn({3})});
  EXPECT_NE(msg.find("read a tensor's data directly"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fx

namespace fx {
namespace {

// A GraphModule's forward calls operators through the dispatcher, so it can
// itself be traced: the re-traced graph is the same program.
TEST(Trace, RetracingAGraphModule) {
  MyModule m;
  auto gm = symbolic_trace(*m, forward_of(m), {torch::randn({3, 4})});
  GraphModule* first = gm.get();
  auto again = symbolic_trace([first](std::vector<c10::IValue> in) { return first->forward(in); },
                              {torch::randn({3, 4})});
  std::string a = gm->graph().str(), b = again->graph().str();
  // Attribute names differ (constants in the second trace), the operators do not.
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction).size(),
            again->graph().find_nodes(Op::CallFunction).size());
  for (size_t i = 0; i < gm->graph().find_nodes(Op::CallFunction).size(); ++i)
    EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction)[i]->target(),
              again->graph().find_nodes(Op::CallFunction)[i]->target());
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose((*again)(x).toTensor(), m->forward(x)));
}

}  // namespace
}  // namespace fx

// A TorchScript custom class holding tensors: the C++ analog of a torch.fx
// ProxyableClassMeta class.
struct ScaledPair : torch::CustomClassHolder {
  ScaledPair(at::Tensor a, at::Tensor b, double scale)
      : a(std::move(a)), b(std::move(b)), scale(scale) {}
  at::Tensor combine() { return (a + b) * scale; }
  std::tuple<at::Tensor, at::Tensor> parts(at::Tensor shift) { return {a + shift, b - shift}; }
  at::Tensor a, b;
  double scale;
};

TORCH_LIBRARY(fx_trace_test, m) {
  m.class_<ScaledPair>("ScaledPair")
      .def(torch::init<at::Tensor, at::Tensor, double>())
      .def("combine", &ScaledPair::combine)
      .def("parts", &ScaledPair::parts);
}

namespace fx {
namespace {

TEST(Trace, RegisteredClassesAreRecordedAsOneNodeEach) {
  auto fn = [](std::vector<c10::IValue> in) {
    c10::IValue pair = make_object("fx_trace_test.ScaledPair", {in[0], in[1], 2.0});
    torch::Tensor c = call_object_method(pair, "combine", {}).toTensor();
    auto parts = call_object_method(pair, "parts", {c});
    return c10::IValue(parts.toTupleRef().elements()[0].toTensor() *
                       parts.toTupleRef().elements()[1].toTensor());
  };
  auto gm = symbolic_trace(fn, {torch::randn({4}), torch::randn({4})});
  EXPECT_EQ(gm->graph().str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %x_1 : [#users=1] = placeholder[target=x_1]
    %scaled_pair : [#users=2] = call_function[target=__torch__.torch.classes.fx_trace_test.ScaledPair](args = (%x, %x_1, 2.0), kwargs = {})
    %combine : [#users=1] = call_method[target=combine](args = (%scaled_pair,), kwargs = {})
    %parts : [#users=2] = call_method[target=parts](args = (%scaled_pair, %combine), kwargs = {})
    %getitem : [#users=1] = call_function[target=getitem](args = (%parts, 0), kwargs = {})
    %getitem_1 : [#users=1] = call_function[target=getitem](args = (%parts, 1), kwargs = {})
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%getitem, %getitem_1), kwargs = {})
    return mul)");
  EXPECT_NE(gm->code().find("c10::IValue combine = call_method(scaled_pair, \"combine\", {});"),
            std::string::npos)
      << gm->code();
  torch::Tensor x = torch::randn({4}), y = torch::randn({4});
  EXPECT_TRUE(torch::allclose((*gm)(x, y).toTensor(), fn({x, y}).toTensor()));
  EXPECT_TRUE(torch::allclose(Interpreter(*gm).run({x, y}).toTensor(), fn({x, y}).toTensor()));
  // An object made outside the trace cannot be used inside it.
  c10::IValue outside = make_object("fx_trace_test.ScaledPair", {x, y, 1.0});
  EXPECT_THROW(symbolic_trace(
                   [outside](std::vector<c10::IValue>) {
                     return call_object_method(outside, "combine", {});
                   },
                   {x}),
               TraceError);
  EXPECT_THROW(make_object("fx_trace_test.Nope", {}), Error);
}

}  // namespace
}  // namespace fx
