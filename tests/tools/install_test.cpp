// `cmake --install` gives a package that a service builds against with
// find_package(fx): installs this build into a temporary prefix, builds
// examples/service against it, and runs it on a model saved by fxjit.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace {

std::string run(const std::string& cmd, int* code) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (pipe && fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  int status = pipe ? pclose(pipe) : -1;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(Install, ServiceBuildsAgainstTheInstalledPackage) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("fx_install_test_" + std::to_string(getpid()));
  fs::remove_all(root);
  std::string cmake = FX_CMAKE_COMMAND;
  int code = 0;
  std::string out =
      run(cmake + " --install " + FX_BINARY_DIR + " --prefix " + (root / "prefix").string(), &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(fs::exists(root / "prefix/include/fx/ir/graph.h"));
  EXPECT_TRUE(fs::exists(root / "prefix/include/fx/runtime/graph_module.h"));
  EXPECT_TRUE(fs::exists(root / "prefix/bin/fxjit"));
  out = run(
      cmake + " -S " + FX_SOURCE_DIR + "/examples/service -B " + (root / "build").string() +
          " -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + (root / "prefix").string(),
      &code);
  ASSERT_EQ(code, 0) << out;
  out = run(cmake + " --build " + (root / "build").string(), &code);
  ASSERT_EQ(code, 0) << out;
  std::string model = (root / "model.fxgm").string();
  out = run((root / "prefix/bin/fxjit").string() + " save fx-example -o " + model, &code);
  ASSERT_EQ(code, 0) << out;
  out = run((root / "build/fx_service").string() + " " + model + " 3x4 4 50", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("served 200 requests on 4 threads"), std::string::npos) << out;
  EXPECT_NE(out.find("0 mismatches"), std::string::npos) << out;
  fs::remove_all(root);
}

}  // namespace
