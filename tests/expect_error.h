// expect_error: the one way tests check that something fails with an
// fx::Error of a given kind whose message contains given fragments.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ir/error.h"

namespace fx::testing_support {

// Whether e is thrown as its kind's own type (GraphError for kGraph, ...),
// as every fx throw site must, so that callers catching a kind's type see it.
inline bool has_kind_type(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kGraph: return dynamic_cast<const GraphError*>(&e) != nullptr;
    case ErrorKind::kLint: return dynamic_cast<const LintError*>(&e) != nullptr;
    case ErrorKind::kParse: return dynamic_cast<const ParseError*>(&e) != nullptr;
    case ErrorKind::kTrace: return dynamic_cast<const TraceError*>(&e) != nullptr;
    case ErrorKind::kCompile: return dynamic_cast<const CompileError*>(&e) != nullptr;
    case ErrorKind::kRuntime: return dynamic_cast<const RuntimeError*>(&e) != nullptr;
    case ErrorKind::kInternal: return dynamic_cast<const InternalError*>(&e) != nullptr;
  }
  return false;
}

// Runs f and returns the message of the fx::Error it throws. Fails the test
// when f throws nothing, throws something that is not an fx::Error, throws
// another kind or a kind not as its own type, or the message misses one of
// the fragments.
inline std::string expect_error(const std::function<void()>& f, ErrorKind kind,
                                const std::vector<std::string>& fragments = {}) {
  std::string message;
  try {
    f();
    ADD_FAILURE() << "expected an fx::Error (" << error_kind_name(kind)
                  << "), nothing was thrown";
    return message;
  } catch (const Error& e) {
    message = e.what();
    EXPECT_EQ(error_kind_name(e.kind()), std::string(error_kind_name(kind))) << message;
    EXPECT_TRUE(has_kind_type(e)) << "thrown as fx::Error, not as the " << error_kind_name(kind)
                                  << " kind's own type: " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an fx::Error (" << error_kind_name(kind) << "), got "
                  << e.what();
    return e.what();
  }
  for (const std::string& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "the message lacks '" << fragment << "': " << message;
  return message;
}

}  // namespace fx::testing_support
