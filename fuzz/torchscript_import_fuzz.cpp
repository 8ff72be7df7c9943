// libFuzzer target for the TorchScript importer. The bytes are read as a
// TorchScript archive by torch::jit::load (from memory); what LibTorch
// refuses is not ours. What it accepts goes through import_torchscript,
// which must return a GraphModule whose graph lints and prints, or raise
// fx::Error (or a c10::Error from LibTorch while building the module); any
// other exception escaping, or a crash, is a bug. The seeds come from
// fuzz/make_torchscript_seeds.py.
//
// LibTorch trusts the sizes written in an archive: a zip record's length, a
// pickled string's length, a memo index (the unpickler grows its memo to the
// index it reads). A mutated one asks for gigabytes inside LibTorch, which
// libFuzzer reports as an out-of-memory crash although fx never ran. So
// inputs that claim more than they hold are skipped (plausible() below), and
// the debug records (source maps, unpickled lazily during the import) are not
// loaded; what fx does when they do not load is tested in
// tests/runtime/faults_test.cpp (TorchScriptFaults). LibTorch's loader can
// also crash outright on a mutated archive (a SEGV in its constant pooling,
// comparing a constant tensor built from a damaged constants.pkl): that is
// LibTorch's bug, which fx cannot catch, so each input is first loaded in a
// child process, and only archives LibTorch survives reach fx.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <sys/wait.h>
#include <torch/script.h>

#include "ir/error.h"
#include "runtime/graph_module.h"
#include "capture/torchscript_import.h"

namespace {

constexpr size_t kMaxRecord = size_t{16} << 20;

uint64_t little_endian(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// Whether every length and memo index in the pickle p fits in p. Opcodes it
// does not know end the scan (LibTorch rejects those without allocating).
bool plausible_pickle(const std::string& p) {
  const size_t n = p.size();
  size_t i = 0;
  auto has = [&](uint64_t k) { return k <= n - i; };
  while (i < n) {
    const unsigned char op = p[i++];
    int width = 0;         // a fixed argument of this many bytes
    int length_bytes = 0;  // a length of this many bytes, then that many bytes
    bool memo_index = false;
    switch (op) {
      case 0x80:
      case 'K':
      case 'q':
      case 'h': width = 1; break;  // PROTO BININT1 BINPUT BINGET
      case 'M': width = 2; break;  // BININT2
      case 'J': width = 4; break;  // BININT
      case 'G':
      case 0x95: width = 8; break;  // BINFLOAT FRAME
      case 'r':
      case 'j':
        width = 4;
        memo_index = true;
        break;  // LONG_BINPUT LONG_BINGET
      case 'C':
      case 'U':
      case 0x8c:
      case 0x8a: length_bytes = 1; break;
      case 'X':
      case 'B':
      case 'T':
      case 0x8b: length_bytes = 4; break;
      case 0x8d:
      case 0x8e:
      case 0x96: length_bytes = 8; break;
      case 'c':  // GLOBAL: two lines
        for (int lines = 0; lines < 2; ++lines) {
          size_t nl = p.find('\n', i);
          if (nl == std::string::npos) return true;
          i = nl + 1;
        }
        continue;
      case '.': return true;  // STOP
      case '(':
      case ')':
      case ']':
      case '}':
      case 'a':
      case 'e':
      case 's':
      case 'u':
      case 't':
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x88:
      case 0x89:
      case 'N':
      case 'R':
      case 'b':
      case 0x81:
      case 'Q':
      case 0x94:
      case 0x8f:
      case 0x90:
      case 0x91:
      case 0x92:
      case 0x93:
      case '0':
      case '1':
      case '2':
      case 'l':
      case 'd': continue;
      default: return true;
    }
    if (width) {
      if (!has(width)) return true;  // truncated: LibTorch says so
      if (memo_index && little_endian(p, i, width) > n) return false;
      i += width;
    } else {
      if (!has(length_bytes)) return true;
      uint64_t len = little_endian(p, i, length_bytes);
      i += length_bytes;
      if (!has(len)) return false;
      i += len;
    }
  }
  return true;
}

// Whether the archive's records and pickles claim no more than they hold.
bool plausible(const std::string& bytes) {
  try {
    std::istringstream in(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&in);
    for (const std::string& name : reader.getAllRecords()) {
      if (reader.getRecordSize(name) > kMaxRecord) return false;
      if (name.size() < 4 || name.compare(name.size() - 4, 4, ".pkl") != 0) continue;
      auto [data, size] = reader.getRecord(name);
      if (!plausible_pickle(std::string(static_cast<const char*>(data.get()), size))) return false;
    }
  } catch (const std::exception&) {
    return false;  // not an archive LibTorch can read at all
  }
  return true;
}

// Whether torch::jit::load returns or throws on bytes, rather than crash or
// hang: tried in a child process with default signal handlers (so neither
// libFuzzer nor ASan reports LibTorch's crash as ours) and a time limit.
bool libtorch_survives(const std::string& bytes) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDERR_FILENO);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM})
      sigaction(sig, &dfl, nullptr);
    alarm(10);
    try {
      std::istringstream in(bytes);
      torch::jit::load(in, std::nullopt, /*load_debug_files=*/false);
    } catch (...) {
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

// One ATen thread: the parent forks for every input, and a child of a process
// with a running OpenMP pool must not use it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  if (!plausible(bytes) || !libtorch_survives(bytes)) return 0;
  torch::jit::Module module;
  try {
    std::istringstream in(bytes);
    module = torch::jit::load(in, std::nullopt, /*load_debug_files=*/false);
  } catch (const std::exception&) {
    // c10::Error for a broken archive, torch::jit::ErrorReport for code that
    // does not compile: fx::load_torchscript turns both into fx::TraceError.
    return 0;
  }
  for (bool inline_calls : {false, true}) {
    try {
      fx::ImportOptions options;
      options.inline_calls = inline_calls;
      auto gm = fx::import_torchscript(module, options);
      gm->graph().lint();
      (void)gm->graph().str();
      (void)gm->code();
    } catch (const fx::Error&) {
    } catch (const c10::Error&) {
    }
  }
  return 0;
}
