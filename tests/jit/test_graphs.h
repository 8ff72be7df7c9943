// Graphs shared by the jit tests.
#pragma once
#include <memory>
#include <vector>

#include "bench/bench_models.h"
#include <ATen/ATen.h>

#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace fx::jit::test_graphs {

// x, y -> relu(tanh(sigmoid(x * y + 1) * x) - y) * 0.5 (the benchmark's 8-op
// chain, one fused group), with tensor_meta for inputs of shape on device.
inline std::unique_ptr<GraphModule> chain8(const std::vector<int64_t>& shape,
                                           c10::Device device = at::kCPU) {
  auto gm = fx::bench::chain_module(8);
  shape_prop(*gm, {at::randn(shape).to(device), at::randn(shape).to(device)});
  return gm;
}

// x -> (x + 3) * 2 on one-byte tensors on device (the index-width tests).
inline std::unique_ptr<GraphModule> add3_mul2_bytes(c10::Device device = at::kCPU) {
  auto gm = std::make_unique<GraphModule>(parse_graph(R"(
graph():
    %x : [#users=1] = placeholder[target=x]
    %a : [#users=1] = call_function[target=aten::add.Scalar](args = (%x, 3), kwargs = {})
    %b : [#users=1] = call_function[target=aten::mul.Scalar](args = (%a, 2), kwargs = {})
    return b)"),
                                          Attributes{});
  shape_prop(*gm, {at::zeros({4}, at::TensorOptions().dtype(at::kByte).device(device))});
  return gm;
}

}  // namespace fx::jit::test_graphs
