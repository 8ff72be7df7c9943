// torch.export import: the graph translation. Outline of load_exported:
//   1. open the zip and check what it says it is (archive_format, archive and
//      schema versions, byte order), then parse models/model.json
//      (pt2::Archive, export_archive.h);
//   2. each input of the signature becomes a node: lifted parameters, buffers
//      and constants get_attr nodes whose tensors are read from the weights
//      and constants records (raw bytes, re-strided), user inputs placeholders;
//   3. each JSON node becomes a call_function (plus getitem nodes for several
//      results), translated as torch/_export/serde/serialize.py deserializes
//      it, so names and the split between args and kwargs match what Python
//      prints;
//   4. mutations in the output signature become copy_ nodes, user outputs the
//      output, shaped by the out_spec.
// Every failure, ours or LibTorch's, leaves through Archive::fail, which names
// the archive, its versions and the place.
#include "capture/export_import.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "capture/export_archive.h"
#include <ATen/ATen.h>

#include "ir/error.h"
#include "ir/namespace.h"
#include "runtime/operator.h"
#include "runtime/script_functions.h"
#include "runtime/shape_prop.h"

namespace fx {

namespace {

using pt2::Json;

// SymInt/SymFloat/SymBool arithmetic of the archive (Python callables outside
// torch.ops) -> the TorchScript scalar operator fx calls instead. Generic
// `Scalar` overloads where TorchScript has them, so ints stay ints.
const std::map<std::string, std::string>& sym_ops() {
  static const std::map<std::string, std::string> table = {
      {"_operator.add", "jit.aten.add"},
      {"_operator.sub", "jit.aten.sub"},
      {"_operator.mul", "jit.aten.mul"},
      {"_operator.floordiv", "jit.aten.floordiv"},
      {"_operator.mod", "jit.aten.remainder"},
      {"_operator.truediv", "jit.aten.div"},
      {"_operator.pow", "jit.aten.pow.Scalar_Scalar"},  // a float, as TorchScript's
      {"_operator.neg", "jit.aten.neg.Scalar"},
      {"_operator.eq", "jit.aten.eq"},
      {"_operator.ne", "jit.aten.ne"},
      {"_operator.lt", "jit.aten.lt"},
      {"_operator.le", "jit.aten.le"},
      {"_operator.gt", "jit.aten.gt"},
      {"_operator.ge", "jit.aten.ge"},
      {"_operator.and_", "jit.aten.__and__.bool"},
      {"_operator.or_", "jit.aten.__or__.bool"},
      {"_operator.lshift", "jit.aten.__lshift__.int"},
      {"_operator.rshift", "jit.aten.__rshift__.int"},
      {"math.trunc", "jit.aten.Int.Scalar"},
      {"torch.sym_not", "jit.aten.__not__"},
      {"torch.sym_int", "jit.aten.Int.Scalar"},
      {"torch.sym_float", "jit.aten.Float.Scalar"},
      {"torch.sym_max", "jit.prim.max"},
      {"torch.sym_min", "jit.prim.min"},
      {"torch._sym_sqrt", "jit.aten.sqrt.Scalar"},
      {"torch.sym_ite", kIfElse},
  };
  return table;
}

bool is_python_keyword(const std::string& s) {
  static const std::set<std::string> words = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  return words.count(s) != 0;
}

// Reads one archive into one GraphModule; see the outline at the top.
class Loader : public pt2::Archive {
 public:
  explicit Loader(std::string path) : Archive(std::move(path)) {}

