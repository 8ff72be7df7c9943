// The registry of module kinds that save / load handle besides GraphModule
// (Note [Saving other module kinds] in serialize/serialize.h).
#include <map>
#include <mutex>

#include "ir/error.h"
#include "serialize/serialize_format.h"

namespace fx {
namespace serial {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, ModuleSerializer> serializers;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: usable from static destructors
  return *r;
}

}  // namespace

std::optional<ModuleSerializer> find_serializer(const std::string& kind) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.serializers.find(kind);
  if (it == r.serializers.end()) return std::nullopt;
  return it->second;
}

std::string registered_kinds() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::string out;
  for (const auto& kv : r.serializers) out += (out.empty() ? "" : ", ") + kv.first;
  return out.empty() ? "none" : out;
}

}  // namespace serial

void register_module_serializer(const std::string& kind, ModuleSerializer serializer) {
  if (kind.empty() || kind == "GraphModule")
    throw GraphError("register_module_serializer: the kind '" + kind +
                     "' is reserved; register the kind() of your own Module");
  if (!serializer.save || !serializer.load)
    throw GraphError("register_module_serializer: the serializer for " + kind +
                     " needs both a save and a load function");
  serial::Registry& r = serial::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.serializers[kind] = std::move(serializer);
}

bool has_module_serializer(const std::string& kind) {
  return serial::find_serializer(kind).has_value();
}

}  // namespace fx
