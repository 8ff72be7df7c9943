// The fusion op table drives its own numerical test: every row (each target,
// and each `when` variant such as pow's exponents and gelu's approximations)
// is called with arguments built from its ATen schema, in every dtype eager
// LibTorch accepts for it, fused, and compared with eager on fresh random
// inputs. A row that no dtype fuses fails the test, so a row added to the
// table is tested without touching this file.
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "jit/fuse.h"
#include "jit/ops.h"
#include "runtime/graph_module.h"
#include "runtime/operator.h"
#include "runtime/shape_prop.h"

namespace fx::jit {
namespace {

const at::ScalarType kDtypes[] = {at::kFloat, at::kDouble, at::kHalf,
                                  at::kBFloat16, at::kInt, at::kLong};

struct Tolerance {
  double rtol, atol;
};

Tolerance tolerance(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return {1e-12, 1e-12};
    case at::kHalf: return {1e-2, 2e-3};
    case at::kBFloat16: return {2e-2, 1e-2};
    default: return {1e-5, 1e-5};
  }
}

at::Tensor random(const std::vector<int64_t>& shape, at::ScalarType dtype) {
  if (c10::isFloatingType(dtype)) return at::randn(shape).to(dtype);
  // Non-zero integers of both signs, so division and comparisons mean something.
  return at::randint(1, 9, shape).to(dtype) * (at::randint(0, 2, shape).to(dtype) * 2 - 1);
}

// The value a row's `when` gives its formal ("exponent=0.5" -> 0.5,
// "approximate=tanh" -> "tanh"); nullopt when the row names another formal.
std::optional<Argument> when_value(const OpDef& row, const std::string& formal) {
  std::string when = row.when;
  size_t eq = when.find('=');
  if (eq == std::string::npos || when.substr(0, eq) != formal) return std::nullopt;
  std::string v = when.substr(eq + 1);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end && *end == '\0' && !v.empty()) {
    if (d == static_cast<double>(static_cast<int64_t>(d)) && v.find('.') == std::string::npos)
      return Argument(static_cast<int64_t>(d));
    return Argument(d);
  }
  return Argument(v);
}

// A number for a scalar formal that the row does not fix: away from the
// defaults, so alpha, value and weight are exercised.
Argument scalar_for(const std::string& formal) {
  static const std::map<std::string, Argument> values = {
      {"alpha", Argument(int64_t{2})}, {"other", Argument(1.5)},     {"exponent", Argument(2.5)},
      {"min", Argument(-0.5)},         {"max", Argument(0.5)},       {"value", Argument(0.5)},
      {"weight", Argument(0.3)},       {"self", Argument(0.25)},
  };
  auto it = values.find(formal);
  return it == values.end() ? Argument(1.25) : it->second;
}

Argument from_ivalue(const c10::IValue& v) {
  if (v.isNone()) return Argument();
  if (v.isBool()) return Argument(v.toBool());
  if (v.isInt()) return Argument(v.toInt());
  if (v.isDouble()) return Argument(v.toDouble());
  if (v.isString()) return Argument(v.toStringRef());
  ADD_FAILURE() << "a default the test cannot pass: " << v.tagKind();
  return Argument();
}

// Adds a call of row to g reading t (the first tensor formal), y (the other
// tensor formals) and c (a bool condition), with the row's `when` honoured.
// `dtype` is the inputs' dtype, for the casts' target.
Node* call_row(Graph& g, const OpDef& row, Node* t, Node* y, Node* c, at::ScalarType dtype) {
  const c10::FunctionSchema& schema = find_operator(row.target).schema();
  Args args;
  Kwargs kwargs;
  std::vector<Argument> pending;  // defaults before a formal we set
  bool first_tensor = true;
  for (const c10::Argument& a : schema.arguments()) {
    const std::string& name = a.name();
    c10::TypePtr type = a.type();
    if (auto opt = type->cast<c10::OptionalType>()) type = opt->getElementType();
    std::optional<Argument> value;
    if (type->kind() == c10::TypeKind::TensorType) {
      value = name == "condition" ? c : first_tensor ? t : y;
      first_tensor = name == "condition" ? first_tensor : false;
    } else if (auto w = when_value(row, name)) {
      value = *w;
    } else if (name == "dtype") {
      value = Argument(dtype == at::kDouble ? c10::ScalarType::Float : c10::ScalarType::Double);
    } else if (type->kind() == c10::TypeKind::NumberType ||
               type->kind() == c10::TypeKind::FloatType) {
      value = scalar_for(name);
    }
    if (a.kwarg_only()) {
      if (value) kwargs.emplace_back(name, *value);
      continue;
    }
    if (!value) {
      if (!a.default_value()) {
        ADD_FAILURE() << row.target << ": no value for required formal '" << name << "'";
        return nullptr;
      }
      pending.push_back(from_ivalue(*a.default_value()));
      continue;
    }
    args.insert(args.end(), pending.begin(), pending.end());
    pending.clear();
    args.push_back(*value);
  }
  return g.call_function(row.target, std::move(args), std::move(kwargs));
}

