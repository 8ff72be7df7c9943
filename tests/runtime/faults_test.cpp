// Faults from outside that the runtime must survive with a clear error and
// never a crash or a wrong result: operators this LibTorch does not have (in
// graph text and in a saved GraphModule), inputs of the wrong rank, dtype or
// device, and TorchScript archives that are damaged (regressions from
// fuzz/torchscript_import_fuzz.cpp).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "serialize/serialize.h"
#include "capture/torchscript_import.h"
#include "tests/expect_error.h"

namespace fx {
namespace {

using testing_support::expect_error;

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("fx_runtime_faults_" + std::to_string(getpid()));
  fs::create_directories(p);
  return p / name;
}

TEST(RuntimeFaults, UnknownOperatorInGraphTextIsNamed) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = call_function[target=aten::does_not_exist](args = (%x,), kwargs = {})
    return y)");
  expect_error([&] { GraphModule gm(std::move(g), {}); }, ErrorKind::kGraph,
               {"node 'y' (call_function aten::does_not_exist)"});
}

TEST(RuntimeFaults, UnknownOperatorInSavedModuleIsNamed) {
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x");
  g->output(g->call_function("aten::relu", {x}));
  GraphModule gm(std::move(g), {});
  fs::path path = scratch("unknown_op.fxgm");
  save(gm, path.string());
  // The same file as written by a LibTorch that has an operator this one has
  // not: one name changed, same length, so the rest of the file still reads.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  size_t at = bytes.find("aten::relu");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 10, "aten::zzzz");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  expect_error([&] { load(path.string()); }, ErrorKind::kGraph,
               {"node 'relu' (call_function aten::zzzz)", "unknown_op.fxgm"});
  fs::remove_all(path.parent_path());
}

// y = relu(x @ w): every wrong input is an fx::Error (kRuntime) naming the
// node and carrying ATen's reason, and the module still computes right after.
TEST(RuntimeFaults, WrongRankDtypeOrDeviceIsAClearErrorAndHarmless) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %w : [#users=1] = get_attr[target=w]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%x, %w), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mm,), kwargs = {})
    return relu)");
  Attributes attrs;
  at::Tensor w = at::randn({4, 3});
  attrs.values["w"] = w;
  GraphModule gm(std::move(g), attrs);
  struct Case {
    const char* what;
    at::Tensor input;
  };
  const Case cases[] = {
      {"rank 1", at::randn({4})},
      {"rank 3", at::randn({2, 2, 4})},
      {"int64", at::ones({2, 4}, at::kLong)},
      {"float64", at::randn({2, 4}, at::kDouble)},
      {"meta device", at::empty({2, 4}, at::TensorOptions().device(at::kMeta))},
      {"wrong width", at::randn({2, 5})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    // mm on a meta input yields a meta result, and relu refuses it.
    expect_error([&] { gm(c.input); }, ErrorKind::kRuntime, {"while executing node '"});
  }
  at::Tensor x = at::randn({2, 4});
  EXPECT_TRUE(at::allclose(gm(x).toTensor(), at::relu(at::mm(x, w))));
  // A missing or extra input, and a value that is not a tensor.
  expect_error([&] { gm.forward({}); }, ErrorKind::kRuntime);
  expect_error([&] { gm.forward({x, x}); }, ErrorKind::kRuntime);
  expect_error([&] { gm.forward({c10::IValue("text")}); }, ErrorKind::kRuntime);
}

// A small scripted module saved as an archive, written by LibTorch itself.
std::string scripted_archive() {
  torch::jit::Module m("Net");
  m.register_parameter("w", at::full({3}, 2.0), /*is_buffer=*/false);
  m.define(R"(
def forward(self, x):
    y = x * self.w
    return torch.relu(y) + 1
)");
  std::ostringstream out;
  m.save(out);
  return out.str();
}

// archive with the record whose name ends in suffix replaced by bytes.
std::string replace_record(const std::string& archive, const std::string& suffix,
                           const std::string& bytes) {
  std::istringstream in(archive);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return n;
  });
  bool replaced = false;
  for (const std::string& name : reader.getAllRecords()) {
    bool hit = name.size() >= suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (hit) {
      writer.writeRecord(name, bytes.data(), bytes.size());
      replaced = true;
    } else {
      auto [data, n] = reader.getRecord(name);
      writer.writeRecord(name, data.get(), n);
    }
  }
  writer.writeEndOfFile();
  EXPECT_TRUE(replaced) << "no record ends in " << suffix;
  return out;
}

torch::jit::Module load_archive(const std::string& archive) {
  std::istringstream in(archive);
  return torch::jit::load(in);
}

// Regression (fuzz/torchscript_import_fuzz.cpp): the record that maps the
// serialized code back to the Python source is unpickled on first use; when
// it is damaged the import failed (and a damaged length asked for 4 GB once
// per node). It only feeds locations, so the import now goes on without them.
TEST(TorchScriptFaults, DamagedDebugRecordCostsOnlyTheLocations) {
  const std::string good = scripted_archive();
  at::Tensor x = at::randn({2, 3});
  at::Tensor want = at::relu(x * 2.0) + 1;
  for (const std::string& garbage :
       {std::string("\x80\x02\xff\xfe", 4), std::string("not a pickle"), std::string()}) {
    SCOPED_TRACE(::testing::PrintToString(garbage));
    torch::jit::Module ts = load_archive(replace_record(good, ".debug_pkl", garbage));
    std::unique_ptr<GraphModule> gm;
    ASSERT_NO_THROW(gm = import_torchscript(ts));
    EXPECT_TRUE(at::allclose(gm->forward({x}).toTensor(), want));
  }
}

TEST(TorchScriptFaults, ArchiveThatDoesNotLoadIsATraceErrorNamingThePath) {
  const std::string good = scripted_archive();
  const std::pair<const char*, std::string> cases[] = {
      {"truncated", good.substr(0, good.size() / 2)},
      {"empty", std::string()},
      {"code that does not compile",
       replace_record(good, "code/__torch__.py", "def forward(self, x):\n  return x +* 1\n")},
      {"code that is not Python", replace_record(good, "code/__torch__.py", "\x01\x02\x03")},
      {"data.pkl damaged", replace_record(good, "data.pkl", "\x80\x02\xff")},
  };
  for (const auto& [what, bytes] : cases) {
    SCOPED_TRACE(what);
    fs::path path = scratch("damaged.pt");
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    expect_error([&] { load_torchscript(path.string()); }, ErrorKind::kTrace, {path.string()});
  }
  fs::remove_all(scratch("").parent_path());
}

}  // namespace
}  // namespace fx
