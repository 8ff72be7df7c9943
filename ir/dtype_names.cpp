#include "ir/dtype_names.h"

#include <cctype>

namespace fx {

std::string dtype_name(c10::ScalarType t) {
  using S = c10::ScalarType;
  switch (t) {
    case S::Byte: return "uint8";
    case S::Char: return "int8";
    case S::Short: return "int16";
    case S::Int: return "int32";
    case S::Long: return "int64";
    case S::Half: return "float16";
    case S::Float: return "float32";
    case S::Double: return "float64";
    case S::ComplexHalf: return "complex32";
    case S::ComplexFloat: return "complex64";
    case S::ComplexDouble: return "complex128";
    case S::Bool: return "bool";
    case S::QInt8: return "qint8";
    case S::QUInt8: return "quint8";
    case S::QInt32: return "qint32";
    case S::BFloat16: return "bfloat16";
    case S::QUInt4x2: return "quint4x2";
    case S::QUInt2x4: return "quint2x4";
    default: break;
  }
  // Newer types (Float8_e4m3fn, UInt16, ...) are spelled in lower case by torch.
  std::string s = c10::toString(t);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string layout_name(c10::Layout l) {
  switch (l) {
    case c10::Layout::Strided: return "strided";
    case c10::Layout::Sparse: return "sparse_coo";
    case c10::Layout::Mkldnn: return "_mkldnn";
    case c10::Layout::SparseCsr: return "sparse_csr";
    case c10::Layout::SparseCsc: return "sparse_csc";
    case c10::Layout::SparseBsr: return "sparse_bsr";
    case c10::Layout::SparseBsc: return "sparse_bsc";
    default: return "layout_" + std::to_string(static_cast<int>(l));
  }
}

std::string memory_format_name(c10::MemoryFormat m) {
  switch (m) {
    case c10::MemoryFormat::Contiguous: return "contiguous_format";
    case c10::MemoryFormat::Preserve: return "preserve_format";
    case c10::MemoryFormat::ChannelsLast: return "channels_last";
    case c10::MemoryFormat::ChannelsLast3d: return "channels_last_3d";
    default: return "memory_format_" + std::to_string(static_cast<int>(m));
  }
}

std::optional<c10::ScalarType> dtype_from_name(const std::string& name) {
  // Python aliases accepted on input; printing always uses the names above.
  if (name == "float") return c10::ScalarType::Float;
  if (name == "double") return c10::ScalarType::Double;
  if (name == "half") return c10::ScalarType::Half;
  if (name == "long") return c10::ScalarType::Long;
  if (name == "int") return c10::ScalarType::Int;
  for (int i = 0; i < static_cast<int>(c10::ScalarType::NumOptions); ++i) {
    auto t = static_cast<c10::ScalarType>(i);
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

std::optional<c10::Layout> layout_from_name(const std::string& name) {
  for (int i = 0; i < static_cast<int>(c10::Layout::NumOptions); ++i) {
    auto l = static_cast<c10::Layout>(i);
    if (layout_name(l) == name) return l;
  }
  return std::nullopt;
}

std::optional<c10::MemoryFormat> memory_format_from_name(const std::string& name) {
  for (int i = 0; i < static_cast<int>(c10::MemoryFormat::NumOptions); ++i) {
    auto m = static_cast<c10::MemoryFormat>(i);
    if (memory_format_name(m) == name) return m;
  }
  return std::nullopt;
}

bool is_device_name(const std::string& name) {
  static const char* types[] = {"cpu", "cuda", "meta", "mps", "xpu", "hip", "mkldnn"};
  for (const char* type : types) {
    std::string t = type;
    if (name == t) return true;
    if (name.size() > t.size() + 1 && name.compare(0, t.size(), t) == 0 && name[t.size()] == ':') {
      bool digits = true;
      for (size_t i = t.size() + 1; i < name.size(); ++i)
        digits = digits && std::isdigit(static_cast<unsigned char>(name[i]));
      if (digits) return true;
    }
  }
  return false;
}

}  // namespace fx
