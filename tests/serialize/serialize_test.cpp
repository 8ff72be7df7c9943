// save / load: round trips of every Argument kind, models with parameters, nested
// GraphModules, tensor dtypes bit for bit and tensor_meta; registered module
// kinds (format version 2) and version 1 files written by hand; errors on save;
// and corrupt files (missing, empty, wrong magic, newer version, truncated at
// every length, flipped bytes, ill-typed JSON, bad blob ranges, unregistered
// module kinds) that must raise fx::Error.
#include "serialize/serialize.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "ir/parser.h"
#include "runtime/functions.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"
#include "tests/expect_error.h"
#include "tests/saved_files.h"

namespace fx {
namespace {

using Json = nlohmann::ordered_json;

// A fresh path per test, removed with the test.
struct TempFile : saved_files::TempFile {
  explicit TempFile(const std::string& suffix = "")
      : saved_files::TempFile("fx_serialize_", suffix) {}
};
using saved_files::header_of;
using saved_files::json_length;
using saved_files::read_bytes;
using saved_files::with_header;
using saved_files::write_bytes;
using testing_support::expect_error;

// Loads path and returns the message of the fx::Error (a ParseError unless
// told otherwise) it must raise.
std::string load_error(const std::string& path, ErrorKind kind = ErrorKind::kParse) {
  SCOPED_TRACE("load(" + path + ")");
  return expect_error([&] { load(path); }, kind);
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor x = a.contiguous(), y = b.contiguous();
  return x.nbytes() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

// Structural equality of Arguments across graphs: nodes by name, tensors by
// dtype, shape and bytes, doubles bit for bit.
bool same_arg(const Argument& a, const Argument& b) {
  using K = Argument::Kind;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kNode: return a.to_node()->name() == b.to_node()->name();
    case K::kTensor: {
      const at::Tensor& x = a.to_tensor();
      const at::Tensor& y = b.to_tensor();
      return same_bytes(x, y);
    }
    case K::kDouble: {
      double x = a.to_double(), y = b.to_double();
      return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof x) == 0;
    }
    case K::kList:
    case K::kTuple: {
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!same_arg(a.items()[i], b.items()[i])) return false;
      return true;
    }
    default: return a == b;
  }
}

void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.str(), b.str());
  std::vector<const Node*> na(a.nodes().begin(), a.nodes().end());
  std::vector<const Node*> nb(b.nodes().begin(), b.nodes().end());
  ASSERT_EQ(na.size(), nb.size());
  for (size_t i = 0; i < na.size(); ++i) {
    SCOPED_TRACE(na[i]->name());
    EXPECT_EQ(na[i]->name(), nb[i]->name());
    EXPECT_EQ(na[i]->op(), nb[i]->op());
    EXPECT_EQ(na[i]->target(), nb[i]->target());
    EXPECT_EQ(na[i]->type(), nb[i]->type());
    ASSERT_EQ(na[i]->args().size(), nb[i]->args().size());
    for (size_t k = 0; k < na[i]->args().size(); ++k)
      EXPECT_TRUE(same_arg(na[i]->args()[k], nb[i]->args()[k])) << "args[" << k << "]";
    ASSERT_EQ(na[i]->kwargs().size(), nb[i]->kwargs().size());
    for (size_t k = 0; k < na[i]->kwargs().size(); ++k) {
      EXPECT_EQ(na[i]->kwargs()[k].first, nb[i]->kwargs()[k].first);
      EXPECT_TRUE(same_arg(na[i]->kwargs()[k].second, nb[i]->kwargs()[k].second));
    }
  }
}

