// load_exported on archives that torch.export.save wrote in set-up
// (make_export_models.py, next to this file): torchvision's resnet18 (as
// exported and decomposed to core ATen) and mobilenet_v2, the BERT-base
// encoder layer, a dynamic batch dimension, buffer mutation (in place and
// functionalized), nested and dict outputs, one argument of every kind. Each
// is checked node for node against Python's ep.graph and numerically against
// Python's ep.module() on the same inputs; damaged and fuzzed archives must
// fail with fx::TraceError. Without Python and torch the tests are skipped.
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "capture/export_import.h"
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "ir/error.h"
#include "tests/expect_error.h"
#include "tests/python_models.h"

namespace fx {
namespace {

using testing_support::expect_error;

namespace fs = std::filesystem;
using Json = nlohmann::json;

using python_models::read_file;

c10::IValue load_pickle(const std::string& path) {
  std::string bytes = read_file(path);
  return torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
}

// The tensors of a (nested) output, numbers as 0-d tensors, in pytree order.
void leaves(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) leaves(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) leaves(e, out);
  } else if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isInt()) {
    out.push_back(torch::tensor(v.toInt()));
  } else if (v.isDouble()) {
    out.push_back(torch::tensor(v.toDouble()));
  } else if (v.isBool()) {
    out.push_back(torch::tensor(v.toBool()));
  } else {
    ADD_FAILURE() << "unexpected output value " << v.tagKind();
  }
}

std::vector<at::Tensor> leaves(const c10::IValue& v) {
  std::vector<at::Tensor> out;
  leaves(v, out);
  return out;
}

// Floating point within rtol/atol (same kernels, so tight); everything else exact.
void expect_close(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    at::Tensor g = got[i].detach();
    const at::Tensor& w = want[i];
    ASSERT_EQ(g.sizes(), w.sizes()) << what << ", output " << i;
    ASSERT_EQ(g.scalar_type(), w.scalar_type()) << what << ", output " << i;
    if (at::isFloatingType(w.scalar_type())) {
      EXPECT_TRUE(torch::allclose(g, w, 1e-4, 1e-5, /*equal_nan=*/true))
          << what << ", output " << i << ": max |diff| "
          << (g - w).abs().nan_to_num(0, 0, 0).max().item<double>();
    } else {
      EXPECT_TRUE(torch::equal(g, w)) << what << ", output " << i;
    }
  }
}

std::vector<at::Tensor> tensor_list(const c10::IValue& v) {
  std::vector<at::Tensor> out;
  if (!v.isList()) {
    ADD_FAILURE() << "expected a list of tensors, found " << v.tagKind();
    return out;
  }
  for (const auto& e : v.toListRef()) out.push_back(e.toTensor());
  return out;
}

// Python's qualified target as fx spells it: `torch.ops.aten.add.Tensor` ->
// `aten::add.Tensor`, `.default` dropped; `_operator.getitem` -> `getitem`;
// SymInt arithmetic -> the TorchScript scalar operator.
std::string fx_target(const std::string& python) {
  if (python.rfind("torch.ops.", 0) == 0) {
    std::string rest = python.substr(10);
    size_t a = rest.find('.'), b = rest.rfind('.');
    std::string overload = rest.substr(b + 1);
    return rest.substr(0, a) + "::" + rest.substr(a + 1, b - a - 1) +
           (overload == "default" ? "" : "." + overload);
  }
  if (python == "_operator.getitem") return "getitem";
  if (python == "_operator.mul") return "jit.aten.mul";
  return python;
}

// ep.graph as fx should print it: lifted placeholders become get_attr of their FQN.
std::vector<std::string> python_summary(const std::string& graph_txt) {
  std::map<std::string, std::string> lifted;
  std::vector<std::array<std::string, 3>> nodes;
  std::istringstream in(read_file(graph_txt));
  std::string kind, a, b, c;
  while (in >> kind) {
    if (kind == "node") {
      in >> a >> b >> c;
      nodes.push_back({a, b, c});
    } else {
      in >> a >> b;
      lifted[a] = b;
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, op, target] : nodes) {
    if (op == "placeholder" && lifted.count(name))
      out.push_back(name + " get_attr " + lifted[name]);
    else
      out.push_back(name + " " + op + " " + (op == "call_function" ? fx_target(target) : target));
  }
  return out;
}

std::vector<std::string> summary(const Graph& g, bool skip_copies = false) {
  std::vector<std::string> out;
  for (const Node* n : g.nodes()) {
    if (skip_copies && n->target() == "aten::copy_") continue;
    out.push_back(n->name() + " " + op_name(n->op()) + " " + n->target());
  }
  return out;
}

