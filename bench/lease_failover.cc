// lease_failover: how long a standby takes to lead after the leader dies. Two real LeaderElectors
// on their own threads, the real clock and HTTP, against the fake Kubernetes API server.
//
//   lease_failover [ROUNDS] [LEASE_MS]     (default 10 rounds, a 3000 ms lease)
//
// The renew deadline and retry period scale with the lease as the defaults do (15 s / 10 s / 2 s).
// Each round: the leader leads, the standby has seen it; right after one of the leader's renewals
// (plus round/ROUNDS of a retry period, so kills land all over the renew cycle) the leader's loop
// is stopped without giving the Lease up, as a SIGKILL would leave it. One JSON line per round:
// the takeover time after the kill and after the last renewal; then a summary with the worst case
// against the lease duration (the bar: a standby takes over within the Lease duration).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/log.h"
#include "httpclient/curl_transport.h"
#include "kube/http_kube_client.h"
#include "kube/leader_election.h"
#include "testing/fake_kube_api_server.h"

namespace agentd::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

double MillisSince(Clock::time_point since, Clock::time_point until = Clock::now()) {
  return std::chrono::duration<double, std::milli>(until - since).count();
}

template <typename F>
bool WaitFor(F condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(200us);
  }
  return true;
}

int Main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  const milliseconds lease(argc > 2 ? std::max(300, std::atoi(argv[2])) : 3000);
  const kube::LeaderElectionOptions timing{
      .lease_duration = lease, .renew_deadline = lease * 2 / 3, .retry_period = lease * 2 / 15};
  core::SetLogLevel(core::LogLevel::kError);

  auto server = testing::FakeKubeApiServer::Start({});
  if (!server.ok()) {
    std::fprintf(stderr, "fake API server: %s\n", server.error().message.c_str());
    return 1;
  }
  httpclient::CurlHttpTransport transport;
  kube::KubeConfig config;
  config.server = (*server)->url();
  config.token = "bench";
  kube::HttpKubeClient client(config, transport);
  auto& clock = core::SystemClock::Instance();

  double worst = 0;
  for (int round = 0; round < rounds; ++round) {
    kube::LeaderElectionOptions options = timing;
    options.lease_name = "failover-" + std::to_string(round);
    options.lease_namespace = "agentd";
    options.release_on_stop = false;  // a killed process gives nothing up
    options.identity = "leader";
    kube::LeaderElector leader(client, clock, options, {});
    options.identity = "standby";
    kube::LeaderElector standby(client, clock, options, {});

    leader.Start();
    if (!WaitFor([&] { return leader.IsLeader(); }, lease * 2)) {
      std::fprintf(stderr, "round %d: no leader\n", round);
      return 1;
    }
    standby.Start();
    if (!WaitFor([&] { return standby.leader() == "leader"; }, lease * 2)) {
      std::fprintf(stderr, "round %d: no leader\n", round);
      return 1;
    }
    auto renew_time = [&] {
      auto lease_object =
          (*server)->Get("coordination.k8s.io", "leases", "agentd", options.lease_name);
      return lease_object ? (*lease_object)["spec"].value("renewTime", "") : std::string();
    };
    const std::string before = renew_time();
    WaitFor([&] { return renew_time() != before; }, lease);
    const auto renewed = Clock::now();
    std::this_thread::sleep_for(timing.retry_period * round / rounds);
    leader.Stop();  // the "kill"
    const auto killed = Clock::now();
    if (!WaitFor([&] { return standby.IsLeader(); }, lease * 3)) {
      std::fprintf(stderr, "round %d: the standby never took over\n", round);
      return 1;
    }
    const auto took_over = Clock::now();
    const double after_kill = MillisSince(killed, took_over);
    worst = std::max(worst, after_kill);
    std::printf(
        "{\"bench\":\"lease_failover\",\"round\":%d,\"lease_ms\":%lld,"
        "\"takeover_after_kill_ms\":%.1f,\"takeover_after_last_renewal_ms\":%.1f}\n",
        round, static_cast<long long>(lease.count()), after_kill, MillisSince(renewed, took_over));
    standby.Stop();
  }
  std::printf(
      "{\"bench\":\"lease_failover\",\"rounds\":%d,\"lease_ms\":%lld,\"renew_deadline_ms\":%lld,"
      "\"retry_period_ms\":%lld,\"worst_takeover_after_kill_ms\":%.1f,\"within_lease\":%s}\n",
      rounds, static_cast<long long>(lease.count()),
      static_cast<long long>(timing.renew_deadline.count()),
      static_cast<long long>(timing.retry_period.count()), worst,
      worst <= static_cast<double>(lease.count()) ? "true" : "false");
  return 0;
}

}  // namespace
}  // namespace agentd::bench

int main(int argc, char** argv) { return agentd::bench::Main(argc, argv); }
