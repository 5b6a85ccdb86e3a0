// KubernetesJobExecutor: runs each attempt of a run as one `batch/v1` Job (job_builder.h) in one
// namespace, and follows it with watches.
//
// Start(request):
//  1. looks the run's Agent (and its Model) up in the catalog snapshot the options give, and
//     builds the Job (BuildJob; activeDeadlineSeconds = the RunnerSpec's timeout plus
//     deadline_margin). The RunnerSpec is adjusted for the pod: workspace "/workspace",
//     api_key_env kModelApiKeyEnv when the Model's key is a secretRef (else none).
//     StartRequest::env is not passed on: the pod gets the Agent's env from BuildJob and cannot
//     see the control plane's environment;
//  2. creates the Secret named like the Job (keys `token` and `spec.json`; an existing one, left
//     by an earlier attempt, is overwritten and its ownerReferences cleared);
//  3. creates the Job. AlreadyExists of the same run and attempt (annotations agentd.dev/run-id,
//     agentd.dev/attempt) is adopted, not an error; the Job of an earlier attempt is deleted and
//     the create tried once more;
//  4. patches the Secret's ownerReferences to the Job (its uid), so garbage collection removes
//     the Secret with the Job.
// Errors: kUnavailable for transient API errors (429 after the client's retries, 5xx, timeouts,
// conflicts) and after Shutdown: the scheduler requeues. kFailedPrecondition when the agent or
// model is not in the catalog or the run already executes here; kInvalidArgument from BuildJob;
// API refusals (403, 404 namespace, 422) keep their codes. A failed Start deletes what it
// created (best effort). The handle:
//   {"kind":"kubernetes","namespace":"..","job":"..","uid":"..","attempt":N}
//
// Watching: one Reflector on Jobs and one on Pods in the namespace, both with the label selector
// `agentd.dev/run` (everything driven by watches; no polling). Every change to a Job or pod of a
// tracked attempt queues its run for one worker thread, which evaluates the cached Job and pods
// with EvaluateAttempt (job_status.h):
//  * finished -> OnExit (once per attempt; this executor never calls OnRunnerEvents: runners POST
//    their events to the API);
//  * a pod stuck beyond its grace -> the Job is deleted (Background), a Warning Event is recorded
//    on the Job, and once the Job is gone OnExit reports the stuck reason (ImagePullBackOff,
//    Unschedulable, ...). Within the grace a timer looks again when it ends (timers, not polls);
//  * a Job missing from the cache is confirmed with one GET; gone -> OnExit with reason
//    "JobDeleted" (someone else deleted it), or stopped = the Stop reason.
//
// Stop(run_id, reason): records the reason and deletes the Job (propagationPolicy Background,
// precondition on its uid) from the worker, retrying transient failures every retry_delay. The
// exit is reported, with stopped = reason, when the Job disappears or finishes. Idempotent;
// kNotFound for a run not executing here.
//
// Adopt(run): finds the attempt's Job by the handle's name (no handle: by the agentd.dev/run
// label) with direct reads. Active -> true (the watches report its end). Finished -> false, and
// OnExit follows with what its status says; gone, or only a Job of another attempt -> false, and
// OnExit follows with the detail (the scheduler says ProcessLost). A transient API error is
// logged and the run is tracked as active: the watches decide.
//
// Shutdown(): stops the reflectors and the worker; Jobs keep running (the next process adopts
// them). Listener calls are made on the worker thread without any executor lock held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "catalog/snapshot.h"
#include "core/clock.h"
#include "exec/executor.h"
#include "exec/kubernetes/job_builder.h"
#include "exec/kubernetes/job_status.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/reflector.h"

