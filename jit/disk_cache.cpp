// See jit/disk_cache.h and Note [Kernel cache directory].
#include "jit/disk_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <vector>

#include <c10/util/Exception.h>
#include <sys/stat.h>

#include "jit/cpu_compiler.h"
#include "jit/env.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Why a file with this stat may not be trusted, or "" when it may.
std::string untrusted_owner_or_mode(const struct stat& st) {
  if (st.st_uid != geteuid())
    return "is owned by uid " + std::to_string(st.st_uid) + ", not by this process's user (uid " +
           std::to_string(geteuid()) + ")";
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return "is writable by its group or by others (mode " + octal_mode(st.st_mode) + ")";
  return "";
}

// Trailing slashes would make lstat follow a symbolic link.
std::string without_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Creates dir and its missing parents with mode 0700 and checks each one
// created and dir itself; "" when dir may be used, else why not.
std::string make_private_dirs(const std::string& requested) {
  const std::string dir = without_trailing_slashes(requested);
  std::vector<std::string> missing;
  struct stat st;
  for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (lstat(p.c_str(), &st) == 0) break;
    // ENOTDIR: a parent is a file, so mkdir would fail the same way.
    if (errno == ENOTDIR)
      return "cannot be created (" + p.string() + ": " + std::strerror(errno) + ")";
    if (errno != ENOENT) break;
    missing.push_back(p.string());
  }
  std::string why;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    // EEXIST: another process made it meanwhile; it is checked all the same.
    if (mkdir(it->c_str(), 0700) != 0 && errno != EEXIST)
      return "cannot be created (" + *it + ": " + std::strerror(errno) + ")";
    if (!is_private_dir(*it, &why))
      return *it == dir ? why : "has a parent created on the way, " + *it + ", that " + why;
  }
  return is_private_dir(dir, &why) ? "" : why;
}

// One warning per process per directory.
void warn_refused(const std::string& dir, const std::string& why, const std::string& instead) {
  static std::mutex mutex;
  static auto* warned = new std::set<std::string>();
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!warned->insert(dir).second) return;
  }
  TORCH_WARN("kernel cache directory '", dir, "' ", why,
             "; fx neither loads nor saves kernels there (", instead,
             "): use a directory of your own that only you can write (chmod go-w), or choose "
             "another with FX_CACHE_DIR");
}

// dir when it may be used (created if needed), else "" after a warning.
std::string checked(const std::string& dir, const std::string& instead) {
  const std::string why = make_private_dirs(dir);
  if (why.empty()) return dir;
  warn_refused(dir, why, instead);
  return "";
}

std::string temp_dir() {
  std::error_code ec;
  fs::path t = fs::temp_directory_path(ec);
  return ec ? std::string("/tmp") : t.string();
}

}  // namespace

bool is_private_dir(const std::string& dir, std::string* why) {
  struct stat st;
  if (lstat(without_trailing_slashes(dir).c_str(), &st) != 0) {
    *why = std::string("cannot be examined (") + std::strerror(errno) + ")";
    return false;
  }
  if (S_ISLNK(st.st_mode)) {
    *why = "is a symbolic link";
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = "is not a directory";
    return false;
  }
  *why = untrusted_owner_or_mode(st);
  return why->empty();
}

std::string kernel_cache_dir(const std::string& requested) {
  const char* no_cache = "kernels are compiled without a disk cache";
  if (!requested.empty()) return checked(requested, no_cache);
  if (const std::string d = env_cache_dir(); !d.empty()) return checked(d, no_cache);
  const std::string fallback =
      (fs::path(temp_dir()) / ("fx-kernels-" + std::to_string(geteuid()))).string();
  std::string home;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/')
    home = (fs::path(x) / "fx" / "kernels").string();
  else if (const char* h = std::getenv("HOME"); h && *h)
    home = (fs::path(h) / ".cache" / "fx" / "kernels").string();
  if (!home.empty()) {
    std::string dir = checked(home, "using " + fallback + " instead");
    if (!dir.empty()) return dir;
  }
  return checked(fallback, no_cache);
}

std::string private_build_dir(std::string* why) {
  static std::mutex mutex;
  static auto* dir = new std::string();
  std::lock_guard<std::mutex> lock(mutex);
  // Made again when it has gone (a cleaner of old temporary files, a test's
  // temporary TMPDIR).
  if (!dir->empty() && is_private_dir(*dir, why)) return *dir;
  std::string tmpl = (fs::path(temp_dir()) / "fx-build-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    *why = "cannot create a private directory to compile in (" + tmpl + ": " +
           std::strerror(errno) + ")";
    return "";
  }
  if (!is_private_dir(tmpl, why)) {
    *why = "the private directory to compile in, " + tmpl + ", " + *why;
    return "";
  }
  // The libraries stay mapped until the process ends; a failed kernel's
  // source (named in its error) is kept, and with it the directory.
  if (dir->empty())
    std::atexit([] {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(*dir, ec))
        if (e.path().extension() == ".so") fs::remove(e.path(), ec);
      rmdir(dir->c_str());
    });
  *dir = tmpl;
  return *dir;
}

bool read_private_file(const fs::path& path, std::string* bytes) {
  // O_NONBLOCK: a FIFO must not hang the reader (it fails the S_ISREG test).
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && untrusted_owner_or_mode(st).empty();
  bytes->clear();
  char buf[1 << 16];
  while (ok) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (ok) bytes->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ok;
}

bool write_private_file(const fs::path& path, const std::string& bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // A file that was already there keeps its mode through O_TRUNC.
  bool ok = fchmod(fd, 0600) == 0;
  for (size_t done = 0; ok && done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    if (ok) done += static_cast<size_t>(n);
  }
  return close(fd) == 0 && ok;
}

bool read_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                      std::string* bytes) {
  fs::path base = fs::path(dir) / (key + ext);
  std::string sum;
  if (!read_private_file(base.string() + ".ok", &sum) || !read_private_file(base, bytes))
    return false;
  return sum == hash_hex(*bytes);
}

bool write_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                       const std::string& bytes) {
  static std::atomic<long> counter{0};
  std::error_code ec;
  std::string stem = key + ext + "." + std::to_string(getpid()) + "." + std::to_string(++counter);
  fs::path tmp = fs::path(dir) / (stem + ".tmp"), tmp_ok = fs::path(dir) / (stem + ".ok.tmp");
  fs::path dst = fs::path(dir) / (key + ext), dst_ok = fs::path(dst.string() + ".ok");
  if (!write_private_file(tmp, bytes) || !write_private_file(tmp_ok, hash_hex(bytes))) {
    fs::remove(tmp, ec);
    fs::remove(tmp_ok, ec);
    return false;
  }
  // The data first: a reader that finds the new checksum finds the new data.
  fs::rename(tmp, dst, ec);
  if (!ec) fs::rename(tmp_ok, dst_ok, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fs::remove(tmp_ok, ec);
    return false;
  }
  return true;
}

}  // namespace fx::jit
