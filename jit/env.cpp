// See jit/env.h and Note [Environment variables].
#include "jit/env.h"

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <set>
#include <utility>

#include <c10/util/Exception.h>

namespace fx::jit {

const EnvVar kEnvVars[6] = {
    {"FX_JIT_DISABLE", "boolean", "0",
     "fuse returns an unfused copy of its input (every node runs as captured)"},
    {"FX_JIT_DUMP", "boolean", "0",
     "keep each generated kernel source beside its cached kernel (<key>.cpp for the host "
     "compiler, <key>.cu for NVRTC)"},
    {"FX_CXX", "program", "c++",
     "the host compiler for CPU kernels, when CpuCompilerOptions::compiler is empty"},
    {"FX_CACHE_DIR", "path", "(unset)",
     "the kernel cache directory, when the compiler options name none; it must be private to "
     "the user (Note [Kernel cache directory])"},
    {"FX_CUDA_DRIVER", "path", "libcuda.so.1", "the CUDA driver library fx loads with dlopen"},
    {"FX_JIT_HUGEPAGES", "boolean", "1",
     "outputs of fused CPU kernels of 2 MiB or more get their own mapping advised as huge "
     "pages (outside modules that reuse their buffers)"},
};

namespace {

// The variable's value, or "" when it is unset.
std::string raw(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// One warning per process for each variable and value.
void warn_unparsed(const char* name, const std::string& value, bool fallback) {
  static std::mutex mutex;
  static auto* warned = new std::set<std::pair<std::string, std::string>>();
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!warned->emplace(name, value).second) return;
  }
  TORCH_WARN("environment variable ", name, "='", value,
             "' is not a boolean (accepted: 1, true, yes, on or 0, false, no, off); using its "
             "default, ",
             fallback ? "1" : "0");
}

}  // namespace

std::optional<bool> parse_env_bool(const std::string& text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  std::string word;
  for (size_t i = b; i < e; ++i)
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  if (word == "1" || word == "true" || word == "yes" || word == "on") return true;
  if (word == "0" || word == "false" || word == "no" || word == "off") return false;
  return std::nullopt;
}

bool env_bool(const char* name, bool fallback) {
  const std::string value = raw(name);
  if (value.empty()) return fallback;
  if (std::optional<bool> b = parse_env_bool(value)) return *b;
  warn_unparsed(name, value, fallback);
  return fallback;
}

std::string env_path(const char* name, const std::string& fallback) {
  std::string value = raw(name);
  return value.empty() ? fallback : value;
}

bool env_jit_disabled() { return env_bool("FX_JIT_DISABLE", false); }
bool env_jit_dump() { return env_bool("FX_JIT_DUMP", false); }
std::string env_host_compiler() { return env_path("FX_CXX", "c++"); }
std::string env_cache_dir() { return env_path("FX_CACHE_DIR", ""); }
std::string env_cuda_driver() { return env_path("FX_CUDA_DRIVER", "libcuda.so.1"); }
bool env_jit_hugepages() { return env_bool("FX_JIT_HUGEPAGES", true); }

}  // namespace fx::jit
