// Row kernels (Note [Row kernels] in jit/kernel.h): the spec of a group with a
// reduction stage, and its host C++ source. Each row is walked once per
// reduction level; reductions accumulate in 16 vector lanes over blocks of
// 2048 elements, and a sum's blocks are added in double, so long rows keep
// their precision. The max and min lanes propagate NaN as ATen does.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "ir/error.h"
#include "ir/node.h"
#include "jit/kernel.h"
#include "jit/ops.h"
#include "jit/reductions.h"

namespace fx::jit {
namespace {

constexpr int kLanes = 16;
constexpr int kBlock = 2048;

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

// The shape input `shape` has when read through `view` in a frame of rank r
// reducing k dims: left-padded with 1s, and for 'd' the k reduced 1s appended.
std::vector<int64_t> padded(std::vector<int64_t> shape, char view, int64_t r, int64_t k) {
  const int64_t want = view == 'd' ? r - k : r;
  while (static_cast<int64_t>(shape.size()) < want) shape.insert(shape.begin(), 1);
  if (view == 'd') shape.insert(shape.end(), k, 1);
  return shape;
}

}  // namespace

KernelSpec build_row_spec(const FusionGroup& group, const std::string& name) {
  KernelSpec spec;
  spec.name = name;
  spec.reduce_dims = group.reduce_dims;
  spec.row_group = group.row_group;
  spec.rank = static_cast<int64_t>(group.shape.size());
  const std::vector<int64_t>& S = group.shape;
  const int64_t r = spec.rank, k = spec.reduce_dims;
  std::vector<int64_t> keep = S;
  for (int64_t d = r - k; d < r; ++d) keep[d] = 1;
  std::set<const Node*> members(group.nodes.begin(), group.nodes.end());
  auto role = [&](const Node* n) -> char {
    ReductionInfo info;
    if (node_is_reduction(*n, &info, nullptr)) return info.out_view;
    const auto& s = n->tensor_meta()->shape;
    if (s == S) return 'f';
    if (s == keep) return 'k';
    return 'd';
  };
  // Arguments: one per (group input, view), in first-use order.
  std::map<std::pair<const Node*, char>, int> arg_of;
  auto input_index = [&](const Node* in) {
    auto it = std::find(group.inputs.begin(), group.inputs.end(), in);
    FX_INTERNAL_ASSERT(it != group.inputs.end(), "row group input missing: " + in->name());
    return static_cast<int>(it - group.inputs.begin());
  };
  std::vector<std::pair<const Node*, char>> args;
  // How a reduction reads its input `in`: full-size, or per row (the views
  // 'd' of ReductionInfo::row_operands).
  auto reduction_view = [](const ReductionInfo& info, const Node* in) {
    return std::find(info.row_operands.begin(), info.row_operands.end(), in) !=
                   info.row_operands.end()
               ? 'd'
               : 'f';
  };
  for (const Node* n : group.nodes) {
    ReductionInfo info;
    const bool red = node_is_reduction(*n, &info, nullptr);
    for (const Node* in : n->all_input_nodes()) {
      const char view = red ? reduction_view(info, in) : role(n);
      if (members.count(in) || arg_of.count({in, view})) continue;
      arg_of[{in, view}] = static_cast<int>(args.size());
      args.emplace_back(in, view);
    }
  }
  for (const Node* in : group.inputs) {
    if (!in->tensor_meta())
      throw_node_error(*in, "has no tensor_meta; run shape_prop or trace the module first");
    spec.group_inputs.push_back(in->tensor_meta()->dtype);
  }
  for (const auto& [in, view] : args) {
    const TensorMeta* m = in->tensor_meta();
    if (!m) throw_node_error(*in, "has no tensor_meta; run shape_prop or trace the module first");
    spec.inputs.push_back(m->dtype);
    spec.arg_input.push_back(input_index(in));
    spec.arg_rank.push_back(static_cast<int64_t>(m->shape.size()));
    spec.arg_view += view;
    std::vector<int64_t> p = padded(m->shape, view, r, k);
    if (static_cast<int64_t>(p.size()) != r)
      throw_node_error(*in, "has more dims than the fused row kernel's shape");
    std::string spans;
    for (int64_t d = 0; d < r; ++d) spans += (p[d] == S[d] && S[d] != 1) ? '1' : '0';
    spec.arg_spans.push_back(spans);
  }
  RowBuilder b(&spec.rows);
  for (size_t a = 0; a < args.size(); ++a) {
    RowStmt s;
    s.kind = spec.arg_view[a] == 'f' ? RowStmt::kFull : RowStmt::kRow;
    s.ctype = compute_ctype(spec.inputs[a]);
    s.expr = "@" + std::to_string(a);
    s.comment = args[a].first->name();
    spec.rows.push_back(std::move(s));
  }
  std::map<const Node*, int> value_of;
  std::map<const Node*, std::vector<int>> items_of;  // tuple-valued reductions
  for (const Node* n : group.nodes) {
    spec.members.push_back(n->name());
    ReductionInfo info;
    if (node_is_reduction(*n, &info, nullptr)) {
      spec.reductions.push_back(n->name());
      if (!info.fixed_reduced.empty()) spec.fixed_reduced = info.fixed_reduced;
      value_of[n] = emit_reduction(
          *n,
          [&](const Node* in) {
            if (members.count(in)) return value_of.at(in);
            return arg_of.at({in, reduction_view(info, in)});
          },
          b, &items_of[n]);
      continue;
    }
    if (int item = reduction_item(*n); item >= 0) {
      const std::vector<int>& items = items_of.at(n->args()[0].to_node());
      FX_INTERNAL_ASSERT(item < static_cast<int>(items.size()),
                         "getitem '" + n->name() + "' of a tuple without that item");
      value_of[n] = items[item];
      continue;
    }
    const char view = role(n);
    std::vector<Operand> ops;
    std::vector<int> deps;
    for (const Node* in : n->all_input_nodes()) {
      int id = members.count(in) ? value_of.at(in) : arg_of.at({in, view});
      const TensorMeta* m = in->tensor_meta();
      ops.push_back(Operand{in, RowBuilder::var(id), m->dtype, static_cast<int64_t>(m->shape.size())});
      deps.push_back(id);
    }
    int id = b.value(compute_ctype(n->tensor_meta()->dtype), emit_node_expr(*n, ops), deps,
                     n->name());
    // A full-size member that reads only rows is the same value along the row.
    if (view == 'f') spec.rows[id].kind = RowStmt::kFull;
    FX_INTERNAL_ASSERT(view == 'f' || !spec.rows[id].full(),
                       "row member '" + n->name() + "' reads a full-size value");
    value_of[n] = id;
  }
  for (const Node* o : group.outputs) {
    spec.outputs.push_back(o->tensor_meta()->dtype);
    spec.out_view += role(o);
    spec.out_stmt.push_back(value_of.at(o));
  }
  return spec;
}

std::string cpu_row_source(const KernelSpec& spec, const Variant& variant) {
  const std::vector<RowStmt>& st = spec.rows;
  const size_t nin = spec.inputs.size();
  const int RO = variant.rank;
  std::ostringstream os;
  os << "// fx fused row kernel " << spec.name << " (nodes";
  for (const auto& m : spec.members) os << " " << m;
  os << "; reductions";
  for (const auto& m : spec.reductions) os << " " << m;
  os << "), variant " << variant.key() << "\n";
  os << "#define __FAST_MATH__ 1\n#include <math.h>\n#undef __FAST_MATH__\n#include <stdint.h>\n"
        "#include <stdlib.h>\n";
  os << kernel_prelude();
  os << "\ntemplate <typename T> static inline T fx_rmax(T acc, T v) { return (v > acc || v != v) "
        "? v : acc; }\n"
        "template <typename T> static inline T fx_rmin(T acc, T v) { return (v < acc || v != v) "
        "? v : acc; }\n";
  os << "\nextern \"C\" void fx_kernel(void* const* ptrs, const int64_t* sizes, "
        "const int64_t* strides, int64_t begin, int64_t end) {\n";
  for (size_t a = 0; a < nin; ++a)
    os << "  const " << storage_ctype(spec.inputs[a]) << "* __restrict__ in" << a << " = (const "
       << storage_ctype(spec.inputs[a]) << "*)ptrs[" << a << "];\n";
  for (size_t o = 0; o < spec.outputs.size(); ++o)
    os << "  " << storage_ctype(spec.outputs[o]) << "* __restrict__ out" << o << " = ("
       << storage_ctype(spec.outputs[o]) << "*)ptrs[" << nin + o << "];\n";
  // nrow: the length of one row; n: of what is reduced together (a group of
  // row_group consecutive rows, each walked in turn, when row_group > 1).
  const int64_t GR = spec.row_group;
  os << "  const int64_t nrow = sizes[" << RO << "];\n";
  os << "  const int64_t n = nrow" << (GR > 1 ? " * " + std::to_string(GR) : "") << ";\n";
  auto ref = [&](size_t a, const std::string& j) {
    std::string as = std::to_string(a);
    if (variant.pattern[a] == 'b' || spec.arg_view[a] != 'f') return "p" + as + "[0]";
    if (variant.pattern[a] == 'c') return "p" + as + "[" + j + "]";
    return "p" + as + "[" + j + " * s" + as + "]";
  };
  auto expr_of = [&](int i, const std::string& j) {
    const RowStmt& s = st[i];
    if (!s.expr.empty() && s.expr[0] == '@') {
      size_t a = std::stoul(s.expr.substr(1));
      return load_of(spec.inputs[a], ref(a, j));
    }
    return s.expr;
  };
  auto decl = [&](int i, const std::string& j, const std::string& indent) {
    return indent + "const " + st[i].ctype + " v" + std::to_string(i) + " = " + expr_of(i, j) +
           ";  // " + st[i].comment + "\n";
  };
  // The full statements that `roots` need, in order; those in `cut` are
  // needed but not their deps (they are read back from a row buffer).
  auto closure = [&](const std::vector<int>& roots, const std::set<int>& cut = {}) {
    std::set<int> need;
    std::vector<int> stack(roots);
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      if (!st[i].full() || !need.insert(i).second || cut.count(i)) continue;
      for (int d : st[i].deps) stack.push_back(d);
    }
    return std::vector<int>(need.begin(), need.end());
  };
  std::vector<int> full_outs;
  for (size_t o = 0; o < spec.outputs.size(); ++o)
    if (spec.out_view[o] == 'f') full_outs.push_back(spec.out_stmt[o]);
  int levels = 0;
  for (const RowStmt& s : st)
    if (!s.full() && s.kind != RowStmt::kRow) levels = std::max(levels, s.level);
  // Values of the last reduction walk that call a math function and that the
  // output walk needs again are kept in a row buffer (hot in cache) instead of
  // being computed twice: softmax's exp(x - max).
  std::set<int> cached;
  if (levels > 0 && !full_outs.empty() && GR == 1) {
    std::vector<int> last_operands;
    for (const RowStmt& s : st)
      if (s.kind != RowStmt::kFull && s.kind != RowStmt::kRow && s.level == levels)
        last_operands.push_back(s.deps[0]);
    std::vector<int> last = closure(last_operands), out = closure(full_outs);
    for (int i : last)
      if (std::binary_search(out.begin(), out.end(), i) && st[i].expr.find('(') != std::string::npos &&
          (st[i].expr.find("exp") != std::string::npos ||
           st[i].expr.find("log") != std::string::npos ||
           st[i].expr.find("tanh") != std::string::npos ||
           st[i].expr.find("erf") != std::string::npos ||
           st[i].expr.find("pow") != std::string::npos))
        cached.insert(i);
    // Only the outermost: a cached value's deps need no buffer of their own.
    std::set<int> inner;
    for (int i : cached)
      for (int d : closure(st[i].deps))
        if (cached.count(d)) inner.insert(d);
    for (int i : inner) cached.erase(i);
  }
  // Without memory for the buffers, the output walk computes everything again.
  if (!cached.empty()) {
    for (int i : cached)
      os << "  " << st[i].ctype << "* const buf" << i << " = (" << st[i].ctype << "*)malloc(sizeof("
         << st[i].ctype << ") * (size_t)nrow);\n";
    os << "  const int use_buf = 1";
    for (int i : cached) os << " && buf" << i << " != 0";
    os << ";\n";
  }
  auto keep_cached = [&](const std::vector<int>& body, const std::string& indent) {
    std::string out;
    for (int i : body)
      if (cached.count(i))
        out += indent + "if (use_buf) buf" + std::to_string(i) + "[j] = v" + std::to_string(i) +
               ";\n";
    return out;
  };
  auto emit_rows = [&](int level) {
    for (size_t i = 0; i < st.size(); ++i)
      if (st[i].kind == RowStmt::kRow && st[i].level == level)
        os << decl(static_cast<int>(i), "0", "    ");
  };
  // Walkers: the arguments, then the full-size outputs (as `off<nin + f>`).
  std::vector<size_t> full_out_ids;
  for (size_t o = 0; o < spec.outputs.size(); ++o)
    if (spec.out_view[o] == 'f') full_out_ids.push_back(o);
  const size_t nw = nin + full_out_ids.size();
  // Row o's walkers (p<a>, s<a>, q<o>, so<o>) and its level-0 row values.
  auto setup = [&] {
    for (size_t a = 0; a < nw; ++a) os << "    int64_t off" << a << " = 0;\n";
    if (RO > 0) {
      os << "    int64_t rem = o;\n";
      os << "    for (int d = " << RO - 1 << "; d >= 0; --d) {\n";
      os << "      const int64_t idx = rem % sizes[d];\n      rem /= sizes[d];\n";
      for (size_t a = 0; a < nw; ++a)
        os << "      off" << a << " += idx * strides[" << a * (RO + 1) << " + d];\n";
      os << "    }\n";
    }
    for (size_t a = 0; a < nin; ++a) {
      os << "    const " << storage_ctype(spec.inputs[a]) << "* __restrict__ p" << a << " = in" << a
         << " + off" << a << ";\n";
      if (variant.pattern[a] == 's')
        os << "    const int64_t s" << a << " = strides[" << a * (RO + 1) + RO << "];\n";
    }
    for (size_t f = 0; f < full_out_ids.size(); ++f) {
      const size_t o = full_out_ids[f], w = nin + f;
      os << "    " << storage_ctype(spec.outputs[o]) << "* __restrict__ q" << o << " = out" << o
         << " + off" << w << ";\n";
      if (variant.pattern[w + 1] == 's')
        os << "    const int64_t so" << o << " = strides[" << w * (RO + 1) + RO << "];\n";
    }
    if (!full_out_ids.empty()) {
      os << "    (void)q" << full_out_ids[0] << ";\n";
    }
    emit_rows(0);
  };
  // A group's rows, each walked in turn: the code `body` emits runs once per
  // row o of the group starting at o0.
  auto each_row = [&](const std::function<void()>& body) {
    if (GR == 1) {
      body();
      return;
    }
    os << "    for (int64_t o = o0; o < o0 + " << GR << "; ++o) {\n";
    setup();
    body();
    os << "    }\n";
  };
  if (GR == 1) {
    os << "  for (int64_t o = begin; o < end; ++o) {\n";
    setup();
  } else {
    // Each group is computed by the call whose range holds its first row.
    os << "  for (int64_t o0 = begin; o0 < end; ++o0) {\n";
    os << "    if (o0 % " << GR << " != 0) continue;\n";
  }
  for (int level = 1; level <= levels; ++level) {
    std::vector<int> reds, operands;
    for (size_t i = 0; i < st.size(); ++i)
      if (st[i].kind != RowStmt::kFull && st[i].kind != RowStmt::kRow && st[i].level == level) {
        reds.push_back(static_cast<int>(i));
        operands.push_back(st[i].deps[0]);
      }
    if (reds.empty()) {
      emit_rows(level);
      continue;
    }
    auto init = [&](int i) {
      const std::string& T = st[i].ctype;
      if (st[i].kind == RowStmt::kSum) return "(" + T + ")0";
      return std::string(st[i].kind == RowStmt::kMax ? "-" : "") + "(" + T + ")fx_inf()";
    };
    auto op = [&](int i, const std::string& a, const std::string& v) {
      if (st[i].kind == RowStmt::kSum) return a + " + " + v;
      return std::string(st[i].kind == RowStmt::kMax ? "fx_rmax(" : "fx_rmin(") + a + ", " + v +
             ")";
    };
    for (int i : reds) {
      std::string is = std::to_string(i);
      const std::string tot = st[i].kind == RowStmt::kSum ? "double" : st[i].ctype;
      os << "    " << tot << " tot" << is << " = " << init(i) << ";\n";
    }
    each_row([&] {
      os << "    for (int64_t jb = 0; jb < nrow; jb += " << kBlock << ") {\n";
      os << "      const int64_t je = jb + " << kBlock << " < nrow ? jb + " << kBlock
         << " : nrow;\n";
      for (int i : reds)
        os << "      " << st[i].ctype << " acc" << i << "[" << kLanes << "];\n"
           << "      for (int l = 0; l < " << kLanes << "; ++l) acc" << i << "[l] = " << init(i)
           << ";\n";
      std::vector<int> body = closure(operands);
      os << "      int64_t j0 = jb;\n";
      os << "      for (; j0 + " << kLanes << " <= je; j0 += " << kLanes << ") {\n";
      os << "#pragma omp simd\n        for (int l = 0; l < " << kLanes << "; ++l) {\n";
      os << "          const int64_t j = j0 + l;\n";
      for (int i : body) os << decl(i, "j", "          ");
      if (level == levels) os << keep_cached(body, "          ");
      for (int i : reds)
        os << "          acc" << i << "[l] = "
           << op(i, "acc" + std::to_string(i) + "[l]", "v" + std::to_string(st[i].deps[0]))
           << ";\n";
      os << "        }\n      }\n";
      os << "      for (; j0 < je; ++j0) {\n        const int64_t j = j0;\n";
      for (int i : body) os << decl(i, "j", "        ");
      if (level == levels) os << keep_cached(body, "        ");
      for (int i : reds)
        os << "        acc" << i << "[0] = "
           << op(i, "acc" + std::to_string(i) + "[0]", "v" + std::to_string(st[i].deps[0]))
           << ";\n";
      os << "      }\n";
      for (int i : reds) {
        std::string is = std::to_string(i);
        if (st[i].kind == RowStmt::kSum) {
          os << "      " << st[i].ctype << " blk" << is << " = 0;\n";
          os << "      for (int l = 0; l < " << kLanes << "; ++l) blk" << is << " += acc" << is
             << "[l];\n";
          os << "      tot" << is << " += blk" << is << ";\n";
        } else {
          os << "      for (int l = 0; l < " << kLanes << "; ++l) tot" << is << " = "
             << op(i, "tot" + is, "acc" + is + "[l]") << ";\n";
        }
      }
      os << "    }\n";
    });
    for (int i : reds)
      os << "    const " << st[i].ctype << " v" << i << " = (" << st[i].ctype << ")tot" << i
         << ";  // " << st[i].comment << "\n";
    emit_rows(level);
  }
  // Full-size outputs: one more walk.
  if (!full_outs.empty()) {
    auto walk = [&](const std::set<int>& from_buf) {
      os << "#pragma omp simd\n    for (int64_t j = 0; j < nrow; ++j) {\n";
      for (int i : closure(full_outs, from_buf)) {
        if (from_buf.count(i))
          os << "      const " << st[i].ctype << " v" << i << " = buf" << i << "[j];\n";
        else
          os << decl(i, "j", "      ");
      }
      for (size_t f = 0; f < full_out_ids.size(); ++f) {
        const size_t o = full_out_ids[f];
        const bool strided = variant.pattern[nin + f + 1] == 's';
        os << "      q" << o << (strided ? "[j * so" + std::to_string(o) + "]" : "[j]") << " = "
             << store_of(spec.outputs[o], "(" + std::string(compute_ctype(spec.outputs[o])) +
                                              ")v" + std::to_string(spec.out_stmt[o]))
             << ";\n";
      }
      os << "    }\n";
    };
    if (cached.empty()) {
      each_row([&] { walk({}); });
    } else {
      os << "    if (use_buf) {\n";
      walk(cached);
      os << "    } else {\n";
      walk({});
      os << "    }\n";
    }
  }
  for (size_t o = 0; o < spec.outputs.size(); ++o)
    if (spec.out_view[o] != 'f')
      os << "    out" << o << "[o] = "
         << store_of(spec.outputs[o], "(" + std::string(compute_ctype(spec.outputs[o])) + ")v" +
                                          std::to_string(spec.out_stmt[o]))
         << ";\n";
  os << "  }\n";
  for (int i : cached) os << "  free(buf" << i << ");\n";
  os << "}\n";
  return os.str();
}

}  // namespace fx::jit
