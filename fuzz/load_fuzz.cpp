// libFuzzer target for fx::load: any bytes, written to a file, must load or
// raise fx::Error (or a c10::Error from LibTorch while building the module),
// never crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include <c10/util/Exception.h>

#include "ir/error.h"
#include "runtime/graph_module.h"
#include "serialize/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fx_load_fuzz_" + std::to_string(getpid()) + ".fxgm";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto gm = fx::load(path);
    (void)gm->graph().str();
  } catch (const fx::Error&) {
  } catch (const c10::Error&) {
  }
  return 0;
}
