// The FX_* environment variables the JIT reads, in one place: each has a name,
// a kind, a default and a meaning (kEnvVars, the table docs/environment.md
// shows), and is read through one of the functions below, so every boolean
// and every path is parsed the same way.
//
// Note [Environment variables]: a variable that is unset or set to the empty
// string takes its default. A boolean is true for 1, true, yes, on and false
// for 0, false, no, off (case-insensitive, surrounding blanks ignored);
// anything else takes the default with one warning (TORCH_WARN) per variable
// and value, naming the variable, the value, what is accepted and the default
// used. A path (or a program name) is taken verbatim: not trimmed, "~" not
// expanded, a relative path relative to the working directory. Variables are
// read when they are needed, not once per process (FX_JIT_DISABLE at each
// fuse call, FX_CXX and FX_JIT_DUMP at each compile, FX_CACHE_DIR each time a
// cache directory is chosen), except FX_CUDA_DRIVER, read when the driver is
// first loaded, and FX_JIT_HUGEPAGES, read at the first large fused output.
#pragma once
#include <optional>
#include <string>

namespace fx::jit {

struct EnvVar {
  const char* name;
  const char* kind;           // "boolean", "path" or "program"
  const char* default_value;  // as the table shows it
  const char* meaning;
};

// Every variable this module reads, in the order docs/environment.md lists them.
extern const EnvVar kEnvVars[6];

// --- the variables ----------------------------------------------------------
// FX_JIT_DISABLE: fuse returns an unfused copy of its input. Default false.
bool env_jit_disabled();
// FX_JIT_DUMP: generated sources are kept beside the kernels (<key>.cpp, <key>.cu).
// Default false.
bool env_jit_dump();
// FX_CXX: the host compiler when CpuCompilerOptions::compiler is empty. Default "c++".
std::string env_host_compiler();
// FX_CACHE_DIR: the kernel cache directory when none is requested (Note
// [Kernel cache directory], jit/disk_cache.h). Empty when unset.
std::string env_cache_dir();
// FX_CUDA_DRIVER: the CUDA driver library to dlopen. Default "libcuda.so.1".
std::string env_cuda_driver();
// FX_JIT_HUGEPAGES: large outputs of fused CPU kernels get their own mapping
// advised as huge pages. Default true.
bool env_jit_hugepages();

// --- parsing, one way for every variable -------------------------------------
// The boolean text means, or nullopt when it is none of the accepted words.
std::optional<bool> parse_env_bool(const std::string& text);
// The boolean variable name: fallback when it is unset or empty, and when
// its value does not parse (then with the warning of Note [Environment
// variables]).
bool env_bool(const char* name, bool fallback);
// The path (or program) variable name verbatim, or fallback when it is unset or empty.
std::string env_path(const char* name, const std::string& fallback);

}  // namespace fx::jit
