// The fx Triton backend in a real Triton server (2.51.0, from the nvidia-pytriton wheel in the
// project's virtual environment), driven by tritonclient over HTTP and gRPC on 127.0.0.1.
//
// Set-up, once for the suite: make_triton_repo.py writes a model repository (an MLP block that
// fx converts to model.fxgm here, resnet18 as TorchScript optimized at load, a two-input
// two-output torch.export archive, a model that raises on some inputs); the server starts on free loopback ports with fx's backend
// and the repository API enabled, and the suite waits until it is ready. Each test then runs
// client.py (beside this file) with the venv's Python and checks the JSON it prints against
// fx's own forward on the same inputs. The server is stopped in the suite's tear-down, and
// killed with the test process if that dies (PR_SET_PDEATHSIG); it never outlives the test.
//
// Skips (with the reason) when the backend was not built (no Triton headers), or the venv lacks
// torch, nvidia-pytriton or tritonclient (scripts/setup.sh installs them).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "capture/export_import.h"
#include "capture/torchscript_import.h"
#include "runtime/graph_module.h"
#include "serialize/serialize.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

// Runs cmd with sh, returning its exit code and stdout (stderr goes to err_log).
int run(const std::string& cmd, std::string* out, const std::string& err_log) {
  std::string full = cmd + " 2>>" + shell_quoted(err_log);
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0)
    if (out) out->append(buf, n);
  int rc = ::pclose(pipe);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

std::string python() {
  if (const char* p = std::getenv("FX_PYTHON"); p && *p) return p;
  if (const char* venv = std::getenv("FX_VENV"); venv && *venv) return std::string(venv) + "/bin/python";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/fx/venv-torch2.11/bin/python";
}

std::string here() {
  fs::path dir = fs::path(FX_SOURCE_DIR) / "tests" / "serving";
  return dir.string();
}

// A port that was free on 127.0.0.1 a moment ago.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// The status code of GET path on 127.0.0.1:port, or -1 when nothing answers.
int http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int status = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      if (n > 12 && std::string(buf, 5) == "HTTP/") status = std::atoi(buf + 9);
    }
  }
  ::close(fd);
  return status;
}

void write_raw(const at::Tensor& t, const std::string& path) {
  at::Tensor c = t.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

at::Tensor read_raw(const std::string& path, at::ScalarType dtype, const std::vector<int64_t>& shape) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  std::ifstream in(path, std::ios::binary);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  EXPECT_EQ(static_cast<size_t>(in.gcount()), t.nbytes()) << path;
  return t;
}

std::vector<int64_t> shape_of(const Json& j) { return j.get<std::vector<int64_t>>(); }

class TritonServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
#ifndef FX_TRITON_BACKEND_DIR
    skip_ = "the Triton backend was not built (configure with FX_TRITON_INCLUDE_DIR)";
    return;
#else
    const std::string py = python();
    if (::access(py.c_str(), X_OK) != 0) {
      skip_ = "no Python at " + py + " (set FX_PYTHON or run scripts/setup.sh)";
      return;
    }
    char tmpl[] = "/tmp/fx_triton_XXXXXX";
    if (!::mkdtemp(tmpl)) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    log_ = dir_ + "/client.log";
    std::string server;
    if (run(shell_quoted(py) +
                " -c 'import os, pytriton, tritonclient.grpc, tritonclient.http; "
                "print(os.path.join(os.path.dirname(pytriton.__file__), \"tritonserver\", \"bin\", "
                "\"tritonserver\"), end=\"\")'",
            &server, log_) != 0 ||
        ::access(server.c_str(), X_OK) != 0) {
      skip_ = "no Triton server or client in " + py +
              " (scripts/setup.sh installs nvidia-pytriton==0.7.0 and tritonclient[all]): " +
              read_file(log_);
      return;
    }
    int rc = run(shell_quoted(py) + " " + shell_quoted(here() + "/make_triton_repo.py") + " " + shell_quoted(dir_),
                 nullptr, log_);
    if (rc == 77) {
      skip_ = "no torch and torchvision in " + py;
      return;
    }
    if (rc != 0) {
      error_ = "make_triton_repo.py failed:\n" + read_file(log_);
      return;
    }
    try {
      fx::save(*fx::load_torchscript(dir_ + "/mlp.pt"), repo() + "/mlp/1/model.fxgm");
    } catch (const std::exception& e) {
      error_ = std::string("converting the MLP block to .fxgm: ") + e.what();
      return;
    }
    start(server);
