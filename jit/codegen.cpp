// KernelSpec construction and the host C++ target. In the CPU loop, <math.h>
// is included with __FAST_MATH__
// defined so glibc declares its libmvec SIMD variants, but the kernel is
// compiled without -ffast-math; loops are `#pragma omp simd`, and threads come
// from the caller, which splits the range over ATen's intra-op threads (see
// Note [Threads for CPU kernels] in jit/fused_kernel.cpp).
#include <algorithm>
#include <map>
#include <sstream>

#include "ir/error.h"
#include "ir/node.h"
#include "jit/kernel.h"
#include "jit/ops.h"

namespace fx::jit {

const char* kernel_prelude() {
  static const char* text =
#include "kernels/fx_prelude.inc"
      ;
  return text;
}

std::string KernelSpec::signature() const {
  std::ostringstream os;
  os << "in:";
  for (auto d : inputs) os << c10::toString(d) << ",";
  os << " out:";
  for (auto d : outputs) os << c10::toString(d) << ",";
  os << "\n";
  for (const auto& s : body) os << s << "\n";
  for (const auto& s : out_values) os << s << ";";
  if (is_rows()) {
    os << "\nrows k=" << reduce_dims << " r=" << rank << " views " << arg_view << " out "
       << out_view << (row_group > 1 ? " group " + std::to_string(row_group) : "") << "\n";
    for (const auto& s : rows)
      os << static_cast<char>(s.kind) << s.level << " " << s.ctype << " " << s.expr << "\n";
    for (int o : out_stmt) os << o << ";";
  }
  return os.str();
}

KernelSpec build_kernel_spec(const FusionGroup& group, const std::string& name) {
  if (group.reduce_dims > 0) return build_row_spec(group, name);
  KernelSpec spec;
  spec.name = name;
  std::map<const Node*, Operand> values;
  std::map<const Node*, std::vector<int>> deps;
  for (size_t k = 0; k < group.inputs.size(); ++k) {
    const Node* in = group.inputs[k];
    const TensorMeta* m = in->tensor_meta();
    if (!m) throw_node_error(*in, "has no tensor_meta; run shape_prop or trace the module first");
    spec.inputs.push_back(m->dtype);
    values[in] =
        Operand{in, "a" + std::to_string(k), m->dtype, static_cast<int64_t>(m->shape.size())};
    deps[in] = {static_cast<int>(k)};
  }
  for (size_t j = 0; j < group.nodes.size(); ++j) {
    const Node* n = group.nodes[j];
    spec.members.push_back(n->name());
    std::vector<Operand> ops;
    std::vector<int> d;
    for (const Node* in : n->all_input_nodes()) {
      auto it = values.find(in);
      FX_INTERNAL_ASSERT(it != values.end(), "fusion group input missing: " + in->name());
      ops.push_back(it->second);
      for (int k : deps[in])
        if (std::find(d.begin(), d.end(), k) == d.end()) d.push_back(k);
    }
    std::string expr = emit_node_expr(*n, ops);
    const TensorMeta* m = n->tensor_meta();
    std::string v = "v" + std::to_string(j);
    spec.body.push_back(std::string("const ") + compute_ctype(m->dtype) + " " + v + " = " + expr +
                        ";  // " + n->name());
    values[n] = Operand{n, v, m->dtype, static_cast<int64_t>(m->shape.size())};
    std::sort(d.begin(), d.end());
    deps[n] = d;
  }
  for (const Node* o : group.outputs) {
    spec.outputs.push_back(o->tensor_meta()->dtype);
    spec.out_values.push_back(values.at(o).expr);
    spec.out_deps.push_back(deps.at(o));
  }
  return spec;
}

namespace {

std::string load_expr(c10::ScalarType dtype, const std::string& ref) {
  if (dtype == c10::ScalarType::Half) return "fx_half_to_float(" + ref + ")";
  if (dtype == c10::ScalarType::BFloat16) return "fx_bf16_to_float(" + ref + ")";
  return ref;
}

std::string store_expr(c10::ScalarType dtype, const std::string& value) {
  if (dtype == c10::ScalarType::Half) return "fx_float_to_half(" + value + ")";
  if (dtype == c10::ScalarType::BFloat16) return "fx_float_to_bf16(" + value + ")";
  return value;
}

}  // namespace

// Shared by the CUDA target: the statements of one element, given how input k
// and output k are addressed.
std::string element_body(const KernelSpec& spec, const std::vector<std::string>& in_refs,
                         const std::vector<std::string>& out_refs, const std::string& indent) {
  std::string s;
  for (size_t k = 0; k < spec.inputs.size(); ++k)
    s += indent + "const " + compute_ctype(spec.inputs[k]) + " a" + std::to_string(k) + " = " +
         load_expr(spec.inputs[k], in_refs[k]) + ";\n";
  for (const auto& line : spec.body) s += indent + line + "\n";
  for (size_t k = 0; k < spec.outputs.size(); ++k)
    s += indent + out_refs[k] + " = " + store_expr(spec.outputs[k], spec.out_values[k]) + ";\n";
  return s;
}

std::string cpu_source(const KernelSpec& spec, const Variant& variant) {
  std::ostringstream os;
  os << "// fx fused kernel " << spec.name << " (nodes";
  for (const auto& m : spec.members) os << " " << m;
  os << "), variant " << variant.key() << "\n";
  // glibc declares libmvec's SIMD variants only under __FAST_MATH__; defining it
  // around the include gets the declarations without fast-math code generation.
  os << "#define __FAST_MATH__ 1\n#include <math.h>\n#undef __FAST_MATH__\n#include <stdint.h>\n";
  os << kernel_prelude();
  os << "\nextern \"C\" void fx_kernel(void* const* ptrs, const int64_t* sizes, "
        "const int64_t* strides, int64_t begin, int64_t end) {\n";
  const size_t nin = spec.inputs.size();
  for (size_t k = 0; k < nin; ++k)
    os << "  const " << storage_ctype(spec.inputs[k]) << "* __restrict__ in" << k << " = (const "
       << storage_ctype(spec.inputs[k]) << "*)ptrs[" << k << "];\n";
  for (size_t k = 0; k < spec.outputs.size(); ++k)
    os << "  " << storage_ctype(spec.outputs[k]) << "* __restrict__ out" << k << " = ("
       << storage_ctype(spec.outputs[k]) << "*)ptrs[" << nin + k << "];\n";
  std::vector<std::string> in_refs, out_refs;
  if (variant.flat) {
    os << "  (void)sizes; (void)strides;\n";
    for (size_t k = 0; k < nin; ++k)
      in_refs.push_back(variant.pattern[k] == 'b' ? "in" + std::to_string(k) + "[0]"
                                                  : "in" + std::to_string(k) + "[i]");
    for (size_t k = 0; k < spec.outputs.size(); ++k)
      out_refs.push_back("out" + std::to_string(k) + "[i]");
    os << "#pragma omp simd\n  for (int64_t i = begin; i < end; ++i) {\n"
       << element_body(spec, in_refs, out_refs, "    ") << "  }\n}\n";
    return os.str();
  }
  const int R = variant.rank;
  os << "  const int64_t inner = sizes[" << R - 1 << "];\n";
  os << "  for (int64_t o = begin; o < end; ++o) {\n";
  for (size_t k = 0; k < nin; ++k) os << "    int64_t off" << k << " = 0;\n";
  if (R > 1) {
    os << "    int64_t r = o;\n";
    os << "    for (int d = " << R - 2 << "; d >= 0; --d) {\n";
    os << "      const int64_t idx = r % sizes[d];\n      r /= sizes[d];\n";
    for (size_t k = 0; k < nin; ++k)
      os << "      off" << k << " += idx * strides[" << k * R << " + d];\n";
    os << "    }\n";
  }
  for (size_t k = 0; k < nin; ++k) {
    os << "    const " << storage_ctype(spec.inputs[k]) << "* __restrict__ p" << k << " = in" << k
       << " + off" << k << ";\n";
    if (variant.pattern[k] == 's')
      os << "    const int64_t s" << k << " = strides[" << k * R + R - 1 << "];\n";
    std::string ks = std::to_string(k);
    in_refs.push_back(variant.pattern[k] == 'b'   ? "p" + ks + "[0]"
                      : variant.pattern[k] == 'c' ? "p" + ks + "[j]"
                                                  : "p" + ks + "[j * s" + ks + "]");
  }
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    os << "    " << storage_ctype(spec.outputs[k]) << "* __restrict__ q" << k << " = out" << k
       << " + o * inner;\n";
    out_refs.push_back("q" + std::to_string(k) + "[j]");
  }
  os << "#pragma omp simd\n    for (int64_t j = 0; j < inner; ++j) {\n"
     << element_body(spec, in_refs, out_refs, "      ") << "    }\n  }\n}\n";
  return os.str();
}

}  // namespace fx::jit
