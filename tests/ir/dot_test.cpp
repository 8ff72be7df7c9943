// to_dot: Graphviz records, colours, metadata and edges.
#include "ir/dot.h"

#include <gtest/gtest.h>

#include "ir/graph.h"

namespace fx {
namespace {

TEST(Dot, RecordsAndEdges) {
  Graph g;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("w");
  Node* mm = g.call_function("aten::mm", {x, w});
  Node* clamp = g.call_method("clamp", {mm}, {{"min", 0.0}});
  g.output(clamp);
  TensorMeta tm;
  tm.shape = {3, 5};
  tm.stride = {5, 1};
  mm->meta().set("tensor_meta", tm);
  std::string dot = g.to_dot("MyModule");
  EXPECT_EQ(dot.rfind("digraph \"MyModule\" {\nrankdir=TB;\n", 0), 0u);
  EXPECT_NE(dot.find("\"x\" [fillcolor=\"AliceBlue\", fontcolor=\"#000000\", "
                     "label=\"{name=%x|op_code=placeholder\\n|target=x\\n|num_users=1\\n}\", "
                     "shape=record, style=\"filled,rounded\"];"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("\"w\" [fillcolor=\"LightGrey\""), std::string::npos);
  EXPECT_NE(dot.find("|float32[3, 5]\\n}"), std::string::npos);
  EXPECT_NE(dot.find("|kwargs=\\{min: 0.0\\}\\n"), std::string::npos);  // braces escaped
  EXPECT_NE(dot.find("\"output\" [fillcolor=\"PowderBlue\""), std::string::npos);
  for (const char* edge :
       {"\"x\" -> \"mm\";", "\"w\" -> \"mm\";", "\"mm\" -> \"clamp\";", "\"clamp\" -> \"output\";"})
    EXPECT_NE(dot.find(edge), std::string::npos) << edge;
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  EXPECT_EQ(dot, to_dot(g, "MyModule"));
}

}  // namespace
}  // namespace fx
