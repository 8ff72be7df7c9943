// CUDA row kernels (Note [Row kernels] in jit/kernel.h) for NVRTC. The
// statements are the host row kernel's; what differs is who walks a row:
//   'w': one warp per row (rows up to a few thousand elements): the 32 lanes
//        stride over the row, each level's reductions combine the lanes with
//        butterfly shuffles (every lane ends with the row's value); a block's
//        warps take consecutive rows and the grid strides over the rest;
//   'b': one block per row: its threads stride over the row (however long:
//        a very long row is accumulated by the block looping over it), then
//        the warps' shuffle results meet in shared memory and every warp
//        reduces those again, so every thread has the value; the grid strides
//        over rows.
// Half and bfloat16 are computed and accumulated in float (double in double).
// With vec > 1 every contiguous walk (argument or full-size output) is read
// and written as aligned vectors of vec elements, then a scalar tail; the
// launcher picks vec only when every such walk's base and row starts are
// aligned. The max and min combine propagates NaN as ATen does; sums of a
// row are a tree of per-thread partial sums.
#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "ir/error.h"
#include "jit/kernel.h"
#include "jit/ops.h"

namespace fx::jit {
namespace {

std::string load_of(c10::ScalarType dtype, const std::string& ref) {
  if (dtype == c10::ScalarType::Half) return "fx_half_to_float(" + ref + ")";
  if (dtype == c10::ScalarType::BFloat16) return "fx_bf16_to_float(" + ref + ")";
  return ref;
}

std::string store_of(c10::ScalarType dtype, const std::string& value) {
  if (dtype == c10::ScalarType::Half) return "fx_float_to_half(" + value + ")";
  if (dtype == c10::ScalarType::BFloat16) return "fx_float_to_bf16(" + value + ")";
  return value;
}

// Device helpers of every row kernel: the combines and the warp and block
// reductions.
const char* kRowHelpers = R"(
template <typename T> FX_INLINE T fx_rmax(T acc, T v) { return (v > acc || v != v) ? v : acc; }
template <typename T> FX_INLINE T fx_rmin(T acc, T v) { return (v < acc || v != v) ? v : acc; }
struct FxSum { template <typename T> static FX_INLINE T f(T a, T b) { return a + b; } };
struct FxMax { template <typename T> static FX_INLINE T f(T a, T b) { return fx_rmax(a, b); } };
struct FxMin { template <typename T> static FX_INLINE T f(T a, T b) { return fx_rmin(a, b); } };
// All 32 lanes take part and all end with the same value.
template <typename Op, typename T> FX_INLINE T fx_warp_reduce(T v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) v = Op::f(v, __shfl_xor_sync(0xffffffffu, v, m));
  return v;
}
// All threads of the block take part and all end with the same value; smem
// holds 32 values and may be reused by the next call.
template <typename Op, typename T> FX_INLINE T fx_block_reduce(T v, T identity, T* smem) {
  v = fx_warp_reduce<Op>(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x >> 5) ? smem[lane] : identity;
  return fx_warp_reduce<Op>(v);
}
)";

}  // namespace

