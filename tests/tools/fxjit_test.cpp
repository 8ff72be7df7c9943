// The fxjit command line: each subcommand on a small model, its output and
// exit code, and clear one-line errors for bad arguments and files; `fuse -o`
// writes the fused model that run, graph and bench read back; --device cuda.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include "tests/python_models.h"

namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

Result fxjit(const std::string& args) {
  std::string cmd = std::string(FX_FXJIT) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (pipe && fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fxjit_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

TEST(Fxjit, HelpAndUsage) {
  Result r = fxjit("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: fxjit <command>"), std::string::npos);
  for (const char* cmd :
       {"demo", "graph", "code", "dot", "run", "fuse", "bench", "save", "parse"}) {
    Result h = fxjit(std::string(cmd) + " --help");
    EXPECT_EQ(h.code, 0) << cmd;
    EXPECT_NE(h.out.find(std::string("usage: fxjit ") + cmd), std::string::npos) << h.out;
  }
  EXPECT_EQ(fxjit("").code, 2);
  r = fxjit("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Fxjit, GraphCodeAndDotOfABuiltIn) {
  Result r = fxjit("graph fx-example");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("%addmm : [#users=1] = call_function[target=aten::addmm]"),
            std::string::npos)
      << r.out;
  r = fxjit("code fx-example");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("at::_ops::addmm::call("), std::string::npos) << r.out;
  r = fxjit("dot fx-example");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("digraph \"FxExampleImpl\" {", 0), 0u) << r.out;
}

TEST(Fxjit, RunCompareAndBench) {
  Result r = fxjit("run fx-example --input 3x4 --seed 1 --compare-eager");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("output 0: float32[3, 5]  checksum"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max |fx - eager| = 0 "), std::string::npos) << r.out;
  std::string json = temp_path("bench.json");
  r = fxjit("bench fx-example --iters 3 --json " + json);
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* row : {"eager", "interpreter", "program"})
    EXPECT_NE(r.out.find(row), std::string::npos);
  std::ifstream in(json);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("\"median_ms\""), std::string::npos);
  std::filesystem::remove(json);
}

TEST(Fxjit, FuseShowsGroupsKernelsAndAgreement) {
  Result r = fxjit("fuse mlp --input 8x256 --show-kernels");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("group 0: pow_1 mul add mul_1 tanh add_1 mul_2 mul_3"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("call_module[target=fused_0]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# kernel over [pow_1, mul, add, mul_1, tanh, add_1, mul_2, mul_3]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("// variant "), std::string::npos);  // --show-kernels printed the source
  size_t at = r.out.find("max |fused - unfused| = ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stod(r.out.substr(at + 24)), 1e-4) << r.out.substr(at);
}

TEST(Fxjit, InputsFromATorchSaveFile) {
  std::string file = temp_path("inputs.pt");
  {
    std::vector<char> bytes = torch::pickle_save(c10::IValue(torch::ones({3, 4})));
    std::ofstream(file, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  Result r = fxjit("run fx-example --inputs-from " + file + " --compare-eager");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("output 0: float32[3, 5]"), std::string::npos) << r.out;
  std::ofstream(file) << "garbage";
  r = fxjit("run fx-example --inputs-from " + file);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("is not a file written by torch.save"), std::string::npos) << r.out;
  std::filesystem::remove(file);
}

TEST(Fxjit, SaveThenLoadTheFile) {
  std::string file = temp_path("model.fxgm");
  Result r = fxjit("save fx-example -o " + file);
  EXPECT_EQ(r.code, 0) << r.out;
  Result g = fxjit("graph " + file);
  EXPECT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("aten::addmm"), std::string::npos);
  r = fxjit("run " + file + " --input 3x4 --compare-eager");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("against the Interpreter"), std::string::npos);
  std::filesystem::remove(file);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The number after `label` in out (NaN when absent).
double number_after(const std::string& out, const std::string& label) {
  size_t at = out.find(label);
  if (at == std::string::npos) return std::nan("");
  return std::stod(out.substr(at + label.size()));
}

TEST(Fxjit, FuseWritesTheFusedModelAndRunReadsIt) {
  std::string plain = temp_path("plain.fxgm"), fused = temp_path("fused.fxgm");
  Result r = fxjit("save mlp -o " + plain);
  ASSERT_EQ(r.code, 0) << r.out;
  r = fxjit("fuse " + plain + " --input 8x256 -o " + fused);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote the fused model to " + fused + " (2 fused kernels"),
            std::string::npos)
      << r.out;
  std::string bytes = read_file(fused);
  ASSERT_GE(bytes.size(), 16u);
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x02\x00\x00\x00", 4));  // format version 2
  EXPECT_NE(bytes.find("\"kind\":\"fx::jit::FusedKernel\""), std::string::npos);

  Result g = fxjit("graph " + fused);
  EXPECT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("call_module[target=fused_0](args = (%addmm,)"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("call_module[target=fused_1]"), std::string::npos) << g.out;
  EXPECT_EQ(g.out.find("aten::tanh"), std::string::npos) << g.out;  // inside fused_0 now

  // The same seed gives the same inputs: the fused file computes what the plain one does.
  Result a = fxjit("run " + fused + " --input 8x256 --seed 3 --compare-eager");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_NE(a.out.find("output 0: float32[8, 256]  checksum"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("(against the Interpreter, each fused kernel replaced by its own nodes)"),
            std::string::npos)
      << a.out;
  EXPECT_LT(number_after(a.out, "max |fx - eager| = "), 1e-4) << a.out;
  Result b = fxjit("run " + plain + " --input 8x256 --seed 3");
  ASSERT_EQ(b.code, 0) << b.out;
  double fused_sum = number_after(a.out, "checksum "), plain_sum = number_after(b.out, "checksum ");
  ASSERT_FALSE(std::isnan(fused_sum) || std::isnan(plain_sum)) << a.out << b.out;
  EXPECT_NEAR(fused_sum, plain_sum, 1e-3 * std::max(1.0, std::abs(plain_sum))) << a.out << b.out;

  r = fxjit("bench " + fused + " --input 8x256 --iters 2");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("fused"), std::string::npos) << r.out;
  std::filesystem::remove(plain);
  std::filesystem::remove(fused);
}

TEST(Fxjit, DeviceCudaIsOneClearErrorWithoutAGpu) {
  if (torch::cuda::is_available()) {
    // Wired through: the model, its inputs and the fused kernels run on the GPU.
    Result r = fxjit("fuse mlp --device cuda --input 8x256");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_LT(number_after(r.out, "max |fused - unfused| = "), 1e-4) << r.out;
    r = fxjit("run fx-example --device cuda --input 3x4");
    EXPECT_EQ(r.code, 0) << r.out;
    r = fxjit("bench fx-example --device cuda --iters 2");
    EXPECT_EQ(r.code, 0) << r.out;
    r = fxjit("run fx-example --device cuda:" + std::to_string(torch::cuda::device_count()));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("CUDA device"), std::string::npos) << r.out;
    return;
  }
  for (const char* cmd : {"run fx-example", "fuse mlp", "bench fx-example --iters 2",
                          "run fx-example --device cuda:1 --input 3x4"}) {
    std::string args = cmd;
    if (args.find("--device") == std::string::npos) args += " --device cuda";
    Result r = fxjit(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("fxjit: runtime error: --device cuda", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(": no CUDA device is usable on this machine"), std::string::npos) << r.out;
  }
  Result r = fxjit("run fx-example --device mps");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unsupported device 'mps'"), std::string::npos) << r.out;
}

TEST(Fxjit, ParseGraphText) {
  std::string file = temp_path("g.txt");
  std::ofstream(file)
      << "graph():\n    %x : [#users=1] = placeholder[target=x]\n"
         "    %relu : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})\n"
         "    return relu\n";
  Result r = fxjit("parse " + file);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("return relu"), std::string::npos);
  std::ofstream(file)
      << "%y : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})\n";
  r = fxjit("parse " + file);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("fxjit: parse error: line 1: 'x' is used before it is defined"),
            std::string::npos)
      << r.out;
  std::filesystem::remove(file);
}

