// See jit/cpu_compiler.h and Note [Kernel disk cache].
#include "jit/cpu_compiler.h"

#include <dlfcn.h>
#include <elf.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <sys/wait.h>

#include "ir/error.h"
#include "jit/disk_cache.h"
#include "jit/env.h"
#include "jit/once_per_key.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

// Never destroyed: kernels stay loaded until the process ends.
OncePerKey<CpuKernel>& memory_cache() {
  static auto* cache = new OncePerKey<CpuKernel>();
  return *cache;
}
std::atomic<int64_t> g_compiles{0}, g_disk_hits{0}, g_memory_hits{0}, g_failures{0};
std::atomic<int64_t> g_counter{0};

// A kernel's cache entry is <key>.so (and <key>.so.ok, jit/disk_cache.h).
constexpr const char* kLibraryExt = ".so";

const std::string& cpu_features() {
  static const std::string flags = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("flags", 0) == 0) return line;
    return std::string();
  }();
  return flags;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

// Whether bytes can be handed to dlopen: a 64-bit shared object for this
// machine whose program headers and loadable segments all lie inside the
// file. The loader trusts those headers and maps past the end of a truncated
// file, and touching that memory is a SIGBUS, so a cache entry cut short
// under a matching checksum would otherwise take the process down.
bool loadable_elf(const std::string& bytes, std::string* why) {
  Elf64_Ehdr eh;
  if (bytes.size() < sizeof(eh) || bytes.compare(0, SELFMAG, ELFMAG) != 0) {
    *why = "not an ELF file";
    return false;
  }
  std::memcpy(&eh, bytes.data(), sizeof(eh));
#if defined(__x86_64__)
  const int machine = EM_X86_64;
#elif defined(__aarch64__)
  const int machine = EM_AARCH64;
#else
  const int machine = eh.e_machine;
#endif
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN || eh.e_machine != machine ||
      eh.e_phentsize != sizeof(Elf64_Phdr)) {
    *why = "not a 64-bit shared object for this machine";
    return false;
  }
  const uint64_t size = bytes.size();
  if (eh.e_phoff > size || eh.e_phnum > (size - eh.e_phoff) / sizeof(Elf64_Phdr)) {
    *why = "truncated (program headers past the end)";
    return false;
  }
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof(ph));
    if (ph.p_type == PT_LOAD && (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)) {
      *why = "truncated (a segment past the end)";
      return false;
    }
  }
  return true;
}

CpuKernelFn load(const fs::path& so, std::string* why) {
  void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    *why = e ? e : "dlopen failed";
    return nullptr;
  }
  void* f = dlsym(h, "fx_kernel");
  if (!f) {
    *why = "no symbol fx_kernel in " + so.string();
    // Unload it: the loader finds libraries by path, so while this one stays
    // loaded, a good kernel written to the same path later would never be
    // read (a foreign file under a cache entry's name would stick).
    dlclose(h);
    return nullptr;
  }
  return reinterpret_cast<CpuKernelFn>(f);
}

// A valid disk entry, or nullptr (a miss). The entry must pass
// read_cache_entry (Note [Kernel cache directory]) before the library is
// handed to dlopen.
std::shared_ptr<CpuKernel> from_disk(const fs::path& dir, const std::string& key) {
  const fs::path so = dir / (key + kLibraryExt);
  std::string bytes;
  if (!read_cache_entry(dir.string(), key, kLibraryExt, &bytes)) return nullptr;
  std::string why;
  if (!loadable_elf(bytes, &why)) return nullptr;
  CpuKernelFn fn = load(so, &why);
  if (!fn) return nullptr;
  auto k = std::make_shared<CpuKernel>();
  k->fn = fn;
  k->key = key;
  k->path = so.string();
  k->from_disk = true;
  return k;
}

