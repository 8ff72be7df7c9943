// torch.export import. Outline of load_exported:
//   1. open the zip and check what it says it is (archive_format, archive and
//      schema versions, byte order), then parse models/model.json;
//   2. each input of the signature becomes a node: lifted parameters, buffers
//      and constants get_attr nodes whose tensors are read from the weights
//      and constants records (raw bytes, re-strided), user inputs placeholders;
//   3. each JSON node becomes a call_function (plus getitem nodes for several
//      results), translated as torch/_export/serde/serialize.py deserializes
//      it, so names and the split between args and kwargs match what Python
//      prints;
//   4. mutations in the output signature become copy_ nodes, user outputs the
//      output, shaped by the out_spec.
// Every failure, ours or LibTorch's, leaves through Loader::fail, which names
// the archive, its versions and the place.
#include "capture/export_import.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>

#include "ir/error.h"
#include "ir/namespace.h"
#include "runtime/operator.h"
#include "runtime/script_functions.h"
#include "runtime/shape_prop.h"

namespace fx {

namespace {

using Json = nlohmann::json;
using Reader = caffe2::serialize::PyTorchStreamReader;

constexpr int kSchemaMajor = 8;  // what torch 2.11 writes (schema 8.17)

// SymInt/SymFloat/SymBool arithmetic of the archive (Python callables outside
// torch.ops) -> the TorchScript scalar operator fx calls instead. Generic
// `Scalar` overloads where TorchScript has them, so ints stay ints.
const std::map<std::string, std::string>& sym_ops() {
  static const std::map<std::string, std::string> table = {
      {"_operator.add", "jit.aten.add"},
      {"_operator.sub", "jit.aten.sub"},
      {"_operator.mul", "jit.aten.mul"},
      {"_operator.floordiv", "jit.aten.floordiv"},
      {"_operator.mod", "jit.aten.remainder"},
      {"_operator.truediv", "jit.aten.div"},
      {"_operator.pow", "jit.aten.pow.Scalar_Scalar"},  // a float, as TorchScript's
      {"_operator.neg", "jit.aten.neg.Scalar"},
      {"_operator.eq", "jit.aten.eq"},
      {"_operator.ne", "jit.aten.ne"},
      {"_operator.lt", "jit.aten.lt"},
      {"_operator.le", "jit.aten.le"},
      {"_operator.gt", "jit.aten.gt"},
      {"_operator.ge", "jit.aten.ge"},
      {"_operator.and_", "jit.aten.__and__.bool"},
      {"_operator.or_", "jit.aten.__or__.bool"},
      {"_operator.lshift", "jit.aten.__lshift__.int"},
      {"_operator.rshift", "jit.aten.__rshift__.int"},
      {"math.trunc", "jit.aten.Int.Scalar"},
      {"torch.sym_not", "jit.aten.__not__"},
      {"torch.sym_int", "jit.aten.Int.Scalar"},
      {"torch.sym_float", "jit.aten.Float.Scalar"},
      {"torch.sym_max", "jit.prim.max"},
      {"torch.sym_min", "jit.prim.min"},
      {"torch._sym_sqrt", "jit.aten.sqrt.Scalar"},
      {"torch.sym_ite", kIfElse},
  };
  return table;
}

// The archive's ScalarType, Layout and MemoryFormat enums (torch/_export/serde/schema.py).
std::optional<c10::ScalarType> dtype_of(int64_t v) {
  using S = c10::ScalarType;
  static const std::map<int64_t, S> table = {
      {1, S::Byte},
      {2, S::Char},
      {3, S::Short},
      {4, S::Int},
      {5, S::Long},
      {6, S::Half},
      {7, S::Float},
      {8, S::Double},
      {9, S::ComplexHalf},
      {10, S::ComplexFloat},
      {11, S::ComplexDouble},
      {12, S::Bool},
      {13, S::BFloat16},
      {28, S::UInt16},
      {29, S::Float8_e4m3fn},
      {30, S::Float8_e5m2},
      {31, S::Float8_e4m3fnuz},
      {32, S::Float8_e5m2fnuz},
  };
  auto it = table.find(v);
  return it == table.end() ? std::nullopt : std::optional<S>(it->second);
}

std::optional<c10::Layout> layout_of(int64_t v) {
  using L = c10::Layout;
  static const std::map<int64_t, L> table = {
      {1, L::Sparse},    {2, L::SparseCsr}, {3, L::SparseCsc}, {4, L::SparseBsr},
      {5, L::SparseBsc}, {6, L::Mkldnn},    {7, L::Strided}};
  auto it = table.find(v);
  return it == table.end() ? std::nullopt : std::optional<L>(it->second);
}

std::optional<c10::MemoryFormat> memory_format_of(int64_t v) {
  using M = c10::MemoryFormat;
  static const std::map<int64_t, M> table = {
      {1, M::Contiguous}, {2, M::ChannelsLast}, {3, M::ChannelsLast3d}, {4, M::Preserve}};
  auto it = table.find(v);
  return it == table.end() ? std::nullopt : std::optional<M>(it->second);
}

bool is_python_keyword(const std::string& s) {
  static const std::set<std::string> words = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  return words.count(s) != 0;
}

// sympy's srepr, shortened for people: `Symbol('s77', positive=True,
// integer=True)` -> `s77`, `Integer(2)` -> `2`; the rest is kept.
std::string pretty_expr(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 8, "Symbol('") == 0) {
      size_t end = s.find('\'', i + 8);
      size_t close = end == std::string::npos ? end : s.find(')', end);
      if (close != std::string::npos) {
        out += s.substr(i + 8, end - i - 8);
        i = close + 1;
        continue;
      }
    } else if (s.compare(i, 8, "Integer(") == 0) {
      size_t close = s.find(')', i + 8);
      if (close != std::string::npos) {
        out += s.substr(i + 8, close - i - 8);
        i = close + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

// Reads one archive into one GraphModule; see the outline at the top.
class Loader {
 public:
  explicit Loader(std::string path) : path_(std::move(path)) {}

  std::unique_ptr<GraphModule> run() {
    try {
      open();
      read_model();
      graph_ = std::make_unique<Graph>();
      const Json& gm = get(model_, "graph_module", "the program");
      const Json& g = get(gm, "graph", "graph_module");
      const Json& sig = get(gm, "signature", "graph_module");
      read_value_meta(g);
      add_inputs(g, sig);
      const Json& nodes = array(get(g, "nodes", "graph"), "graph.nodes");
      for (size_t i = 0; i < nodes.size(); ++i) add_node(nodes[i], i);
      add_outputs(g, sig, gm);
      where_ = "building the GraphModule";
      return std::make_unique<GraphModule>(std::move(graph_), std::move(attrs_), "GraphModule");
    } catch (const TraceError&) {
      throw;
    } catch (const Error& e) {
      fail(where_, e.what());
    } catch (const c10::Error& e) {
      fail(where_, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(where_, e.what());
    }
  }

  std::vector<c10::IValue> sample_inputs() {
    try {
      open();
      std::string record = "data/sample_inputs/" + model_name_ + ".pt";
      if (!reader_->hasRecord(record)) return {};
      where_ = "record '" + record + "'";
      std::string bytes = read(record);
      c10::IValue v = torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
      std::vector<c10::IValue> out;
      flatten(v, out);
      return out;
    } catch (const TraceError&) {
      throw;
    } catch (const c10::Error& e) {
      fail(where_, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(where_, e.what());
    }
  }

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    std::string msg = "cannot load torch.export archive '" + path_ + "'";
    if (!versions_.empty()) msg += " (" + versions_ + ")";
    msg += ": ";
    if (!where.empty()) msg += where + ": ";
    throw TraceError(msg + what);
  }

  // --- JSON access: every mismatch is a failure that names the place -------------------------
  static std::string kind(const Json& v) { return v.type_name(); }

  const Json& get(const Json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected a JSON object, found " + kind(obj));
    auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("field '") + key + "' is missing");
    return *it;
  }
  // The field, or nullptr when it is missing or null.
  static const Json* find(const Json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const Json& v, const std::string& where) const {
    if (!v.is_string()) fail(where, "expected a string, found " + kind(v));
    return v.get<std::string>();
  }
  int64_t integer(const Json& v, const std::string& where) const {
    if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
      return v.get<int64_t>();
    fail(where, "expected an integer, found " + (v.is_number() ? v.dump() : kind(v)));
  }
  double number(const Json& v, const std::string& where) const {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {  // how the archive spells what JSON cannot
      const std::string& s = v.get_ref<const std::string&>();
      if (s == "Infinity") return std::numeric_limits<double>::infinity();
      if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
      if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    }
    fail(where, "expected a number, found " + (v.is_string() ? v.dump() : kind(v)));
  }
  bool boolean(const Json& v, const std::string& where) const {
    if (!v.is_boolean()) fail(where, "expected true or false, found " + kind(v));
    return v.get<bool>();
  }
  const Json& array(const Json& v, const std::string& where) const {
    if (!v.is_array()) fail(where, "expected a JSON array, found " + kind(v));
    return v;
  }
  // A union of the schema: an object with exactly one field, the kind.
  std::pair<std::string, const Json*> one_of(const Json& v, const std::string& where) const {
    if (!v.is_object() || v.size() != 1)
      fail(where, "expected an object with one field (a union), found " +
                      (v.is_object() ? std::to_string(v.size()) + " fields" : kind(v)));
    return {v.begin().key(), &v.begin().value()};
  }

  // --- the archive --------------------------------------------------------------------------
  void open() {
    where_ = "";
    {
      std::ifstream in(path_, std::ios::binary);
      if (!in) fail("", "cannot open the file");
    }
    try {
      reader_ = std::make_unique<Reader>(path_);
    } catch (const c10::Error& e) {
      fail("", std::string("not a readable zip archive (") + e.what_without_backtrace() + ")");
    }
    if (!reader_->hasRecord("archive_format"))
      fail("", "record 'archive_format' is missing: not an archive written by torch.export.save");
    std::string format = trim(read("archive_format"));
    if (format != "pt2") fail("record 'archive_format'", "says '" + format + "', expected 'pt2'");
    archive_version_ = reader_->hasRecord("archive_version") ? trim(read("archive_version")) : "0";
    versions_ = "archive version " + archive_version_;
    if (archive_version_ != "0")
      fail("record 'archive_version'",
           "version " + archive_version_ + " is not supported; fx reads version 0 (torch 2.11)");
    if (reader_->hasRecord("byteorder")) {
      std::string order = trim(read("byteorder"));
      if (order != "little")
        fail("record 'byteorder'", "'" + order + "' byte order is not supported (only little)");
    }
    std::vector<std::string> models;
    for (const std::string& r : reader_->getAllRecords())
      if (r.rfind("models/", 0) == 0 && r.size() > 12 && r.compare(r.size() - 5, 5, ".json") == 0)
        models.push_back(r);
    if (std::find(models.begin(), models.end(), "models/model.json") != models.end()) {
      model_name_ = "model";
    } else if (models.size() == 1) {
      model_name_ = models[0].substr(7, models[0].size() - 12);
    } else {
      std::string names;
      for (const auto& m : models) names += (names.empty() ? "" : ", ") + m;
      fail("", models.empty() ? "record 'models/model.json' is missing"
                              : "it holds several programs (" + names + "); fx loads one");
    }
  }

  std::string read(const std::string& record) {
    try {
      auto [data, size] = reader_->getRecord(record);
      return std::string(static_cast<const char*>(data.get()), size);
    } catch (const c10::Error& e) {
      fail("record '" + record + "'", e.what_without_backtrace());
    }
  }

  Json parse(const std::string& record) {
    std::string text = read(record);
    try {
      return Json::parse(text);
    } catch (const Json::exception& e) {
      fail("record '" + record + "'", std::string("is not valid JSON: ") + e.what());
    }
  }

  void read_model() {
    std::string record = "models/" + model_name_ + ".json";
    model_ = parse(record);
    where_ = "record '" + record + "'";
    const Json& version = get(model_, "schema_version", where_);
    int64_t major = integer(get(version, "major", "schema_version"), "schema_version.major");
    int64_t minor = integer(get(version, "minor", "schema_version"), "schema_version.minor");
    const Json* torch_version = find(model_, "torch_version");
    versions_ = "written by torch " +
                (torch_version && torch_version->is_string() ? torch_version->get<std::string>()
                                                             : std::string("?")) +
                ", schema " + std::to_string(major) + "." + std::to_string(minor) +
                ", archive version " + archive_version_;
    if (major != kSchemaMajor)
      fail("schema_version", "schema " + std::to_string(major) + "." + std::to_string(minor) +
                                 " is not supported; fx reads schema " +
                                 std::to_string(kSchemaMajor) + ".x (torch 2.11)");
  }

  // --- weights and constants ----------------------------------------------------------------
  struct TensorSpec {
    c10::ScalarType dtype = c10::ScalarType::Float;
    std::vector<int64_t> sizes, strides;
    int64_t offset = 0;
    c10::Device device = c10::Device(c10::DeviceType::CPU);
    c10::Layout layout = c10::Layout::Strided;
    bool requires_grad = false;
    bool concrete = true;  // every size, stride and the offset is an integer
    std::vector<std::string> shape_text;
  };

  std::string sym_int_text(const Json& v, const std::string& where, bool* concrete,
                           int64_t* value) const {
    auto [k, x] = one_of(v, where);
    if (k == "as_int") {
      *value = integer(*x, where);
      return std::to_string(*value);
    }
    if (k == "as_expr") {
      *concrete = false;
      *value = 0;
      return pretty_expr(str(get(*x, "expr_str", where), where + ".expr_str"));
    }
    fail(where, "unknown SymInt kind '" + k + "'");
  }

  TensorSpec tensor_spec(const Json& meta, const std::string& where) const {
    TensorSpec t;
    int64_t dtype = integer(get(meta, "dtype", where), where + ".dtype");
    auto st = dtype_of(dtype);
    if (!st) fail(where, "unknown dtype " + std::to_string(dtype) + " (schema ScalarType)");
    t.dtype = *st;
    int64_t layout = integer(get(meta, "layout", where), where + ".layout");
    auto l = layout_of(layout);
    if (!l) fail(where, "unknown layout " + std::to_string(layout));
    t.layout = *l;
    t.device = device(get(meta, "device", where), where + ".device");
    if (const Json* rg = find(meta, "requires_grad")) t.requires_grad = boolean(*rg, where);
    const Json& sizes = array(get(meta, "sizes", where), where + ".sizes");
    const Json& strides = array(get(meta, "strides", where), where + ".strides");
    if (sizes.size() != strides.size())
      fail(where, std::to_string(sizes.size()) + " sizes but " + std::to_string(strides.size()) +
                      " strides");
    for (const Json& s : sizes) {
      int64_t v = 0;
      t.shape_text.push_back(sym_int_text(s, where + ".sizes", &t.concrete, &v));
      t.sizes.push_back(v);
    }
    for (const Json& s : strides) {
      int64_t v = 0;
      sym_int_text(s, where + ".strides", &t.concrete, &v);
      t.strides.push_back(v);
    }
    if (const Json* off = find(meta, "storage_offset"))
      sym_int_text(*off, where + ".storage_offset", &t.concrete, &t.offset);
    return t;
  }

  c10::Device device(const Json& v, const std::string& where) const {
    std::string type = str(get(v, "type", where), where + ".type");
    std::string text = type;
    if (const Json* index = find(v, "index")) text += ":" + std::to_string(integer(*index, where));
    try {
      return c10::Device(text);
    } catch (const c10::Error&) {
      fail(where, "unknown device '" + text + "'");
    }
  }

  // Reads data/{weights,constants}/<model>_{weights,constants}_config.json once.
  void read_payload_configs() {
    if (configs_read_) return;
    configs_read_ = true;
    for (const char* dir : {"weights", "constants"}) {
      std::string base = std::string("data/") + dir + "/";
      std::string config = base + model_name_ + "_" + dir + "_config.json";
      if (!reader_->hasRecord(config)) {
        if (reader_->hasRecord(base + model_name_ + ".pt"))
          fail("record '" + base + model_name_ + ".pt'",
               std::string(dir) +
                   " in the legacy pickled format are not supported; save the program again "
                   "with torch.export.save from torch 2.6 or later");
        continue;
      }
      Json parsed = parse(config);
      const Json& entries = get(parsed, "config", "record '" + config + "'");
      if (!entries.is_object()) fail("record '" + config + "'", "'config' is not an object");
      for (auto it = entries.begin(); it != entries.end(); ++it)
        payloads_[it.key()] = Payload{base, config, it.value()};
    }
  }

  at::Tensor lifted_tensor(const std::string& fqn, const std::string& where) {
    read_payload_configs();
    auto it = payloads_.find(fqn);
    if (it == payloads_.end())
      fail(where, "'" + fqn + "' is in neither data/weights/" + model_name_ +
                      "_weights_config.json nor data/constants/" + model_name_ +
                      "_constants_config.json (records missing or incomplete)");
    const Payload& p = it->second;
    std::string here = "weight '" + fqn + "' (" + p.config + ")";
    std::string path_name = str(get(p.meta, "path_name", here), here + ".path_name");
    if (const Json* pickled = find(p.meta, "use_pickle"); pickled && boolean(*pickled, here))
      fail(here, "is pickled (a tensor subclass or custom object), which fx does not load");
    if (path_name.rfind("custom_obj_", 0) == 0)
      fail(here, "is a custom object, which fx does not load");
    const Json* meta = find(p.meta, "tensor_meta");
    if (!meta) fail(here, "field 'tensor_meta' is missing");
    TensorSpec spec = tensor_spec(*meta, here + ".tensor_meta");
    if (!spec.concrete) fail(here, "has symbolic sizes");
    if (spec.layout != c10::Layout::Strided) fail(here, "is not a strided (dense) tensor");
    where_ = here;

    // One flat tensor per record, so weights that share storage share it here too.
    std::string record = p.dir + path_name;
    auto cached = files_.find(record);
    if (cached == files_.end()) {
      if (!reader_->hasRecord(record)) fail(here, "record '" + record + "' is missing");
      size_t bytes = reader_->getRecordSize(record);
      size_t item = c10::elementSize(spec.dtype);
      at::Tensor flat;
      if (bytes == 0) {
        flat = at::zeros(spec.sizes, at::TensorOptions().dtype(spec.dtype));
      } else {
        if (bytes % item != 0)
          fail(here, "record '" + record + "' holds " + std::to_string(bytes) +
                         " bytes, not a whole number of " + c10::toString(spec.dtype) +
                         " elements");
        flat =
            at::empty({static_cast<int64_t>(bytes / item)}, at::TensorOptions().dtype(spec.dtype));
        reader_->getRecord(record, flat.data_ptr(), bytes);
      }
      if (spec.device.type() != c10::DeviceType::CPU) {
        try {
          flat = flat.to(spec.device);
        } catch (const c10::Error& e) {
          fail(here, "is stored for " + spec.device.str() + ", which this process cannot use (" +
                         e.what_without_backtrace() + "); export the model on the CPU");
        }
      }
      cached = files_.emplace(record, flat).first;
    }
    const at::Tensor& flat = cached->second;
    if (flat.scalar_type() != spec.dtype)
      fail(here, "shares record '" + record + "' with a tensor of another dtype");
    // The extent the view reaches must lie inside the record.
    int64_t end = spec.offset;
    bool empty = false;
    for (size_t d = 0; d < spec.sizes.size(); ++d) {
      if (spec.sizes[d] < 0 || spec.strides[d] < 0) fail(here, "has a negative size or stride");
      if (spec.sizes[d] == 0) empty = true;
      end += (spec.sizes[d] - 1) * spec.strides[d];
    }
    if (spec.offset < 0 || (!empty && end >= flat.numel()))
      fail(here, "needs " + std::to_string(end + 1) + " elements (shape " +
                     c10::str(c10::IntArrayRef(spec.sizes)) + ", strides " +
                     c10::str(c10::IntArrayRef(spec.strides)) + ", offset " +
                     std::to_string(spec.offset) + ") but record '" + record + "' holds " +
                     std::to_string(flat.numel()));
    at::Tensor t = flat.as_strided(spec.sizes, spec.strides, spec.offset);
    const Json* is_param = find(p.meta, "is_param");
    if (is_param && boolean(*is_param, here) && spec.requires_grad &&
        at::isFloatingType(spec.dtype))
      t.requires_grad_(true);
    return t;
  }

  // --- values and their metadata --------------------------------------------------------------
  void read_value_meta(const Json& g) {
    where_ = "graph";
    tensor_values_ = find(g, "tensor_values");
    for (const char* key : {"sym_int_values", "sym_float_values", "sym_bool_values"})
      if (const Json* m = find(g, key); m && m->is_object())
        for (auto it = m->begin(); it != m->end(); ++it) sym_values_[it.key()] = &it.value();
    if (const Json* ranges = find(model_, "range_constraints"); ranges && ranges->is_object()) {
      for (auto it = ranges->begin(); it != ranges->end(); ++it) {
        const Json* lo = find(it.value(), "min_val");
        const Json* hi = find(it.value(), "max_val");
        ranges_[it.key()] = "[" + (lo ? lo->dump() : std::string("-inf")) + ", " +
                            (hi ? hi->dump() : std::string("inf")) + "]";
      }
    }
  }

  // Records n as the value called name, with the archive's metadata for it.
  void define(const std::string& name, Node* n, const std::string& where) {
    if (!values_.emplace(name, n).second) fail(where, "value '" + name + "' is defined twice");
    if (tensor_values_ && tensor_values_->is_object()) {
      auto it = tensor_values_->find(name);
      if (it != tensor_values_->end()) {
        TensorSpec t = tensor_spec(*it, "tensor_values['" + name + "']");
        if (t.concrete && t.layout == c10::Layout::Strided) {
          try {
            at::Tensor m = at::empty_strided(t.sizes, t.strides,
                                             at::TensorOptions().dtype(t.dtype).device(at::kMeta));
            TensorMeta meta = tensor_meta_of(m);
            meta.device = t.device;
            meta.requires_grad = t.requires_grad;
            n->meta().set("tensor_meta", meta);
          } catch (const c10::Error&) {
            // Sizes and strides that no tensor can have: no metadata rather than wrong metadata.
          }
        } else if (!t.concrete) {
          std::string shape;
          for (const std::string& s : t.shape_text) shape += (shape.empty() ? "" : ", ") + s;
          n->meta().set("sym_shape", "[" + shape + "]");
          if (n->op() == Op::Placeholder) set_ranges(n, shape);
        }
      }
    }
    auto sym = sym_values_.find(name);
    if (sym != sym_values_.end() && sym->second->is_object() && sym->second->size() == 1) {
      const std::string& k = sym->second->begin().key();
      const Json& v = sym->second->begin().value();
      const Json* expr = find(v, "expr_str");
      if (k == "as_expr" && expr && expr->is_string())
        n->meta().set("sym_expr", pretty_expr(expr->get<std::string>()));
      else if (v.is_primitive())
        n->meta().set("sym_expr", v.dump());
    }
  }

  void set_ranges(Node* n, const std::string& shape) {
    std::string text;
    std::set<std::string> seen;
    for (size_t i = 0; i < shape.size();) {
      if (!std::isalpha(static_cast<unsigned char>(shape[i])) && shape[i] != '_') {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < shape.size() &&
             (std::isalnum(static_cast<unsigned char>(shape[j])) || shape[j] == '_'))
        ++j;
      std::string word = shape.substr(i, j - i);
      auto r = ranges_.find(word);
      if (r != ranges_.end() && seen.insert(word).second)
        text += (text.empty() ? "" : ", ") + word + ": " + r->second;
      i = j;
    }
    if (!text.empty()) n->meta().set("sym_ranges", text);
  }

  Node* value(const std::string& name, const std::string& where) const {
    auto it = values_.find(name);
    if (it == values_.end())
      fail(where, "refers to '" + name + "', which no earlier input or node defines");
    return it->second;
  }

  // --- inputs -------------------------------------------------------------------------------
  void add_inputs(const Json& g, const Json& sig) {
    const Json& inputs = array(get(g, "inputs", "graph"), "graph.inputs");
    const Json& specs = array(get(sig, "input_specs", "signature"), "signature.input_specs");
    if (inputs.size() != specs.size())
      fail("signature", std::to_string(specs.size()) + " input specs for " +
                            std::to_string(inputs.size()) + " graph inputs");
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string where = "input " + std::to_string(i);
      where_ = where;
      auto [role, spec] = one_of(specs[i], "signature.input_specs[" + std::to_string(i) + "]");
      auto [kind, arg] = one_of(inputs[i], "graph.inputs[" + std::to_string(i) + "]");
      std::string name;
      if (kind == "as_tensor") {
        name = str(get(*arg, "name", where), where + ".name");
      } else if (kind == "as_sym_int" || kind == "as_sym_float" || kind == "as_sym_bool") {
        name = str(get(*arg, "as_name", where), where + ".as_name");
      }
      where = "input '" + (name.empty() ? std::to_string(i) : name) + "'";
      if (role == "parameter" || role == "buffer" || role == "tensor_constant") {
        const char* key = role == "parameter" ? "parameter_name"
                          : role == "buffer"  ? "buffer_name"
                                              : "tensor_constant_name";
        std::string fqn = str(get(*spec, key, where), where + "." + key);
        if (name.empty()) fail(where, "a lifted " + role + " that is not a tensor");
        Node* n = graph_->create_node(Op::GetAttr, fqn, {}, {}, name);
        attrs_.values[fqn] = lifted_tensor(fqn, where + " (" + role + " '" + fqn + "')");
        lifted_[fqn] = n;
        define(name, n, where);
      } else if (role == "user_input" || role == "constant_input") {
        if (!name.empty()) {
          Node* n = graph_->placeholder(name);
          user_inputs_[name] = n;
          define(name, n, where);
          continue;
        }
        // A constant the program was specialised to: a placeholder defaulting to it.
        std::string pname = "arg" + std::to_string(i);
        Argument value = argument(inputs[i], where);
        if (role == "constant_input") {
          pname = str(get(*spec, "name", where), where + ".name");
          value = argument(get(*spec, "value", where), where);
        }
        Node* n = graph_->placeholder(pname, value);
        user_inputs_[pname] = n;
      } else {
        fail(where, "input kind '" + role + "' (" +
                        (role == "custom_obj" ? "a custom object"
                         : role == "token"    ? "an effect token"
                                              : "unknown") +
                        ") is not supported");
      }
    }
  }

  // --- arguments ----------------------------------------------------------------------------
  Argument sym_argument(const Json& v, const std::string& where) const {
    auto [k, x] = one_of(v, where);
    if (k == "as_name") return value(str(*x, where), where);
    if (k == "as_int") return integer(*x, where);
    if (k == "as_float") return number(*x, where);
    if (k == "as_bool") return boolean(*x, where);
    fail(where, "unknown symbolic argument kind '" + k + "'");
  }

  Argument tensor_ref(const Json& v, const std::string& where) const {
    return value(str(get(v, "name", where), where), where);
  }

  template <typename F>
  Argument list_of(const Json& v, const std::string& where, F item) const {
    std::vector<Argument> out;
    for (const Json& x : array(v, where)) out.push_back(item(x));
    return Argument::list(std::move(out));
  }

  Argument argument(const Json& a, const std::string& where) const {
    auto [k, vp] = one_of(a, where);
    const Json& v = *vp;
    if (k == "as_none") return Argument();
    if (k == "as_tensor") return tensor_ref(v, where);
    if (k == "as_tensors")
      return list_of(v, where, [&](const Json& x) { return tensor_ref(x, where); });
    if (k == "as_int") return integer(v, where);
    if (k == "as_ints")
      return list_of(v, where, [&](const Json& x) { return Argument(integer(x, where)); });
    if (k == "as_float") return number(v, where);
    if (k == "as_floats")
      return list_of(v, where, [&](const Json& x) { return Argument(number(x, where)); });
    if (k == "as_bool") return boolean(v, where);
    if (k == "as_bools")
      return list_of(v, where, [&](const Json& x) { return Argument(boolean(x, where)); });
    if (k == "as_string") return str(v, where);
    if (k == "as_strings")
      return list_of(v, where, [&](const Json& x) { return Argument(str(x, where)); });
    if (k == "as_sym_int" || k == "as_sym_float" || k == "as_sym_bool")
      return sym_argument(v, where);
    if (k == "as_sym_ints" || k == "as_sym_floats" || k == "as_sym_bools")
      return list_of(v, where, [&](const Json& x) { return sym_argument(x, where); });
    if (k == "as_scalar_type") {
      auto st = dtype_of(integer(v, where));
      if (!st) fail(where, "unknown dtype " + v.dump());
      return *st;
    }
    if (k == "as_layout") {
      auto l = layout_of(integer(v, where));
      if (!l) fail(where, "unknown layout " + v.dump());
      return *l;
    }
    if (k == "as_memory_format") {
      auto m = memory_format_of(integer(v, where));
      if (!m) fail(where, "unknown memory format " + v.dump());
      return *m;
    }
    if (k == "as_device") return device(v, where);
    if (k == "as_optional_tensor") return optional_tensor(v, where);
    if (k == "as_optional_tensors")
      return list_of(v, where, [&](const Json& x) { return optional_tensor(x, where); });
    if (k == "as_int_lists")
      return list_of(v, where, [&](const Json& row) {
        std::vector<Argument> items;
        for (const Json& x : array(row, where)) items.push_back(integer(x, where));
        return Argument::tuple(std::move(items));
      });
    if (k == "as_nested_tensors")
      return list_of(v, where, [&](const Json& row) {
        return list_of(row, where, [&](const Json& x) { return tensor_ref(x, where); });
      });
    static const std::map<std::string, std::string> unsupported = {
        {"as_graph", "a subgraph (the argument of a higher-order operator)"},
        {"as_custom_obj", "a custom object"},
        {"as_operator", "an operator"},
        {"as_complex", "a complex number"},
        {"as_string_to_argument", "a dict"},
    };
    auto u = unsupported.find(k);
    if (u != unsupported.end())
      fail(where, "argument kind '" + k + "' (" + u->second + ") is not supported");
    fail(where, "unknown argument kind '" + k + "'");
  }

  Argument optional_tensor(const Json& v, const std::string& where) const {
    auto [k, x] = one_of(v, where);
    if (k == "as_none") return Argument();
    if (k == "as_tensor") return tensor_ref(*x, where);
    fail(where, "unknown optional-tensor kind '" + k + "'");
  }

  // --- nodes --------------------------------------------------------------------------------
  void add_node(const Json& jn, size_t index) {
    std::string where = "graph.nodes[" + std::to_string(index) + "]";
    where_ = where;
    std::string target = str(get(jn, "target", where), where + ".target");
    std::string name;
    if (const Json* n = find(jn, "name")) name = str(*n, where + ".name");
    where = "node '" + (name.empty() ? std::to_string(index) : name) + "' (" + target + ")";
    where_ = where;
    const Json& inputs = array(get(jn, "inputs", where), where + ".inputs");
    const Json& outputs = array(get(jn, "outputs", where), where + ".outputs");

    std::string fx_target;
    Args args;
    Kwargs kwargs;
    auto sym = sym_ops().find(target);
    if (sym != sym_ops().end()) {
      fx_target = sym->second;
      for (const Json& in : inputs) args.push_back(argument(get(in, "arg", where), where));
    } else if (target.rfind("torch.ops.", 0) == 0) {
      fx_target = operator_target(target, where);
      place_arguments(fx_target, inputs, where, args, kwargs);
    } else {
      fail(where, "target '" + target + "' is not supported (" +
                      (target.rfind("#", 0) == 0 ? "a serialization extension"
                                                 : "not an operator of torch.ops nor SymInt "
                                                   "arithmetic") +
                      ")");
    }

    // The node's name: its one result's, else the archive's, else fx's default.
    std::optional<std::string> node_name;
    std::string single;  // the name of the one result, when there is one
    std::string single_kind;
    const Json* single_value = nullptr;
    if (outputs.size() == 1) {
      std::tie(single_kind, single_value) = one_of(outputs[0], where + ".outputs[0]");
      const std::string& k = single_kind;
      if (k == "as_tensor") single = str(get(*single_value, "name", where), where);
      if (k == "as_sym_int" || k == "as_sym_float" || k == "as_sym_bool")
        single = str(get(*single_value, "as_name", where), where);
      if (k == "as_none") node_name = default_node_name(true, fx_target) + "_unused";
    }
    if (!single.empty()) {
      node_name = single;
    } else if (!node_name && !name.empty()) {
      node_name = name;
    }
    Node* n = graph_->create_node(Op::CallFunction, fx_target, std::move(args), std::move(kwargs),
                                  node_name);
    set_metadata(n, jn, where);
    if (!single.empty()) {
      define(single, n, where);
    } else if (single_kind == "as_none") {
      // one None result: nothing to define
    } else if (!outputs.empty()) {
      if (outputs.size() == 1) {
        if (single_kind != "as_tensors")
          fail(where, "a single result of kind '" + single_kind + "' is not supported");
        getitems(n, array(*single_value, where), false, jn, where);
      } else {
        getitems(n, outputs, true, jn, where);
      }
      values_.emplace(n->name(), n);
    }
  }

  // `torch.ops.aten.add.Tensor` -> `aten::add.Tensor`; `.default` -> `aten::add`.
  std::string operator_target(const std::string& target, const std::string& where) const {
    std::string rest = target.substr(10);
    size_t a = rest.find('.');
    size_t b = a == std::string::npos ? a : rest.find('.', a + 1);
    std::string ns = rest.substr(0, a);
    if (ns == "higher_order")
      fail(where, "higher-order operators (control flow, wrapped subgraphs) are not supported");
    if (a == std::string::npos || b == std::string::npos ||
        rest.find('.', b + 1) != std::string::npos)
      fail(where, "expected a target of the form torch.ops.<namespace>.<operator>.<overload>");
    std::string op = rest.substr(a + 1, b - a - 1);
    std::string overload = rest.substr(b + 1);
    return ns + "::" + op + (overload == "default" ? "" : "." + overload);
  }

  // Splits the node's named inputs into args and kwargs as serialize.py's
  // deserialize_inputs does: by the recorded kind, else by the schema.
  void place_arguments(const std::string& qualified, const Json& inputs, const std::string& where,
                       Args& args, Kwargs& kwargs) const {
    c10::OperatorHandle op = [&] {
      try {
        return find_operator(qualified);
      } catch (const Error& e) {
        fail(where, std::string(e.what()) +
                        " (operators defined in Python, such as prims, or in a library this "
                        "process has not loaded cannot run here)");
      }
    }();
    const c10::FunctionSchema& schema = op.schema();
    std::map<std::string, std::pair<Argument, int64_t>> given;
    for (const Json& in : inputs) {
      std::string arg_name = str(get(in, "name", where), where + ".inputs[].name");
      std::string at = where + ", input '" + arg_name + "'";
      bool known = false;
      for (const c10::Argument& f : schema.arguments()) known = known || f.name() == arg_name;
      if (!known) fail(at, "is not an argument of " + c10::toString(schema));
      int64_t kind = 0;
      if (const Json* k = find(in, "kind")) kind = integer(*k, at + ".kind");
      given[arg_name] = {argument(get(in, "arg", at), at), kind};
    }
    for (const c10::Argument& f : schema.arguments()) {
      auto it = given.find(f.name());
      if (it != given.end()) {
        if (it->second.second == 1) {
          args.push_back(it->second.first);
          continue;
        }
        if (it->second.second == 2 && !is_python_keyword(f.name())) {
          kwargs.emplace_back(f.name(), it->second.first);
          continue;
        }
      }
      bool positional = !f.default_value() && !f.kwarg_only();
      if (positional || is_python_keyword(f.name())) {
        if (it == given.end()) {
          if (!positional) continue;
          fail(where, "input '" + f.name() + "' is missing and " + c10::toString(schema) +
                          " has no default for it");
        }
        args.push_back(it->second.first);
      } else if (it != given.end()) {
        kwargs.emplace_back(f.name(), it->second.first);
      }
    }
  }

  // getitem nodes for the results of n (serialize.py's generate_getitems). items are
  // Argument unions (several results) or plain tensor names (one list result).
  void getitems(Node* n, const Json& items, bool unions, const Json& jn, const std::string& where) {
    for (size_t i = 0; i < items.size(); ++i) {
      std::string at = where + ", result " + std::to_string(i);
      std::string kind = "as_tensor";
      const Json* v = &items[i];
      if (unions) std::tie(kind, v) = one_of(items[i], at);
      Args getitem_args = {n, static_cast<int64_t>(i)};
      if (kind == "as_tensor" || kind == "as_sym_int" || kind == "as_sym_float") {
        std::string result = str(get(*v, kind == "as_tensor" ? "name" : "as_name", at), at);
        Node* g = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {}, result);
        set_metadata(g, jn, at);
        define(result, g, at);
      } else if (kind == "as_tensors" || kind == "as_sym_ints" || kind == "as_sym_floats") {
        Node* list = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {});
        set_metadata(list, jn, at);
        if (kind == "as_tensors") {
          getitems(list, array(*v, at), false, jn, at);
        } else {
          const Json& syms = array(*v, at);
          for (size_t j = 0; j < syms.size(); ++j) {
            auto [k, y] = one_of(syms[j], at);
            if (k != "as_name") fail(at, "a constant inside a list of results is not supported");
            std::string result = str(*y, at);
            Node* g = graph_->create_node(Op::CallFunction, "getitem",
                                          {list, static_cast<int64_t>(j)}, {}, result);
            set_metadata(g, jn, at);
            define(result, g, at);
          }
        }
      } else if (kind == "as_none") {
        Node* g = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {}, "as_none");
        set_metadata(g, jn, at);
      } else {
        fail(at, "a result of kind '" + kind + "' is not supported");
      }
    }
  }

  void set_metadata(Node* n, const Json& jn, const std::string& where) const {
    const Json* meta = find(jn, "metadata");
    if (!meta) return;
    if (!meta->is_object()) fail(where, "field 'metadata' is not an object");
    for (auto it = meta->begin(); it != meta->end(); ++it)
      if (it.value().is_string()) n->meta().set(it.key(), it.value().get<std::string>());
  }

  // --- outputs ------------------------------------------------------------------------------
  void add_outputs(const Json& g, const Json& sig, const Json& gm) {
    where_ = "graph.outputs";
    const Json& outputs = array(get(g, "outputs", "graph"), "graph.outputs");
    const Json& specs = array(get(sig, "output_specs", "signature"), "signature.output_specs");
    if (outputs.size() != specs.size())
      fail("signature", std::to_string(specs.size()) + " output specs for " +
                            std::to_string(outputs.size()) + " graph outputs");
    std::vector<Argument> leaves;
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string where = "output " + std::to_string(i);
      auto [role, spec] = one_of(specs[i], "signature.output_specs[" + std::to_string(i) + "]");
      Argument value = argument(outputs[i], where);
      if (role == "user_output" || role == "loss_output") {
        leaves.push_back(value);
      } else if (role == "buffer_mutation" || role == "parameter_mutation" ||
                 role == "user_input_mutation") {
        const char* key = role == "buffer_mutation"      ? "buffer_name"
                          : role == "parameter_mutation" ? "parameter_name"
                                                         : "user_input_name";
        std::string target = str(get(*spec, key, where), where + "." + key);
        const auto& owners = role == "user_input_mutation" ? user_inputs_ : lifted_;
        auto it = owners.find(target);
        if (it == owners.end())
          fail(where, role + " of '" + target + "', which is not an input of the program");
        if (!value.is_node())
          fail(where, role + " of '" + target + "' to a value that is not a tensor");
        graph_->call_function("aten::copy_", {it->second, value});
      } else {
        fail(where, "output kind '" + role + "' (" +
                        (role.rfind("gradient", 0) == 0 ? "a training-only output"
                         : role == "token"              ? "an effect token"
                                                        : "unknown") +
                        ") is not supported");
      }
    }
    where_ = "the output structure";
    std::string out_spec;
    if (const Json* calls = find(gm, "module_call_graph"); calls && calls->is_array())
      for (const Json& entry : *calls)
        if (const Json* fqn = find(entry, "fqn");
            fqn && fqn->is_string() && fqn->get<std::string>().empty())
          if (const Json* s = find(entry, "signature"))
            if (const Json* o = find(*s, "out_spec"); o && o->is_string())
              out_spec = o->get<std::string>();
    Argument result = Argument::tuple(leaves);
    if (!out_spec.empty()) {
      Json spec = Json::parse(out_spec, nullptr, false);
      if (spec.is_discarded()) fail("out_spec", "is not valid JSON");
      if (spec.is_array() && spec.size() == 2 && spec[0] == 1) {
        size_t next = 0;
        result = unflatten(spec[1], leaves, next);
        if (next != leaves.size())
          fail("out_spec", "describes " + std::to_string(next) + " outputs but the program has " +
                               std::to_string(leaves.size()));
      }
    }
    Node* out = graph_->output(result);
    if (!out_spec.empty()) out->meta().set("out_spec", out_spec);
  }

  // Rebuilds a pytree (treespec version 1) over the flat user outputs.
  Argument unflatten(const Json& spec, const std::vector<Argument>& leaves, size_t& next) const {
    const Json& type = get(spec, "type", "out_spec");
    if (type.is_null()) {
      if (next >= leaves.size())
        fail("out_spec",
             "describes more outputs than the program's " + std::to_string(leaves.size()));
      return leaves[next++];
    }
    std::string t = str(type, "out_spec.type");
    std::vector<Argument> items;
    for (const Json& child :
         array(get(spec, "children_spec", "out_spec"), "out_spec.children_spec"))
      items.push_back(unflatten(child, leaves, next));
    if (t == "builtins.NoneType") return Argument();
    if (t == "builtins.list") return Argument::list(std::move(items));
    return Argument::tuple(std::move(items));  // tuples; dicts and named tuples flattened
  }

  static void flatten(const c10::IValue& v, std::vector<c10::IValue>& out) {
    if (v.isTuple()) {
      for (const auto& e : v.toTupleRef().elements()) flatten(e, out);
    } else if (v.isList()) {
      for (const auto& e : v.toListRef()) flatten(e, out);
    } else if (v.isGenericDict()) {
      for (const auto& e : v.toGenericDict()) flatten(e.value(), out);
    } else {
      out.push_back(v);
    }
  }

  struct Payload {
    std::string dir;     // data/weights/ or data/constants/
    std::string config;  // the config record that describes it
    Json meta;           // its PayloadMeta
  };

  std::string path_;
  std::string versions_;
  std::string archive_version_;
  std::string where_;  // what run() was doing, for errors LibTorch throws
  std::string model_name_;
  std::unique_ptr<Reader> reader_;
  Json model_;
  bool configs_read_ = false;
  std::map<std::string, Payload> payloads_;
  std::map<std::string, at::Tensor> files_;
  std::unique_ptr<Graph> graph_;
  Attributes attrs_;
  const Json* tensor_values_ = nullptr;
  std::map<std::string, const Json*> sym_values_;
  std::map<std::string, std::string> ranges_;
  std::unordered_map<std::string, Node*> values_;
  std::map<std::string, Node*> lifted_;       // fqn -> get_attr
  std::map<std::string, Node*> user_inputs_;  // name -> placeholder
};

}  // namespace

std::unique_ptr<GraphModule> load_exported(const std::string& path) { return Loader(path).run(); }

std::vector<c10::IValue> exported_sample_inputs(const std::string& path) {
  return Loader(path).sample_inputs();
}

bool is_exported_archive(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    char magic[2] = {0, 0};
    if (!in.read(magic, 2) || magic[0] != 'P' || magic[1] != 'K') return false;
    Reader reader(path);
    if (!reader.hasRecord("archive_format")) return false;
    auto [data, size] = reader.getRecord("archive_format");
    return trim(std::string(static_cast<const char*>(data.get()), size)) == "pt2";
  } catch (...) {
    return false;
  }
}

}  // namespace fx