// x, y -> (t = x * 1, c = t > y, then the given rows): a graph whose rows all
// read t, so they form one group with it.
std::unique_ptr<GraphModule> rows_module(const std::vector<const OpDef*>& rows,
                                         at::ScalarType dtype,
                                         std::vector<std::string>* names) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  Node* y = g->placeholder("y");
  Node* t = g->call_function("aten::mul.Scalar", {x, 1});
  Node* c = g->call_function("aten::gt.Tensor", {t, y});
  std::vector<Argument> outs;
  for (const OpDef* row : rows) {
    Node* n = call_row(*g, *row, t, y, c, dtype);
    if (!n) return nullptr;
    outs.emplace_back(n);
    names->push_back(n->name());
  }
  g->output(Argument::tuple(outs));
  return std::make_unique<GraphModule>(std::move(g), Attributes{});
}

// The line of an explain_fusion text that talks about node `name`.
std::string explain_line(const std::string& explain, const std::string& name) {
  std::istringstream in(explain);
  for (std::string line; std::getline(in, line);)
    if (line.find(" " + name + " ") != std::string::npos) return line;
  return "explain_fusion does not mention it";
}

std::string row_label(const OpDef& row) {
  return std::string(row.target) + (*row.when ? std::string(" [") + row.when + "]" : "");
}

bool same(const at::Tensor& want, const at::Tensor& got, at::ScalarType input_dtype,
          std::string* diff) {
  if (want.sizes() != got.sizes() || want.scalar_type() != got.scalar_type()) {
    *diff = "shape/dtype " + c10::str(got.sizes(), " ", got.scalar_type()) + " != expected " +
            c10::str(want.sizes(), " ", want.scalar_type());
    return false;
  }
  if (!c10::isFloatingType(want.scalar_type())) return at::equal(want, got);
  // A result computed from half inputs is only as exact as they are.
  Tolerance tol = tolerance(c10::isFloatingType(input_dtype) ? input_dtype : want.scalar_type());
  if (want.scalar_type() == at::kHalf || want.scalar_type() == at::kBFloat16)
    tol = tolerance(want.scalar_type());
  at::Tensor w = want.to(at::kDouble), g = got.to(at::kDouble);
  if (at::allclose(g, w, tol.rtol, tol.atol, /*equal_nan=*/true)) return true;
  *diff = "max |got - expected| = " +
          std::to_string((g - w).abs().nan_to_num(0).max().item<double>());
  return false;
}

TEST(FusionOpTable, EveryRowFusesAndMatchesEagerInEveryDtype) {
  const std::vector<const OpDef*> table = op_table();
  ASSERT_GT(table.size(), 40u);
  std::map<const OpDef*, std::vector<std::string>> fused_in;  // row -> dtypes it fused in
  std::map<const OpDef*, std::string> why_not;
  for (at::ScalarType dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    // The rows eager LibTorch runs in this dtype, each tried alone first.
    std::vector<const OpDef*> rows;
    for (const OpDef* row : table) {
      std::vector<std::string> names;
      auto one = rows_module({row}, dtype, &names);
      ASSERT_TRUE(one) << row_label(*row);
      try {
        one->forward({random({3, 5}, dtype), random({3, 5}, dtype)});
      } catch (const std::exception&) {
        why_not[row] += std::string(c10::toString(dtype)) + ": eager refuses; ";
        continue;
      }
      rows.push_back(row);
    }
    std::vector<std::string> names;
    auto eager = rows_module(rows, dtype, &names);
    ASSERT_TRUE(eager);
    at::Tensor x = random({37, 53}, dtype), y = random({37, 53}, dtype);
    shape_prop(*eager, {x, y});
    FuseOptions options;
    options.partition.max_tensor_args = 128;
    options.partition.max_group_size = 128;
    auto fused = fuse(*eager, options);
    const std::string explain = explain_fusion(*eager, options);
    std::set<std::string> left;  // rows still called outside a kernel
    for (const Node* n : fused->graph().nodes())
      if (n->op() == Op::CallFunction) left.insert(n->name());
    // Fresh inputs for the comparison.
    x = random({37, 53}, dtype), y = random({37, 53}, dtype);
    auto want = eager->forward({x, y}).toTuple()->elements();
    auto got = fused->forward({x, y}).toTuple()->elements();
    ASSERT_EQ(want.size(), rows.size());
    ASSERT_EQ(got.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      std::string diff;
      EXPECT_TRUE(same(want[i].toTensor(), got[i].toTensor(), dtype, &diff))
          << row_label(*rows[i]) << " in " << c10::toString(dtype) << ": " << diff;
      if (left.count(names[i]))
        why_not[rows[i]] += std::string(c10::toString(dtype)) + ": not fused (" +
                            explain_line(explain, names[i]) + "); ";
      else
        fused_in[rows[i]].push_back(c10::toString(dtype));
    }
  }
  for (const OpDef* row : table) {
    EXPECT_FALSE(fused_in[row].empty())
        << row_label(*row) << " was fused and checked in no dtype (" << why_not[row] << ")";
  }
  // The floating rows run in every floating dtype.
  for (const OpDef* row : table)
    if (row->kind == OpKind::kFloat) {
      EXPECT_GE(fused_in[row].size(), 4u) << row_label(*row) << ": " << why_not[row];
    }
}

}  // namespace
}  // namespace fx::jit
