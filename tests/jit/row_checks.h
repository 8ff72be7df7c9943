// Helpers of the row-kernel tests (fuse_reduction_test.cpp, fuse_norm_test.cpp,
// cuda_rows_test.cpp): graphs built node by node, run fused and unfused on the
// same fresh inputs, with the row kernel checked to have run.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace fx::jit::row_checks {

inline Argument ints(std::vector<int64_t> v) { return Argument::list({v.begin(), v.end()}); }

using Build =
    std::function<void(Graph&, const std::vector<Node*>& in, std::vector<Argument>& outs)>;

inline std::unique_ptr<GraphModule> module_of(const Build& build, size_t inputs) {
  auto g = std::make_unique<Graph>();
  std::vector<Node*> in;
  for (size_t i = 0; i < inputs; ++i) in.push_back(g->placeholder("x" + std::to_string(i)));
  std::vector<Argument> outs;
  build(*g, in, outs);
  if (outs.size() == 1)
    g->output(outs[0]);
  else
    g->output(Argument::tuple(outs));
  return std::make_unique<GraphModule>(std::move(g), Attributes{});
}

inline std::vector<at::Tensor> results(const c10::IValue& v) {
  if (v.isTensor()) return {v.toTensor()};
  std::vector<at::Tensor> out;
  for (const auto& e : v.toTuple()->elements()) out.push_back(e.toTensor());
  return out;
}

inline void expect_close(const std::vector<at::Tensor>& want, const std::vector<at::Tensor>& got,
                         double rtol, double atol) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    ASSERT_EQ(want[i].sizes(), got[i].sizes());
    ASSERT_EQ(want[i].scalar_type(), got[i].scalar_type());
    at::Tensor w = want[i].to(at::kDouble), r = got[i].to(at::kDouble);
    EXPECT_TRUE(at::equal(w.isnan(), r.isnan())) << "NaNs differ";
    EXPECT_TRUE(at::allclose(r, w, rtol, atol, /*equal_nan=*/true))
        << "max abs diff " << (r - w).abs().nan_to_num(0, 0, 0).max().item<double>();
  }
}

// The row kernels (FusedKernels with reductions) of a fused module.
inline std::vector<std::shared_ptr<FusedKernel>> row_kernels(const GraphModule& fused) {
  std::vector<std::shared_ptr<FusedKernel>> out;
  for (const auto& [name, m] : fused.attributes().modules)
    if (auto k = std::dynamic_pointer_cast<FusedKernel>(m))
      if (k->spec().is_rows()) out.push_back(k);
  return out;
}

// Traces build on fuse_inputs, fuses, and checks one row kernel holding
// `reductions` runs (never eagerly) and matches eager on each set of run
// inputs. Returns the fused module.
inline std::unique_ptr<GraphModule> check(const Build& build,
                                          const std::vector<at::Tensor>& fuse_inputs,
                                          const std::vector<std::vector<at::Tensor>>& runs,
                                          const std::vector<std::string>& reductions, double rtol,
                                          double atol, bool expect_kernel = true) {
  auto gm = module_of(build, fuse_inputs.size());
  std::vector<c10::IValue> fin(fuse_inputs.begin(), fuse_inputs.end());
  shape_prop(*gm, fin);
  auto fused = fuse(*gm);
  auto kernels = row_kernels(*fused);
  EXPECT_EQ(kernels.size(), 1u) << fused->graph().str() << explain_fusion(*gm);
  if (kernels.size() != 1) return fused;
  EXPECT_EQ(kernels[0]->spec().reductions, reductions);
  for (const auto& in : runs) {
    std::vector<c10::IValue> args(in.begin(), in.end());
    int64_t calls = kernels[0]->kernel_calls();
    expect_close(results(gm->forward(args)), results(fused->forward(args)), rtol, atol);
    if (expect_kernel) {
      EXPECT_EQ(kernels[0]->kernel_calls(), calls + 1) << "ran eagerly";
    }
  }
  EXPECT_FALSE(kernels[0]->fell_back()) << kernels[0]->fallback_reason();
  return fused;
}

// The name fx gives the first node of target: aten::softmax.int -> softmax.
inline std::string name_of(const std::string& target) {
  std::string s = target.substr(target.find("::") + 2);
  s = s.substr(0, s.find('.'));
  return s == "sum" ? "sum_1" : s;  // as Python's builtin
}

inline at::Tensor rnd(std::vector<int64_t> shape, at::ScalarType t = at::kFloat) {
  return at::randn(shape).to(t);
}

// softmax(x * scale + mask) over the last dim, the attention pattern.
inline Build scaled_masked_softmax(const char* target = "aten::softmax.int") {
  return [target](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* s = g.call_function("aten::mul.Scalar", {in[0], 0.125});
    Node* a = g.call_function("aten::add.Tensor", {s, in[1]});
    if (std::string(target) == "aten::_softmax" || std::string(target) == "aten::_log_softmax")
      outs.emplace_back(g.call_function(target, {a, -1, false}));
    else
      outs.emplace_back(g.call_function(target, {a, -1}));
  };
}

// h = x + r (the residual, also returned); y = layer_norm(h, [N], w, b).
inline Build add_layer_norm(int64_t n, bool affine = true) {
  return [n, affine](Graph& g, const std::vector<Node*>& in, std::vector<Argument>& outs) {
    Node* h = g.call_function("aten::add.Tensor", {in[0], in[1]});
    Args a{h, ints({n})};
    if (affine) {
      a.emplace_back(in[2]);
      a.emplace_back(in[3]);
    }
    outs.emplace_back(g.call_function("aten::layer_norm", a, {{"eps", 1e-5}}));
    outs.emplace_back(h);
  };
}

}  // namespace fx::jit::row_checks
