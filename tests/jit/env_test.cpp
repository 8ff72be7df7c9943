// Note [Environment variables] (jit/env.h): booleans and paths parsed one
// way, an unparseable boolean warned about once and taking the default, each
// variable's default as the table says, the table documented in
// docs/environment.md, and the variables doing what they say through fuse
// and the host compiler.
#include "jit/env.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "jit/cpu_compiler.h"
#include "jit/fuse.h"
#include "tests/jit/test_graphs.h"
#include "tests/scoped_env.h"

namespace fx::jit {
namespace {

namespace fs = std::filesystem;

using testing_support::ScopedEnv;

class Warnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning& w) override { messages.push_back(w.msg()); }
  std::vector<std::string> messages;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(EnvParse, BooleanWords) {
  for (const char* t : {"1", "true", "TRUE", "True", "yes", "YES", "on", "On", " 1", "true\n"})
    EXPECT_EQ(parse_env_bool(t), std::optional<bool>(true)) << "'" << t << "'";
  for (const char* t : {"0", "false", "FALSE", "no", "No", "off", "OFF", "\t0 "})
    EXPECT_EQ(parse_env_bool(t), std::optional<bool>(false)) << "'" << t << "'";
  for (const char* t : {"", " ", "2", "-1", "10", "y", "n", "t", "enable", "1 1", "truee", "o n"})
    EXPECT_EQ(parse_env_bool(t), std::nullopt) << "'" << t << "'";
}

TEST(EnvParse, BooleanVariable) {
  const char* name = "FX_TEST_ENV_BOOL";
  ScopedEnv env;
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  env.unset(name);
  EXPECT_TRUE(env_bool(name, true));
  EXPECT_FALSE(env_bool(name, false));
  env.set(name, "");  // empty is unset
  EXPECT_TRUE(env_bool(name, true));
  EXPECT_FALSE(env_bool(name, false));
  env.set(name, "Yes");
  EXPECT_TRUE(env_bool(name, false));
  env.set(name, "off");
  EXPECT_FALSE(env_bool(name, true));
  EXPECT_TRUE(warnings.messages.empty());
}

// A value that is not a boolean takes the default, with one warning per
// variable and value that names both, what is accepted and the default used.
TEST(EnvParse, UnparseableBooleanWarnsOnceAndTakesTheDefault) {
  const char* name = "FX_TEST_ENV_UNPARSED";
  ScopedEnv env;
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  env.set(name, "maybe");
  EXPECT_TRUE(env_bool(name, true));
  ASSERT_EQ(warnings.messages.size(), 1u);
  const std::string& w = warnings.messages[0];
  EXPECT_TRUE(contains(w, "FX_TEST_ENV_UNPARSED='maybe'")) << w;
  EXPECT_TRUE(contains(w, "not a boolean")) << w;
  EXPECT_TRUE(contains(w, "1, true, yes, on")) << w;
  EXPECT_TRUE(contains(w, "default, 1")) << w;
  EXPECT_TRUE(env_bool(name, true));
  EXPECT_EQ(warnings.messages.size(), 1u) << "warned twice about one value";
  env.set(name, "2");
  EXPECT_FALSE(env_bool(name, false));
  ASSERT_EQ(warnings.messages.size(), 2u);
  EXPECT_TRUE(contains(warnings.messages[1], "='2'")) << warnings.messages[1];
  EXPECT_TRUE(contains(warnings.messages[1], "default, 0")) << warnings.messages[1];
}

TEST(EnvParse, PathVariable) {
  const char* name = "FX_TEST_ENV_PATH";
  ScopedEnv env;
  env.unset(name);
  EXPECT_EQ(env_path(name, "fallback"), "fallback");
  env.set(name, "");
  EXPECT_EQ(env_path(name, "fallback"), "fallback");
  // Verbatim: blanks kept, "~" not expanded, relative stays relative.
  for (const char* v : {"/abs/dir", "rel/dir", " spaced dir ", "~/cache", "1"}) {
    env.set(name, v);
    EXPECT_EQ(env_path(name, "fallback"), v);
  }
}

// The table's defaults are what the functions return with every variable unset.
TEST(EnvVars, DefaultsAreTheTables) {
  ScopedEnv env;
  std::map<std::string, std::string> defaults;
  for (const EnvVar& v : kEnvVars) {
    env.unset(v.name);
    defaults[v.name] = v.default_value;
  }
  EXPECT_EQ(defaults.size(), 6u);
  EXPECT_EQ(env_jit_hugepages() ? "1" : "0", defaults.at("FX_JIT_HUGEPAGES"));
  EXPECT_EQ(env_jit_disabled() ? "1" : "0", defaults.at("FX_JIT_DISABLE"));
  EXPECT_EQ(env_jit_dump() ? "1" : "0", defaults.at("FX_JIT_DUMP"));
  EXPECT_EQ(env_host_compiler(), defaults.at("FX_CXX"));
  EXPECT_EQ(env_cuda_driver(), defaults.at("FX_CUDA_DRIVER"));
  EXPECT_EQ(env_cache_dir(), "");
  EXPECT_EQ(defaults.at("FX_CACHE_DIR"), "(unset)");
  env.set("FX_JIT_DISABLE", "on");
  env.set("FX_JIT_DUMP", "TRUE");
  env.set("FX_CXX", "/opt/cc");
  env.set("FX_CACHE_DIR", "/some/cache");
  env.set("FX_CUDA_DRIVER", "/opt/libcuda.so");
  env.set("FX_JIT_HUGEPAGES", "off");
  EXPECT_FALSE(env_jit_hugepages());
  EXPECT_TRUE(env_jit_disabled());
  EXPECT_TRUE(env_jit_dump());
  EXPECT_EQ(env_host_compiler(), "/opt/cc");
  EXPECT_EQ(env_cache_dir(), "/some/cache");
  EXPECT_EQ(env_cuda_driver(), "/opt/libcuda.so");
}

// docs/environment.md has one table row per variable, with its default.
TEST(EnvVars, EveryVariableIsDocumented) {
  // This file's path, relative to the build directory when ccache's base_dir
  // rewrote it so.
  fs::path self = __FILE__;
  if (self.is_relative()) self = fs::path(FX_BINARY_DIR) / self;
  const fs::path doc = self.parent_path().parent_path().parent_path() / "docs" / "environment.md";
  std::ifstream in(doc);
  ASSERT_TRUE(in) << "cannot read " << doc;
  std::map<std::string, std::string> rows;  // variable -> its table row
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("| `FX_", 0) == 0) rows[line.substr(3, line.find('`', 3) - 3)] = line;
  for (const EnvVar& v : kEnvVars) {
    SCOPED_TRACE(v.name);
    ASSERT_TRUE(rows.count(v.name)) << doc << " has no row for " << v.name;
    EXPECT_TRUE(contains(rows[v.name], v.default_value)) << rows[v.name];
    EXPECT_TRUE(contains(rows[v.name], v.kind)) << rows[v.name];
  }
  EXPECT_EQ(rows.size(), std::size(kEnvVars)) << "the table lists a variable jit/env.h does not";
}

