#include "ir/parser.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <unordered_map>

#include "ir/dtype_names.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace fx {

namespace {

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// How values are spelled: node lines use format_arg (`%x`, bare strings);
// the return line and placeholder defaults use Python's str/repr (bare node
// names, quoted strings inside containers).
enum class Style { kFormat, kStr };

class LineParser {
 public:
  LineParser(std::string_view line, int line_no,
             const std::unordered_map<std::string, Node*>& nodes)
      : s_(line), line_no_(line_no), nodes_(nodes) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError("line " + std::to_string(line_no_) + ": " + what + " at column " +
                     std::to_string(pos_ + 1) + ": '" + std::string(s_) + "'");
  }

  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  void skip_spaces() {
    while (!done() && s_[pos_] == ' ') ++pos_;
  }
  bool accept(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }
  void expect(std::string_view lit) {
    if (!accept(lit)) fail("expected '" + std::string(lit) + "'");
  }
  std::string ident() {
    size_t start = pos_;
    while (!done() && ident_char(s_[pos_])) ++pos_;
    if (start == pos_) fail("expected a name");
    return std::string(s_.substr(start, pos_ - start));
  }
  // Everything up to (not including) the first occurrence of stop.
  std::string until(std::string_view stop) {
    size_t at = s_.find(stop, pos_);
    if (at == std::string_view::npos) fail("expected '" + std::string(stop) + "'");
    std::string out(s_.substr(pos_, at - pos_));
    pos_ = at;
    return out;
  }

  Node* node_ref(const std::string& name) {
    auto it = nodes_.find(name);
    if (it == nodes_.end())
      fail("'" + name + "' is used before it is defined (nodes must be in topological order)");
    return it->second;
  }

  Argument sequence(char close, Style style, bool is_tuple) {
    // Nesting is bounded so that hostile input cannot exhaust the stack.
    if (++depth_ > kMaxNesting)
      fail("lists and tuples nest deeper than " + std::to_string(kMaxNesting) + " levels");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    std::vector<Argument> items;
    skip_spaces();
    if (accept(std::string_view(&close, 1))) {
      return is_tuple ? Argument::tuple({}) : Argument::list({});
    }
    while (true) {
      items.push_back(value(style, /*top=*/false));
      skip_spaces();
      if (accept(std::string_view(&close, 1))) break;
      expect(",");
      skip_spaces();
      if (is_tuple && accept(")")) break;  // `(a,)`
    }
    return is_tuple ? Argument::tuple(std::move(items)) : Argument::list(std::move(items));
  }

  std::string quoted() {
    char q = s_[pos_++];
    std::string out;
    while (true) {
      if (done()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == q) break;
      if (c == '\\') {
        if (done()) fail("unterminated string");
        char e = s_[pos_++];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += c;
      }
    }
    return out;
  }

  Argument device_repr() {
    // device(type='cuda', index=0)
    expect("device(type=");
    if (peek() != '\'' && peek() != '"') fail("expected a quoted device type");
    std::string spec = quoted();
    if (accept(", index=")) spec += ":" + ident();
    expect(")");
    return parse_device(spec);
  }

  Argument parse_device(const std::string& spec) {
    try {
      return c10::Device(spec);
    } catch (const std::exception&) {
      fail("'" + spec + "' is not a device");
    }
  }

  Argument atom(const std::string& t, Style style, bool top) {
    if (t.empty()) return std::string();
    if (t == "None") return Argument();
    if (t == "True") return true;
    if (t == "False") return false;
    if (t == "inf") return std::numeric_limits<double>::infinity();
    if (t == "-inf") return -std::numeric_limits<double>::infinity();
    if (t == "nan") return std::numeric_limits<double>::quiet_NaN();
    const char* b = t.c_str();
    char* end = nullptr;
    size_t digits_from = t[0] == '-' ? 1 : 0;
    bool is_int = t.size() > digits_from;
    for (size_t i = digits_from; i < t.size(); ++i)
      is_int = is_int && std::isdigit(static_cast<unsigned char>(t[i]));
    if (is_int) {
      errno = 0;
      long long v = std::strtoll(b, &end, 10);
      if (errno == ERANGE) fail("integer " + t + " does not fit in 64 bits");
      return static_cast<int64_t>(v);
    }
    if (std::isdigit(static_cast<unsigned char>(t[digits_from])) || t[digits_from] == '.') {
      double v = std::strtod(b, &end);
      if (end == b + t.size()) return v;
    }
    if (t.rfind("torch.", 0) == 0) {
      std::string n = t.substr(6);
      if (auto d = dtype_from_name(n)) return *d;
      if (auto l = layout_from_name(n)) return *l;
      if (auto m = memory_format_from_name(n)) return *m;
      fail("unknown torch constant '" + t + "'");
    }
    if (t[0] == '<') fail("tensor constants cannot be parsed back; use a get_attr node instead");
    if (is_device_name(t)) return parse_device(t);
    if (style == Style::kStr) {
      // Python's str/repr prints nodes by bare name.
      auto it = nodes_.find(t);
      if (it != nodes_.end()) return it->second;
      if (!top || in_return_)
        fail("'" + t + "' is not a defined node (quote it to make it a string)");
    }
    return t;
  }