  std::unique_ptr<GraphModule> run() {
    try {
      open();
      read_model();
      graph_ = std::make_unique<Graph>();
      const Json& gm = get(model_, "graph_module", "the program");
      const Json& g = get(gm, "graph", "graph_module");
      const Json& sig = get(gm, "signature", "graph_module");
      read_value_meta(g);
      add_inputs(g, sig);
      const Json& nodes = array(get(g, "nodes", "graph"), "graph.nodes");
      for (size_t i = 0; i < nodes.size(); ++i) add_node(nodes[i], i);
      add_outputs(g, sig, gm);
      where_ = "building the GraphModule";
      return std::make_unique<GraphModule>(std::move(graph_), std::move(attrs_), "GraphModule");
    } catch (const TraceError&) {
      throw;
    } catch (const Error& e) {
      fail(where_, e.what());
    } catch (const c10::Error& e) {
      fail(where_, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(where_, e.what());
    }
  }

 private:
  // --- values and their metadata --------------------------------------------------------------
  void read_value_meta(const Json& g) {
    where_ = "graph";
    tensor_values_ = find(g, "tensor_values");
    for (const char* key : {"sym_int_values", "sym_float_values", "sym_bool_values"})
      if (const Json* m = find(g, key); m && m->is_object())
        for (auto it = m->begin(); it != m->end(); ++it) sym_values_[it.key()] = &it.value();
    if (const Json* ranges = find(model_, "range_constraints"); ranges && ranges->is_object()) {
      for (auto it = ranges->begin(); it != ranges->end(); ++it) {
        const Json* lo = find(it.value(), "min_val");
        const Json* hi = find(it.value(), "max_val");
        ranges_[it.key()] = "[" + (lo ? lo->dump() : std::string("-inf")) + ", " +
                            (hi ? hi->dump() : std::string("inf")) + "]";
      }
    }
  }

  // Records n as the value called name, with the archive's metadata for it.
  void define(const std::string& name, Node* n, const std::string& where) {
    if (!values_.emplace(name, n).second) fail(where, "value '" + name + "' is defined twice");
    if (tensor_values_ && tensor_values_->is_object()) {
      auto it = tensor_values_->find(name);
      if (it != tensor_values_->end()) {
        TensorSpec t = tensor_spec(*it, "tensor_values['" + name + "']");
        if (t.concrete && t.layout == c10::Layout::Strided) {
          try {
            at::Tensor m = at::empty_strided(t.sizes, t.strides,
                                             at::TensorOptions().dtype(t.dtype).device(at::kMeta));
            TensorMeta meta = tensor_meta_of(m);
            meta.device = t.device;
            meta.requires_grad = t.requires_grad;
            n->meta().set("tensor_meta", meta);
          } catch (const c10::Error&) {
            // Sizes and strides that no tensor can have: no metadata rather than wrong metadata.
          }
        } else if (!t.concrete) {
          std::string shape;
          for (const std::string& s : t.shape_text) shape += (shape.empty() ? "" : ", ") + s;
          n->meta().set("sym_shape", "[" + shape + "]");
          if (n->op() == Op::Placeholder) set_ranges(n, shape);
        }
      }
    }
    auto sym = sym_values_.find(name);
    if (sym != sym_values_.end() && sym->second->is_object() && sym->second->size() == 1) {
      const std::string& k = sym->second->begin().key();
      const Json& v = sym->second->begin().value();
      const Json* expr = find(v, "expr_str");
      if (k == "as_expr" && expr && expr->is_string())
        n->meta().set("sym_expr", pt2::pretty_expr(expr->get<std::string>()));
      else if (v.is_primitive())
        n->meta().set("sym_expr", v.dump());
    }
  }

  void set_ranges(Node* n, const std::string& shape) {
    std::string text;
    std::set<std::string> seen;
    for (size_t i = 0; i < shape.size();) {
      if (!std::isalpha(static_cast<unsigned char>(shape[i])) && shape[i] != '_') {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < shape.size() &&
             (std::isalnum(static_cast<unsigned char>(shape[j])) || shape[j] == '_'))
        ++j;
      std::string word = shape.substr(i, j - i);
      auto r = ranges_.find(word);
      if (r != ranges_.end() && seen.insert(word).second)
        text += (text.empty() ? "" : ", ") + word + ": " + r->second;
      i = j;
    }
    if (!text.empty()) n->meta().set("sym_ranges", text);
  }

  Node* value(const std::string& name, const std::string& where) const {
    auto it = values_.find(name);
    if (it == values_.end())
      fail(where, "refers to '" + name + "', which no earlier input or node defines");
    return it->second;
  }

  // --- inputs -------------------------------------------------------------------------------
  void add_inputs(const Json& g, const Json& sig) {
    const Json& inputs = array(get(g, "inputs", "graph"), "graph.inputs");
    const Json& specs = array(get(sig, "input_specs", "signature"), "signature.input_specs");
    if (inputs.size() != specs.size())
      fail("signature", std::to_string(specs.size()) + " input specs for " +
                            std::to_string(inputs.size()) + " graph inputs");
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string where = "input " + std::to_string(i);
      where_ = where;
      auto [role, spec] = one_of(specs[i], "signature.input_specs[" + std::to_string(i) + "]");
      auto [kind, arg] = one_of(inputs[i], "graph.inputs[" + std::to_string(i) + "]");
      std::string name;
      if (kind == "as_tensor") {
        name = str(get(*arg, "name", where), where + ".name");
      } else if (kind == "as_sym_int" || kind == "as_sym_float" || kind == "as_sym_bool") {
        name = str(get(*arg, "as_name", where), where + ".as_name");
      }
      where = "input '" + (name.empty() ? std::to_string(i) : name) + "'";
      if (role == "parameter" || role == "buffer" || role == "tensor_constant") {
        const char* key = role == "parameter" ? "parameter_name"
                          : role == "buffer"  ? "buffer_name"
                                              : "tensor_constant_name";
        std::string fqn = str(get(*spec, key, where), where + "." + key);
        if (name.empty()) fail(where, "a lifted " + role + " that is not a tensor");
        Node* n = graph_->create_node(Op::GetAttr, fqn, {}, {}, name);
        attrs_.values[fqn] = lifted_tensor(fqn, where + " (" + role + " '" + fqn + "')");
        lifted_[fqn] = n;
        define(name, n, where);
      } else if (role == "user_input" || role == "constant_input") {
        if (!name.empty()) {
          Node* n = graph_->placeholder(name);
          user_inputs_[name] = n;
          define(name, n, where);
          continue;
        }
        // A constant the program was specialised to: a placeholder defaulting to it.
        std::string pname = "arg" + std::to_string(i);
        Argument value = argument(inputs[i], where);
        if (role == "constant_input") {
          pname = str(get(*spec, "name", where), where + ".name");
          value = argument(get(*spec, "value", where), where);
        }
        Node* n = graph_->placeholder(pname, value);
        user_inputs_[pname] = n;
      } else {
        fail(where, "input kind '" + role + "' (" +
                        (role == "custom_obj" ? "a custom object"
                         : role == "token"    ? "an effect token"
                                              : "unknown") +
                        ") is not supported");
      }
    }
  }

