// load: reads the FXGM container (docs/graph_module_format.md), checking every
// field and every byte range before using it, so a bad file is an fx::Error,
// never a crash or a silently different module.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
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

// ---- reading -----------------------------------------------------------------------------------

class Reader {
  using Json = nlohmann::json;

 public:
  explicit Reader(std::string path)
      : path_(std::move(path)), prefix_("cannot load " + in_quotes(path_) + ": ") {}

  std::unique_ptr<GraphModule> read() {
    open();
    Json root = header();
    const Json& obj = object(root, "header");
    uint64_t json_version = uint(member(obj, "format_version", "header"), "header.format_version");
    if (json_version != version_)
      fail("the header says format version " + std::to_string(json_version) +
           " but the file prefix says " + std::to_string(version_));
    uint64_t blob_bytes = uint(member(obj, "blob_bytes", "header"), "header.blob_bytes");
    uint64_t have = file_size_ - blob_base_;
    if (blob_bytes > have)
      fail("the file is truncated: expected " + std::to_string(blob_bytes) +
           " bytes of tensor data after the header, found " + std::to_string(have));
    if (blob_bytes < have)
      fail("found " + std::to_string(have - blob_bytes) +
           " unexpected bytes after the tensor data; the file is corrupt");
    blob_bytes_ = blob_bytes;
    const Json& table = array(member(obj, "tensors", "header"), "header.tensors");
    for (size_t i = 0; i < table.size(); ++i)
      tensors_.push_back(tensor(table[i], "header.tensors[" + std::to_string(i) + "]"));
    return module(member(obj, "module", "header"), "header.module", "", 0);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw ParseError(prefix_ + what); }

  // 1. The prefix: magic, version, JSON length, all checked against the file size.
  void open() {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto status = fs::status(path_, ec);
    if (!fs::exists(status)) fail("the file does not exist");
    if (fs::is_directory(status)) fail("it is a directory, not a file");
    file_size_ = fs::file_size(path_, ec);
    if (ec) fail("cannot read the file size (" + ec.message() + ")");
    file_.open(path_, std::ios::binary);
    if (!file_) fail("cannot open the file for reading");
    if (file_size_ == 0) fail("the file is empty, not an fx GraphModule file");
    unsigned char prefix[kPrefixBytes] = {};
    uint64_t n = std::min<uint64_t>(file_size_, kPrefixBytes);
    read_at(0, prefix, n);
    if (std::memcmp(prefix, kMagic, std::min<uint64_t>(n, 4)) != 0) {
      std::string got;
      for (uint64_t i = 0; i < std::min<uint64_t>(n, 4); ++i) {
        unsigned char c = prefix[i];
        if (c >= 0x20 && c < 0x7f) {
          got += static_cast<char>(c);
        } else {
          const char* hex = "0123456789abcdef";
          got += std::string("\\x") + hex[c >> 4] + hex[c & 15];
        }
      }
      fail("not an fx GraphModule file: expected the magic bytes \"FXGM\", found \"" + got + "\"");
    }
    if (n < kPrefixBytes)
      fail("the file is truncated: " + std::to_string(file_size_) +
           " bytes, shorter than the 16-byte FXGM prefix");
    version_ = static_cast<uint32_t>(get_le(prefix + 4, 4));
    if (version_ == 0) fail("invalid format version 0");
    if (version_ > kGraphModuleFormatVersion)
      fail("saved by a newer fx: format version " + std::to_string(version_) +
           ", this build reads up to " + std::to_string(kGraphModuleFormatVersion));
    json_bytes_ = get_le(prefix + 8, 8);
    if (json_bytes_ > file_size_ - kPrefixBytes)
      fail("the file is truncated: the header is " + std::to_string(json_bytes_) +
           " bytes but only " + std::to_string(file_size_ - kPrefixBytes) + " follow the prefix");
    blob_base_ = kPrefixBytes + json_bytes_;
  }

