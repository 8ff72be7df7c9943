// GraphModule as a torch::nn::Module: the module tree (parameters, buffers,
// intermediate modules), building from a root module or a name map, wrapped
// torch::nn modules, adding and deleting submodules, to/eval/train, state
// dicts through torch::save/torch::load, deepcopy and set_graph.
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/serialize.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/torch_modules.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::vector<std::string> keys(const torch::OrderedDict<std::string, at::Tensor>& d) {
  return d.keys();
}

std::vector<std::string> module_names(const GraphModule& gm) { return gm.named_modules().keys(); }

// Code that takes any LibTorch module.
int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// x * foo.bar.baz.w + foo.b, times the constant scale.
std::unique_ptr<GraphModule> nested_names_module(at::Tensor* w, at::Tensor* b) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=foo.bar.baz.w]
    %b : [#users=1] = get_attr[target=foo.b]
    %s : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %b), kwargs = {})
    %mul_1 : [#users=1] = call_function[target=aten::mul.Tensor](args = (%add, %s), kwargs = {})
    return mul_1)");
  *w = torch::randn({3}).requires_grad_();
  *b = torch::randn({3});
  Attributes attrs;
  attrs.values["foo.bar.baz.w"] = *w;
  attrs.values["foo.b"] = *b;
  attrs.values["scale"] = 2.5;
  attrs.values["unused"] = torch::ones({1});
  return std::make_unique<GraphModule>(std::move(g), attrs);
}

TEST(ModuleTree, NameMapBuildsIntermediatesAndKeepsParametersApartFromBuffers) {
  at::Tensor w, b;
  auto gm = nested_names_module(&w, &b);
  EXPECT_EQ(gm->name(), "GraphModule");
  EXPECT_EQ(keys(gm->named_parameters()), std::vector<std::string>{"foo.bar.baz.w"});
  EXPECT_EQ(keys(gm->named_buffers()), std::vector<std::string>{"foo.b"});
  EXPECT_EQ(module_names(*gm), (std::vector<std::string>{"", "foo", "foo.bar", "foo.bar.baz"}));
  EXPECT_EQ(gm->named_children().keys(), std::vector<std::string>{"foo"});
  EXPECT_EQ(gm->get_module("foo.bar")->name(), "Module");
  EXPECT_TRUE(gm->get_parameter("foo.bar.baz.w").is_same(w));
  EXPECT_TRUE(gm->get_buffer("foo.b").is_same(b));
  EXPECT_EQ(gm->get_attr("scale")->toDouble(), 2.5);
  EXPECT_EQ(gm->get_attr("unused"), nullptr);
  EXPECT_EQ(count_parameters(*gm), 3);
  at::Tensor x = torch::randn({3});
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), (x * w + b) * 2.5));

  // torch.fx's get_submodule/get_parameter/get_buffer errors.
  expect_error([&] { gm->get_module("foo.nope"); }, ErrorKind::kGraph,
               {"Module has no attribute `nope`"});
  expect_error([&] { gm->get_module("foo.b"); }, ErrorKind::kGraph, {"`b` is not an nn.Module"});
  expect_error([&] { gm->get_parameter("foo.b"); }, ErrorKind::kGraph,
               {"`b` is not an nn.Parameter"});
  expect_error([&] { gm->get_buffer("foo.bar.baz.w"); }, ErrorKind::kGraph,
               {"`w` is not a buffer"});
}

struct BlockImpl : torch::nn::Module {
  BlockImpl() : norm(register_module("norm", torch::nn::BatchNorm1d(3))) {
    register_parameter("unused_p", torch::randn({2}));
  }
  torch::nn::BatchNorm1d norm;
};
TORCH_MODULE(Block);

struct RootImpl : torch::nn::Module {
  RootImpl()
      : linear(register_module("linear", torch::nn::Linear(3, 3))),
        block(register_module("block", Block())) {
    register_buffer("offset", torch::randn({3}));
  }
  torch::nn::Linear linear;
  Block block;
};
TORCH_MODULE(Root);

