// Faults injected into the CPU JIT: a host compiler that is missing, fails,
// dies or writes garbage; a kernel cache directory that cannot be created,
// that cannot be written ("full"), or that holds truncated or foreign files;
// inputs of the wrong rank, dtype or device. Each must end in a kernel, in
// the eager fallback (one warning, same numbers) or in the error eager gives,
// never in a crash or a wrong result.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "jit/cpu_compiler.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "runtime/shape_prop.h"
#include "tests/jit/test_graphs.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

// x, y -> relu(tanh(sigmoid(x * y + 1) * x) - y) * 0.5: one fused group.
std::unique_ptr<GraphModule> chain(const std::vector<int64_t>& shape) {
  return test_graphs::chain8(shape);
}

std::shared_ptr<FusedKernel> kernel_of(const GraphModule& fused) {
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused.get_submodule("fused_0"));
  EXPECT_TRUE(k) << fused.graph().str();
  return k;
}

// A fresh directory under the temporary directory, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("fx_jit_faults_" + name + "_" + std::to_string(getpid()) +
                                         "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// An executable shell script at dir/name.
std::string script(const fs::path& dir, const std::string& name, const std::string& body) {
  fs::path p = dir / name;
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  fs::permissions(p, fs::perms::owner_all);
  return p.string();
}

// Collects warnings (TORCH_WARN) from every thread that installs it with a
// c10::WarningUtils::WarningHandlerGuard (the handler is per thread).
class Warnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning& w) override {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.push_back(w.msg());
  }
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs a module fused with options three times: the numbers must be eager's,
// the kernel must have fallen back exactly once with one warning, which
// contains every string in expect.
void expect_eager_fallback(const CpuCompilerOptions& cpu, const std::vector<std::string>& expect) {
  clear_memory_cache();
  auto gm = chain({256});
  FuseOptions o;
  o.cpu = cpu;
  auto fused = fuse(*gm, o);
  auto k = kernel_of(*fused);
  ASSERT_TRUE(k);
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::randn({256}), y = at::randn({256});
    at::Tensor got;
    ASSERT_NO_THROW(got = fused->forward({x, y}).toTensor());
    EXPECT_TRUE(at::allclose(got, gm->forward({x, y}).toTensor(), 1e-5, 1e-6));
  }
  EXPECT_TRUE(k->fell_back());
  EXPECT_EQ(k->eager_calls(), 3);
  EXPECT_EQ(k->kernel_calls(), 0);
  auto messages = warnings.messages();
  ASSERT_EQ(messages.size(), 1u);
  for (const auto& s : expect) EXPECT_TRUE(contains(messages[0], s)) << messages[0];
  EXPECT_EQ(messages[0], k->fallback_reason());
}

TEST(JitFaults, HostCompilerMissing) {
  CpuCompilerOptions cpu;
  cpu.compiler = "/nonexistent/fx-no-such-compiler";
  cpu.disk_cache = false;
  expect_eager_fallback(cpu, {"/nonexistent/fx-no-such-compiler", "exit status 127"});
}

TEST(JitFaults, HostCompilerFails) {
  ScratchDir dir("fails");
  CpuCompilerOptions cpu;
  cpu.compiler = script(dir.path(), "cc", "echo 'fx-test: the compiler refuses' >&2; exit 1");
  cpu.cache_dir = (dir.path() / "cache").string();
  expect_eager_fallback(cpu, {"fx-test: the compiler refuses", "exit status 1"});
  // The source it failed on is kept for the bug report; nothing else is left.
  int kept = 0, other = 0;
  for (const auto& e : fs::directory_iterator(cpu.cache_dir))
    (contains(e.path().filename().string(), ".failed.cpp") ? kept : other)++;
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(other, 0);
}

TEST(JitFaults, HostCompilerKilledBySignal) {
  ScratchDir dir("killed");
  CpuCompilerOptions cpu;
  cpu.compiler = script(dir.path(), "cc", "kill -9 $$");
  cpu.cache_dir = (dir.path() / "cache").string();
  expect_eager_fallback(cpu, {"the host compiler failed"});
}