#endif
  }

  static void start(const std::string& server) {
    http_port_ = free_port();
    grpc_port_ = free_port();
    server_log_ = dir_ + "/server.log";
    std::vector<std::string> args = {
        server,
        "--model-repository=" + repo(),
#ifdef FX_TRITON_BACKEND_DIR
        "--backend-directory=" + std::string(FX_TRITON_BACKEND_DIR),
#endif
        "--http-address=127.0.0.1", "--http-port=" + std::to_string(http_port_),
        "--grpc-address=127.0.0.1", "--grpc-port=" + std::to_string(grpc_port_),
        "--allow-metrics=false", "--model-control-mode=explicit", "--load-model=*",
        "--exit-timeout-secs=5", "--log-verbose=0"};
    const std::string log_path = server_log_;
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
      if (::getppid() != parent) ::_exit(1);
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Ready means every model loaded; optimizing resnet18 and compiling kernels takes a while
    // on a busy machine.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "tritonserver exited while starting:\n" + read_file(server_log_);
        return;
      }
      if (http_get(http_port_, "/v2/health/ready") == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    error_ = "tritonserver was not ready after 240 s:\n" + read_file(server_log_);
    stop();
  }

  static void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
  }

  static void TearDownTestSuite() {
    stop();
    std::error_code ec;
    if (!dir_.empty() && !std::getenv("FX_KEEP_TRITON_DIR")) fs::remove_all(dir_, ec);
    dir_.clear();
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
    ASSERT_GT(pid_, 0);
  }

  // After each test: the server is still running and ready.
  void TearDown() override {
    if (!skip_.empty() || !error_.empty()) return;
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, WNOHANG), 0) << "the server died:\n" << read_file(server_log_);
    EXPECT_EQ(http_get(http_port_, "/v2/health/ready"), 200);
  }

  static std::string repo() { return dir_ + "/repo"; }
  static std::string http_url() { return "127.0.0.1:" + std::to_string(http_port_); }
  static std::string grpc_url() { return "127.0.0.1:" + std::to_string(grpc_port_); }

  // Runs client.py with args (bounded by `timeout`), returning its JSON.
  static Json client(const std::string& args, int timeout_s = 240) {
    std::string out;
    int rc = run("timeout " + std::to_string(timeout_s) + " " + shell_quoted(python()) + " " +
                     shell_quoted(here() + "/client.py") + " " + args,
                 &out, log_);
    if (rc != 0) {
      ADD_FAILURE() << "client.py " << args << " exited with " << rc << ":\n"
                    << read_file(log_) << "\nserver log:\n" << read_file(server_log_);
      return Json();
    }
    try {
      return Json::parse(out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "client.py " << args << " printed no JSON: " << out;
      return Json();
    }
  }

  // Sends inputs to model over protocol; returns the outputs by name.
  static std::map<std::string, at::Tensor> infer(const std::string& protocol, const std::string& model,
                                                 const std::vector<std::pair<std::string, at::Tensor>>& inputs) {
    Json spec;
    spec["inputs"] = Json::array();
    for (const auto& [name, t] : inputs) {
      std::string file = dir_ + "/" + model + "_" + name + ".bin";
      write_raw(t, file);
      spec["inputs"].push_back({{"name", name},
                                {"datatype", t.scalar_type() == at::kFloat ? "FP32" : "INT64"},
                                {"shape", t.sizes().vec()},
                                {"file", file}});
    }
    const std::string spec_file = dir_ + "/" + model + "_spec.json";
    std::ofstream(spec_file) << spec.dump();
    std::string out_dir = dir_ + "/" + model + "_out";
    fs::create_directories(out_dir);
    Json result = client("infer " + shell_quoted(protocol == "http" ? http_url() : grpc_url()) + " " +
                         protocol + " " + model + " " + shell_quoted(spec_file) + " " + shell_quoted(out_dir));
    std::map<std::string, at::Tensor> outs;
    if (!result.contains("outputs")) return outs;
    for (const auto& [name, o] : result["outputs"].items()) {
      const std::string type = o["datatype"].get<std::string>();
      at::ScalarType dtype = type == "FP32"    ? at::kFloat
                             : type == "INT32" ? at::kInt
                                               : at::kLong;
      outs[name] = read_raw(o["file"].get<std::string>(), dtype, shape_of(o["shape"]));
    }
    return outs;
  }

  static Json stats(const std::string& model) {
    return client("stats " + shell_quoted(http_url()) + " " + model);
  }

  static std::string dir_, log_, server_log_, skip_, error_;
  static pid_t pid_;
  static int http_port_, grpc_port_;
};

