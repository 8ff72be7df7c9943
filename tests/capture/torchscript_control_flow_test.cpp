// import_torchscript on scripted models whose branches depend on module flags,
// optional arguments and the shapes, dtypes and devices of their inputs:
// nn.TransformerEncoderLayer (both norm_first settings, and the BERT-sized
// layer), nn.MultiheadAttention with and without masks, and torchvision's
// VisionTransformer, each against the TorchScript module's own output on
// fresh inputs; the run-time checks of what the import assumed; and the
// errors for branches on data. The models are written in set-up by
// make_torchscript_control_flow_models.py (next to this file).
#include "capture/torchscript_import.h"
#include <gtest/gtest.h>
#include <torch/script.h>

#include "ir/error.h"
#include "tests/expect_error.h"
#include "tests/python_models.h"

namespace fx {
namespace {

using testing_support::expect_error;

class TorchScriptControlFlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    models_ = python_models::write_models(__FILE__, "make_torchscript_control_flow_models.py");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!models_.dir.empty()) std::filesystem::remove_all(models_.dir, ec);
    models_ = {};
  }
  void SetUp() override {
    if (!models_.skip.empty()) GTEST_SKIP() << models_.skip;
    ASSERT_TRUE(models_.error.empty()) << models_.error;
  }
  static std::string model(const std::string& name) { return models_.dir + "/" + name + ".pt"; }

  static python_models::Written models_;
};

python_models::Written TorchScriptControlFlow::models_;

// max |a - b| / max(max |b|, 1).
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  double scale = std::max(b.abs().max().item<double>(), 1.0);
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() / scale;
}

void expect_close(const c10::IValue& actual, const c10::IValue& expected, double tol) {
  if (expected.isTensor() && !expected.toTensor().defined()) {
    // MultiheadAttention's fast path (TorchScript under no_grad) returns an
    // undefined tensor for the weights it was told not to compute; its
    // general path, which the import takes, returns None.
    EXPECT_TRUE(actual.isNone() || (actual.isTensor() && !actual.toTensor().defined()))
        << actual.tagKind();
  } else if (expected.isTensor()) {
    ASSERT_TRUE(actual.isTensor()) << actual.tagKind();
    ASSERT_EQ(actual.toTensor().sizes(), expected.toTensor().sizes());
    ASSERT_EQ(actual.toTensor().scalar_type(), expected.toTensor().scalar_type());
    EXPECT_LT(relative_error(actual.toTensor(), expected.toTensor()), tol);
  } else if (expected.isTuple()) {
    ASSERT_TRUE(actual.isTuple()) << actual.tagKind();
    const auto& a = actual.toTupleRef().elements();
    const auto& e = expected.toTupleRef().elements();
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) expect_close(a[i], e[i], tol);
  } else {
    EXPECT_EQ(actual, expected);
  }
}

// Runs both on the same inputs, with autograd on and under no_grad (where
// TorchScript takes its fused fast paths and the import does not), and compares.
void expect_matches(GraphModule& gm, torch::jit::Module& ts, const std::vector<c10::IValue>& in,
                    double tol = 1e-5) {
  for (bool grad : {true, false}) {
    SCOPED_TRACE(grad ? "grad enabled" : "no_grad");
    torch::AutoGradMode mode(grad);
    c10::IValue expected = ts.forward(in);
    c10::IValue actual = gm.forward(in);
    expect_close(actual, expected, tol);
  }
}

std::vector<const Node*> assumptions(const Graph& g) {
  std::vector<const Node*> out;
  for (const Node* n : g.find_nodes(Op::CallFunction, "aten::_assert_scalar"))
    if (n->meta().get<std::string>("assumption")) out.push_back(n);
  return out;
}

bool has_assumption(const Graph& g, const std::string& text) {
  for (const Node* n : assumptions(g))
    if (n->meta().get<std::string>("assumption")->find(text) != std::string::npos) return true;
  return false;
}

// The error forward raises, "" when it does not.
std::string run_error(GraphModule& gm, const std::vector<c10::IValue>& in) {
  return expect_error([&] { gm.forward(in); }, ErrorKind::kRuntime);
}

ImportOptions with_examples(std::vector<c10::IValue> examples, bool grad_enabled = true) {
  ImportOptions options;
  options.example_inputs = std::move(examples);
  options.grad_enabled = grad_enabled;
  return options;
}

