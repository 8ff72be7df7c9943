// serving/triton/model_config.h: reading config.pbtxt as Triton hands it to the backend (JSON),
// without a server. The server tests (triton_server_test.cpp) cover the rest of the backend.
#include "serving/triton/model_config.h"

#include <gtest/gtest.h>

#include "ir/error.h"
#include "tests/expect_error.h"

namespace {

using fx::testing_support::expect_error;
using fx::triton::ModelConfig;
using fx::triton::parse_model_config;

// What Triton 2.51 serializes for a config like tests/serving/make_triton_repo.py's two_out,
// trimmed to the fields the backend reads and a few it must ignore.
const char* kTwoOut = R"({
  "name": "two_out", "platform": "", "backend": "fx", "max_batch_size": 16,
  "input": [
    {"name": "a", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [6],
     "is_shape_tensor": false, "allow_ragged_batch": false, "optional": false},
    {"name": "b", "data_type": "TYPE_INT64", "dims": ["-1", "3"]}
  ],
  "output": [{"name": "mixed", "data_type": "TYPE_FP32", "dims": [6], "label_filename": ""}],
  "instance_group": [{"name": "two_out_0", "kind": "KIND_CPU", "count": 1, "gpus": []}],
  "dynamic_batching": {"max_queue_delay_microseconds": 1000},
  "default_model_filename": "",
  "parameters": {"optimize": {"string_value": "yes"}, "device": {"string_value": "cpu"}}
})";

TEST(TritonConfig, ReadsTensorsBatchingAndParameters) {
  ModelConfig c = parse_model_config(kTwoOut);
  EXPECT_EQ(c.name, "two_out");
  EXPECT_EQ(c.max_batch_size, 16);
  ASSERT_EQ(c.inputs.size(), 2u);
  EXPECT_EQ(c.inputs[0].name, "a");
  EXPECT_EQ(c.inputs[0].dtype, c10::ScalarType::Float);
  EXPECT_EQ(c.inputs[0].data_type, "FP32");
  EXPECT_EQ(c.inputs[0].dims, std::vector<int64_t>({6}));
  EXPECT_EQ(c.inputs[1].dtype, c10::ScalarType::Long);
  EXPECT_EQ(c.inputs[1].dims, std::vector<int64_t>({-1, 3}));  // dims written as strings
  ASSERT_EQ(c.outputs.size(), 1u);
  EXPECT_EQ(c.output("mixed"), &c.outputs[0]);
  EXPECT_EQ(c.output("nope"), nullptr);
  EXPECT_TRUE(c.optimize);
  EXPECT_TRUE(c.fuse);  // follows optimize unless given
  EXPECT_FALSE(c.cuda_graphs);
  EXPECT_EQ(c.device, "cpu");
}

TEST(TritonConfig, FuseAloneAndDefaults) {
  ModelConfig c = parse_model_config(R"({"name": "m",
      "input": [{"name": "x", "data_type": "TYPE_FP16", "dims": [2]}],
      "output": [{"name": "y", "data_type": "TYPE_BOOL", "dims": [2]}],
      "parameters": {"fuse": {"string_value": "TRUE"}}})");
  EXPECT_EQ(c.max_batch_size, 0);
  EXPECT_FALSE(c.optimize);
  EXPECT_TRUE(c.fuse);
  EXPECT_EQ(c.inputs[0].dtype, c10::ScalarType::Half);
  EXPECT_EQ(c.outputs[0].dtype, c10::ScalarType::Bool);
}

void expect_config_error(const std::string& json, const std::string& needle) {
  SCOPED_TRACE(json);
  expect_error([&] { parse_model_config(json); }, fx::ErrorKind::kRuntime, {needle});
}

TEST(TritonConfig, BadConfigsNameTheModelAndTheField) {
  const std::string io = R"("input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [2]}],
      "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}])";
  expect_config_error(R"({"name": "m", )" + io + R"(, "parameters": {"speed": {"string_value": "1"}}})",
                      "model 'm': config.pbtxt: unknown parameter 'speed'");
  expect_config_error(R"({"name": "m", )" + io + R"(, "parameters": {"optimize": {"string_value": "maybe"}}})",
                      "parameter 'optimize' must be true or false, not 'maybe'");
  expect_config_error(R"({"name": "m", )" + io + R"(, "parameters": {"device": {"string_value": "tpu"}}})",
                      "parameter 'device' must be cpu, cuda or cuda:N");
  expect_config_error(R"({"name": "m", "input": [{"name": "x", "data_type": "TYPE_STRING", "dims": [1]}],
      "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}]})",
                      "input 'x': data_type 'TYPE_STRING' is not served");
  expect_config_error(R"({"name": "m", "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [0]}],
      "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}]})",
                      "dimension 0");
  expect_config_error(R"({"name": "m", "input": [], "output": []})", "no input is declared");
  expect_config_error(R"({"name": "m", "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [2]},
      {"name": "x", "data_type": "TYPE_FP32", "dims": [2]}],
      "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}]})",
                      "'x' is declared twice");
  expect_config_error("{not json", "not valid JSON");
}

TEST(TritonConfig, ShapesWithAndWithoutABatchDimension) {
  fx::triton::TensorSpec spec{"x", "FP32", c10::ScalarType::Float, {-1, 3}};
  std::string why;
  EXPECT_TRUE(shape_matches(spec, 8, {8, 5, 3}, &why));
  EXPECT_TRUE(shape_matches(spec, 8, {1, 1, 3}, &why));
  EXPECT_FALSE(shape_matches(spec, 8, {9, 5, 3}, &why));
  EXPECT_EQ(why, "a batch dimension of 1 to 8 then [-1,3]");
  EXPECT_FALSE(shape_matches(spec, 8, {2, 5, 4}, &why));
  EXPECT_EQ(why, "[batch] + [-1,3]");
  EXPECT_FALSE(shape_matches(spec, 8, {2, 3}, &why));
  EXPECT_TRUE(shape_matches(spec, 0, {5, 3}, &why));
  EXPECT_FALSE(shape_matches(spec, 0, {1, 5, 3}, &why));
  EXPECT_EQ(why, "[-1,3]");
}

}  // namespace
