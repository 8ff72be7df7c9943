// Node naming: torch.fx 1.13's _Namespace.create_name, bit for bit, in O(1).
#include "ir/namespace.h"

#include <random>
#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace fx {
namespace {

TEST(Namespace, UniquingMatchesFx) {
  Namespace ns;
  EXPECT_EQ(ns.create_name("add"), "add");
  EXPECT_EQ(ns.create_name("add"), "add_1");
  EXPECT_EQ(ns.create_name("add"), "add_2");
  EXPECT_EQ(ns.create_name("add_1"), "add_3");  // probing starts at the given number
  EXPECT_EQ(ns.create_name("foo_7"), "foo_7");
  EXPECT_EQ(ns.create_name("foo_7"), "foo_8");
  EXPECT_EQ(ns.create_name("foo"), "foo");
  EXPECT_EQ(ns.create_name("foo"), "foo_1");
  EXPECT_EQ(ns.create_name("x_007"), "x_7");  // leading zeros dropped
  EXPECT_EQ(ns.create_name("y_0"), "y_0");
  EXPECT_EQ(ns.create_name("y_0"), "y_1");
}

TEST(Namespace, SanitisesCandidates) {
  Namespace ns;
  EXPECT_EQ(ns.create_name("1abc-x.y"), "_1abc_x_y");
  EXPECT_EQ(ns.create_name("seq.0"), "seq_0");
  EXPECT_EQ(ns.create_name("*args"), "_args");
  EXPECT_EQ(ns.create_name("my-weird..method"), "my_weird_method");
  EXPECT_EQ(ns.create_name(""), "_");
}

TEST(Namespace, ReservesPythonKeywordsBuiltinsAndFxGlobals) {
  Namespace ns;
  EXPECT_EQ(ns.create_name("if"), "if_1");
  EXPECT_EQ(ns.create_name("sum"), "sum_1");
  EXPECT_EQ(ns.create_name("sum"), "sum_2");
  EXPECT_EQ(ns.create_name("list"), "list_1");
  EXPECT_EQ(ns.create_name("pow"), "pow_1");
  EXPECT_EQ(ns.create_name("getattr"), "getattr_1");
  EXPECT_EQ(ns.create_name("torch"), "torch_1");
  EXPECT_EQ(ns.create_name("device"), "device_1");
  EXPECT_EQ(ns.create_name("None"), "None_1");
  EXPECT_TRUE(is_reserved_name("max"));
  EXPECT_FALSE(is_reserved_name("relu"));
}

TEST(Namespace, DefaultNamesFromTargets) {
  EXPECT_EQ(default_node_name(true, "aten::add.Tensor"), "add");
  EXPECT_EQ(default_node_name(true, "aten::relu"), "relu");
  EXPECT_EQ(default_node_name(true, "aten::sum.dim_IntList"), "sum");
  EXPECT_EQ(default_node_name(true, "my_ops::FusedGelu.default"), "fused_gelu");
  EXPECT_EQ(default_node_name(false, "convBlock.weight"), "conv_block.weight");
  EXPECT_EQ(default_node_name(false, "ConvBN"), "conv_bn");
  EXPECT_EQ(default_node_name(false, "W"), "w");
  EXPECT_EQ(default_node_name(false, "__call__"), "call");
  EXPECT_EQ(default_node_name(false, "activations.PascalCase"), "activations.pascal_case");
}

// torch.fx 1.13's algorithm written the slow, obvious way.
class ReferenceNamespace {
 public:
  std::string create_name(std::string c) {
    c = std::regex_replace(c, std::regex("[^0-9a-zA-Z_]+"), "_");
    if (c.empty()) c = "_";
    if (std::isdigit(static_cast<unsigned char>(c[0]))) c = "_" + c;
    std::smatch m;
    std::string base = c;
    long long num = 0;
    if (std::regex_match(c, m, std::regex("(.*)_(\\d+)"))) {
      base = m[1];
      num = std::stoll(m[2]);
      c = base + "_" + std::to_string(num);
    }
    while (used_.count(c) || is_reserved_name(c)) c = base + "_" + std::to_string(++num);
    used_.insert(c);
    return c;
  }

 private:
  std::set<std::string> used_;
};

TEST(Namespace, AgreesWithReferenceOnRandomSequences) {
  std::mt19937 rng(1234);
  const char* bases[] = {"add",    "add_1", "add_2", "add_10", "x",  "x_1", "sum",  "foo_7",
                         "foo_07", "a.b",   "relu",  "relu_3", "1x", "if",  "mul_0"};
  for (int trial = 0; trial < 20; ++trial) {
    Namespace fast;
    ReferenceNamespace slow;
    for (int i = 0; i < 300; ++i) {
      std::string c = bases[rng() % (sizeof(bases) / sizeof(bases[0]))];
      ASSERT_EQ(fast.create_name(c), slow.create_name(c)) << "trial " << trial << " step " << i;
    }
  }
}

TEST(Namespace, RepeatedNamesStayCheap) {
  Namespace ns;
  for (int i = 0; i < 100000; ++i) ns.create_name("add");
  EXPECT_EQ(ns.create_name("add"), "add_100000");
  EXPECT_EQ(ns.create_name("add_5"), "add_100001");
}

}  // namespace
}  // namespace fx