// linear + relu + add of a buffer, with a placeholder default and kwargs.
std::unique_ptr<GraphModule> make_model() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %alpha : [#users=1] = placeholder[target=alpha](default=0.5)
    %weight : [#users=1] = get_attr[target=linear.weight]
    %bias : [#users=1] = get_attr[target=linear.bias]
    %linear : [#users=1] = call_function[target=aten::linear](args = (%x, %weight, %bias), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%linear,), kwargs = {})
    %buffer : [#users=1] = get_attr[target=buffer]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%relu, %buffer), kwargs = {alpha: %alpha})
    return add)");
  Attributes attrs;
  attrs.values["linear.weight"] = at::randn({5, 4}).set_requires_grad(true);
  attrs.values["linear.bias"] = at::randn({5}).set_requires_grad(true);
  attrs.values["buffer"] = at::randn({5});
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs), "LinearReluAdd");
}

TEST(Serialize, EveryArgumentKindRoundTrips) {
  // A registered function accepts any arguments, so the graph compiles and runs.
  register_function("serialize_test_pack",
                    [](std::vector<c10::IValue> args, const IValueKwargs& kw) {
                      for (const auto& kv : kw) args.push_back(kv.second);
                      return c10::IValue(c10::ivalue::Tuple::create(std::move(args)));
                    });
  auto g = std::make_unique<Graph>();
  Node* x = g->placeholder("x", std::nullopt, "Tensor");
  Node* k = g->placeholder("k", Argument(3), "int");
  const double inf = std::numeric_limits<double>::infinity();
  Args args = {
      Argument(),
      true,
      false,
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      Argument(k),
      0.1,
      -0.0,
      1e-300,
      inf,
      -inf,
      std::numeric_limits<double>::quiet_NaN(),
      "a \"quoted\"\n string, h\xc3\xa9llo",
      "",
      c10::ScalarType::Half,
      c10::ScalarType::BFloat16,
      c10::ScalarType::Bool,
      c10::Device("cpu"),
      c10::Device("cuda:1"),
      c10::Layout::Strided,
      c10::Layout::Sparse,
      c10::MemoryFormat::ChannelsLast,
      c10::MemoryFormat::Contiguous,
      Argument::list({}),
      Argument::tuple({}),
      Argument::tuple({1, Argument::list({2.5, Argument(x), Argument::tuple({"s", Argument()})})})};
  Node* pack = g->call_function("serialize_test_pack", args, {}, "Tuple");
  // Keyword arguments of each kind, on operators whose schemas take them.
  Node* to = g->call_function("aten::to.dtype_layout", {x},
                              {{"dtype", c10::ScalarType::Double},
                               {"layout", c10::Layout::Strided},
                               {"device", c10::Device("cpu")},
                               {"pin_memory", Argument()},
                               {"non_blocking", false},
                               {"copy", true},
                               {"memory_format", c10::MemoryFormat::Contiguous}});
  Node* add = g->call_function("aten::add.Tensor", {x}, {{"other", x}, {"alpha", k}});
  Node* sum = g->call_function(
      "aten::sum.dim_IntList", {add},
      {{"dim", Argument::list({0, -1})}, {"keepdim", true}, {"dtype", c10::ScalarType::Double}});
  Node* cat =
      g->call_function("aten::cat", {}, {{"tensors", Argument::list({x, to})}, {"dim", -1}});
  Node* add1 = g->call_function("aten::add.Tensor", {add, 1});
  Node* odd = g->create_node(Op::CallFunction, "aten::mul.Tensor", {add1, 2.0}, {}, "my_mul_7");
  g->output(Argument::tuple({pack, to, sum, cat, odd, Argument::list({add, add1})}));
  GraphModule gm(std::move(g), {}, "EveryKind");

  TempFile file;
  save(gm, file.path());
  auto loaded = load(file.path());
  EXPECT_EQ(loaded->class_name(), "EveryKind");
  expect_same_graph(gm.graph(), loaded->graph());
  EXPECT_EQ(gm.code(), loaded->code());

  at::Tensor in = at::randn({2, 3});
  auto want = gm.forward({in}).toTupleRef().elements();
  auto got = loaded->forward({in}).toTupleRef().elements();
  EXPECT_EQ(want[0].toTupleRef().elements().size(), got[0].toTupleRef().elements().size());
  for (size_t i = 1; i < 5; ++i) EXPECT_TRUE(at::equal(want[i].toTensor(), got[i].toTensor())) << i;
}

TEST(Serialize, TensorConstantArgumentsRoundTrip) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%x, 1.0), kwargs = {})
    %mul : [#users=2] = call_function[target=aten::mul.Tensor](args = (%add, 2.0), kwargs = {})
    %cat : [#users=1] = call_function[target=aten::cat](args = ([%mul, %mul],), kwargs = {})
    return cat)");
  GraphModule gm(std::move(g), {});
  // Edited in after construction: the graph is saved as it stands, not as last compiled.
  at::Tensor c = at::randn({3});
  Node* add = *std::next(gm.graph().nodes().begin(), 1);
  add->update_arg(1, c);
  Node* mul = add->next();
  mul->update_arg(1, c);
  mul->next()->update_arg(0, Argument::list({mul, c}));
  TempFile file;
  save(gm, file.path());
  std::string bytes = read_bytes(file.path());
  Json h = header_of(bytes);
  ASSERT_EQ(h["tensors"].size(), 1u);  // one object, stored once
  EXPECT_EQ(bytes.substr(16 + json_length(bytes)),
            std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));

  std::unique_ptr<GraphModule> loaded;
  try {
    loaded = load(file.path());
  } catch (const Error& e) {
    // The file is fine; what fails is compiling the graph (the C++ code
    // generator has no spelling for tensor constants yet), and load says so.
    EXPECT_NE(std::string(e.what()).find("cannot load '" + file.path() + "': "), std::string::npos);
    GTEST_SKIP() << "GraphModule cannot compile tensor constant arguments yet: " << e.what();
  }
  expect_same_graph(gm.graph(), loaded->graph());
  const Node* ladd = *std::next(loaded->graph().nodes().begin(), 1);
  EXPECT_TRUE(ladd->args()[1].to_tensor().is_same(ladd->next()->args()[1].to_tensor()));
  EXPECT_TRUE(
      ladd->args()[1].to_tensor().is_same(ladd->next()->next()->args()[0].items()[1].to_tensor()));
  at::Tensor x = at::randn({3});
  EXPECT_TRUE(at::equal(loaded->forward({x}).toTensor(), at::cat({(x + c) * c, c})));
}

