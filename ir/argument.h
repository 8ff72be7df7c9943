// Argument: the value type of a Node's args and kwargs, the C++ analog of
// torch.fx's `Argument`. It holds None, bool, int64, double, string, dtype,
// device, layout, memory format, a tensor constant, a Node*, or a list/tuple
// of Arguments (nested). Values are immutable; copying is cheap (sequences and
// tensors are shared). Dicts, slices and complex numbers are not supported.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

namespace at {
class Tensor;
}

namespace fx {

class Node;

class Argument {
 public:
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kDouble,
    kString,
    kDtype,
    kDevice,
    kLayout,
    kMemoryFormat,
    kTensor,
    kNode,
    kList,
    kTuple,
  };

  Argument() = default;  // None
  Argument(std::nullptr_t) {}
  Argument(bool v) : value_(v) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Argument(T v) : value_(static_cast<int64_t>(v)) {}
  Argument(double v) : value_(v) {}
  Argument(const char* v) : value_(std::string(v)) {}
  Argument(std::string v) : value_(std::move(v)) {}
  Argument(c10::ScalarType v) : value_(v) {}
  Argument(c10::Device v) : value_(v) {}
  Argument(c10::Layout v) : value_(v) {}
  Argument(c10::MemoryFormat v) : value_(v) {}
  Argument(const at::Tensor& v);
  Argument(Node* v) : value_(v) {}

  static Argument list(std::vector<Argument> items);
  static Argument tuple(std::vector<Argument> items);

  Kind kind() const { return static_cast<Kind>(index()); }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_node() const { return kind() == Kind::kNode; }
  bool is_sequence() const { return kind() == Kind::kList || kind() == Kind::kTuple; }

  // Accessors REQUIRE the matching kind; a mismatch throws fx::Error.
  bool to_bool() const;
  int64_t to_int() const;
  double to_double() const;  // also accepts an int
  const std::string& to_string() const;
  c10::ScalarType to_dtype() const;
  c10::Device to_device() const;
  c10::Layout to_layout() const;
  c10::MemoryFormat to_memory_format() const;
  const at::Tensor& to_tensor() const;
  Node* to_node() const;
  const std::vector<Argument>& items() const;  // list or tuple

  // Structural equality; Nodes compare by identity, tensors by identity.
  // Like Python, 1 == 1.0 is false here (literals must match in type).
  bool operator==(const Argument& other) const;
  bool operator!=(const Argument& other) const { return !(*this == other); }

 private:
  struct Seq;
  using Value = std::variant<std::monostate, bool, int64_t, double, std::string, c10::ScalarType,
                             c10::Device, c10::Layout, c10::MemoryFormat,
                             std::shared_ptr<const at::Tensor>, Node*, std::shared_ptr<const Seq>>;
  size_t index() const;

  Value value_;
};

using Args = std::vector<Argument>;
using Kwargs = std::vector<std::pair<std::string, Argument>>;

// Applies fn to every Node inside a (nested) Argument, depth-first and left to
// right, and rebuilds the value around the results; everything else passes
// through unchanged. The order defines all_input_nodes and users.
Argument map_arg(const Argument& arg, const std::function<Argument(Node*)>& fn);
Args map_arg(const Args& args, const std::function<Argument(Node*)>& fn);
Kwargs map_arg(const Kwargs& kwargs, const std::function<Argument(Node*)>& fn);

// Calls fn on every Node inside arg, in map_arg order, without rebuilding.
void for_each_node(const Argument& arg, const std::function<void(Node*)>& fn);

// Printing, as torch.fx prints the equivalent Python value.
// format_arg: the node-line form (`%x`, strings unquoted, `{k: v}` kwargs).
std::string format_arg(const Argument& arg);
std::string format_args(const Args& args);        // always a tuple: `(%x,)`
std::string format_kwargs(const Kwargs& kwargs);  // `{alpha: 2}`
// str_arg / repr_arg: Python's str() and repr() (nodes print as bare names,
// strings quoted only by repr, devices as `cpu` / `device(type='cpu')`).
std::string str_arg(const Argument& arg);
std::string repr_arg(const Argument& arg);
// Appending forms, for printers that build one large string.
void format_args_to(std::string& out, const Args& args);
void format_kwargs_to(std::string& out, const Kwargs& kwargs);
void str_arg_to(std::string& out, const Argument& arg);
// Python's repr of a float: `0.0`, `1e-05`, `inf`, `nan`.
std::string format_double(double v);

}  // namespace fx