// "Succeeds" but writes something that is not a shared library.
TEST(JitFaults, HostCompilerWritesGarbage) {
  ScratchDir dir("garbage");
  CpuCompilerOptions cpu;
  cpu.compiler = script(dir.path(), "cc",
                        "while [ $# -gt 0 ]; do\n"
                        "  if [ \"$1\" = -o ]; then echo 'not ELF' > \"$2\"; fi\n"
                        "  shift\n"
                        "done");
  cpu.cache_dir = (dir.path() / "cache").string();
  expect_eager_fallback(cpu, {"cannot load the compiled kernel", "not an ELF file"});
  // Nothing is saved for the next process to trip over.
  EXPECT_TRUE(fs::is_empty(cpu.cache_dir));
}

// What fusing the chain with cpu and running it once did (the numbers are
// checked against eager): a fallback, kernels compiled, kernels read from disk.
struct Outcome {
  bool fell_back = false;
  int64_t compiles = 0;
  int64_t disk_hits = 0;
};
Outcome run_fused(const CpuCompilerOptions& cpu) {
  auto gm = chain({300});
  FuseOptions o;
  o.cpu = cpu;
  auto fused = fuse(*gm, o);
  auto before = compile_stats();
  at::Tensor x = at::randn({300}), y = at::randn({300});
  at::Tensor got = fused->forward({x, y}).toTensor();
  EXPECT_TRUE(at::allclose(got, gm->forward({x, y}).toTensor(), 1e-5, 1e-6));
  auto after = compile_stats();
  Outcome out;
  out.fell_back = kernel_of(*fused)->fell_back();
  out.compiles = after.compiles - before.compiles;
  out.disk_hits = after.disk_hits - before.disk_hits;
  return out;
}

// A cache directory that cannot be created (its parent is a regular file,
// which stops root too): the kernel is built in a private directory instead.
TEST(JitFaults, CacheDirCannotBeCreated) {
  ScratchDir dir("nodir");
  std::ofstream(dir.path() / "file") << "a regular file";
  CpuCompilerOptions cpu;
  cpu.cache_dir = (dir.path() / "file" / "kernels").string();
  clear_memory_cache();
  Outcome out = run_fused(cpu);
  EXPECT_FALSE(out.fell_back);
  // Compiled there, or found there from an earlier run.
  EXPECT_EQ(out.compiles + out.disk_hits, 1);
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "file"));
}

// A cache directory without write permission (a read-only mount, another
// user's cache). Root ignores permissions, so there the test skips.
TEST(JitFaults, CacheDirReadOnly) {
  if (geteuid() == 0)
    GTEST_SKIP() << "running as root, which writes through 0500; CacheDirCannotBeCreated and "
                    "CacheDirFull cover unwritable directories";
  ScratchDir dir("readonly");
  fs::path cache = dir.path() / "kernels";
  fs::create_directories(cache);
  fs::permissions(cache, fs::perms::owner_read | fs::perms::owner_exec);
  CpuCompilerOptions cpu;
  cpu.cache_dir = cache.string();
  clear_memory_cache();
  Outcome out = run_fused(cpu);
  // Hits would be read from there; a miss is built privately, not saved.
  EXPECT_FALSE(out.fell_back);
  EXPECT_EQ(out.compiles, 1);
  EXPECT_TRUE(fs::is_empty(cache));
}

// RAII: a limit on the size of files this process (and the compiler it
// starts) may write, so writes fail with EFBIG as on a full disk; SIGXFSZ is
// ignored meanwhile so that the failure is an error, not a killed process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false;
};

// A "full" disk: no file may grow at all (the kernel source cannot be
// written), or only a little (the source fits, the compiler's output does
// not). Either way the module falls back to eager with one warning.
TEST(JitFaults, CacheDirFull) {
  for (rlim_t limit : {rlim_t{0}, rlim_t{12} << 10}) {
    SCOPED_TRACE("file size limit " + std::to_string(limit));
    ScratchDir dir("full");
    CpuCompilerOptions cpu;
    cpu.cache_dir = (dir.path() / "kernels").string();
    clear_memory_cache();
    auto gm = chain({256});
    FuseOptions o;
    o.cpu = cpu;
    auto fused = fuse(*gm, o);
    auto k = kernel_of(*fused);
    ASSERT_TRUE(k);
    at::Tensor x = at::randn({256}), y = at::randn({256});
    at::Tensor want = gm->forward({x, y}).toTensor();
    Warnings warnings;
    c10::WarningUtils::WarningHandlerGuard guard(&warnings);
    {
      FileSizeLimit full(limit);
      ASSERT_TRUE(full.ok());
      for (int i = 0; i < 2; ++i)
        EXPECT_TRUE(at::allclose(fused->forward({x, y}).toTensor(), want, 1e-5, 1e-6));
    }
    EXPECT_TRUE(k->fell_back());
    EXPECT_EQ(warnings.messages().size(), 1u);
    // Once space is back, a new module compiles and caches as usual.
    clear_memory_cache();
    Outcome out = run_fused(cpu);
    EXPECT_FALSE(out.fell_back);
    EXPECT_EQ(out.compiles, 1);
  }
}