TEST(ModuleTree, RootCopiesOnlyWhatTheGraphUsesWithTheHierarchyBetween) {
  Root root;
  root->block->norm->running_mean.normal_();
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=linear.weight]
    %m : [#users=1] = get_attr[target=block.norm.running_mean]
    %o : [#users=1] = get_attr[target=offset]
    %mm : [#users=1] = call_function[target=aten::matmul](args = (%x, %w), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mm, %m), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %o), kwargs = {})
    return add_1)");
  auto gm = make_graph_module(*root, std::move(g));
  EXPECT_EQ(gm->class_name(), "RootImpl");
  EXPECT_EQ(keys(gm->named_parameters()), std::vector<std::string>{"linear.weight"});
  EXPECT_EQ(keys(gm->named_buffers()),
            (std::vector<std::string>{"offset", "block.norm.running_mean"}));
  EXPECT_EQ(module_names(*gm), (std::vector<std::string>{"", "linear", "block", "block.norm"}));
  // The tensors are root's own (torch.fx shares them), not copies.
  EXPECT_TRUE(gm->get_parameter("linear.weight").is_same(root->linear->weight));
  EXPECT_TRUE(gm->get_buffer("block.norm.running_mean").is_same(root->block->norm->running_mean));
  at::Tensor x = torch::randn({2, 3});
  at::Tensor expected = x.matmul(root->linear->weight) + root->block->norm->running_mean +
                        root->named_buffers()["offset"];
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), expected));
}

// y = enc.linear(x) + 1, the Linear wrapped as a torch::nn module.
std::unique_ptr<GraphModule> wrapped_linear_module(torch::nn::Linear lin) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %enc_linear : [#users=1] = call_module[target=enc.linear](args = (%x,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%enc_linear, 1), kwargs = {})
    return add)");
  Attributes attrs;
  attrs.modules["enc.linear"] = wrap_module(lin);
  return std::make_unique<GraphModule>(std::move(g), attrs, "Encoder");
}

TEST(ModuleTree, WrappedTorchModuleWeightsAreReachable) {
  torch::nn::Linear lin(4, 5);
  auto gm = wrapped_linear_module(lin);
  EXPECT_EQ(gm->name(), "Encoder");
  EXPECT_TRUE(gm->get_parameter("enc.linear.weight").is_same(lin->weight));
  EXPECT_TRUE(gm->get_attr("enc.linear.bias")->toTensor().is_same(lin->bias));
  EXPECT_EQ(keys(gm->named_parameters()),
            (std::vector<std::string>{"enc.linear.weight", "enc.linear.bias"}));
  EXPECT_EQ(module_names(*gm), (std::vector<std::string>{"", "enc", "enc.linear"}));
  auto as_linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(gm->get_module("enc.linear"));
  ASSERT_TRUE(as_linear);
  EXPECT_EQ(as_linear.get(), lin.get());
  EXPECT_EQ(gm->get_submodule("enc.linear")->kind(), "torch::nn::LinearImpl");
  EXPECT_EQ(gm->get_submodule("enc"), nullptr);  // an intermediate, not callable
  at::Tensor x = torch::randn({2, 4});
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), lin(x) + 1));

  // eval()/train() reach the wrapped module.
  gm->eval();
  EXPECT_FALSE(lin->is_training());
  EXPECT_FALSE(gm->is_training());
  gm->train();
  EXPECT_TRUE(lin->is_training());

  // A get_attr into the wrapped module's weights works in a new GraphModule
  // given only the module.
  auto g = parse_graph(R"(graph():
    %w : [#users=1] = get_attr[target=lin.weight]
    return w)");
  Attributes attrs;
  attrs.modules["lin"] = wrap_module(lin);
  GraphModule gm2(std::move(g), attrs);
  EXPECT_TRUE(gm2.forward({}).toTensor().is_same(lin->weight));
}

