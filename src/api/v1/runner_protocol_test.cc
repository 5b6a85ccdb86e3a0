#include "api/v1/runner_protocol.h"

#include <gtest/gtest.h>

namespace agentd::api::v1 {
namespace {

TEST(RunnerProtocolTest, SpecRoundTripsThroughJson) {
  RunnerSpec spec;
  spec.run_id = "run-1";
  spec.workspace = "/tmp/ws";
  spec.model.base_url = "http://127.0.0.1:1/v1";
  spec.model.output_per_million = 1'500'000;
  spec.limits.timeout = std::chrono::seconds(60);
  spec.tools = {"shell"};
  auto back = RunnerSpecFromJson(RunnerSpecToJson(spec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->model.output_per_million, 1'500'000);
  EXPECT_EQ(back->limits.timeout, std::chrono::seconds(60));
  EXPECT_EQ(back->tools, std::vector<std::string>{"shell"});
}

TEST(RunnerProtocolTest, SpecWithoutAbsoluteWorkspaceIsRejected) {
  RunnerSpec spec;
  spec.run_id = "run-1";
  spec.workspace = "relative";
  EXPECT_FALSE(RunnerSpecFromJson(RunnerSpecToJson(spec)).ok());
}

TEST(RunnerProtocolTest, EventLinesRoundTrip) {
  RunnerEvent e{.seq = 3, .type = "delta", .data = {{"content", "hi"}}, .time = {}};
  auto back = ParseRunnerEvent(FormatRunnerEvent(e));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->seq, 3);
  EXPECT_EQ(back->data["content"], "hi");
}

TEST(RunnerProtocolTest, BadEventLinesAreRejected) {
  EXPECT_FALSE(ParseRunnerEvent("not json").ok());
  EXPECT_FALSE(ParseRunnerEvent(R"({"seq":0,"type":"delta"})").ok());
  EXPECT_FALSE(ParseRunnerEvent(R"({"seq":1,"type":"rm -rf"})").ok());
  EXPECT_FALSE(ParseRunnerEvent(R"({"seq":1,"type":"delta","data":[]})").ok());
  EXPECT_FALSE(ParseRunnerEvent(std::string(kMaxRunnerEventBytes + 1, ' ')).ok());
}

}  // namespace
}  // namespace agentd::api::v1