  // --- arguments ----------------------------------------------------------------------------
  Argument sym_argument(const Json& v, const std::string& where) const {
    auto [k, x] = one_of(v, where);
    if (k == "as_name") return value(str(*x, where), where);
    if (k == "as_int") return integer(*x, where);
    if (k == "as_float") return number(*x, where);
    if (k == "as_bool") return boolean(*x, where);
    fail(where, "unknown symbolic argument kind '" + k + "'");
  }

  Argument tensor_ref(const Json& v, const std::string& where) const {
    return value(str(get(v, "name", where), where), where);
  }

  template <typename F>
  Argument list_of(const Json& v, const std::string& where, F item) const {
    std::vector<Argument> out;
    for (const Json& x : array(v, where)) out.push_back(item(x));
    return Argument::list(std::move(out));
  }

  Argument argument(const Json& a, const std::string& where) const {
    auto [k, vp] = one_of(a, where);
    const Json& v = *vp;
    if (k == "as_none") return Argument();
    if (k == "as_tensor") return tensor_ref(v, where);
    if (k == "as_tensors")
      return list_of(v, where, [&](const Json& x) { return tensor_ref(x, where); });
    if (k == "as_int") return integer(v, where);
    if (k == "as_ints")
      return list_of(v, where, [&](const Json& x) { return Argument(integer(x, where)); });
    if (k == "as_float") return number(v, where);
    if (k == "as_floats")
      return list_of(v, where, [&](const Json& x) { return Argument(number(x, where)); });
    if (k == "as_bool") return boolean(v, where);
    if (k == "as_bools")
      return list_of(v, where, [&](const Json& x) { return Argument(boolean(x, where)); });
    if (k == "as_string") return str(v, where);
    if (k == "as_strings")
      return list_of(v, where, [&](const Json& x) { return Argument(str(x, where)); });
    if (k == "as_sym_int" || k == "as_sym_float" || k == "as_sym_bool")
      return sym_argument(v, where);
    if (k == "as_sym_ints" || k == "as_sym_floats" || k == "as_sym_bools")
      return list_of(v, where, [&](const Json& x) { return sym_argument(x, where); });
    if (k == "as_scalar_type") {
      auto st = pt2::dtype_of(integer(v, where));
      if (!st) fail(where, "unknown dtype " + v.dump());
      return *st;
    }
    if (k == "as_layout") {
      auto l = pt2::layout_of(integer(v, where));
      if (!l) fail(where, "unknown layout " + v.dump());
      return *l;
    }
    if (k == "as_memory_format") {
      auto m = pt2::memory_format_of(integer(v, where));
      if (!m) fail(where, "unknown memory format " + v.dump());
      return *m;
    }
    if (k == "as_device") return device(v, where);
    if (k == "as_optional_tensor") return optional_tensor(v, where);
    if (k == "as_optional_tensors")
      return list_of(v, where, [&](const Json& x) { return optional_tensor(x, where); });
    if (k == "as_int_lists")
      return list_of(v, where, [&](const Json& row) {
        std::vector<Argument> items;
        for (const Json& x : array(row, where)) items.push_back(integer(x, where));
        return Argument::tuple(std::move(items));
      });
    if (k == "as_nested_tensors")
      return list_of(v, where, [&](const Json& row) {
        return list_of(row, where, [&](const Json& x) { return tensor_ref(x, where); });
      });
    static const std::map<std::string, std::string> unsupported = {
        {"as_graph", "a subgraph (the argument of a higher-order operator)"},
        {"as_custom_obj", "a custom object"},
        {"as_operator", "an operator"},
        {"as_complex", "a complex number"},
        {"as_string_to_argument", "a dict"},
    };
    auto u = unsupported.find(k);
    if (u != unsupported.end())
      fail(where, "argument kind '" + k + "' (" + u->second + ") is not supported");
    fail(where, "unknown argument kind '" + k + "'");
  }

