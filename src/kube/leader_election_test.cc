#include "kube/leader_election.h"

#include <atomic>
#include <memory>

#include <gtest/gtest.h>

#include "kube/kube_test_util.h"
#include "testing/fake_clock.h"

namespace agentd::kube {
namespace {

using core::Json;
using test::Eventually;
using namespace std::chrono_literals;

// Forwards to another transport until partitioned, then fails like an unreachable server.
class PartitionableTransport final : public httpclient::HttpTransport {
 public:
  explicit PartitionableTransport(httpclient::HttpTransport& inner) : inner_(inner) {}
  core::Result<httpclient::Response> Send(const httpclient::Request& request) override {
    if (partitioned) return core::Unavailable("partitioned");
    if (clock != nullptr) clock->Advance(latency);  // the request's round trip, on a fake clock
    return inner_.Send(request);
  }
  core::Result<httpclient::Response> SendStreaming(
      const httpclient::Request& request,
      const std::function<bool(std::string_view)>& on_body) override {
    if (partitioned) return core::Unavailable("partitioned");
    return inner_.SendStreaming(request, on_body);
  }
  std::atomic<bool> partitioned{false};
  testing::FakeClock* clock = nullptr;
  std::chrono::milliseconds latency{0};

 private:
  httpclient::HttpTransport& inner_;
};

// One candidate: its client, elector and what its callbacks saw.
struct Candidate {
  std::unique_ptr<PartitionableTransport> transport;
  std::unique_ptr<HttpKubeClient> client;
  std::unique_ptr<LeaderElector> elector;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
};

// Another node's clock: the same monotonic time, a wall clock off by `offset`.
class SkewedClock final : public core::Clock {
 public:
  SkewedClock(const core::Clock& base, std::chrono::milliseconds offset)
      : base_(base), offset_(offset) {}
  core::TimePoint Now() const override { return base_.Now() + offset_; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return base_.SteadyNow(); }

 private:
  const core::Clock& base_;
  std::chrono::milliseconds offset_;
};

class LeaderElectionTest : public test::FakeClusterTest {
 protected:
  std::unique_ptr<Candidate> MakeCandidate(const std::string& identity,
                                           LeaderElectionOptions options = {},
                                           const core::Clock* clock = nullptr) {
    auto c = std::make_unique<Candidate>();
    c->transport = std::make_unique<PartitionableTransport>(transport_);
    KubeConfig config;
    config.server = server_->url();
    c->client = std::make_unique<HttpKubeClient>(config, *c->transport,
                                                 HttpKubeClientOptions{.sleeper = &sleeper_});
    options.lease_name = "agentd-scheduler";
    options.lease_namespace = "agentd";
    options.identity = identity;
    Candidate* raw = c.get();
    c->elector = std::make_unique<LeaderElector>(
        *c->client, clock != nullptr ? *clock : clock_, options,
        LeaderCallbacks{.on_started_leading = [raw] { ++raw->started; },
                        .on_stopped_leading = [raw] { ++raw->stopped; }});
    return c;
  }

  // The standby's requests take `latency` each (on the fake clock); the leader renews and dies.
  // How long after that renewal the standby leads, its takeover write included.
  std::chrono::milliseconds TakeoverAfterRenewal(std::chrono::milliseconds latency) {
    auto a = MakeCandidate("a", {.release_on_stop = false});
    auto b = MakeCandidate("b");
    b->transport->clock = &clock_;
    b->transport->latency = latency;
    a->elector->Step();
    EXPECT_TRUE(a->elector->IsLeader());
    const auto renewed = clock_.Now();
    auto wait = b->elector->Step();
    while (!b->elector->IsLeader() && clock_.Now() - renewed < 60s) {
      clock_.Advance(wait);
      wait = b->elector->Step();
    }
    EXPECT_TRUE(b->elector->IsLeader());
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - renewed);
  }

  Json Lease() const {
    auto lease = server_->Get("coordination.k8s.io", "leases", "agentd", "agentd-scheduler");
    return lease ? *lease : Json();
  }
  std::string Holder() const {
    Json lease = Lease();
    return lease.is_null() ? "" : lease["spec"].value("holderIdentity", "");
  }

