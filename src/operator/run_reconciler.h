// RunReconciler: turns Run custom resources into agentd runs and keeps their status current
// (controller-runtime's level-based reconcile loop, by hand).
//
// Events only say which key to look at: a Reflector on runs.agentd.dev (list-then-watch) and the
// run bus (phase events of the runs this reconciler tracks) add "namespace/name" keys to a
// WorkQueue; workers take a key, read the Run from the cache and the run from the RunStore, and
// make the world match (Reconcile). Doing it twice changes nothing, so restarts, resyncs and
// duplicate events are harmless; nothing polls.
//
// Reconcile(key), in order:
//  1. The Run is gone: cancel its run if it is still active (the Job, owned by the Run, is
//     deleted by Kubernetes' garbage collector) and stop following it. After every complete
//     list, runs whose Run is not in the cache are cancelled too (deleted while no operator
//     watched): the sweep, queued under kSweepKey.
//  2. Being deleted (deletionTimestamp): without kRunFinalizer, cancel the run and wait for the
//     deletion. With it: cancel the run (RunService::Cancel; the executor deletes the Job) and,
//     once the run is terminal (its end arrives on the bus), remove the finalizer so Kubernetes
//     deletes the Run. No status writes.
//  3. With options.finalizer only: add kRunFinalizer (one write), before anything else exists.
//  4. No run yet (status.runId empty): submit (RunService::SubmitAsync with the idempotency key
//     "k8s-" + metadata.uid, or spec.idempotencyKey), so a second reconcile, another replica or
//     a restart gets the same run back instead of a second one. A refused submission is written
//     as phase Pending (tried again when the spec or the catalog changes: ResyncPending) or
//     Rejected (policy, budget: final), see run_status.h.
//  5. Write the status (run_status.h RunStatusFor) through /status, only when it differs from
//     what the Run shows. Non-terminal changes are held for `status_coalesce` after the phase
//     change that caused them, so Queued -> Starting -> Running in quick succession is one write;
//     terminal phases are written at once (kubectl wait). After a terminal status is written the
//     run is no longer followed.
//
// API writes per run, with the default coalescing and no finalizer: 1 status per phase change
// that outlives status_coalesce (usually Running) + 1 terminal status, so 2; a run that ends
// within status_coalesce of its submission costs 1. The finalizer adds 1 (and 1 to delete).
// Re-reconciling costs 0 writes. The counts are in stats() and bench/operator_bench.cc.
//
// Conflicts: every write is conditional on the resourceVersion read (409 -> retried with
// backoff; the watch brings the newer object). After a write the reconciler remembers the object
// the API server returned, so a cache that has not caught up yet is not mistaken for the truth.
//
// Lifecycle: construct, Start() (reflector + workers), Stop(); Start/Stop may alternate (leader
// election starts and stops it). Thread-safe. The references in RunReconcilerDeps must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"
#include "kube/client.h"
#include "kube/reflector.h"
#include "operator/run_status.h"
#include "operator/work_queue.h"
#include "scheduler/run_service.h"
#include "store/run_store.h"

namespace agentd::operator_ {

struct RunReconcilerDeps {
  kube::KubeClient& client;
  scheduler::RunService& runs;
  store::RunStore& store;
  bus::Bus& bus;
  const core::Clock& clock;
};

struct RunReconcilerOptions {
  std::string ns;  // K8S_NAMESPACE; empty = Runs of every namespace
  int workers = 2;
  // Hold kRunFinalizer on every Run (one more write per Run): deleting a Run then waits until its
  // run is cancelled and its Job gone. Without it the Job is still deleted, by the garbage
  // collector, because the Run owns it (the executor sets the ownerReference), and the run is
  // cancelled when the deletion is seen (or, after an outage, by the sweep after the next list).
  bool finalizer = false;
  // Non-terminal status changes wait this long after the phase change for later ones to merge
  // with; 0 = write each at once.
  std::chrono::milliseconds status_coalesce{1000};
  WorkQueueOptions queue;
  RunStatusOptions status;
  // How long a worker waits for RunService::SubmitAsync to answer before retrying the key.
  std::chrono::milliseconds submit_timeout{30'000};
  kube::BackoffOptions reflector_backoff;
  kube::Sleeper* sleeper = nullptr;  // the reflector's waits; null = RealSleeper
};

// What one reconcile did.
struct ReconcileOutcome {
  int writes = 0;  // API writes (create/update/patch/delete requests, /status included)
  bool submitted = false;
  bool run_created = false;  // the submission created a run (not an idempotent replay)
  // Look again after this long (coalescing hold); nullopt = wait for the next event.
  std::optional<std::chrono::milliseconds> requeue_after;
};

struct RunReconcilerStats {
  int64_t reconciles = 0;
  int64_t errors = 0;  // failed reconciles (retried with backoff)
  int64_t writes = 0;  // all API writes
  int64_t finalizer_adds = 0;
  int64_t finalizer_removals = 0;
  int64_t status_writes = 0;
  int64_t conflicts = 0;    // 409 answers
  int64_t submissions = 0;  // SubmitAsync calls
  int64_t runs_created = 0;
  int64_t cancels = 0;
};

class RunReconciler {
 public:
  RunReconciler(RunReconcilerDeps deps, RunReconcilerOptions options);
  ~RunReconciler();
  RunReconciler(const RunReconciler&) = delete;
  RunReconciler& operator=(const RunReconciler&) = delete;

