// Errors raised by fx. Caller mistakes are fx::Error (or one of its kinds);
// broken invariants of fx itself are FX_INTERNAL_ASSERT failures, which are
// also fx::Error so a service can catch everything fx throws in one place.
// Messages read: where (node) -> what -> how to fix -> context.
#pragma once

#include <stdexcept>
#include <string>

namespace fx {

class Node;

enum class ErrorKind {
  kGraph,     // misuse of the Graph/Node API (erasing a used node, ...)
  kLint,      // Graph::lint found a malformed graph
  kParse,     // parse_graph could not read its input
  kTrace,     // capture could not record the program
  kCompile,   // a kernel or generated source failed to compile
  kRuntime,   // running a graph failed
  kInternal,  // a bug in fx
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// One type per kind, so callers can catch the kind they handle. Every fx
// error is built through throw_error (or one of these constructors), so a
// kind and its type never disagree.
#define FX_DEFINE_ERROR(Name, Kind) \
  class Name : public Error {       \
   public:                          \
    explicit Name(const std::string& message) : Error(ErrorKind::Kind, message) {} \
  };
FX_DEFINE_ERROR(GraphError, kGraph)
FX_DEFINE_ERROR(LintError, kLint)
FX_DEFINE_ERROR(ParseError, kParse)
FX_DEFINE_ERROR(TraceError, kTrace)
FX_DEFINE_ERROR(CompileError, kCompile)
FX_DEFINE_ERROR(RuntimeError, kRuntime)
FX_DEFINE_ERROR(InternalError, kInternal)
#undef FX_DEFINE_ERROR

// Throws the exception type of `kind` with message.
[[noreturn]] void throw_error(ErrorKind kind, const std::string& message);

// Called inside a catch block: rethrows the exception being handled with
// "context: " in front of its message. An fx::Error keeps its kind and type
// (a CompileError inside a node is still a CompileError); LibTorch's
// c10::Error and any other std::exception become a RuntimeError; anything
// else is rethrown unchanged.
[[noreturn]] void rethrow_with_context(const std::string& context);

// "node 'mul_2' (call_function aten::mul.Tensor)": how every error names a node.
std::string describe(const Node& node);

// Throws Error(kind, describe(node) + ": " + what).
[[noreturn]] void throw_node_error(const Node& node, const std::string& what,
                                   ErrorKind kind = ErrorKind::kGraph);

[[noreturn]] void throw_internal(const char* file, int line, const char* cond,
                                 const std::string& what);

}  // namespace fx

#define FX_INTERNAL_ASSERT(cond, what)                                    \
  do {                                                                    \
    if (!(cond)) ::fx::throw_internal(__FILE__, __LINE__, #cond, (what)); \
  } while (0)
