// The on-disk half of the kernel caches (Note [Kernel disk cache] in
// jit/cpu_compiler.h): where the cache may live, and its entries. An entry is
// <key><ext> plus <key><ext>.ok holding a checksum of it, each written to a
// private temporary name and renamed into place, so a reader sees a whole
// entry or none. A missing, truncated or foreign entry reads as a miss.
//
// Note [Kernel cache directory]: a cache hit is code this process runs (a
// shared library handed to dlopen, a CUBIN handed to the driver), so fx reads
// and writes kernels only in a directory that no other user can write:
//   1. the requested directory (CpuCompilerOptions::cache_dir for CPU
//      kernels, CudaCompilerOptions::cache_dir for CUDA ones; fuse gives CUDA
//      kernels the CPU one unless FuseOptions::cuda is set), else
//      $FX_CACHE_DIR (jit/env.h);
//   2. else $XDG_CACHE_HOME/fx/kernels (an absolute XDG_CACHE_HOME), else
//      $HOME/.cache/fx/kernels;
//   3. else, or when the directory of 2 is refused, $TMPDIR/fx-kernels-<euid>
//      ($TMPDIR defaults to /tmp);
//   4. else, or when the directory of 1 is refused, no disk cache: kernels
//      are compiled in a private directory (private_build_dir) and kept in
//      memory only. A refused requested directory is never replaced by another
//      one, so a kernel is never cached where nobody asked for it.
// A directory is used only when lstat says it is a directory (not a symbolic
// link) owned by geteuid() with no group or other write permission. Missing
// directories are created with mode 0700, each of them checked the same way.
// A refused directory gets one warning (TORCH_WARN) per process, naming it,
// the reason and the fix. Every file read from a cache (the library before
// dlopen, the image, the checksum) must be a regular file owned by geteuid()
// with no group or other write permission, or it is a miss; files fx writes
// there are mode 0600. The checksum only catches torn or damaged entries (it
// is a fast hash anyone can recompute); the permissions keep other users'
// code out. Deliberately not checked: the directory's ancestors (one that
// another user may rename entries in, other than a sticky /tmp, lets them
// swap the directory between the check and the load) and root, who can write
// anywhere.
#pragma once
#include <filesystem>
#include <string>

namespace fx::jit {

// The directory to cache kernels in for requested (empty: the default),
// created if missing; empty when there is none that may be used, in which
// case callers compile without a disk cache. See Note [Kernel cache
// directory]. Thread-safe.
std::string kernel_cache_dir(const std::string& requested);

// Whether dir may hold kernels: a directory, not a symbolic link, owned by
// geteuid(), not writable by its group or others. Otherwise false, and *why
// says which ("is a symbolic link", ...).
bool is_private_dir(const std::string& dir, std::string* why);

// A directory of this process's own ($TMPDIR/fx-build-XXXXXX, from mkdtemp),
// where kernels that are not cached are compiled; made on first use, and its
// libraries removed at exit. Empty, with *why, when it cannot be made.
// Thread-safe.
std::string private_build_dir(std::string* why);

// A whole file's bytes; false when it cannot be read, or when it is not a
// regular file owned by geteuid() that only its owner may write. Every read
// of a cache goes through here.
bool read_private_file(const std::filesystem::path& path, std::string* bytes);

// Writes a file whole, with mode 0600 (not following a symbolic link at
// path); false when any write fails.
bool write_private_file(const std::filesystem::path& path, const std::string& bytes);

// The entry's bytes, or false on a miss. REQUIRES: dir came from
// kernel_cache_dir.
bool read_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                      std::string* bytes);

// Stores an entry; false (and nothing half-written) when the directory cannot
// be written, which callers treat as "not cached". REQUIRES: dir came from
// kernel_cache_dir.
bool write_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                       const std::string& bytes);

}  // namespace fx::jit
