// Helpers for tests that write, read and edit saved GraphModule files (FXGM,
// docs/graph_module_format.md).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fx::saved_files {

// A fresh path per test (prefix + test name + suffix), removed with the test.
class TempFile {
 public:
  explicit TempFile(const std::string& prefix, const std::string& suffix = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::path(::testing::TempDir()) /
             (prefix + std::string(info->name()) + suffix + ".fxgm"))
                .string();
    std::filesystem::remove(path_);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The JSON header's length, from the file's 16-byte prefix.
inline uint64_t json_length(const std::string& file) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[8 + i]);
  return n;
}

// The JSON header of a saved file, and the file rebuilt around an edited header.
inline nlohmann::ordered_json header_of(const std::string& file) {
  return nlohmann::ordered_json::parse(file.substr(16, json_length(file)));
}

template <typename Json>
std::string with_header(const std::string& file, const Json& header) {
  std::string text = header.dump();
  std::string out = file.substr(0, 8);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text + file.substr(16 + json_length(file));
}

}  // namespace fx::saved_files
