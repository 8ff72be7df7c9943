// Fused GraphModules through fx::save / fx::load: the fused call_module nodes
// come back as FusedKernels with the same spec and members, compile lazily on
// their first call and equal eager on fresh random inputs; the file records the
// kernels as documented (format version 2); bad kernel data and kernel graphs
// that fuse could not have built are fx::Errors; a module that only claims the
// FusedKernel kind cannot be saved.
#include "jit/fused_serialize.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "ir/parser.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "serialize/serialize.h"
#include "runtime/shape_prop.h"
#include "tests/expect_error.h"
#include "tests/saved_files.h"

namespace fx::jit {
namespace {

using testing_support::expect_error;

using Json = nlohmann::json;

// A fresh path per test, removed with the test.
struct TempFile : saved_files::TempFile {
  TempFile() : saved_files::TempFile("fx_fused_serialize_") {}
};
using saved_files::header_of;
using saved_files::json_length;
using saved_files::read_bytes;
using saved_files::with_header;
using saved_files::write_bytes;

// A model with parameters, an unfused matmul between two fused groups, and a
// group with two outputs (t feeds both the matmul and the second group).
std::unique_ptr<GraphModule> model() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %scale : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %scale), kwargs = {})
    %t : [#users=2] = call_function[target=aten::tanh](args = (%mul,), kwargs = {})
    %s : [#users=1] = call_function[target=aten::sigmoid](args = (%t,), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%s, %y), kwargs = {alpha: 2})
    %weight : [#users=1] = get_attr[target=weight]
    %mm : [#users=1] = call_function[target=aten::mm](args = (%t, %weight), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%mm,), kwargs = {})
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%relu, %add), kwargs = {})
    %pow_1 : [#users=1] = call_function[target=aten::pow.Tensor_Scalar](args = (%sub, 2.0), kwargs = {})
    return (pow_1, add))");
  Attributes attrs;
  attrs.values["scale"] = at::randn({16});
  attrs.values["weight"] = at::randn({16, 16});
  auto gm = std::make_unique<GraphModule>(std::move(g), std::move(attrs), "Mixed");
  shape_prop(*gm, {at::randn({8, 16}), at::randn({8, 16})});
  return gm;
}

std::vector<std::pair<std::string, std::shared_ptr<FusedKernel>>> kernels(const GraphModule& gm) {
  std::vector<std::pair<std::string, std::shared_ptr<FusedKernel>>> out;
  for (const Node* n : gm.graph().find_nodes(Op::CallModule))
    out.emplace_back(n->target(),
                     std::dynamic_pointer_cast<FusedKernel>(gm.get_submodule(n->target())));
  return out;
}

void expect_close(const c10::IValue& got, const c10::IValue& want) {
  ASSERT_TRUE(got.isTuple() && want.isTuple());
  const auto& a = got.toTupleRef().elements();
  const auto& b = want.toTupleRef().elements();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::allclose(a[i].toTensor(), b[i].toTensor(), 1e-5, 1e-5)) << "output " << i;
}

TEST(FusedSerialize, RoundTripGivesFusedKernelsThatMatchEager) {
  auto gm = model();
  auto fused = fuse(*gm);
  auto before = kernels(*fused);
  ASSERT_EQ(before.size(), 2u) << fused->graph().str();
  bool two_outputs = false;
  for (const auto& [name, k] : before) {
    ASSERT_TRUE(k) << name;
    two_outputs |= k->spec().outputs.size() == 2;
  }
  ASSERT_TRUE(two_outputs) << "the model should have a group with two outputs";

  TempFile file;
  save(*fused, file.path());
  std::unique_ptr<GraphModule> loaded = load(file.path());
  EXPECT_EQ(loaded->graph().str(), fused->graph().str());
  EXPECT_EQ(loaded->class_name(), "Mixed");
  auto after = kernels(*loaded);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    SCOPED_TRACE(after[i].first);
    const auto& k = after[i].second;
    const auto& orig = before[i].second;
    ASSERT_TRUE(k) << "the loaded submodule is not a FusedKernel";
    EXPECT_EQ(k->kind(), "fx::jit::FusedKernel");
    EXPECT_EQ(k->members(), orig->members());
    EXPECT_EQ(k->spec().name, orig->spec().name);
    EXPECT_EQ(k->spec().signature(), orig->spec().signature());
    EXPECT_EQ(k->spec().out_deps, orig->spec().out_deps);
    EXPECT_EQ(k->eager_module().graph().str(), orig->eager_module().graph().str());
    // Nothing is compiled until the first call.
    EXPECT_TRUE(k->sources().empty());
    EXPECT_EQ(k->kernel_calls(), 0);
  }

  for (int round = 0; round < 3; ++round) {
    at::Tensor x = at::randn({8, 16}), y = at::randn({8, 16});
    expect_close(loaded->forward({x, y}), gm->forward({x, y}));
  }
  for (const auto& [name, k] : after) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(k->fell_back()) << k->fallback_reason();
    EXPECT_GT(k->kernel_calls(), 0);
    EXPECT_EQ(k->eager_calls(), 0);
    EXPECT_FALSE(k->sources().empty());
  }
  // Saved again, the loaded module gives the same file.
  TempFile again;
  save(*loaded, again.path());
  EXPECT_EQ(read_bytes(again.path()), read_bytes(file.path()));
}