std::shared_ptr<CpuKernel> build(const std::string& source, const CpuCompilerOptions& o,
                                 const std::string& compiler, const std::vector<std::string>& flags,
                                 const std::string& key) {
  const std::string cache = o.disk_cache ? kernel_cache_dir(o.cache_dir) : std::string();
  if (!cache.empty()) {
    if (auto k = from_disk(cache, key)) {
      ++g_disk_hits;
      return k;
    }
  }
  auto start = std::chrono::steady_clock::now();
  std::string stem = key + "." + std::to_string(getpid()) + "." + std::to_string(++g_counter);
  fs::path dir = cache;
  bool save = !cache.empty();
  std::error_code ec;
  const std::string src_name = stem + ".cpp";
  if (save && !write_private_file(dir / src_name, source)) {
    // A cache that can be read but not written (mounted read-only) still
    // serves its hits; a miss is built privately and not saved.
    fs::remove(dir / src_name, ec);  // a full disk leaves a partial file
    save = false;
  }
  if (!save) {
    std::string why;
    dir = private_build_dir(&why);
    if (dir.empty()) {
      ++g_failures;
      throw CompileError("cannot compile the kernel: " + why);
    }
    if (!write_private_file(dir / src_name, source)) {
      ++g_failures;
      fs::remove(dir / src_name, ec);
      throw CompileError("cannot write kernel source to " + (dir / src_name).string());
    }
  }
  const fs::path src = dir / src_name;
  const fs::path tmp_so = dir / (stem + ".so.tmp");
  std::string cmd = quote(compiler);
  for (const auto& f : flags) cmd += " " + quote(f);
  cmd += " -o " + quote(tmp_so.string()) + " " + quote(src.string()) + " 2>&1";
  std::string log;
  int status = -1;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) log.append(buf, n);
    status = pclose(p);
  }
  if (status != 0 || !fs::exists(tmp_so)) {
    ++g_failures;
    fs::remove(tmp_so, ec);
    fs::path kept = dir / (key + ".failed.cpp");
    fs::rename(src, kept, ec);
    throw CompileError("the host compiler failed to compile the kernel (exit status " +
                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status) +
                       "): " + cmd + "\n" + log + "source saved to " + kept.string());
  }
  std::string bytes, why = "cannot be read";
  // The compiler's umask may have left it group-writable, which a later
  // read_private_file would refuse.
  fs::permissions(tmp_so, fs::perms::owner_read | fs::perms::owner_write, ec);
  if (!read_private_file(tmp_so, &bytes) || !loadable_elf(bytes, &why)) {
    ++g_failures;
    fs::remove(tmp_so, ec);
    fs::remove(src, ec);
    throw CompileError("cannot load the compiled kernel " + tmp_so.string() + ": " + why +
                       "\ncompiler command: " + cmd + "\n" + log);
  }
  // The entry is written whole from the bytes checked above; the library
  // is then loaded from the entry, or (not cached) from a name of its own.
  fs::path so = dir / (key + kLibraryExt);
  const bool saved = save && write_cache_entry(dir.string(), key, kLibraryExt, bytes);
  if (saved) {
    fs::remove(tmp_so, ec);
  } else {
    so = dir / (stem + ".so");
    fs::rename(tmp_so, so, ec);
  }
  if (env_jit_dump())
    fs::rename(src, dir / (key + ".cpp"), ec);
  else
    fs::remove(src, ec);
  CpuKernelFn fn = load(so, &why);
  if (!fn) {
    // The compiler said yes but wrote something unusable: do not leave it
    // in the cache for the next process to trip over.
    ++g_failures;
    if (saved) fs::remove(so.string() + ".ok", ec);
    fs::remove(so, ec);
    throw CompileError("cannot load the compiled kernel " + so.string() + ": " + why);
  }
  ++g_compiles;
  auto k = std::make_shared<CpuKernel>();
  k->fn = fn;
  k->key = key;
  k->path = so.string();
  k->compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return k;
}

}  // namespace

std::vector<std::string> default_cpu_flags() {
  return {"-O3",
          "-march=native",
          "-mprefer-vector-width=512",
          "-fopenmp-simd",
          "-fno-math-errno",
          "-fwrapv",
          "-fPIC",
          "-shared",
          "-std=c++17",
          "-w",
          "-lm"};
}

std::string default_cache_dir() { return kernel_cache_dir(""); }

std::string hash_hex(const std::string& data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::shared_ptr<const CpuKernel> compile_cpu_kernel(const std::string& source,
                                                    const CpuCompilerOptions& options,
                                                    bool* memory_hit) {
  const std::string compiler =
      options.compiler.empty() ? env_host_compiler() : options.compiler;
  std::vector<std::string> flags = options.flags.empty() ? default_cpu_flags() : options.flags;
  std::string material = compiler + "\n";
  for (const auto& f : flags) material += f + " ";
  material += "\n" + cpu_features() + "\n" + source;
  std::string key = "cpu_" + hash_hex(material);
  // The cache dir is part of the in-memory key, so tests can point at fresh dirs.
  std::string mem_key = key + "@" + options.cache_dir + (options.disk_cache ? "" : "#nodisk");

  bool hit = false;
  auto k = memory_cache().get(
      mem_key, [&] { return build(source, options, compiler, flags, key); }, &hit);
  if (memory_hit) *memory_hit = hit;
  if (hit) ++g_memory_hits;
  return k;
}

CompileStats compile_stats() {
  return {g_compiles.load(), g_disk_hits.load(), g_memory_hits.load(), g_failures.load()};
}

void clear_memory_cache() { memory_cache().clear(); }

}  // namespace fx::jit
