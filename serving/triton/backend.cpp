// libtriton_fx.so: the Triton Inference Server backend that serves fx models
// (TRITONBACKEND API 1.19). Triton calls the TRITONBACKEND_* functions below;
// everything else is private to this file.
//
//   model       ModelState: the parsed config.pbtxt and the version directory
//   instance    InstanceState: its own module (model_loader.h) on its device,
//               and on a GPU its own CUDA stream; Triton calls Execute for an
//               instance from that instance's thread only
//   Execute     each request is checked (inputs present, dtypes, shapes, byte
//               sizes) and a bad one gets an error response alone; the good
//               ones are stacked along dimension 0 when the model batches
//               (requests whose other dimensions differ run as separate
//               batches), run in one forward, and the outputs are split back
//               to the requests. A failing forward fails the requests of its
//               batch only. Every request gets exactly one response.
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#if FX_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "triton/core/tritonbackend.h"
#include "triton/core/tritonserver.h"

#include "ir/error.h"
#include "runtime/module.h"
#include "serving/triton/model_config.h"
#include "serving/triton/model_loader.h"

namespace fx::triton {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Logs through the server, with the caller's file and line.
void log(TRITONSERVER_LogLevel level, const std::string& message, const char* file = __builtin_FILE(),
         int line = __builtin_LINE()) {
  if (TRITONSERVER_Error* err = TRITONSERVER_LogMessage(level, file, line, message.c_str()))
    TRITONSERVER_ErrorDelete(err);
}

TRITONSERVER_Error* error(TRITONSERVER_Error_Code code, const std::string& message) {
  return TRITONSERVER_ErrorNew(code, message.c_str());
}

// Turns a failed Triton call into an exception carrying its message.
struct TritonFailure {
  TRITONSERVER_Error* error;
};
void check(TRITONSERVER_Error* err) {
  if (err) throw TritonFailure{err};
}

// Runs body, turning what it throws into a Triton error for the caller.
template <typename F>
TRITONSERVER_Error* guarded(const char* what, F&& body) {
  try {
    body();
    return nullptr;
  } catch (const TritonFailure& f) {
    return f.error;
  } catch (const std::exception& e) {
    return error(TRITONSERVER_ERROR_INTERNAL, std::string("fx backend: ") + what + ": " + e.what());
  }
}

struct ModelState {
  ModelConfig config;
  std::string version_dir;
};

struct InstanceState {
  std::string name;
  ModelState* model = nullptr;
  c10::Device device{c10::kCPU};
  std::shared_ptr<Module> module;
#if FX_HAVE_CUDA
  std::optional<c10::cuda::CUDAStream> stream;
#endif
};

// One request that passed the checks.
struct Pending {
  TRITONBACKEND_Request* request = nullptr;
  TRITONBACKEND_Response* response = nullptr;
  std::vector<at::Tensor> inputs;  // on the CPU, in config order
  int64_t batch = 1;               // its size along dimension 0 when batching
};

// Copies count bytes at src (in Triton memory of type/id) to dst on the CPU.
void copy_in(void* dst, const void* src, size_t count, TRITONSERVER_MemoryType type, int64_t id) {
  if (type != TRITONSERVER_MEMORY_GPU) {
    std::memcpy(dst, src, count);
    return;
  }
  auto bytes = at::TensorOptions().dtype(at::kByte);
  at::Tensor from = at::from_blob(const_cast<void*>(src), {static_cast<int64_t>(count)},
                                  bytes.device(c10::Device(c10::kCUDA, static_cast<int8_t>(id))));
  at::from_blob(dst, {static_cast<int64_t>(count)}, bytes).copy_(from);
}

void copy_out(void* dst, const void* src, size_t count, TRITONSERVER_MemoryType type, int64_t id) {
  if (type != TRITONSERVER_MEMORY_GPU) {
    std::memcpy(dst, src, count);
    return;
  }
  auto bytes = at::TensorOptions().dtype(at::kByte);
  at::Tensor to = at::from_blob(dst, {static_cast<int64_t>(count)},
                                bytes.device(c10::Device(c10::kCUDA, static_cast<int8_t>(id))));
  to.copy_(at::from_blob(const_cast<void*>(src), {static_cast<int64_t>(count)}, bytes));
}

// Reads and checks request's inputs into p; returns what is wrong, or "".
std::string read_inputs(const ModelConfig& config, TRITONBACKEND_Request* request, Pending* p) {
  uint32_t count = 0;
  check(TRITONBACKEND_RequestInputCount(request, &count));
  for (uint32_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    check(TRITONBACKEND_RequestInputName(request, i, &name));
    if (!config.input(name))
      return "model '" + config.name + "' has no input '" + name + "'";
  }
  int64_t batch = -1;
  for (const TensorSpec& spec : config.inputs) {
    TRITONBACKEND_Input* input = nullptr;
    if (TRITONSERVER_Error* err = TRITONBACKEND_RequestInput(request, spec.name.c_str(), &input)) {
      TRITONSERVER_ErrorDelete(err);
      input = nullptr;
    }
    if (!input) return "input '" + spec.name + "' is missing (model '" + config.name + "')";
    const char* input_name = nullptr;
    TRITONSERVER_DataType type = TRITONSERVER_TYPE_INVALID;
    const int64_t* shape = nullptr;
    uint32_t dims = 0, buffers = 0;
    uint64_t byte_size = 0;
    check(TRITONBACKEND_InputProperties(input, &input_name, &type, &shape, &dims, &byte_size,
                                        &buffers));
    const std::string type_name = TRITONSERVER_DataTypeString(type);
    if (type_name != spec.data_type)
      return "input '" + spec.name + "' is " + type_name + " but model '" + config.name +
             "' expects " + spec.data_type;
    std::vector<int64_t> sizes(shape, shape + dims);
    std::string why;
    if (!shape_matches(spec, config.max_batch_size, sizes, &why))
      return "input '" + spec.name + "' has shape " + shape_string(sizes) + " but model '" +
             config.name + "' expects " + why;
    if (config.max_batch_size > 0) {
      if (batch != -1 && sizes[0] != batch)
        return "input '" + spec.name + "' has batch size " + std::to_string(sizes[0]) +
               " but an earlier input has " + std::to_string(batch);
      batch = sizes[0];
    }
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(spec.dtype));
    const uint64_t expected = static_cast<uint64_t>(t.nbytes());
    if (byte_size != expected)
      return "input '" + spec.name + "' holds " + std::to_string(byte_size) + " bytes but " +
             spec.data_type + shape_string(sizes) + " needs " + std::to_string(expected);
    auto* dst = static_cast<char*>(t.data_ptr());
    uint64_t offset = 0;
    for (uint32_t b = 0; b < buffers; ++b) {
      const void* src = nullptr;
      uint64_t size = 0;
      TRITONSERVER_MemoryType mtype = TRITONSERVER_MEMORY_CPU;
      int64_t mid = 0;
      check(TRITONBACKEND_InputBuffer(input, b, &src, &size, &mtype, &mid));
      if (offset + size > expected)
        return "input '" + spec.name + "': its buffers hold more than " +
               std::to_string(expected) + " bytes";
      copy_in(dst + offset, src, size, mtype, mid);
      offset += size;
    }
    if (offset != expected)
      return "input '" + spec.name + "': its buffers hold " + std::to_string(offset) +
             " bytes, not " + std::to_string(expected);
    p->inputs.push_back(std::move(t));
  }
  p->batch = config.max_batch_size > 0 ? batch : 1;
  return "";
}