TEST(FusedSerialize, FileRecordsKernelsAsDocumented) {
  auto fused = fuse(*model());
  TempFile file;
  save(*fused, file.path());
  std::string bytes = read_bytes(file.path());
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x02\x00\x00\x00", 4));
  Json h = header_of(bytes);
  EXPECT_EQ(h["format_version"], 2);
  const Json& k = h["module"]["modules"]["fused_0"];
  EXPECT_EQ(k["kind"], "fx::jit::FusedKernel");
  ASSERT_TRUE(k["data"].is_string());
  Json data = Json::parse(k["data"].get<std::string>());
  EXPECT_EQ(data["name"], "fused_0");
  EXPECT_EQ(data["device"], "cpu");
  auto fk = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  ASSERT_TRUE(fk);
  EXPECT_EQ(data["members"].get<std::vector<std::string>>(), fk->members());
  EXPECT_EQ(k["module"]["kind"], "GraphModule");
  EXPECT_EQ(k["module"]["class_name"], "FusedEager");
  // The eager graph keeps tensor_meta, from which the spec is rebuilt.
  for (const Json& n : k["module"]["graph"]["nodes"])
    if (n["op"] != "output") {
      EXPECT_TRUE(n.contains("tensor_meta")) << n["name"];
    }
}

// Loads bytes with an edited header and returns the error message.
std::string load_edited(const std::string& path, const std::string& bytes,
                        const std::function<void(Json&)>& edit) {
  Json h = header_of(bytes);
  edit(h);
  write_bytes(path, with_header(bytes, h));
  return expect_error([&] { load(path); }, ErrorKind::kParse);
}

TEST(FusedSerialize, BadKernelDataOrGraphIsAnError) {
  auto fused = fuse(*model());
  TempFile file;
  save(*fused, file.path());
  const std::string bytes = read_bytes(file.path());
  auto data_of = [](Json& h) -> Json& { return h["module"]["modules"]["fused_0"]["data"]; };
  auto edit_data = [&](const std::function<void(Json&)>& f) {
    return [&, f](Json& h) {
      Json d = Json::parse(data_of(h).get<std::string>());
      f(d);
      data_of(h) = d.dump();
    };
  };
  auto eager_nodes = [](Json& h) -> Json& {
    return h["module"]["modules"]["fused_0"]["module"]["graph"]["nodes"];
  };
  struct Case {
    std::function<void(Json&)> edit;
    std::string expected;
  };
  std::vector<Case> cases = {
      {[&](Json& h) { data_of(h) = "not json"; }, "data: not JSON"},
      {edit_data([](Json& d) { d.erase("members"); }), "data: missing field 'members'"},
      {edit_data([](Json& d) { d["device"] = "gpu:x"; }), "data: device: invalid device 'gpu:x'"},
      {edit_data([](Json& d) { d["members"] = Json::array({"mul"}); }),
       "data: members: the file lists [mul] but the kernel's graph computes ["},
      {[&](Json& h) {
         for (Json& n : eager_nodes(h))
           if (n["op"] == "call_function") {
             n["target"] = "aten::mm";
             break;
           }
       },
       "cannot be part of a fused kernel"},
      {[&](Json& h) {
         for (Json& n : eager_nodes(h))
           if (n["op"] == "call_function") n.erase("tensor_meta");
       },
       "cannot be part of a fused kernel"},
  };
  for (const Case& c : cases) {
    std::string msg = load_edited(file.path(), bytes, c.edit);
    EXPECT_EQ(msg.rfind("cannot load '" + file.path() +
                            "': in submodule 'fused_0': rebuilding the fx::jit::FusedKernel: ",
                        0),
              0u)
        << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "expected: " << c.expected << "\ngot: " << msg;
  }
}

TEST(FusedSerialize, OnlyRealFusedKernelsCanBeSaved) {
  register_serialization();
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %k : [#users=1] = call_module[target=k](args = (%x,), kwargs = {})
    return k)");
  Attributes attrs;
  attrs.modules["k"] =
      make_module("fx::jit::FusedKernel", [](auto args, auto&) { return args[0]; });
  GraphModule gm(std::move(g), std::move(attrs));
  TempFile file;
  expect_error([&] { save(gm, file.path()); }, ErrorKind::kGraph,
               {"submodule 'k' (fx::jit::FusedKernel): its kind() is fx::jit::FusedKernel but it "
                "is not an fx::jit::FusedKernel object"});
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

TEST(FusedSerialize, RegistrationIsIdempotent) {
  register_serialization();
  register_serialization();
  EXPECT_TRUE(has_module_serializer("fx::jit::FusedKernel"));
}

}  // namespace
}  // namespace fx::jit
