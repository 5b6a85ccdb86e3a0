#include "telemetry/metrics.h"

#include <gtest/gtest.h>

namespace agentd::telemetry {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInTextFormat) {
  Registry r;
  auto& tasks = r.AddCounter("agent_tasks_total", "Runs finished.", {"agent", "status"});
  auto& depth = r.AddGauge("agentd_queue_depth", "Queued runs.");
  auto& dur = r.AddHistogram("agent_task_duration_seconds", "Run time.", {"agent"}, {1, 10});
  tasks.WithLabels({"dev", "succeeded"}).Inc();
  tasks.WithLabels({"dev", "succeeded"}).Inc();
  depth.WithLabels({}).Set(3);
  dur.WithLabels({"dev"}).Observe(0.5);
  dur.WithLabels({"dev"}).Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE agent_tasks_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("agent_tasks_total{agent=\"dev\",status=\"succeeded\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("agentd_queue_depth 3\n"), std::string::npos);
  EXPECT_NE(text.find("agent_task_duration_seconds_bucket{agent=\"dev\",le=\"1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("agent_task_duration_seconds_bucket{agent=\"dev\",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("agent_task_duration_seconds_count{agent=\"dev\"} 2\n"), std::string::npos);
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry r;
  r.AddCounter("c_total", "h", {"l"}).WithLabels({"a\"b\\c\nd"}).Inc();
  EXPECT_NE(r.Render().find("c_total{l=\"a\\\"b\\\\c\\nd\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace agentd::telemetry