// The requested outputs of one request, written from its slices of outs.
void write_outputs(const ModelConfig& config, Pending& p, const std::vector<at::Tensor>& outs) {
  uint32_t count = 0;
  check(TRITONBACKEND_RequestOutputCount(p.request, &count));
  for (uint32_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    check(TRITONBACKEND_RequestOutputName(p.request, i, &name));
    size_t index = 0;
    while (index < config.outputs.size() && config.outputs[index].name != name) ++index;
    if (index == config.outputs.size())
      throw TritonFailure{error(TRITONSERVER_ERROR_INVALID_ARG, "model '" + config.name +
                                                                    "' has no output '" + name + "'")};
    const TensorSpec& spec = config.outputs[index];
    const at::Tensor& t = outs[index];
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    TRITONBACKEND_Output* output = nullptr;
    check(TRITONBACKEND_ResponseOutput(p.response, &output, name,
                                       TRITONSERVER_StringToDataType(spec.data_type.c_str()),
                                       shape.data(), static_cast<uint32_t>(shape.size())));
    void* buffer = nullptr;
    TRITONSERVER_MemoryType mtype = TRITONSERVER_MEMORY_CPU;
    int64_t mid = 0;
    const size_t bytes = t.nbytes();
    check(TRITONBACKEND_OutputBuffer(output, &buffer, bytes, &mtype, &mid));
    if (bytes) copy_out(buffer, t.data_ptr(), bytes, mtype, mid);
  }
}

