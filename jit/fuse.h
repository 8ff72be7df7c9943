// fx::jit::fuse: the JIT's entry point. Partitions a GraphModule's graph into
// groups of elementwise nodes, possibly around reductions over trailing dims
// (jit/partition.h, jit/reductions.h), replaces each group by one
// call_module node whose submodule is a FusedKernel (jit/fused_kernel.h), and
// returns the new GraphModule; the input is not changed. Kernels are generated
// and compiled lazily, at the first call with a given layout.
//
// REQUIRES: tensor_meta on the nodes (run shape_prop, or symbolic_trace).
// FX_JIT_DISABLE=1 turns fusion off (fuse returns an unfused copy);
// FX_JIT_DUMP=1 keeps generated sources beside the cached kernels (jit/env.h).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "jit/cpu_compiler.h"
#include "jit/cuda_compiler.h"
#include "jit/partition.h"
#include "runtime/graph_module.h"

namespace fx::jit {

struct FuseOptions {
  // kAuto fuses groups on any device; kCpu only CPU groups; kCuda only CUDA groups.
  enum class Backend { kAuto, kCpu, kCuda } backend = Backend::kAuto;
  PartitionOptions partition;
  CpuCompilerOptions cpu;  // host compiler, flags, cache directory
  // NVRTC options and the cache of CUDA kernels. Unset: CUDA kernels cache
  // where CPU ones do (cpu.cache_dir and cpu.disk_cache).
  std::optional<CudaCompilerOptions> cuda;
};

std::unique_ptr<GraphModule> fuse(const GraphModule& gm, FuseOptions options = {});

// What fuse would do to gm: the groups (with each row group's reductions) and,
// for each elementwise or reduction node left unfused, why (Partition::explain()).
std::string explain_fusion(const GraphModule& gm, const FuseOptions& options = {});

}  // namespace fx::jit
