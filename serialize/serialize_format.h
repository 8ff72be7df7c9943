// Internal to save / load (serialize/serialize_write.cpp, serialize_read.cpp,
// serialize_registry.cpp): the FXGM container's constants and the helpers the
// writer and the reader share. Not part of the public API; the format itself is
// documented in docs/graph_module_format.md.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "serialize/serialize.h"

namespace fx::serial {

// Files are written with ordered_json, which keeps keys in insertion order (the
// documented order). They are read with json: its std::map objects never copy a
// subtree, where ordered_json's vector of pairs with const keys copies (deeply,
// recursively) when it grows, which hostile nesting would turn into a stack overflow.
using Json = nlohmann::ordered_json;

constexpr char kMagic[4] = {'F', 'X', 'G', 'M'};
// magic (4) + format version (u32) + JSON length (u64).
constexpr uint64_t kPrefixBytes = 16;
// Deepest nesting of args, attribute values and submodules that load accepts;
// deeper input is refused before it can exhaust the stack.
constexpr int kMaxDepth = 256;

// The first version that has registered module kinds.
constexpr uint32_t kFirstVersionWithModuleKinds = 2;

inline std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// The serializer registered for kind, if any; the registered kinds as a list
// for error messages ("none" when there are none).
std::optional<ModuleSerializer> find_serializer(const std::string& kind);
std::string registered_kinds();

// Little-endian integers of the file prefix.
inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

inline uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace fx::serial
