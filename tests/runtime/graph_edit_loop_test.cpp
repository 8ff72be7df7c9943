// A GraphModule edited and recompiled over and over (a service that rewrites
// its graphs) frees the nodes it erased: recompile() releases them two
// generations later, so the node objects stay bounded, and the module keeps
// computing what its graph says.
#include <algorithm>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "runtime/graph_module.h"

namespace fx {
namespace {

TEST(GraphEditLoop, RecompileFreesErasedNodes) {
  GraphModule gm(parse_graph(R"(graph():
    %x : [#users=1] = placeholder[target=x]
    %r : [#users=1] = call_function[target=aten::relu](args = (%x,), kwargs = {})
    return r)"),
                 Attributes{});
  Graph& g = gm.graph();
  Node* out = g.output_node();
  const size_t start = g.allocated_nodes();
  size_t most = 0;
  at::Tensor x = at::randn({8});
  for (int i = 0; i < 2000; ++i) {
    // Swap the output's producer between relu and neg, erasing the old one.
    Node* old = out->args()[0].to_node();
    Node* fresh;
    {
      auto at = g.inserting_before(out);
      fresh =
          g.call_function(i % 2 ? "aten::relu" : "aten::neg", {g.find_nodes(Op::Placeholder)[0]});
    }
    old->replace_all_uses_with(fresh);
    g.erase_node(old);
    gm.recompile();
    most = std::max(most, g.allocated_nodes());
    if (i % 500 == 0) {
      at::Tensor want = i % 2 ? at::relu(x) : at::neg(x);
      EXPECT_TRUE(at::equal(gm.forward({x}).toTensor(), want)) << "iteration " << i;
    }
  }
  EXPECT_LE(most, start + 2);
}

}  // namespace
}  // namespace fx
