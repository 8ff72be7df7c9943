// save: walks the module tree into the FXGM container (docs/graph_module_format.md):
// one JSON header plus a table of tensors whose bytes follow it, written beside
// the destination and renamed over it. Module kinds other than GraphModule go
// through the registry (serialize/serialize_registry.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ir/dtype_names.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/graph_module.h"
#include "serialize/serialize.h"
#include "serialize/serialize_format.h"

namespace fx {
namespace {

using namespace serial;

// ---- writing -----------------------------------------------------------------------------------

Json encode_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

Json encode_tensor_meta(const TensorMeta& m) {
  Json j;
  j["shape"] = m.shape;
  j["stride"] = m.stride;
  j["dtype"] = dtype_name(m.dtype);
  j["device"] = m.device.str();
  j["requires_grad"] = m.requires_grad;
  j["memory_format"] = m.memory_format ? Json(memory_format_name(*m.memory_format)) : Json();
  return j;
}

class Writer {
 public:
  explicit Writer(const std::string& path) : prefix_("cannot save " + in_quotes(path) + ": ") {}

  // Tensors in blob order, as given (moved to the CPU only when written), and their sizes.
  std::vector<at::Tensor> tensors;
  std::vector<uint64_t> tensor_bytes;
  Json tensor_table = Json::array();
  uint64_t blob_bytes = 0;
  // Whether a registered module kind was written (the file needs format version 2).
  bool has_module_kinds = false;

  Json module(const GraphModule& gm, const std::string& qualname) {
    if (std::find(stack_.begin(), stack_.end(), &gm) != stack_.end())
      fail("submodule " + in_quotes(qualname) + " contains itself");
    stack_.push_back(&gm);
    Json j;
    j["kind"] = "GraphModule";
    j["class_name"] = gm.class_name();
    if (gm.inference_mode()) j["inference_mode"] = true;  // optional; absent means off
    // optional; absent means the default (in inference mode)
    if (gm.buffer_reuse() == GraphModule::BufferReuse::kAlways) j["buffer_reuse"] = "always";
    if (gm.buffer_reuse() == GraphModule::BufferReuse::kNever) j["buffer_reuse"] = "never";
    Json nodes = Json::array();
    for (const Node* n : gm.graph().nodes()) nodes.push_back(node(*n));
    j["graph"] = Json{{"nodes", std::move(nodes)}};
    // MKL's packed linear weights are MKL's private layout (to_dense gives
    // its bytes, not a weight) and depend on the machine: they are saved as
    // empty tensors, which mkl::_mkl_linear takes as "not packed" and answers
    // with its dense weight until pack_onednn_weights packs it again.
    std::set<std::string> mkl_packed;
    for (const Node* n : gm.graph().nodes())
      if (n->op() == Op::CallFunction && n->target() == "mkl::_mkl_linear" &&
          n->args().size() > 1 && n->args()[1].is_node() &&
          n->args()[1].to_node()->op() == Op::GetAttr)
        mkl_packed.insert(n->args()[1].to_node()->target());
    Json values = Json::object();
    for (const auto& [name, value] : gm.attributes().values) {
      const bool packed = mkl_packed.count(name) && value.isTensor() && value.toTensor().is_mkldnn();
      values[name] = ivalue(packed ? c10::IValue(at::empty({0}, at::kFloat)) : value,
                            "attribute " + in_quotes(join(qualname, name)));
    }
    j["values"] = std::move(values);
    Json modules = Json::object();
    for (const auto& [name, m] : gm.attributes().modules) {
      std::string sub = join(qualname, name);
      if (const auto* child = dynamic_cast<const GraphModule*>(m.get())) {
        modules[name] = module(*child, sub);
      } else {
        modules[name] = other_kind(m.get(), sub);
      }
    }
    j["modules"] = std::move(modules);
    stack_.pop_back();
    return j;
  }

 private:
  // A submodule that is not a GraphModule: its kind's serializer gives a
  // GraphModule to save in its place and a string of data.
  Json other_kind(const Module* m, const std::string& qualname) {
    if (!m) fail("submodule " + in_quotes(qualname) + " is a null module");
    const std::string kind = m->kind();
    std::optional<ModuleSerializer> serializer = find_serializer(kind);
    if (!serializer)
      fail("submodule " + in_quotes(qualname) + " is a " + kind +
           ", not a GraphModule, and no serializer is registered for that kind (registered: " +
           registered_kinds() +
           "); trace it into a GraphModule first, or register one with "
           "fx::register_module_serializer");
    SavedModule saved;
    try {
      saved = serializer->save(*m);
    } catch (const Error& e) {
      throw_error(e.kind(),
                  prefix_ + "submodule " + in_quotes(qualname) + " (" + kind + "): " + e.what());
    } catch (const std::exception& e) {
      fail("submodule " + in_quotes(qualname) + " (" + kind +
           "): its serializer failed: " + e.what());
    }
    if (!saved.module)
      fail("submodule " + in_quotes(qualname) + " (" + kind +
           "): its serializer gave no GraphModule to save");
    has_module_kinds = true;
    Json j;
    j["kind"] = kind;
    j["data"] = saved.data;
    j["module"] = module(*saved.module, qualname);
    return j;
  }

