// Saving and loading fused GraphModules: the ModuleSerializer for
// fx::jit::FusedKernel (Note [Saving other module kinds] in serialize/serialize.h).
// A FusedKernel is saved as its eager GraphModule (the group's original nodes
// with their tensor_meta) plus a small JSON object (its name, device and
// members). Loading rebuilds the KernelSpec from that graph with the code fuse
// uses, so the spec always describes the nodes it stands for; compiled kernels
// are not saved, they are compiled again (or found in the disk cache) on first
// call. Deliberately not saved: the CpuCompilerOptions and CudaCompilerOptions
// given to fuse (loaded kernels use the defaults, so FX_CXX and FX_CACHE_DIR
// apply).
#pragma once

namespace fx::jit {

// Registers the FusedKernel serializer with fx::save and fx::load. Idempotent
// and thread-safe. fx::jit::fuse calls it, so a program that fuses can save; a
// program that only loads fused files must call it before fx::load (otherwise
// load fails with an error that says so).
void register_serialization();

}  // namespace fx::jit