TEST(Serialize, ModelWithParametersGivesIdenticalOutputs) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  auto loaded = load(file.path());
  EXPECT_EQ(loaded->class_name(), "LinearReluAdd");
  expect_same_graph(gm->graph(), loaded->graph());
  for (const auto& [name, value] : gm->attributes().values) {
    SCOPED_TRACE(name);
    const c10::IValue* v = loaded->get_attr(name);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(same_bytes(v->toTensor(), value.toTensor()));
    EXPECT_EQ(v->toTensor().requires_grad(), value.toTensor().requires_grad());
    EXPECT_TRUE(v->toTensor().is_contiguous());
  }
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::randn({7, 4});
    EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), loaded->forward({x}).toTensor()));
    EXPECT_TRUE(at::equal(gm->forward({x, 2.0}).toTensor(), loaded->forward({x, 2.0}).toTensor()));
  }
  // A second save of the loaded module writes the same bytes.
  TempFile again("_again");
  save(*loaded, again.path());
  EXPECT_EQ(read_bytes(file.path()), read_bytes(again.path()));
  EXPECT_FALSE(std::filesystem::exists(file.path() + ".tmp"));
}

TEST(Serialize, RunModeFlagsRoundTrip) {
  using Reuse = GraphModule::BufferReuse;
  for (Reuse reuse : {Reuse::kInInferenceMode, Reuse::kAlways, Reuse::kNever}) {
    const bool on = reuse == Reuse::kAlways;
    SCOPED_TRACE(static_cast<int>(reuse));
    auto gm = make_model();
    gm->set_inference_mode(on);
    gm->set_buffer_reuse(reuse);
    TempFile file;
    save(*gm, file.path());
    auto loaded = load(file.path());
    EXPECT_EQ(loaded->inference_mode(), on);
    EXPECT_EQ(loaded->buffer_reuse(), reuse);
  }
}

TEST(Serialize, FilePrefixAndHeaderAreAsDocumented) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  std::string bytes = read_bytes(file.path());
  ASSERT_GE(bytes.size(), 16u);
  EXPECT_EQ(bytes.substr(0, 4), "FXGM");
  // Only GraphModules: written as version 1, which older builds read.
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x01\x00\x00\x00", 4));
  Json h = header_of(bytes);
  EXPECT_EQ(h["format"], "fx.GraphModule");
  EXPECT_EQ(h["format_version"], 1);
  EXPECT_EQ(16 + json_length(bytes) + h["blob_bytes"].get<uint64_t>(), bytes.size());
  EXPECT_EQ(h["tensors"].size(), 3u);  // linear.weight, linear.bias, buffer
  EXPECT_EQ(h["module"]["class_name"], "LinearReluAdd");
  EXPECT_EQ(h["module"]["graph"]["nodes"][0]["name"], "x");
}

