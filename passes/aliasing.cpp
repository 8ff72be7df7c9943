// See passes/aliasing.h.
#include "passes/aliasing.h"

#include <unordered_set>
#include <vector>

#include "runtime/operator.h"

namespace fx::passes {

bool returns_fresh(const std::string& target) {
  try {
    const c10::FunctionSchema& s = find_operator(target).schema();
    if (s.returns().empty()) return false;
    for (const c10::Argument& r : s.returns())
      if (r.alias_info()) return false;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool may_alias_input(const Node& n) {
  switch (n.op()) {
    case Op::CallFunction:
      if (n.target() == "getitem") return true;
      return n.target().find("::") == std::string::npos || !returns_fresh(n.target());
    case Op::Output: return false;
    default: return true;
  }
}

std::unordered_set<const Node*> aliases_of(const Node& x) {
  std::vector<const Node*> todo = {&x};
  std::unordered_set<const Node*> seen = {&x};
  for (size_t k = 0; k < todo.size(); ++k)
    for (const Node* u : todo[k]->users())
      if (may_alias_input(*u) && seen.insert(u).second) todo.push_back(u);
  return seen;
}

const Node* read_after(const Node& x, const Node& at,
                       const std::unordered_map<const Node*, size_t>& position) {
  std::vector<const Node*> aliases = {&x};
  std::unordered_set<const Node*> seen = {&x};
  for (size_t k = 0; k < aliases.size(); ++k) {
    for (const Node* u : aliases[k]->users()) {
      if (u == &at) continue;
      if (position.at(u) > position.at(&at)) return u;
      if (may_alias_input(*u) && seen.insert(u).second) aliases.push_back(u);
    }
  }
  return nullptr;
}

}  // namespace fx::passes
