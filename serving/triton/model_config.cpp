#include "serving/triton/model_config.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ir/error.h"

namespace fx::triton {
namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& model, const std::string& message) {
  throw_error(ErrorKind::kRuntime, "model '" + model + "': config.pbtxt: " + message);
}

// Triton writes 64-bit integers of the config (dims) as numbers, protobuf's
// own JSON form writes them as strings; both are accepted.
int64_t as_int(const Json& v, const std::string& model, const std::string& field) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    try {
      size_t used = 0;
      int64_t n = std::stoll(s, &used);
      if (used == s.size()) return n;
    } catch (const std::exception&) {
    }
  }
  fail(model, field + " must be an integer, not " + v.dump());
}

bool as_bool(const std::string& text, const std::string& model, const std::string& key) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  fail(model, "parameter '" + key + "' must be true or false, not '" + text + "'");
}

std::vector<TensorSpec> parse_tensors(const Json& config, const char* field,
                                      const std::string& model) {
  std::vector<TensorSpec> out;
  auto it = config.find(field);
  if (it == config.end() || it->is_null()) return out;
  if (!it->is_array()) fail(model, std::string(field) + " must be a list");
  for (const Json& t : *it) {
    TensorSpec spec;
    spec.name = t.value("name", "");
    if (spec.name.empty()) fail(model, std::string("an ") + field + " has no name");
    std::string type = t.value("data_type", "");
    if (type.rfind("TYPE_", 0) == 0) type = type.substr(5);
    std::optional<c10::ScalarType> dtype = scalar_type_of(type);
    if (!dtype)
      fail(model, std::string(field) + " '" + spec.name + "': data_type '" +
                      t.value("data_type", "") +
                      "' is not served by the fx backend (BOOL, UINT8, INT8, INT16, INT32, "
                      "INT64, FP16, BF16, FP32, FP64)");
    spec.data_type = type;
    spec.dtype = *dtype;
    auto dims = t.find("dims");
    if (dims != t.end() && dims->is_array())
      for (const Json& d : *dims) {
        int64_t n = as_int(d, model, std::string(field) + " '" + spec.name + "' dims");
        if (n < -1 || n == 0)
          fail(model, std::string(field) + " '" + spec.name + "': dimension " + std::to_string(n) +
                          " (sizes are positive, or -1 for any)");
        spec.dims.push_back(n);
      }
    if (t.contains("reshape"))
      fail(model, std::string(field) + " '" + spec.name + "': reshape is not supported");
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace

std::optional<c10::ScalarType> scalar_type_of(const std::string& t) {
  if (t == "BOOL") return c10::ScalarType::Bool;
  if (t == "UINT8") return c10::ScalarType::Byte;
  if (t == "INT8") return c10::ScalarType::Char;
  if (t == "INT16") return c10::ScalarType::Short;
  if (t == "INT32") return c10::ScalarType::Int;
  if (t == "INT64") return c10::ScalarType::Long;
  if (t == "FP16") return c10::ScalarType::Half;
  if (t == "BF16") return c10::ScalarType::BFloat16;
  if (t == "FP32") return c10::ScalarType::Float;
  if (t == "FP64") return c10::ScalarType::Double;
  return std::nullopt;
}

const TensorSpec* ModelConfig::input(const std::string& n) const {
  for (const TensorSpec& s : inputs)
    if (s.name == n) return &s;
  return nullptr;
}

const TensorSpec* ModelConfig::output(const std::string& n) const {
  for (const TensorSpec& s : outputs)
    if (s.name == n) return &s;
  return nullptr;
}

ModelConfig parse_model_config(const std::string& json) {
  Json config;
  try {
    config = Json::parse(json);
  } catch (const std::exception& e) {
    throw_error(ErrorKind::kRuntime, std::string("model config is not valid JSON: ") + e.what());
  }
  if (!config.is_object()) throw_error(ErrorKind::kRuntime, "model config is not a JSON object");
  ModelConfig c;
  c.name = config.value("name", "");
  if (auto it = config.find("max_batch_size"); it != config.end())
    c.max_batch_size = as_int(*it, c.name, "max_batch_size");
  if (c.max_batch_size < 0) fail(c.name, "max_batch_size must not be negative");
  c.default_model_filename = config.value("default_model_filename", "");
  c.inputs = parse_tensors(config, "input", c.name);
  c.outputs = parse_tensors(config, "output", c.name);
  if (c.inputs.empty()) fail(c.name, "no input is declared");
  if (c.outputs.empty()) fail(c.name, "no output is declared");
  for (const auto* list : {&c.inputs, &c.outputs})
    for (size_t i = 0; i < list->size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if ((*list)[i].name == (*list)[j].name)
          fail(c.name, "'" + (*list)[i].name + "' is declared twice");

  bool fuse_given = false;
  if (auto params = config.find("parameters"); params != config.end() && params->is_object()) {
    for (const auto& [key, value] : params->items()) {
      std::string text = value.is_object() ? value.value("string_value", "") : "";
      if (key == "optimize") {
        c.optimize = as_bool(text, c.name, key);
      } else if (key == "fuse") {
        c.fuse = as_bool(text, c.name, key);
        fuse_given = true;
      } else if (key == "cuda_graphs") {
        c.cuda_graphs = as_bool(text, c.name, key);
      } else if (key == "device") {
        if (text != "cpu" && text != "cuda" && text.rfind("cuda:", 0) != 0)
          fail(c.name, "parameter 'device' must be cpu, cuda or cuda:N, not '" + text + "'");
        c.device = text;
      } else {
        fail(c.name, "unknown parameter '" + key + "' (optimize, fuse, cuda_graphs, device)");
      }
    }
  }
  if (!fuse_given) c.fuse = c.optimize;
  return c;
}

bool shape_matches(const TensorSpec& spec, int64_t max_batch_size,
                   const std::vector<int64_t>& shape, std::string* why) {
  std::vector<int64_t> expected = spec.dims;
  size_t first = 0;
  if (max_batch_size > 0) {
    if (shape.empty() || shape[0] < 1 || shape[0] > max_batch_size) {
      if (why)
        *why = "a batch dimension of 1 to " + std::to_string(max_batch_size) + " then " +
               shape_string(spec.dims);
      return false;
    }
    first = 1;
  }
  bool ok = shape.size() == expected.size() + first;
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] == -1 ? shape[first + i] >= 0 : shape[first + i] == expected[i];
  if (!ok && why)
    *why = (max_batch_size > 0 ? "[batch] + " : std::string()) + shape_string(spec.dims);
  return ok;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

}  // namespace fx::triton
