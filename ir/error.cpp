#include "ir/error.h"

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

void throw_node_error(const Node& node, const std::string& what, ErrorKind kind) {
  throw Error(kind, describe(node) + ": " + what);
}

void throw_internal(const char* file, int line, const char* cond, const std::string& what) {
  throw Error(ErrorKind::kInternal, std::string("fx internal error at ") + file + ":" +
                                        std::to_string(line) + ": " + cond + " failed: " + what +
                                        "; please report this as a bug");
}

}  // namespace fx
