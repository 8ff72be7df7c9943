// Note [Kernel cache directory] (jit/disk_cache.h): a valid-looking cached
// library planted where another user could have put it (a group- or
// world-writable directory, one owned by someone else, one reached through a
// symbolic link, a file that is not ours) is never loaded: its constructor
// would write a marker file, and the kernel must still compute the right
// answer. HOME unset falls back to a private 0700 directory under $TMPDIR,
// and a directory of our own is created 0700 and reused. The "owned by
// another user" cases need root (chown) and skip otherwise.
#include "jit/disk_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "jit/cpu_compiler.h"
#include "tests/scoped_env.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

using testing_support::ScopedEnv;

// A fresh 0700 directory under the temporary directory, removed with the
// object (whatever was chowned or chmodded inside it).
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("fx_cache_dir_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
    fs::permissions(path_, fs::perms::owner_all);
  }
  ~ScratchDir() {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory() && !it->is_symlink())
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A directory made with exactly this mode (umask aside).
fs::path make_dir(const fs::path& p, mode_t mode) {
  fs::create_directories(p);
  EXPECT_EQ(chmod(p.c_str(), mode), 0) << p;
  return p;
}

// out[i] = 2 * in[i] + 1; the tag makes the key (and so the entry) unique.
std::string kernel_source() {
  static std::atomic<int> counter{0};
  return "// fx cache dir test " + std::to_string(getpid()) + "." + std::to_string(counter++) +
         "\n#include <cstdint>\n"
         "extern \"C\" void fx_kernel(void* const* ptrs, const int64_t*, const int64_t*,\n"
         "                          int64_t begin, int64_t end) {\n"
         "  float* out = static_cast<float*>(ptrs[0]);\n"
         "  const float* in = static_cast<const float*>(ptrs[1]);\n"
         "  for (int64_t i = begin; i < end; ++i) out[i] = 2 * in[i] + 1;\n"
         "}\n";
}

// Whether the kernel computes kernel_source()'s answer (a planted one writes
// -12345 instead).
bool computes_right(const CpuKernel& k) {
  float in[16], out[16];
  for (int i = 0; i < 16; ++i) in[i] = static_cast<float>(i) - 3.5f;
  void* ptrs[2] = {out, in};
  int64_t sizes[1] = {16}, strides[2] = {1, 1};
  k.fn(ptrs, sizes, strides, 0, 16);
  for (int i = 0; i < 16; ++i)
    if (out[i] != 2 * in[i] + 1) return false;
  return true;
}

class Warnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning& w) override { messages.push_back(w.msg()); }
  std::vector<std::string> messages;
};

// What one compile did, in a "new process": the in-memory cache forgotten.
struct Compiled {
  std::shared_ptr<const CpuKernel> kernel;
  int64_t compiles = 0;
  int64_t disk_hits = 0;
  std::vector<std::string> warnings;
};
Compiled compile(const std::string& source, const CpuCompilerOptions& o) {
  clear_memory_cache();
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  Compiled c;
  const auto before = compile_stats();
  c.kernel = compile_cpu_kernel(source, o);
  const auto after = compile_stats();
  c.compiles = after.compiles - before.compiles;
  c.disk_hits = after.disk_hits - before.disk_hits;
  c.warnings = warnings.messages;
  return c;
}

