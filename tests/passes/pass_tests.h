// Helpers shared by the inference-pass tests: counting targets in a graph, a
// deep copy of a module to serve as the unchanged reference, and a closeness
// check that prints the largest difference.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace fx::pass_tests {

// Nodes of op (call_function by default) whose target is target.
inline size_t count(const Graph& g, const std::string& target, Op op = Op::CallFunction) {
  return g.find_nodes(op, target).size();
}

// Number of nodes of opcode op.
inline size_t count_op(const Graph& g, Op op) {
  size_t n = 0;
  for (const Node* node : g.nodes()) n += node->op() == op;
  return n;
}

inline Node* node_named(const Graph& g, const std::string& name) {
  for (Node* n : g.nodes())
    if (n->name() == name) return n;
  return nullptr;
}

// Attributes with every tensor cloned, so a reference module cannot see
// in-place changes a pass might make to the module's tensors.
inline Attributes deep_copy(const Attributes& attrs) {
  Attributes out;
  for (const auto& [name, v] : attrs.values)
    out.values[name] = v.isTensor() ? c10::IValue(v.toTensor().clone()) : v;
  out.modules = attrs.modules;
  return out;
}

// A copy of gm (graph cloned, tensors cloned) that passes on gm cannot change.
inline std::unique_ptr<GraphModule> reference_copy(const GraphModule& gm) {
  return std::make_unique<GraphModule>(gm.graph().clone(), deep_copy(gm.attributes()),
                                       gm.class_name());
}

inline std::unique_ptr<GraphModule> module_of(std::string_view text, Attributes attrs = {}) {
  return std::make_unique<GraphModule>(parse_graph(text), std::move(attrs));
}

inline at::Tensor run1(GraphModule& gm, std::vector<c10::IValue> inputs) {
  return gm.forward(std::move(inputs)).toTensor();
}

// allclose with the largest absolute difference in the failure message.
inline ::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& expected,
                                        double rtol, double atol) {
  if (got.sizes() != expected.sizes())
    return ::testing::AssertionFailure()
           << "shape " << got.sizes() << " != expected " << expected.sizes();
  at::Tensor g = got.to_dense().to(at::kDouble), e = expected.to_dense().to(at::kDouble);
  if (at::allclose(g, e, rtol, atol)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max |got - expected| = " << (g - e).abs().max().item<double>() << " (rtol " << rtol
         << ", atol " << atol << ")";
}

// Whether some line of lines contains needle.
inline bool has_line(const std::vector<std::string>& lines, const std::string& needle) {
  for (const std::string& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace fx::pass_tests