// The outputs of one forward over a batch, checked against the config and on
// the CPU.
std::vector<at::Tensor> checked_outputs(const ModelConfig& config, const c10::IValue& result,
                                        int64_t batch) {
  std::vector<at::Tensor> outs = outputs_of(result, config);
  for (size_t i = 0; i < outs.size(); ++i) {
    const TensorSpec& spec = config.outputs[i];
    at::Tensor& t = outs[i];
    if (t.scalar_type() != spec.dtype)
      throw_error(ErrorKind::kRuntime, "model '" + config.name + "': output '" + spec.name +
                                           "' came out " + std::string(c10::toString(t.scalar_type())) +
                                           " but config.pbtxt declares TYPE_" + spec.data_type);
    std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
    std::string why;
    if (!shape_matches(spec, config.max_batch_size > 0 ? batch : 0, sizes, &why) ||
        (config.max_batch_size > 0 && sizes[0] != batch))
      throw_error(ErrorKind::kRuntime,
                  "model '" + config.name + "': output '" + spec.name + "' has shape " +
                      shape_string(sizes) + " for a batch of " + std::to_string(batch) +
                      " but config.pbtxt declares " +
                      (config.max_batch_size > 0 ? "[batch] + " : "") + shape_string(spec.dims));
    t = t.to(c10::kCPU).contiguous();
  }
  return outs;
}

void send(TRITONBACKEND_Response*& response, TRITONSERVER_Error* err) {
  if (TRITONSERVER_Error* failed =
          TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err)) {
    log(TRITONSERVER_LOG_ERROR,
        std::string("fx backend: sending a response failed: ") + TRITONSERVER_ErrorMessage(failed));
    TRITONSERVER_ErrorDelete(failed);
  }
  response = nullptr;
}