TEST(ModuleTree, DeletedSubmoduleFailsForwardUntilTheGraphStopsUsingIt) {
  torch::nn::Linear lin(4, 5);
  auto gm = wrapped_linear_module(lin);
  at::Tensor x = torch::randn({2, 4});
  EXPECT_FALSE(gm->delete_submodule("enc.nothing"));
  EXPECT_FALSE(gm->delete_submodule("nothing.at.all"));
  ASSERT_TRUE(gm->delete_submodule("enc.linear"));
  EXPECT_EQ(gm->get_submodule("enc.linear"), nullptr);
  EXPECT_EQ(module_names(*gm), (std::vector<std::string>{"", "enc"}));
  expect_error([&] { gm->forward({x}); }, ErrorKind::kRuntime,
               {"enc.linear", "node 'enc_linear'", "deleted"});

  // Added back (another Linear), forward calls the new one.
  torch::nn::Linear other(4, 5);
  ASSERT_TRUE(gm->add_submodule("enc.linear", wrap_module(other)));
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), other(x) + 1));

  // Deleted again, then the graph stops using it: recompile, and it runs.
  ASSERT_TRUE(gm->delete_submodule("enc"));
  EXPECT_THROW(gm->forward({x}), Error);
  Graph& graph = gm->graph();
  Node* call = graph.find_nodes(Op::CallModule).at(0);
  Node* x_node = graph.find_nodes(Op::Placeholder).at(0);
  call->replace_all_uses_with(x_node);
  graph.erase_node(call);
  gm->recompile();
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), x + 1));
}

TEST(ModuleTree, AddSubmoduleCreatesIntermediatesAndRefusesValues) {
  at::Tensor w, b;
  auto gm = nested_names_module(&w, &b);
  torch::nn::Linear lin(3, 3);
  EXPECT_TRUE(gm->add_submodule("p.q.lin", wrap_module(lin)));
  EXPECT_EQ(gm->get_module("p.q")->name(), "Module");
  EXPECT_TRUE(gm->get_parameter("p.q.lin.weight").is_same(lin->weight));
  // A part of the path is a tensor or a constant: nothing changes.
  EXPECT_FALSE(gm->add_submodule("foo.b.lin", wrap_module(lin)));
  EXPECT_FALSE(gm->add_submodule("scale", wrap_module(lin)));
  EXPECT_FALSE(gm->add_submodule("foo.b", wrap_module(lin)));
  EXPECT_FALSE(gm->add_submodule("x", nullptr));
  EXPECT_TRUE(gm->get_buffer("foo.b").is_same(b));
}

