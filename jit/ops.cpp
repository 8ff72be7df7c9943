// The op table and the expression emitter. See jit/ops.h.
#include "jit/ops.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include <ATen/ATen.h>
#include <ATen/native/TypeProperties.h>

#include "ir/error.h"
#include "ir/node.h"
#include "runtime/operator.h"

namespace fx::jit {
namespace {

using K = OpKind;

// One op per line. Formals are named as in the ATen schema.
const OpDef kOps[] = {
    {"aten::add.Tensor", K::kArith, "", "{self} + {alpha} * {other}"},
    {"aten::add.Scalar", K::kArith, "", "{self} + {alpha} * {other}"},
    {"aten::sub.Tensor", K::kArith, "", "{self} - {alpha} * {other}"},
    {"aten::sub.Scalar", K::kArith, "", "{self} - {alpha} * {other}"},
    {"aten::mul.Tensor", K::kArith, "", "{self} * {other}"},
    {"aten::mul.Scalar", K::kArith, "", "{self} * {other}"},
    {"aten::div.Tensor", K::kFloat, "", "{self} / {other}"},
    {"aten::div.Scalar", K::kFloat, "", "{self} / {other}"},
    {"aten::neg", K::kArith, "", "-{self}"},
    {"aten::abs", K::kArith, "", "fx_abs({self})"},
    {"aten::reciprocal", K::kFloat, "", "({T})1 / {self}"},
    {"aten::exp", K::kFloat, "", "exp{f}({self})"},
    {"aten::log", K::kFloat, "", "log{f}({self})"},
    {"aten::log1p", K::kFloat, "", "log1p{f}({self})"},
    {"aten::expm1", K::kFloat, "", "expm1{f}({self})"},
    {"aten::sqrt", K::kFloat, "", "sqrt{f}({self})"},
    {"aten::rsqrt", K::kFloat, "", "({T})1 / sqrt{f}({self})"},
    {"aten::sin", K::kFloat, "", "sin{f}({self})"},
    {"aten::cos", K::kFloat, "", "cos{f}({self})"},
    {"aten::tanh", K::kFloat, "", "tanh{f}({self})"},
    {"aten::sigmoid", K::kFloat, "", "({T})1 / (({T})1 + exp{f}(-{self}))"},
    {"aten::erf", K::kFloat, "", "erf{f}({self})"},
    {"aten::relu", K::kArith, "", "({self} < ({T})0 ? ({T})0 : {self})"},
    {"aten::gelu", K::kFloat, "approximate=none",
     "({T})0.5 * {self} * (({T})1 + erf{f}({self} * ({T})0.70710678118654752440))"},
    {"aten::gelu", K::kFloat, "approximate=tanh",
     "({T})0.5 * {self} * (({T})1 + tanh{f}(({T})0.79788456080286535588 * ({self} + ({T})0.044715 "
     "* {self} * {self} * {self})))"},
    {"aten::silu", K::kFloat, "", "{self} / (({T})1 + exp{f}(-{self}))"},
    {"aten::clamp", K::kArith, "", "fx_clamp({self}, {min}, {max})"},
    {"aten::clamp_min", K::kArith, "", "fx_clamp({self}, {min}, {max})"},
    {"aten::clamp_max", K::kArith, "", "fx_clamp({self}, {min}, {max})"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=1", "{self}"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=2", "{self} * {self}"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=3", "{self} * {self} * {self}"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=0.5", "sqrt{f}({self})"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=-0.5", "({T})1 / sqrt{f}({self})"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=-1", "({T})1 / {self}"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "exponent=-2", "({T})1 / ({self} * {self})"},
    {"aten::pow.Tensor_Scalar", K::kFloat, "", "pow{f}({self}, {exponent})"},
    {"aten::maximum", K::kArith, "", "fx_maximum({self}, {other})"},
    {"aten::minimum", K::kArith, "", "fx_minimum({self}, {other})"},
    {"aten::where.self", K::kWhere, "", "({condition} ? {self} : {other})"},
    {"aten::where.ScalarSelf", K::kWhere, "", "({condition} ? {self} : {other})"},
    {"aten::where.ScalarOther", K::kWhere, "", "({condition} ? {self} : {other})"},
    {"aten::eq.Tensor", K::kCompare, "", "({self} == {other})"},
    {"aten::eq.Scalar", K::kCompare, "", "({self} == {other})"},
    {"aten::ne.Tensor", K::kCompare, "", "({self} != {other})"},
    {"aten::ne.Scalar", K::kCompare, "", "({self} != {other})"},
    {"aten::lt.Tensor", K::kCompare, "", "({self} < {other})"},
    {"aten::lt.Scalar", K::kCompare, "", "({self} < {other})"},
    {"aten::le.Tensor", K::kCompare, "", "({self} <= {other})"},
    {"aten::le.Scalar", K::kCompare, "", "({self} <= {other})"},
    {"aten::gt.Tensor", K::kCompare, "", "({self} > {other})"},
    {"aten::gt.Scalar", K::kCompare, "", "({self} > {other})"},
    {"aten::ge.Tensor", K::kCompare, "", "({self} >= {other})"},
    {"aten::ge.Scalar", K::kCompare, "", "({self} >= {other})"},
    {"aten::logical_and", K::kLogical, "", "({self} && {other})"},
    {"aten::logical_or", K::kLogical, "", "({self} || {other})"},
    {"aten::logical_xor", K::kLogical, "", "({self} != {other})"},
    {"aten::logical_not", K::kLogical, "", "(!{self})"},
    {"aten::_to_copy", K::kCast, "", "{self}"},
    {"aten::to.dtype", K::kCast, "", "{self}"},
    {"aten::addcmul", K::kArith, "", "{self} + {value} * {tensor1} * {tensor2}"},
    {"aten::lerp.Scalar", K::kFloat, "", "fx_lerp({self}, {end}, {weight})"},
    {"aten::lerp.Tensor", K::kFloat, "", "fx_lerp({self}, {end}, {weight})"},
};

std::string base_name(const std::string& target) {
  std::string s = target.substr(0, target.find('.'));
  if (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

// A formal's value at one call: a Node, a constant, or the schema default.
struct Bound {
  const c10::Argument* formal = nullptr;
  const Argument* arg = nullptr;  // nullptr: the default
  c10::IValue def;
  bool is_node() const { return arg && arg->is_node(); }
  bool is_none() const { return arg ? arg->is_none() : def.isNone(); }
  bool is_number() const {
    if (arg) {
      auto k = arg->kind();
      return k == Argument::Kind::kInt || k == Argument::Kind::kDouble ||
             k == Argument::Kind::kBool;
    }
    return def.isInt() || def.isDouble() || def.isBool();
  }
  bool is_integral() const {
    if (arg) return arg->kind() == Argument::Kind::kInt || arg->kind() == Argument::Kind::kBool;
    return def.isInt() || def.isBool();
  }
  double number() const {
    if (arg)
      return arg->kind() == Argument::Kind::kBool ? (arg->to_bool() ? 1.0 : 0.0) : arg->to_double();
    if (def.isInt()) return static_cast<double>(def.toInt());
    return def.isBool() ? (def.toBool() ? 1.0 : 0.0) : def.toDouble();
  }
  int64_t integer() const {
    if (arg) return arg->kind() == Argument::Kind::kBool ? (arg->to_bool() ? 1 : 0) : arg->to_int();
    return def.isBool() ? (def.toBool() ? 1 : 0) : def.toInt();
  }
  std::string str() const {
    if (arg) {
      if (arg->kind() == Argument::Kind::kString) return arg->to_string();
      return is_number() ? format_double(number()) : str_arg(*arg);
    }
    if (def.isString()) return def.toStringRef();
    if (is_number()) return format_double(number());
    return def.isNone() ? "None" : "?";
  }
};

bool bind(const Node& node, std::vector<Bound>* out, std::string* why) {
  std::optional<c10::OperatorHandle> op;
  try {
    op.emplace(find_operator(node.target()));
  } catch (const std::exception&) {
    *why = "unknown operator";
    return false;
  }
  const auto& schema = op->schema();
  std::vector<std::string> names;
  for (const auto& kv : node.kwargs()) names.push_back(kv.first);
  Binding b;
  std::string reason;
  if (!bind_arguments(schema, node.args().size(), names, &b, &reason)) {
    *why = "its arguments do not bind: " + reason;
    return false;
  }
  const auto& formals = schema.arguments();
  out->clear();
  for (size_t i = 0; i < formals.size(); ++i) {
    Bound v;
    v.formal = &formals[i];
    int src = b.sources[i];
    if (src == Binding::kDefault)
      v.def = *formals[i].default_value();
    else if (src >= Binding::kFromKwarg)
      v.arg = &node.kwargs()[src - Binding::kFromKwarg].second;
    else
      v.arg = &node.args()[src];
    out->push_back(std::move(v));
  }
  return true;
}

const Bound* find_bound(const std::vector<Bound>& b, const std::string& name) {
  for (const Bound& v : b)
    if (v.formal->name() == name) return &v;
  return nullptr;
}

// The {name} placeholders of expr.
std::vector<std::string> placeholders(const char* expr) {
  std::vector<std::string> out;
  for (const char* p = expr; *p; ++p) {
    if (*p != '{') continue;
    const char* e = std::strchr(p, '}');
    std::string name(p + 1, e);
    if (name != "T" && name != "f") out.push_back(name);
    p = e;
  }
  return out;
}

bool when_holds(const OpDef& row, const std::vector<Bound>& b) {
  if (!*row.when) return true;
  std::string w = row.when;
  auto eq = w.find('=');
  const Bound* v = find_bound(b, w.substr(0, eq));
  if (!v) return false;
  std::string want = w.substr(eq + 1);
  if (v->is_number()) {
    char* end = nullptr;
    double d = std::strtod(want.c_str(), &end);
    return end && *end == '\0' && v->number() == d;
  }
  return v->str() == want;
}

const OpDef* pick_row(const std::vector<const OpDef*>& rows, const std::vector<Bound>& b) {
  for (const OpDef* r : rows)
    if (when_holds(*r, b)) return r;
  return nullptr;
}

std::string literal(double v, bool integral, int64_t iv, c10::ScalarType ct) {
  const char* t = compute_ctype(ct);
  char buf[96];
  if (c10::isFloatingType(ct)) {
    if (std::isnan(v)) return std::string("((") + t + ")fx_nan())";
    if (std::isinf(v)) return std::string("((") + t + ")" + (v < 0 ? "-" : "") + "fx_inf())";
    if (integral)
      std::snprintf(buf, sizeof(buf), "((%s)%lld.0)", t, static_cast<long long>(iv));
    else
      std::snprintf(buf, sizeof(buf), "((%s)%.17g)", t, v);
    return buf;
  }
  if (ct == c10::ScalarType::Bool) return (integral ? iv != 0 : v != 0) ? "true" : "false";
  int64_t x = integral ? iv : static_cast<int64_t>(v);
  if (x == std::numeric_limits<int64_t>::min())
    return std::string("((") + t + ")(-9223372036854775807LL - 1))";
  std::snprintf(buf, sizeof(buf), "((%s)%lldLL)", t, static_cast<long long>(x));
  return buf;
}

std::string limit_literal(c10::ScalarType ct, bool lowest) {
  if (c10::isFloatingType(ct))
    return std::string("((") + compute_ctype(ct) + ")" + (lowest ? "-" : "") + "fx_inf())";
  int64_t v = 0;
  AT_DISPATCH_INTEGRAL_TYPES_AND(c10::ScalarType::Bool, ct, "fx_limit", [&] {
    v = lowest ? static_cast<int64_t>(std::numeric_limits<scalar_t>::lowest())
               : static_cast<int64_t>(std::numeric_limits<scalar_t>::max());
  });
  return literal(0, true, v, ct);
}

bool is_operand_formal(const c10::Argument& f) {
  auto t = f.type();
  if (auto opt = t->cast<c10::OptionalType>()) t = opt->getElementType();
  auto k = t->kind();
  return k == c10::TypeKind::TensorType || k == c10::TypeKind::NumberType ||
         k == c10::TypeKind::FloatType || k == c10::TypeKind::IntType ||
         k == c10::TypeKind::BoolType;
}

// The dtype an op computes in (see OpKind).
c10::ScalarType compute_dtype(const OpDef& row, const Node& node, const std::vector<Bound>& b) {
  c10::ScalarType out = node.tensor_meta()->dtype;
  if (row.kind == K::kLogical) return c10::ScalarType::Bool;
  if (row.kind != K::kCompare) return out;
  at::native::ResultTypeState st;
  for (const std::string& name : placeholders(row.expr)) {
    const Bound* v = find_bound(b, name);
    if (!v || v->is_none()) continue;
    if (v->is_node()) {
      const TensorMeta* m = v->arg->to_node()->tensor_meta();
      at::Tensor t = at::empty(std::vector<int64_t>(m->shape.size(), 1),
                               at::TensorOptions().dtype(m->dtype).device(at::kMeta));
      st = at::native::update_result_type_state(t, st);
    } else if (v->is_number()) {
      at::Scalar s = v->is_integral() ? (v->arg && v->arg->kind() == Argument::Kind::kBool
                                             ? at::Scalar(v->integer() != 0)
                                             : at::Scalar(v->integer()))
                                      : at::Scalar(v->number());
      st = at::native::update_result_type_state(s, st);
    }
  }
  return at::native::result_type(st);
}

}  // namespace

const char* compute_ctype(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Half:
    case c10::ScalarType::BFloat16: return "float";
    case c10::ScalarType::Double: return "double";
    case c10::ScalarType::Long: return "int64_t";
    case c10::ScalarType::Int: return "int32_t";
    case c10::ScalarType::Short: return "int16_t";
    case c10::ScalarType::Char: return "int8_t";
    case c10::ScalarType::Byte: return "uint8_t";
    case c10::ScalarType::Bool: return "bool";
    default: return nullptr;
  }
}

const char* storage_ctype(c10::ScalarType dtype) {
  if (dtype == c10::ScalarType::Half || dtype == c10::ScalarType::BFloat16) return "uint16_t";
  return compute_ctype(dtype);
}

bool dtype_supported(c10::ScalarType dtype) { return compute_ctype(dtype) != nullptr; }

std::vector<const OpDef*> op_table() {
  std::vector<const OpDef*> rows;
  for (const OpDef& r : kOps) rows.push_back(&r);
  return rows;
}

std::vector<const OpDef*> op_rows(const std::string& target) {
  std::vector<const OpDef*> rows;
  for (const OpDef& r : kOps)
    if (target == r.target) rows.push_back(&r);
  return rows;
}

bool is_elementwise_name(const std::string& target) {
  static const std::set<std::string> names = [] {
    std::set<std::string> s;
    for (const OpDef& r : kOps) s.insert(base_name(r.target));
    return s;
  }();
  return names.count(base_name(target)) != 0;
}

bool node_is_fusible(const Node& node, std::string* why) {
  std::string dummy;
  if (!why) why = &dummy;
  if (node.op() != Op::CallFunction) {
    *why = "not a call_function";
    return false;
  }
  auto rows = op_rows(node.target());
  if (rows.empty()) {
    const std::string& t = node.target();
    std::string name = t.substr(0, t.find('.'));
    std::string overload = t.find('.') == std::string::npos ? "" : t.substr(t.find('.') + 1);
    if (!name.empty() && name.back() == '_')
      *why = "mutates its input (in-place operator)";
    else if (overload == "out")
      *why = "mutates its input (out= overload)";
    else if (is_elementwise_name(t))
      *why = "unsupported overload " + t;
    else
      *why = "not an elementwise operator the fuser knows";
    return false;
  }
  const TensorMeta* meta = node.tensor_meta();
  if (!meta) {
    *why = "no tensor_meta (run shape_prop or trace the module first)";
    return false;
  }
  if (!dtype_supported(meta->dtype)) {
    *why = std::string("unsupported dtype ") + c10::toString(meta->dtype);
    return false;
  }
  std::vector<Bound> b;
  if (!bind(node, &b, why)) return false;
  const OpDef* row = pick_row(rows, b);
  if (!row) {
    *why = "unsupported constant arguments";
    return false;
  }
  if (row->kind == K::kFloat && !c10::isFloatingType(meta->dtype)) {
    *why = std::string("unsupported dtype ") + c10::toString(meta->dtype) + " for this operator";
    return false;
  }
  auto ph = placeholders(row->expr);
  for (const Bound& v : b) {
    bool used = std::find(ph.begin(), ph.end(), v.formal->name()) != ph.end();
    if (v.is_node()) {
      const Node* in = v.arg->to_node();
      if (!used) {
        *why = "argument '" + v.formal->name() + "' is computed at run time";
        return false;
      }
      const TensorMeta* im = in->tensor_meta();
      if (!im) {
        *why = "operand '" + in->name() + "' is not a tensor with tensor_meta";
        return false;
      }
      if (!dtype_supported(im->dtype)) {
        *why = std::string("unsupported operand dtype ") + c10::toString(im->dtype);
        return false;
      }
      if (im->device != meta->device) {
        *why = "operands on different devices";
        return false;
      }
    } else if (used && !v.is_number() &&
               !(v.is_none() && (v.formal->name() == "min" || v.formal->name() == "max"))) {
      *why = "argument '" + v.formal->name() + "' is not a number";
      return false;
    } else if (used && !is_operand_formal(*v.formal)) {
      *why = "argument '" + v.formal->name() + "' is not an operand";
      return false;
    }
  }
  if (node.target() == "aten::to.dtype" || node.target() == "aten::_to_copy") {
    const Node* in = b[0].is_node() ? b[0].arg->to_node() : nullptr;
    if (!in) {
      *why = "casts a constant";
      return false;
    }
    if (node.target() == "aten::to.dtype" && in->tensor_meta()->dtype == meta->dtype) {
      const Bound* copy = find_bound(b, "copy");
      if (!copy || !copy->is_number() || copy->number() == 0) {
        *why = "aliases its input (to.dtype to the same dtype)";
        return false;
      }
    }
    for (const char* f : {"layout", "device", "pin_memory"}) {
      const Bound* v = find_bound(b, f);
      if (v && !v->is_none() &&
          !(std::string(f) == "pin_memory" && v->is_number() && v->number() == 0) &&
          !(std::string(f) == "device" && v->arg && v->arg->kind() == Argument::Kind::kDevice &&
            v->arg->to_device() == meta->device) &&
          !(std::string(f) == "layout" && v->arg && v->arg->kind() == Argument::Kind::kLayout &&
            v->arg->to_layout() == c10::kStrided)) {
        *why = std::string("changes ") + f;
        return false;
      }
    }
  }
  return true;
}

std::string emit_node_expr(const Node& node, const std::vector<Operand>& operands) {
  std::string why;
  if (!node_is_fusible(node, &why)) throw_node_error(node, "cannot be fused: " + why);
  std::vector<Bound> b;
  bind(node, &b, &why);
  const OpDef* row = pick_row(op_rows(node.target()), b);
  c10::ScalarType out = node.tensor_meta()->dtype;
  c10::ScalarType ct = compute_dtype(*row, node, b);
  auto operand_of = [&](const Node* n) -> const Operand& {
    for (const Operand& o : operands)
      if (o.node == n) return o;
    throw_node_error(node, "internal: no operand for '" + n->name() + "'", ErrorKind::kInternal);
  };
  std::string s;
  for (const char* p = row->expr; *p; ++p) {
    if (*p != '{') {
      s += *p;
      continue;
    }
    const char* e = std::strchr(p, '}');
    std::string name(p + 1, e);
    p = e;
    if (name == "T") {
      s += compute_ctype(ct);
      continue;
    }
    if (name == "f") {
      s += ct == c10::ScalarType::Double ? "" : "f";
      continue;
    }
    c10::ScalarType want = ct;
    if (row->kind == K::kWhere && name == "condition") want = c10::ScalarType::Bool;
    const Bound* v = find_bound(b, name);
    if (!v && (name == "min" || name == "max")) {  // clamp_min / clamp_max
      s += limit_literal(want, name == "min");
      continue;
    }
    FX_INTERNAL_ASSERT(v != nullptr, "op table names an unknown formal " + name);
    if (v->is_node()) {
      const Operand& o = operand_of(v->arg->to_node());
      if (row->kind == K::kCast || compute_ctype(o.dtype) == std::string(compute_ctype(want)))
        s += o.expr;
      else
        s += std::string("((") + compute_ctype(want) + ")" + o.expr + ")";
    } else if (v->is_none()) {
      s += limit_literal(want, name == "min");
    } else {
      s += literal(v->number(), v->is_integral(), v->is_integral() ? v->integer() : 0, want);
    }
  }
  return std::string("((") + compute_ctype(out) + ")(" + s + "))";
}

}  // namespace fx::jit
