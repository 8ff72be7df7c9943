// See capture/torchscript_values.h.
#include "capture/torchscript_values.h"

#include <sstream>
#include <unordered_set>

#include "ir/error.h"
#include "runtime/functions.h"
#include "runtime/operator.h"

namespace fx::ts {

ValPtr node_val(Node* n) {
  auto v = std::make_shared<Val>();
  v->kind = Val::Kind::kNode;
  v->node = n;
  return v;
}

ValPtr known_val(c10::IValue iv) {
  auto v = std::make_shared<Val>();
  v->known = std::move(iv);
  return v;
}

bool type_has_tensor(const c10::TypePtr& t) {
  if (t->kind() == c10::TypeKind::TensorType) return true;
  for (const c10::TypePtr& c : t->containedTypes())
    if (type_has_tensor(c)) return true;
  return false;
}

bool ivalue_has_tensor(const c10::IValue& v) {
  if (v.isTensor()) return true;
  if (v.isList()) {
    for (const c10::IValue& e : v.toListRef())
      if (ivalue_has_tensor(e)) return true;
  }
  if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements())
      if (ivalue_has_tensor(e)) return true;
  }
  return false;
}

// Python's `==` on the literals a schema default can hold.
bool same_literal(const c10::IValue& a, const c10::IValue& b) {
  if (a.isNone() || b.isNone()) return a.isNone() && b.isNone();
  if (a.isBool() && b.isBool()) return a.toBool() == b.toBool();
  if (a.isInt() && b.isInt()) return a.toInt() == b.toInt();
  if (a.isDouble() && b.isDouble()) return a.toDouble() == b.toDouble();
  if (a.isString() && b.isString()) return a.toStringRef() == b.toStringRef();
  if (a.isDevice() && b.isDevice()) return a.toDevice() == b.toDevice();
  if (a.isList() && b.isList()) {
    auto x = a.toListRef();
    auto y = b.toListRef();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!same_literal(x[i], y[i])) return false;
    return true;
  }
  return false;
}

c10::TypePtr unwrap_optional(c10::TypePtr t) {
  while (t && t->kind() == c10::TypeKind::OptionalType) t = t->containedType(0);
  return t;
}

bool is_op(const TsNode* n, const char* name, const char* overload) {
  const c10::FunctionSchema* schema = n->maybeSchema();
  return schema && schema->name() == name && schema->overload_name() == overload;
}

// Sources whose record of the original Python ranges (a loaded archive's
// debug_pkl, unpickled by LibTorch on first use) failed to load during the
// current import on this thread. LibTorch retries a failed unpickle on every
// lookup, and a corrupt length in it asks for gigabytes each time, so a
// source is asked once. ImportScope empties it.
thread_local std::unordered_set<const torch::jit::Source*> t_broken_debug_info;

// Where n came from: the Python source when the module kept it (a loaded
// module's nodes point into its serialized code, which remembers the
// original), else the serialized code itself. Locations are only for
// messages and stack_trace, so debug information that does not load costs
// them and nothing else (found by fuzz/torchscript_import_fuzz.cpp).
torch::jit::SourceRange source_of(const TsNode* n) {
  torch::jit::SourceRange range = n->sourceRange();
  const torch::jit::Source* source = range.source().get();
  if (source && !t_broken_debug_info.count(source)) {
    try {
      if (auto original = range.findSourceRangeThatGenerated()) return *original;
    } catch (const std::exception&) {  // c10::Error, std::bad_alloc, std::length_error
      t_broken_debug_info.insert(source);
    }
  }
  return range;
}

ImportScope::ImportScope() { t_broken_debug_info.clear(); }
ImportScope::~ImportScope() { t_broken_debug_info.clear(); }

// `file.py:12:4`.
std::string location(const TsNode* n) {
  auto flc = source_of(n).file_line_col();
  if (!flc) return "<unknown location>";
  return std::get<0>(*flc) + ":" + std::to_string(std::get<1>(*flc)) + ":" +
         std::to_string(std::get<2>(*flc));
}

std::string source_text(const TsNode* n) {
  torch::jit::SourceRange range = source_of(n);
  if (!range.source()) return "";
  const std::string text = range.source()->text_str().str();
  size_t end = range.end();
  if (range.start() >= end || end > text.size()) return "";
  // A method call's range stops at its name (`x.size`): take in the arguments.
  if (end < text.size() && text[end] == '(') {
    int depth = 0;
    for (size_t i = end; i < text.size(); ++i) {
      if (text[i] == '(') ++depth;
      if (text[i] == ')' && --depth == 0) {
        end = i + 1;
        break;
      }
    }
  }
  return text.substr(range.start(), end - range.start());
}

std::string node_text(const TsNode* n) {
  std::ostringstream os;
  os << *n;
  std::string s = os.str();
  size_t hash = s.find(" # ");
  if (hash != std::string::npos) s.resize(hash);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// `x.1` -> `x`: TorchScript's unique suffix is not part of the name.
std::string base_name(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos)
    return name.substr(0, dot);
  return name;
}

const torch::jit::Operator& jit_operator(const char* qualified_name, const char* overload) {
  for (const auto& op : torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(qualified_name)))
    if (op->schema().overload_name() == overload && op->hasOperation()) return *op;
  throw_internal(__FILE__, __LINE__, qualified_name, "TorchScript operator not registered");
}

}  // namespace fx::ts
