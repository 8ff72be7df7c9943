// The archive layer of the torch.export importer: opens a `.pt2` zip, checks
// what it says it is (archive format and version, byte order, schema
// version), reads its records and JSON, and materialises the weights and
// constants its payload configs describe. Every failure leaves through
// Archive::fail, a TraceError naming the archive, its versions and the place,
// so the graph translation (export_import.cpp) reports errors the same way.
// Internal to capture/: the public entry points are in export_import.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>

namespace fx::pt2 {

using Json = nlohmann::json;

// The archive's ScalarType, Layout and MemoryFormat enums
// (torch/_export/serde/schema.py); nullopt for a number it does not define.
std::optional<c10::ScalarType> dtype_of(int64_t v);
std::optional<c10::Layout> layout_of(int64_t v);
std::optional<c10::MemoryFormat> memory_format_of(int64_t v);

// sympy's srepr, shortened for people: `Symbol('s77', positive=True,
// integer=True)` -> `s77`, `Integer(2)` -> `2`; the rest is kept.
std::string pretty_expr(const std::string& s);

// s without leading and trailing white space.
std::string trim(std::string s);

// One archive, opened lazily: open() then read_model() before the rest.
class Archive {
 public:
  explicit Archive(std::string path) : path_(std::move(path)) {}

  // The program's example inputs (data/sample_inputs/<model>.pt), flattened;
  // empty when the archive has none.
  std::vector<c10::IValue> sample_inputs();

  // Throws TraceError("cannot load torch.export archive '<path>' (<versions>):
  // <where>: <what>").
  [[noreturn]] void fail(const std::string& where, const std::string& what) const;

  // --- JSON access: every mismatch is a failure that names the place -------------------------
  static std::string kind(const Json& v);

  const Json& get(const Json& obj, const char* key, const std::string& where) const;

  // The field, or nullptr when it is missing or null.
  static const Json* find(const Json& obj, const char* key);

  std::string str(const Json& v, const std::string& where) const;

  int64_t integer(const Json& v, const std::string& where) const;

  double number(const Json& v, const std::string& where) const;

  bool boolean(const Json& v, const std::string& where) const;

  const Json& array(const Json& v, const std::string& where) const;

  // A union of the schema: an object with exactly one field, the kind.
  std::pair<std::string, const Json*> one_of(const Json& v, const std::string& where) const;

  // --- the archive --------------------------------------------------------------------------
  void open();

  std::string read(const std::string& record);

  Json parse(const std::string& record);

  void read_model();

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
                           int64_t* value) const;

  TensorSpec tensor_spec(const Json& meta, const std::string& where) const;

  c10::Device device(const Json& v, const std::string& where) const;

  // Reads data/{weights,constants}/<model>_{weights,constants}_config.json once.
  void read_payload_configs();

  at::Tensor lifted_tensor(const std::string& fqn, const std::string& where);

  // Appends the leaves of v (tuples, lists and dict values, in order) to out.
  static void flatten(const c10::IValue& v, std::vector<c10::IValue>& out);

 protected:
  struct Payload {
    std::string dir;     // data/weights/ or data/constants/
    std::string config;  // the config record that describes it
    Json meta;           // its PayloadMeta
  };

  std::string path_;
  std::string versions_;
  std::string archive_version_;
  std::string where_;  // what is being read, for errors LibTorch throws
  std::string model_name_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
  Json model_;
  bool configs_read_ = false;
  std::map<std::string, Payload> payloads_;
  std::map<std::string, at::Tensor> files_;
};

}  // namespace fx::pt2
