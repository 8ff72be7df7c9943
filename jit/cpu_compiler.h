// Compiles generated host C++ to a shared library and loads it, once per
// source: an in-memory cache (one compile per key even when many threads ask
// at once) over a disk cache of shared libraries.
//
// Note [Kernel disk cache]: entries live in the directory chosen by Note
// [Kernel cache directory] (jit/disk_cache.h: CpuCompilerOptions::cache_dir,
// else FX_CACHE_DIR, else $XDG_CACHE_HOME/fx/kernels or ~/.cache/fx/kernels,
// else $TMPDIR/fx-kernels-<euid>; only a directory and files that no other
// user can write, else no disk cache) as entries of jit/disk_cache.h, as the
// CUDA kernels' are: <key>.so plus <key>.so.ok, which holds a checksum of the
// .so, both written to temporary names and renamed into place by
// write_cache_entry and read back by read_cache_entry, so readers never see
// half an entry; the library is then loaded from <key>.so. A missing or
// mismatching checksum, a file that is not a whole shared object for this
// machine, or one without the kernel in it is a miss (the entry is rebuilt),
// never a crash.
// From a cache directory that cannot be written, hits are still loaded and
// misses are built in private_build_dir() without being saved. The key
// hashes the source, the compiler, its flags and the CPU's features.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fx::jit {

using CpuKernelFn = void (*)(void* const* ptrs, const int64_t* sizes, const int64_t* strides,
                             int64_t begin, int64_t end);

struct CpuCompilerOptions {
  std::string compiler;            // empty: $FX_CXX, else "c++" (jit/env.h)
  std::vector<std::string> flags;  // empty: the defaults below
  std::string cache_dir;           // empty: see Note [Kernel disk cache]
  bool disk_cache = true;
};

// -O3 -march=native -mprefer-vector-width=512 -fopenmp-simd -fno-math-errno -fwrapv -fPIC
// -shared; never -ffast-math. GCC's -march=native keeps to 256-bit vectors on AVX-512 parts;
// asking for 512 lets libmvec's 16-lane expf/tanhf run (an 8-op chain with sigmoid and tanh
// on 1M floats: 1.05 -> 0.62 ms on the 2-core AVX-512 dev machine). Elsewhere it is a no-op.
std::vector<std::string> default_cpu_flags();
// The directory used when cache_dir is empty, created and checked (Note
// [Kernel cache directory]); empty when none may be used.
std::string default_cache_dir();

struct CpuKernel {
  CpuKernelFn fn = nullptr;
  std::string key;
  std::string path;       // the loaded .so
  double compile_ms = 0;  // 0 when it came from disk
  bool from_disk = false;
};

// The kernel for source, compiled or loaded; *memory_hit says whether this
// process had it already. Throws fx::CompileError carrying the compiler's log
// (and the path of the saved source) when it does not compile.
std::shared_ptr<const CpuKernel> compile_cpu_kernel(const std::string& source,
                                                    const CpuCompilerOptions& options,
                                                    bool* memory_hit = nullptr);

// Process-wide counters (for tests and benchmarks).
struct CompileStats {
  int64_t compiles = 0;
  int64_t disk_hits = 0;
  int64_t memory_hits = 0;
  int64_t failures = 0;
};
CompileStats compile_stats();
// Forgets the in-memory cache (loaded libraries stay loaded); tests use it to
// exercise the disk cache.
void clear_memory_cache();

// 64-bit FNV-1a, hex: the hash used in cache keys.
std::string hash_hex(const std::string& data);

}  // namespace fx::jit