  // 2. The JSON header.
  Json header() {
    std::string text(json_bytes_, '\0');
    read_at(kPrefixBytes, text.data(), json_bytes_);
    try {
      return Json::parse(text);
    } catch (const Json::exception& e) {
      fail(std::string("the JSON header does not parse: ") + e.what());
    }
  }

  void read_at(uint64_t offset, void* dst, uint64_t n) {
    if (n == 0) return;
    file_.clear();
    file_.seekg(static_cast<std::streamoff>(offset));
    file_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!file_ || static_cast<uint64_t>(file_.gcount()) != n)
      fail("read error at byte " + std::to_string(offset) + " (the file changed or is truncated)");
  }

  // --- typed access to JSON; `where` is the JSON path used in messages ---
  const Json& member(const Json& obj, const char* key, const std::string& where) const {
    object(obj, where);
    auto it = obj.find(key);
    if (it == obj.end()) fail(where + ": missing field '" + key + "'");
    return *it;
  }
  const Json& object(const Json& j, const std::string& where) const {
    if (!j.is_object()) fail(where + ": expected an object, found " + j.type_name());
    return j;
  }
  const Json& array(const Json& j, const std::string& where) const {
    if (!j.is_array()) fail(where + ": expected an array, found " + j.type_name());
    return j;
  }
  std::string string(const Json& j, const std::string& where) const {
    if (!j.is_string()) fail(where + ": expected a string, found " + j.type_name());
    return j.get<std::string>();
  }
  bool boolean(const Json& j, const std::string& where) const {
    if (!j.is_boolean()) fail(where + ": expected true or false, found " + j.type_name());
    return j.get<bool>();
  }
  int64_t integer(const Json& j, const std::string& where) const {
    if (!j.is_number_integer()) fail(where + ": expected an integer, found " + j.type_name());
    if (j.is_number_unsigned() &&
        j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(where + ": integer " + j.dump() + " does not fit in int64");
    return j.get<int64_t>();
  }
  uint64_t uint(const Json& j, const std::string& where) const {
    if (!j.is_number_unsigned())
      fail(where + ": expected a non-negative integer, found " +
           (j.is_number() ? j.dump() : std::string(j.type_name())));
    return j.get<uint64_t>();
  }
  double number(const Json& j, const std::string& where) const {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    }
    fail(where + ": expected a number or \"inf\", \"-inf\", \"nan\", found " + j.dump());
  }
  std::vector<int64_t> ints(const Json& j, const std::string& where) const {
    array(j, where);
    std::vector<int64_t> out;
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i)
      out.push_back(integer(j[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }
  c10::ScalarType dtype(const Json& j, const std::string& where) const {
    std::string s = string(j, where);
    auto t = dtype_from_name(s);
    if (!t) fail(where + ": unknown dtype '" + s + "'");
    return *t;
  }
  c10::Device device(const Json& j, const std::string& where) const {
    std::string s = string(j, where);
    try {
      return c10::Device(s);
    } catch (const c10::Error&) {
      fail(where + ": invalid device '" + s + "'");
    }
  }
  c10::MemoryFormat memory_format(const Json& j, const std::string& where) const {
    std::string s = string(j, where);
    auto m = memory_format_from_name(s);
    if (!m) fail(where + ": unknown memory format '" + s + "'");
    return *m;
  }
  const at::Tensor& tensor_ref(const Json& j, const std::string& where) const {
    int64_t i = integer(j, where);
    if (i < 0 || static_cast<uint64_t>(i) >= tensors_.size())
      fail(where + ": tensor index " + std::to_string(i) + " is out of range (the file has " +
           std::to_string(tensors_.size()) + " tensors)");
    return tensors_[static_cast<size_t>(i)];
  }
  void check_depth(int depth, const std::string& where) const {
    if (depth > kMaxDepth)
      fail(where + ": nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }

  // 3. One tensor record: validated, then its bytes read straight into a new CPU tensor.
  at::Tensor tensor(const Json& rec, const std::string& where) {
    object(rec, where);
    c10::ScalarType st = dtype(member(rec, "dtype", where), where + ".dtype");
    if (c10::isQIntType(st) || st == c10::ScalarType::Undefined)
      fail(where + ".dtype: " + dtype_name(st) + " tensors cannot be loaded");
    std::vector<int64_t> shape = ints(member(rec, "shape", where), where + ".shape");
    uint64_t offset = uint(member(rec, "offset", where), where + ".offset");
    uint64_t nbytes = uint(member(rec, "nbytes", where), where + ".nbytes");
    bool requires_grad = boolean(member(rec, "requires_grad", where), where + ".requires_grad");
    uint64_t numel = 1;
    bool overflow = false;
    for (int64_t d : shape) {
      if (d < 0) fail(where + ".shape: negative size " + std::to_string(d));
      overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel);
    }
    uint64_t expected = 0;
    overflow |=
        __builtin_mul_overflow(numel, static_cast<uint64_t>(c10::elementSize(st)), &expected);
    if (overflow || expected > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(where + ".shape: the tensor is too large");
    if (expected != nbytes)
      fail(where + ": nbytes is " + std::to_string(nbytes) + " but a " + dtype_name(st) +
           " tensor of this shape has " + std::to_string(expected));
    if (offset > blob_bytes_ || nbytes > blob_bytes_ - offset)
      fail(where + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset) + " + " +
           std::to_string(nbytes) + ") are past the end of the tensor data (" +
           std::to_string(blob_bytes_) + " bytes)");
    at::Tensor t;
    try {
      t = at::empty(shape, at::TensorOptions().dtype(st));
    } catch (const c10::Error& e) {
      fail(where + ": cannot create the tensor: " + e.what_without_backtrace());
    }
    read_at(blob_base_ + offset, t.data_ptr(), nbytes);
    if (requires_grad) {
      if (!c10::isFloatingType(st) && !c10::isComplexType(st))
        fail(where + ": requires_grad is set on a " + dtype_name(st) + " tensor");
      t.set_requires_grad(true);
    }
    return t;
  }

  // 4. Values: node arguments and attribute values.
  Argument arg(const Json& j, const std::string& where, int depth,
               const std::unordered_map<std::string, Node*>& nodes) const {
    check_depth(depth, where);
    std::string kind = string(member(j, "kind", where), where + ".kind");
    auto value = [&]() -> const Json& { return member(j, "value", where); };
    const std::string vwhere = where + ".value";
    if (kind == "none") return Argument();
    if (kind == "bool") return Argument(boolean(value(), vwhere));
    if (kind == "int") return Argument(integer(value(), vwhere));
    if (kind == "double") return Argument(number(value(), vwhere));
    if (kind == "string") return Argument(string(value(), vwhere));
    if (kind == "dtype") return Argument(dtype(value(), vwhere));
    if (kind == "device") return Argument(device(value(), vwhere));
    if (kind == "layout") {
      std::string s = string(value(), vwhere);
      auto l = layout_from_name(s);
      if (!l) fail(vwhere + ": unknown layout '" + s + "'");
      return Argument(*l);
    }
    if (kind == "memory_format") return Argument(memory_format(value(), vwhere));
    if (kind == "tensor") return Argument(tensor_ref(member(j, "index", where), where + ".index"));
    if (kind == "node") {
      std::string name = string(member(j, "name", where), where + ".name");
      auto it = nodes.find(name);
      if (it == nodes.end())
        fail(where + ": refers to node '" + name + "', which is not defined before it");
      return Argument(it->second);
    }
    if (kind == "list" || kind == "tuple") {
      const Json& items = array(member(j, "items", where), where + ".items");
      std::vector<Argument> out;
      out.reserve(items.size());
      for (size_t i = 0; i < items.size(); ++i)
        out.push_back(arg(items[i], where + ".items[" + std::to_string(i) + "]", depth + 1, nodes));
      return kind == "list" ? Argument::list(std::move(out)) : Argument::tuple(std::move(out));
    }
    fail(where + ".kind: unknown argument kind '" + kind + "'");
  }

  c10::IValue ivalue(const Json& j, const std::string& where, int depth) const {
    check_depth(depth, where);
    std::string kind = string(member(j, "kind", where), where + ".kind");
    auto value = [&]() -> const Json& { return member(j, "value", where); };
    const std::string vwhere = where + ".value";
    if (kind == "none") return c10::IValue();
    if (kind == "bool") return boolean(value(), vwhere);
    if (kind == "int") return integer(value(), vwhere);
    if (kind == "double") return number(value(), vwhere);
    if (kind == "string") return string(value(), vwhere);
    if (kind == "tensor") return tensor_ref(member(j, "index", where), where + ".index");
    const std::string iwhere = where + ".items";
    const auto item = [&](size_t i) { return iwhere + "[" + std::to_string(i) + "]"; };
    if (kind == "int_list") return c10::List<int64_t>(ints(member(j, "items", where), iwhere));
    if (kind == "double_list" || kind == "bool_list" || kind == "tensor_list" || kind == "tuple") {
      const Json& items = array(member(j, "items", where), iwhere);
      if (kind == "double_list") {
        c10::List<double> out;
        for (size_t i = 0; i < items.size(); ++i) out.push_back(number(items[i], item(i)));
        return out;
      }
      if (kind == "bool_list") {
        c10::List<bool> out;
        for (size_t i = 0; i < items.size(); ++i) out.push_back(boolean(items[i], item(i)));
        return out;
      }
      if (kind == "tensor_list") {
        c10::List<at::Tensor> out;
        for (size_t i = 0; i < items.size(); ++i) out.push_back(tensor_ref(items[i], item(i)));
        return out;
      }
      std::vector<c10::IValue> out;
      for (size_t i = 0; i < items.size(); ++i) out.push_back(ivalue(items[i], item(i), depth + 1));
      return c10::ivalue::Tuple::create(std::move(out));
    }
    fail(where + ".kind: unknown value kind '" + kind + "'");
  }

  TensorMeta tensor_meta(const Json& j, const std::string& where) const {
    TensorMeta m;
    m.shape = ints(member(j, "shape", where), where + ".shape");
    m.stride = ints(member(j, "stride", where), where + ".stride");
    m.dtype = dtype(member(j, "dtype", where), where + ".dtype");
    m.device = device(member(j, "device", where), where + ".device");
    m.requires_grad = boolean(member(j, "requires_grad", where), where + ".requires_grad");
    const Json& mf = member(j, "memory_format", where);
    if (!mf.is_null()) m.memory_format = memory_format(mf, where + ".memory_format");
    return m;
  }

  // 5. The graph: nodes created in file order with their saved names, so each
  // name must come back unchanged and every reference must point backwards.
  std::unique_ptr<Graph> graph(const Json& j, const std::string& where) const {
    const Json& list = array(member(j, "nodes", where), where + ".nodes");
    auto g = std::make_unique<Graph>();
    std::unordered_map<std::string, Node*> by_name;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string nwhere = where + ".nodes[" + std::to_string(i) + "]";
      const Json& nj = object(list[i], nwhere);
      std::string name = string(member(nj, "name", nwhere), nwhere + ".name");
      nwhere += " ('" + name + "')";
      std::string op_text = string(member(nj, "op", nwhere), nwhere + ".op");
      auto op = op_from_name(op_text);
      if (!op) fail(nwhere + ".op: unknown opcode '" + op_text + "'");
      std::string target = string(member(nj, "target", nwhere), nwhere + ".target");
      std::string type = string(member(nj, "type", nwhere), nwhere + ".type");
      const Json& aj = array(member(nj, "args", nwhere), nwhere + ".args");
      Args args;
      for (size_t k = 0; k < aj.size(); ++k)
        args.push_back(arg(aj[k], nwhere + ".args[" + std::to_string(k) + "]", 0, by_name));
      const Json& kj = array(member(nj, "kwargs", nwhere), nwhere + ".kwargs");
      Kwargs kwargs;
      for (size_t k = 0; k < kj.size(); ++k) {
        std::string kwhere = nwhere + ".kwargs[" + std::to_string(k) + "]";
        const Json& pair = array(kj[k], kwhere);
        if (pair.size() != 2 || !pair[0].is_string())
          fail(kwhere + ": expected a [name, value] pair");
        kwargs.emplace_back(pair[0].get<std::string>(), arg(pair[1], kwhere + "[1]", 0, by_name));
      }
      if (by_name.count(name)) fail(nwhere + ": duplicate node name '" + name + "'");
      Node* n = nullptr;
      try {
        n = g->create_node(*op, target, std::move(args), std::move(kwargs), name, std::move(type));
      } catch (const Error& e) {
        fail(nwhere + ": " + e.what());
      }
      if (n->name() != name)
        fail(nwhere + ": '" + name + "' is not a valid node name (the graph would call it '" +
             n->name() + "')");
      by_name.emplace(name, n);
      auto tm = nj.find("tensor_meta");
      if (tm != nj.end()) {
        if (tm->is_array()) {
          std::vector<TensorMeta> metas;
          for (size_t k = 0; k < tm->size(); ++k)
            metas.push_back(
                tensor_meta((*tm)[k], nwhere + ".tensor_meta[" + std::to_string(k) + "]"));
          n->meta().set("tensor_meta", std::move(metas));
        } else {
          n->meta().set("tensor_meta", tensor_meta(*tm, nwhere + ".tensor_meta"));
        }
      }
    }
    return g;
  }

  // 6. A module: submodules first, since the GraphModule constructor compiles
  // the graph against them.
  std::unique_ptr<GraphModule> module(const Json& j, const std::string& where,
                                      const std::string& qualname, int depth) const {
    check_depth(depth, where);
    object(j, where);
    std::string kind = string(member(j, "kind", where), where + ".kind");
    if (kind != "GraphModule")
      fail(where + ".kind: expected a GraphModule here, found module kind '" + kind + "'");
    return graph_module(j, where, qualname, depth);
  }

  // A submodule: a GraphModule, or (version 2) a registered kind saved as a
  // GraphModule plus its serializer's data.
  std::shared_ptr<Module> submodule(const Json& j, const std::string& where,
                                    const std::string& qualname, int depth) const {
    check_depth(depth, where);
    object(j, where);
    std::string kind = string(member(j, "kind", where), where + ".kind");
    if (kind == "GraphModule") return graph_module(j, where, qualname, depth);
    if (version_ < kFirstVersionWithModuleKinds)
      fail(where + ".kind: module kind '" + kind + "' cannot be loaded from a format version " +
           std::to_string(version_) + " file, which holds only GraphModules");
    std::optional<ModuleSerializer> serializer = find_serializer(kind);
    if (!serializer)
      fail(where + ".kind: module kind " + kind + " is not registered, so submodule '" + qualname +
           "' cannot be rebuilt; link the library that defines it and register the kind "
           "before loading (for fx::jit::FusedKernel: link fx_jit and call "
           "fx::jit::register_serialization()); registered kinds: " +
           registered_kinds());
    std::string data = string(member(j, "data", where), where + ".data");
    std::unique_ptr<GraphModule> inner =
        module(member(j, "module", where), where + ".module", qualname, depth + 1);
    std::shared_ptr<Module> out;
    const std::string context = prefix_ + in_submodule(qualname) + "rebuilding the " + kind;
    try {
      out = serializer->load(std::move(inner), data);
    } catch (const Error& e) {
      throw_error(e.kind(), context + ": " + e.what());
    } catch (const c10::Error& e) {
      throw RuntimeError(context + " failed: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw RuntimeError(context + " failed: " + e.what());
    }
    if (!out) throw RuntimeError(context + " failed: its serializer gave no module");
    return out;
  }

  std::unique_ptr<GraphModule> graph_module(const Json& j, const std::string& where,
                                            const std::string& qualname, int depth) const {
    std::string class_name = string(member(j, "class_name", where), where + ".class_name");
    Attributes attrs;
    const Json& values = object(member(j, "values", where), where + ".values");
    for (const auto& [name, v] : values.items())
      attrs.values[name] = ivalue(v, where + ".values['" + name + "']", 0);
    const Json& modules = object(member(j, "modules", where), where + ".modules");
    for (const auto& [name, m] : modules.items())
      attrs.modules[name] = submodule(m, where + ".modules['" + name + "']",
                                      qualname.empty() ? name : qualname + "." + name, depth + 1);
    auto g = graph(object(member(j, "graph", where), where + ".graph"), where + ".graph");
    auto optional_flag = [&](const char* key) {
      if (!j.contains(key)) return false;
      const Json& flag = j[key];
      if (!flag.is_boolean()) fail(where + "." + key + " must be a bool");
      return flag.get<bool>();
    };
    const bool inference_mode = optional_flag("inference_mode");
    GraphModule::BufferReuse reuse = GraphModule::BufferReuse::kInInferenceMode;
    if (j.contains("buffer_reuse")) {
      const Json& mode = j["buffer_reuse"];
      if (mode == "always") reuse = GraphModule::BufferReuse::kAlways;
      else if (mode == "never") reuse = GraphModule::BufferReuse::kNever;
      else fail(where + ".buffer_reuse must be \"always\" or \"never\"");
    }
    try {
      auto gm = std::make_unique<GraphModule>(std::move(g), std::move(attrs), std::move(class_name));
      gm->set_inference_mode(inference_mode);
      gm->set_buffer_reuse(reuse);
      return gm;
    } catch (const Error& e) {
      throw_error(e.kind(), prefix_ + in_submodule(qualname) + e.what());
    } catch (const c10::Error& e) {
      throw RuntimeError(prefix_ + in_submodule(qualname) +
                         "building the GraphModule failed: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw RuntimeError(prefix_ + in_submodule(qualname) +
                         "building the GraphModule failed: " + e.what());
    } catch (...) {
      // The constructor's code generator may throw its own types.
      throw RuntimeError(prefix_ + in_submodule(qualname) +
                         "building the GraphModule failed with an exception "
                         "that is not a std::exception");
    }
  }

  static std::string in_submodule(const std::string& qualname) {
    return qualname.empty() ? "" : "in submodule '" + qualname + "': ";
  }

  std::string path_;
  std::string prefix_;
  std::ifstream file_;
  uint64_t file_size_ = 0;
  uint32_t version_ = 0;
  uint64_t json_bytes_ = 0;
  uint64_t blob_base_ = 0;
  uint64_t blob_bytes_ = 0;
  std::vector<at::Tensor> tensors_;
};

}  // namespace

std::unique_ptr<GraphModule> load(const std::string& path) {
  const std::string prefix = "cannot load " + in_quotes(path) + ": ";
  try {
    return Reader(path).read();
  } catch (const Error&) {
    throw;
  } catch (const Json::exception& e) {
    throw ParseError(prefix + "malformed header (" + e.what() + ")");
  } catch (const c10::Error& e) {
    throw ParseError(prefix + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw ParseError(prefix + "out of memory while reading the file");
  } catch (const std::exception& e) {
    throw ParseError(prefix + e.what());
  } catch (...) {
    throw ParseError(prefix + "an exception that is not a std::exception");
  }
}

}  // namespace fx
