// Tracing in a process where an out-of-tree backend owns PrivateUse1 (as
// several accelerator plugins do): the test registers a dummy backend there,
// with a device guard and kernels that count their calls, then traces. The
// tracer's proxies must not be tensors of that device: no kernel or device
// guard of the backend runs while tracing, the graph is the same as without
// the backend, and a model that really moves a tensor to the backend's
// device records that device. CTest runs each suite in its own process, so
// the registration stays in this suite.
#include <atomic>

#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gtest/gtest.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "capture/tracer.h"
#include "ir/error.h"

namespace fx {
namespace {

std::atomic<int> guard_calls{0};
std::atomic<int> kernel_calls{0};

// A device guard that counts every call that would touch the device.
struct DummyGuard final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return c10::DeviceType::PrivateUse1; }
  c10::Device exchangeDevice(c10::Device d) const override {
    ++guard_calls;
    return d;
  }
  c10::Device getDevice() const override {
    ++guard_calls;
    return c10::Device(c10::DeviceType::PrivateUse1, 0);
  }
  void setDevice(c10::Device) const override { ++guard_calls; }
  void uncheckedSetDevice(c10::Device) const noexcept override { ++guard_calls; }
  c10::Stream getStream(c10::Device d) const override {
    ++guard_calls;
    return c10::Stream(c10::Stream::DEFAULT, d);
  }
  c10::Stream exchangeStream(c10::Stream s) const override {
    ++guard_calls;
    return s;
  }
  c10::DeviceIndex deviceCount() const noexcept override { return 1; }
};

// The backend's hooks: built, but no device is available now (so LibTorch's
// generic code, e.g. manual_seed, leaves it alone in other tests of this binary).
struct DummyHooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return false; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return false; }
};

void count_and_fail(const c10::OperatorHandle& op, torch::jit::Stack*) {
  ++kernel_calls;
  TORCH_CHECK(false, "the dummy PrivateUse1 backend ran ", op.operator_name());
}

class TracePrivateUse1 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!c10::is_privateuse1_backend_registered()) c10::register_privateuse1_backend("fxdummy");
    if (!at::isPrivateUse1HooksRegistered()) at::RegisterPrivateUse1HooksInterface(new DummyHooks());
    static c10::impl::DeviceGuardImplRegistrar guard(c10::DeviceType::PrivateUse1,
                                                     new DummyGuard());
    // Every operator on PrivateUse1 counts and fails.
    static torch::Library kernels(torch::Library::IMPL, "_", c10::DispatchKey::PrivateUse1,
                                  __FILE__, __LINE__);
    static bool once = [] {
      kernels.fallback(torch::CppFunction::makeFromBoxedFunction<&count_and_fail>());
      return true;
    }();
    (void)once;
  }
  void SetUp() override {
    guard_calls = 0;
    kernel_calls = 0;
  }
};

TEST_F(TracePrivateUse1, NothingOfTheBackendRunsWhileTracing) {
  torch::nn::Linear linear(4, 5);
  auto fn = [&](std::vector<c10::IValue> in) {
    torch::Tensor x = in[0].toTensor();
    torch::Tensor y = linear(x + 1).relu();
    torch::Tensor z = torch::zeros_like(y) + torch::ones({3, 5}, y.options());
    return c10::IValue(y.to(x.device()) * z);
  };
  auto gm = symbolic_trace(*linear, fn, {torch::randn({3, 4})});
  EXPECT_EQ(kernel_calls.load(), 0);
  EXPECT_EQ(guard_calls.load(), 0);
  // Every device the graph records is the CPU the example lives on.
  std::string text = gm->graph().str();
  EXPECT_EQ(text.find("fxdummy"), std::string::npos) << text;
  EXPECT_EQ(text.find("privateuseone"), std::string::npos) << text;
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose((*gm)(x).toTensor(), fn({x}).toTensor()));
}

TEST_F(TracePrivateUse1, AMoveToTheBackendIsRecordedAsSuch) {
  auto fn = [](std::vector<c10::IValue> in) {
    return c10::IValue(in[0].toTensor().to(c10::Device(c10::DeviceType::PrivateUse1, 0)));
  };
  auto gm = symbolic_trace(fn, {torch::randn({2})});
  std::string text = gm->graph().str();
  EXPECT_NE(text.find("device: fxdummy:0"), std::string::npos) << text;
  EXPECT_EQ(kernel_calls.load(), 0);
}

}  // namespace
}  // namespace fx