TEST(ModuleTree, ANameMapWithModulesInsideModules) {
  // The graph names the inner module and a tensor under `a` before `a`.
  auto g = parse_graph(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %a_b : [#users=1] = call_module[target=a.b](args = (%x,), kwargs = {})
    %w : [#users=1] = get_attr[target=a.w]
    %a : [#users=1] = call_module[target=a](args = (%x,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a_b, %w), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %a), kwargs = {})
    return add_1)");
  auto outer = make_module("Outer", [](std::vector<c10::IValue> a, const IValueKwargs&) {
    return c10::IValue(a[0].toTensor() * 2);
  });
  auto inner = make_module("Inner", [](std::vector<c10::IValue> a, const IValueKwargs&) {
    return c10::IValue(a[0].toTensor() - 1);
  });
  at::Tensor w = torch::randn({3});
  Attributes attrs;
  attrs.modules["a"] = outer;
  attrs.modules["a.b"] = inner;
  attrs.values["a.w"] = w;
  GraphModule gm(std::move(g), attrs);
  EXPECT_EQ(gm.get_submodule("a"), outer);
  EXPECT_EQ(gm.get_submodule("a.b"), inner);
  EXPECT_TRUE(gm.get_buffer("a.w").is_same(w));
  EXPECT_EQ(gm.get_module("a")->name(), "Outer");
  at::Tensor x = torch::randn({3});
  EXPECT_TRUE(at::allclose(gm.forward({x}).toTensor(), (x - 1) + w + x * 2));
  // The flat view rebuilds the same module.
  Attributes flat = gm.attributes();
  EXPECT_EQ(flat.modules.size(), 2u);
  EXPECT_EQ(flat.values.count("a.w"), 1u);
  GraphModule again(gm.graph().clone(), flat);
  EXPECT_TRUE(at::allclose(again.forward({x}).toTensor(), gm.forward({x}).toTensor()));
}

TEST(ModuleTree, DeleteAllUnusedSubmodulesKeepsWhatTargetsGoThrough) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %a_b : [#users=1] = call_module[target=a.b](args = (%x,), kwargs = {})
    %w : [#users=1] = get_attr[target=f.g.w]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%a_b, %w), kwargs = {})
    return add)");
  Attributes attrs;
  attrs.modules["a.b"] = wrap_module(torch::nn::Linear(3, 3));
  attrs.values["f.g.w"] = torch::randn({3});
  GraphModule gm(std::move(g), attrs);
  ASSERT_TRUE(gm.add_submodule("c", wrap_module(torch::nn::Linear(3, 3))));
  ASSERT_TRUE(gm.add_submodule("a.unused", wrap_module(torch::nn::Linear(3, 3))));
  ASSERT_TRUE(gm.add_submodule("f.h.i", wrap_module(torch::nn::Linear(3, 3))));
  gm.set_attr("a.b.extra", torch::zeros({1}));  // inside a called module: stays
  gm.delete_all_unused_submodules();
  EXPECT_EQ(module_names(gm), (std::vector<std::string>{"", "a", "a.b", "f", "f.g"}));
  EXPECT_NE(gm.get_attr("a.b.extra"), nullptr);
  at::Tensor x = torch::randn({3});
  EXPECT_EQ(gm.forward({x}).toTensor().sizes(), at::IntArrayRef({3}));
}

TEST(ModuleTree, ToDtypeMovesEveryTensorAndForwardFollows) {
  torch::nn::Linear lin(4, 5);
  auto gm = wrapped_linear_module(lin);
  gm->to(torch::kDouble);
  EXPECT_EQ(lin->weight.scalar_type(), torch::kDouble);
  at::Tensor x = torch::randn({2, 4}, torch::kDouble);
  at::Tensor y = gm->forward({x}).toTensor();
  EXPECT_EQ(y.scalar_type(), torch::kDouble);
  EXPECT_TRUE(at::allclose(y, lin(x) + 1));

  at::Tensor w, b;
  auto gm2 = nested_names_module(&w, &b);
  gm2->to(torch::kDouble);
  EXPECT_EQ(gm2->get_parameter("foo.bar.baz.w").scalar_type(), torch::kDouble);
  EXPECT_EQ(gm2->get_buffer("foo.b").scalar_type(), torch::kDouble);
  at::Tensor xd = torch::randn({3}, torch::kDouble);
  EXPECT_EQ(gm2->forward({xd}).toTensor().scalar_type(), torch::kDouble);
  if (torch::cuda::is_available()) {
    gm2->to(torch::Device(torch::kCUDA));
    EXPECT_TRUE(gm2->get_buffer("foo.b").is_cuda());
    EXPECT_TRUE(gm2->forward({xd.cuda()}).toTensor().is_cuda());
  }
}

TEST(ModuleTree, StateDictRoundTripsThroughTorchSaveAndLoad) {
  torch::nn::Linear lin(4, 5);
  std::shared_ptr<GraphModule> gm = wrapped_linear_module(lin);
  gm->set_attr("enc.scale", torch::randn({5}));  // a buffer of an intermediate
  char path[] = "/tmp/fx_state_dict_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  torch::save(gm, path);

  torch::nn::Linear other(4, 5);
  std::shared_ptr<GraphModule> gm2 = wrapped_linear_module(other);
  gm2->set_attr("enc.scale", torch::zeros({5}));
  at::Tensor x = torch::randn({3, 4});
  EXPECT_FALSE(at::allclose(gm2->forward({x}).toTensor(), gm->forward({x}).toTensor()));
  torch::load(gm2, path);
  std::remove(path);
  EXPECT_TRUE(at::equal(other->weight, lin->weight));
  EXPECT_TRUE(at::equal(gm2->get_buffer("enc.scale"), gm->get_buffer("enc.scale")));
  EXPECT_TRUE(at::allclose(gm2->forward({x}).toTensor(), gm->forward({x}).toTensor()));

  // state_dict / load_state_dict.
  auto state = gm->state_dict();
  std::vector<std::string> names;
  for (const auto& kv : state) names.push_back(kv.first);
  EXPECT_EQ(names, (std::vector<std::string>{"enc.linear.bias", "enc.linear.weight", "enc.scale"}));
  torch::nn::Linear third(4, 5);
  auto gm3 = wrapped_linear_module(third);
  gm3->set_attr("enc.scale", torch::zeros({5}));
  gm3->load_state_dict(state);
  EXPECT_TRUE(at::equal(third->bias, lin->bias));
  state.erase("enc.scale");
  expect_error([&] { gm3->load_state_dict(state); }, ErrorKind::kGraph,
               {"missing keys [enc.scale]"});
}

TEST(ModuleTree, DeepcopyHasNewTensorsTheSameGraphAndCode) {
  torch::nn::Linear lin(4, 5);
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %lin : [#users=1] = call_module[target=lin](args = (%x,), kwargs = {})
    %a : [#users=1] = get_attr[target=p.a]
    %b : [#users=1] = get_attr[target=q.b]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%lin, %a), kwargs = {})
    %add_1 : [#users=1] = call_function[target=aten::add.Tensor](args = (%add, %b), kwargs = {})
    return add_1)");
  at::Tensor tied = torch::randn({5});
  Attributes attrs;
  attrs.modules["lin"] = wrap_module(lin);
  attrs.values["p.a"] = tied;
  attrs.values["q.b"] = tied;
  GraphModule gm(std::move(g), attrs, "Tied");
  gm.eval();
  std::unique_ptr<GraphModule> copy = gm.deepcopy();
  EXPECT_EQ(copy->class_name(), "Tied");
  EXPECT_EQ(copy->graph().str(), gm.graph().str());
  EXPECT_EQ(copy->code(), gm.code());
  EXPECT_FALSE(copy->is_training());
  EXPECT_FALSE(copy->get_module("lin")->is_training());
  EXPECT_EQ(copy->graph().owning_module(), copy.get());
  // New tensors with the same values; ties kept.
  EXPECT_FALSE(copy->get_parameter("lin.weight").is_same(lin->weight));
  EXPECT_TRUE(at::equal(copy->get_parameter("lin.weight"), lin->weight));
  EXPECT_FALSE(copy->get_buffer("p.a").is_same(tied));
  EXPECT_TRUE(copy->get_buffer("p.a").is_same(copy->get_buffer("q.b")));
  at::Tensor x = torch::randn({2, 4});
  EXPECT_TRUE(at::allclose(copy->forward({x}).toTensor(), gm.forward({x}).toTensor()));
  // Independent: changing the copy leaves the original alone.
  {
    torch::NoGradGuard no_grad;
    copy->get_parameter("lin.weight").zero_();
  }
  EXPECT_FALSE(at::allclose(copy->forward({x}).toTensor(), gm.forward({x}).toTensor()));
  EXPECT_TRUE(at::allclose(gm.forward({x}).toTensor(), lin(x) + tied + tied));
  // LibTorch's clone gives the same.
  auto cloned = std::dynamic_pointer_cast<GraphModule>(gm.clone());
  ASSERT_TRUE(cloned);
  EXPECT_TRUE(at::allclose(cloned->forward({x}).toTensor(), gm.forward({x}).toTensor()));
}

TEST(ModuleTree, SetGraphReplacesTheGraphAndRecompiles) {
  at::Tensor w, b;
  auto gm = nested_names_module(&w, &b);
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %b : [#users=1] = get_attr[target=foo.b]
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%x, %b), kwargs = {})
    return sub)");
  Graph* raw = g.get();
  gm->set_graph(std::move(g));
  EXPECT_EQ(&gm->graph(), raw);
  EXPECT_EQ(raw->owning_module(), gm.get());
  at::Tensor x = torch::randn({3});
  EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), x - b));
  EXPECT_NE(gm->code().find("sub"), std::string::npos);
  // A graph that refers to what the module lacks is refused.
  auto bad = parse_graph(R"(graph():
    %w : [#users=1] = get_attr[target=nope]
    return w)");
  EXPECT_THROW(gm->set_graph(std::move(bad)), Error);
}

}  // namespace
}  // namespace fx