  testing::FakeClock clock_;
};

TEST(LeaderElectionOptionsTest, InvalidOptionsAreNamed) {
  LeaderElectionOptions options{.lease_name = "l", .lease_namespace = "ns", .identity = "a"};
  EXPECT_TRUE(ValidateLeaderElectionOptions(options).ok());
  auto bad = options;
  bad.identity = "";
  EXPECT_NE(ValidateLeaderElectionOptions(bad).error().message.find("identity"), std::string::npos);
  bad = options;
  bad.renew_deadline = 20s;
  EXPECT_NE(ValidateLeaderElectionOptions(bad).error().message.find("renew deadline"),
            std::string::npos);
  bad = options;
  bad.retry_period = 10s;
  EXPECT_FALSE(ValidateLeaderElectionOptions(bad).ok());
}

TEST_F(LeaderElectionTest, FirstCandidateCreatesTheLeaseAndLeads) {
  auto a = MakeCandidate("a");
  EXPECT_EQ(a->elector->Step(), 2s);
  EXPECT_TRUE(a->elector->IsLeader());
  EXPECT_EQ(a->started, 1);
  Json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
  std::string renew = lease["spec"]["renewTime"];
  EXPECT_EQ(renew.size(), std::string("2027-01-15T08:00:00.000000Z").size()) << renew;

  clock_.Advance(2s);
  a->elector->Step();
  EXPECT_NE(Lease()["spec"]["renewTime"], renew);
  EXPECT_EQ(a->started, 1);
  EXPECT_EQ(a->elector->leader(), "a");
}

TEST_F(LeaderElectionTest, StandbyTakesOverOnlyAfterTheLeaseDurationWhenTheLeaderDies) {
  auto a = MakeCandidate("a", {.release_on_stop = false});
  auto b = MakeCandidate("b");
  a->elector->Step();
  b->elector->Step();
  ASSERT_TRUE(a->elector->IsLeader());
  EXPECT_FALSE(b->elector->IsLeader());
  EXPECT_EQ(b->elector->leader(), "a");

  // The leader renews for a while; the standby keeps waiting.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(2s);
    a->elector->Step();
    b->elector->Step();
    EXPECT_FALSE(b->elector->IsLeader());
  }
  // Then it dies right after renewing (no more steps). The standby sleeps as long as each Step
  // says and takes over exactly when the last renewal's lease runs out.
  const auto renewed = clock_.Now();
  auto wait = b->elector->Step();
  EXPECT_EQ(wait, 2s);
  while (!b->elector->IsLeader() && clock_.Now() - renewed < 60s) {
    clock_.Advance(wait);
    wait = b->elector->Step();
  }
  ASSERT_TRUE(b->elector->IsLeader());
  EXPECT_EQ(clock_.Now() - renewed, 15s);
  EXPECT_EQ(b->started, 1);
  EXPECT_EQ(Holder(), "b");
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 1);

  // The old leader comes back: it sees the new holder and steps down.
  a->elector->Step();
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_EQ(a->stopped, 1);
  EXPECT_EQ(Holder(), "b");
}

TEST_F(LeaderElectionTest, ASlowStandbyStartsItsTakeoverTwoRoundTripsEarly) {
  // 30 ms a request: the takeover starts 60 ms before the lease runs out, so the standby holds
  // the Lease within the lease duration even counting its own Get and Update.
  auto after = TakeoverAfterRenewal(30ms);
  EXPECT_LE(after, 15s);
  EXPECT_GE(after, 15s - 60ms);
}

TEST_F(LeaderElectionTest, TheEarlyStartIsCappedAt100Milliseconds) {
  // 200 ms a request would mean 400 ms early; it starts at most 100 ms early.
  auto after = TakeoverAfterRenewal(200ms);
  EXPECT_GE(after, 15s - 100ms);
}

TEST_F(LeaderElectionTest, ALeaderThatCannotRenewStepsDownBeforeAStandbyCanTakeOver) {
  auto a = MakeCandidate("a");
  auto b = MakeCandidate("b");
  a->elector->Step();
  b->elector->Step();
  ASSERT_TRUE(a->elector->IsLeader());
  a->transport->partitioned = true;
  // Walk time in retry periods; never two leaders at once.
  bool a_stepped_down = false;
  for (int i = 0; i < 10 && !b->elector->IsLeader(); ++i) {
    clock_.Advance(2s);
    a->elector->Step();
    b->elector->Step();
    EXPECT_FALSE(a->elector->IsLeader() && b->elector->IsLeader()) << "two leaders at step " << i;
    if (!a->elector->IsLeader()) a_stepped_down = true;
  }
  EXPECT_TRUE(a_stepped_down);
  EXPECT_TRUE(b->elector->IsLeader());
  EXPECT_EQ(a->stopped, 1);
}

TEST_F(LeaderElectionTest, ALeaderWhoseClockRunsBehindIsNotOvertakenWhileItLeads) {
  SkewedClock behind(clock_, -1h);  // its renewTimes look an hour old to the standby
  auto a = MakeCandidate("a", {}, &behind);
  auto b = MakeCandidate("b");
  a->elector->Step();
  b->elector->Step();
  ASSERT_TRUE(a->elector->IsLeader());
  for (int i = 0; i < 20; ++i) {  // renewing keeps the lease, whatever renewTime says
    clock_.Advance(2s);
    a->elector->Step();
    b->elector->Step();
    ASSERT_FALSE(b->elector->IsLeader()) << "at step " << i;
  }
  // Cut off, the leader stops within renew deadline + retry period; the standby never takes
  // over before that.
  a->transport->partitioned = true;
  for (int i = 0; i < 20 && !b->elector->IsLeader(); ++i) {
    clock_.Advance(1s);
    a->elector->Step();
    b->elector->Step();
    EXPECT_FALSE(a->elector->IsLeader() && b->elector->IsLeader()) << "two leaders at " << i;
  }
  EXPECT_TRUE(b->elector->IsLeader());
  EXPECT_EQ(a->stopped, 1);
}