// Runs one batch of requests whose inputs can be stacked, sends their
// responses and reports the statistics.
void run_batch(TRITONBACKEND_ModelInstance* instance, InstanceState& s,
               const std::vector<Pending*>& batch, uint64_t exec_start) {
  const ModelConfig& config = s.model->config;
  const uint64_t compute_start = now_ns();
  uint64_t compute_end = 0;
  std::string failure;
  int64_t total = 0;
  for (Pending* p : batch) total += p->batch;
  std::vector<at::Tensor> outs;
  try {
    std::vector<c10::IValue> inputs;
    for (size_t i = 0; i < config.inputs.size(); ++i) {
      at::Tensor x;
      if (batch.size() == 1) {
        x = batch[0]->inputs[i];
      } else {
        std::vector<at::Tensor> parts;
        for (Pending* p : batch) parts.push_back(p->inputs[i]);
        x = at::cat(parts, 0);
      }
      inputs.emplace_back(s.device.is_cpu() ? x : x.to(s.device));
    }
#if FX_HAVE_CUDA
    std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
    if (s.stream) stream_guard.emplace(*s.stream);
#endif
    c10::InferenceMode guard;
    c10::IValue result = s.module->forward(std::move(inputs), {});
    outs = checked_outputs(config, result, total);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  compute_end = now_ns();
  int64_t offset = 0;
  for (Pending* p : batch) {
    TRITONSERVER_Error* err = nullptr;
    if (!failure.empty()) {
      err = error(TRITONSERVER_ERROR_INTERNAL, failure);
    } else {
      std::vector<at::Tensor> mine;
      for (const at::Tensor& t : outs)
        mine.push_back(config.max_batch_size > 0 ? t.narrow(0, offset, p->batch).contiguous() : t);
      offset += p->batch;
      err = guarded("writing outputs", [&] { write_outputs(config, *p, mine); });
    }
    const bool ok = err == nullptr;
    send(p->response, err);
    if (err) TRITONSERVER_ErrorDelete(err);
    if (TRITONSERVER_Error* e = TRITONBACKEND_ModelInstanceReportStatistics(
            instance, p->request, ok, exec_start, compute_start, compute_end, now_ns()))
      TRITONSERVER_ErrorDelete(e);
  }
  if (TRITONSERVER_Error* e = TRITONBACKEND_ModelInstanceReportBatchStatistics(
          instance, static_cast<uint64_t>(total), exec_start, compute_start, compute_end, now_ns()))
    TRITONSERVER_ErrorDelete(e);
}

// The key under which requests can be stacked: their inputs' sizes past
// dimension 0. Without batching every request runs alone.
std::string stack_key(const ModelConfig& config, const Pending& p, size_t index) {
  if (config.max_batch_size == 0) return std::to_string(index);
  std::string key;
  for (const at::Tensor& t : p.inputs) {
    for (int64_t d = 1; d < t.dim(); ++d) key += std::to_string(t.size(d)) + ",";
    key += ";";
  }
  return key;
}

c10::Device instance_device(const ModelConfig& config, TRITONBACKEND_ModelInstance* instance) {
  TRITONSERVER_InstanceGroupKind kind;
  check(TRITONBACKEND_ModelInstanceKind(instance, &kind));
  int32_t id = 0;
  check(TRITONBACKEND_ModelInstanceDeviceId(instance, &id));
  c10::Device device(c10::kCPU);
  if (kind == TRITONSERVER_INSTANCEGROUPKIND_GPU) {
    device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(id));
    if (!config.device.empty() && config.device != "cuda" &&
        c10::Device(config.device) != device)
      throw_error(ErrorKind::kRuntime, "model '" + config.name + "': parameter device '" +
                                           config.device + "' contradicts a KIND_GPU instance on " +
                                           device.str());
  } else if (kind == TRITONSERVER_INSTANCEGROUPKIND_CPU) {
    if (!config.device.empty() && config.device != "cpu")
      throw_error(ErrorKind::kRuntime, "model '" + config.name + "': parameter device '" +
                                           config.device + "' contradicts a KIND_CPU instance");
  } else if (!config.device.empty()) {  // KIND_MODEL: the parameter decides
    device = c10::Device(config.device);
  }
  if (device.is_cuda()) {
    if (!at::hasCUDA())
      throw_error(ErrorKind::kRuntime, "model '" + config.name + "': an instance on " +
                                           device.str() + " but no CUDA device is usable");
    if (!device.has_index()) device = c10::Device(c10::kCUDA, 0);
  }
  return device;
}

}  // namespace
}  // namespace fx::triton

using fx::triton::check;
using fx::triton::guarded;
using fx::triton::InstanceState;
using fx::triton::ModelState;

