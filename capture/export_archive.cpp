#include "capture/export_archive.h"

#include <cctype>
#include <fstream>
#include <limits>

#include <torch/csrc/jit/serialization/pickle.h>

#include "ir/error.h"

namespace fx::pt2 {

namespace {

constexpr int kSchemaMajor = 8;  // what torch 2.11 writes (schema 8.17)

using Reader = caffe2::serialize::PyTorchStreamReader;

}  // namespace

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

std::vector<c10::IValue> Archive::sample_inputs() {
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

void Archive::fail(const std::string& where, const std::string& what) const {
  std::string msg = "cannot load torch.export archive '" + path_ + "'";
  if (!versions_.empty()) msg += " (" + versions_ + ")";
  msg += ": ";
  if (!where.empty()) msg += where + ": ";
  throw TraceError(msg + what);
}

// --- JSON access: every mismatch is a failure that names the place -------------------------
std::string Archive::kind(const Json& v) { return v.type_name(); }

const Json& Archive::get(const Json& obj, const char* key, const std::string& where) const {
  if (!obj.is_object()) fail(where, "expected a JSON object, found " + kind(obj));
  auto it = obj.find(key);
  if (it == obj.end()) fail(where, std::string("field '") + key + "' is missing");
  return *it;
}

// The field, or nullptr when it is missing or null.
const Json* Archive::find(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string Archive::str(const Json& v, const std::string& where) const {
  if (!v.is_string()) fail(where, "expected a string, found " + kind(v));
  return v.get<std::string>();
}

int64_t Archive::integer(const Json& v, const std::string& where) const {
  if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
    return v.get<int64_t>();
  fail(where, "expected an integer, found " + (v.is_number() ? v.dump() : kind(v)));
}

double Archive::number(const Json& v, const std::string& where) const {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {  // how the archive spells what JSON cannot
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  fail(where, "expected a number, found " + (v.is_string() ? v.dump() : kind(v)));
}

bool Archive::boolean(const Json& v, const std::string& where) const {
  if (!v.is_boolean()) fail(where, "expected true or false, found " + kind(v));
  return v.get<bool>();
}

const Json& Archive::array(const Json& v, const std::string& where) const {
  if (!v.is_array()) fail(where, "expected a JSON array, found " + kind(v));
  return v;
}

// A union of the schema: an object with exactly one field, the kind.
std::pair<std::string, const Json*> Archive::one_of(const Json& v, const std::string& where) const {
  if (!v.is_object() || v.size() != 1)
    fail(where, "expected an object with one field (a union), found " +
                    (v.is_object() ? std::to_string(v.size()) + " fields" : kind(v)));
  return {v.begin().key(), &v.begin().value()};
}

// --- the archive --------------------------------------------------------------------------
void Archive::open() {
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

std::string Archive::read(const std::string& record) {
  try {
    auto [data, size] = reader_->getRecord(record);
    return std::string(static_cast<const char*>(data.get()), size);
  } catch (const c10::Error& e) {
    fail("record '" + record + "'", e.what_without_backtrace());
  }
}

Json Archive::parse(const std::string& record) {
  std::string text = read(record);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    fail("record '" + record + "'", std::string("is not valid JSON: ") + e.what());
  }
}

void Archive::read_model() {
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

std::string Archive::sym_int_text(const Json& v, const std::string& where, bool* concrete,
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

Archive::TensorSpec Archive::tensor_spec(const Json& meta, const std::string& where) const {
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

c10::Device Archive::device(const Json& v, const std::string& where) const {
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
void Archive::read_payload_configs() {
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

at::Tensor Archive::lifted_tensor(const std::string& fqn, const std::string& where) {
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
                       " bytes, not a whole number of " + c10::toString(spec.dtype) + " elements");
      flat = at::empty({static_cast<int64_t>(bytes / item)}, at::TensorOptions().dtype(spec.dtype));
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
  if (is_param && boolean(*is_param, here) && spec.requires_grad && at::isFloatingType(spec.dtype))
    t.requires_grad_(true);
  return t;
}

void Archive::flatten(const c10::IValue& v, std::vector<c10::IValue>& out) {
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

}  // namespace fx::pt2
