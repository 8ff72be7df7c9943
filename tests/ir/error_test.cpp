// Error kinds and their types: throw_error builds the type of its kind, and
// rethrow_with_context adds context without changing what was thrown.
#include "ir/error.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/parser.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

template <typename E>
bool throws_type(ErrorKind kind) {
  try {
    throw_error(kind, "m");
  } catch (const E& e) {
    return e.kind() == kind && std::string(e.what()) == "m";
  } catch (...) {
  }
  return false;
}

TEST(ErrorKinds, EachKindHasItsOwnType) {
  EXPECT_TRUE(throws_type<GraphError>(ErrorKind::kGraph));
  EXPECT_TRUE(throws_type<LintError>(ErrorKind::kLint));
  EXPECT_TRUE(throws_type<ParseError>(ErrorKind::kParse));
  EXPECT_TRUE(throws_type<TraceError>(ErrorKind::kTrace));
  EXPECT_TRUE(throws_type<CompileError>(ErrorKind::kCompile));
  EXPECT_TRUE(throws_type<RuntimeError>(ErrorKind::kRuntime));
  EXPECT_TRUE(throws_type<InternalError>(ErrorKind::kInternal));
  // and not the type of another kind
  EXPECT_FALSE(throws_type<RuntimeError>(ErrorKind::kCompile));
  EXPECT_FALSE(throws_type<CompileError>(ErrorKind::kInternal));
}

TEST(ErrorKinds, InternalAssertIsAnInternalError) {
  expect_error([] { FX_INTERNAL_ASSERT(1 + 1 == 3, "arithmetic"); }, ErrorKind::kInternal,
               {"1 + 1 == 3", "arithmetic", "report this as a bug"});
  EXPECT_THROW(FX_INTERNAL_ASSERT(false, "x"), InternalError);
}

template <typename Inner>
void rethrow(const Inner& inner) {
  try {
    throw inner;
  } catch (...) {
    rethrow_with_context("while doing it");
  }
}

TEST(ErrorKinds, ContextKeepsKindAndType) {
  EXPECT_THROW(rethrow(CompileError("bad source")), CompileError);
  EXPECT_THROW(rethrow(InternalError("broken")), InternalError);
  EXPECT_THROW(rethrow(TraceError("no")), TraceError);
  expect_error([] { rethrow(CompileError("bad source")); }, ErrorKind::kCompile,
               {"while doing it: bad source"});
  // A base fx::Error of some kind comes out as that kind's type.
  EXPECT_THROW(rethrow(Error(ErrorKind::kLint, "x")), LintError);
}

TEST(ErrorKinds, ForeignErrorsBecomeRuntimeErrors) {
  std::string m = expect_error([] { rethrow(std::out_of_range("index 7")); },
                               ErrorKind::kRuntime, {"while doing it: index 7"});
  EXPECT_THROW(rethrow(std::out_of_range("x")), RuntimeError);
  // LibTorch's errors lose their C++ backtrace, not their message.
  try {
    TORCH_CHECK(false, "shapes do not match");
  } catch (const c10::Error& e) {
    m = expect_error([&] { rethrow(e); }, ErrorKind::kRuntime,
                     {"while doing it: shapes do not match"});
    EXPECT_EQ(m.find("Exception raised from"), std::string::npos) << m;
  }
}

// The throw sites of the IR raise their kind's own type, so callers can catch
// exactly what they handle.
TEST(ErrorKinds, ThrowSitesRaiseTheirKindsType) {
  EXPECT_THROW(parse_graph("graph():\n    this is not a node"), ParseError);
  Graph g;
  Node* x = g.placeholder("x");
  g.output(g.call_function("aten::relu", {x}));
  EXPECT_THROW(g.erase_node(x), GraphError);  // x still has a user
}

}  // namespace
}  // namespace fx