  Argument optional_tensor(const Json& v, const std::string& where) const {
    auto [k, x] = one_of(v, where);
    if (k == "as_none") return Argument();
    if (k == "as_tensor") return tensor_ref(*x, where);
    fail(where, "unknown optional-tensor kind '" + k + "'");
  }

  // --- nodes --------------------------------------------------------------------------------
  void add_node(const Json& jn, size_t index) {
    std::string where = "graph.nodes[" + std::to_string(index) + "]";
    where_ = where;
    std::string target = str(get(jn, "target", where), where + ".target");
    std::string name;
    if (const Json* n = find(jn, "name")) name = str(*n, where + ".name");
    where = "node '" + (name.empty() ? std::to_string(index) : name) + "' (" + target + ")";
    where_ = where;
    const Json& inputs = array(get(jn, "inputs", where), where + ".inputs");
    const Json& outputs = array(get(jn, "outputs", where), where + ".outputs");

    std::string fx_target;
    Args args;
    Kwargs kwargs;
    auto sym = sym_ops().find(target);
    if (sym != sym_ops().end()) {
      fx_target = sym->second;
      for (const Json& in : inputs) args.push_back(argument(get(in, "arg", where), where));
    } else if (target.rfind("torch.ops.", 0) == 0) {
      fx_target = operator_target(target, where);
      place_arguments(fx_target, inputs, where, args, kwargs);
    } else {
      fail(where, "target '" + target + "' is not supported (" +
                      (target.rfind("#", 0) == 0 ? "a serialization extension"
                                                 : "not an operator of torch.ops nor SymInt "
                                                   "arithmetic") +
                      ")");
    }

    // The node's name: its one result's, else the archive's, else fx's default.
    std::optional<std::string> node_name;
    std::string single;  // the name of the one result, when there is one
    std::string single_kind;
    const Json* single_value = nullptr;
    if (outputs.size() == 1) {
      std::tie(single_kind, single_value) = one_of(outputs[0], where + ".outputs[0]");
      const std::string& k = single_kind;
      if (k == "as_tensor") single = str(get(*single_value, "name", where), where);
      if (k == "as_sym_int" || k == "as_sym_float" || k == "as_sym_bool")
        single = str(get(*single_value, "as_name", where), where);
      if (k == "as_none") node_name = default_node_name(true, fx_target) + "_unused";
    }
    if (!single.empty()) {
      node_name = single;
    } else if (!node_name && !name.empty()) {
      node_name = name;
    }
    Node* n = graph_->create_node(Op::CallFunction, fx_target, std::move(args), std::move(kwargs),
                                  node_name);
    set_metadata(n, jn, where);
    if (!single.empty()) {
      define(single, n, where);
    } else if (single_kind == "as_none") {
      // one None result: nothing to define
    } else if (!outputs.empty()) {
      if (outputs.size() == 1) {
        if (single_kind != "as_tensors")
          fail(where, "a single result of kind '" + single_kind + "' is not supported");
        getitems(n, array(*single_value, where), false, jn, where);
      } else {
        getitems(n, outputs, true, jn, where);
      }
      values_.emplace(n->name(), n);
    }
  }

