// Note [CUDA kernel arguments] (jit/cuda_args.h): the launcher's packed words
// and the generated kernel's FxArgs agree. Without a GPU: each value lands in
// the word the layout names, and NVRTC compiles every generated kernel with
// static_asserts placing FxArgs' fields (and its stride indexing) exactly
// where the packer put their values, found by searching the packed words for
// distinct markers, not by asking CudaArgs. With a GPU the FuseCudaRun tests
// (cuda_test.cpp) run the kernels themselves.
#include "jit/cuda_args.h"

#include <algorithm>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "jit/fuse.h"
#include "jit/fused_kernel.h"
#include "jit/nvrtc.h"
#include "runtime/shape_prop.h"

namespace fx::jit {
namespace {

// Distinct markers: pointer k, size d, stride (k, d), n.
void* ptr_marker(size_t k) { return reinterpret_cast<void*>(uintptr_t{0x100000} * (k + 1)); }
int64_t size_marker(int64_t d) { return 1000 + d; }
int64_t stride_marker(int64_t k, int64_t d) { return 20000 + 100 * k + d; }
constexpr int64_t kN = 7777777;

struct Packed {
  std::vector<int64_t> words;
  int64_t rank = 1;
};

Packed pack_markers(const KernelSpec& spec, const Variant& v) {
  const CudaArgs a = cuda_args(spec, v);
  std::vector<void*> ptrs;
  for (size_t k = 0; k < spec.inputs.size() + spec.outputs.size(); ++k)
    ptrs.push_back(ptr_marker(k));
  const int64_t rank = v.flat ? 1 : v.rank;
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> strides(spec.inputs.size());
  for (int64_t d = 0; d < rank; ++d) {
    sizes.push_back(size_marker(d));
    for (size_t k = 0; k < spec.inputs.size(); ++k)
      strides[k].push_back(stride_marker(static_cast<int64_t>(k), d));
  }
  return {a.pack(ptrs, v.flat, sizes, strides, kN), rank};
}

// The index of value in words (-1 when it is not there exactly once).
int64_t find_word(const std::vector<int64_t>& words, int64_t value) {
  if (std::count(words.begin(), words.end(), value) != 1) return -1;
  return std::find(words.begin(), words.end(), value) - words.begin();
}

KernelSpec spec_of(const std::string& graph, int inputs) {
  auto gm = std::make_unique<GraphModule>(parse_graph(graph), Attributes{});
  std::vector<c10::IValue> example;
  for (int i = 0; i < inputs; ++i) example.emplace_back(at::randn({8}));
  shape_prop(*gm, example);
  FuseOptions o;
  o.partition.min_group_size = 1;
  auto fused = fuse(*gm, o);
  auto k = std::dynamic_pointer_cast<FusedKernel>(fused->get_submodule("fused_0"));
  EXPECT_TRUE(k);
  return k ? k->spec() : KernelSpec{};
}

// Two inputs, one output.
KernelSpec two_in_one_out() {
  return spec_of(R"(
graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %mul : [#users=1] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %sig : [#users=1] = call_function[target=aten::sigmoid](args = (%mul,), kwargs = {})
    return sig)",
                 2);
}

// Three inputs, two outputs.
KernelSpec three_in_two_out() {
  return spec_of(R"(
graph():
    %x : [#users=1] = placeholder[target=x]
    %y : [#users=1] = placeholder[target=y]
    %z : [#users=1] = placeholder[target=z]
    %mul : [#users=2] = call_function[target=aten::mul.Tensor](args = (%x, %y), kwargs = {})
    %add : [#users=1] = call_function[target=aten::add.Tensor](args = (%mul, %z), kwargs = {})
    return (mul, add))",
                 3);
}

Variant nd(int rank, const std::string& pattern) {
  Variant v;
  v.flat = false;
  v.rank = rank;
  v.pattern = pattern;
  return v;
}

Variant flat(const std::string& pattern, int vec = 1) {
  Variant v;
  v.pattern = pattern;
  v.vec = vec;
  return v;
}

TEST(CudaArgs, PackPutsEachValueInItsWord) {
  const KernelSpec spec = three_in_two_out();
  ASSERT_EQ(spec.inputs.size(), 3u);
  ASSERT_EQ(spec.outputs.size(), 2u);
  const Variant v = nd(4, "scb");
  const CudaArgs a = cuda_args(spec, v);
  EXPECT_EQ(a.rank, 4);
  const Packed p = pack_markers(spec, v);
  ASSERT_EQ(static_cast<int64_t>(p.words.size()), a.words());
  // ptr[5], size[4], stride[12], n
  EXPECT_EQ(a.words(), 5 + 4 + 12 + 1);
  for (size_t k = 0; k < 5; ++k)
    EXPECT_EQ(p.words[a.ptr_word() + k], static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(k))));
  for (int64_t d = 0; d < 4; ++d) {
    EXPECT_EQ(p.words[a.size_word() + d], size_marker(d));
    for (int64_t k = 0; k < 3; ++k)
      EXPECT_EQ(p.words[a.stride_word() + a.stride_index(k, d)], stride_marker(k, d));
  }
  EXPECT_EQ(p.words[a.n_word()], kN);
}

TEST(CudaArgs, FlatKernelsGetNAsTheirOneSize) {
  const KernelSpec spec = two_in_one_out();
  const CudaArgs a = cuda_args(spec, flat("cb", 4));
  EXPECT_EQ(a.rank, 1);
  const Packed p = pack_markers(spec, flat("cb", 4));
  // ptr[3], size[1] = n, stride[2] = 0, n
  const std::vector<int64_t> want = {
      static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(0))),
      static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(1))),
      static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(2))), kN, 0, 0, kN};
  EXPECT_EQ(p.words, want);
}