TEST_F(TorchScriptControlFlow, TransformerEncoderLayerBothNormFirst) {
  for (const char* name : {"encoder_layer", "encoder_layer_norm_first"}) {
    SCOPED_TRACE(name);
    torch::jit::Module ts = torch::jit::load(model(name));
    auto gm = import_torchscript(ts, with_examples({torch::randn({2, 7, 64})}));
    // The general path: attention as a child module, no fused encoder operator.
    EXPECT_TRUE(gm->graph().find_nodes(Op::CallFunction, "aten::_transformer_encoder_layer_fwd")
                    .empty());
    EXPECT_EQ(gm->graph().find_nodes(Op::CallModule, "self_attn").size(), 1u);
    // The fast-path checks were decided on the example and are checked again at run time.
    EXPECT_TRUE(has_assumption(gm->graph(), "`src.dim() != 3` is False")) << gm->graph();
    EXPECT_TRUE(has_assumption(gm->graph(), "`src.is_nested` is False")) << gm->graph();
    EXPECT_TRUE(has_assumption(gm->graph(), "transformer.py:")) << gm->graph();
    // Other batch sizes and lengths are not assumptions.
    for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 7, 64}, {3, 5, 64}, {1, 1, 64}})
      expect_matches(*gm, ts, {torch::randn(shape)});
    // Inlined down to operators, the attention sees one value passed as query,
    // key and value: `query is key` is known, not assumed (as a child module it
    // is an assumption about the child's three inputs).
    auto child = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("self_attn"));
    ASSERT_TRUE(child);
    EXPECT_TRUE(has_assumption(child->graph(), "`query is not key or key is not value` is False"))
        << child->graph();
    ImportOptions inlined = with_examples({torch::randn({2, 7, 64})});
    inlined.inline_calls = true;
    auto flat = import_torchscript(ts, inlined);
    EXPECT_TRUE(flat->graph().find_nodes(Op::CallModule).empty());
    EXPECT_FALSE(has_assumption(flat->graph(), "query is")) << flat->graph();
    EXPECT_TRUE(has_assumption(flat->graph(), "`src.dim() != 3` is False")) << flat->graph();
    expect_matches(*flat, ts, {torch::randn({3, 5, 64})});
  }
}

TEST_F(TorchScriptControlFlow, TransformerEncoderLayerWithPaddingMask) {
  torch::jit::Module ts = torch::jit::load(model("encoder_layer"));
  auto padding = [](int64_t batch, int64_t length) {
    at::Tensor mask = torch::zeros({batch, length}, torch::kBool);
    mask.index_put_({0, torch::indexing::Slice(length - 2)}, true);
    return mask;
  };
  auto gm = import_torchscript(
      ts, with_examples({torch::randn({2, 6, 64}), c10::IValue(), padding(2, 6)}));
  EXPECT_TRUE(has_assumption(gm->graph(), "`mask is not None` is True")) << gm->graph();
  expect_matches(*gm, ts, {torch::randn({3, 8, 64}), c10::IValue(), padding(3, 8)});
  // Imported for a mask, called without one: the assumption is checked.
  std::string error = run_error(*gm, {torch::randn({3, 8, 64})});
  EXPECT_NE(error.find("is not None` is True"), std::string::npos) << error;
}

TEST_F(TorchScriptControlFlow, FastPathWhenImportedWithoutGrad) {
  torch::jit::Module ts = torch::jit::load(model("encoder_layer"));
  auto gm = import_torchscript(ts, with_examples({torch::randn({2, 7, 64})}, false));
  EXPECT_EQ(
      gm->graph().find_nodes(Op::CallFunction, "aten::_transformer_encoder_layer_fwd").size(),
      1u)
      << gm->graph();
  torch::NoGradGuard no_grad;
  at::Tensor x = torch::randn({3, 5, 64});
  expect_close(gm->forward({x}), ts.forward({x}), 1e-5);
}

TEST_F(TorchScriptControlFlow, BertLayer) {
  torch::jit::Module ts = torch::jit::load(model("bert_layer"));
  auto gm = import_torchscript(ts, with_examples({torch::randn({1, 16, 768})}));
  expect_matches(*gm, ts, {torch::randn({2, 24, 768})});
}

