// libFuzzer target for the torch.export importer. The bytes are written to a
// private file and loaded with fx::load_exported, which must return a
// GraphModule whose graph lints, prints and generates code, or raise
// fx::Error; any other exception escaping, or a crash, is a bug. The seeds
// come from fuzz/make_export_seeds.py.
//
// The zip reader trusts the sizes in an archive's directory, so a mutated one
// can ask for gigabytes before fx reads a byte; archives with a record larger
// than kMaxRecord are skipped (plausible() below). The sample inputs record
// (a pickle read by LibTorch's unpickler) is not loaded here.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

#include "capture/export_import.h"
#include "ir/error.h"
#include "runtime/graph_module.h"

namespace {

constexpr size_t kMaxRecord = size_t{16} << 20;

std::string scratch_path;

bool plausible(const std::string& bytes) {
  try {
    std::istringstream in(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&in);
    for (const std::string& name : reader.getAllRecords())
      if (reader.getRecordSize(name) > kMaxRecord) return false;
  } catch (const std::exception&) {
    return true;  // not readable as a zip: the importer must say so itself
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  std::string templ = dir + "/fx_export_fuzz_XXXXXX";
  int fd = mkstemp(templ.data());
  if (fd < 0) {
    std::perror("export_import_fuzz: mkstemp");
    std::abort();
  }
  close(fd);
  scratch_path = templ;
  std::atexit([] { std::remove(scratch_path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  if (!plausible(bytes)) return 0;
  {
    std::ofstream out(scratch_path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return 0;
  }
  try {
    auto gm = fx::load_exported(scratch_path);
    gm->graph().lint();
    (void)gm->graph().str();
    (void)gm->code();
  } catch (const fx::Error&) {
  }
  (void)fx::is_exported_archive(scratch_path);
  return 0;
}