  [[noreturn]] void fail(const std::string& what) const { throw GraphError(prefix_ + what); }

  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

  // The index of t in the tensor table; one object is stored once.
  int64_t tensor_index(const at::Tensor& original, const std::string& where) {
    if (!original.defined()) fail(where + " is an undefined tensor, which has no data to save");
    auto it = seen_.find(original.unsafeGetTensorImpl());
    if (it != seen_.end()) return it->second;
    // oneDNN's packed weights (fx::jit::optimize_for_inference makes them) are
    // saved in their dense form: the oneDNN operators accept either, and the
    // packing depends on the machine that loads the file.
    const at::Tensor t = original.is_mkldnn() ? original.to_dense() : original;
    if (t.is_meta()) fail(where + " is a tensor on the meta device, which has no data to save");
    if (t.is_nested()) fail(where + " is a nested tensor, which cannot be saved");
    if (t.layout() != c10::kStrided)
      fail(where + " is a " + layout_name(t.layout()) +
           " tensor; only strided (dense) tensors can be saved");
    if (c10::isQIntType(t.scalar_type()))
      fail(where + " is a quantized " + dtype_name(t.scalar_type()) +
           " tensor, which cannot be saved");
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    Json rec;
    rec["dtype"] = dtype_name(t.scalar_type());
    rec["shape"] = t.sizes().vec();
    rec["offset"] = blob_bytes;
    rec["nbytes"] = nbytes;
    rec["requires_grad"] = t.requires_grad();
    rec["device"] = t.device().str();
    tensor_table.push_back(std::move(rec));
    tensors.push_back(t);
    tensor_bytes.push_back(nbytes);
    blob_bytes += nbytes;
    int64_t index = static_cast<int64_t>(tensors.size()) - 1;
    seen_.emplace(original.unsafeGetTensorImpl(), index);
    return index;
  }

  Json node(const Node& n) {
    Json j;
    j["name"] = n.name();
    j["op"] = op_name(n.op());
    j["target"] = n.target();
    j["type"] = n.type();
    const std::string where = describe(n);
    Json args = Json::array();
    for (const Argument& a : n.args()) args.push_back(arg(a, where));
    j["args"] = std::move(args);
    Json kwargs = Json::array();
    for (const auto& [key, value] : n.kwargs())
      kwargs.push_back(Json::array({key, arg(value, where)}));
    j["kwargs"] = std::move(kwargs);
    if (const auto* m = n.meta().get<TensorMeta>("tensor_meta")) {
      j["tensor_meta"] = encode_tensor_meta(*m);
    } else if (const auto* ms = n.meta().get<std::vector<TensorMeta>>("tensor_meta")) {
      Json list = Json::array();
      for (const TensorMeta& m1 : *ms) list.push_back(encode_tensor_meta(m1));
      j["tensor_meta"] = std::move(list);
    }
    return j;
  }

  Json arg(const Argument& a, const std::string& where) {
    using K = Argument::Kind;
    switch (a.kind()) {
      case K::kNone: return Json{{"kind", "none"}};
      case K::kBool: return Json{{"kind", "bool"}, {"value", a.to_bool()}};
      case K::kInt: return Json{{"kind", "int"}, {"value", a.to_int()}};
      case K::kDouble: return Json{{"kind", "double"}, {"value", encode_double(a.to_double())}};
      case K::kString: return Json{{"kind", "string"}, {"value", a.to_string()}};
      case K::kDtype: return Json{{"kind", "dtype"}, {"value", dtype_name(a.to_dtype())}};
      case K::kDevice: return Json{{"kind", "device"}, {"value", a.to_device().str()}};
      case K::kLayout: return Json{{"kind", "layout"}, {"value", layout_name(a.to_layout())}};
      case K::kMemoryFormat:
        return Json{{"kind", "memory_format"}, {"value", memory_format_name(a.to_memory_format())}};
      case K::kTensor:
        return Json{{"kind", "tensor"},
                    {"index", tensor_index(a.to_tensor(), where + ": a tensor constant")}};
      case K::kNode: return Json{{"kind", "node"}, {"name", a.to_node()->name()}};
      case K::kList:
      case K::kTuple: {
        Json items = Json::array();
        for (const Argument& item : a.items()) items.push_back(arg(item, where));
        return Json{{"kind", a.kind() == K::kList ? "list" : "tuple"}, {"items", std::move(items)}};
      }
    }
    FX_INTERNAL_ASSERT(false, "unhandled Argument kind");
  }

