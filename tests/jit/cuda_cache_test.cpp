// CUDA kernels' own cache options (CudaCompilerOptions, FuseOptions::cuda):
// NVRTC's image is cached in the directory they name, under the rules of Note
// [Kernel cache directory], and nowhere with disk_cache off; fuse hands them
// to each FusedKernel, or the CPU options' cache when they are unset. The
// NVRTC half runs without a GPU (the image is written before the driver is
// asked to load it); running fused kernels needs one.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ir/error.h"
#include "jit/cuda_compiler.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/nvrtc.h"
#include "tests/jit/test_graphs.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("fx_cuda_cache_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
    fs::permissions(path_, fs::perms::owner_all);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class Warnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning& w) override { messages.push_back(w.msg()); }
  std::vector<std::string> messages;
};

// A kernel source no other test compiles.
std::string unique_source() {
  static std::atomic<int> counter{0};
  return "// fx cuda cache test " + std::to_string(getpid()) + "." + std::to_string(counter++) +
         "\nextern \"C\" __global__ void fx_kernel(float* out) { out[threadIdx.x] = 1.0f; }\n";
}

// Names of the files in dir (none when it does not exist).
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  return names;
}

// Compiles source with o on device 0, as a new process would (the in-memory
// cache forgotten). Without a GPU the driver refuses to load the image, after
// it was cached; with one the kernel loads.
void compile(const std::string& source, const CudaCompilerOptions& o) {
  clear_cuda_memory_cache();
  try {
    compile_cuda_kernel(source, "fx_kernel", 0, o);
    EXPECT_TRUE(at::hasCUDA()) << "loaded a kernel without a GPU";
  } catch (const CompileError& e) {
    FAIL() << "NVRTC failed: " << e.what();
  } catch (const Error& e) {
    EXPECT_FALSE(at::hasCUDA()) << e.what();
  }
}

TEST(CudaKernelCache, ImageGoesToItsOwnDirectory) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  ScratchDir work;
  CudaCompilerOptions o;
  o.arch = "sm_90";
  o.cache_dir = (work.path() / "cuda").string();
  const std::string source = unique_source();
  const auto before = cuda_compile_stats();
  compile(source, o);
  const std::vector<std::string> names = files_in(o.cache_dir);
  ASSERT_EQ(names.size(), 2u) << "expected <key>.cubin and <key>.cubin.ok";
  int images = 0;
  for (const std::string& name : names) {
    struct stat st {};
    ASSERT_EQ(lstat((fs::path(o.cache_dir) / name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".cubin") == 0) ++images;
  }
  EXPECT_EQ(images, 1);
  struct stat dir {};
  ASSERT_EQ(lstat(o.cache_dir.c_str(), &dir), 0);
  EXPECT_EQ(dir.st_mode & 07777, 0700u);
  if (at::hasCUDA()) {
    // A new process finds it there.
    compile(source, o);
    EXPECT_EQ(cuda_compile_stats().disk_hits - before.disk_hits, 1);
  }
}

TEST(CudaKernelCache, DiskCacheOffWritesNothing) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  ScratchDir work;
  CudaCompilerOptions o;
  o.arch = "sm_90";
  o.cache_dir = (work.path() / "cuda").string();
  o.disk_cache = false;
  compile(unique_source(), o);
  EXPECT_FALSE(fs::exists(o.cache_dir));
}

// A directory others can write is refused for CUDA images as for libraries.
TEST(CudaKernelCache, SharedDirectoryIsRefused) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  ScratchDir work;
  const fs::path shared = work.path() / "shared";
  fs::create_directories(shared);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  CudaCompilerOptions o;
  o.arch = "sm_90";
  o.cache_dir = shared.string();
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  compile(unique_source(), o);
  EXPECT_TRUE(files_in(shared).empty());
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_NE(warnings.messages[0].find(shared.string()), std::string::npos) << warnings.messages[0];
}

std::shared_ptr<FusedKernel> kernel_of(const GraphModule& gm) {
  return std::dynamic_pointer_cast<FusedKernel>(gm.get_submodule("fused_0"));
}

TEST(CudaKernelCache, FuseGivesKernelsTheirOptions) {
  auto gm = test_graphs::chain8({16});
  FuseOptions o;
  o.cpu.cache_dir = "/cpu/kernels";
  o.cpu.disk_cache = false;
  // Unset: CUDA kernels cache where the CPU ones do.
  auto shared = kernel_of(*fuse(*gm, o));
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->cuda_options().cache_dir, "/cpu/kernels");
  EXPECT_FALSE(shared->cuda_options().disk_cache);
  EXPECT_EQ(shared->cpu_options().cache_dir, "/cpu/kernels");
  // Set: their own.
  o.cuda = CudaCompilerOptions{};
  o.cuda->cache_dir = "/cuda/kernels";
  o.cuda->arch = "compute_90";
  auto own = kernel_of(*fuse(*gm, o));
  ASSERT_TRUE(own);
  EXPECT_EQ(own->cuda_options().cache_dir, "/cuda/kernels");
  EXPECT_TRUE(own->cuda_options().disk_cache);
  EXPECT_EQ(own->cuda_options().arch, "compute_90");
  EXPECT_EQ(own->cpu_options().cache_dir, "/cpu/kernels");
  EXPECT_FALSE(own->cpu_options().disk_cache);
}

// On a GPU: a fused CUDA kernel's image lands in FuseOptions::cuda's
// directory, not in the CPU options', and the numbers are eager's.
TEST(CudaKernelCache, FusedCudaKernelUsesItsOwnDirectory) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device is usable on this machine";
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  ScratchDir work;
  auto gm = test_graphs::chain8({1000}, at::kCUDA);
  FuseOptions o;
  o.cpu.cache_dir = (work.path() / "cpu").string();
  o.cuda = CudaCompilerOptions{};
  o.cuda->cache_dir = (work.path() / "cuda").string();
  clear_cuda_memory_cache();
  auto fused = fuse(*gm, o);
  at::Tensor x = at::randn({1000}, at::kCUDA), y = at::randn({1000}, at::kCUDA);
  EXPECT_TRUE(at::allclose(fused->forward({x, y}).toTensor(), gm->forward({x, y}).toTensor(),
                           1e-5, 1e-6));
  auto k = kernel_of(*fused);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kernel_calls(), 1);
  EXPECT_FALSE(files_in(o.cuda->cache_dir).empty());
  EXPECT_TRUE(files_in(o.cpu.cache_dir).empty());
}

}  // namespace
}  // namespace fx::jit
