// Argument storage, traversal and Python-compatible printing.
#include "ir/argument.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <ATen/core/Tensor.h>

#include "ir/dtype_names.h"
#include "ir/error.h"
#include "ir/node.h"

namespace fx {

struct Argument::Seq {
  bool is_tuple;
  std::vector<Argument> items;
};

Argument::Argument(const at::Tensor& v) : value_(std::make_shared<const at::Tensor>(v)) {}

Argument Argument::list(std::vector<Argument> items) {
  Argument a;
  a.value_ = std::make_shared<const Seq>(Seq{false, std::move(items)});
  return a;
}

Argument Argument::tuple(std::vector<Argument> items) {
  Argument a;
  a.value_ = std::make_shared<const Seq>(Seq{true, std::move(items)});
  return a;
}

size_t Argument::index() const {
  size_t i = value_.index();
  if (i == 11 && std::get<11>(value_)->is_tuple) return 12;
  return i;
}

namespace {

const char* kind_name(Argument::Kind k) {
  static const char* names[] = {"None",  "bool",   "int",    "float",         "str",
                                "dtype", "device", "layout", "memory_format", "Tensor",
                                "Node",  "list",   "tuple"};
  return names[static_cast<int>(k)];
}

[[noreturn]] void wrong_kind(const Argument& a, const char* wanted) {
  throw GraphError(std::string("expected an argument of type ") + wanted + ", got " +
                   kind_name(a.kind()) + " (" + repr_arg(a) + ")");
}

}  // namespace

#define FX_ARG_GET(kind_, type_, wanted)                \
  if (kind() != Kind::kind_) wrong_kind(*this, wanted); \
  return std::get<type_>(value_)

bool Argument::to_bool() const { FX_ARG_GET(kBool, bool, "bool"); }
int64_t Argument::to_int() const { FX_ARG_GET(kInt, int64_t, "int"); }
double Argument::to_double() const {
  if (kind() == Kind::kInt) return static_cast<double>(std::get<int64_t>(value_));
  FX_ARG_GET(kDouble, double, "float");
}
const std::string& Argument::to_string() const { FX_ARG_GET(kString, std::string, "str"); }
c10::ScalarType Argument::to_dtype() const { FX_ARG_GET(kDtype, c10::ScalarType, "dtype"); }
c10::Device Argument::to_device() const { FX_ARG_GET(kDevice, c10::Device, "device"); }
c10::Layout Argument::to_layout() const { FX_ARG_GET(kLayout, c10::Layout, "layout"); }
c10::MemoryFormat Argument::to_memory_format() const {
  FX_ARG_GET(kMemoryFormat, c10::MemoryFormat, "memory_format");
}
Node* Argument::to_node() const { FX_ARG_GET(kNode, Node*, "Node"); }
#undef FX_ARG_GET

const at::Tensor& Argument::to_tensor() const {
  if (kind() != Kind::kTensor) wrong_kind(*this, "Tensor");
  return *std::get<std::shared_ptr<const at::Tensor>>(value_);
}

const std::vector<Argument>& Argument::items() const {
  if (!is_sequence()) wrong_kind(*this, "list or tuple");
  return std::get<std::shared_ptr<const Seq>>(value_)->items;
}

bool Argument::operator==(const Argument& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kTensor:
      return to_tensor().unsafeGetTensorImpl() == other.to_tensor().unsafeGetTensorImpl();
    case Kind::kList:
    case Kind::kTuple: return items() == other.items();
    case Kind::kDouble: {
      double a = to_double(), b = other.to_double();
      return a == b || (std::isnan(a) && std::isnan(b));
    }
    default: return value_ == other.value_;
  }
}

Argument map_arg(const Argument& arg, const std::function<Argument(Node*)>& fn) {
  switch (arg.kind()) {
    case Argument::Kind::kNode: return fn(arg.to_node());
    case Argument::Kind::kList:
    case Argument::Kind::kTuple: {
      std::vector<Argument> out;
      out.reserve(arg.items().size());
      for (const Argument& a : arg.items()) out.push_back(map_arg(a, fn));
      return arg.kind() == Argument::Kind::kList ? Argument::list(std::move(out))
                                                 : Argument::tuple(std::move(out));
    }
    default: return arg;
  }
}

Args map_arg(const Args& args, const std::function<Argument(Node*)>& fn) {
  Args out;
  out.reserve(args.size());
  for (const Argument& a : args) out.push_back(map_arg(a, fn));
  return out;
}

Kwargs map_arg(const Kwargs& kwargs, const std::function<Argument(Node*)>& fn) {
  Kwargs out;
  out.reserve(kwargs.size());
  for (const auto& kv : kwargs) out.emplace_back(kv.first, map_arg(kv.second, fn));
  return out;
}

void for_each_node(const Argument& arg, const std::function<void(Node*)>& fn) {
  if (arg.is_node()) {
    fn(arg.to_node());
  } else if (arg.is_sequence()) {
    for (const Argument& a : arg.items()) for_each_node(a, fn);
  }
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, then laid out as Python's
  // repr does: positional for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(-exp - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += ebuf;
  }
  return neg ? "-" + out : out;
}

