// shape_prop: tensor metadata on every node, on real and on meta inputs.
#include "runtime/shape_prop.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::unique_ptr<GraphModule> make_module() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %conv : [#users=1] = call_function[target=aten::conv2d](args = (%x, %w), kwargs = {padding: [1, 1]})
    %half : [#users=1] = call_function[target=aten::to.dtype](args = (%conv, torch.float16), kwargs = {})
    %t : [#users=1] = call_function[target=aten::transpose.int](args = (%half, 2, 3), kwargs = {})
    %chunk : [#users=2] = call_function[target=aten::chunk](args = (%t, 2, 1), kwargs = {})
    %first : [#users=1] = call_function[target=getitem](args = (%chunk, 0), kwargs = {})
    %size : [#users=0] = call_function[target=aten::size.int](args = (%first, 0), kwargs = {})
    return (first, chunk))");
  Attributes attrs;
  attrs.values["w"] = at::randn({8, 3, 3, 3});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs));
}

void check_meta(GraphModule& gm, c10::Device device) {
  auto node = [&](const std::string& name) -> const Node* {
    for (const Node* n : gm.graph().nodes())
      if (n->name() == name) return n;
    return nullptr;
  };
  const TensorMeta* conv = node("conv")->tensor_meta();
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->shape, (std::vector<int64_t>{2, 8, 5, 6}));
  EXPECT_EQ(conv->stride, (std::vector<int64_t>{240, 30, 6, 1}));
  EXPECT_EQ(conv->dtype, at::kFloat);
  EXPECT_EQ(conv->device, device);
  EXPECT_EQ(conv->memory_format, c10::MemoryFormat::Contiguous);
  const TensorMeta* t = node("t")->tensor_meta();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 8, 6, 5}));
  EXPECT_EQ(t->stride, (std::vector<int64_t>{240, 30, 1, 6}));
  EXPECT_EQ(t->dtype, at::kHalf);
  EXPECT_FALSE(t->memory_format.has_value());
  const auto* chunks = node("chunk")->meta().get<std::vector<TensorMeta>>("tensor_meta");
  ASSERT_NE(chunks, nullptr);
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[1].shape, (std::vector<int64_t>{2, 4, 6, 5}));
  EXPECT_EQ(*node("size")->meta().get<std::string>("type"), "Int");
  EXPECT_EQ(node("size")->tensor_meta(), nullptr);
  EXPECT_EQ(*node("chunk")->meta().get<std::string>("type"), "TensorList");
}

TEST(ShapeProp, RealInputs) {
  auto gm = make_module();
  at::Tensor x = at::randn({2, 3, 5, 6});
  c10::IValue out = shape_prop(*gm, {x});
  EXPECT_TRUE(out.isTuple());
  check_meta(*gm, c10::Device("cpu"));
}

TEST(ShapeProp, MetaInputsComputeNothing) {
  auto gm = make_module();
  at::Tensor x = at::empty({2, 3, 5, 6}, at::TensorOptions().device(at::kMeta));
  shape_prop(*gm, {x});
  check_meta(*gm, c10::Device(at::kMeta));
  // The module's own parameters stay where they were.
  EXPECT_FALSE(gm->get_attr("w")->toTensor().is_meta());
}

TEST(ShapeProp, ChannelsLastIsRecorded) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return relu)");
  GraphModule gm(std::move(g), {});
  shape_prop(gm, {at::randn({2, 3, 4, 5}).contiguous(at::MemoryFormat::ChannelsLast)});
  const TensorMeta* m = gm.graph().find_nodes(Op::CallFunction)[0]->tensor_meta();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->memory_format, c10::MemoryFormat::ChannelsLast);
}

TEST(ShapeProp, ErrorsNameTheNode) {
  auto gm = make_module();
  std::string msg =
      expect_error([&] { shape_prop(*gm, {at::randn({2, 4, 5, 6})}); }, ErrorKind::kRuntime);
  EXPECT_EQ(msg.rfind("while executing node 'conv' (call_function aten::conv2d)", 0), 0u) << msg;
}

}  // namespace
}  // namespace fx