extern "C" {

TRITONSERVER_Error* TRITONBACKEND_Initialize(TRITONBACKEND_Backend* backend) {
  (void)backend;
  uint32_t major = 0, minor = 0;
  if (TRITONSERVER_Error* err = TRITONBACKEND_ApiVersion(&major, &minor)) return err;
  if (major != TRITONBACKEND_API_VERSION_MAJOR || minor < TRITONBACKEND_API_VERSION_MINOR)
    return fx::triton::error(
        TRITONSERVER_ERROR_UNSUPPORTED,
        "the fx backend needs TRITONBACKEND API " + std::to_string(TRITONBACKEND_API_VERSION_MAJOR) +
            "." + std::to_string(TRITONBACKEND_API_VERSION_MINOR) + " or a later minor version; " +
            "this server has " + std::to_string(major) + "." + std::to_string(minor));
  fx::triton::log(TRITONSERVER_LOG_INFO, "fx backend: TRITONBACKEND API " + std::to_string(major) +
                                             "." + std::to_string(minor));
  return nullptr;
}

TRITONSERVER_Error* TRITONBACKEND_ModelInitialize(TRITONBACKEND_Model* model) {
  return guarded("loading the model", [&] {
    auto state = std::make_unique<ModelState>();
    TRITONSERVER_Message* message = nullptr;
    check(TRITONBACKEND_ModelConfig(model, 1, &message));
    const char* json = nullptr;
    size_t size = 0;
    TRITONSERVER_Error* err = TRITONSERVER_MessageSerializeToJson(message, &json, &size);
    std::string text = err ? std::string() : std::string(json, size);
    TRITONSERVER_MessageDelete(message);
    check(err);
    state->config = fx::triton::parse_model_config(text);
    const char* location = nullptr;
    TRITONBACKEND_ArtifactType artifact;
    check(TRITONBACKEND_ModelRepository(model, &artifact, &location));
    uint64_t version = 0;
    check(TRITONBACKEND_ModelVersion(model, &version));
    state->version_dir = std::string(location) + "/" + std::to_string(version);
    check(TRITONBACKEND_ModelSetState(model, state.release()));
  });
}

TRITONSERVER_Error* TRITONBACKEND_ModelFinalize(TRITONBACKEND_Model* model) {
  void* state = nullptr;
  if (TRITONSERVER_Error* err = TRITONBACKEND_ModelState(model, &state)) return err;
  delete static_cast<ModelState*>(state);
  return nullptr;
}

TRITONSERVER_Error* TRITONBACKEND_ModelInstanceInitialize(TRITONBACKEND_ModelInstance* instance) {
  return guarded("loading a model instance", [&] {
    TRITONBACKEND_Model* model = nullptr;
    check(TRITONBACKEND_ModelInstanceModel(instance, &model));
    void* model_state = nullptr;
    check(TRITONBACKEND_ModelState(model, &model_state));
    auto state = std::make_unique<InstanceState>();
    state->model = static_cast<ModelState*>(model_state);
    const char* name = nullptr;
    check(TRITONBACKEND_ModelInstanceName(instance, &name));
    state->name = name;
    const fx::triton::ModelConfig& config = state->model->config;
    state->device = fx::triton::instance_device(config, instance);
    const std::string file = fx::triton::find_model_file(state->model->version_dir, config);
#if FX_HAVE_CUDA
    std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
    if (state->device.is_cuda()) {
      state->stream = c10::cuda::getStreamFromPool(false, state->device.index());
      stream_guard.emplace(*state->stream);
    }
#endif
    fx::triton::ServedModule served = fx::triton::load_for_serving(file, config, state->device);
    state->module = std::move(served.module);
    fx::triton::log(TRITONSERVER_LOG_INFO, "fx backend: " + state->name + ": " + served.summary);
    check(TRITONBACKEND_ModelInstanceSetState(instance, state.release()));
  });
}

TRITONSERVER_Error* TRITONBACKEND_ModelInstanceFinalize(TRITONBACKEND_ModelInstance* instance) {
  void* state = nullptr;
  if (TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceState(instance, &state)) return err;
  delete static_cast<InstanceState*>(state);
  return nullptr;
}

TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance* instance,
                                                       TRITONBACKEND_Request** requests,
                                                       const uint32_t request_count) {
  using namespace fx::triton;
  const uint64_t exec_start = now_ns();
  void* raw = nullptr;
  if (TRITONSERVER_Error* err = TRITONBACKEND_ModelInstanceState(instance, &raw)) return err;
  InstanceState& s = *static_cast<InstanceState*>(raw);
  const ModelConfig& config = s.model->config;

  // Every request gets a response; a bad one gets its error now.
  std::vector<Pending> pending(request_count);
  std::map<std::string, std::vector<Pending*>> batches;
  for (uint32_t r = 0; r < request_count; ++r) {
    Pending& p = pending[r];
    p.request = requests[r];
    if (TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&p.response, p.request)) {
      log(TRITONSERVER_LOG_ERROR,
          std::string("fx backend: no response for a request: ") + TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
      p.response = nullptr;
      continue;
    }
    std::string wrong;
    TRITONSERVER_Error* err = guarded("reading the inputs", [&] { wrong = read_inputs(config, p.request, &p); });
    if (!err && !wrong.empty()) err = error(TRITONSERVER_ERROR_INVALID_ARG, wrong);
    if (err) {
      send(p.response, err);
      TRITONSERVER_ErrorDelete(err);
      const uint64_t t = now_ns();
      if (TRITONSERVER_Error* e = TRITONBACKEND_ModelInstanceReportStatistics(
              instance, p.request, false, exec_start, t, t, t))
        TRITONSERVER_ErrorDelete(e);
      continue;
    }
    batches[stack_key(config, p, r)].push_back(&p);
  }
  for (auto& [key, batch] : batches) run_batch(instance, s, batch, exec_start);
  for (uint32_t r = 0; r < request_count; ++r)
    if (TRITONSERVER_Error* err =
            TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL)) {
      log(TRITONSERVER_LOG_ERROR,
          std::string("fx backend: releasing a request failed: ") + TRITONSERVER_ErrorMessage(err));
      TRITONSERVER_ErrorDelete(err);
    }
  return nullptr;
}

}  // extern "C"
