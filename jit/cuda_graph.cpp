// See jit/cuda_graph.h. One Entry per input signature: the captured graph, the
// static input buffers it reads and the static outputs it writes.
#include "jit/cuda_graph.h"

#include <sstream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "ir/error.h"

#if FX_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fx::jit {

struct CudaGraphModule::Entry {
  bool failed = false;
  std::mutex mutex;  // serialises replays: they share the static buffers
  std::vector<c10::IValue> static_args;
  c10::IValue static_output;
#if FX_HAVE_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

namespace {

// The signature of a call: what a captured graph is specialised on. Empty
// when the call is not captured at all: a tensor that is not a dense CUDA
// tensor, a container or object argument (only tensors and constants are
// captured), keyword arguments, or no CUDA tensor at all.
std::string signature(const std::vector<c10::IValue>& args, const IValueKwargs& kwargs) {
  if (!kwargs.empty()) return "";
  std::ostringstream os;
  bool any_cuda = false;
  for (const auto& a : args) {
    if (a.isTensor()) {
      const at::Tensor& t = a.toTensor();
      if (!t.defined() || !t.is_cuda() || t.layout() != c10::kStrided) return "";
      any_cuda = true;
      os << "T" << c10::toString(t.scalar_type()) << "@" << t.device() << t.sizes() << t.strides()
         << ";";
    } else if (a.isTensorList() || a.isList() || a.isTuple() || a.isGenericDict() || a.isObject()) {
      return "";
    } else {
      os << a.tagKind() << ":" << a << ";";
    }
  }
  return any_cuda ? os.str() : "";
}

// Applies f to every tensor in v (tensors, tuples and lists of them).
c10::IValue map_tensors(const c10::IValue& v,
                        const std::function<at::Tensor(const at::Tensor&)>& f) {
  if (v.isTensor()) return f(v.toTensor());
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& e : v.toTupleRef().elements()) items.push_back(map_tensors(e, f));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorList()) out.push_back(f(t));
    return out;
  }
  if (v.isList()) {
    auto list = v.toList();
    c10::impl::GenericList out(list.elementType());
    for (const c10::IValue& e : list) out.push_back(map_tensors(e, f));
    return out;
  }
  return v;
}

#if FX_HAVE_CUDA
// Note [Failed captures]: when a forward breaks a capture (a host sync), the
// stream's capture is invalidated and CUDAGraph::capture_end throws before it
// tells the CUDA RNG that capturing is over; every later random op on the
// device then fails ("Offset increment outside graph capture"). Capturing one
// trivial op with a fresh CUDAGraph runs that bookkeeping to completion.
void reset_after_failed_capture(c10::Device device) {
  try {
    at::Tensor scratch = at::zeros({1}, at::TensorOptions().device(device));
    at::cuda::CUDAGraph reset;
    reset.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    scratch.add_(1);
    reset.capture_end();
  } catch (...) {
    cudaGetLastError();
  }
}
#endif

}  // namespace

CudaGraphModule::CudaGraphModule(std::shared_ptr<Module> inner, CudaGraphOptions options)
    : inner_(std::move(inner)), options_(options) {
  if (!inner_) throw RuntimeError("CudaGraphModule needs a module to run");
  if (options_.warmup_calls < 1) options_.warmup_calls = 1;
}

CudaGraphModule::~CudaGraphModule() = default;

bool CudaGraphModule::available(std::string* why) {
#if FX_HAVE_CUDA
  if (at::hasCUDA()) return true;
  if (why) *why = "no CUDA device is usable";
  return false;
#else
  if (why) *why = "fx was built without CUDA";
  return false;
#endif
}

int64_t CudaGraphModule::graphs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t n = 0;
  for (const auto& kv : entries_) n += kv.second->failed ? 0 : 1;
  return n;
}

std::vector<std::string> CudaGraphModule::warnings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return warnings_;
}

void CudaGraphModule::warn(const std::string& message) {
  warnings_.push_back(message);
  TORCH_WARN(message);
}