TEST(Serialize, NestedGraphModulesRoundTripAndShareTiedTensors) {
  at::Tensor shared = at::randn({4});
  auto inner_graph = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %scale : [#users=1] = get_attr[target=scale]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %scale), kwargs = {})
    %tanh : [#users=1] = call_function[target=aten::tanh](args = (%mul,), kwargs = {})
    return tanh)");
  Attributes inner_attrs;
  inner_attrs.values["scale"] = shared;
  auto inner =
      std::make_shared<GraphModule>(std::move(inner_graph), std::move(inner_attrs), "Inner");

  auto middle_graph = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %inner : [#users=1] = call_module[target=inner](args = (%x,), kwargs = {})
    %neg : [#users=1] = call_function[target=aten::neg](args = (%inner,), kwargs = {})
    return neg)");
  Attributes middle_attrs;
  middle_attrs.modules["inner"] = inner;
  auto middle =
      std::make_shared<GraphModule>(std::move(middle_graph), std::move(middle_attrs), "Middle");

  auto outer_graph = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %block : [#users=2] = call_module[target=block](args = (%x,), kwargs = {})
    %block_1 : [#users=1] = call_module[target=block](args = (%block,), kwargs = {})
    %shift : [#users=1] = get_attr[target=shift]
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%block_1, %shift), kwargs = {})
    %sub : [#users=1] = call_function[target=aten::sub.Tensor](args = (%add, %block), kwargs = {})
    return sub)");
  Attributes outer_attrs;
  outer_attrs.modules["block"] = middle;
  outer_attrs.values["shift"] = shared;
  GraphModule outer(std::move(outer_graph), std::move(outer_attrs), "Outer");

  TempFile file;
  save(outer, file.path());
  EXPECT_EQ(header_of(read_bytes(file.path()))["tensors"].size(), 1u);  // tied: stored once
  auto loaded = load(file.path());
  expect_same_graph(outer.graph(), loaded->graph());
  auto lmiddle = std::dynamic_pointer_cast<GraphModule>(loaded->get_submodule("block"));
  ASSERT_NE(lmiddle, nullptr);
  EXPECT_EQ(lmiddle->class_name(), "Middle");
  expect_same_graph(middle->graph(), lmiddle->graph());
  auto linner = std::dynamic_pointer_cast<GraphModule>(lmiddle->get_submodule("inner"));
  ASSERT_NE(linner, nullptr);
  EXPECT_EQ(linner->print_readable(), inner->print_readable());
  EXPECT_TRUE(linner->get_attr("scale")->toTensor().is_same(loaded->get_attr("shift")->toTensor()));
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::randn({2, 4});
    EXPECT_TRUE(at::equal(outer.forward({x}).toTensor(), loaded->forward({x}).toTensor()));
  }
}

TEST(Serialize, TensorDtypesAndAttributeValuesAreBitExact) {
  std::map<std::string, at::Tensor> tensors = {
      {"f16", at::randn({3, 5}).to(at::kHalf)},
      {"bf16", at::randn({4, 2}).to(at::kBFloat16)},
      {"i64", at::randint(-(int64_t{1} << 62), int64_t{1} << 62, {17}, at::kLong)},
      {"b", at::rand({2, 3, 2}) > 0.5},
      {"u8", at::randint(0, 256, {9}, at::kByte)},
      {"c64", at::randn({3}, at::kComplexFloat)},
      {"f64", at::tensor({-0.0, std::nan(""), -std::numeric_limits<double>::infinity(), 1e-310},
                         at::kDouble)},
      {"scalar", at::scalar_tensor(3.25)},
      {"empty", at::empty({0, 4}, at::kInt)},
      {"transposed", at::randn({3, 4}).t()},           // saved contiguous
      {"expanded", at::randn({1, 3}).expand({4, 3})},  // stride 0
      {"sliced", at::arange(20, at::kFloat).slice(0, 3, 17, 2)},
  };
  auto g = std::make_unique<Graph>();
  std::vector<Argument> outs;
  Attributes attrs;
  for (const auto& [name, t] : tensors) {
    outs.push_back(g->get_attr(name));
    attrs.values[name] = t;
  }
  std::map<std::string, c10::IValue> others = {
      {"n", int64_t{-42}},
      {"ratio", 0.1},
      {"flag", true},
      {"label", std::string("h\xc3\xa9llo")},
      {"nothing", c10::IValue()},
      {"sizes", c10::List<int64_t>({2, -1, 3})},
      {"scales", c10::List<double>({1.5, std::numeric_limits<double>::infinity()})},
      {"mask", c10::List<bool>({true, false})},
      {"pair", c10::ivalue::Tuple::create(std::vector<c10::IValue>{tensors["f16"], int64_t{3}})},
      {"parts", c10::List<at::Tensor>({tensors["bf16"], tensors["i64"]})},
  };
  for (const auto& [name, v] : others) {
    outs.push_back(g->get_attr(name));
    attrs.values[name] = v;
  }
  g->output(Argument::tuple(outs));
  GraphModule gm(std::move(g), std::move(attrs));

  TempFile file;
  save(gm, file.path());
  auto loaded = load(file.path());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    at::Tensor got = loaded->get_attr(name)->toTensor();
    EXPECT_EQ(got.scalar_type(), t.scalar_type());
    EXPECT_EQ(got.sizes(), t.sizes());
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_TRUE(same_bytes(got, t));
  }
  for (const auto& [name, v] : others) {
    SCOPED_TRACE(name);
    const c10::IValue& got = *loaded->get_attr(name);
    EXPECT_EQ(got.tagKind(), v.tagKind());
    if (name == "pair") {
      const auto& items = got.toTupleRef().elements();
      EXPECT_TRUE(same_bytes(items[0].toTensor(), tensors["f16"]));
      EXPECT_EQ(items[1].toInt(), 3);
      // The tensor inside the tuple is the same object as attribute f16.
      EXPECT_TRUE(items[0].toTensor().is_same(loaded->get_attr("f16")->toTensor()));
    } else if (name == "parts") {
      auto list = got.toTensorVector();
      ASSERT_EQ(list.size(), 2u);
      EXPECT_TRUE(same_bytes(list[0], tensors["bf16"]));
      EXPECT_TRUE(same_bytes(list[1], tensors["i64"]));
    } else {
      EXPECT_EQ(got, v);
    }
  }
  auto out = loaded->forward({}).toTupleRef().elements();
  EXPECT_TRUE(same_bytes(out[0].toTensor(), tensors.begin()->second));
}

TEST(Serialize, TensorMetaRoundTrips) {
  auto gm = make_model();
  shape_prop(*gm, {at::randn({2, 4})});
  TempFile file;
  save(*gm, file.path());
  auto loaded = load(file.path());
  auto it = loaded->graph().nodes().begin();
  for (const Node* n : gm->graph().nodes()) {
    SCOPED_TRACE(n->name());
    const Node* m = *it;
    ++it;
    ASSERT_EQ(n->tensor_meta() != nullptr, m->tensor_meta() != nullptr);
    if (n->tensor_meta()) {
      EXPECT_TRUE(*n->tensor_meta() == *m->tensor_meta());
    }
    EXPECT_FALSE(m->meta().contains("type"));  // other meta is not saved
  }
}

TEST(Serialize, UnsaveableContentIsAnErrorOnSave) {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %lin : [#users=1] = call_module[target=lin](args = (%x,), kwargs = {})
    return lin)");
  Attributes attrs;
  attrs.modules["lin"] = make_module("torch::nn::Linear", [](auto args, auto&) { return args[0]; });
  GraphModule gm(std::move(g), std::move(attrs));
  TempFile file;
  expect_error([&] { save(gm, file.path()); }, ErrorKind::kGraph,
               {file.path(), "submodule 'lin' is a torch::nn::Linear, not a GraphModule"});
  EXPECT_FALSE(std::filesystem::exists(file.path()));
  EXPECT_FALSE(std::filesystem::exists(file.path() + ".tmp"));

  auto bad_utf8 = make_model();
  (*bad_utf8->graph().nodes().begin())->set_type("caf\xe9");  // Latin-1, not UTF-8
  expect_error([&] { save(*bad_utf8, file.path()); }, ErrorKind::kGraph, {"is not valid UTF-8"});

  auto meta_model = make_model();
  meta_model->set_attr("buffer", at::empty({5}, at::TensorOptions().device(at::kMeta)));
  expect_error([&] { save(*meta_model, file.path()); }, ErrorKind::kGraph,
               {"attribute 'buffer' is a tensor on the meta device"});
  auto dict_model = make_model();
  dict_model->set_attr("buffer",
                       c10::impl::GenericDict(c10::StringType::get(), c10::IntType::get()));
  expect_error([&] { save(*dict_model, file.path()); }, ErrorKind::kGraph,
               {"attribute 'buffer' holds a GenericDict value"});
}

// ---- registered module kinds and version 1 files -----------------------------------------------

// A module kind of the tests' own: a GraphModule whose result is scaled by a
// factor, saved through the registry as that GraphModule plus the factor.
class Scaled : public Module {
 public:
  Scaled(std::unique_ptr<GraphModule> inner, double factor)
      : inner_(std::move(inner)), factor_(factor) {}
  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) override {
    return inner_->forward(std::move(args), kwargs).toTensor() * factor_;
  }
  std::string kind() const override { return "serialize_test::Scaled"; }
  const GraphModule& inner() const { return *inner_; }
  double factor() const { return factor_; }

 private:
  std::unique_ptr<GraphModule> inner_;
  double factor_;
};

