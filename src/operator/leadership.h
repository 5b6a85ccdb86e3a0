// OperatorLeader: one active operator among replicas, through the coordination.k8s.io/v1 Lease
// "agentd-operator" (kube::LeaderElector). While this replica leads, the RunReconciler runs and
// the hooks have started whatever else only the leader may do (the scheduler's dispatching,
// catalog status writes); when it stops leading (renewal failed, Stop) they are stopped.
//
// No run is started twice across a failover: the old leader stops before its Lease can expire
// (renew_deadline < lease_duration), and the new one finds each Run's run by its idempotency key
// (RunReconciler), never submitting a second.
//
// Order: on_started_leading -> reconciler Start -> hooks.on_started_leading;
//        on_stopped_leading -> hooks.on_stopped_leading -> reconciler Stop.
// Hooks and the reconciler's Start/Stop run on the elector's thread (or the caller of Step).
//
// Lifecycle: Create, Start() (election loop on a thread) or Step() from a test, Stop() (gives the
// Lease up when release_on_stop). Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "kube/client.h"
#include "kube/leader_election.h"
#include "operator/run_reconciler.h"

namespace agentd::operator_ {

inline constexpr char kOperatorLeaseName[] = "agentd-operator";

struct OperatorLeaderOptions {
  std::string lease_namespace;  // K8S_NAMESPACE; required
  std::string identity;         // unique per replica (the pod name); required
  std::string lease_name = kOperatorLeaseName;
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  bool release_on_stop = true;
};

struct OperatorLeaderHooks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

class OperatorLeader {
 public:
  // kInvalidArgument for invalid options (kube::ValidateLeaderElectionOptions). `reconciler`
  // may be null (only the hooks then). client, clock, reconciler and sleeper must outlive it.
  static core::Result<std::unique_ptr<OperatorLeader>> Create(
      kube::KubeClient& client, const core::Clock& clock, OperatorLeaderOptions options,
      RunReconciler* reconciler, OperatorLeaderHooks hooks = {}, kube::Sleeper* sleeper = nullptr);
  ~OperatorLeader();
  OperatorLeader(const OperatorLeader&) = delete;
  OperatorLeader& operator=(const OperatorLeader&) = delete;

  void Start();
  void Stop();
  // One election attempt (tests with a FakeClock); returns the wait before the next.
  std::chrono::milliseconds Step();

  bool IsLeader() const;
  std::string leader() const;

 private:
  OperatorLeader(RunReconciler* reconciler, OperatorLeaderHooks hooks);

  RunReconciler* reconciler_;
  OperatorLeaderHooks hooks_;
  std::unique_ptr<kube::LeaderElector> elector_;
};

}  // namespace agentd::operator_
