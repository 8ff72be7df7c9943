// Argument: construction, accessors, equality, map_arg and Python-style printing.
#include "ir/argument.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

TEST(FormatDouble, MatchesPythonRepr) {
  EXPECT_EQ(format_double(0.0), "0.0");
  EXPECT_EQ(format_double(-0.0), "-0.0");
  EXPECT_EQ(format_double(1.0), "1.0");
  EXPECT_EQ(format_double(2.5), "2.5");
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(format_double(1e-05), "1e-05");
  EXPECT_EQ(format_double(0.0001), "0.0001");
  EXPECT_EQ(format_double(1.5e-07), "1.5e-07");
  EXPECT_EQ(format_double(1e15), "1000000000000000.0");
  EXPECT_EQ(format_double(1e16), "1e+16");
  EXPECT_EQ(format_double(1.2345678901234568e+17), "1.2345678901234568e+17");
  EXPECT_EQ(format_double(123456.789), "123456.789");
  EXPECT_EQ(format_double(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(format_double(1e300), "1e+300");
  EXPECT_EQ(format_double(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(format_double(std::nan("")), "nan");
}

TEST(ArgumentPrint, ScalarsAsPythonPrintsThem) {
  EXPECT_EQ(format_arg(Argument()), "None");
  EXPECT_EQ(format_arg(true), "True");
  EXPECT_EQ(format_arg(false), "False");
  EXPECT_EQ(format_arg(-3), "-3");
  EXPECT_EQ(format_arg(int64_t{1} << 40), "1099511627776");
  EXPECT_EQ(format_arg(0.5), "0.5");
  EXPECT_EQ(format_arg("tanh"), "tanh");  // str() leaves strings unquoted
  EXPECT_EQ(repr_arg("tanh"), "'tanh'");
  EXPECT_EQ(repr_arg("it's"), "\"it's\"");
  EXPECT_EQ(format_arg(c10::kFloat), "torch.float32");
  EXPECT_EQ(format_arg(c10::kHalf), "torch.float16");
  EXPECT_EQ(format_arg(c10::kBFloat16), "torch.bfloat16");
  EXPECT_EQ(format_arg(c10::kLong), "torch.int64");
  EXPECT_EQ(format_arg(c10::kBool), "torch.bool");
  EXPECT_EQ(format_arg(c10::kStrided), "torch.strided");
  EXPECT_EQ(format_arg(c10::MemoryFormat::ChannelsLast), "torch.channels_last");
  EXPECT_EQ(format_arg(c10::Device("cpu")), "cpu");
  EXPECT_EQ(format_arg(c10::Device("cuda:1")), "cuda:1");
  EXPECT_EQ(repr_arg(c10::Device("cpu")), "device(type='cpu')");
  EXPECT_EQ(repr_arg(c10::Device("cuda:1")), "device(type='cuda', index=1)");
}

TEST(ArgumentPrint, SequencesAndNodes) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Argument nested = Argument::tuple({x, Argument::list({y, 1, "s"}), Argument::tuple({x})});
  EXPECT_EQ(format_arg(nested), "(%x, [%y, 1, s], (%x,))");
  EXPECT_EQ(str_arg(nested), "(x, [y, 1, 's'], (x,))");
  EXPECT_EQ(str_arg(Argument::tuple({})), "()");
  EXPECT_EQ(format_args({x}), "(%x,)");
  EXPECT_EQ(format_args({}), "()");
  EXPECT_EQ(format_kwargs({{"min", 0.0}, {"max", 1.0}}), "{min: 0.0, max: 1.0}");
  EXPECT_EQ(format_kwargs({}), "{}");
}

TEST(ArgumentPrint, TensorConstantSummary) {
  at::Tensor t = at::zeros({2, 3});
  EXPECT_EQ(format_arg(t), "<tensor float32[2, 3]>");
  EXPECT_TRUE(Argument(t).to_tensor().is_same(t));
}

TEST(Argument, AccessorsCheckTheKind) {
  Argument i = 3;
  EXPECT_EQ(i.kind(), Argument::Kind::kInt);
  EXPECT_EQ(i.to_int(), 3);
  EXPECT_DOUBLE_EQ(i.to_double(), 3.0);  // ints widen to float, as in Python
  EXPECT_EQ(expect_error([&] { i.to_string(); }, ErrorKind::kGraph),
            "expected an argument of type str, got int (3)");
  EXPECT_THROW(Argument("a").to_node(), Error);
  EXPECT_THROW(Argument(1).items(), Error);
  EXPECT_EQ(Argument::list({1, 2}).items().size(), 2u);
  EXPECT_EQ(Argument(nullptr).kind(), Argument::Kind::kNone);
}

TEST(Argument, EqualityIsStructuralAndTyped) {
  EXPECT_EQ(Argument(1), Argument(1));
  EXPECT_NE(Argument(1), Argument(1.0));  // torch.add(x, 1) must not match torch.add(x, 1.0)
  EXPECT_NE(Argument(1), Argument(true));
  EXPECT_EQ(Argument(std::nan("")), Argument(std::nan("")));
  EXPECT_EQ(Argument::tuple({1, "a"}), Argument::tuple({1, "a"}));
  EXPECT_NE(Argument::tuple({1, "a"}), Argument::list({1, "a"}));
  at::Tensor t = at::ones({2});
  EXPECT_EQ(Argument(t), Argument(t));
  EXPECT_NE(Argument(t), Argument(at::ones({2})));
}

TEST(MapArg, RebuildsInTraversalOrder) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Argument a = Argument::tuple({x, Argument::list({y, 1}), "k", Argument::tuple({x})});
  std::vector<std::string> seen;
  Argument mapped = map_arg(a, [&](Node* n) -> Argument {
    seen.push_back(n->name());
    return n->name() + "!";
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"x", "y", "x"}));
  EXPECT_EQ(repr_arg(mapped), "('x!', ['y!', 1], 'k', ('x!',))");
  EXPECT_EQ(mapped.kind(), Argument::Kind::kTuple);
  EXPECT_EQ(mapped.items()[1].kind(), Argument::Kind::kList);

  Kwargs kw = map_arg(Kwargs{{"a", x}, {"b", 2}}, [&](Node*) -> Argument { return y; });
  EXPECT_EQ(kw[0].second.to_node(), y);
  EXPECT_EQ(kw[1].second.to_int(), 2);
}

}  // namespace
}  // namespace fx