void register_scaled() {
  ModuleSerializer s;
  s.save = [](const Module& m) {
    const auto& scaled = dynamic_cast<const Scaled&>(m);
    return SavedModule{&scaled.inner(), Json{{"factor", scaled.factor()}}.dump()};
  };
  s.load = [](std::unique_ptr<GraphModule> inner,
              const std::string& data) -> std::shared_ptr<Module> {
    Json j = Json::parse(data);
    if (!j.contains("factor")) throw Error(ErrorKind::kParse, "no factor in the data");
    return std::make_shared<Scaled>(std::move(inner), j["factor"].get<double>());
  };
  register_module_serializer("serialize_test::Scaled", std::move(s));
}

// x -> scaled(x) -> relu, where scaled is make_model() times 2.5.
std::unique_ptr<GraphModule> scaled_model() {
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %scaled : [#users=1] = call_module[target=scaled](args = (%x,), kwargs = {})
    %relu : [#users=1] = call_function[target=aten::relu](args = (%scaled,), kwargs = {})
    return relu)");
  Attributes attrs;
  attrs.modules["scaled"] = std::make_shared<Scaled>(make_model(), 2.5);
  return std::make_unique<GraphModule>(std::move(g), std::move(attrs), "Outer");
}

TEST(SerializeModuleKinds, RegisteredKindRoundTrips) {
  register_scaled();
  EXPECT_TRUE(has_module_serializer("serialize_test::Scaled"));
  auto gm = scaled_model();
  TempFile file;
  save(*gm, file.path());
  std::string bytes = read_bytes(file.path());
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x02\x00\x00\x00", 4));
  Json h = header_of(bytes);
  EXPECT_EQ(h["format_version"], 2);
  const Json& rec = h["module"]["modules"]["scaled"];
  EXPECT_EQ(rec["kind"], "serialize_test::Scaled");
  EXPECT_EQ(Json::parse(rec["data"].get<std::string>())["factor"], 2.5);
  EXPECT_EQ(rec["module"]["kind"], "GraphModule");
  EXPECT_EQ(rec["module"]["class_name"], "LinearReluAdd");

  auto loaded = load(file.path());
  expect_same_graph(gm->graph(), loaded->graph());
  auto scaled = std::dynamic_pointer_cast<Scaled>(loaded->get_submodule("scaled"));
  ASSERT_TRUE(scaled) << loaded->get_submodule("scaled")->kind();
  EXPECT_EQ(scaled->factor(), 2.5);
  expect_same_graph(dynamic_cast<Scaled&>(*gm->get_submodule("scaled")).inner().graph(),
                    scaled->inner().graph());
  at::Tensor x = at::randn({3, 4});
  EXPECT_TRUE(at::equal(loaded->forward({x}).toTensor(), gm->forward({x}).toTensor()));
}

TEST(SerializeModuleKinds, UnregisteredKindNamesTheKindAndTheFix) {
  register_scaled();
  TempFile file;
  save(*scaled_model(), file.path());
  const std::string bytes = read_bytes(file.path());
  Json h = header_of(bytes);
  h["module"]["modules"]["scaled"]["kind"] = "fx::jit::FusedKernel";
  write_bytes(file.path(), with_header(bytes, h));
  ASSERT_FALSE(has_module_serializer("fx::jit::FusedKernel"));  // fx_jit is not used here
  std::string msg = load_error(file.path());
  EXPECT_EQ(msg.rfind("cannot load '" + file.path() +
                          "': header.module.modules['scaled'].kind: module kind "
                          "fx::jit::FusedKernel is not registered",
                      0),
            0u)
      << msg;
  EXPECT_NE(msg.find("link fx_jit and call fx::jit::register_serialization()"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("registered kinds: serialize_test::Scaled"), std::string::npos) << msg;
}

TEST(SerializeModuleKinds, SerializerErrorsNameTheSubmodule) {
  register_scaled();
  TempFile file;
  save(*scaled_model(), file.path());
  const std::string bytes = read_bytes(file.path());

  Json h = header_of(bytes);
  h["module"]["modules"]["scaled"]["data"] = "{}";
  write_bytes(file.path(), with_header(bytes, h));
  EXPECT_EQ(load_error(file.path()),
            "cannot load '" + file.path() +
                "': in submodule 'scaled': rebuilding the serialize_test::Scaled: no factor in "
                "the data");

  h = header_of(bytes);
  h["module"]["modules"]["scaled"].erase("data");
  write_bytes(file.path(), with_header(bytes, h));
  EXPECT_NE(load_error(file.path()).find("header.module.modules['scaled']: missing field 'data'"),
            std::string::npos);

  // A version 1 file holds only GraphModules.
  std::string v1 = bytes;
  v1.replace(4, 4, std::string("\x01\x00\x00\x00", 4));
  h = header_of(bytes);
  h["format_version"] = 1;
  write_bytes(file.path(), with_header(v1, h));
  EXPECT_NE(load_error(file.path())
                .find("module kind 'serialize_test::Scaled' cannot be loaded from a format "
                      "version 1 file"),
            std::string::npos);

  // The nested record of a registered kind must be a GraphModule.
  h = header_of(bytes);
  h["module"]["modules"]["scaled"]["module"]["kind"] = "serialize_test::Scaled";
  write_bytes(file.path(), with_header(bytes, h));
  EXPECT_NE(load_error(file.path())
                .find("header.module.modules['scaled'].module.kind: expected a GraphModule here"),
            std::string::npos);
}

TEST(SerializeModuleKinds, RegistrationRules) {
  ModuleSerializer ok{
      [](const Module&) { return SavedModule{}; },
      [](std::unique_ptr<GraphModule>, const std::string&) { return std::shared_ptr<Module>(); }};
  for (const char* kind : {"GraphModule", ""}) {
    SCOPED_TRACE(std::string("registering '") + kind + "'");
    expect_error([&] { register_module_serializer(kind, ok); }, ErrorKind::kGraph, {"is reserved"});
  }
  EXPECT_THROW(register_module_serializer("serialize_test::Half", ModuleSerializer{ok.save, {}}),
               Error);
  EXPECT_FALSE(has_module_serializer("serialize_test::Half"));

  // A serializer that gives nothing to save is an error on save, and nothing is written.
  register_module_serializer("serialize_test::Empty", ok);
  auto g = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %e : [#users=1] = call_module[target=e](args = (%x,), kwargs = {})
    return e)");
  Attributes attrs;
  attrs.modules["e"] =
      make_module("serialize_test::Empty", [](auto args, auto&) { return args[0]; });
  GraphModule gm(std::move(g), std::move(attrs));
  TempFile file;
  expect_error([&] { save(gm, file.path()); }, ErrorKind::kGraph,
               {"submodule 'e' (serialize_test::Empty): its serializer gave no GraphModule to "
                "save"});
  EXPECT_FALSE(std::filesystem::exists(file.path()));

  // A serializer that throws something other than fx::Error: still an fx::Error on save.
  register_scaled();
  auto g2 = parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %s : [#users=1] = call_module[target=s](args = (%x,), kwargs = {})
    return s)");
  Attributes attrs2;
  attrs2.modules["s"] =
      make_module("serialize_test::Scaled", [](auto args, auto&) { return args[0]; });
  GraphModule impostor(std::move(g2), std::move(attrs2));
  expect_error([&] { save(impostor, file.path()); }, ErrorKind::kGraph,
               {"submodule 's' (serialize_test::Scaled): its serializer failed: "});
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

// A version 1 file assembled from the specification, not by save: older
// files keep loading.
TEST(SerializeModuleKinds, HandWrittenVersion1FileLoads) {
  auto node = [](const std::string& name, const std::string& op, const std::string& target,
                 Json args) {
    return Json{{"name", name}, {"op", op},     {"target", target},
                {"type", ""},   {"args", args}, {"kwargs", Json::array()}};
  };
  auto ref = [](const std::string& name) { return Json{{"kind", "node"}, {"name", name}}; };
  Json inner = {{"kind", "GraphModule"},
                {"class_name", "Inner"},
                {"graph",
                 {{"nodes",
                   {node("y", "placeholder", "y", Json::array()),
                    node("relu", "call_function", "aten::relu", {ref("y")}),
                    node("output", "output", "output", {ref("relu")})}}}},
                {"values", Json::object()},
                {"modules", Json::object()}};
  Json header = {
      {"format", "fx.GraphModule"},
      {"format_version", 1},
      {"blob_bytes", 12},
      {"tensors",
       {{{"dtype", "float32"},
         {"shape", {3}},
         {"offset", 0},
         {"nbytes", 12},
         {"requires_grad", false},
         {"device", "cpu"}}}},
      {"module",
       {{"kind", "GraphModule"},
        {"class_name", "Old"},
        {"graph",
         {{"nodes",
           {node("x", "placeholder", "x", Json::array()), node("w", "get_attr", "w", Json::array()),
            node("mul", "call_function", "aten::mul.Tensor", {ref("x"), ref("w")}),
            node("sub", "call_module", "sub", {ref("mul")}),
            node("output", "output", "output", {ref("sub")})}}}},
        {"values", {{"w", {{"kind", "tensor"}, {"index", 0}}}}},
        {"modules", {{"sub", inner}}}}}};
  std::string text = header.dump();
  std::string bytes = "FXGM";
  bytes += std::string("\x01\x00\x00\x00", 4);
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  bytes += text;
  const float w[3] = {1.5f, -2.0f, 3.0f};
  bytes.append(reinterpret_cast<const char*>(w), sizeof w);
  TempFile file;
  write_bytes(file.path(), bytes);

  auto gm = load(file.path());
  EXPECT_EQ(gm->class_name(), "Old");
  EXPECT_TRUE(std::dynamic_pointer_cast<GraphModule>(gm->get_submodule("sub")));
  at::Tensor x = at::randn({2, 3});
  at::Tensor want = (x * at::tensor({1.5f, -2.0f, 3.0f})).relu();
  EXPECT_TRUE(at::equal(gm->forward({x}).toTensor(), want));
}

// ---- corrupt input ------------------------------------------------------------------------------

TEST(SerializeCorrupt, MissingEmptyAndWrongMagic) {
  TempFile file;
  EXPECT_EQ(load_error(file.path()), "cannot load '" + file.path() + "': the file does not exist");

  write_bytes(file.path(), "");
  EXPECT_NE(load_error(file.path()).find("the file is empty"), std::string::npos);

  write_bytes(file.path(), std::string("PK\x03\x04 this is a zip file", 24));
  std::string magic = load_error(file.path());
  EXPECT_NE(magic.find("expected the magic bytes \"FXGM\", found \"PK\\x03\\x04\""),
            std::string::npos)
      << magic;

  EXPECT_NE(load_error(testing::TempDir()).find("is a directory"), std::string::npos);
}

TEST(SerializeCorrupt, NewerVersionIsRefusedByNumber) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  std::string bytes = read_bytes(file.path());
  bytes.replace(4, 4, std::string("\xe7\x03\x00\x00", 4));  // 999
  write_bytes(file.path(), bytes);
  EXPECT_EQ(load_error(file.path()), "cannot load '" + file.path() +
                                         "': saved by a newer fx: format version 999, this build "
                                         "reads up to 2");
  bytes.replace(4, 4, std::string("\x00\x00\x00\x00", 4));
  write_bytes(file.path(), bytes);
  EXPECT_NE(load_error(file.path()).find("invalid format version 0"), std::string::npos);
}

TEST(SerializeCorrupt, TruncatedAtEveryLength) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  const std::string bytes = read_bytes(file.path());
  TempFile cut("_cut");
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(cut.path(), bytes.substr(0, n));
    SCOPED_TRACE("a file truncated to " + std::to_string(n) + " of " +
                 std::to_string(bytes.size()) + " bytes");
    load_error(cut.path());
  }
  // Extra bytes at the end are corruption too.
  write_bytes(cut.path(), bytes + "x");
  EXPECT_NE(load_error(cut.path()).find("unexpected bytes after the tensor data"),
            std::string::npos);
}

