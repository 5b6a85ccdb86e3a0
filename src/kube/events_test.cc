#include "kube/events.h"

#include <gtest/gtest.h>

#include "kube/kube_test_util.h"
#include "testing/fake_clock.h"

namespace agentd::kube {
namespace {

using core::Json;
using namespace std::chrono_literals;

Json Job() {
  return {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata",
       {{"name", "run-abc"}, {"namespace", "agentd"}, {"uid", "u-1"}, {"resourceVersion", "9"}}}};
}

TEST(EventsTest, ObjectReferenceNamesTheObject) {
  Json ref = ObjectReferenceFor(Job());
  EXPECT_EQ(ref, Json({{"apiVersion", "batch/v1"},
                       {"kind", "Job"},
                       {"namespace", "agentd"},
                       {"name", "run-abc"},
                       {"uid", "u-1"},
                       {"resourceVersion", "9"}}));
}

TEST(EventsTest, BuildEventFillsTheEventsV1Fields) {
  testing::FakeClock clock;
  EventSpec spec{.regarding = ObjectReferenceFor(Job()),
                 .type = EventType::kWarning,
                 .reason = "OOMKilled",
                 .action = "Watch",
                 .note = std::string(2000, 'x')};
  auto event = BuildEvent(spec, {.instance = "agentd-0"}, clock.Now());
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ((*event)["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ((*event)["kind"], "Event");
  EXPECT_EQ((*event)["metadata"]["namespace"], "agentd");
  EXPECT_EQ(NameOf(*event).rfind("run-abc.", 0), 0u);
  EXPECT_EQ((*event)["type"], "Warning");
  EXPECT_EQ((*event)["reason"], "OOMKilled");
  EXPECT_EQ((*event)["action"], "Watch");
  EXPECT_EQ((*event)["reportingController"], "agentd.dev/operator");
  EXPECT_EQ((*event)["reportingInstance"], "agentd-0");
  EXPECT_EQ((*event)["eventTime"], "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ((*event)["note"].get<std::string>().size(), 1024u);
  EXPECT_EQ((*event)["regarding"]["uid"], "u-1");
}

TEST(EventsTest, BuildEventRejectsWhatTheServerWould) {
  EventSpec spec{.regarding = ObjectReferenceFor(Job()), .reason = "Created", .action = "Create"};
  auto now = std::chrono::system_clock::now();
  EXPECT_TRUE(BuildEvent(spec, {}, now).ok());
  auto no_reason = spec;
  no_reason.reason = "";
  EXPECT_NE(BuildEvent(no_reason, {}, now).error().message.find("reason"), std::string::npos);
  auto no_action = spec;
  no_action.action = "";
  EXPECT_NE(BuildEvent(no_action, {}, now).error().message.find("action"), std::string::npos);
  auto no_name = spec;
  no_name.regarding.erase("name");
  EXPECT_NE(BuildEvent(no_name, {}, now).error().message.find("regarding.name"), std::string::npos);
  auto cluster_scoped = spec;
  cluster_scoped.regarding.erase("namespace");
  EXPECT_EQ(NamespaceOf(BuildEvent(cluster_scoped, {}, now).value()), "default");
}

class EventRecorderTest : public test::FakeClusterTest {};

TEST_F(EventRecorderTest, CreateEventPostsToEventsV1) {
  EventSpec spec{.regarding = ObjectReferenceFor(Job()),
                 .reason = "Created",
                 .action = "Create",
                 .note = "created Job run-abc"};
  auto created = CreateEvent(*client_, spec, {}, std::chrono::system_clock::now());
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto stored = server_->List("events.k8s.io", "events", "agentd");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0]["note"], "created Job run-abc");
  EXPECT_EQ(server_->requests().back().target, "/apis/events.k8s.io/v1/namespaces/agentd/events");
}

TEST_F(EventRecorderTest, IdenticalEventsWithinTheWindowAreRecordedOnce) {
  testing::FakeClock clock;
  EventRecorder recorder(*client_, clock, {.instance = "agentd-0"}, 5min);
  EventSpec spec{.regarding = ObjectReferenceFor(Job()), .reason = "Created", .action = "Create"};
  ASSERT_TRUE(recorder.Record(spec).ok());
  ASSERT_TRUE(recorder.Record(spec).ok());
  auto other = spec;
  other.reason = "Started";
  ASSERT_TRUE(recorder.Record(other).ok());
  EXPECT_EQ(server_->List("events.k8s.io", "events").size(), 2u);
  EXPECT_EQ(recorder.suppressed(), 1);

  clock.Advance(5min);
  ASSERT_TRUE(recorder.Record(spec).ok());
  EXPECT_EQ(server_->List("events.k8s.io", "events").size(), 3u);
}

TEST_F(EventRecorderTest, AFailedEventIsReportedAndMayBeRetried) {
  testing::FakeClock clock;
  EventRecorder recorder(*client_, clock, {});
  EventSpec spec{.regarding = ObjectReferenceFor(Job()), .reason = "Created", .action = "Create"};
  server_->InjectFault({.count = 1, .status = 403});
  auto failed = recorder.Record(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_TRUE(recorder.Record(spec).ok());
  EXPECT_EQ(server_->List("events.k8s.io", "events").size(), 1u);
}

}  // namespace
}  // namespace agentd::kube