  // Starts the Run reflector and the workers. No-op while running.
  void Start();
  // Stops the reflector, drops queued keys, waits for reconciles in progress and stops following
  // runs. Idempotent.
  void Stop();
  bool running() const;
  // Until the reflector's first list is in the cache (false on timeout or when not running).
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // One reconcile of "namespace/name", as a worker does it. Requires running().
  core::Result<ReconcileOutcome> Reconcile(const std::string& key);

  // Queues every Run that has no run yet: after a catalog change, when an unknown agent may
  // exist now. ResyncAll queues every Run.
  void ResyncPending();
  void ResyncAll();

  RunReconcilerStats stats() const;
  // Runs followed on the bus now (non-terminal runs of live Runs).
  size_t tracked_runs() const;

 private:
  // What survives a bus callback racing Stop: the callbacks hold a shared_ptr to it.
  struct Shared;
  // The object our last write of a key returned, and the versions our writes replaced on the
  // way to it (a cache still showing one of them is behind).
  struct Written {
    std::set<std::string> replaced_versions;
    core::Json object;
  };

  void Work();
  // The newest known version of the Run: the cache, unless our own last write is newer.
  std::optional<core::Json> Current(const std::string& key);
  // Update / UpdateStatus with bookkeeping. kNotFound answers become nullopt.
  core::Result<std::optional<core::Json>> Write(const std::string& key, const core::Json& object,
                                                bool status, ReconcileOutcome& out);
  core::Status ReconcileKey(const std::string& key, ReconcileOutcome& out);
  core::Status Finalize(const std::string& key, const core::Json& object, std::string run_id,
                        ReconcileOutcome& out);
  // Cancels the run unless it has ended; true when it is terminal (or unknown) afterwards.
  core::Result<bool> CancelIfActive(const std::string& run_id, const std::string& caller);
  // The work of kSweepKey: cancels active runs of Runs that are not in the cache.
  core::Status SweepOrphans();
  // A queue key no Run has ("namespace/name" never is empty): sweep for orphaned runs.
  static constexpr char kSweepKey[] = "";
  core::Result<store::CreateRunResult> SubmitAndWait(scheduler::SubmitRequest request);
  void Track(const std::string& run_id, const std::string& key);
  void Untrack(const std::string& key);
  // Remaining hold of non-terminal status writes of `key` (zero when none).
  std::chrono::milliseconds HoldRemaining(const std::string& key) const;
  void Hold(const std::string& key);

  RunReconcilerDeps deps_;
  const RunReconcilerOptions options_;
  std::shared_ptr<Shared> shared_;

  mutable std::mutex lifecycle_mu_;  // Start/Stop
  std::unique_ptr<kube::Reflector> reflector_;
  std::shared_ptr<WorkQueue> queue_;
  std::vector<std::thread> workers_;
  std::atomic<bool> running_{false};

  mutable std::mutex mu_;
  std::map<std::string, Written> written_;  // key -> our last write
  // Run uid -> run id we submitted, until a status write names it (so the map stays small).
  std::map<std::string, std::string> run_of_uid_;
  std::map<std::string, int64_t> refused_;           // key -> generation refused (Pending)
  std::map<std::string, std::string> tracked_keys_;  // key -> run id followed
  std::map<std::string, std::unique_ptr<bus::Subscription>> subscriptions_;  // by run id
  RunReconcilerStats stats_;
};

}  // namespace agentd::operator_
