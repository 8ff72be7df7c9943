// functionalize: in-place operators on fresh values nobody reads later become
// functional, link by link along a chain; writes to inputs, constants and
// views, writes whose input (or a view of it) is read later, and operators
// without a fresh functional form keep their in-place form, each with a log
// line naming the rule. Results equal the original module on fresh inputs.
#include "passes/functionalize.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/passes/pass_tests.h"

namespace fx {
namespace {

using pass_tests::close;
using pass_tests::module_of;
using pass_tests::node_named;
using pass_tests::reference_copy;
using pass_tests::run1;

TEST(Functionalize, ChainOnAFreshValueBecomesFunctional) {
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, %y), kwargs = {})
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%add,), kwargs = {})
    %mul_ : [#users=1] = call_function[target=aten::mul_.Scalar](args = (%relu_, 3), kwargs = {})
    %hardtanh_ : [#users=1] = call_function[target=aten::hardtanh_](args = (%mul_, -1.0, 1.5), kwargs = {})
    %sigmoid_ : [#users=1] = call_method[target=sigmoid_](args = (%hardtanh_,), kwargs = {})
    return sigmoid_)");
  auto reference = reference_copy(*gm);
  PassLog log;
  EXPECT_TRUE(functionalize(*gm, &log));
  const Graph& g = gm->graph();
  EXPECT_EQ(node_named(g, "relu_")->target(), "aten::relu");
  EXPECT_EQ(node_named(g, "mul_")->target(), "aten::mul.Scalar");
  EXPECT_EQ(node_named(g, "hardtanh_")->target(), "aten::hardtanh");
  EXPECT_EQ(node_named(g, "sigmoid_")->target(), "sigmoid");
  EXPECT_EQ(node_named(g, "sigmoid_")->op(), Op::CallMethod);
  EXPECT_EQ(log.lines(),
            (std::vector<std::string>{
                "  made 1 aten::hardtanh_ functional", "  made 1 aten::mul_.Scalar functional",
                "  made 1 aten::relu_ functional", "  made 1 sigmoid_ functional"}));
  gm->recompile();
  for (int i = 0; i < 2; ++i) {
    at::Tensor x = at::randn({3, 5}), y = at::randn({3, 5});
    at::Tensor x0 = x.clone(), y0 = y.clone();
    at::Tensor want = at::sigmoid(at::hardtanh(at::relu(x + y) * 3, -1.0, 1.5));
    EXPECT_TRUE(close(run1(*gm, {x, y}), want, 1e-6, 1e-6));
    EXPECT_TRUE(close(run1(*reference, {x.clone(), y.clone()}), want, 1e-6, 1e-6));
    EXPECT_TRUE(at::equal(x, x0) && at::equal(y, y0)) << "the caller's tensors are not written";
  }
  EXPECT_FALSE(functionalize(*gm));
}

TEST(Functionalize, WritesToInputsAndConstantsStay) {
  Attributes attrs;
  attrs.values["w"] = at::randn({3});
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%x,), kwargs = {})
    %add_ : [#users=1] = call_function[target=aten::add_.Tensor](args = (%w, %relu_), kwargs = {})
    return add_)",
                      attrs);
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_EQ(log.lines(), (std::vector<std::string>{
                             "  kept relu_ (aten::relu_): it writes to input 'x'",
                             "  kept add_ (aten::add_.Tensor): it writes to constant 'w'"}));
}

TEST(Functionalize, InputReadLaterStaysInPlace) {
  // add reads sin after relu_ wrote it: it must see the relu'd values.
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=2] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%sin,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu_, %sin), kwargs = {})
    return add)");
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_EQ(log.str(), "  kept relu_ (aten::relu_): 'add' reads 'sin' after it is written\n");
  gm->recompile();
  at::Tensor x = at::randn({64});
  EXPECT_TRUE(close(run1(*gm, {x}), at::relu(at::sin(x)) * 2, 1e-6, 1e-6));
}

TEST(Functionalize, GraphOutputReadingTheInputStaysInPlace) {
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=2] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%sin,), kwargs = {})
    return (sin, relu_))");
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(node_named(gm->graph(), "relu_")->target(), "aten::relu_");
  EXPECT_TRUE(pass_tests::has_line(log.lines(), "'output' reads 'sin' after it is written"))
      << log.str();
  gm->recompile();
  at::Tensor x = at::randn({64});
  auto out = gm->forward({x}).toTuple()->elements();
  EXPECT_TRUE(close(out[0].toTensor(), at::relu(at::sin(x)), 1e-6, 1e-6));
}

TEST(Functionalize, ViewOfTheInputReadLaterStaysInPlace) {
  // view aliases sin; sum reads view after relu_ wrote sin.
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=2] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %view : [#users=1] = call_function[target=aten::view](args = (%sin, [-1]), kwargs = {})
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%sin,), kwargs = {})
    %sum_1 : [#users=1] = call_function[target=aten::sum](args = (%view,), kwargs = {})
    return (relu_, sum_1))");
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(node_named(gm->graph(), "relu_")->target(), "aten::relu_");
  EXPECT_EQ(log.str(), "  kept relu_ (aten::relu_): 'sum_1' reads 'sin' after it is written\n");
  gm->recompile();
  at::Tensor x = at::randn({4, 8});
  auto out = gm->forward({x}).toTuple()->elements();
  EXPECT_TRUE(close(out[1].toTensor(), at::relu(at::sin(x)).sum(), 1e-5, 1e-5));
}

TEST(Functionalize, WriteThroughAViewStays) {
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %t : [#users=1] = call_function[target=aten::t](args = (%sin,), kwargs = {})
    %relu_ : [#users=1] = call_function[target=aten::relu_](args = (%t,), kwargs = {})
    return relu_)");
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(log.str(), "  kept relu_ (aten::relu_): 't' may be a view or alias of another value\n");
}

TEST(Functionalize, NoFreshFunctionalFormStays) {
  // t_ would become t, which returns a view, not a fresh tensor.
  auto gm = module_of(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %sin : [#users=1] = call_function[target=aten::sin](args = (%x,), kwargs = {})
    %t_ : [#users=1] = call_function[target=aten::t_](args = (%sin,), kwargs = {})
    return t_)");
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(node_named(gm->graph(), "t_")->target(), "aten::t_");
  EXPECT_EQ(log.str(), "  kept t_ (aten::t_): no functional aten::t\n");
}

TEST(Functionalize, FunctionalAndUnderscoreNamesAreNotTouched) {
  auto gm = module_of(R"(graph():
    %x : [#users=2] = placeholder[target=x]
    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::__and__.Tensor](args = (%relu, %x), kwargs = {})
    return add)");
  const std::string before = gm->graph().str();
  PassLog log;
  EXPECT_FALSE(functionalize(*gm, &log));
  EXPECT_EQ(gm->graph().str(), before);
  EXPECT_TRUE(log.lines().empty()) << log.str();
}

}  // namespace
}  // namespace fx
