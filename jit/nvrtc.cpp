// See jit/nvrtc.h. One nvrtcProgram per compile, released by an RAII guard.
#include "jit/nvrtc.h"

#include <chrono>
#include <vector>

#include "ir/error.h"

#if FX_HAVE_CUDA
#include <nvrtc.h>
#endif

namespace fx::jit {

#if FX_HAVE_CUDA
namespace {
struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) nvrtcDestroyProgram(&p);
  }
};
void check(nvrtcResult r, const char* what, const std::string& name) {
  if (r != NVRTC_SUCCESS)
    throw CompileError(std::string("NVRTC ") + what + " failed for " + name + ": " +
                       nvrtcGetErrorString(r));
}
}  // namespace

bool nvrtc_available() { return true; }

NvrtcOutput nvrtc_compile(const std::string& source, const std::string& name,
                          const std::string& arch) {
  auto start = std::chrono::steady_clock::now();
  Program prog;
  check(nvrtcCreateProgram(&prog.p, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram", name);
  std::string arch_opt = "--gpu-architecture=" + arch;
  std::vector<const char*> opts = {arch_opt.c_str(), "--std=c++17", "-default-device"};
  nvrtcResult r = nvrtcCompileProgram(prog.p, static_cast<int>(opts.size()), opts.data());
  NvrtcOutput out;
  size_t log_size = 0;
  nvrtcGetProgramLogSize(prog.p, &log_size);
  if (log_size > 1) {
    out.log.resize(log_size);
    nvrtcGetProgramLog(prog.p, &out.log[0]);
    out.log.resize(log_size - 1);
  }
  if (r != NVRTC_SUCCESS)
    throw CompileError("NVRTC failed to compile " + name + ": " + out.log + "\nsource:\n" + source);
  size_t size = 0;
  bool cubin = arch.rfind("sm_", 0) == 0;
  if (cubin) {
    check(nvrtcGetCUBINSize(prog.p, &size), "nvrtcGetCUBINSize", name);
    out.binary.resize(size);
    check(nvrtcGetCUBIN(prog.p, &out.binary[0]), "nvrtcGetCUBIN", name);
  } else {
    check(nvrtcGetPTXSize(prog.p, &size), "nvrtcGetPTXSize", name);
    out.binary.resize(size);
    check(nvrtcGetPTX(prog.p, &out.binary[0]), "nvrtcGetPTX", name);
  }
  out.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}
#else
bool nvrtc_available() { return false; }

NvrtcOutput nvrtc_compile(const std::string&, const std::string& name, const std::string&) {
  throw CompileError("cannot compile " + name + " for CUDA: fx was built without the CUDA toolkit");
}
#endif

}  // namespace fx::jit
