// Saving GraphModules that hold wrapped torch::nn modules: their tensors and
// kind go through the serializer registry; an unregistered kind is named.
#include "serialize/torch_module_serializer.h"

#include "serialize/serialize.h"
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/torch_modules.h"
#include "tests/expect_error.h"
#include "tests/saved_files.h"

namespace fx {
namespace {

using testing_support::expect_error;

struct TempFile : saved_files::TempFile {
  TempFile() : saved_files::TempFile("fx_torch_module_", "") {}
};

// y = norm(lin(x)) + 1: a Linear and a BatchNorm1d (which has buffers).
std::unique_ptr<GraphModule> make_model(torch::nn::Linear lin, torch::nn::BatchNorm1d norm) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %lin : [#users=1] = call_module[target=block.lin](args = (%x,), kwargs = {})
    %norm : [#users=1] = call_module[target=block.norm](args = (%lin,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%norm, 1), kwargs = {})
    return add)");
  Attributes attrs;
  attrs.modules["block.lin"] = wrap_module(lin);
  attrs.modules["block.norm"] = wrap_module(norm);
  return std::make_unique<GraphModule>(std::move(g), attrs, "Model");
}

TEST(SerializeTorchModules, AnUnregisteredKindIsNamedOnSave) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %n : [#users=1] = call_module[target=n](args = (%x,), kwargs = {})
    return n)");
  Attributes attrs;
  attrs.modules["n"] = std::make_shared<TorchModule>(
      std::make_shared<torch::nn::Module>("my::UnsavedImpl"),
      [](torch::nn::Module&, std::vector<c10::IValue> a, const IValueKwargs&) { return a[0]; });
  GraphModule gm(std::move(g), attrs);
  TempFile file;
  expect_error([&] { save(gm, file.path()); }, ErrorKind::kGraph,
               {"submodule 'n' is a my::UnsavedImpl"});
}

TEST(SerializeTorchModules, ParametersBuffersAndKindRoundTrip) {
  register_torch_module_kind("torch::nn::LinearImpl", [](const auto& state) {
    const at::Tensor& w = state.at("weight");
    return wrap_module(torch::nn::Linear(w.size(1), w.size(0)));
  });
  register_torch_module_kind("torch::nn::BatchNorm1dImpl", [](const auto& state) {
    return wrap_module(torch::nn::BatchNorm1d(state.at("weight").size(0)));
  });
  torch::nn::Linear lin(4, 3);
  torch::nn::BatchNorm1d norm(3);
  {
    torch::NoGradGuard no_grad;
    norm->running_mean.normal_();
    norm->running_var.uniform_(0.5, 2.0);
    norm->weight.normal_();
  }
  auto gm = make_model(lin, norm);
  gm->eval();
  TempFile file;
  save(*gm, file.path());
  auto loaded = load(file.path());
  loaded->eval();
  auto lin2 = std::dynamic_pointer_cast<torch::nn::LinearImpl>(loaded->get_module("block.lin"));
  ASSERT_TRUE(lin2);
  EXPECT_NE(lin2.get(), lin.get());
  EXPECT_TRUE(at::equal(lin2->weight, lin->weight));
  EXPECT_TRUE(at::equal(loaded->get_buffer("block.norm.running_var"), norm->running_var));
  EXPECT_EQ(loaded->get_submodule("block.norm")->kind(), "torch::nn::BatchNorm1dImpl");
  at::Tensor x = torch::randn({5, 4});
  EXPECT_TRUE(at::allclose(loaded->forward({x}).toTensor(), gm->forward({x}).toTensor()));

  // A factory that makes a module of other shapes is refused, naming the tensor.
  register_torch_module_kind("torch::nn::LinearImpl",
                             [](const auto&) { return wrap_module(torch::nn::Linear(2, 2)); });
  expect_error([&] { load(file.path()); }, ErrorKind::kParse,
               {"LinearImpl's 'bias' has shape [3] but the new one's has [2]"});
}

}  // namespace
}  // namespace fx