TEST(SerializeCorrupt, FlippedBytesInTheHeaderNeverCrash) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  const std::string bytes = read_bytes(file.path());
  const size_t json_end = 16 + json_length(bytes);
  TempFile bad("_bad");
  int loaded = 0, failed = 0;
  for (size_t i = 4; i < json_end; ++i) {
    for (unsigned char mask : {0x01, 0x20, 0x80}) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ mask);
      write_bytes(bad.path(), copy);
      try {
        load(bad.path())->forward({at::randn({2, 4})});
        ++loaded;  // e.g. a digit of a double changed: still a valid module
      } catch (const Error&) {
        ++failed;
      }
    }
  }
  EXPECT_GT(failed, loaded);
}

TEST(SerializeCorrupt, IllTypedJsonFieldsNameTheField) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  const std::string bytes = read_bytes(file.path());
  const Json good = header_of(bytes);
  struct Case {
    std::function<void(Json&)> edit;
    std::string expected;
  };
  std::vector<Case> cases = {
      {[](Json& h) { h.erase("module"); }, "header: missing field 'module'"},
      {[](Json& h) { h["format_version"] = "1"; },
       "header.format_version: expected a non-negative integer, found string"},
      {[](Json& h) { h["format_version"] = 2; },
       "the header says format version 2 but the file prefix says 1"},
      {[](Json& h) { h["tensors"] = Json::object(); },
       "header.tensors: expected an array, found object"},
      {[](Json& h) { h["tensors"][0]["shape"] = "5, 4"; },
       "header.tensors[0].shape: expected an array, found string"},
      {[](Json& h) {
         h["tensors"][0]["shape"] = Json::array({5, -4});
       },
       "header.tensors[0].shape: negative size -4"},
      {[](Json& h) { h["tensors"][0]["dtype"] = "float33"; },
       "header.tensors[0].dtype: unknown dtype 'float33'"},
      {[](Json& h) { h["tensors"][0]["nbytes"] = 4; },
       "header.tensors[0]: nbytes is 4 but a float32 tensor of this shape has"},
      {[](Json& h) { h["tensors"][1]["offset"] = h["blob_bytes"].get<uint64_t>() + 100; },
       "are past the end of the tensor data"},
      {[](Json& h) { h["tensors"][1]["offset"] = std::numeric_limits<uint64_t>::max() - 3; },
       "are past the end of the tensor data"},
      {[](Json& h) {
         h["tensors"][0]["shape"] = Json::array({int64_t{1} << 40, int64_t{1} << 40});
       },
       "the tensor is too large"},
      {[](Json& h) { h["module"]["class_name"] = nullptr; },
       "header.module.class_name: expected a string, found null"},
      {[](Json& h) { h["module"]["kind"] = "ScriptModule"; },
       "header.module.kind: expected a GraphModule here, found module kind 'ScriptModule'"},
      {[](Json& h) { h["module"]["values"] = Json::array(); },
       "header.module.values: expected an object, found array"},
      {[](Json& h) { h["module"]["values"]["buffer"]["index"] = 99; },
       "tensor index 99 is out of range (the file has 3 tensors)"},
      {[](Json& h) { h["module"]["values"]["buffer"]["kind"] = "tensor_view"; },
       "unknown value kind 'tensor_view'"},
      {[](Json& h) { h["module"]["graph"]["nodes"][0]["name"] = 5; },
       "header.module.graph.nodes[0].name: expected a string, found number"},
      {[](Json& h) { h["module"]["graph"]["nodes"][0]["op"] = "call_magic"; },
       "header.module.graph.nodes[0] ('x').op: unknown opcode 'call_magic'"},
      {[](Json& h) { h["module"]["graph"]["nodes"][1]["args"] = "0.5"; },
       "nodes[1] ('alpha').args: expected an array, found string"},
      {[](Json& h) { h["module"]["graph"]["nodes"][1]["args"][0]["kind"] = "complex"; },
       "nodes[1] ('alpha').args[0].kind: unknown argument kind 'complex'"},
      {[](Json& h) { h["module"]["graph"]["nodes"][1]["args"][0]["value"] = "0.5"; },
       "nodes[1] ('alpha').args[0].value: expected a number"},
      {[](Json& h) { h["module"]["graph"]["nodes"][4]["args"][0]["name"] = "ghost"; },
       "nodes[4] ('linear').args[0]: refers to node 'ghost', which is not defined before it"},
      {[](Json& h) { h["module"]["graph"]["nodes"][4]["args"][0]["name"] = "relu"; },
       "refers to node 'relu', which is not defined before it"},
      {[](Json& h) { h["module"]["graph"]["nodes"][7]["kwargs"][0] = Json::array({"alpha"}); },
       "nodes[7] ('add').kwargs[0]: expected a [name, value] pair"},
      {[](Json& h) { h["module"]["graph"]["nodes"][1]["name"] = "x"; },
       "nodes[1] ('x'): duplicate node name 'x'"},
      {[](Json& h) { h["module"]["graph"]["nodes"][1]["name"] = "not valid"; },
       "'not valid' is not a valid node name"},
      {[](Json& h) {
         h["module"]["graph"]["nodes"][1]["args"][0] = Json{{"kind", "device"}, {"value", "gpu:x"}};
       },
       "invalid device 'gpu:x'"},
      {[](Json& h) {
         h["module"]["graph"]["nodes"][1]["args"][0] =
             Json{{"kind", "int"}, {"value", 18446744073709551615ull}};
       },
       "does not fit in int64"},
  };
  TempFile bad("_bad");
  for (const Case& c : cases) {
    Json h = good;
    c.edit(h);
    write_bytes(bad.path(), with_header(bytes, h));
    std::string msg = load_error(bad.path());
    EXPECT_EQ(msg.rfind("cannot load '" + bad.path() + "': ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "expected: " << c.expected << "\ngot: " << msg;
  }
  // Not JSON at all.
  std::string broken = bytes;
  broken[16] = '#';
  write_bytes(bad.path(), broken);
  EXPECT_NE(load_error(bad.path()).find("the JSON header does not parse"), std::string::npos);
}

TEST(SerializeCorrupt, UnknownOperatorNamesTheNodeAndThePath) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  const std::string bytes = read_bytes(file.path());
  Json h = header_of(bytes);
  ASSERT_EQ(h["module"]["graph"]["nodes"][5]["name"], "relu");
  h["module"]["graph"]["nodes"][5]["target"] = "aten::no_such_op";
  write_bytes(file.path(), with_header(bytes, h));
  std::string msg = load_error(file.path(), ErrorKind::kGraph);
  EXPECT_EQ(msg.rfind("cannot load '" + file.path() + "': ", 0), 0u) << msg;
  EXPECT_NE(msg.find("node 'relu' (call_function aten::no_such_op)"), std::string::npos) << msg;
}

TEST(SerializeCorrupt, DeepNestingIsRefusedWithoutRecursingOnIt) {
  auto gm = make_model();
  TempFile file;
  save(*gm, file.path());
  const std::string bytes = read_bytes(file.path());
  Json h = header_of(bytes);
  std::string text = h.dump();
  // alpha's default becomes a list nested 100000 deep.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += R"({"kind":"list","items":[)";
  deep += R"({"kind":"none"})";
  for (int i = 0; i < 100000; ++i) deep += "]}";
  std::string old = h["module"]["graph"]["nodes"][1]["args"][0].dump();
  size_t at = text.find(old);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, old.size(), deep);
  std::string out = bytes.substr(0, 8);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_bytes(file.path(), out + text + bytes.substr(16 + json_length(bytes)));
  EXPECT_NE(load_error(file.path()).find("nested more than 256 levels deep"), std::string::npos);
}

}  // namespace
}  // namespace fx