// The cache key source compiles to (it does not depend on the directory).
std::string key_of(const std::string& source) {
  CpuCompilerOptions o;
  o.disk_cache = false;
  return compile(source, o).kernel->key;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A foreign library planted as the entry for key in dir, valid in every way
// but its location: a whole shared object with fx_kernel in it, mode 0600,
// with a matching checksum. Loading it runs its constructor, which writes
// the marker file.
struct Planted {
  fs::path so, ok, marker;
  bool loaded() const { return fs::exists(marker); }
};
Planted plant(const fs::path& dir, const std::string& key, const fs::path& work) {
  static std::atomic<int> counter{0};
  const std::string n = std::to_string(counter++);
  Planted p{dir / (key + ".so"), dir / (key + ".so.ok"), work / ("planted_" + n + ".loaded")};
  const fs::path src = work / ("planted_" + n + ".cpp"), lib = work / ("planted_" + n + ".so");
  std::ofstream(src) << "#include <cstdint>\n#include <cstdio>\n"
                        "__attribute__((constructor)) static void fx_planted() {\n"
                        "  if (FILE* f = std::fopen(FX_MARKER, \"w\")) std::fclose(f);\n"
                        "}\n"
                        "extern \"C\" void fx_kernel(void* const* ptrs, const int64_t*,\n"
                        "    const int64_t*, int64_t begin, int64_t end) {\n"
                        "  float* out = static_cast<float*>(ptrs[0]);\n"
                        "  for (int64_t i = begin; i < end; ++i) out[i] = -12345.0f;\n"
                        "}\n";
  const char* cxx = std::getenv("FX_CXX");
  const std::string cmd = std::string(cxx && *cxx ? cxx : "c++") +
                          " -shared -fPIC '-DFX_MARKER=\"" + p.marker.string() + "\"' -o '" +
                          lib.string() + "' '" + src.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(lib, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  EXPECT_GT(bytes.str().size(), 1000u);
  std::ofstream(p.so, std::ios::binary) << bytes.str();
  std::ofstream(p.ok) << hash_hex(bytes.str());
  fs::permissions(p.so, fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(p.ok, fs::perms::owner_read | fs::perms::owner_write);
  return p;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_under(const std::string& path, const fs::path& dir) {
  return fs::path(path).parent_path() == dir;
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

// The control for the tests below: planted in a 0700 directory of our own,
// the entry is loaded, so "not loaded" elsewhere means "refused".
TEST(KernelCacheDir, PlantedEntryInOurPrivateDirIsLoaded) {
  ScratchDir work;
  const std::string source = kernel_source();
  const fs::path dir = make_dir(work.path() / "ours", 0700);
  Planted p = plant(dir, key_of(source), work.path());
  CpuCompilerOptions o;
  o.cache_dir = dir.string();
  Compiled c = compile(source, o);
  EXPECT_EQ(c.disk_hits, 1);
  EXPECT_EQ(c.compiles, 0);
  EXPECT_TRUE(p.loaded());
  EXPECT_FALSE(computes_right(*c.kernel));
  EXPECT_TRUE(c.warnings.empty());
}

// Group- or world-writable (sticky or not): refused with one warning per
// directory, nothing read or written there, the kernel compiled and right.
TEST(KernelCacheDir, WritableByOthersIsNeverLoaded) {
  ScratchDir work;
  const std::string source = kernel_source();
  const std::string key = key_of(source);
  for (mode_t mode : {0777, 01777, 0770, 0702}) {
    SCOPED_TRACE("mode " + std::to_string(mode));
    const fs::path dir = make_dir(work.path() / ("mode" + std::to_string(mode)), mode);
    Planted p = plant(dir, key, work.path());
    const auto before = listing(dir);
    CpuCompilerOptions o;
    o.cache_dir = dir.string();
    for (int run = 0; run < 2; ++run) {
      Compiled c = compile(source, o);
      EXPECT_EQ(c.disk_hits, 0);
      EXPECT_EQ(c.compiles, 1);
      EXPECT_TRUE(computes_right(*c.kernel));
      EXPECT_FALSE(is_under(c.kernel->path, dir)) << c.kernel->path;
      if (run == 0) {
        ASSERT_EQ(c.warnings.size(), 1u);
        EXPECT_TRUE(contains(c.warnings[0], "'" + dir.string() + "'")) << c.warnings[0];
        EXPECT_TRUE(contains(c.warnings[0], "writable by its group or by others")) << c.warnings[0];
        EXPECT_TRUE(contains(c.warnings[0], "without a disk cache")) << c.warnings[0];
      } else {
        EXPECT_TRUE(c.warnings.empty()) << "warned twice about one directory";
      }
    }
    EXPECT_FALSE(p.loaded());
    EXPECT_EQ(listing(dir), before);
  }
}

// FX_CACHE_DIR gets the same check as CpuCompilerOptions::cache_dir.
TEST(KernelCacheDir, EnvOverrideIsCheckedToo) {
  ScratchDir work;
  const std::string source = kernel_source();
  const fs::path dir = make_dir(work.path() / "shared", 0777);
  Planted p = plant(dir, key_of(source), work.path());
  ScopedEnv env;
  env.set("FX_CACHE_DIR", dir.string());
  Compiled c = compile(source, CpuCompilerOptions());
  EXPECT_EQ(c.disk_hits, 0);
  EXPECT_TRUE(computes_right(*c.kernel));
  EXPECT_FALSE(p.loaded());
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_TRUE(contains(c.warnings[0], dir.string())) << c.warnings[0];
}

TEST(KernelCacheDir, OwnedByAnotherUserIsNeverLoaded) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root to chown a directory to another user (uid " << kNobody << ")";
  ScratchDir work;
  const std::string source = kernel_source();
  const fs::path dir = make_dir(work.path() / "theirs", 0755);
  Planted p = plant(dir, key_of(source), work.path());
  for (const fs::path& f : {dir, p.so, p.ok}) ASSERT_EQ(lchown(f.c_str(), kNobody, kNobody), 0);
  CpuCompilerOptions o;
  o.cache_dir = dir.string();
  Compiled c = compile(source, o);
  EXPECT_EQ(c.disk_hits, 0);
  EXPECT_TRUE(computes_right(*c.kernel));
  EXPECT_FALSE(p.loaded());
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_TRUE(contains(c.warnings[0], "owned by uid " + std::to_string(kNobody))) << c.warnings[0];
}

// A link to a directory of our own holding a valid entry is still refused
// (with or without a trailing slash): whoever can change the link chooses
// the code.
TEST(KernelCacheDir, SymlinkedDirIsRefused) {
  ScratchDir work;
  const std::string source = kernel_source();
  const fs::path real = make_dir(work.path() / "real", 0700);
  CpuCompilerOptions o;
  o.cache_dir = real.string();
  ASSERT_EQ(compile(source, o).compiles, 1);
  ASSERT_EQ(compile(source, o).disk_hits, 1);
  const fs::path link = work.path() / "link";
  fs::create_directory_symlink(real, link);
  for (const std::string& dir : {link.string(), link.string() + "/"}) {
    SCOPED_TRACE(dir);
    o.cache_dir = dir;
    Compiled c = compile(source, o);
    EXPECT_EQ(c.disk_hits, 0);
    EXPECT_EQ(c.compiles, 1);
    EXPECT_TRUE(computes_right(*c.kernel));
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_TRUE(contains(c.warnings[0], "is a symbolic link")) << c.warnings[0];
  }
}

// In a directory of our own, an entry file that is not ours (writable by
// others, a symbolic link, owned by another user) is a miss; the entry is
// rebuilt, 0600, and then hits.
TEST(KernelCacheDir, EntryFileNotOursIsAMiss) {
  ScratchDir work;
  const std::string source = kernel_source();
  const std::string key = key_of(source);
  struct Case {
    const char* what;
    bool root_only;
  };
  int n = 0;
  for (const Case& c :
       {Case{"library writable by others", false}, Case{"checksum writable by others", false},
        Case{"library is a symbolic link", false}, Case{"library owned by another user", true}}) {
    SCOPED_TRACE(c.what);
    if (c.root_only && geteuid() != 0) continue;  // chown needs root
    const fs::path dir = make_dir(work.path() / ("entry" + std::to_string(n++)), 0700);
    Planted p = plant(dir, key, work.path());
    const std::string what = c.what;
    if (what == "library writable by others") fs::permissions(p.so, fs::perms::all);
    if (what == "checksum writable by others") fs::permissions(p.ok, fs::perms::all);
    if (what == "library is a symbolic link") {
      const fs::path elsewhere = work.path() / (key + ".elsewhere.so");
      fs::rename(p.so, elsewhere);
      fs::create_symlink(elsewhere, p.so);
    }
    if (what == "library owned by another user") {
      ASSERT_EQ(chown(p.so.c_str(), kNobody, 0), 0);
    }
    CpuCompilerOptions o;
    o.cache_dir = dir.string();
    Compiled first = compile(source, o);
    EXPECT_EQ(first.disk_hits, 0);
    EXPECT_EQ(first.compiles, 1);
    EXPECT_TRUE(computes_right(*first.kernel));
    EXPECT_FALSE(p.loaded());
    EXPECT_TRUE(first.warnings.empty());
    const struct stat so = lstat_of(p.so);
    EXPECT_TRUE(S_ISREG(so.st_mode));
    EXPECT_EQ(so.st_mode & 0777, 0600u);
    EXPECT_EQ(so.st_uid, geteuid());
    EXPECT_EQ(lstat_of(p.ok).st_mode & 0777, 0600u);
    Compiled second = compile(source, o);
    EXPECT_EQ(second.disk_hits, 1);
    EXPECT_TRUE(computes_right(*second.kernel));
  }
}

// The cache entries CUDA kernels use (read_cache_entry) follow the same rule.
TEST(KernelCacheDir, DiskCacheEntryMustBeOurs) {
  ScratchDir work;
  const fs::path dir = make_dir(work.path() / "entries", 0700);
  ASSERT_TRUE(write_cache_entry(dir.string(), "k", ".cubin", "image bytes"));
  const fs::path image = dir / "k.cubin", ok = dir / "k.cubin.ok";
  EXPECT_EQ(lstat_of(image).st_mode & 0777, 0600u);
  EXPECT_EQ(lstat_of(ok).st_mode & 0777, 0600u);
  std::string bytes;
  ASSERT_TRUE(read_cache_entry(dir.string(), "k", ".cubin", &bytes));
  EXPECT_EQ(bytes, "image bytes");
  fs::permissions(image, fs::perms::group_write, fs::perm_options::add);
  EXPECT_FALSE(read_cache_entry(dir.string(), "k", ".cubin", &bytes));
  fs::permissions(image, fs::perms::group_write, fs::perm_options::remove);
  ASSERT_TRUE(read_cache_entry(dir.string(), "k", ".cubin", &bytes));
  fs::rename(image, work.path() / "moved.cubin");
  fs::create_symlink(work.path() / "moved.cubin", image);
  EXPECT_FALSE(read_cache_entry(dir.string(), "k", ".cubin", &bytes));
  // And a directory that is not private is never offered to it.
  const fs::path open = make_dir(work.path() / "open", 0777);
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  EXPECT_EQ(kernel_cache_dir(open.string()), "");
  std::string why;
  EXPECT_FALSE(is_private_dir(open.string(), &why));
  EXPECT_TRUE(contains(why, "mode 0777")) << why;
  EXPECT_TRUE(is_private_dir(dir.string(), &why)) << why;
}

// With neither FX_CACHE_DIR, XDG_CACHE_HOME nor HOME (a service started by
// an init system), the cache is $TMPDIR/fx-kernels-<euid>, made 0700, and
// reused.
TEST(KernelCacheDir, HomeUnsetFallsBackToAPrivateTmpDir) {
  ScratchDir work;
  ScopedEnv env;
  env.unset("FX_CACHE_DIR");
  env.unset("XDG_CACHE_HOME");
  env.unset("HOME");
  env.set("TMPDIR", work.path().string());
  const fs::path dir = work.path() / ("fx-kernels-" + std::to_string(geteuid()));
  EXPECT_EQ(default_cache_dir(), dir.string());
  const struct stat st = lstat_of(dir);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, geteuid());
  const std::string source = kernel_source();
  Compiled first = compile(source, CpuCompilerOptions());
  EXPECT_EQ(first.compiles, 1);
  EXPECT_TRUE(is_under(first.kernel->path, dir)) << first.kernel->path;
  EXPECT_TRUE(first.warnings.empty());
  Compiled second = compile(source, CpuCompilerOptions());
  EXPECT_EQ(second.disk_hits, 1);
  EXPECT_TRUE(computes_right(*second.kernel));
}

// Someone made $TMPDIR/fx-kernels-<euid> first, writable by all, and planted
// an entry: refused, and kernels are compiled without a disk cache.
TEST(KernelCacheDir, PlantedTmpFallbackMeansNoDiskCache) {
  ScratchDir work;
  const std::string source = kernel_source();
  const std::string key = key_of(source);
  ScopedEnv env;
  env.unset("FX_CACHE_DIR");
  env.unset("XDG_CACHE_HOME");
  env.unset("HOME");
  env.set("TMPDIR", work.path().string());
  const fs::path dir = make_dir(work.path() / ("fx-kernels-" + std::to_string(geteuid())), 0777);
  Planted p = plant(dir, key, work.path());
  for (int run = 0; run < 2; ++run) {
    Compiled c = compile(source, CpuCompilerOptions());
    EXPECT_EQ(c.compiles, 1);
    EXPECT_EQ(c.disk_hits, 0);
    EXPECT_TRUE(computes_right(*c.kernel));
    EXPECT_FALSE(is_under(c.kernel->path, dir)) << c.kernel->path;
    EXPECT_EQ(c.warnings.size(), run == 0 ? 1u : 0u);
  }
  EXPECT_FALSE(p.loaded());
}

// A refused ~/.cache/fx/kernels moves the cache to $TMPDIR/fx-kernels-<euid>.
TEST(KernelCacheDir, RefusedHomeCacheFallsBackToTmp) {
  ScratchDir work;
  const std::string source = kernel_source();
  const std::string key = key_of(source);
  ScopedEnv env;
  env.unset("FX_CACHE_DIR");
  env.unset("XDG_CACHE_HOME");
  env.set("HOME", (work.path() / "home").string());
  env.set("TMPDIR", work.path().string());
  const fs::path home_cache = make_dir(work.path() / "home" / ".cache" / "fx" / "kernels", 0775);
  Planted p = plant(home_cache, key, work.path());
  Compiled c = compile(source, CpuCompilerOptions());
  EXPECT_EQ(c.disk_hits, 0);
  EXPECT_TRUE(computes_right(*c.kernel));
  EXPECT_FALSE(p.loaded());
  const fs::path fallback = work.path() / ("fx-kernels-" + std::to_string(geteuid()));
  EXPECT_TRUE(is_under(c.kernel->path, fallback)) << c.kernel->path;
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_TRUE(contains(c.warnings[0], home_cache.string())) << c.warnings[0];
  EXPECT_TRUE(contains(c.warnings[0], "using " + fallback.string() + " instead")) << c.warnings[0];
}

// A missing directory of our own is made 0700 (every level made on the way)
// and reused: the second compile is a disk hit.
TEST(KernelCacheDir, OwnPrivateDirIsCreatedAndReused) {
  ScratchDir work;
  const std::string source = kernel_source();
  CpuCompilerOptions o;
  o.cache_dir = (work.path() / "a" / "b" / "c").string();
  Compiled first = compile(source, o);
  EXPECT_EQ(first.compiles, 1);
  EXPECT_TRUE(first.warnings.empty());
  EXPECT_TRUE(is_under(first.kernel->path, o.cache_dir)) << first.kernel->path;
  for (const fs::path& d : {work.path() / "a", work.path() / "a" / "b", fs::path(o.cache_dir)})
    EXPECT_EQ(lstat_of(d).st_mode & 07777, 0700u) << d;
  Compiled second = compile(source, o);
  EXPECT_EQ(second.disk_hits, 1);
  EXPECT_EQ(second.compiles, 0);
  EXPECT_TRUE(computes_right(*second.kernel));
}

// $XDG_CACHE_HOME/fx/kernels, made 0700 below an existing XDG_CACHE_HOME.
TEST(KernelCacheDir, XdgCacheHomeIsUsed) {
  ScratchDir work;
  ScopedEnv env;
  env.unset("FX_CACHE_DIR");
  env.set("XDG_CACHE_HOME", (work.path() / "xdg").string());
  const fs::path dir = work.path() / "xdg" / "fx" / "kernels";
  EXPECT_EQ(default_cache_dir(), dir.string());
  EXPECT_EQ(lstat_of(dir).st_mode & 07777, 0700u);
  EXPECT_EQ(lstat_of(dir.parent_path()).st_mode & 07777, 0700u);
}

}  // namespace
}  // namespace fx::jit