const Node* find(const Graph& g, const std::string& name) {
  for (const Node* n : g.nodes())
    if (n->name() == name) return n;
  return nullptr;
}

class Export : public ::testing::Test {
 protected:
  // Writes the archives once for the whole suite, with the first Python that
  // has torch and torchvision (the script exits with 77 when one lacks them).
  static void SetUpTestSuite() {
    python_models::Written w = python_models::write_models(__FILE__, "make_export_models.py");
    dir_ = w.dir;
    skip_ = w.skip;
    error_ = w.error;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
    dir_.clear();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
  }

  static std::string file(const std::string& name, const std::string& suffix = ".pt2") {
    return dir_ + "/" + name + suffix;
  }
  static std::vector<c10::IValue> inputs(const std::string& name) {
    return load_pickle(file(name, ".inputs.pt")).toListRef().vec();
  }
  // One list of output tensors per call.
  static std::vector<std::vector<at::Tensor>> expected(const std::string& name) {
    std::vector<std::vector<at::Tensor>> out;
    c10::IValue calls = load_pickle(file(name, ".expected.pt"));
    if (!calls.isList()) {
      ADD_FAILURE() << name << ".expected.pt holds a " << calls.tagKind() << ", not a list";
      return out;
    }
    for (const auto& call : calls.toListRef()) out.push_back(tensor_list(call));
    return out;
  }

  static std::string dir_;
  static std::string skip_;
  static std::string error_;
};

std::string Export::dir_;
std::string Export::skip_;
std::string Export::error_;

// --- every model: Python's graph node for node, Python's outputs ----------------------------

class ExportModel : public Export, public ::testing::WithParamInterface<const char*> {};

TEST_P(ExportModel, MatchesPythonGraphAndOutputs) {
  std::string name = GetParam();
  std::unique_ptr<GraphModule> gm = load_exported(file(name));
  EXPECT_EQ(summary(gm->graph()), python_summary(file(name, ".graph.txt")));
  torch::NoGradGuard no_grad;
  expect_close(leaves(gm->forward(inputs(name))), expected(name)[0], name);
}

INSTANTIATE_TEST_SUITE_P(Archives, ExportModel,
                         ::testing::Values("resnet18", "resnet18_core", "mobilenet_v2",
                                           "bert_layer", "dynamic", "multi_output", "dict_output",
                                           "arguments"),
                         [](const auto& info) { return std::string(info.param); });

// --- what the mapping promises ---------------------------------------------------------------