  Json ivalue(const c10::IValue& v, const std::string& where) {
    if (v.isNone()) return Json{{"kind", "none"}};
    if (v.isBool()) return Json{{"kind", "bool"}, {"value", v.toBool()}};
    if (v.isInt()) return Json{{"kind", "int"}, {"value", v.toInt()}};
    if (v.isDouble()) return Json{{"kind", "double"}, {"value", encode_double(v.toDouble())}};
    if (v.isString()) return Json{{"kind", "string"}, {"value", v.toStringRef()}};
    if (v.isTensor()) return Json{{"kind", "tensor"}, {"index", tensor_index(v.toTensor(), where)}};
    Json items = Json::array();
    if (v.isIntList()) {
      for (int64_t x : v.toIntVector()) items.push_back(x);
      return Json{{"kind", "int_list"}, {"items", std::move(items)}};
    }
    if (v.isDoubleList()) {
      for (double x : v.toDoubleVector()) items.push_back(encode_double(x));
      return Json{{"kind", "double_list"}, {"items", std::move(items)}};
    }
    if (v.isBoolList()) {
      for (bool x : v.toBoolList()) items.push_back(x);
      return Json{{"kind", "bool_list"}, {"items", std::move(items)}};
    }
    if (v.isTensorList()) {
      size_t i = 0;
      for (const at::Tensor& t : v.toTensorVector())
        items.push_back(tensor_index(t, where + "[" + std::to_string(i++) + "]"));
      return Json{{"kind", "tensor_list"}, {"items", std::move(items)}};
    }
    if (v.isTuple()) {
      size_t i = 0;
      for (const c10::IValue& e : v.toTupleRef().elements())
        items.push_back(ivalue(e, where + "[" + std::to_string(i++) + "]"));
      return Json{{"kind", "tuple"}, {"items", std::move(items)}};
    }
    fail(where + " holds a " + v.tagKind() +
         " value, which save cannot write; attribute values may be tensors, None, bools, "
         "ints, doubles, strings, lists of ints/doubles/bools/tensors and tuples of these");
  }

  std::string prefix_;
  std::unordered_map<const c10::TensorImpl*, int64_t> seen_;
  std::vector<const GraphModule*> stack_;
};

}  // namespace

void save(const GraphModule& gm, const std::string& path) {
  const std::string prefix = "cannot save " + in_quotes(path) + ": ";
  Writer w(path);
  Json header;
  header["format"] = "fx.GraphModule";
  header["format_version"] = 1;  // raised below when the module needs more
  // module() fills the tensor table, so it is built before the fields that depend on it.
  Json root;
  try {
    root = w.module(gm, "");
  } catch (const c10::Error& e) {
    throw GraphError(prefix + e.what_without_backtrace());
  }
  const uint32_t version = w.has_module_kinds ? kFirstVersionWithModuleKinds : 1;
  header["format_version"] = version;
  header["blob_bytes"] = w.blob_bytes;
  header["tensors"] = std::move(w.tensor_table);
  header["module"] = std::move(root);
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    throw GraphError(prefix + "a name, target or string is not valid UTF-8 (" + e.what() + ")");
  }

  std::string head(kMagic, sizeof(kMagic));
  put_le(head, version, 4);
  put_le(head, text.size(), 8);

  // Written beside path and renamed over it: a reader sees the old file or the new one.
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeError(prefix + "cannot open " + in_quotes(tmp) + " for writing");
  auto abandon = [&](const std::string& what) {
    out.close();
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw RuntimeError(prefix + what);
  };
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (size_t i = 0; i < w.tensors.size() && out; ++i) {
    at::Tensor cpu;
    try {
      cpu = w.tensors[i].detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
    } catch (const c10::Error& e) {
      abandon(std::string("cannot copy a tensor to the CPU: ") + e.what_without_backtrace());
    }
    // Guards the header's promise if another thread resized the tensor meanwhile.
    if (static_cast<uint64_t>(cpu.nbytes()) != w.tensor_bytes[i])
      abandon("a tensor changed size while it was being saved");
    if (cpu.nbytes() > 0)
      out.write(static_cast<const char*>(cpu.const_data_ptr()),
                static_cast<std::streamsize>(cpu.nbytes()));
  }
  out.flush();
  if (!out) abandon("writing " + in_quotes(tmp) + " failed");
  out.close();
  if (!out) abandon("writing " + in_quotes(tmp) + " failed");
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw RuntimeError(prefix + "cannot rename " + in_quotes(tmp) + " to it (" + why + ")");
  }
}

}  // namespace fx