// A kernel without inputs still has one stride word (no zero-length array).
TEST(CudaArgs, NoInputsStillHaveOneStrideWord) {
  KernelSpec spec;
  spec.outputs = {at::kFloat};
  const CudaArgs a = cuda_args(spec, flat(""));
  EXPECT_EQ(a.stride_words(), 1);
  EXPECT_EQ(a.words(), 1 + 1 + 1 + 1);
  EXPECT_NE(a.declaration().find("long long stride[1];"), std::string::npos) << a.declaration();
  const std::vector<int64_t> words = a.pack({ptr_marker(0)}, true, {}, {}, kN);
  EXPECT_EQ(words, (std::vector<int64_t>{
                       static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(0))), kN, 0,
                       kN}));
}

TEST(CudaArgs, PackRefusesALayoutOfAnotherShape) {
  const KernelSpec spec = two_in_one_out();
  const CudaArgs a = cuda_args(spec, nd(2, "ss"));
  std::vector<void*> ptrs = {ptr_marker(0), ptr_marker(1), ptr_marker(2)};
  EXPECT_THROW(a.pack(ptrs, false, {3, 4, 5}, {{1, 1, 1}, {1, 1, 1}}, 60), InternalError);
  EXPECT_THROW(a.pack({ptr_marker(0)}, false, {3, 4}, {{4, 1}, {4, 1}}, 12), InternalError);
  EXPECT_NO_THROW(a.pack(ptrs, false, {3, 4}, {{4, 1}, {0, 1}}, 12));
}

bool is_ptr_marker(int64_t word, size_t count) {
  for (size_t k = 0; k < count; ++k)
    if (word == static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(k)))) return true;
  return false;
}

// CUDA C++ to append to the kernel's source: a constexpr FxArgs initialised
// from the packed words in order (brace elision fills the fields in their
// declaration order; the pointer words become nullptr, which only a pointer
// field accepts, and the others integers, which a pointer field refuses), and
// static_asserts that each field the kernel reads holds what the packer meant
// for it: n, size[d] (n for flat kernels) and, at the index the kernel's
// source reads input k's stride along d from, stride (k, d).
std::string agreement_checks(const KernelSpec& spec, const Variant& v, const std::string& src,
                             const std::vector<int64_t>& words) {
  const size_t nptr = spec.inputs.size() + spec.outputs.size();
  std::ostringstream os;
  os << "\nconstexpr FxArgs fx_probe = {";
  for (size_t w = 0; w < words.size(); ++w)
    os << (w ? ", " : "")
       << (is_ptr_marker(words[w], nptr) ? std::string("nullptr")
                                         : "(long long)" + std::to_string(words[w]));
  os << "};\n";
  os << "static_assert(sizeof(FxArgs) == " << words.size() * 8 << ", \"FxArgs' size\");\n";
  os << "static_assert(fx_probe.n == " << kN << "LL, \"n\");\n";
  const int64_t rank = v.flat ? 1 : v.rank;
  for (int64_t d = 0; d < rank; ++d)
    os << "static_assert(fx_probe.size[" << d << "] == " << (v.flat ? kN : size_marker(d))
       << "LL, \"size\");\n";
  if (!v.flat)
    for (size_t k = 0; k < spec.inputs.size(); ++k) {
      // The kernel reads input k's strides at args.stride[<first> + d].
      const std::string read = "off" + std::to_string(k) + " += idx * (index_t)args.stride[";
      const size_t at = src.find(read);
      EXPECT_NE(at, std::string::npos) << src;
      if (at == std::string::npos) continue;
      const std::string first = src.substr(at + read.size(), src.find(' ', at + read.size()) -
                                                                 (at + read.size()));
      for (int64_t d = 0; d < rank; ++d)
        os << "static_assert(fx_probe.stride[" << first << " + " << d
           << "] == " << stride_marker(static_cast<int64_t>(k), d) << "LL, \"stride\");\n";
    }
  return os.str();
}

