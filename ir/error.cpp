#include "ir/error.h"

#include <exception>

#include <c10/util/Exception.h>

#include "ir/node.h"

namespace fx {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kGraph: return "graph";
    case ErrorKind::kLint: return "lint";
    case ErrorKind::kParse: return "parse";
    case ErrorKind::kTrace: return "trace";
    case ErrorKind::kCompile: return "compile";
    case ErrorKind::kRuntime: return "runtime";
    case ErrorKind::kInternal: return "internal";
  }
  return "?";
}

void throw_error(ErrorKind kind, const std::string& message) {
  switch (kind) {
    case ErrorKind::kGraph: throw GraphError(message);
    case ErrorKind::kLint: throw LintError(message);
    case ErrorKind::kParse: throw ParseError(message);
    case ErrorKind::kTrace: throw TraceError(message);
    case ErrorKind::kCompile: throw CompileError(message);
    case ErrorKind::kRuntime: throw RuntimeError(message);
    case ErrorKind::kInternal: throw InternalError(message);
  }
  throw Error(kind, message);
}

void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const Error& e) {
    throw_error(e.kind(), context + ": " + e.what());
  } catch (const c10::Error& e) {
    throw RuntimeError(context + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw RuntimeError(context + ": " + e.what());
  }
}

void throw_node_error(const Node& node, const std::string& what, ErrorKind kind) {
  throw_error(kind, describe(node) + ": " + what);
}

void throw_internal(const char* file, int line, const char* cond, const std::string& what) {
  throw InternalError(std::string("fx internal error at ") + file + ":" +
                                        std::to_string(line) + ": " + cond + " failed: " + what +
                                        "; please report this as a bug");
}

}  // namespace fx
