// parse_graph: round trips of the printed form, and clear errors.
#include "ir/parser.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

TEST(Parser, RoundTripsEveryArgumentKind) {
  const char* text = R"(graph():
    %x : [#users=4] = placeholder[target=x]
    %dim : int [#users=0] = placeholder[target=dim](default=1)
    %scale : [#users=0] = placeholder[target=scale](default=0.5)
    %mode : [#users=0] = placeholder[target=mode](default=tanh)
    %opt : [#users=0] = placeholder[target=opt](default=None)
    %w : [#users=1] = get_attr[target=layer1.0.conv.weight]
    %conv : [#users=1] = call_function[target=aten::conv2d](args = (%x, %w, None, [1, 1], [0, 0], [1, 1], 1), kwargs = {})
    %to : [#users=1] = call_function[target=aten::to.dtype_layout](args = (%conv,), kwargs = {dtype: torch.float16, layout: torch.strided, device: cuda:0, pin_memory: False, memory_format: torch.channels_last})
    %gelu : [#users=1] = call_function[target=aten::gelu](args = (%to,), kwargs = {approximate: tanh})
    %clamp : [#users=1] = call_method[target=clamp](args = (%gelu,), kwargs = {min: -inf, max: 1e-05})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%clamp, %x, %x],), kwargs = {dim: -1})
    %sub : [#users=1] = call_module[target=sub.mod](args = ((%cat, (%x,)), 3.25, True), kwargs = {})
    return (sub, [x, 'name', 2], None))";
  auto g = parse_graph(text);
  EXPECT_EQ(g->str(), text);
  g->lint();
  Node* to = g->find_nodes(Op::CallFunction, std::string("aten::to.dtype_layout"))[0];
  EXPECT_EQ(to->kwarg("dtype")->to_dtype(), c10::kHalf);
  EXPECT_EQ(to->kwarg("device")->to_device(), c10::Device("cuda:0"));
  EXPECT_EQ(to->kwarg("memory_format")->to_memory_format(), c10::MemoryFormat::ChannelsLast);
  Node* mode = g->find_nodes(Op::Placeholder)[3];
  EXPECT_EQ(mode->args()[0].to_string(), "tanh");
  Node* conv = g->find_nodes(Op::CallFunction)[0];
  EXPECT_EQ(conv->args()[3].kind(), Argument::Kind::kList);
  EXPECT_EQ(conv->args()[6].to_int(), 1);
  EXPECT_TRUE(conv->args()[2].is_none());
  EXPECT_EQ(g->output_node()->args()[0].items()[1].items()[1].to_string(), "name");
}

TEST(Parser, HeaderAndUsersAreOptional) {
  auto g = parse_graph(
      "%x : [#users=99] = placeholder[target=x]\n"
      "%r : [#users=0] = call_function[target=aten::relu](args = (%x,), kwargs = {})\n"
      "return r\n");
  EXPECT_EQ(g->str(), R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %r : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return r)");
}

TEST(Parser, ReservedNamesAreUniquedAndStillResolve) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sum : [#users=1] = call_function[target=aten::sum](args = (%x,), kwargs = {})
    return sum)");
  EXPECT_EQ(g->output_node()->format(), "return sum_1");
}

void expect_parse_error(const std::string& text, const std::string& fragment) {
  SCOPED_TRACE(text);
  expect_error([&] { parse_graph(text); }, ErrorKind::kParse, {fragment});
}

TEST(Parser, ErrorsNameTheLineAndTheProblem) {
  expect_parse_error(
      "graph():\n    %y : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})",
      "line 2: 'x' is used before it is defined");
  expect_parse_error(
      "%x : [#users=1] = placeholder[target=x]\n%x : [#users=1] = placeholder[target=x]",
      "line 2: '%x' is defined twice");
  expect_parse_error("%x : [#users=1] = call_fn[target=x](args = (), kwargs = {})",
                     "unknown opcode 'call_fn'");
  expect_parse_error(
      "%x : [#users=1] = placeholder[target=x]\n"
      "%c : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, <tensor float32[3]>), "
      "kwargs = {})",
      "tensor constants cannot be parsed back");
  expect_parse_error("%x : [#users=1] = call_function[target=aten::relu](args = (1, kwargs = {})",
                     "line 1:");
  expect_parse_error("%x : [#users=1] = placeholder[target=x]\nreturn y",
                     "'y' is not a defined node");
  expect_parse_error("x = relu(y)", "expected '%'");
  expect_parse_error("%x : [#users=1] = get_attr[target=w] trailing", "unexpected text");
  expect_parse_error(
      "%x : [#users=1] = call_function[target=f](args = (torch.nonsense,), kwargs = {})",
      "unknown torch constant 'torch.nonsense'");
}

// Found by fuzz/parse_graph_fuzz.cpp: empty strings (and other strings that
// would read back as something else) lost a round trip when printed bare.
TEST(Parser, StringsThatWouldNotReadBackAreQuoted) {
  Graph g;
  Node* x = g.placeholder("x");
  g.call_module("m", {x, "", "a,b", "None", "1.5", "cpu", " pad", "torch.float32", "it's", "tanh"});
  std::string text = g.str();
  EXPECT_NE(text.find("(%x, '', 'a,b', 'None', '1.5', 'cpu', ' pad', 'torch.float32', \"it's\", tanh)"),
            std::string::npos)
      << text;
  auto parsed = parse_graph(text);
  EXPECT_EQ(parsed->str(), text);
  const Args& args = parsed->find_nodes(Op::CallModule)[0]->args();
  EXPECT_EQ(args[1].to_string(), "");
  EXPECT_EQ(args[3].to_string(), "None");
  EXPECT_EQ(args[5].to_string(), "cpu");
  EXPECT_EQ(args[9].to_string(), "tanh");
}

TEST(Parser, DeepNestingIsAnErrorNotACrash) {
  std::string deep =
      "%x : [#users=1] = placeholder[target=x]\n%y : [#users=1] = call_function[target=f](args = "
      "(" +
      std::string(100000, '[') + "%x" + std::string(100000, ']') + ",), kwargs = {})\n";
  expect_parse_error(deep, "nest deeper than 200 levels");
  std::string ok =
      "%x : [#users=1] = placeholder[target=x]\n%y : [#users=0] = call_function[target=f](args = "
      "(" +
      std::string(50, '[') + "%x" + std::string(50, ']') + ",), kwargs = {})";
  EXPECT_EQ(parse_graph(ok)->size(), 2u);
}

}  // namespace
}  // namespace fx