  Argument value(Style style, bool top) {
    skip_spaces();
    char c = peek();
    if (c == '%') {
      ++pos_;
      return node_ref(ident());
    }
    if (c == '(') {
      ++pos_;
      return sequence(')', style, true);
    }
    if (c == '[') {
      ++pos_;
      return sequence(']', style, false);
    }
    if (c == '\'' || c == '"') return std::string(quoted());
    if (s_.substr(pos_, 12) == "device(type=") return device_repr();
    // A bare token ends at a delimiter outside brackets.
    size_t start = pos_;
    while (!done() && s_[pos_] != ',' && s_[pos_] != ')' && s_[pos_] != ']' && s_[pos_] != '}')
      ++pos_;
    std::string token(s_.substr(start, pos_ - start));
    while (!token.empty() && token.back() == ' ') token.pop_back();
    return atom(token, style, top);
  }

  Kwargs kwargs() {
    Kwargs out;
    expect("{");
    skip_spaces();
    if (accept("}")) return out;
    while (true) {
      skip_spaces();
      std::string key = ident();
      expect(": ");
      out.emplace_back(key, value(Style::kFormat, false));
      skip_spaces();
      if (accept("}")) break;
      expect(",");
    }
    return out;
  }

  // On the return line a bare name must be a node: a typo would otherwise
  // silently return a string.
  bool in_return_ = false;
  static constexpr int kMaxNesting = 200;
  int depth_ = 0;
  std::string_view s_;
  size_t pos_ = 0;
  int line_no_;
  const std::unordered_map<std::string, Node*>& nodes_;
};

}  // namespace

std::unique_ptr<Graph> parse_graph(std::string_view text) {
  auto graph = std::make_unique<Graph>();
  std::unordered_map<std::string, Node*> nodes;
  int line_no = 0;
  bool seen_content = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    LineParser p(line, line_no, nodes);
    if (!seen_content && line.rfind("graph(", 0) == 0) {
      if (line.back() != ':') p.fail("expected 'graph():'");
      seen_content = true;
      continue;
    }
    seen_content = true;
    if (p.accept("return")) {
      if (p.done()) {
        graph->output(Argument());
        continue;
      }
      p.expect(" ");
      p.in_return_ = true;
      Argument result = p.value(Style::kStr, true);
      p.skip_spaces();
      if (!p.done()) p.fail("unexpected text after the return value");
      graph->output(std::move(result));
      continue;
    }
    p.expect("%");
    std::string name = p.ident();
    p.expect(" : ");
    std::string type = p.until("[#users=");
    while (!type.empty() && type.back() == ' ') type.pop_back();
    p.expect("[#users=");
    p.until("] = ");
    p.expect("] = ");
    std::string op_text = p.until("[target=");
    std::optional<Op> op = op_from_name(op_text);
    if (!op || *op == Op::Output) p.fail("unknown opcode '" + op_text + "'");
    p.expect("[target=");
    std::string target = p.until("]");
    p.expect("]");
    Args args;
    Kwargs kw;
    if (*op == Op::Placeholder) {
      if (p.accept("(default=")) {
        args.push_back(p.value(Style::kStr, true));
        p.expect(")");
      }
    } else if (*op != Op::GetAttr) {
      p.expect("(args = ");
      p.skip_spaces();
      if (p.peek() != '(') p.fail("expected the args tuple");
      Argument a = p.value(Style::kFormat, false);
      args = a.items();
      p.expect(", kwargs = ");
      kw = p.kwargs();
      p.expect(")");
    }
    p.skip_spaces();
    if (!p.done()) p.fail("unexpected text at the end of the line");
    if (nodes.count(name)) p.fail("'%" + name + "' is defined twice");
    nodes[name] =
        graph->create_node(*op, target, std::move(args), std::move(kw), name, std::move(type));
  }
  return graph;
}

}  // namespace fx
