// See jit/disk_cache.h.
#include "jit/disk_cache.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "jit/cpu_compiler.h"

namespace fx::jit {
namespace fs = std::filesystem;

bool read_whole_file(const fs::path& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *bytes = ss.str();
  return static_cast<bool>(in) || in.eof();
}

bool write_whole_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  return static_cast<bool>(out);
}

bool read_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                      std::string* bytes) {
  fs::path base = fs::path(dir) / (key + ext);
  std::string sum;
  if (!read_whole_file(base.string() + ".ok", &sum) || !read_whole_file(base, bytes)) return false;
  return sum == hash_hex(*bytes);
}

bool write_cache_entry(const std::string& dir, const std::string& key, const std::string& ext,
                       const std::string& bytes) {
  static std::atomic<long> counter{0};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return false;
  std::string stem = key + ext + "." + std::to_string(getpid()) + "." + std::to_string(++counter);
  fs::path tmp = fs::path(dir) / (stem + ".tmp"), tmp_ok = fs::path(dir) / (stem + ".ok.tmp");
  fs::path dst = fs::path(dir) / (key + ext), dst_ok = fs::path(dst.string() + ".ok");
  if (!write_whole_file(tmp, bytes) || !write_whole_file(tmp_ok, hash_hex(bytes))) {
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