  // `torch.ops.aten.add.Tensor` -> `aten::add.Tensor`; `.default` -> `aten::add`.
  std::string operator_target(const std::string& target, const std::string& where) const {
    std::string rest = target.substr(10);
    size_t a = rest.find('.');
    size_t b = a == std::string::npos ? a : rest.find('.', a + 1);
    std::string ns = rest.substr(0, a);
    if (ns == "higher_order")
      fail(where, "higher-order operators (control flow, wrapped subgraphs) are not supported");
    if (a == std::string::npos || b == std::string::npos ||
        rest.find('.', b + 1) != std::string::npos)
      fail(where, "expected a target of the form torch.ops.<namespace>.<operator>.<overload>");
    std::string op = rest.substr(a + 1, b - a - 1);
    std::string overload = rest.substr(b + 1);
    return ns + "::" + op + (overload == "default" ? "" : "." + overload);
  }

  // Splits the node's named inputs into args and kwargs as serialize.py's
  // deserialize_inputs does: by the recorded kind, else by the schema.
  void place_arguments(const std::string& qualified, const Json& inputs, const std::string& where,
                       Args& args, Kwargs& kwargs) const {
    c10::OperatorHandle op = [&] {
      try {
        return find_operator(qualified);
      } catch (const Error& e) {
        fail(where, std::string(e.what()) +
                        " (operators defined in Python, such as prims, or in a library this "
                        "process has not loaded cannot run here)");
      }
    }();
    const c10::FunctionSchema& schema = op.schema();
    std::map<std::string, std::pair<Argument, int64_t>> given;
    for (const Json& in : inputs) {
      std::string arg_name = str(get(in, "name", where), where + ".inputs[].name");
      std::string at = where + ", input '" + arg_name + "'";
      bool known = false;
      for (const c10::Argument& f : schema.arguments()) known = known || f.name() == arg_name;
      if (!known) fail(at, "is not an argument of " + c10::toString(schema));
      int64_t kind = 0;
      if (const Json* k = find(in, "kind")) kind = integer(*k, at + ".kind");
      given[arg_name] = {argument(get(in, "arg", at), at), kind};
    }
    for (const c10::Argument& f : schema.arguments()) {
      auto it = given.find(f.name());
      if (it != given.end()) {
        if (it->second.second == 1) {
          args.push_back(it->second.first);
          continue;
        }
        if (it->second.second == 2 && !is_python_keyword(f.name())) {
          kwargs.emplace_back(f.name(), it->second.first);
          continue;
        }
      }
      bool positional = !f.default_value() && !f.kwarg_only();
      if (positional || is_python_keyword(f.name())) {
        if (it == given.end()) {
          if (!positional) continue;
          fail(where, "input '" + f.name() + "' is missing and " + c10::toString(schema) +
                          " has no default for it");
        }
        args.push_back(it->second.first);
      } else if (it != given.end()) {
        kwargs.emplace_back(f.name(), it->second.first);
      }
    }
  }

