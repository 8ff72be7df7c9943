// fxjit: the fx command-line tool. `demo` builds torch.fx's documentation
// example by hand and walks through printing, editing, linting, DOT output,
// running it as a GraphModule and its generated C++; `graph`, `lint` and `dot` read a graph in
// the printed form from a file (or `-` for stdin). Later milestones add
// tracing, running, fusing and benchmarking.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include <ATen/ATen.h>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "runtime/graph_module.h"
#include "runtime/shape_prop.h"

namespace {

const char* kUsage = R"(usage: fxjit <command> [args]

commands:
  demo          build torch.fx's documentation example by hand, edit it, print it
  graph FILE    parse a graph in fx's printed form and print it back
  lint FILE     parse a graph and check it (topological order, output placement)
  dot FILE      parse a graph and print Graphviz source (render with `dot -Tpng`)

FILE may be `-` for standard input. `fxjit <command> --help` describes a command.
)";

std::string read_input(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

int demo() {
  // The module from torch.fx's documentation:
  //   forward(x) = linear(x + param).clamp(min=0.0, max=1.0)
  // built with the Graph API, the way fx's tracer records it.
  auto graph = std::make_unique<fx::Graph>();
  fx::Graph& g = *graph;
  fx::Node* x = g.placeholder("x");
  fx::Node* param = g.get_attr("param");
  fx::Node* add = g.call_function("aten::add.Tensor", {x, param});
  fx::Node* weight = g.get_attr("linear.weight");
  fx::Node* bias = g.get_attr("linear.bias");
  fx::Node* linear = g.call_function("aten::linear", {add, weight, bias});
  fx::Node* clamp = g.call_function("aten::clamp", {linear, 0.0, 1.0});
  g.output(clamp);
  std::cout << "# torch.fx's example module, as an fx graph\n" << g << "\n\n";

  // A typical pass: swap clamp(0, 1) for a sigmoid, then clean up.
  fx::Node* sigmoid = nullptr;
  {
    auto at = g.inserting_after(clamp);
    sigmoid = g.call_function("aten::sigmoid", {linear});
  }
  clamp->replace_all_uses_with(sigmoid);
  g.eliminate_dead_code();
  g.lint();
  std::cout << "# after replacing clamp with sigmoid and eliminating dead code\n" << g << "\n\n";

  // The printed form reads back into an identical graph.
  auto parsed = fx::parse_graph(g.str());
  std::cout << "# parsed back from text: " << (parsed->str() == g.str() ? "identical" : "DIFFERENT")
            << " (" << parsed->size() << " nodes)\n\n";
  std::cout << "# Graphviz source (fxjit dot FILE | dot -Tpng -o graph.png)\n"
            << g.to_dot("MyModule") << "\n";

  // Run it: a GraphModule holds the graph and the tensors its get_attr nodes name.
  fx::Attributes attrs;
  attrs.values["param"] = at::rand({3, 4});
  attrs.values["linear.weight"] = at::randn({5, 4});
  attrs.values["linear.bias"] = at::randn({5});
  fx::GraphModule gm(std::move(graph), attrs, "MyModule");
  std::cout << "# the GraphModule's forward, as C++ source (GraphModule::code)\n"
            << gm.code().substr(gm.code().find("c10::IValue forward(")) << "\n";
  at::Tensor input = at::randn({3, 4});
  at::Tensor got = gm(input).toTensor();
  at::Tensor eager =
      at::linear(input + attrs.values["param"].toTensor(), attrs.values["linear.weight"].toTensor(),
                 attrs.values["linear.bias"].toTensor())
          .sigmoid();
  std::cout << "# forward on a random [3, 4] input: output " << got.sizes()
            << ", max |fx - eager LibTorch| = " << (got - eager).abs().max().item<double>() << "\n";
  fx::shape_prop(gm, {at::empty({3, 4}, at::TensorOptions().device(at::kMeta))});
  std::cout << "# shapes from shape_prop on a meta input:";
  for (const fx::Node* n : gm.graph().nodes())
    if (const fx::TensorMeta* m = n->tensor_meta())
      std::cout << " " << n->name() << "=" << m->str();
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1];
  bool help = argc > 2 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h");
  try {
    if (cmd == "demo") {
      if (help) {
        std::cout << "usage: fxjit demo\n\nbuilds torch.fx's documentation example with the Graph "
                     "API, edits it, prints it as text and Graphviz source, runs it as a "
                     "GraphModule against eager LibTorch and prints its generated C++\n";
        return 0;
      }
      return demo();
    }
    if (cmd == "graph" || cmd == "lint" || cmd == "dot") {
      if (help || argc != 3) {
        std::cout << "usage: fxjit " << cmd << " FILE\n\nreads a graph in fx's printed form "
                  << "(`graph():` followed by one node per line; FILE `-` is stdin) and "
                  << (cmd == "graph"  ? "prints it back"
                      : cmd == "lint" ? "checks it"
                                      : "prints Graphviz source for it")
                  << "\n";
        return help ? 0 : 2;
      }
      auto g = fx::parse_graph(read_input(argv[2]));
      if (cmd == "graph") std::cout << *g << "\n";
      if (cmd == "lint") {
        g->lint();
        std::cout << "ok: " << g->size() << " nodes\n";
      }
      if (cmd == "dot") std::cout << g->to_dot();
      return 0;
    }
    std::cerr << "fxjit: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const fx::Error& e) {
    std::cerr << "fxjit: " << fx::error_kind_name(e.kind()) << " error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fxjit: " << e.what() << "\n";
    return 1;
  }
}