// The cache entry of the chain kernel in dir (its .so and .ok), after one
// compile there.
std::pair<fs::path, fs::path> cache_entry(const fs::path& dir) {
  std::pair<fs::path, fs::path> entry;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".so") entry.first = e.path();
    if (e.path().extension() == ".ok") entry.second = e.path();
  }
  EXPECT_FALSE(entry.first.empty());
  EXPECT_FALSE(entry.second.empty());
  return entry;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Entries that are damaged or not ours are misses: the kernel is compiled
// again (and the entry repaired), never a fallback. Each case gets a cache
// directory of its own, because the dynamic loader finds libraries already
// loaded by their path and would never look at a file written there later.
TEST(JitFaults, CacheHoldsTruncatedOrForeignFiles) {
  ScratchDir dir("entries");
  CpuCompilerOptions cpu;
  cpu.cache_dir = (dir.path() / "good").string();
  clear_memory_cache();
  ASSERT_EQ(run_fused(cpu).compiles, 1);
  const auto [so, ok] = cache_entry(cpu.cache_dir);
  const std::string library = read_bytes(so);
  ASSERT_GT(library.size(), 1000u);

  // A shared library that is valid but foreign: no fx_kernel in it.
  fs::path foreign_src = dir.path() / "foreign.cpp", foreign_so = dir.path() / "foreign.so";
  std::ofstream(foreign_src) << "extern \"C\" int not_an_fx_kernel() { return 42; }\n";
  const char* cxx = std::getenv("FX_CXX");
  std::string cc = cxx && *cxx ? cxx : "c++";
  ASSERT_EQ(
      std::system(
          (cc + " -shared -fPIC -o " + foreign_so.string() + " " + foreign_src.string()).c_str()),
      0);
  const std::string foreign = read_bytes(foreign_so);

  struct Case {
    const char* what;
    std::string so;
    bool matching_checksum;  // the .ok agrees with the .so (a foreign writer)
  };
  const Case cases[] = {
      {"truncated, stale checksum", library.substr(0, library.size() / 2), false},
      {"truncated, matching checksum", library.substr(0, library.size() / 2), true},
      {"empty, matching checksum", std::string(), true},
      {"not ELF, matching checksum", "garbage, not a shared library", true},
      {"foreign library, matching checksum", foreign, true},
      {"foreign library, stale checksum", foreign, false},
      {"checksum file missing", library, false},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    fs::path cache = dir.path() / ("case" + std::to_string(n++));
    fs::create_directories(cache);
    // 0700 whatever the umask: a group-writable cache is refused (Note
    // [Kernel cache directory]).
    fs::permissions(cache, fs::perms::owner_all);
    std::ofstream(cache / so.filename(), std::ios::binary) << c.so;
    if (std::string(c.what) != "checksum file missing")
      std::ofstream(cache / ok.filename())
          << (c.matching_checksum ? hash_hex(c.so) : hash_hex(library));
    cpu.cache_dir = cache.string();
    clear_memory_cache();
    Outcome out = run_fused(cpu);
    EXPECT_FALSE(out.fell_back);
    EXPECT_EQ(out.compiles, 1);
    EXPECT_EQ(out.disk_hits, 0);
    // The entry is whole again (the new library is not byte for byte the
    // old one: it names its temporary source), and the next process loads it.
    const std::string repaired = read_bytes(cache / so.filename());
    EXPECT_TRUE(repaired != c.so) << "the damaged file is still there";
    EXPECT_EQ(read_bytes(cache / ok.filename()), hash_hex(repaired));
    clear_memory_cache();
    out = run_fused(cpu);
    EXPECT_EQ(out.compiles, 0);
    EXPECT_EQ(out.disk_hits, 1);
  }
}