c10::IValue CudaGraphModule::forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs) {
  // A CUDA tensor argument implies a usable device; without FX_HAVE_CUDA,
  // capture() declines with a warning.
  std::string key = signature(args, kwargs);
  if (key.empty()) {
    ++eager_calls_;
    return inner_->forward(std::move(args), kwargs);
  }
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      e = it->second;
    } else if (static_cast<int>(entries_.size()) >= options_.max_graphs) {
      if (!warned_cap_) {
        warned_cap_ = true;
        warn("CudaGraphModule: " + std::to_string(options_.max_graphs) +
             " input signatures are captured already (max_graphs); calls with new shapes run "
             "without CUDA graphs");
      }
    } else {
      e = capture(key, args);
      entries_[key] = e;
    }
  }
  if (!e || e->failed) {
    ++eager_calls_;
    return inner_->forward(std::move(args), kwargs);
  }
#if FX_HAVE_CUDA
  std::lock_guard<std::mutex> lock(e->mutex);
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i].isTensor()) e->static_args[i].toTensor().copy_(args[i].toTensor(), true);
  e->graph->replay();
  ++replays_;
  if (!options_.clone_outputs) return e->static_output;
  return map_tensors(e->static_output, [](const at::Tensor& t) { return t.clone(); });
#else
  return inner_->forward(std::move(args), kwargs);
#endif
}

// Called with mutex_ held. Never throws for a forward that cannot be captured:
// the entry is marked failed and the reason warned about.
std::shared_ptr<CudaGraphModule::Entry> CudaGraphModule::capture(
    const std::string& key, const std::vector<c10::IValue>& args) {
  auto e = std::make_shared<Entry>();
#if FX_HAVE_CUDA
  c10::Device device = at::kCUDA;
  for (const auto& a : args)
    if (a.isTensor()) {
      device = a.toTensor().device();
      break;
    }
  c10::cuda::CUDAGuard device_guard(device);
  for (const auto& a : args) {
    if (!a.isTensor()) {
      e->static_args.push_back(a);
      continue;
    }
    const at::Tensor& t = a.toTensor();
    at::Tensor s = at::empty_strided(t.sizes(), t.strides(), t.options());
    s.copy_(t);
    e->static_args.push_back(s);
  }
  c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream(device.index());
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device.index());
  std::string stage = "warm-up";
  try {
    // Warm-up on a side stream that waits for the caller's work (the copies).
    at::cuda::CUDAEvent ready;
    ready.record(caller);
    ready.block(side);
    {
      c10::cuda::CUDAStreamGuard stream_guard(side);
      for (int i = 0; i < options_.warmup_calls; ++i) inner_->forward(e->static_args, {});
    }
    at::cuda::CUDAEvent warm;
    warm.record(side);
    warm.block(caller);
    side.synchronize();
    stage = "capture";
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    {
      c10::cuda::CUDAStreamGuard stream_guard(side);
      graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      try {
        e->static_output = inner_->forward(e->static_args, {});
      } catch (...) {
        try {
          graph->capture_end();
        } catch (...) {
        }
        cudaGetLastError();  // the capture's error is reported by the exception
        reset_after_failed_capture(device);
        throw;
      }
      graph->capture_end();
    }
    e->graph = std::move(graph);
  } catch (const std::exception& ex) {
    e->failed = true;
    e->static_args.clear();
    e->static_output = c10::IValue();
    std::string what = ex.what();
    if (auto nl = what.find("\nException raised from"); nl != std::string::npos) what.resize(nl);
    warn("CudaGraphModule: cannot capture " + inner_->kind() + " for inputs " + key + " (" + stage +
         " failed), running it without CUDA graphs: " + what);
  }
#else
  (void)args;
  e->failed = true;
  warn("CudaGraphModule: fx was built without CUDA; running " + inner_->kind() + " normally");
  (void)key;
#endif
  return e;
}

}  // namespace fx::jit
