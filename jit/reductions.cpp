// The reduction table and its decompositions. See jit/reductions.h.
#include "jit/reductions.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>

#include <ATen/core/dispatch/Dispatcher.h>

#include "ir/error.h"
#include "ir/node.h"
#include "jit/ops.h"
#include "runtime/operator.h"

namespace fx::jit {
namespace {

// The targets a row kernel holds.
const std::set<std::string>& fusible_targets() {
  static const std::set<std::string> t = {"aten::sum.dim_IntList",
                                          "aten::mean.dim",
                                          "aten::amax",
                                          "aten::amin",
                                          "aten::var.dim",
                                          "aten::var.correction",
                                          "aten::std.dim",
                                          "aten::std.correction",
                                          "aten::softmax.int",
                                          "aten::_softmax",
                                          "aten::log_softmax.int",
                                          "aten::_log_softmax",
                                          "aten::layer_norm",
                                          "aten::rms_norm",
                                          "aten::adaptive_avg_pool2d",
                                          "aten::native_layer_norm",
                                          "aten::group_norm"};
  return t;
}

std::string base_of(const std::string& target) {
  std::string s = target.substr(0, target.find('.'));
  if (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

// A formal's value at one call: the Argument given, or the schema default.
struct Formal {
  const Argument* arg = nullptr;
  c10::IValue def;
  bool present = false;  // the schema has this formal
  bool is_none() const { return arg ? arg->is_none() : def.isNone(); }
  bool is_node() const { return arg && arg->is_node(); }
  const Node* node() const { return is_node() ? arg->to_node() : nullptr; }
  std::optional<double> number() const {
    if (arg) {
      if (arg->kind() == Argument::Kind::kInt || arg->kind() == Argument::Kind::kDouble)
        return arg->to_double();
      if (arg->kind() == Argument::Kind::kBool) return arg->to_bool() ? 1.0 : 0.0;
      return std::nullopt;
    }
    if (def.isInt()) return static_cast<double>(def.toInt());
    if (def.isDouble()) return def.toDouble();
    if (def.isBool()) return def.toBool() ? 1.0 : 0.0;
    return std::nullopt;
  }
  // An int list (a single int counts as one); nullopt when not constant ints.
  std::optional<std::vector<int64_t>> ints() const {
    std::vector<int64_t> out;
    if (arg) {
      if (arg->kind() == Argument::Kind::kInt) return std::vector<int64_t>{arg->to_int()};
      if (!arg->is_sequence()) return std::nullopt;
      for (const Argument& a : arg->items()) {
        if (a.kind() != Argument::Kind::kInt) return std::nullopt;
        out.push_back(a.to_int());
      }
      return out;
    }
    if (def.isInt()) return std::vector<int64_t>{def.toInt()};
    if (def.isIntList()) return def.toIntVector();
    return std::nullopt;
  }
};

class Formals {
 public:
  bool bind(const Node& node, std::string* why) {
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
    for (size_t i = 0; i < schema.arguments().size(); ++i) {
      Formal f;
      f.present = true;
      int src = b.sources[i];
      if (src == Binding::kDefault)
        f.def = *schema.arguments()[i].default_value();
      else if (src >= Binding::kFromKwarg)
        f.arg = &node.kwargs()[src - Binding::kFromKwarg].second;
      else
        f.arg = &node.args()[src];
      values_.emplace_back(schema.arguments()[i].name(), f);
    }
    return true;
  }
  Formal get(const std::string& name) const {
    for (const auto& [n, f] : values_)
      if (n == name) return f;
    return Formal{};
  }

 private:
  std::vector<std::pair<std::string, Formal>> values_;
};

bool floating(c10::ScalarType t) {
  return t == c10::ScalarType::Float || t == c10::ScalarType::Double ||
         t == c10::ScalarType::Half || t == c10::ScalarType::BFloat16;
}

// The dims reduced, normalised and sorted; false when they are not the last k.
bool trailing(std::vector<int64_t> dims, int64_t rank, int64_t* k, std::string* why) {
  if (dims.empty()) {  // all dims
    *k = rank;
    return true;
  }
  for (int64_t& d : dims) {
    if (d < -rank || d >= rank) {
      *why = "dim " + std::to_string(d) + " is out of range";
      return false;
    }
    if (d < 0) d += rank;
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != rank - static_cast<int64_t>(dims.size()) + static_cast<int64_t>(i)) {
      *why = "reduces dims that are not the innermost ones (only trailing dims are fused)";
      return false;
    }
  *k = static_cast<int64_t>(dims.size());
  return true;
}

std::string literal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

const TensorMeta* first_tensor_meta(const Node& node) {
  if (const TensorMeta* m = node.tensor_meta()) return m;
  const auto* list = node.meta().get<std::vector<TensorMeta>>("tensor_meta");
  return list && !list->empty() ? &list->front() : nullptr;
}

int reduction_item(const Node& node) {
  if (node.op() != Op::CallFunction || node.target() != "getitem" || node.args().size() != 2 ||
      !node.args()[0].is_node() || node.args()[1].kind() != Argument::Kind::kInt ||
      !node.tensor_meta())
    return -1;
  const Node* whole = node.args()[0].to_node();
  const int64_t i = node.args()[1].to_int();
  if (whole->op() != Op::CallFunction || base_of(whole->target()) != "aten::native_layer_norm" ||
      i < 0 || i > 2)
    return -1;
  return static_cast<int>(i);
}

bool is_reduction_name(const std::string& target) {
  static const std::set<std::string> names = [] {
    std::set<std::string> s;
    for (const auto& t : fusible_targets()) s.insert(base_of(t));
    for (const char* t : {"aten::native_layer_norm", "aten::group_norm", "aten::native_group_norm",
                          "aten::var_mean", "aten::std_mean", "aten::max", "aten::min"})
      s.insert(t);
    return s;
  }();
  return names.count(base_of(target)) != 0;
}

bool node_is_reduction(const Node& node, ReductionInfo* info, std::string* why) {
  std::string dummy;
  if (!why) why = &dummy;
  if (node.op() != Op::CallFunction) {
    *why = "not a call_function";
    return false;
  }
  const std::string& t = node.target();
  if (!fusible_targets().count(t)) {
    std::string b = base_of(t);
    if (b == "aten::native_group_norm")
      *why = "returns (out, mean, rstd) over groups; only aten::group_norm is fused";
    else if (is_reduction_name(t))
      *why = "unsupported overload " + t;
    else
      *why = "not a reduction the fuser knows";
    return false;
  }
  const TensorMeta* out = first_tensor_meta(node);
  if (!out) {
    *why = "no tensor_meta (run shape_prop or trace the module first)";
    return false;
  }
  if (!out->device.is_cpu() && !out->device.is_meta() && !out->device.is_cuda()) {
    *why =
        std::string("reductions are fused on the CPU and CUDA only, not on ") + out->device.str();
    return false;
  }
  if (!floating(out->dtype)) {
    *why = std::string("unsupported dtype ") + c10::toString(out->dtype) +
           " (reductions are fused for floating dtypes only)";
    return false;
  }
  Formals f;
  if (!f.bind(node, why)) return false;
  const std::string first = f.get("self").present ? "self" : "input";
  const Node* x = f.get(first).node();
  if (!x || !x->tensor_meta()) {
    *why = "its input is not a tensor with tensor_meta";
    return false;
  }
  const TensorMeta* xm = x->tensor_meta();
  if (!floating(xm->dtype)) {
    *why = std::string("unsupported input dtype ") + c10::toString(xm->dtype);
    return false;
  }
  if (xm->device != out->device) {
    *why = "operands on different devices";
    return false;
  }
  const int64_t rank = static_cast<int64_t>(xm->shape.size());
  if (rank == 0) {
    *why = "reduces a 0-dim tensor";
    return false;
  }
  ReductionInfo r;
  r.full_shape = xm->shape;
  r.operands = {x};
  const std::string b = base_of(t);
  // dtype= must be None or the output dtype (a cast of the input, done in the kernel).
  Formal dtype = f.get("dtype");
  if (dtype.present && !dtype.is_none() &&
      !(dtype.arg && dtype.arg->kind() == Argument::Kind::kDtype &&
        dtype.arg->to_dtype() == out->dtype) &&
      !(dtype.arg && dtype.arg->kind() == Argument::Kind::kInt &&
        dtype.arg->to_int() == static_cast<int64_t>(out->dtype))) {
    *why = "its dtype= argument is not the output dtype";
    return false;
  }
  if (b == "aten::softmax" || b == "aten::_softmax" || b == "aten::log_softmax" ||
      b == "aten::_log_softmax") {
    auto d = f.get("dim").ints();
    if (!d || d->size() != 1) {
      *why = "its dim is not a constant int";
      return false;
    }
    if (!trailing(*d, rank, &r.k, why)) return false;
    r.out_view = 'f';
  } else if (b == "aten::layer_norm" || b == "aten::rms_norm" || b == "aten::native_layer_norm") {
    auto ns = f.get("normalized_shape").ints();
    if (!ns || ns->empty() || static_cast<int64_t>(ns->size()) > rank) {
      *why = "its normalized_shape is not a constant list the input's rank allows";
      return false;
    }
    r.k = static_cast<int64_t>(ns->size());
    r.fixed_reduced = *ns;
    if (!std::equal(ns->begin(), ns->end(), xm->shape.end() - r.k)) {
      *why = "its normalized_shape does not match the input's trailing dims";
      return false;
    }
    for (const char* w : {"weight", "bias"}) {
      Formal wf = f.get(w);
      if (!wf.present || wf.is_none()) continue;
      const Node* wn = wf.node();
      if (!wn || !wn->tensor_meta() || !floating(wn->tensor_meta()->dtype) ||
          wn->tensor_meta()->device != out->device) {
        *why = std::string("its ") + w + " is not a floating tensor on its device";
        return false;
      }
      r.operands.push_back(wn);
    }
    Formal eps = f.get("eps");
    if (!eps.is_none() && !eps.number()) {
      *why = "its eps is not a constant";
      return false;
    }
    r.out_view = b == "aten::native_layer_norm" ? 't' : 'f';
  } else if (b == "aten::group_norm") {
    // Input [N, C, *]: each group of C/G channels of a sample is reduced. With
    // G == 1 and no weight or bias that is the row [C, *]; otherwise a row is
    // one channel's [*] (weight and bias are per row) and the C/G consecutive
    // rows of a group are reduced together, which needs C fixed: the weight
    // or bias fixes it (a call with another C broadcasts differently and runs
    // eagerly).
    auto g = f.get("num_groups").number();
    if (!g) {
      *why = "its num_groups is not a constant";
      return false;
    }
    if (rank < 3) {
      *why = "its input has no spatial dims (rank " + std::to_string(rank) + ")";
      return false;
    }
    if (xm->memory_format != c10::MemoryFormat::Contiguous) {
      *why = "its input is not contiguous NCHW (a group's channels are not one row)";
      return false;
    }
    const int64_t groups = static_cast<int64_t>(*g), channels = xm->shape[1];
    bool affine = false;
    for (const char* w : {"weight", "bias"}) {
      Formal wf = f.get(w);
      if (!wf.present || wf.is_none()) continue;
      const Node* wn = wf.node();
      if (!wn || !wn->tensor_meta() || !floating(wn->tensor_meta()->dtype) ||
          wn->tensor_meta()->shape != std::vector<int64_t>{channels}) {
        *why = std::string("its ") + w + " is not a floating tensor of its channel count";
        return false;
      }
      r.row_operands.push_back(wn);
      affine = true;
    }
    if (groups == 1 && !affine) {
      r.k = rank - 1;
    } else if (groups <= 0 || channels % groups != 0) {
      *why = "its num_groups " + std::to_string(groups) + " does not divide its " +
             std::to_string(channels) + " channels";
      return false;
    } else if (groups != channels && !affine) {
      *why = "its groups of " + std::to_string(channels / groups) +
             " channels are rows reduced together, which needs the channel count fixed by a "
             "weight or bias, and it has neither";
      return false;
    } else {
      r.k = rank - 2;
      r.row_group = channels / groups;
    }
    Formal eps = f.get("eps");
    if (!eps.number()) {
      *why = "its eps is not a constant";
      return false;
    }
    r.out_view = 'f';
  } else if (b == "aten::adaptive_avg_pool2d") {
    auto os = f.get("output_size").ints();
    if (!os || os->size() != 2 || (*os)[0] != 1 || (*os)[1] != 1 || rank < 3) {
      *why = "pools to a size other than 1x1";
      return false;
    }
    r.k = 2;
    r.out_view = 'k';
  } else {
    // sum, mean, amax, amin, var, std: dim list + keepdim
    Formal dim = f.get("dim");
    std::vector<int64_t> dims;
    if (!dim.is_none()) {
      auto d = dim.ints();
      if (!d) {
        *why = "its dim is not a constant list";
        return false;
      }
      dims = *d;
    }
    if (!trailing(dims, rank, &r.k, why)) return false;
    auto keep = f.get("keepdim").number();
    if (!keep) {
      *why = "its keepdim is not a constant";
      return false;
    }
    r.out_view = *keep != 0 ? 'k' : 'd';
    Formal corr = f.get("correction");
    if (corr.present && !corr.is_none() && !corr.number()) {
      *why = "its correction is not a constant";
      return false;
    }
    if (f.get("unbiased").present && !f.get("unbiased").number()) {
      *why = "its unbiased is not a constant";
      return false;
    }
  }
  for (const auto* list : {&r.operands, &r.row_operands})
    for (const Node* o : *list)
      if (o->tensor_meta()->device != out->device) {
        *why = "operands on different devices";
        return false;
      }
  if (info) *info = std::move(r);
  return true;
}

int RowBuilder::value(const std::string& ctype, const std::string& expr, std::vector<int> deps,
                      const std::string& comment) {
  RowStmt s;
  s.kind = RowStmt::kRow;
  for (int d : deps) {
    if (at(d).full()) s.kind = RowStmt::kFull;
    s.level = std::max(s.level, at(d).level);
  }
  s.ctype = ctype;
  s.expr = expr;
  s.deps = std::move(deps);
  s.comment = comment;
  stmts_->push_back(std::move(s));
  return static_cast<int>(stmts_->size()) - 1;
}

int RowBuilder::reduce(RowStmt::Kind kind, const std::string& ctype, int operand,
                       const std::string& comment) {
  FX_INTERNAL_ASSERT(at(operand).full(), "a row reduction of a value that is not full-size");
  RowStmt s;
  s.kind = kind;
  s.ctype = ctype;
  s.expr = var(operand);
  s.deps = {operand};
  s.level = at(operand).level + 1;
  s.comment = comment;
  stmts_->push_back(std::move(s));
  return static_cast<int>(stmts_->size()) - 1;
}

int emit_reduction(const Node& node, const std::function<int(const Node*)>& operand, RowBuilder& b,
                   std::vector<int>* items) {
  std::string why;
  ReductionInfo info;
  if (!node_is_reduction(node, &info, &why)) throw_node_error(node, "cannot be fused: " + why);
  Formals f;
  f.bind(node, &why);
  const c10::ScalarType out = first_tensor_meta(node)->dtype;
  const std::string T = compute_ctype(out);
  const std::string fs = out == c10::ScalarType::Double ? "" : "f";
  const std::string c = node.name();
  const std::string base = base_of(node.target());
  // The input in the compute type.
  int x0 = operand(info.operands[0]);
  int x = b.at(x0).ctype == T ? x0 : b.value(T, "(" + T + ")" + RowBuilder::var(x0), {x0}, c);
  auto v = [](int id) { return RowBuilder::var(id); };
  auto mean_of = [&](int full) {
    int s = b.reduce(RowStmt::kSum, T, full, c);
    return b.value(T, v(s) + " / (" + T + ")n", {s}, c);
  };
  if (base == "aten::sum") return b.reduce(RowStmt::kSum, T, x, c);
  if (base == "aten::mean" || base == "aten::adaptive_avg_pool2d") return mean_of(x);
  if (base == "aten::amax") return b.reduce(RowStmt::kMax, T, x, c);
  if (base == "aten::amin") return b.reduce(RowStmt::kMin, T, x, c);
  if (base == "aten::var" || base == "aten::std") {
    double correction = 1;
    Formal cf = f.get("correction");
    if (cf.present && !cf.is_none()) correction = *cf.number();
    Formal uf = f.get("unbiased");
    if (uf.present) correction = *uf.number() != 0 ? 1 : 0;
    int m = mean_of(x);
    int d = b.value(T, v(x) + " - " + v(m), {x, m}, c);
    int q = b.reduce(RowStmt::kSum, T, b.value(T, v(d) + " * " + v(d), {d}, c), c);
    // ATen divides by max(n - correction, 0): NaN or inf when that is 0.
    std::string cl = literal(correction);
    int var = b.value(T,
                      v(q) + " / (" + T + ")((double)n - " + cl + " > 0 ? (double)n - " + cl +
                          " : 0.0)",
                      {q}, c);
    if (base == "aten::var") return var;
    return b.value(T, "sqrt" + fs + "(" + v(var) + ")", {var}, c);
  }
  if (base == "aten::softmax" || base == "aten::_softmax" || base == "aten::log_softmax" ||
      base == "aten::_log_softmax") {
    int mx = b.reduce(RowStmt::kMax, T, x, c);
    int sh = b.value(T, v(x) + " - " + v(mx), {x, mx}, c);
    int e = b.value(T, "exp" + fs + "(" + v(sh) + ")", {sh}, c);
    int s = b.reduce(RowStmt::kSum, T, e, c);
    if (base == "aten::softmax" || base == "aten::_softmax")
      return b.value(T, v(e) + " / " + v(s), {e, s}, c);
    int ls = b.value(T, "log" + fs + "(" + v(s) + ")", {s}, c);
    return b.value(T, v(sh) + " - " + v(ls), {sh, ls}, c);
  }
  // layer_norm, rms_norm
  Formal eps = f.get("eps");
  std::string eps_lit;
  if (!eps.is_none()) {
    eps_lit = "(" + T + ")" + literal(*eps.number());
  } else {  // rms_norm: the epsilon of the compute type, as ATen
    eps_lit = "(" + T + ")" +
              literal(out == c10::ScalarType::Double ? std::numeric_limits<double>::epsilon()
                                                     : std::numeric_limits<float>::epsilon());
  }
  int y, mean = -1, rstd = -1;
  if (base == "aten::layer_norm" || base == "aten::native_layer_norm" ||
      base == "aten::group_norm") {
    int m = mean_of(x);
    int d = b.value(T, v(x) + " - " + v(m), {x, m}, c);
    int var = mean_of(b.value(T, v(d) + " * " + v(d), {d}, c));
    int rs = b.value(T, "(" + T + ")1 / sqrt" + fs + "(" + v(var) + " + " + eps_lit + ")", {var}, c);
    y = b.value(T, v(d) + " * " + v(rs), {d, rs}, c);
    mean = m;
    rstd = rs;
  } else {
    int ms = mean_of(b.value(T, v(x) + " * " + v(x), {x}, c));
    int rs = b.value(T, "(" + T + ")1 / sqrt" + fs + "(" + v(ms) + " + " + eps_lit + ")", {ms}, c);
    y = b.value(T, v(x) + " * " + v(rs), {x, rs}, c);
  }
  for (const char* w : {"weight", "bias"}) {
    Formal wf = f.get(w);
    if (!wf.present || wf.is_none()) continue;
    int wi = operand(wf.node());
    std::string wv = b.at(wi).ctype == T ? v(wi) : "(" + T + ")" + v(wi);
    y = b.value(T, v(y) + (std::string(w) == "weight" ? " * " : " + ") + wv, {y, wi}, c);
  }
  if (items && base == "aten::native_layer_norm") *items = {y, mean, rstd};
  return y;
}

}  // namespace fx::jit