  // getitem nodes for the results of n (serialize.py's generate_getitems). items are
  // Argument unions (several results) or plain tensor names (one list result).
  void getitems(Node* n, const Json& items, bool unions, const Json& jn, const std::string& where) {
    for (size_t i = 0; i < items.size(); ++i) {
      std::string at = where + ", result " + std::to_string(i);
      std::string kind = "as_tensor";
      const Json* v = &items[i];
      if (unions) std::tie(kind, v) = one_of(items[i], at);
      Args getitem_args = {n, static_cast<int64_t>(i)};
      if (kind == "as_tensor" || kind == "as_sym_int" || kind == "as_sym_float") {
        std::string result = str(get(*v, kind == "as_tensor" ? "name" : "as_name", at), at);
        Node* g = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {}, result);
        set_metadata(g, jn, at);
        define(result, g, at);
      } else if (kind == "as_tensors" || kind == "as_sym_ints" || kind == "as_sym_floats") {
        Node* list = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {});
        set_metadata(list, jn, at);
        if (kind == "as_tensors") {
          getitems(list, array(*v, at), false, jn, at);
        } else {
          const Json& syms = array(*v, at);
          for (size_t j = 0; j < syms.size(); ++j) {
            auto [k, y] = one_of(syms[j], at);
            if (k != "as_name") fail(at, "a constant inside a list of results is not supported");
            std::string result = str(*y, at);
            Node* g = graph_->create_node(Op::CallFunction, "getitem",
                                          {list, static_cast<int64_t>(j)}, {}, result);
            set_metadata(g, jn, at);
            define(result, g, at);
          }
        }
      } else if (kind == "as_none") {
        Node* g = graph_->create_node(Op::CallFunction, "getitem", getitem_args, {}, "as_none");
        set_metadata(g, jn, at);
      } else {
        fail(at, "a result of kind '" + kind + "' is not supported");
      }
    }
  }

  void set_metadata(Node* n, const Json& jn, const std::string& where) const {
    const Json* meta = find(jn, "metadata");
    if (!meta) return;
    if (!meta->is_object()) fail(where, "field 'metadata' is not an object");
    for (auto it = meta->begin(); it != meta->end(); ++it)
      if (it.value().is_string()) n->meta().set(it.key(), it.value().get<std::string>());
  }