std::string TritonServer::dir_, TritonServer::log_, TritonServer::server_log_, TritonServer::skip_,
    TritonServer::error_;
pid_t TritonServer::pid_ = -1;
int TritonServer::http_port_ = 0, TritonServer::grpc_port_ = 0;

void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  ASSERT_EQ(got.scalar_type(), want.scalar_type()) << what;
  EXPECT_TRUE(at::allclose(got, want, rtol, atol))
      << what << ": max difference " << (got - want).abs().max().item<double>();
}

TEST_F(TritonServer, OutputsEqualFxForwardOverHttpAndGrpc) {
  // The MLP block from its .fxgm file, batch 3.
  auto mlp = fx::load(repo() + "/mlp/1/model.fxgm");
  at::Tensor x = at::randn({3, 16, 64});
  at::Tensor y = mlp->forward({x}).toTensor();
  // resnet18 as TorchScript; the server optimized it at load, fx's plain forward is the reference.
  auto resnet = fx::load_torchscript(repo() + "/resnet18/1/model.pt");
  at::Tensor image = at::randn({2, 3, 224, 224});
  at::Tensor logits = resnet->forward({image}).toTensor();
  // Two inputs, two outputs of different dtypes, from the torch.export archive.
  auto two = fx::load_exported(repo() + "/two_out/1/model.pt2");
  at::Tensor a = at::randn({5, 6}), b = at::randn({5, 6});
  auto two_out = two->forward({a, b}).toTupleRef().elements();

  for (const std::string protocol : {"http", "grpc"}) {
    SCOPED_TRACE(protocol);
    auto m = infer(protocol, "mlp", {{"x", x}});
    ASSERT_TRUE(m.count("y"));
    expect_close(m["y"], y, 1e-5, 1e-5, "mlp");
    auto r = infer(protocol, "resnet18", {{"image", image}});
    ASSERT_TRUE(r.count("logits"));
    double scale = logits.abs().max().item<double>();
    expect_close(r["logits"], logits, 1e-3, 1e-3 * scale, "resnet18");
    auto t = infer(protocol, "two_out", {{"a", a}, {"b", b}});
    ASSERT_TRUE(t.count("mixed") && t.count("greater"));
    expect_close(t["mixed"], two_out[0].toTensor(), 1e-5, 1e-6, "two_out mixed");
    EXPECT_TRUE(at::equal(t["greater"], two_out[1].toTensor())) << "two_out greater";
  }
}

TEST_F(TritonServer, BadRequestsGetErrorsAndTheServerCarriesOn) {
  Json r = client("bad " + shell_quoted(http_url()) + " " + shell_quoted(grpc_url()));
  ASSERT_TRUE(r.contains("cases"));
  EXPECT_EQ(r["cases"].size(), 14u);
  for (const Json& c : r["cases"]) {
    std::string what = c["protocol"].get<std::string>() + ": " + c["name"].get<std::string>();
    ASSERT_FALSE(c["error"].is_null()) << what << " was answered";
    const std::string message = c["error"].get<std::string>();
    // Triton checks some requests itself before they reach the backend; the messages of both
    // name what is wrong.
    std::string needle;
    if (c["name"] == "wrong dtype") needle = "FP64";
    if (c["name"] == "missing input") needle = "'b'";
    if (c["name"] == "unknown input") needle = "'c'";
    if (c["name"] == "fails in forward") needle = "input out of range";
    EXPECT_NE(message.find(needle), std::string::npos) << what << ": " << message;
  }
  EXPECT_TRUE(r["ready"].get<bool>());
  EXPECT_TRUE(r["good_after"].get<bool>());
}

