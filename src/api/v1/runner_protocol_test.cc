#include "api/v1/runner_protocol.h"

#include <gtest/gtest.h>

namespace agentd::api::v1 {
namespace {

using core::Json;

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

TEST(RunnerProtocolTest, ViolationEventsRoundTrip) {
  RunnerEvent e{.seq = 7,
                .type = "violation",
                .data = {{"rule", "run_cost_limit"}, {"message", "spent 0.5 USD"}},
                .time = {}};
  auto back = ParseRunnerEvent(FormatRunnerEvent(e));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->type, "violation");
  EXPECT_EQ(back->data["rule"], "run_cost_limit");
  EXPECT_EQ(back->data["message"], "spent 0.5 USD");
  EXPECT_TRUE(IsKnownEventType("violation"));
}

TEST(RunnerProtocolTest, ViolationEventsWithABadRuleOrMessageAreRejected) {
  auto line = [](Json data) {
    return FormatRunnerEvent({.seq = 1, .type = "violation", .data = std::move(data), .time = {}});
  };
  EXPECT_FALSE(ParseRunnerEvent(line({{"message", "no rule"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", ""}, {"message", "m"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", "Run-Cost"}, {"message", "m"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", "rule1"}, {"message", "m"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", std::string(65, 'a')}, {"message", "m"}})).ok());
  EXPECT_TRUE(ParseRunnerEvent(line({{"rule", std::string(64, 'a')}, {"message", ""}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", 3}, {"message", "m"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", "max_turns"}})).ok());
  EXPECT_FALSE(ParseRunnerEvent(line({{"rule", "max_turns"}, {"message", 5}})).ok());
  EXPECT_TRUE(ParseRunnerEvent(line({{"rule", "max_turns"},
                                     {"message", std::string(kMaxViolationMessageBytes, 'm')}}))
                  .ok());
  EXPECT_FALSE(
      ParseRunnerEvent(line({{"rule", "max_turns"},
                             {"message", std::string(kMaxViolationMessageBytes + 1, 'm')}}))
          .ok());
  // Without data at all the event has no rule.
  EXPECT_FALSE(ParseRunnerEvent(R"({"seq":1,"type":"violation"})").ok());
}

TEST(RunnerProtocolTest, ViolationRuleNamesAreLowerCaseWordsWithUnderscores) {
  EXPECT_TRUE(IsValidViolationRule("tool_not_allowed"));
  EXPECT_TRUE(IsValidViolationRule("max_turns"));
  EXPECT_FALSE(IsValidViolationRule(""));
  EXPECT_FALSE(IsValidViolationRule("max turns"));
  EXPECT_FALSE(IsValidViolationRule("maxTurns"));
}

TEST(RunnerProtocolTest, RunnerInstancesArePodOrHostNames) {
  EXPECT_TRUE(IsValidRunnerInstance("agentd-run-01jx-7f9cz"));
  EXPECT_TRUE(IsValidRunnerInstance("node_1.example.com"));
  EXPECT_TRUE(IsValidRunnerInstance(std::string(253, 'a')));
  EXPECT_FALSE(IsValidRunnerInstance(""));
  EXPECT_FALSE(IsValidRunnerInstance(std::string(254, 'a')));
  EXPECT_FALSE(IsValidRunnerInstance("pod a"));
  EXPECT_FALSE(IsValidRunnerInstance("pod\r\nX-Evil: 1"));
  EXPECT_FALSE(IsValidRunnerInstance("pod/../x"));
}

}  // namespace
}  // namespace agentd::api::v1
