// fx_service: what a C++ inference service does with fx. Loads a model saved
// with fx::save (or `fxjit save`), then serves requests from several threads
// at once on one shared GraphModule, and reports latency.
//   usage: fx_service MODEL.fxgm SHAPE [THREADS] [REQUESTS]     (SHAPE like 3x4)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "ir/error.h"
#include "runtime/graph_module.h"
#include "serialize/serialize.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: fx_service MODEL.fxgm SHAPE [THREADS] [REQUESTS]\n");
    return 2;
  }
  std::vector<int64_t> shape;
  for (size_t start = 0, x; start <= std::string(argv[2]).size(); start = x + 1) {
    std::string s = argv[2];
    x = s.find('x', start);
    if (x == std::string::npos) x = s.size();
    shape.push_back(std::stoll(s.substr(start, x - start)));
  }
  int threads = argc > 3 ? std::stoi(argv[3]) : 4;
  int requests = argc > 4 ? std::stoi(argv[4]) : 100;
  try {
    std::unique_ptr<fx::GraphModule> model = fx::load(argv[1]);
    at::Tensor probe = at::randn(shape);
    at::Tensor reference = model->forward({probe}).toTensor();
    std::atomic<int> wrong{0};
    std::vector<double> latencies(static_cast<size_t>(threads) * requests);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int r = 0; r < requests; ++r) {
          auto start = std::chrono::steady_clock::now();
          at::Tensor out = model->forward({probe}).toTensor();
          latencies[static_cast<size_t>(t) * requests + r] =
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count();
          if (!at::equal(out, reference)) ++wrong;
        }
      });
    }
    for (auto& th : pool) th.join();
    std::sort(latencies.begin(), latencies.end());
    std::printf("served %zu requests on %d threads: p50 %.1f us, p99 %.1f us, %d mismatches\n",
                latencies.size(), threads, latencies[latencies.size() / 2],
                latencies[latencies.size() * 99 / 100], wrong.load());
    return wrong.load() == 0 ? 0 : 1;
  } catch (const fx::Error& e) {
    std::fprintf(stderr, "fx_service: %s\n", e.what());
    return 1;
  }
}
