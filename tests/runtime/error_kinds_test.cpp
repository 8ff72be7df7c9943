// An error inside a node keeps its kind through both executors (the compiled
// forward and the Interpreter): a CompileError or an internal error raised
// while a node runs is not turned into a runtime error, and LibTorch's own
// errors arrive as fx::RuntimeError. Both name the node.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/functions.h"
#include "runtime/graph_module.h"
#include "runtime/interpreter.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

std::unique_ptr<GraphModule> calling(const std::string& function) {
  register_function("error_kinds_compile", [](std::vector<c10::IValue>, const IValueKwargs&) {
    throw CompileError("the kernel did not compile");
    return c10::IValue();
  });
  register_function("error_kinds_internal", [](std::vector<c10::IValue>, const IValueKwargs&) {
    FX_INTERNAL_ASSERT(false, "a broken invariant");
    return c10::IValue();
  });
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %r : [#users=1] = call_function[target=)" + function + R"(](args = (%x,), kwargs = {})
    return r)");
  return std::make_unique<GraphModule>(std::move(g), Attributes{});
}

TEST(ErrorKindsInNodes, CompileErrorStaysACompileError) {
  auto gm = calling("error_kinds_compile");
  at::Tensor x = at::randn({3});
  expect_error([&] { gm->forward({x}); }, ErrorKind::kCompile,
               {"while executing node 'r'", "the kernel did not compile"});
  EXPECT_THROW(gm->forward({x}), CompileError);
  expect_error([&] { Interpreter(*gm).run({x}); }, ErrorKind::kCompile,
               {"while executing node 'r'", "the kernel did not compile"});
  EXPECT_THROW(Interpreter(*gm).run({x}), CompileError);
}

TEST(ErrorKindsInNodes, InternalErrorStaysInternal) {
  auto gm = calling("error_kinds_internal");
  at::Tensor x = at::randn({3});
  expect_error([&] { gm->forward({x}); }, ErrorKind::kInternal,
               {"while executing node 'r'", "a broken invariant"});
  EXPECT_THROW(Interpreter(*gm).run({x}), InternalError);
}

TEST(ErrorKindsInNodes, LibTorchErrorsAreRuntimeErrors) {
  auto g = parse_graph(R"(graph():
    %a : [#users=1] = placeholder[target=a]
    %b : [#users=1] = placeholder[target=b]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%a, %b), kwargs = {})
    return mm)");
  GraphModule gm(std::move(g), Attributes{});
  at::Tensor a = at::randn({2, 3}), b = at::randn({4, 5});
  std::string m = expect_error([&] { gm.forward({a, b}); }, ErrorKind::kRuntime,
                               {"while executing node 'mm'", "aten::mm"});
  EXPECT_THROW(gm.forward({a, b}), RuntimeError);
  EXPECT_THROW(Interpreter(gm).run({a, b}), RuntimeError);
}

}  // namespace
}  // namespace fx