TEST_F(TorchScriptControlFlow, UnbatchedInputBreaksTheAssumption) {
  torch::jit::Module ts = torch::jit::load(model("encoder_layer"));
  auto gm = import_torchscript(ts, with_examples({torch::randn({2, 7, 64})}));
  // TorchScript runs an unbatched input; the import assumed a batch.
  ts.forward({torch::randn({7, 64})});
  std::string error = run_error(*gm, {torch::randn({7, 64})});
  EXPECT_NE(error.find("`src.dim() != 3` is False"), std::string::npos) << error;
  EXPECT_NE(error.find("transformer.py:"), std::string::npos) << error;
  EXPECT_NE(error.find("_assert_scalar"), std::string::npos) << error;  // the node
}

TEST_F(TorchScriptControlFlow, MultiheadSelfAttention) {
  torch::jit::Module ts = torch::jit::load(model("mha"));
  // Self-attention: query, key and value are one tensor; weights returned.
  at::Tensor x = torch::randn({2, 5, 32});
  auto gm = import_torchscript(ts, with_examples({x, x, x}));
  at::Tensor y = torch::randn({3, 9, 32});
  expect_matches(*gm, ts, {y, y, y});
  // Another key and value break `query is key`, which the import assumed.
  std::string error = run_error(*gm, {y, torch::randn({3, 9, 32}), torch::randn({3, 9, 32})});
  EXPECT_NE(error.find("query is"), std::string::npos) << error;
}

TEST_F(TorchScriptControlFlow, MultiheadAttentionWithMasks) {
  torch::jit::Module ts = torch::jit::load(model("mha"));
  auto key_padding = [](int64_t batch, int64_t length) {
    at::Tensor mask = torch::zeros({batch, length}, torch::kBool);
    mask.index_put_({torch::indexing::Slice(), length - 1}, true);
    return mask;
  };
  {
    SCOPED_TRACE("key_padding_mask, need_weights=False");
    at::Tensor x = torch::randn({2, 5, 32});
    auto gm = import_torchscript(ts, with_examples({x, x, x, key_padding(2, 5), false}));
    at::Tensor y = torch::randn({3, 6, 32});
    expect_matches(*gm, ts, {y, y, y, key_padding(3, 6), false});
  }
  {
    SCOPED_TRACE("float attn_mask");
    at::Tensor x = torch::randn({2, 5, 32});
    auto gm = import_torchscript(ts, with_examples({x, x, x, c10::IValue(), true,
                                                    torch::randn({5, 5})}));
    at::Tensor y = torch::randn({4, 5, 32});
    expect_matches(*gm, ts, {y, y, y, c10::IValue(), true, torch::randn({5, 5})});
  }
  {
    SCOPED_TRACE("cross-attention, sequence first, boolean causal attn_mask");
    torch::jit::Module seq = torch::jit::load(model("mha_seq_first"));
    at::Tensor causal = torch::ones({4, 4}, torch::kBool).triu(1);
    auto gm = import_torchscript(
        seq, with_examples({torch::randn({4, 2, 32}), torch::randn({4, 2, 32}),
                            torch::randn({4, 2, 32}), c10::IValue(), true, causal}));
    at::Tensor kv = torch::randn({4, 3, 32});
    expect_matches(*gm, seq, {torch::randn({4, 3, 32}), kv, torch::randn({4, 3, 32}),
                              c10::IValue(), true, causal});
  }
}

TEST_F(TorchScriptControlFlow, VisionTransformer) {
  torch::jit::Module ts = torch::jit::load(model("vit_small"));
  auto gm = import_torchscript(ts, with_examples({torch::randn({2, 3, 32, 32})}));
  // The encoder layers are child modules, each imported for its own call.
  EXPECT_FALSE(gm->graph().find_nodes(Op::CallModule).empty());
  expect_matches(*gm, ts, {torch::randn({3, 3, 32, 32})}, 1e-4);
  // torchvision checks the image size with `torch._assert`: a run-time check.
  EXPECT_THROW(gm->forward({torch::randn({1, 3, 48, 48})}), Error);
}