// A scripted nn.TransformerEncoderLayer branches on its input's rank and
// device: fxjit imports it for the inputs it is given.
TEST(Fxjit, ScriptedModelIsImportedForTheGivenInputs) {
  fx::python_models::Written models = fx::python_models::write_models(
      FX_SOURCE_DIR "/tests/capture/x.cpp", "make_torchscript_control_flow_models.py",
      "encoder_layer");
  if (!models.skip.empty()) GTEST_SKIP() << models.skip;
  ASSERT_TRUE(models.error.empty()) << models.error;
  const std::string model = models.dir + "/encoder_layer.pt";
  Result r = fxjit("run " + model + " --input 2x7x64 --compare-eager");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("output 0: float32[2, 7, 64]"), std::string::npos) << r.out;
  r = fxjit("graph " + model + " --input 3x5x64");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("`src.dim() != 3` is False"), std::string::npos) << r.out;
  r = fxjit("graph " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("fxjit: --input"), std::string::npos) << r.out;
  std::error_code ec;
  std::filesystem::remove_all(models.dir, ec);
}

TEST(Fxjit, ClearErrors) {
  Result r = fxjit("graph /nonexistent/model.pt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("cannot open '/nonexistent/model.pt'"), std::string::npos) << r.out;
  std::string junk = temp_path("junk.bin");
  std::ofstream(junk) << "not a model";
  r = fxjit("run " + junk);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("is neither a built-in model"), std::string::npos) << r.out;
  std::filesystem::remove(junk);
  r = fxjit("run fx-example --input 3xq");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad size 'q'"), std::string::npos) << r.out;
  r = fxjit("run fx-example --input 3x5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("while executing node"), std::string::npos) << r.out;
  r = fxjit("run fx-example --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown option --bogus"), std::string::npos);
  r = fxjit("run fx-example --device quantum");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown device 'quantum'"), std::string::npos) << r.out;
  r = fxjit("run fx-example --device cpu");
  EXPECT_EQ(r.code, 0) << r.out;
  r = fxjit("save fx-example");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("save needs -o FILE"), std::string::npos);
}

}  // namespace