  // --- outputs ------------------------------------------------------------------------------
  void add_outputs(const Json& g, const Json& sig, const Json& gm) {
    where_ = "graph.outputs";
    const Json& outputs = array(get(g, "outputs", "graph"), "graph.outputs");
    const Json& specs = array(get(sig, "output_specs", "signature"), "signature.output_specs");
    if (outputs.size() != specs.size())
      fail("signature", std::to_string(specs.size()) + " output specs for " +
                            std::to_string(outputs.size()) + " graph outputs");
    std::vector<Argument> leaves;
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string where = "output " + std::to_string(i);
      auto [role, spec] = one_of(specs[i], "signature.output_specs[" + std::to_string(i) + "]");
      Argument value = argument(outputs[i], where);
      if (role == "user_output" || role == "loss_output") {
        leaves.push_back(value);
      } else if (role == "buffer_mutation" || role == "parameter_mutation" ||
                 role == "user_input_mutation") {
        const char* key = role == "buffer_mutation"      ? "buffer_name"
                          : role == "parameter_mutation" ? "parameter_name"
                                                         : "user_input_name";
        std::string target = str(get(*spec, key, where), where + "." + key);
        const auto& owners = role == "user_input_mutation" ? user_inputs_ : lifted_;
        auto it = owners.find(target);
        if (it == owners.end())
          fail(where, role + " of '" + target + "', which is not an input of the program");
        if (!value.is_node())
          fail(where, role + " of '" + target + "' to a value that is not a tensor");
        graph_->call_function("aten::copy_", {it->second, value});
      } else {
        fail(where, "output kind '" + role + "' (" +
                        (role.rfind("gradient", 0) == 0 ? "a training-only output"
                         : role == "token"              ? "an effect token"
                                                        : "unknown") +
                        ") is not supported");
      }
    }
    where_ = "the output structure";
    std::string out_spec;
    if (const Json* calls = find(gm, "module_call_graph"); calls && calls->is_array())
      for (const Json& entry : *calls)
        if (const Json* fqn = find(entry, "fqn");
            fqn && fqn->is_string() && fqn->get<std::string>().empty())
          if (const Json* s = find(entry, "signature"))
            if (const Json* o = find(*s, "out_spec"); o && o->is_string())
              out_spec = o->get<std::string>();
    Argument result = Argument::tuple(leaves);
    if (!out_spec.empty()) {
      Json spec = Json::parse(out_spec, nullptr, false);
      if (spec.is_discarded()) fail("out_spec", "is not valid JSON");
      if (spec.is_array() && spec.size() == 2 && spec[0] == 1) {
        size_t next = 0;
        result = unflatten(spec[1], leaves, next);
        if (next != leaves.size())
          fail("out_spec", "describes " + std::to_string(next) + " outputs but the program has " +
                               std::to_string(leaves.size()));
      }
    }
    Node* out = graph_->output(result);
    if (!out_spec.empty()) out->meta().set("out_spec", out_spec);
  }

  // Rebuilds a pytree (treespec version 1) over the flat user outputs.
  Argument unflatten(const Json& spec, const std::vector<Argument>& leaves, size_t& next) const {
    const Json& type = get(spec, "type", "out_spec");
    if (type.is_null()) {
      if (next >= leaves.size())
        fail("out_spec",
             "describes more outputs than the program's " + std::to_string(leaves.size()));
      return leaves[next++];
    }
    std::string t = str(type, "out_spec.type");
    std::vector<Argument> items;
    for (const Json& child :
         array(get(spec, "children_spec", "out_spec"), "out_spec.children_spec"))
      items.push_back(unflatten(child, leaves, next));
    if (t == "builtins.NoneType") return Argument();
    if (t == "builtins.list") return Argument::list(std::move(items));
    return Argument::tuple(std::move(items));  // tuples; dicts and named tuples flattened
  }

  std::unique_ptr<Graph> graph_;
  Attributes attrs_;
  const Json* tensor_values_ = nullptr;
  std::map<std::string, const Json*> sym_values_;
  std::map<std::string, std::string> ranges_;
  std::unordered_map<std::string, Node*> values_;
  std::map<std::string, Node*> lifted_;       // fqn -> get_attr
  std::map<std::string, Node*> user_inputs_;  // name -> placeholder
};

}  // namespace

std::unique_ptr<GraphModule> load_exported(const std::string& path) { return Loader(path).run(); }

std::vector<c10::IValue> exported_sample_inputs(const std::string& path) {
  return Loader(path).sample_inputs();
}

bool is_exported_archive(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    char magic[2] = {0, 0};
    if (!in.read(magic, 2) || magic[0] != 'P' || magic[1] != 'K') return false;
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("archive_format")) return false;
    auto [data, size] = reader.getRecord("archive_format");
    return pt2::trim(std::string(static_cast<const char*>(data.get()), size)) == "pt2";
  } catch (...) {
    return false;
  }
}

}  // namespace fx