TEST_F(LeaderElectionTest, ALeaderWhoseClockRunsAheadDelaysTheTakeoverByAtMostTheLeaseDuration) {
  SkewedClock ahead(clock_, 1h);  // its renewTimes look an hour in the future
  auto a = MakeCandidate("a", {.release_on_stop = false}, &ahead);
  auto b = MakeCandidate("b");
  a->elector->Step();
  b->elector->Step();  // first sees the record now
  ASSERT_TRUE(a->elector->IsLeader());
  clock_.Advance(14s);
  b->elector->Step();
  EXPECT_FALSE(b->elector->IsLeader());
  clock_.Advance(1s);
  b->elector->Step();
  EXPECT_TRUE(b->elector->IsLeader());
}

TEST_F(LeaderElectionTest, AStandbyThatFirstLooksLateTrustsTheRenewTimeOnlyAfterTheSafetyFloor) {
  auto a = MakeCandidate("a", {.release_on_stop = false});
  a->elector->Step();
  ASSERT_TRUE(a->elector->IsLeader());
  clock_.Advance(60s);  // a died long ago; b starts now
  auto b = MakeCandidate("b");
  b->elector->Step();
  EXPECT_FALSE(b->elector->IsLeader());
  // renew deadline (10 s) + retry period (2 s) after it first saw the record, not 15 s.
  clock_.Advance(11s);
  b->elector->Step();
  EXPECT_FALSE(b->elector->IsLeader());
  clock_.Advance(1s);
  b->elector->Step();
  EXPECT_TRUE(b->elector->IsLeader());
}

TEST_F(LeaderElectionTest, RenewalConflictsAreRetriedWithoutLosingLeadership) {
  auto a = MakeCandidate("a");
  a->elector->Step();
  ASSERT_TRUE(a->elector->IsLeader());
  server_->InjectFault({.count = 1, .status = 409, .verb = "update", .resource = "leases"});
  clock_.Advance(2s);
  a->elector->Step();  // 409: not renewed, still within the renew deadline
  EXPECT_TRUE(a->elector->IsLeader());
  clock_.Advance(2s);
  std::string before = Lease()["spec"]["renewTime"];
  a->elector->Step();
  EXPECT_TRUE(a->elector->IsLeader());
  EXPECT_NE(Lease()["spec"]["renewTime"], before);
  EXPECT_EQ(a->stopped, 0);
}

TEST_F(LeaderElectionTest, TwoCandidatesRacingForAMissingLeaseElectOne) {
  auto a = MakeCandidate("a");
  auto b = MakeCandidate("b");
  // b reads "not found" but a creates it first: b's create fails with AlreadyExists.
  server_->InjectFault({.count = 1, .status = 404, .verb = "get", .resource = "leases"});
  a->elector->Step();  // gets the injected 404, creates
  EXPECT_TRUE(a->elector->IsLeader());
  server_->InjectFault({.count = 1, .status = 404, .verb = "get", .resource = "leases"});
  b->elector->Step();  // also sees 404, its create conflicts
  EXPECT_FALSE(b->elector->IsLeader());
  EXPECT_EQ(Holder(), "a");
}

TEST_F(LeaderElectionTest, ReleasingTheLeaseLetsTheStandbyTakeOverAtOnce) {
  auto a = MakeCandidate("a");
  auto b = MakeCandidate("b");
  a->elector->Step();
  b->elector->Step();
  a->elector->Stop();  // never started: stops and releases
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_EQ(a->stopped, 1);
  EXPECT_EQ(Holder(), "");
  EXPECT_EQ(Lease()["spec"]["leaseDurationSeconds"], 1);
  b->elector->Step();  // no clock movement needed
  EXPECT_TRUE(b->elector->IsLeader());
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, RunsOnItsOwnThreadAndHandsOverOnStop) {
  LeaderElectionOptions fast{
      .lease_duration = 1000ms, .renew_deadline = 500ms, .retry_period = 20ms};
  auto& system = core::SystemClock::Instance();
  auto a = MakeCandidate("a", fast, &system);
  auto b = MakeCandidate("b", fast, &system);
  a->elector->Start();
  ASSERT_TRUE(Eventually([&] { return a->elector->IsLeader(); }));
  b->elector->Start();
  ASSERT_TRUE(Eventually([&] { return b->elector->leader() == "a"; }));
  EXPECT_FALSE(b->elector->IsLeader());

  a->elector->Stop();  // releases the lease
  EXPECT_EQ(a->stopped, 1);
  ASSERT_TRUE(Eventually([&] { return b->elector->IsLeader() && b->started == 1; }));
  EXPECT_FALSE(a->elector->IsLeader());
  b->elector->Stop();
  EXPECT_EQ(Holder(), "");
}

}  // namespace
}  // namespace agentd::kube
