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

std::unordered_map<const Node*, size_t> node_positions(const Graph& g) {
  std::unordered_map<const Node*, size_t> position;
  size_t i = 0;
  for (const Node* n : g.nodes()) position[n] = i++;
  return position;
}

std::vector<const Node*> aliases_of(const Node& x, const Node* skip) {
  std::vector<const Node*> aliases = {&x};
  std::unordered_set<const Node*> seen = {&x};
  for (size_t k = 0; k < aliases.size(); ++k)
    for (const Node* u : aliases[k]->users())
      if (u != skip && may_alias_input(*u) && seen.insert(u).second) aliases.push_back(u);
  return aliases;
}

const Node* read_after(const Node& x, const Node& at,
                       const std::unordered_map<const Node*, size_t>& position) {
  for (const Node* a : aliases_of(x, &at))
    for (const Node* u : a->users())
      if (u != &at && position.at(u) > position.at(&at)) return u;
  return nullptr;
}

}  // namespace fx::passes