std::string cuda_row_source(const KernelSpec& spec, const Variant& variant, bool index32) {
  FX_INTERNAL_ASSERT(spec.is_rows(), "cuda_row_source of a kernel without a reduction stage");
  FX_INTERNAL_ASSERT(variant.row_mode == 'w' || variant.row_mode == 'b',
                     "CUDA row kernel variant without a row mode: " + variant.key());
  const std::vector<RowStmt>& st = spec.rows;
  const size_t nin = spec.inputs.size(), nout = spec.outputs.size();
  const int RO = variant.rank;
  const int vec = std::max(1, variant.vec);
  const bool block = variant.row_mode == 'b';
  std::vector<size_t> full_out_ids;
  for (size_t o = 0; o < nout; ++o)
    if (spec.out_view[o] == 'f') full_out_ids.push_back(o);
  const size_t nw = nin + full_out_ids.size();
  FX_INTERNAL_ASSERT(variant.pattern.size() == nw + 1,
                     "CUDA row kernel variant " + variant.key() + " does not fit its spec");
  auto walk_of = [&](size_t w) { return variant.pattern[w < nin ? w : w + 1]; };

  std::ostringstream os;
  os << "// fx fused row kernel " << spec.name << " for NVRTC (nodes";
  for (const auto& m : spec.members) os << " " << m;
  os << "; reductions";
  for (const auto& m : spec.reductions) os << " " << m;
  os << "), variant " << variant.key() << (index32 ? " (32-bit indexing)" : " (64-bit indexing)")
     << "\n";
  os << kernel_prelude() << kRowHelpers;
  os << "\nstruct FxRowArgs {\n  void* ptr[" << nin + nout << "];\n  long long size[" << RO + 1
     << "];\n  long long stride[" << nw * (RO + 1) << "];\n  long long rows;\n};\n";
  if (vec > 1)
    os << "template <typename T, int N> struct alignas(sizeof(T) * N) FxVec { T v[N]; };\n";
  os << "typedef " << (index32 ? "int" : "long long") << " index_t;\n";
  os << "extern \"C\" __global__ void __launch_bounds__(1024) fx_kernel(const FxRowArgs args) {\n";
  for (size_t a = 0; a < nin; ++a)
    os << "  const " << storage_ctype(spec.inputs[a]) << "* __restrict__ in" << a << " = (const "
       << storage_ctype(spec.inputs[a]) << "*)args.ptr[" << a << "];\n";
  for (size_t o = 0; o < nout; ++o)
    os << "  " << storage_ctype(spec.outputs[o]) << "* __restrict__ out" << o << " = ("
       << storage_ctype(spec.outputs[o]) << "*)args.ptr[" << nin + o << "];\n";
  // nrow: one row's length; n: what is reduced together (row_group rows).
  const int64_t GR = spec.row_group;
  os << "  const index_t nrow = (index_t)args.size[" << RO << "];\n";
  os << "  const index_t n = nrow" << (GR > 1 ? " * " + std::to_string(GR) : "") << ";\n";
  os << "  const index_t rows = (index_t)args.rows;\n";
  // Shared memory of the block reductions, one array per accumulator type.
  std::set<std::string> red_types;
  for (const RowStmt& s : st)
    if (!s.full() && s.kind != RowStmt::kRow) red_types.insert(s.ctype);
  auto smem = [](const std::string& T) {
    return "fx_smem_" + std::string(T == "double" ? "d" : "f");
  };
  if (block) {
    for (const std::string& T : red_types)
      os << "  __shared__ " << T << " " << smem(T) << "[32];\n";
    os << "  const index_t tid = (index_t)threadIdx.x;\n";
    os << "  const index_t tpr = (index_t)blockDim.x;\n";
    os << "  for (index_t o0 = (index_t)blockIdx.x * " << GR
       << "; o0 < rows; o0 += (index_t)gridDim.x * " << GR << ") {\n";
  } else {
    os << "  const index_t tid = (index_t)(threadIdx.x & 31);\n";
    os << "  const index_t tpr = 32;\n";
    os << "  const index_t warps = (index_t)(blockDim.x >> 5);\n";
    os << "  for (index_t o0 = ((index_t)blockIdx.x * warps + (index_t)(threadIdx.x >> 5)) * " << GR
       << "; o0 < rows;\n       o0 += (index_t)gridDim.x * warps * " << GR << ") {\n";
  }
  // Row o's walkers (p<a>, s<a>, q<o>, so<o>); its level-0 row values follow
  // (emit_rows(0)).
  auto setup = [&] {
    // Offsets of each walker's row from the outer index.
    for (size_t w = 0; w < nw; ++w) os << "    index_t off" << w << " = 0;\n";
    if (RO > 0) {
      os << "    index_t rem = o;\n";
      os << "#pragma unroll\n    for (int d = " << RO - 1 << "; d >= 0; --d) {\n";
      os << "      const index_t idx = rem % (index_t)args.size[d];\n      rem /= "
            "(index_t)args.size[d];\n";
      for (size_t w = 0; w < nw; ++w)
        os << "      off" << w << " += idx * (index_t)args.stride[" << w * (RO + 1) << " + d];\n";
      os << "    }\n";
    }
    for (size_t a = 0; a < nin; ++a) {
      os << "    const " << storage_ctype(spec.inputs[a]) << "* __restrict__ p" << a << " = in" << a
         << " + off" << a << ";\n";
      if (walk_of(a) == 's')
        os << "    const index_t s" << a << " = (index_t)args.stride[" << a * (RO + 1) + RO
           << "];\n";
    }
    for (size_t f = 0; f < full_out_ids.size(); ++f) {
      const size_t o = full_out_ids[f], w = nin + f;
      os << "    " << storage_ctype(spec.outputs[o]) << "* __restrict__ q" << o << " = out" << o
         << " + off" << w << ";\n";
      if (walk_of(w) == 's')
        os << "    const index_t so" << o << " = (index_t)args.stride[" << w * (RO + 1) + RO
           << "];\n";
    }
  };
  // Whether argument a is read as a vector in the vector part of a walk.
  auto vector_arg = [&](size_t a) {
    return vec > 1 && spec.arg_view[a] == 'f' && walk_of(a) == 'c';
  };
  // The value of statement i at element j (`in_vector`: inside the vector
  // part, lane u of vector v).
  auto expr_of = [&](int i, bool in_vector) {
    const RowStmt& s = st[i];
    if (s.expr.empty() || s.expr[0] != '@') return s.expr;
    const size_t a = std::stoul(s.expr.substr(1));
    const std::string as = std::to_string(a);
    std::string ref;
    if (spec.arg_view[a] != 'f' || walk_of(a) == 'b')
      ref = "p" + as + "[0]";
    else if (in_vector && vector_arg(a))
      ref = "l" + as + ".v[u]";
    else if (walk_of(a) == 'c')
      ref = "p" + as + "[j]";
    else
      ref = "p" + as + "[j * s" + as + "]";
    return load_of(spec.inputs[a], ref);
  };
  auto decl = [&](int i, bool in_vector, const std::string& indent) {
    return indent + "const " + st[i].ctype + " v" + std::to_string(i) + " = " +
           expr_of(i, in_vector) + ";  // " + st[i].comment + "\n";
  };
  // The full statements roots need, in order.
  auto closure = [&](const std::vector<int>& roots) {
    std::set<int> need;
    std::vector<int> stack(roots);
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      if (!st[i].full() || !need.insert(i).second) continue;
      for (int d : st[i].deps) stack.push_back(d);
    }
    return std::vector<int>(need.begin(), need.end());
  };
  // A walk over the row: `body(in_vector, indent)` gives the statements of one
  // element j; with vec > 1 the vector part loads the vector arguments first
  // and `after_vector` (stores) follows each vector.
  auto walk = [&](const std::vector<int>& body_stmts,
                  const std::function<std::string(bool, const std::string&)>& tail_stmts,
                  const std::string& before_vector, const std::string& after_vector) {
    std::string tail_start = "0";
    if (vec > 1) {
      os << "    {\n      const index_t nv = nrow / " << vec << ";\n";
      os << "      for (index_t vi = tid; vi < nv; vi += tpr) {\n";
      std::set<size_t> loaded;
      for (int i : body_stmts)
        if (!st[i].expr.empty() && st[i].expr[0] == '@') {
          const size_t a = std::stoul(st[i].expr.substr(1));
          if (!vector_arg(a) || !loaded.insert(a).second) continue;
          const std::string vt = std::string("FxVec<") + storage_ctype(spec.inputs[a]) + ", " +
                                 std::to_string(vec) + ">";
          os << "        const " << vt << " l" << a << " = ((const " << vt << "*)p" << a
             << ")[vi];\n";
        }
      os << before_vector;
      os << "#pragma unroll\n        for (int u = 0; u < " << vec << "; ++u) {\n";
      os << "          const index_t j = vi * " << vec << " + u;\n          (void)j;\n";
      for (int i : body_stmts) os << decl(i, true, "          ");
      os << tail_stmts(true, "          ");
      os << "        }\n" << after_vector << "      }\n    }\n";
      tail_start = "(nrow / " + std::to_string(vec) + ") * " + std::to_string(vec);
    }
    os << "    for (index_t j = " << tail_start << " + tid; j < nrow; j += tpr) {\n";
    for (int i : body_stmts) os << decl(i, false, "      ");
    os << tail_stmts(false, "      ");
    os << "    }\n";
  };
  auto emit_rows = [&](int level) {
    for (size_t i = 0; i < st.size(); ++i)
      if (st[i].kind == RowStmt::kRow && st[i].level == level)
        os << decl(static_cast<int>(i), false, "    ");
  };
  int levels = 0;
  for (const RowStmt& s : st)
    if (!s.full() && s.kind != RowStmt::kRow) levels = std::max(levels, s.level);
  // A group's rows, each walked in turn (row_group > 1); else row o0 alone.
  auto each_row = [&](const std::function<void()>& body) {
    if (GR == 1) {
      body();
      return;
    }
    os << "    for (index_t o = o0; o < o0 + " << GR << "; ++o) {\n";
    setup();
    emit_rows(0);
    body();
    os << "    }\n";
  };
  if (GR == 1) {
    os << "    const index_t o = o0;\n";
    setup();
    emit_rows(0);
  }
  for (int level = 1; level <= levels; ++level) {
    std::vector<int> reds, operands;
    for (size_t i = 0; i < st.size(); ++i)
      if (!st[i].full() && st[i].kind != RowStmt::kRow && st[i].level == level) {
        reds.push_back(static_cast<int>(i));
        operands.push_back(st[i].deps[0]);
      }
    if (reds.empty()) {
      emit_rows(level);
      continue;
    }
    auto identity = [&](int i) {
      const std::string& T = st[i].ctype;
      if (st[i].kind == RowStmt::kSum) return "(" + T + ")0";
      return std::string(st[i].kind == RowStmt::kMax ? "-" : "") + "(" + T + ")fx_inf()";
    };
    auto op = [&](int i) {
      return std::string(st[i].kind == RowStmt::kSum   ? "FxSum"
                         : st[i].kind == RowStmt::kMax ? "FxMax"
                                                       : "FxMin");
    };
    for (int i : reds) os << "    " << st[i].ctype << " acc" << i << " = " << identity(i) << ";\n";
    each_row([&] {
      walk(
          closure(operands),
          [&](bool, const std::string& indent) {
            std::string out;
            for (int i : reds)
              out += indent + "acc" + std::to_string(i) + " = " + op(i) + "::f(acc" +
                     std::to_string(i) + ", v" + std::to_string(st[i].deps[0]) + ");\n";
            return out;
          },
          "", "");
    });
    for (int i : reds) {
      const std::string is = std::to_string(i);
      if (block)
        os << "    const " << st[i].ctype << " v" << is << " = fx_block_reduce<" << op(i) << ">(acc"
           << is << ", " << identity(i) << ", " << smem(st[i].ctype) << ");  // " << st[i].comment
           << "\n";
      else
        os << "    const " << st[i].ctype << " v" << is << " = fx_warp_reduce<" << op(i) << ">(acc"
           << is << ");  // " << st[i].comment << "\n";
    }
    emit_rows(level);
  }
  // Full-size outputs: one more walk.
  std::vector<int> full_outs;
  for (size_t o : full_out_ids) full_outs.push_back(spec.out_stmt[o]);
  if (!full_outs.empty()) {
    std::string before, after;
    for (size_t f = 0; f < full_out_ids.size(); ++f) {
      const size_t o = full_out_ids[f];
      if (vec > 1 && walk_of(nin + f) == 'c') {
        const std::string vt = std::string("FxVec<") + storage_ctype(spec.outputs[o]) + ", " +
                               std::to_string(vec) + ">";
        before += "        " + vt + " t" + std::to_string(o) + ";\n";
        after +=
            "        ((" + vt + "*)q" + std::to_string(o) + ")[vi] = t" + std::to_string(o) + ";\n";
      }
    }
    each_row([&] {
      walk(
          closure(full_outs),
          [&](bool in_vector, const std::string& indent) {
            std::string out;
            for (size_t f = 0; f < full_out_ids.size(); ++f) {
              const size_t o = full_out_ids[f];
              const std::string os_ = std::to_string(o);
              const char w = walk_of(nin + f);
              std::string dst = in_vector && vec > 1 && w == 'c' ? "t" + os_ + ".v[u]"
                                : w == 'c'                       ? "q" + os_ + "[j]"
                                           : "q" + os_ + "[j * so" + os_ + "]";
              out += indent + dst + " = " +
                     store_of(spec.outputs[o], "(" + std::string(compute_ctype(spec.outputs[o])) +
                                                   ")v" + std::to_string(spec.out_stmt[o])) +
                     ";\n";
            }
            return out;
          },
          before, after);
    });
  }
  // Row outputs: one thread of the row stores them.
  bool row_outs = false;
  for (size_t o = 0; o < nout; ++o) row_outs = row_outs || spec.out_view[o] != 'f';
  if (row_outs) {
    os << "    if (tid == 0) {\n";
    for (size_t o = 0; o < nout; ++o)
      if (spec.out_view[o] != 'f')
        os << "      out" << o << "[o] = "
           << store_of(spec.outputs[o], "(" + std::string(compute_ctype(spec.outputs[o])) + ")v" +
                                            std::to_string(spec.out_stmt[o]))
           << ";\n";
    os << "    }\n";
  }
  os << "  }\n}\n";
  return os.str();
}

}  // namespace fx::jit