TEST_F(TritonServer, DynamicBatchingStacksRequests) {
  // Many small concurrent requests: with a queue delay, the batcher must group them.
  const std::string pool_file = dir_ + "/mlp_pool_small.json";
  auto mlp = fx::load(repo() + "/mlp/1/model.fxgm");
  Json pool = {{"input_name", "x"}, {"output_name", "y"}, {"input_shape", {1, 16, 64}},
               {"output_shape", {1, 16, 64}}, {"items", Json::array()}};
  for (int i = 0; i < 8; ++i) {
    at::Tensor x = at::randn({1, 16, 64});
    std::string in = dir_ + "/batch_in" + std::to_string(i) + ".bin";
    std::string out = dir_ + "/batch_out" + std::to_string(i) + ".bin";
    write_raw(x, in);
    write_raw(mlp->forward({x}).toTensor(), out);
    pool["items"].push_back({{"input", in}, {"expected", out}});
  }
  std::ofstream(pool_file) << pool.dump();
  Json mlp_before = stats("mlp");
  Json r = client("load " + shell_quoted(http_url()) + " " + shell_quoted(grpc_url()) + " mlp " +
                  shell_quoted(pool_file) + " 8 25");
  Json mlp_after = stats("mlp");
  ASSERT_TRUE(r.contains("correct"));
  EXPECT_EQ(r["correct"].get<int>(), 200) << r.dump();
  int64_t inferences = mlp_after["inference_count"].get<int64_t>() - mlp_before["inference_count"].get<int64_t>();
  int64_t executions = mlp_after["execution_count"].get<int64_t>() - mlp_before["execution_count"].get<int64_t>();
  std::printf("mlp: %lld requests in %lld executions\n", static_cast<long long>(inferences),
              static_cast<long long>(executions));
  EXPECT_EQ(inferences, 200);
  EXPECT_GT(executions, 0);
  EXPECT_LT(executions, inferences) << "no request was batched with another";
}

TEST_F(TritonServer, SixteenClientsTwoHundredRequestsEachNothingLost) {
  auto mlp = fx::load(repo() + "/mlp/1/model.fxgm");
  const std::string pool_file = dir_ + "/mlp_pool.json";
  Json pool = {{"input_name", "x"}, {"output_name", "y"}, {"input_shape", {1, 16, 64}},
               {"output_shape", {1, 16, 64}}, {"items", Json::array()}};
  for (int i = 0; i < 32; ++i) {
    at::Tensor x = at::randn({1, 16, 64});
    std::string in = dir_ + "/pool_in" + std::to_string(i) + ".bin";
    std::string out = dir_ + "/pool_out" + std::to_string(i) + ".bin";
    write_raw(x, in);
    write_raw(mlp->forward({x}).toTensor(), out);
    pool["items"].push_back({{"input", in}, {"expected", out}});
  }
  std::ofstream(pool_file) << pool.dump();
  Json before = stats("mlp");
  Json r = client("load " + shell_quoted(http_url()) + " " + shell_quoted(grpc_url()) + " mlp " +
                  shell_quoted(pool_file) + " 16 200");
  Json after = stats("mlp");
  ASSERT_TRUE(r.contains("sent"));
  EXPECT_EQ(r["sent"].get<int>(), 3200);
  EXPECT_EQ(r["answered"].get<int>(), 3200) << r["failures"].dump();
  EXPECT_EQ(r["correct"].get<int>(), 3200) << r["failures"].dump();
  EXPECT_EQ(after["success"].get<int64_t>() - before["success"].get<int64_t>(), 3200);
  EXPECT_EQ(after["inference_count"].get<int64_t>() - before["inference_count"].get<int64_t>(), 3200);
}

TEST_F(TritonServer, RepositoryLoadUnloadReload) {
  Json r = client("repo " + shell_quoted(http_url()) + " " + shell_quoted(grpc_url()) + " two_out");
  ASSERT_TRUE(r.contains("steps"));
  ASSERT_EQ(r["steps"].size(), 6u) << r.dump();
  for (const Json& s : r["steps"]) {
    const std::string step = s["step"].get<std::string>();
    const bool loaded = step.rfind("unloaded", 0) != 0;
    EXPECT_EQ(s["ready"].get<bool>(), loaded) << step;
    EXPECT_EQ(s["infer"].get<bool>(), loaded) << step;
    EXPECT_EQ(s["state"].get<std::string>(), loaded ? "READY" : "UNAVAILABLE") << step;
  }
  EXPECT_TRUE(r["server_ready"].get<bool>());
}

}  // namespace