TEST_F(Export, LiftedInputsBecomeGetAttrsWithTheArchiveTensors) {
  std::unique_ptr<GraphModule> gm = load_exported(file("resnet18"));
  const Node* mean = find(gm->graph(), "b_bn1_running_mean");
  ASSERT_NE(mean, nullptr);
  EXPECT_EQ(mean->op(), Op::GetAttr);
  EXPECT_EQ(mean->target(), "bn1.running_mean");
  const c10::IValue* value = gm->get_attr("bn1.running_mean");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->toTensor().sizes(), at::IntArrayRef({64}));
  EXPECT_FALSE(value->toTensor().requires_grad());
  const at::Tensor& weight = gm->get_attr("conv1.weight")->toTensor();
  EXPECT_EQ(weight.sizes(), at::IntArrayRef({64, 3, 7, 7}));
  EXPECT_TRUE(weight.requires_grad());  // a parameter, as ep.module() has it
  const TensorMeta* meta = find(gm->graph(), "p_conv1_weight")->tensor_meta();
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(meta->shape, (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(meta->memory_format, c10::MemoryFormat::Contiguous);
}

TEST_F(Export, NodeMetadataFromTheArchive) {
  std::unique_ptr<GraphModule> gm = load_exported(file("resnet18"));
  const Node* linear = find(gm->graph(), "linear");
  ASSERT_NE(linear, nullptr);
  const std::string* stack = linear->meta().get<std::string>("nn_module_stack");
  ASSERT_NE(stack, nullptr);
  EXPECT_NE(stack->find("torch.nn.modules.linear.Linear"), std::string::npos) << *stack;
  const std::string* trace = linear->meta().get<std::string>("stack_trace");
  ASSERT_NE(trace, nullptr);
  EXPECT_NE(trace->find("in forward"), std::string::npos) << *trace;
  const TensorMeta* meta = linear->tensor_meta();
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(meta->shape, (std::vector<int64_t>{2, 1000}));
  EXPECT_EQ(meta->dtype, c10::ScalarType::Float);
}

TEST_F(Export, DynamicBatchAcceptsOtherSizes) {
  std::unique_ptr<GraphModule> gm = load_exported(file("dynamic"));
  const Node* x = find(gm->graph(), "x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->tensor_meta(), nullptr);  // the batch is symbolic: no fixed shape to promise
  const std::string* shape = x->meta().get<std::string>("sym_shape");
  ASSERT_NE(shape, nullptr);
  EXPECT_EQ(shape->substr(0, 2), "[s") << *shape;
  EXPECT_NE(shape->find(", 3, 8, 8]"), std::string::npos) << *shape;
  const std::string* ranges = x->meta().get<std::string>("sym_ranges");
  ASSERT_NE(ranges, nullptr);
  EXPECT_NE(ranges->find(": [2, 64]"), std::string::npos) << *ranges;
  const Node* mul = find(gm->graph(), "mul");
  ASSERT_NE(mul, nullptr);
  EXPECT_EQ(mul->target(), "jit.aten.mul");
  ASSERT_NE(mul->meta().get<std::string>("sym_expr"), nullptr);
  EXPECT_NE(mul->meta().get<std::string>("sym_expr")->find("Mul(2, s"), std::string::npos);
  // Exported at batch 4, the reference ran at 7; other sizes run too.
  torch::NoGradGuard no_grad;
  for (int64_t batch : {2, 7, 33}) {
    at::Tensor out = gm->forward({torch::randn({batch, 3, 8, 8})}).toTensor();
    EXPECT_EQ(out.sizes(), at::IntArrayRef({batch, 10}));
    EXPECT_TRUE(torch::allclose(out.sum(1), torch::ones({batch}), 1e-5, 1e-5));
  }
}

// Buffers mutated in place (as torch.export leaves them) and functionalized
// (run_decompositions: mutations in the output signature, written back by copy_).
TEST_F(Export, BufferMutationIsWrittenBack) {
  for (const char* name : {"buffers", "buffers_functional"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<GraphModule> gm = load_exported(file(name));
    std::vector<std::vector<at::Tensor>> want = expected(name);
    ASSERT_EQ(want.size(), 2u);
    torch::NoGradGuard no_grad;
    for (size_t call = 0; call < 2; ++call)
      expect_close(leaves(gm->forward(inputs(name))), want[call],
                   std::string(name) + " call " + std::to_string(call));
    std::vector<at::Tensor> buffers = tensor_list(load_pickle(file(name, ".buffers.pt")));
    expect_close({gm->get_attr("steps")->toTensor(), gm->get_attr("mean")->toTensor()}, buffers,
                 std::string(name) + " buffers");
  }
  std::unique_ptr<GraphModule> gm = load_exported(file("buffers_functional"));
  EXPECT_EQ(summary(gm->graph(), /*skip_copies=*/true),
            python_summary(file("buffers_functional", ".graph.txt")));
  std::vector<Node*> copies = gm->graph().find_nodes(Op::CallFunction, "aten::copy_");
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0]->args()[0].to_node()->target(), "steps");
  EXPECT_EQ(copies[1]->args()[0].to_node()->target(), "mean");
  EXPECT_EQ(copies[1]->next(), gm->graph().output_node());
  // Only the user output is returned.
  EXPECT_TRUE(gm->graph().output_node()->args()[0].is_node());
}

TEST_F(Export, OutputsShapedByTheSignature) {
  std::unique_ptr<GraphModule> gm = load_exported(file("multi_output"));
  c10::IValue out = gm->forward(inputs("multi_output"));
  ASSERT_TRUE(out.isTuple());
  const auto& items = out.toTupleRef().elements();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_TRUE(items[0].isTensor());
  ASSERT_TRUE(items[1].isList());
  EXPECT_EQ(items[1].toListRef().size(), 2u);
  ASSERT_TRUE(items[2].isTuple());
  EXPECT_EQ(items[2].toTupleRef().elements().size(), 2u);
  EXPECT_EQ(find(gm->graph(), "getitem_1")->target(), "getitem");  // max's indices

  std::unique_ptr<GraphModule> dict = load_exported(file("dict_output"));
  c10::IValue d = dict->forward(inputs("dict_output"));
  ASSERT_TRUE(d.isTuple());  // {"logits", "norm"}, flattened in key order
  ASSERT_EQ(d.toTupleRef().elements().size(), 2u);
  EXPECT_EQ(d.toTupleRef().elements()[0].toTensor().sizes(), at::IntArrayRef({5, 3}));
  const std::string* spec = dict->graph().output_node()->meta().get<std::string>("out_spec");
  ASSERT_NE(spec, nullptr);
  EXPECT_NE(spec->find("builtins.dict"), std::string::npos);

  std::unique_ptr<GraphModule> single = load_exported(file("resnet18"));
  EXPECT_TRUE(single->graph().output_node()->args()[0].is_node());  // a bare tensor
}

TEST_F(Export, EveryArgumentKind) {
  std::unique_ptr<GraphModule> gm = load_exported(file("arguments"));
  const Graph& g = gm->graph();
  EXPECT_EQ(find(g, "to")->args()[1].to_dtype(), c10::ScalarType::Double);
  const Node* zeros = find(g, "zeros");
  EXPECT_EQ(zeros->kwarg("dtype")->to_dtype(), c10::ScalarType::Float);
  EXPECT_EQ(zeros->kwarg("device")->to_device(), c10::Device("cpu"));
  EXPECT_EQ(zeros->kwarg("layout")->to_layout(), c10::Layout::Strided);
  EXPECT_EQ(find(g, "div")->kwarg("rounding_mode")->to_string(), "floor");
  const Argument& indices = find(g, "index")->args()[1];
  ASSERT_EQ(indices.items().size(), 2u);
  EXPECT_TRUE(indices.items()[0].is_none());
  EXPECT_TRUE(indices.items()[1].is_node());
  EXPECT_EQ(find(g, "sum_1")->args()[1], Argument::list({0, 1}));
  EXPECT_EQ(find(g, "masked_fill")->args()[2].to_double(),
            -std::numeric_limits<double>::infinity());
  EXPECT_EQ(find(g, "clone")->kwarg("memory_format")->to_memory_format(),
            c10::MemoryFormat::Contiguous);
  EXPECT_EQ(find(g, "cat")->args()[0].items().size(), 2u);
  EXPECT_EQ(find(g, "b_table")->target(), "table");  // a non-persistent buffer: a constant
}

// The one place names differ from Python's: fx reserves Python builtins, and
// export keeps a forward argument called `input` as it is.
TEST_F(Export, ReservedNamesGetASuffix) {
  std::unique_ptr<GraphModule> gm = load_exported(file("reserved_names"));
  std::vector<std::string> want = python_summary(file("reserved_names", ".graph.txt"));
  ASSERT_EQ(want[0], "input placeholder input");
  ASSERT_EQ(want[1], "list placeholder list");
  want[0] = "input_1 placeholder input";
  want[1] = "list_1 placeholder list";
  EXPECT_EQ(summary(gm->graph()), want);
  expect_close(leaves(gm->forward(inputs("reserved_names"))), expected("reserved_names")[0],
               "reserved_names");
}

TEST_F(Export, SampleInputsAndDetection) {
  std::vector<c10::IValue> sample = exported_sample_inputs(file("resnet18"));
  ASSERT_EQ(sample.size(), 1u);
  EXPECT_EQ(sample[0].toTensor().sizes(), at::IntArrayRef({2, 3, 64, 64}));
  EXPECT_EQ(exported_sample_inputs(file("arguments")).size(), 2u);
  EXPECT_TRUE(is_exported_archive(file("resnet18")));
  EXPECT_FALSE(is_exported_archive(file("resnet18", ".inputs.pt")));  // a zip, not an archive
  EXPECT_FALSE(is_exported_archive(file("resnet18", ".graph.txt")));
  EXPECT_FALSE(is_exported_archive(dir_ + "/no_such_file.pt2"));
}

// --- damaged archives -----------------------------------------------------------------------

void expect_trace_error(const std::string& path, const std::vector<std::string>& parts) {
  std::vector<std::string> fragments = {"cannot load torch.export archive '" + path + "'"};
  fragments.insert(fragments.end(), parts.begin(), parts.end());
  expect_error([&] { load_exported(path); }, ErrorKind::kTrace, fragments);
}

TEST(ExportErrors, MissingFile) {
  expect_trace_error("/nonexistent/model.pt2", {"cannot open the file"});
}

TEST_F(Export, DamagedAndUnsupportedArchivesRaiseTraceErrors) {
  struct Case {
    const char* file;
    std::vector<std::string> parts;
  };
  std::vector<Case> cases = {
      {"damaged_truncated", {"not a readable zip archive"}},
      {"damaged_not_a_zip", {"not a readable zip archive"}},
      {"damaged_no_model_json", {"record 'models/model.json' is missing"}},
      {"damaged_bad_json", {"record 'models/model.json'", "is not valid JSON"}},
      {"damaged_no_weights_config", {"input 'p_lin_weight'", "lin.weight", "is in neither"}},
      {"damaged_wrong_format", {"record 'archive_format'", "says 'pt3'"}},
      {"damaged_schema_version", {"schema 9.", "is not supported", "torch 2.11"}},
      {"damaged_unknown_operator",
       {"node 'linear' (torch.ops.aten.no_such_op.default)", "aten::no_such_op"}},
      {"damaged_argument_kind",
       {"node 'linear' (torch.ops.aten.linear.default), input 'input'", "as_mystery"}},
      {"damaged_undefined_value",
       {"node 'linear'", "refers to 'ghost', which no earlier input or node defines"}},
      {"damaged_node_type", {"graph.nodes[0]", "expected a JSON object, found array"}},
      {"unsupported_cond",
       {"node 'cond' (torch.ops.higher_order.cond)", "higher-order operators", "schema 8."}},
      {"damaged_weight_size",
       {"weight 'lin.weight'", "shape [1000, 1000]", "record 'data/weights/weight_0' holds 12"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    expect_trace_error(file(c.file), c.parts);
  }
}

// Structure-aware fuzzing of the model JSON (values replaced by others of any
// type, fields and list items dropped) and byte flips of the whole zip: every
// load either succeeds or throws fx::TraceError, never anything else.
TEST_F(Export, FuzzedArchivesFailCleanly) {
  using caffe2::serialize::PyTorchStreamReader;
  using caffe2::serialize::PyTorchStreamWriter;
  std::string source = file("dict_output");
  PyTorchStreamReader reader(source);
  std::map<std::string, std::string> records;
  for (const std::string& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    records[name] = std::string(static_cast<const char*>(data.get()), size);
  }
  const Json model = Json::parse(records.at("models/model.json"));
  std::vector<Json::json_pointer> paths;
  std::function<void(const Json&, const Json::json_pointer&)> walk =
      [&](const Json& v, const Json::json_pointer& at) {
        paths.push_back(at);
        if (v.is_object())
          for (auto it = v.begin(); it != v.end(); ++it) walk(it.value(), at / it.key());
        if (v.is_array())
          for (size_t i = 0; i < v.size(); ++i) walk(v[i], at / i);
      };
  walk(model, Json::json_pointer());
  const std::vector<Json> replacements = {nullptr,
                                          0,
                                          -1,
                                          1e300,
                                          "x",
                                          "Infinity",
                                          true,
                                          Json::array(),
                                          Json::object(),
                                          Json{{"as_int", 3}},
                                          Json::array({1, 2}),
                                          int64_t{1} << 62};
  std::mt19937 rng(1234);
  std::string path = dir_ + "/fuzzed.pt2";
  int loaded = 0, failed = 0;
  auto attempt = [&](const std::string& what) {
    try {
      load_exported(path);
      ++loaded;
    } catch (const TraceError&) {
      ++failed;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": threw something other than fx::TraceError: " << e.what();
    }
  };
  for (int i = 0; i < 300; ++i) {
    Json mutated = model;
    const Json::json_pointer& at = paths[rng() % paths.size()];
    std::string what = "mutation " + std::to_string(i) + " at " + at.to_string();
    if (at.empty()) continue;
    if (rng() % 4 == 0) {
      Json& parent = mutated[at.parent_pointer()];
      if (parent.is_object()) parent.erase(at.back());
      if (parent.is_array()) parent.erase(std::stoul(at.back()));
      what += " (dropped)";
    } else {
      const Json& r = replacements[rng() % replacements.size()];
      mutated[at] = r;
      what += " = " + r.dump();
    }
    {
      PyTorchStreamWriter writer(path);
      for (const auto& [name, bytes] : records) {
        if (name == ".data/version" || name == ".data/serialization_id" || name == "version" ||
            writer.getAllWrittenRecords().count(name))
          continue;
        std::string payload = name == "models/model.json" ? mutated.dump() : bytes;
        writer.writeRecord(name, payload.data(), payload.size());
      }
      writer.writeEndOfFile();
    }
    attempt(what);
  }
  std::string archive = read_file(source);
  for (int i = 0; i < 60; ++i) {
    std::string bytes = archive;
    size_t at = rng() % bytes.size();
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
    std::ofstream(path, std::ios::binary) << bytes;
    attempt("byte flip " + std::to_string(i) + " at offset " + std::to_string(at));
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(loaded, 0);  // some mutations (metadata, hints) are harmless
}

}  // namespace
}  // namespace fx