namespace agentd::exec::kubernetes {

struct JobExecutorOptions {
  // Namespace, image, service account, TTL, PVCs, API URL, pull policy (job_builder.h).
  JobOptions job;
  StuckPodGrace grace;
  // activeDeadlineSeconds = the run's timeout + this, so the scheduler's own deadline fires
  // first and the Job's is the backstop.
  std::chrono::seconds deadline_margin{30};
  // The catalog snapshot to find a run's Agent and Model in; required. E.g.
  //   [&catalog] { return catalog.Current(); }
  std::function<std::shared_ptr<const catalog::Snapshot>()> snapshot;
  // Warning Events on Jobs the executor deletes because a pod is stuck.
  bool record_events = true;
  std::string instance;  // reportingInstance of those Events (POD_NAME); default "agentd"
  // How long a Failed Job's report waits for its pod's final status to arrive through the pod
  // watch (see AttemptStatus::pod_status_pending); then the Job's own reason is reported.
  std::chrono::milliseconds pod_status_wait{5000};
  // Wait before retrying a failed delete or read of the worker.
  std::chrono::milliseconds retry_delay{2000};
  kube::Sleeper* sleeper = nullptr;  // for the reflectors' backoff; null = RealSleeper
};

// From the environment (docs/kubernetes.md, "The executor"):
//   EXECUTOR_NAMESPACE                where runs execute: Jobs, their Secrets, pods and Events
//                                     (default K8S_NAMESPACE; one of the two is required). Keep
//                                     it apart from the control plane's namespace.
//   K8S_NAMESPACE                     the control plane's namespace (the operator's)
//   EXECUTOR_IMAGE (required)         the agentd image with the runner
//   AGENTD_API_URL (required)         the URL pods reach agentd's API at
//   EXECUTOR_SERVICE_ACCOUNT          the pods' service account (default: the namespace's)
//   UPLOADS_PVC_NAME                  mounted read-only at /uploads
//   MODELS_CACHE_PVC                  mounted at /models for local weights
//   EXECUTOR_IMAGE_PULL_POLICY        Always | IfNotPresent (default) | Never
//   EXECUTOR_WEIGHTS_IMAGE            image of the weights init container (default the image)
//   EXECUTOR_JOB_TTL                  ttlSecondsAfterFinished, a duration (default 1h)
//   EXECUTOR_PENDING_GRACE            image pull / config errors tolerated for (default 5m)
//   EXECUTOR_UNSCHEDULABLE_GRACE      unschedulable pods tolerated for (default 10m)
//   EXECUTOR_DEADLINE_MARGIN          added to the run timeout (default 30s)
//   POD_NAME                          reportingInstance of Events
// `snapshot` is left empty: the caller sets it. kInvalidArgument naming the variable.
core::Result<JobExecutorOptions> JobExecutorOptionsFromEnv();
// The same with a lookup function (tests); get(name) returns nullopt for unset or empty.
core::Result<JobExecutorOptions> JobExecutorOptionsFromEnv(
    const std::function<std::optional<std::string>(const char* name)>& get);

class KubernetesJobExecutor final : public Executor {
 public:
  // Starts the reflectors and the worker. `client`, `listener` and `clock` must outlive the
  // executor. kInvalidArgument for options that cannot work (no namespace, API URL, snapshot).
  static core::Result<std::unique_ptr<KubernetesJobExecutor>> Create(JobExecutorOptions options,
                                                                     kube::KubeClient& client,
                                                                     ExecutionListener& listener,
                                                                     const core::Clock& clock);
  ~KubernetesJobExecutor() override;
  KubernetesJobExecutor(const KubernetesJobExecutor&) = delete;
  KubernetesJobExecutor& operator=(const KubernetesJobExecutor&) = delete;

  core::Result<core::Json> Start(const StartRequest& request) override;
  core::Status Stop(const std::string& run_id, StopReason reason) override;
  core::Result<bool> Adopt(const runs::Run& run) override;
  void Shutdown() override;

  // Makes the worker look at its timers now. For tests driving a FakeClock (the worker waits for
  // the next grace to end in real time).
  void Wake();
  // True once both watches have listed; waits up to `timeout`.
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  // Attempts being followed (started or adopted, exit not yet reported).
  size_t ActiveCount() const;
  // When the worker looks at the run again by itself (the end of a stuck pod's grace, or a
  // retry); nullopt when it waits for the watches only. For tests.
  std::optional<core::TimePoint> RecheckAt(const std::string& run_id) const;

 private:
  enum class DeleteState { kNone, kWanted, kSent };
  struct Attempt {
    std::string run_id;
    int attempt = 0;
    std::string job_name;
    std::string uid;  // empty until known
    std::optional<StopReason> stopped;
    DeleteState delete_state = DeleteState::kNone;
    // The exit to report instead of what the Job says (a stuck pod, or what adoption found).
    std::optional<ExitInfo> decided;
    bool report_now = false;  // `decided` is final: report it without looking again
    bool starting = false;    // Start is creating the objects; the worker leaves it alone
    std::optional<core::TimePoint> recheck_at;
    // While a Failed Job's pod status is awaited: until when.
    std::optional<core::TimePoint> pod_status_until;
  };

  KubernetesJobExecutor(JobExecutorOptions options, kube::KubeClient& client,
                        ExecutionListener& listener, const core::Clock& clock);
  void StartWatching();

  // Start's API calls; returns the Job as stored.
  core::Result<core::Json> CreateObjects(const runs::Run& run, const core::Json& job,
                                         const core::Json& secret);
  core::Result<core::Json> CreateJob(const runs::Run& run, const core::Json& job);

  // Reflector handlers (reflector threads).
  void OnJob(const core::Json& job);
  void OnPod(const core::Json& pod, bool deleted);
  void OnSynced();

  void Enqueue(const std::string& run_id);
  void EnqueueAllLocked();
  void WorkLoop();
  void Reconcile(const std::string& run_id);
  // Ends an attempt: removes it and calls OnExit (worker thread, no lock held).
  void Report(const std::string& run_id, int attempt, ExitInfo exit);
  void RetryLater(const std::string& run_id);

  JobExecutorOptions options_;
  kube::KubeClient& client_;
  ExecutionListener& listener_;
  const core::Clock& clock_;
  std::unique_ptr<kube::EventRecorder> recorder_;
  std::unique_ptr<kube::Reflector> jobs_;
  std::unique_ptr<kube::Reflector> pods_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Attempt> attempts_;                   // by run id
  std::map<std::string, std::set<std::string>> pods_by_run_;  // run id -> pod cache keys
  std::set<std::string> dirty_;                               // run ids to reconcile
  bool woken_ = false;
  bool shut_down_ = false;
  std::thread worker_;
  std::once_flag shutdown_once_;
};

}  // namespace agentd::exec::kubernetes