TEST_F(TorchScriptControlFlow, ShapesDtypesOptionalsAndLoops) {
  torch::jit::Module ts = torch::jit::load(model("shape_branch"));
  {
    SCOPED_TRACE("rank 3, float32, no scale");
    auto gm = import_torchscript(ts, with_examples({torch::randn({2, 6, 8})}));
    const Graph& g = gm->graph();
    EXPECT_TRUE(has_assumption(g, "`x.dim() == 2` is False")) << g;
    EXPECT_TRUE(has_assumption(g, "`x.dtype == torch.float64` is False")) << g;
    EXPECT_TRUE(has_assumption(g, "`scale is not None` is False")) << g;
    EXPECT_TRUE(has_assumption(g, "`x.size(1) > 4` is True")) << g;
    EXPECT_TRUE(has_assumption(g, "`x.size(0)` is 2")) << g;  // the loop, unrolled twice
    expect_matches(*gm, ts, {torch::randn({2, 9, 8})});
    std::string error = run_error(*gm, {torch::randn({2, 3, 8})});
    EXPECT_NE(error.find("`x.size(1) > 4` is True"), std::string::npos) << error;
    EXPECT_NE(error.find("make_torchscript_control_flow_models.py:"), std::string::npos) << error;
    error = run_error(*gm, {torch::randn({3, 6, 8})});
    EXPECT_NE(error.find("`x.size(0)` is 2"), std::string::npos) << error;
    error = run_error(*gm, {torch::randn({2, 6, 8}, torch::kDouble)});
    EXPECT_NE(error.find("torch.float64` is False"), std::string::npos) << error;
  }
  {
    SCOPED_TRACE("rank 2, float64, a scale");
    auto gm = import_torchscript(
        ts, with_examples({torch::randn({3, 8}, torch::kDouble), torch::randn({8})}));
    expect_matches(*gm, ts, {torch::randn({3, 8}, torch::kDouble), torch::randn({8})});
    std::string error = run_error(*gm, {torch::randn({3, 8}, torch::kDouble)});
    EXPECT_NE(error.find("`scale is not None` is True"), std::string::npos) << error;
  }
  {
    SCOPED_TRACE("isinstance(shift, torch.Tensor) on an optional argument");
    auto gm = import_torchscript(
        ts, with_examples({torch::randn({2, 6, 8}), c10::IValue(), torch::randn({8})}));
    EXPECT_TRUE(has_assumption(gm->graph(), "`isinstance(shift, Tensor)` is True"))
        << gm->graph();
    expect_matches(*gm, ts, {torch::randn({2, 7, 8}), c10::IValue(), torch::randn({8})});
    std::string error = run_error(*gm, {torch::randn({2, 7, 8})});
    EXPECT_NE(error.find("isinstance(shift, Tensor)"), std::string::npos) << error;
  }
}

TEST_F(TorchScriptControlFlow, ChildCalledOnOtherShapesIsInlinedThere) {
  torch::jit::Module ts = torch::jit::load(model("calls_twice"));
  auto gm = import_torchscript(ts, with_examples({torch::randn({2, 3, 4})}));
  // The first call (rank 3) keeps the child; the second (rank 2) took the
  // other branch, so it is inlined rather than sharing the child's graph.
  EXPECT_EQ(gm->graph().find_nodes(Op::CallModule, "child").size(), 1u) << gm->graph();
  EXPECT_EQ(gm->graph().find_nodes(Op::CallFunction, "aten::mul.Tensor").size() +
                gm->graph().find_nodes(Op::CallFunction, "aten::mul.Scalar").size(),
            1u)
      << gm->graph();
  auto child = std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("child"));
  ASSERT_TRUE(child);
  EXPECT_TRUE(has_assumption(child->graph(), "`x.dim() == 2` is False")) << child->graph();
  expect_matches(*gm, ts, {torch::randn({5, 3, 4})});
}

TEST_F(TorchScriptControlFlow, BranchOnDataIsATraceErrorNamingTheLine) {
  torch::jit::Module ts = torch::jit::load(model("data_branch"));
  expect_error([&] { import_torchscript(ts, with_examples({torch::randn({4})})); },
               ErrorKind::kTrace,
               {"prim::If", "tensor data",
                "make_torchscript_control_flow_models.py:", "if bool(x.mean() > 0)", "DataBranch"});
}

TEST_F(TorchScriptControlFlow, ShapeBranchWithoutExamplesAsksForThem) {
  torch::jit::Module ts = torch::jit::load(model("encoder_layer"));
  expect_error([&] { import_torchscript(ts); }, ErrorKind::kTrace, {"example inputs"});
  // Too many example inputs.
  expect_error(
      [&] {
        import_torchscript(ts, with_examples({torch::randn({2, 3, 64}), c10::IValue(),
                                              c10::IValue(), false, torch::randn({1})}));
      },
      ErrorKind::kTrace, {"5 example inputs"});
}

}  // namespace
}  // namespace fx