// FX_JIT_DISABLE through fuse: any true word turns fusion off, a false word or
// an unparseable value (with its warning) leaves it on.
TEST(EnvVars, JitDisableThroughFuse) {
  auto gm = test_graphs::chain8({16});
  ScopedEnv env;
  auto fused_groups = [&] {
    return fuse(*gm)->graph().find_nodes(Op::CallModule).size();
  };
  for (const char* v : {"1", "yes", "TRUE", "on"}) {
    env.set("FX_JIT_DISABLE", v);
    EXPECT_EQ(fused_groups(), 0u) << v;
  }
  for (const char* v : {"0", "no", "off", ""}) {
    env.set("FX_JIT_DISABLE", v);
    EXPECT_EQ(fused_groups(), 1u) << v;
  }
  Warnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  env.set("FX_JIT_DISABLE", "disable-please");
  EXPECT_EQ(fused_groups(), 1u);
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_TRUE(contains(warnings.messages[0], "FX_JIT_DISABLE='disable-please'"))
      << warnings.messages[0];
}

// FX_CXX names the host compiler when the options do not: a missing one fails
// the compile with its name in the error.
TEST(EnvVars, HostCompilerFromFxCxx) {
  ScopedEnv env;
  env.set("FX_CXX", "/nonexistent/fx-env-test-cxx");
  CpuCompilerOptions o;
  o.disk_cache = false;
  const std::string source = "// fx env test " + std::to_string(getpid()) +
                             "\nextern \"C\" void fx_kernel(void* const*, const long*, const "
                             "long*, long, long) {}\n";
  clear_memory_cache();
  try {
    compile_cpu_kernel(source, o);
    FAIL() << "compiled with a compiler that does not exist";
  } catch (const std::exception& e) {
    EXPECT_TRUE(contains(e.what(), "/nonexistent/fx-env-test-cxx")) << e.what();
  }
}

// FX_JIT_DUMP keeps the generated source beside the cached kernel, as
// <key>.cpp, for any true word; not for a false one.
TEST(EnvVars, JitDumpKeepsTheSource) {
  ScopedEnv env;
  const fs::path dir = fs::temp_directory_path() / ("fx_env_dump_" + std::to_string(getpid()));
  fs::remove_all(dir);
  CpuCompilerOptions o;
  o.cache_dir = dir.string();
  int n = 0;
  for (const char* v : {"yes", "off", "1", "false"}) {
    SCOPED_TRACE(v);
    env.set("FX_JIT_DUMP", v);
    const std::string source = "// fx env dump test " + std::to_string(getpid()) + "." +
                               std::to_string(n++) +
                               "\nextern \"C\" void fx_kernel(void* const*, const long*, const "
                               "long*, long, long) {}\n";
    clear_memory_cache();
    auto k = compile_cpu_kernel(source, o);
    const bool kept = fs::exists(dir / (k->key + ".cpp"));
    EXPECT_EQ(kept, parse_env_bool(v).value());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fx::jit