// The generated kernel's FxArgs, checked by NVRTC against the packed words.
TEST(CudaArgs, GeneratedKernelAgreesWithThePackedWords) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  struct Case {
    const char* what;
    KernelSpec spec;
    Variant variant;
  };
  const KernelSpec two = two_in_one_out(), three = three_in_two_out();
  const std::vector<Case> cases = {
      {"flat scalar", two, flat("cb")},
      {"flat vector", two, flat("cc", cuda_vector_width(two, "cc"))},
      {"2-d", two, nd(2, "sc")},
      {"3 inputs, 2 outputs, 4-d", three, nd(4, "bsc")},
      {"3 inputs, 2 outputs, flat", three, flat("ccb")},
  };
  for (const Case& c : cases) {
    for (bool index32 : {true, false}) {
      SCOPED_TRACE(std::string(c.what) + (index32 ? ", 32-bit" : ", 64-bit"));
      const std::string src = cuda_source(c.spec, c.variant, index32);
      const Packed p = pack_markers(c.spec, c.variant);
      // Pointers: input k at ptr[k], output j at ptr[inputs + j], first.
      for (size_t k = 0; k < c.spec.inputs.size() + c.spec.outputs.size(); ++k)
        EXPECT_EQ(find_word(p.words,
                            static_cast<int64_t>(reinterpret_cast<uintptr_t>(ptr_marker(k)))),
                  static_cast<int64_t>(k));
      const std::string checked = src + agreement_checks(c.spec, c.variant, src, p.words);
      EXPECT_NO_THROW(nvrtc_compile(checked, "args", "sm_90")) << checked;
    }
  }
}

// The controls: words packed differently from the declaration fail the
// checks (a stride word missing, two inputs' strides swapped, n moved).
TEST(CudaArgs, MisplacedWordsFailTheCheck) {
  if (!nvrtc_available()) GTEST_SKIP() << "fx was built without the CUDA toolkit";
  const KernelSpec spec = two_in_one_out();
  const Variant v = nd(2, "sc");
  const std::string src = cuda_source(spec, v, true);
  const Packed p = pack_markers(spec, v);
  ASSERT_NO_THROW(nvrtc_compile(src + agreement_checks(spec, v, src, p.words), "good", "sm_90"));
  const CudaArgs a = cuda_args(spec, v);
  std::vector<int64_t> short_strides = p.words;
  short_strides.erase(short_strides.begin() + a.n_word() - 1);
  std::vector<int64_t> swapped = p.words;
  std::swap(swapped[a.stride_word() + a.stride_index(0, 0)],
            swapped[a.stride_word() + a.stride_index(1, 0)]);
  std::vector<int64_t> n_first = p.words;
  std::rotate(n_first.begin() + a.size_word(), n_first.begin() + a.n_word(), n_first.end());
  std::vector<int64_t> pointer_late = p.words;
  std::swap(pointer_late[0], pointer_late[a.size_word()]);
  for (const auto& words : {short_strides, swapped, n_first, pointer_late})
    EXPECT_THROW(nvrtc_compile(src + agreement_checks(spec, v, src, words), "bad", "sm_90"),
                 CompileError);
}

}  // namespace
}  // namespace fx::jit
