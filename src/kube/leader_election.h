// LeaderElector: one active replica among several, through a coordination.k8s.io/v1 Lease
// (client-go's leaderelection with a LeaseLock).
//
// A candidate reads the Lease; it takes it when there is none, when the holder is empty, or when
// the holder's lease has expired. Expiry is renewTime + leaseDurationSeconds, read on the
// candidate's clock, but never earlier than renew_deadline + retry_period after the candidate
// first saw that record, and never later than leaseDurationSeconds after it (client-go's rule,
// which ignores renewTime). The lower bound is what makes trusting renewTime safe: a leader stops
// leading at most renew_deadline + retry_period after its last successful renewal, and that
// renewal happened before the candidate saw it, so a leader whose clock runs behind cannot be
// overtaken while it still leads; a leader whose clock runs ahead only delays the takeover. A
// standby sleeps until the expiry instead of the next retry, and starts its takeover two API
// round trips (at most 100 ms) early, so with agreeing clocks it holds the Lease when the
// leader's last renewal runs out (safe: the leader stopped leading seconds before). Writes are
// conditional on the resourceVersion read (409 -> the attempt failed, try again after
// retry_period). The leader renews every retry_period; when it could not renew for renew_deadline
// it stops leading (renew_deadline + retry_period < lease_duration is required). On Stop the leader
// gives the Lease up (holder "", duration 1 s), so a standby takes over at its next attempt instead
// of after the lease duration.
//
// Two ways to drive it: Start()/Stop() run the loop on a thread (waits through the Sleeper,
// cancelled by Stop), or a test calls Step() itself with a FakeClock. Callbacks run on the thread
// that calls Step (the loop thread) and must return quickly; they must not call Step/Release.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/json.h"
#include "kube/cancellation.h"
#include "kube/client.h"

namespace agentd::kube {

struct LeaderElectionOptions {
  std::string lease_name;
  std::string lease_namespace;
  std::string identity;  // unique per replica: the pod name
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  // Give the Lease up on Stop (recommended when the work stops with leadership).
  bool release_on_stop = true;
};

// kInvalidArgument naming the field: empty names, non-positive durations,
// renew_deadline + retry_period >= lease_duration.
core::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options);

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // The observed holder changed (also to ourselves); "" when the Lease was released.
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  // `options` must be valid (ValidateLeaderElectionOptions); client and clock must outlive this.
  LeaderElector(KubeClient& client, const core::Clock& clock, LeaderElectionOptions options,
                LeaderCallbacks callbacks, Sleeper* sleeper = nullptr);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One attempt to acquire or renew the Lease, firing callbacks on a change of leadership.
  // Returns how long to wait before the next attempt: retry_period, or less when another
  // holder's lease expires sooner.
  std::chrono::milliseconds Step();
  // Gives the Lease up if we hold it and fires on_stopped_leading if we were leading.
  void Release();

  // Runs Step every retry_period on a thread until Stop(). Call once.
  void Start();
  // Idempotent: cancels the loop, joins, then releases the Lease (release_on_stop) or just
  // reports on_stopped_leading. The destructor calls it.
  void Stop();

  bool IsLeader() const { return leading_.load(); }
  // The holder last seen in the Lease ("" when none).
  std::string leader() const;

 private:
  struct Record {
    std::string holder;
    int64_t lease_duration_seconds = 0;
    std::string acquire_time;
    std::string renew_time;
    int64_t transitions = 0;
    friend bool operator==(const Record&, const Record&) = default;
  };

  // True when the Lease is ours after this attempt.
  bool TryAcquireOrRenew();
  core::Json LeaseObject(const Record& record, const std::string& resource_version) const;
  void ObserveLocked(const Record& record);
  // Sets expires_at_ for observed_, first seen at `now`.
  void StampObservation(std::chrono::steady_clock::time_point now);

  KubeClient& client_;
  const core::Clock& clock_;
  LeaderElectionOptions options_;
  LeaderCallbacks callbacks_;
  Sleeper& sleeper_;
  ObjectRef ref_;

  std::mutex step_mu_;  // serializes Step and Release
  std::atomic<bool> leading_{false};
  std::optional<Record> observed_;
  std::chrono::steady_clock::time_point expires_at_{};   // of observed_, when another holds it
  std::chrono::steady_clock::duration takeover_lead_{};  // 2x the last Get's round trip, capped
  std::chrono::steady_clock::time_point last_renew_{};
  mutable std::mutex leader_mu_;
  std::string leader_;

  Cancellation cancel_;
  std::thread thread_;
  std::once_flag stop_once_;
};

}  // namespace agentd::kube