// Many threads meet one failing compiler: each gets eager's numbers, the
// compiler runs once, and there is one warning.
TEST(JitFaults, EightThreadsMeetAFailingCompiler) {
  ScratchDir dir("threads");
  CpuCompilerOptions cpu;
  cpu.compiler = script(dir.path(), "cc", "echo run >> \"$(dirname \"$0\")/runs\"; exit 1");
  cpu.cache_dir = (dir.path() / "cache").string();
  clear_memory_cache();
  auto gm = chain({512});
  FuseOptions o;
  o.cpu = cpu;
  auto fused = fuse(*gm, o);
  auto k = kernel_of(*fused);
  ASSERT_TRUE(k);
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  std::atomic<int> wrong{0}, thrown{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      c10::WarningUtils::WarningHandlerGuard thread_guard(&warnings);
      for (int i = 0; i < 10; ++i) {
        at::Tensor x = at::randn({512}), y = at::randn({512});
        try {
          if (!at::allclose(fused->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor(), 1e-5,
                            1e-6))
            ++wrong;
        } catch (const std::exception&) {
          ++thrown;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(thrown.load(), 0);
  EXPECT_TRUE(k->fell_back());
  EXPECT_EQ(k->eager_calls(), 80);
  EXPECT_EQ(warnings.messages().size(), 1u);
  std::ifstream runs(dir.path() / "runs");
  int n = 0;
  for (std::string line; std::getline(runs, line);) ++n;
  EXPECT_EQ(n, 1);
}

// Inputs unlike those seen at fuse time: a fused module gives what the
// original graph gives, the same numbers or the same kind of error.
TEST(JitFaults, WrongRankDtypeOrDeviceMatchesEager) {
  clear_memory_cache();
  auto gm = chain({64});
  auto fused = fuse(*gm);
  auto k = kernel_of(*fused);
  ASSERT_TRUE(k);
  struct Case {
    const char* what;
    std::vector<c10::IValue> args;
  };
  const at::TensorOptions meta = at::TensorOptions().device(at::kMeta);
  const Case cases[] = {
      {"rank 2", {at::randn({4, 64}), at::randn({4, 64})}},
      {"rank 0", {at::randn({}), at::randn({})}},
      {"broadcast ranks", {at::randn({3, 1, 64}), at::randn({64})}},
      {"float64", {at::randn({64}, at::kDouble), at::randn({64}, at::kDouble)}},
      {"int64", {at::randint(-3, 3, {64}), at::randint(-3, 3, {64})}},
      {"mixed dtypes", {at::randn({64}), at::randn({64}, at::kDouble)}},
      {"bool", {at::ones({64}, at::kBool), at::zeros({64}, at::kBool)}},
      {"meta device", {at::empty({64}, meta), at::empty({64}, meta)}},
      {"shapes that do not broadcast", {at::randn({64}), at::randn({63})}},
      {"a number, not a tensor", {at::randn({64}), c10::IValue(2.0)}},
      {"one input", {at::randn({64})}},
      {"three inputs", {at::randn({64}), at::randn({64}), at::randn({64})}},
      {"empty", {at::randn({0}), at::randn({0})}},
      {"non-contiguous", {at::randn({64, 2}).select(1, 0), at::randn({64})}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    c10::IValue want, got;
    std::string want_error, got_error;
    try {
      want = gm->forward(c.args);
    } catch (const std::exception& e) {
      want_error = e.what();
    }
    try {
      got = fused->forward(c.args);
    } catch (const Error& e) {
      got_error = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an fx::Error: " << e.what();
      continue;
    }
    if (!want_error.empty()) {
      EXPECT_FALSE(got_error.empty()) << "eager failed with: " << want_error;
      continue;
    }
    ASSERT_TRUE(got_error.empty()) << got_error;
    at::Tensor w = want.toTensor(), g = got.toTensor();
    EXPECT_EQ(g.sizes(), w.sizes());
    EXPECT_EQ(g.scalar_type(), w.scalar_type());
    EXPECT_EQ(g.device(), w.device());
    if (!w.is_meta()) {
      EXPECT_TRUE(at::allclose(g, w, 1e-5, 1e-6, /*equal_nan=*/true));
    }
  }
  EXPECT_FALSE(k->fell_back());  // none of that is a compile failure
}

}  // namespace
}  // namespace fx::jit
