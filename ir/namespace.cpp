#include "ir/namespace.h"

#include <cctype>
#include <string_view>

namespace fx {

namespace {

// Python 3.11 keywords, builtins (with the names `site` adds), and the
// globals torch.fx registers before any node: a node may not take these.
const std::unordered_set<std::string>& reserved() {
  static const std::unordered_set<std::string> names = {
      // keywords
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
      "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
      "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
      "while", "with", "yield",
      // builtins
      "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "BaseExceptionGroup",
      "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning", "ChildProcessError",
      "ConnectionAbortedError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
      "DeprecationWarning", "EOFError", "Ellipsis", "EncodingWarning", "EnvironmentError",
      "Exception", "ExceptionGroup", "FileExistsError", "FileNotFoundError", "FloatingPointError",
      "FutureWarning", "GeneratorExit", "IOError", "ImportError", "ImportWarning",
      "IndentationError", "IndexError", "InterruptedError", "IsADirectoryError", "KeyError",
      "KeyboardInterrupt", "LookupError", "MemoryError", "ModuleNotFoundError", "NameError",
      "NotADirectoryError", "NotImplemented", "NotImplementedError", "OSError", "OverflowError",
      "PendingDeprecationWarning", "PermissionError", "ProcessLookupError", "RecursionError",
      "ReferenceError", "ResourceWarning", "RuntimeError", "RuntimeWarning", "StopAsyncIteration",
      "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError", "SystemExit", "TabError",
      "TimeoutError", "TypeError", "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError",
      "UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning", "ValueError",
      "Warning", "ZeroDivisionError", "__build_class__", "__debug__", "__doc__", "__import__",
      "__loader__", "__name__", "__package__", "__spec__", "abs", "aiter", "all", "anext", "any",
      "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod",
      "compile", "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate",
      "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals",
      "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance", "issubclass", "iter",
      "len", "license", "list", "locals", "map", "max", "memoryview", "min", "next", "object",
      "oct", "open", "ord", "pow", "print", "property", "quit", "range", "repr", "reversed",
      "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple",
      "type", "vars", "zip",
      // torch.fx custom builtins
      "inf", "nan", "NoneType", "torch", "device", "fx_pytree", "pytree"};
  return names;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_ident_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

std::string snake_case(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 4);
  bool prev_lower = false;
  for (char c : s) {
    bool upper = std::isupper(static_cast<unsigned char>(c));
    if (prev_lower && upper) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    prev_lower = std::islower(static_cast<unsigned char>(c));
  }
  return out;
}

}  // namespace

bool is_reserved_name(const std::string& name) { return reserved().count(name) != 0; }

bool Namespace::taken(const std::string& name) const {
  return used_.count(name) != 0 || is_reserved_name(name);
}

std::string Namespace::create_name(const std::string& raw) {
  // 1. Runs of illegal characters become one underscore.
  std::string candidate;
  bool legal = !raw.empty() && !is_digit(raw[0]);
  for (char c : raw) legal = legal && is_ident_char(c);
  if (legal) {
    candidate = raw;
  } else {
    candidate.reserve(raw.size() + 1);
    for (size_t i = 0; i < raw.size();) {
      if (is_ident_char(raw[i])) {
        candidate += raw[i++];
      } else {
        candidate += '_';
        while (i < raw.size() && !is_ident_char(raw[i])) ++i;
      }
    }
    if (candidate.empty()) candidate = "_";
    // 2. Identifiers cannot start with a digit.
    if (is_digit(candidate[0])) candidate.insert(0, "_");
  }
  // 3. Split `base_<num>`. Python's `(.*)_(\d+)$` is greedy, so base takes
  //    everything up to the last underscore that is followed only by digits.
  size_t digits = 0;
  while (digits < candidate.size() && is_digit(candidate[candidate.size() - 1 - digits])) ++digits;
  bool has_suffix = digits > 0 && digits <= 18 && digits < candidate.size() &&
                    candidate[candidate.size() - 1 - digits] == '_';
  if (!has_suffix && !taken(candidate)) {
    used_.insert(candidate);
    return candidate;
  }
  std::string base = candidate;
  long long num = 0;
  if (has_suffix) {
    base = candidate.substr(0, candidate.size() - digits - 1);
    num = std::stoll(candidate.substr(candidate.size() - digits));
    candidate = base + "_" + std::to_string(num);
  }
  auto name_of = [&](long long k) { return base + "_" + std::to_string(k); };
  long long& prefix = taken_prefix_[base];
  // 4. Probe base_{num+1}, base_{num+2}, ... skipping the known-taken prefix.
  if (taken(candidate)) {
    if (num < prefix) num = prefix;
    do {
      candidate = name_of(++num);
    } while (taken(candidate));
  }
  used_.insert(candidate);
  // Keep `prefix` maximal: base_1 .. base_prefix are all taken.
  if (num == prefix + 1) {
    prefix = num;
    while (used_.count(name_of(prefix + 1))) ++prefix;
  }
  return candidate;
}

std::string default_node_name(bool is_call_function, const std::string& target) {
  std::string_view t = target;
  if (is_call_function) {
    size_t ns = t.rfind("::");
    if (ns != std::string_view::npos) t = t.substr(ns + 2);
    size_t dot = t.find('.');
    if (dot != std::string_view::npos && dot > 0) t = t.substr(0, dot);
  } else if (t.size() > 4 && t.substr(0, 2) == "__" && t.substr(t.size() - 2) == "__") {
    t = t.substr(2, t.size() - 4);
  }
  return snake_case(t);
}

}  // namespace fx
