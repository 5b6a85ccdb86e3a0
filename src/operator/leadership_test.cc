#include "operator/leadership.h"

#include <atomic>
#include <memory>

#include <gtest/gtest.h>

#include "bus/memory_bus.h"
#include "kube/kube_test_util.h"
#include "operator/operator_test_util.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"

namespace agentd::operator_ {
namespace {

using core::Json;
using kube::test::Eventually;
using namespace std::chrono_literals;

Json RunCr(const std::string& name) {
  return {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", "Run"},
          {"metadata", {{"name", name}, {"namespace", "agentd"}}},
          {"spec", {{"agent", "triage"}}}};
}

// One operator replica: its own API client, reconciler and elector. The RunStore, bus and run
// service are shared, as the replicas of a deployment share their database.
struct Replica {
  std::unique_ptr<kube::HttpKubeClient> client;
  std::unique_ptr<RunReconciler> reconciler;
  std::unique_ptr<OperatorLeader> leader;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
};

class OperatorLeaderTest : public kube::test::FakeClusterTest {
 protected:
  void SetUp() override {
    FakeClusterTest::SetUp();
    auto store = store::SqliteRunStore::Open(":memory:");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    service_ = std::make_unique<test::FakeRunService>(*store_, bus_, system_clock_);
  }

  std::unique_ptr<Replica> MakeReplica(const std::string& identity, bool release_on_stop,
                                       std::chrono::milliseconds status_coalesce = 0ms) {
    auto r = std::make_unique<Replica>();
    r->client = MakeClient();
    r->reconciler = std::make_unique<RunReconciler>(
        RunReconcilerDeps{*r->client, *service_, *store_, bus_, system_clock_},
        RunReconcilerOptions{.ns = "agentd", .status_coalesce = status_coalesce});
    Replica* raw = r.get();
    auto leader = OperatorLeader::Create(
        *r->client, election_clock_,
        {.lease_namespace = "agentd", .identity = identity, .release_on_stop = release_on_stop},
        r->reconciler.get(),
        {.on_started_leading = [raw] { ++raw->started; },
         .on_stopped_leading = [raw] { ++raw->stopped; }});
    EXPECT_TRUE(leader.ok()) << leader.error().message;
    r->leader = std::move(leader).value();
    return r;
  }

  Json Status(const std::string& name) {
    auto object = server_->Get("agentd.dev", "runs", "agentd", name);
    return object && object->contains("status") ? (*object)["status"] : Json::object();
  }
  std::string RunIdOf(const std::string& name) { return Status(name).value("runId", ""); }

  testing::FakeClock election_clock_;
  core::SystemClock system_clock_;
  bus::MemoryBus bus_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::unique_ptr<test::FakeRunService> service_;
};

TEST(OperatorLeaderOptionsTest, InvalidOptionsAreRefused) {
  core::SystemClock clock;
  httpclient::CurlHttpTransport transport;
  kube::KubeConfig config;
  config.server = "http://127.0.0.1:1";  // never called
  kube::HttpKubeClient client(config, transport);
  auto leader = OperatorLeader::Create(client, clock, {.lease_namespace = "agentd"}, nullptr);
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(leader.error().message.find("identity"), std::string::npos);
}

TEST_F(OperatorLeaderTest, TheStandbyTakesOverWhenTheLeaseExpiresAndNoRunIsSubmittedTwice) {
  // The leader holds back status writes, so it dies after submitting fix-1 but before its
  // status says so: the worst moment for a failover.
  auto a = MakeReplica("operator-a", /*release_on_stop=*/false, /*status_coalesce=*/1h);
  auto b = MakeReplica("operator-b", /*release_on_stop=*/true);
  a->leader->Step();
  b->leader->Step();
  ASSERT_TRUE(a->leader->IsLeader());
  ASSERT_FALSE(b->leader->IsLeader());
  EXPECT_EQ(b->leader->leader(), "operator-a");
  EXPECT_TRUE(a->reconciler->running());
  EXPECT_FALSE(b->reconciler->running());
  EXPECT_EQ(a->started, 1);

  server_->Seed("agentd.dev", "v1alpha1", "runs", RunCr("fix-1"));
  ASSERT_TRUE(Eventually([&] { return service_->created() == 1; }));
  EXPECT_EQ(RunIdOf("fix-1"), "");

  // operator-a is killed: it stops working and never renews again.
  a->reconciler->Stop();
  server_->Seed("agentd.dev", "v1alpha1", "runs", RunCr("fix-2"));

  // operator-b retries every second; it takes over once the Lease (15 s) of operator-a's last
  // renewal has run out.
  std::chrono::milliseconds waited{0};
  while (!b->leader->IsLeader() && waited < 60s) {
    election_clock_.Advance(1s);
    waited += 1s;
    b->leader->Step();
  }
  ASSERT_TRUE(b->leader->IsLeader());
  EXPECT_GE(waited, 15s);
  EXPECT_LE(waited, 15s);  // the last renewal's lease, not the lease from when b saw it
  EXPECT_EQ(b->started, 1);
  EXPECT_TRUE(b->reconciler->running());

  // fix-1 keeps the run operator-a created; fix-2 gets one.
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-1").empty() && !RunIdOf("fix-2").empty(); }));
  EXPECT_EQ(service_->created(), 2);
  auto page = store_->ListRuns({}, 100, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->runs.size(), 2u);
  EXPECT_EQ(b->reconciler->stats().runs_created, 1);
}

TEST_F(OperatorLeaderTest, ALeaderThatStopsHandsOverAtTheStandbysNextAttempt) {
  auto a = MakeReplica("operator-a", /*release_on_stop=*/true);
  auto b = MakeReplica("operator-b", /*release_on_stop=*/true);
  a->leader->Step();
  b->leader->Step();
  ASSERT_TRUE(a->leader->IsLeader());

  a->leader->Stop();  // releases the Lease
  EXPECT_EQ(a->stopped, 1);
  EXPECT_FALSE(a->reconciler->running());

  election_clock_.Advance(2s);
  b->leader->Step();
  EXPECT_TRUE(b->leader->IsLeader());
  EXPECT_TRUE(b->reconciler->running());
  server_->Seed("agentd.dev", "v1alpha1", "runs", RunCr("fix-3"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-3").empty(); }));
  EXPECT_EQ(service_->created(), 1);
}

}  // namespace
}  // namespace agentd::operator_