namespace {

enum class Style { kFormat, kStr, kRepr };

void quote_python(std::string& out, const std::string& s) {
  // Python's repr of a str: single quotes unless the text has ' and no ".
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  out += q;
  for (char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  out += q;
}

// Note [Bare strings]: node lines print strings unquoted, as torch.fx does
// (`kwargs = {approximate: tanh}`). A string that is empty, has characters the
// parser treats as structure, or spells another literal (None, 1.5, cpu,
// torch.float32) is quoted instead, so parse_graph(str()) is exact.
bool reads_back_bare(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  for (char c : s) {
    if (c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
        c == '\'' || c == '"' || c == '%' || c == '<' || c == '\n' || c == '\r' || c == '\t' ||
        c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return false;
  }
  if (s == "None" || s == "True" || s == "False" || s == "inf" || s == "-inf" || s == "nan")
    return false;
  if (s.rfind("torch.", 0) == 0 || s.rfind("device(", 0) == 0) return false;
  // Numbers and device names read back as numbers and devices.
  char first = s[0] == '-' ? (s.size() > 1 ? s[1] : 'x') : s[0];
  if ((first >= '0' && first <= '9') || first == '.') return false;
  return !is_device_name(s);
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_double(std::string& out, double v) {
  // Fast path for whole numbers below 1e15: Python prints them as `3.0`.
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v > -1e15 && v < 1e15 &&
      !(v == 0 && std::signbit(v))) {
    append_int(out, static_cast<int64_t>(v));
    out += ".0";
    return;
  }
  out += format_double(v);
}

void tensor_summary(std::string& out, const at::Tensor& t) {
  out += "<tensor ";
  out += dtype_name(t.scalar_type());
  out += '[';
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i) out += ", ";
    append_int(out, t.size(i));
  }
  out += "]>";
}

void render(std::string& out, const Argument& a, Style style);

void render_seq(std::string& out, const Argument& a, Style style) {
  bool is_tuple = a.kind() == Argument::Kind::kTuple;
  // Python's str of a container uses repr for its elements.
  Style inner = style == Style::kFormat ? Style::kFormat : Style::kRepr;
  out += is_tuple ? '(' : '[';
  const auto& items = a.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    render(out, items[i], inner);
  }
  if (is_tuple && items.size() == 1) out += ',';
  out += is_tuple ? ')' : ']';
}

void render(std::string& out, const Argument& a, Style style) {
  using K = Argument::Kind;
  switch (a.kind()) {
    case K::kNone: out += "None"; return;
    case K::kBool: out += a.to_bool() ? "True" : "False"; return;
    case K::kInt: append_int(out, a.to_int()); return;
    case K::kDouble: append_double(out, a.to_double()); return;
    case K::kString:
      // torch.fx prints str() unquoted; we do too unless the text would not
      // read back as the same string (see Note [Bare strings]).
      if (style == Style::kRepr || !reads_back_bare(a.to_string())) {
        quote_python(out, a.to_string());
      } else {
        out += a.to_string();
      }
      return;
    case K::kDtype: out += "torch." + dtype_name(a.to_dtype()); return;
    case K::kDevice: {
      c10::Device d = a.to_device();
      if (style != Style::kRepr) {
        out += d.str();
        return;
      }
      out += "device(type='" + c10::DeviceTypeName(d.type(), true) + "'";
      if (d.has_index()) out += ", index=" + std::to_string(d.index());
      out += ')';
      return;
    }
    case K::kLayout: out += "torch." + layout_name(a.to_layout()); return;
    case K::kMemoryFormat: out += "torch." + memory_format_name(a.to_memory_format()); return;
    case K::kTensor: tensor_summary(out, a.to_tensor()); return;
    case K::kNode:
      if (style == Style::kFormat) out += '%';
      out += a.to_node()->name();
      return;
    case K::kList:
    case K::kTuple: render_seq(out, a, style); return;
  }
}

std::string rendered(const Argument& a, Style style) {
  std::string out;
  render(out, a, style);
  return out;
}

}  // namespace

std::string format_arg(const Argument& arg) { return rendered(arg, Style::kFormat); }
std::string str_arg(const Argument& arg) { return rendered(arg, Style::kStr); }
std::string repr_arg(const Argument& arg) { return rendered(arg, Style::kRepr); }

void format_args_to(std::string& out, const Args& args) {
  out += '(';
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out += ", ";
    render(out, args[i], Style::kFormat);
  }
  if (args.size() == 1) out += ',';
  out += ')';
}

void format_kwargs_to(std::string& out, const Kwargs& kwargs) {
  out += '{';
  for (size_t i = 0; i < kwargs.size(); ++i) {
    if (i) out += ", ";
    out += kwargs[i].first;
    out += ": ";
    render(out, kwargs[i].second, Style::kFormat);
  }
  out += '}';
}

void str_arg_to(std::string& out, const Argument& arg) { render(out, arg, Style::kStr); }

std::string format_args(const Args& args) {
  std::string out;
  format_args_to(out, args);
  return out;
}

std::string format_kwargs(const Kwargs& kwargs) {
  std::string out;
  format_kwargs_to(out, kwargs);
  return out;
}

}  // namespace fx
