// The benchmark models shared by bench/fusion_bench.cpp (CPU) and
// bench/gpu_check.cpp (CUDA):
//   chain_module(n)  x, y -> the n-op elementwise benchmark chain:
//     a = x*y; b = a+1; c = sigmoid(b); d = c*x; e = tanh(d); f = e-y; g = relu(f);
//     out = g*0.5; shorter chains are its prefixes, 16 ops is it twice
//     (kernels/thrust_reference.h hand-fuses the same chains);
//   eager_chain(n, x, y)  the same as ATen calls;
//   mlp_module(batch, dim, device)  out = x + linear(gelu_tanh(linear(x, w1, b1)), w2, b2),
//     hidden 4*dim, GELU written out in its tanh form (GPT-2's NewGELU), weights
//     as attributes on device.
#pragma once
#include <cmath>
#include <memory>

#include <ATen/ATen.h>

#include "ir/graph.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace fx::bench {

inline at::Tensor chain_step(int i, const at::Tensor& v, const at::Tensor& x, const at::Tensor& y) {
  switch (i % 8) {
    case 0: return at::mul(v, y);
    case 1: return at::add(v, 1);
    case 2: return at::sigmoid(v);
    case 3: return at::mul(v, x);
    case 4: return at::tanh(v);
    case 5: return at::sub(v, y);
    case 6: return at::relu(v);
    default: return at::mul(v, 0.5);
  }
}

inline at::Tensor eager_chain(int n, const at::Tensor& x, const at::Tensor& y) {
  at::Tensor v = x;
  for (int i = 0; i < n; ++i) v = chain_step(i, v, x, y);
  return v;
}

inline std::unique_ptr<fx::GraphModule> chain_module(int n) {
  auto g = std::make_unique<fx::Graph>();
  fx::Node* x = g->placeholder("x");
  fx::Node* y = g->placeholder("y");
  fx::Node* v = x;
  for (int i = 0; i < n; ++i) {
    switch (i % 8) {
      case 0: v = g->call_function("aten::mul.Tensor", {v, y}); break;
      case 1: v = g->call_function("aten::add.Scalar", {v, 1}); break;
      case 2: v = g->call_function("aten::sigmoid", {v}); break;
      case 3: v = g->call_function("aten::mul.Tensor", {v, x}); break;
      case 4: v = g->call_function("aten::tanh", {v}); break;
      case 5: v = g->call_function("aten::sub.Tensor", {v, y}); break;
      case 6: v = g->call_function("aten::relu", {v}); break;
      default: v = g->call_function("aten::mul.Scalar", {v, 0.5});
    }
  }
  g->output(v);
  auto gm = std::make_unique<fx::GraphModule>(std::move(g), fx::Attributes{});
  fx::shape_prop(*gm, {at::randn({16}, at::kMeta), at::randn({16}, at::kMeta)});
  return gm;
}

// The MLP block above; weights are attributes (get_attr), x is the input.
inline std::unique_ptr<fx::GraphModule> mlp_module(int64_t batch, int64_t dim,
                                                   c10::Device device = at::kCPU) {
  const int64_t hidden = 4 * dim;
  auto g = std::make_unique<fx::Graph>();
  fx::Node* x = g->placeholder("x");
  fx::Node* w1 = g->get_attr("w1");
  fx::Node* b1 = g->get_attr("b1");
  fx::Node* w2 = g->get_attr("w2");
  fx::Node* b2 = g->get_attr("b2");
  fx::Node* h = g->call_function("aten::linear", {x, w1, b1});
  fx::Node* cube = g->call_function("aten::pow.Tensor_Scalar", {h, 3.0});
  fx::Node* inner = g->call_function("aten::mul.Scalar", {cube, 0.044715});
  inner = g->call_function("aten::add.Tensor", {h, inner});
  inner = g->call_function("aten::mul.Scalar", {inner, 0.7978845608028654});
  fx::Node* t = g->call_function("aten::tanh", {inner});
  t = g->call_function("aten::add.Scalar", {t, 1.0});
  fx::Node* half = g->call_function("aten::mul.Scalar", {h, 0.5});
  fx::Node* gelu = g->call_function("aten::mul.Tensor", {half, t});
  fx::Node* o = g->call_function("aten::linear", {gelu, w2, b2});
  o = g->call_function("aten::add.Tensor", {o, x});
  g->output(o);
  fx::Attributes attrs;
  const double s1 = 1.0 / std::sqrt(static_cast<double>(dim));
  const double s2 = 1.0 / std::sqrt(static_cast<double>(hidden));
  attrs.values["w1"] = (at::randn({hidden, dim}) * s1).to(device);
  attrs.values["b1"] = (at::randn({hidden}) * s1).to(device);
  attrs.values["w2"] = (at::randn({dim, hidden}) * s2).to(device);
  attrs.values["b2"] = (at::randn({dim}) * s2).to(device);
  auto gm = std::make_unique<fx::GraphModule>(std::move(g), std::move(attrs));
  // Real (not meta) example inputs on the device, so tensor_meta names it.
  fx::shape_prop(*gm, {at::randn({batch, dim}).to(device)});
  return gm;
}

}  // namespace fx::bench
