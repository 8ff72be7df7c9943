#include "ir/dot.h"

#include <cstdint>

#include "ir/graph.h"

namespace fx {

namespace {

// Characters that mean something inside a record label.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '{' || c == '}' || c == '|' || c == '<' || c == '>' || c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

const char* colour(const Node* n) {
  static const char* palette[] = {"CadetBlue1", "Coral",      "DarkOliveGreen1", "DarkSeaGreen1",
                                  "GhostWhite", "Khaki1",     "LavenderBlush1",  "LightSkyBlue",
                                  "MistyRose1", "MistyRose2", "PaleTurquoise2",  "PeachPuff1",
                                  "Salmon",     "Thistle1",   "Thistle3",        "Wheat1"};
  switch (n->op()) {
    case Op::Placeholder: return "AliceBlue";
    case Op::GetAttr: return "LightGrey";
    case Op::CallModule: return "LemonChiffon1";
    case Op::Output: return "PowderBlue";
    default: break;
  }
  uint32_t h = 2166136261u;  // FNV-1a of the target: stable colours per operator
  for (unsigned char c : n->target()) h = (h ^ c) * 16777619u;
  return palette[h % 16];
}

std::string dot_quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::string to_dot(const Graph& graph, const std::string& name) {
  std::string out = "digraph " + dot_quoted(name) + " {\nrankdir=TB;\n";
  for (const Node* n : graph.nodes()) {
    std::string label = "{name=%" + escape(n->name()) + "|op_code=" + op_name(n->op()) +
                        "\\n|target=" + escape(n->target()) + "\\n";
    if (n->op() == Op::CallFunction || n->op() == Op::CallMethod || n->op() == Op::CallModule) {
      std::string literal;
      for (const Argument& a : n->args())
        if (!a.is_node()) literal += (literal.empty() ? "" : ", ") + format_arg(a);
      if (!literal.empty()) label += "|args=" + escape(literal) + "\\n";
      if (!n->kwargs().empty()) label += "|kwargs=" + escape(format_kwargs(n->kwargs())) + "\\n";
    }
    label += "|num_users=" + std::to_string(n->users().size()) + "\\n";
    if (const TensorMeta* tm = n->tensor_meta()) label += "|" + escape(tm->str()) + "\\n";
    label += "}";
    out += dot_quoted(n->name()) + " [fillcolor=" + dot_quoted(colour(n)) +
           ", fontcolor=\"#000000\", label=" + dot_quoted(label) +
           ", shape=record, style=\"filled,rounded\"];\n";
  }
  for (const Node* n : graph.nodes())
    for (const Node* u : n->users())
      out += dot_quoted(n->name()) + " -> " + dot_quoted(u->name()) + ";\n";
  return out + "}\n";
}

std::string Graph::to_dot(const std::string& name) const { return fx::to_dot(*this, name); }

}  // namespace fx
