// CudaGraphModule: runs a Module (a GraphModule, fused or not) as captured CUDA
// graphs, for small-batch inference where launch overhead dominates. Opt-in:
//
//   auto graphed = std::make_shared<fx::jit::CudaGraphModule>(std::move(fused_gm));
//   at::Tensor y = graphed->forward({x}).toTensor();  // x on a CUDA device
//
// The first call with a new input signature (the dtype, shape, strides and
// device of each tensor argument, and the value of every other argument) runs
// the module normally `warmup_calls` times on a side stream, so every fused
// kernel is compiled and loaded and lazy initialisation (cuBLAS handles,
// workspaces) is done; then it captures one forward with LibTorch's CUDA graph
// support (at::cuda::CUDAGraph) into a private memory pool, with inputs copied
// into static buffers. Later calls with that signature copy the inputs into
// those buffers and replay the graph on the current stream. Outputs are cloned
// out of the graph's static buffers (clone_outputs), so a result stays valid
// after the next call.
//
// At most max_graphs signatures are captured; past that (one warning) new
// signatures run normally. A forward that cannot be captured (a host
// synchronisation such as .item(), a data-dependent shape, a non-CUDA input)
// runs normally from then on for that signature, with one warning carrying the
// reason. Inputs on CPU, or no tensor inputs, also run normally.
//
// Thread-safe: replays of one graph are serialised (they share its static
// buffers); different modules run independently.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace fx::jit {

struct CudaGraphOptions {
  int max_graphs = 8;
  int warmup_calls = 2;
  bool clone_outputs = true;
};

class CudaGraphModule : public Module {
 public:
  explicit CudaGraphModule(std::shared_ptr<Module> inner, CudaGraphOptions options = {});
  ~CudaGraphModule() override;
  CudaGraphModule(const CudaGraphModule&) = delete;
  CudaGraphModule& operator=(const CudaGraphModule&) = delete;

  c10::IValue forward(std::vector<c10::IValue> args, const IValueKwargs& kwargs = {}) override;
  std::string kind() const override { return "fx::jit::CudaGraphModule"; }

  // Whether this build can capture at all (FX_HAVE_CUDA), and a GPU is usable.
  static bool available(std::string* why = nullptr);

  const Module& inner() const { return *inner_; }
  int64_t graphs() const;                                      // captured so far
  int64_t replays() const { return replays_.load(); }          // calls served by a replay
  int64_t eager_calls() const { return eager_calls_.load(); }  // calls run normally
  std::vector<std::string> warnings() const;                   // each warning given, in order

 private:
  struct Entry;
  std::shared_ptr<Entry> capture(const std::string& key, const std::vector<c10::IValue>& args);
  void warn(const std::string& message);

  std::shared_ptr<Module> inner_;
  CudaGraphOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::vector<std::string> warnings_;
  bool warned_cap_ = false;
  std::atomic<int64_t> replays_{0}, eager_calls_{0};
};

}  // namespace fx::jit
