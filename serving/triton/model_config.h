// ModelConfig: what the fx backend reads from a model's config.pbtxt, which
// Triton hands to the backend as JSON (TRITONBACKEND_ModelConfig). Parsing is
// kept apart from the Triton API so that it can be tested without a server.
//
// Read:
//   name, max_batch_size, default_model_filename
//   input / output    name, data_type (TYPE_FP32, ...), dims (-1 = any size);
//                     with max_batch_size > 0 the batch dimension is implicit
//                     and not part of dims, as in every Triton backend
//   parameters        optimize, fuse, cuda_graphs (true/false, 1/0, yes/no,
//                     on/off) and device (cpu, cuda, cuda:N), each given as
//                     { key: "optimize" value: { string_value: "true" } }
// Anything else (instance_group, dynamic_batching, ...) is Triton's business.
//
// Errors are fx::Error (kRuntime) naming the model and the field, so a bad
// config fails the model's load with a message that says what to fix.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

namespace fx::triton {

struct TensorSpec {
  std::string name;
  std::string data_type;       // as written in the config, without "TYPE_": "FP32"
  c10::ScalarType dtype;       // the LibTorch dtype for data_type
  std::vector<int64_t> dims;   // without the batch dimension; -1 is any size
};

struct ModelConfig {
  std::string name;
  int64_t max_batch_size = 0;  // 0: no batching, inputs are passed as sent
  std::string default_model_filename;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;

  // Backend parameters.
  bool optimize = false;       // fx::jit::optimize_for_inference at load
  bool fuse = false;           // JIT kernels; defaults to `optimize`
  bool cuda_graphs = false;    // replay CUDA graphs on GPU instances
  std::string device;          // "" (the instance's kind decides), "cpu", "cuda", "cuda:N"

  // The spec of the input or output called name, or nullptr.
  const TensorSpec* input(const std::string& name) const;
  const TensorSpec* output(const std::string& name) const;
};

// Parses the JSON form of config.pbtxt.
ModelConfig parse_model_config(const std::string& json);

// "FP32" -> at::kFloat, ... ; nullopt for types the backend does not serve
// (STRING/BYTES, UINT16..UINT64).
std::optional<c10::ScalarType> scalar_type_of(const std::string& triton_type);

// Whether shape (as sent, batch dimension included when batching) fits spec,
// given max_batch_size. On a mismatch, *why says what was expected.
bool shape_matches(const TensorSpec& spec, int64_t max_batch_size,
                   const std::vector<int64_t>& shape, std::string* why);

// "[2,3,-1]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace fx::triton
