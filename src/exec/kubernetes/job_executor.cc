#include "exec/kubernetes/job_executor.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/env.h"
#include "core/log.h"
#include "kube/resource.h"

namespace agentd::exec::kubernetes {
namespace {

using core::Json;
namespace kr = kube::resources;

constexpr char kPodWorkspace[] = "/workspace";
constexpr std::chrono::seconds kFallbackTimeout{900};

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                       uint32_t(uint8_t(in[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string Annotation(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto annotations = meta->find("annotations");
  if (annotations == meta->end() || !annotations->is_object()) return "";
  auto it = annotations->find(key);
  return it != annotations->end() && it->is_string() ? it->get<std::string>() : "";
}

int AttemptOf(const Json& object) {
  const std::string text = Annotation(object, kAttemptAnnotation);
  auto n = core::ParseInt(text, 0, 1'000'000'000, kAttemptAnnotation);
  return n.ok() ? static_cast<int>(*n) : 0;
}

bool IsTransient(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kUnavailable:
    case core::ErrorCode::kResourceExhausted:
    case core::ErrorCode::kDeadlineExceeded:
    case core::ErrorCode::kInternal:
    case core::ErrorCode::kAborted:
      return true;
    default:
      return false;
  }
}

// Start's errors: transient API errors become kUnavailable (the scheduler requeues), the others
// keep their code. `what` says which call failed.
core::Error StartError(const core::Error& error, const std::string& what) {
  core::Error out = error.Wrap(what);
  if (IsTransient(error.code)) out.code = core::ErrorCode::kUnavailable;
  return out;
}

Json RunnerLabels(const runs::Run& run) {
  return Json{{"app.kubernetes.io/name", "agentd"},
              {"app.kubernetes.io/component", "runner"},
              {"app.kubernetes.io/managed-by", "agentd"},
              {kRunLabel, RunLabelValue(run.id)}};
}

Json BuildSecret(const runs::Run& run, const std::string& name, const std::string& ns,
                 const std::string& token, const api::v1::RunnerSpec& spec) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"labels", RunnerLabels(run)},
        {"annotations",
         {{kRunIdAnnotation, run.id}, {kAttemptAnnotation, std::to_string(run.attempts)}}}}},
      {"type", "Opaque"},
      {"data",
       {{kRunnerSecretTokenKey, Base64(token)},
        {kRunnerSecretSpecKey, Base64(core::DumpJson(api::v1::RunnerSpecToJson(spec)))}}},
  };
}

kube::DeleteOptions BackgroundDelete(const std::string& uid) {
  kube::DeleteOptions options;
  options.propagation = kube::Propagation::kBackground;
  if (!uid.empty()) options.precondition_uid = uid;
  return options;
}

}  // namespace

// --- Options -------------------------------------------------------------------------------------

core::Result<JobExecutorOptions> JobExecutorOptionsFromEnv() {
  return JobExecutorOptionsFromEnv([](const char* name) { return core::GetEnv(name); });
}

core::Result<JobExecutorOptions> JobExecutorOptionsFromEnv(
    const std::function<std::optional<std::string>(const char* name)>& get) {
  JobExecutorOptions options;
  auto required = [&](const char* name, std::string* out) -> core::Status {
    auto value = get(name);
    if (!value) {
      return core::InvalidArgument(std::string(name) + " is required by the Kubernetes executor");
    }
    *out = *value;
    return core::Ok();
  };
  auto optional = [&](const char* name, std::string* out) {
    if (auto value = get(name)) *out = *value;
  };
  auto duration = [&](const char* name, std::chrono::seconds* out) -> core::Status {
    auto value = get(name);
    if (!value) return core::Ok();
    AGENTD_ASSIGN_OR_RETURN(auto parsed, core::ParseDuration(*value, name));
    if (parsed.count() < 0) return core::InvalidArgument(std::string(name) + " is negative");
    *out = std::chrono::duration_cast<std::chrono::seconds>(parsed);
    return core::Ok();
  };
  JobOptions& job = options.job;
  // Runs belong in a namespace of their own (EXECUTOR_NAMESPACE): whoever can create Jobs in a
  // namespace can read its Secrets. Without it they share the control plane's (K8S_NAMESPACE).
  if (auto runs_ns = get("EXECUTOR_NAMESPACE")) {
    job.namespace_ = *runs_ns;
  } else if (auto control_ns = get("K8S_NAMESPACE")) {
    job.namespace_ = *control_ns;
  } else {
    return core::InvalidArgument(
        "EXECUTOR_NAMESPACE or K8S_NAMESPACE is required by the Kubernetes executor");
  }
  AGENTD_RETURN_IF_ERROR(required("EXECUTOR_IMAGE", &job.image));
  AGENTD_RETURN_IF_ERROR(required("AGENTD_API_URL", &job.api_url));
  if (job.api_url.rfind("http://", 0) != 0 && job.api_url.rfind("https://", 0) != 0) {
    return core::InvalidArgument("AGENTD_API_URL \"" + job.api_url +
                                 "\" must start with http:// or https://");
  }
  optional("EXECUTOR_SERVICE_ACCOUNT", &job.service_account);
  optional("UPLOADS_PVC_NAME", &job.uploads_pvc);
  optional("MODELS_CACHE_PVC", &job.models_cache_pvc);
  optional("EXECUTOR_WEIGHTS_IMAGE", &job.weights_fetcher_image);
  optional("EXECUTOR_IMAGE_PULL_POLICY", &job.image_pull_policy);
  if (job.image_pull_policy != "Always" && job.image_pull_policy != "IfNotPresent" &&
      job.image_pull_policy != "Never") {
    return core::InvalidArgument("EXECUTOR_IMAGE_PULL_POLICY \"" + job.image_pull_policy +
                                 "\" is not Always, IfNotPresent or Never");
  }
  std::chrono::seconds ttl{job.ttl_seconds_after_finished};
  AGENTD_RETURN_IF_ERROR(duration("EXECUTOR_JOB_TTL", &ttl));
  job.ttl_seconds_after_finished = ttl.count();
  AGENTD_RETURN_IF_ERROR(duration("EXECUTOR_PENDING_GRACE", &options.grace.pending));
  AGENTD_RETURN_IF_ERROR(duration("EXECUTOR_UNSCHEDULABLE_GRACE", &options.grace.unschedulable));
  AGENTD_RETURN_IF_ERROR(duration("EXECUTOR_DEADLINE_MARGIN", &options.deadline_margin));
  optional("POD_NAME", &options.instance);
  return options;
}

// --- Construction --------------------------------------------------------------------------------

KubernetesJobExecutor::KubernetesJobExecutor(JobExecutorOptions options, kube::KubeClient& client,
                                             ExecutionListener& listener, const core::Clock& clock)
    : options_(std::move(options)), client_(client), listener_(listener), clock_(clock) {}

core::Result<std::unique_ptr<KubernetesJobExecutor>> KubernetesJobExecutor::Create(
    JobExecutorOptions options, kube::KubeClient& client, ExecutionListener& listener,
    const core::Clock& clock) {
  if (options.job.namespace_.empty()) {
    return core::InvalidArgument(
        "Kubernetes executor: no namespace (EXECUTOR_NAMESPACE or K8S_NAMESPACE)");
  }
  if (options.job.api_url.empty()) {
    return core::InvalidArgument("Kubernetes executor: no API URL for pods (AGENTD_API_URL)");
  }
  if (!options.snapshot) {
    return core::InvalidArgument("Kubernetes executor: no catalog snapshot accessor");
  }
  if (options.retry_delay <= std::chrono::milliseconds::zero()) {
    return core::InvalidArgument("Kubernetes executor: retry_delay must be positive");
  }
  if (options.instance.empty()) options.instance = "agentd";
  std::unique_ptr<KubernetesJobExecutor> executor(
      new KubernetesJobExecutor(std::move(options), client, listener, clock));
  executor->StartWatching();
  return executor;
}

void KubernetesJobExecutor::StartWatching() {
  if (options_.record_events) {
    kube::EventSource source;
    source.controller = "agentd.dev/executor";
    source.instance = options_.instance;
    recorder_ = std::make_unique<kube::EventRecorder>(client_, clock_, source);
  }
  auto reflector_options = [&](const kube::GroupVersionResource& gvr, const char* name) {
    kube::ReflectorOptions o;
    o.gvr = gvr;
    o.ns = options_.job.namespace_;
    o.label_selector = kRunLabel;  // exists
    o.sleeper = options_.sleeper;
    o.name = name;
    return o;
  };
  kube::ReflectorHandler job_handler;
  job_handler.on_add = [this](const Json& job) { OnJob(job); };
  job_handler.on_update = [this](const Json&, const Json& job) { OnJob(job); };
  job_handler.on_delete = [this](const Json& job) { OnJob(job); };
  job_handler.on_synced = [this] { OnSynced(); };
  kube::ReflectorHandler pod_handler;
  pod_handler.on_add = [this](const Json& pod) { OnPod(pod, false); };
  pod_handler.on_update = [this](const Json&, const Json& pod) { OnPod(pod, false); };
  pod_handler.on_delete = [this](const Json& pod) { OnPod(pod, true); };
  pod_handler.on_synced = [this] { OnSynced(); };
  jobs_ = std::make_unique<kube::Reflector>(client_, reflector_options(kr::kJobs, "executor-jobs"),
                                            std::move(job_handler));
  pods_ = std::make_unique<kube::Reflector>(client_, reflector_options(kr::kPods, "executor-pods"),
                                            std::move(pod_handler));
  worker_ = std::thread([this] { WorkLoop(); });
  jobs_->Start();
  pods_->Start();
}

KubernetesJobExecutor::~KubernetesJobExecutor() { Shutdown(); }

void KubernetesJobExecutor::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard lock(mu_);
      shut_down_ = true;
    }
    cv_.notify_all();
    if (jobs_) jobs_->Stop();
    if (pods_) pods_->Stop();
    if (worker_.joinable()) worker_.join();
  });
}

bool KubernetesJobExecutor::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!jobs_->WaitForSync(timeout)) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return pods_->WaitForSync(std::max(left, std::chrono::milliseconds::zero()));
}

size_t KubernetesJobExecutor::ActiveCount() const {
  std::lock_guard lock(mu_);
  return attempts_.size();
}

std::optional<core::TimePoint> KubernetesJobExecutor::RecheckAt(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  auto it = attempts_.find(run_id);
  if (it == attempts_.end()) return std::nullopt;
  return it->second.recheck_at;
}

// --- Start ---------------------------------------------------------------------------------------

core::Result<Json> KubernetesJobExecutor::Start(const StartRequest& request) {
  const runs::Run& run = request.run;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return core::Unavailable("Kubernetes executor is shut down");
  }
  std::shared_ptr<const catalog::Snapshot> snapshot = options_.snapshot();
  if (snapshot == nullptr) return core::Unavailable("no catalog snapshot loaded yet");
  const resources::Agent* agent = snapshot->FindAgent(run.agent);
  if (agent == nullptr) {
    return core::FailedPrecondition("agent \"" + run.agent + "\" of run " + run.id +
                                    " is not in the catalog");
  }
  const resources::Model* model = nullptr;
  if (!agent->spec.model.empty()) {
    model = snapshot->FindModel(agent->spec.model);
    if (model == nullptr) {
      return core::FailedPrecondition("model \"" + agent->spec.model + "\" of agent " +
                                      agent->metadata.name + " is not in the catalog");
    }
  }

  // The RunnerSpec as the pod sees it.
  api::v1::RunnerSpec spec = request.spec;
  spec.run_id = run.id;
  spec.attempt = run.attempts;
  spec.workspace = kPodWorkspace;
  spec.model.api_key_env =
      model != nullptr && model->spec.api_key.secret_ref ? kModelApiKeyEnv : std::string();
  std::chrono::seconds timeout = spec.limits.timeout;
  if (timeout.count() <= 0) timeout = agent->spec.limits.timeout;
  if (timeout.count() <= 0) timeout = kFallbackTimeout;

  const std::string& ns = options_.job.namespace_;
  const std::string name = JobName(run.id);
  JobInputs inputs{run, *agent, model, timeout + options_.deadline_margin, name};
  AGENTD_ASSIGN_OR_RETURN(Json job, BuildJob(inputs, options_.job));
  Json secret = BuildSecret(run, name, ns, request.runner_token, spec);

  {
    std::lock_guard lock(mu_);
    if (attempts_.count(run.id) != 0) {
      return core::FailedPrecondition("run " + run.id + " is already executing here");
    }
    Attempt a;
    a.run_id = run.id;
    a.attempt = run.attempts;
    a.job_name = name;
    a.starting = true;
    attempts_.emplace(run.id, std::move(a));
  }
  auto stored = CreateObjects(run, job, secret);
  if (!stored.ok()) {
    {
      std::lock_guard lock(mu_);
      attempts_.erase(run.id);
    }
    core::LogWarn("cannot start a run as a Job", {{"run", run.id},
                                                  {"attempt", run.attempts},
                                                  {"job", name},
                                                  {"error", stored.error().message}});
    return std::move(stored).error();
  }
  const std::string uid = kube::UidOf(*stored);
  {
    std::lock_guard lock(mu_);
    auto it = attempts_.find(run.id);
    if (it != attempts_.end()) {
      it->second.uid = uid;
      it->second.starting = false;
    }
    dirty_.insert(run.id);
  }
  cv_.notify_all();
  core::LogInfo("started run as a Job",
                {{"run", run.id}, {"attempt", run.attempts}, {"namespace", ns}, {"job", name}});
  return Json{{"kind", "kubernetes"},
              {"namespace", ns},
              {"job", name},
              {"uid", uid},
              {"attempt", run.attempts}};
}

core::Result<Json> KubernetesJobExecutor::CreateObjects(const runs::Run& run, const Json& job,
                                                        const Json& secret) {
  const std::string& ns = options_.job.namespace_;
  const std::string name = kube::NameOf(job);
  const kube::ObjectRef secret_ref{kr::kSecrets, ns, name};

  bool secret_created = false;
  auto created = client_.Create(kr::kSecrets, ns, secret);
  if (created.ok()) {
    secret_created = true;
  } else if (created.error().code == core::ErrorCode::kAlreadyExists) {
    // Left by an earlier attempt: take it over. Dropping its ownerReferences keeps the garbage
    // collector from removing it with that attempt's Job.
    Json patch = {{"metadata",
                   {{"labels", secret["metadata"]["labels"]},
                    {"annotations", secret["metadata"]["annotations"]},
                    {"ownerReferences", nullptr}}},
                  {"data", secret["data"]}};
    auto patched = client_.Patch(secret_ref, kube::PatchType::kMerge, patch);
    if (!patched.ok()) return StartError(patched.error(), "update the runner Secret " + name);
  } else {
    return StartError(created.error(), "create the runner Secret " + name);
  }

  auto undo_secret = [&] {
    if (!secret_created) return;
    auto deleted = client_.Delete(secret_ref);
    if (!deleted.ok() && deleted.error().code != core::ErrorCode::kNotFound) {
      core::LogWarn("cannot delete the runner Secret of a failed start",
                    {{"secret", name}, {"error", deleted.error().message}});
    }
  };

  auto stored = CreateJob(run, job);
  if (!stored.ok()) {
    undo_secret();
    return std::move(stored).error();
  }
  const std::string uid = kube::UidOf(*stored);
  Json owner_patch = {{"metadata",
                       {{"ownerReferences", Json::array({{{"apiVersion", "batch/v1"},
                                                          {"kind", "Job"},
                                                          {"name", name},
                                                          {"uid", uid},
                                                          {"controller", true},
                                                          {"blockOwnerDeletion", false}}})}}}};
  auto owned = client_.Patch(secret_ref, kube::PatchType::kMerge, owner_patch);
  if (!owned.ok()) {
    // Without its owner the Secret would outlive the Job; undo the Job instead.
    auto deleted = client_.Delete({kr::kJobs, ns, name}, BackgroundDelete(uid));
    if (!deleted.ok() && deleted.error().code != core::ErrorCode::kNotFound) {
      core::LogWarn("cannot delete the Job of a failed start",
                    {{"job", name}, {"error", deleted.error().message}});
    }
    undo_secret();
    return StartError(owned.error(), "set the owner of the runner Secret " + name);
  }
  return stored;
}

core::Result<Json> KubernetesJobExecutor::CreateJob(const runs::Run& run, const Json& job) {
  const std::string& ns = options_.job.namespace_;
  const std::string name = kube::NameOf(job);
  const kube::ObjectRef ref{kr::kJobs, ns, name};
  for (int round = 0; round < 2; ++round) {
    auto created = client_.Create(kr::kJobs, ns, job);
    if (created.ok()) return created;
    if (created.error().code != core::ErrorCode::kAlreadyExists) {
      return StartError(created.error(), "create Job " + name);
    }
    auto existing = client_.Get(ref);
    if (!existing.ok()) {
      if (existing.error().code == core::ErrorCode::kNotFound) continue;  // deleted meanwhile
      return StartError(existing.error(), "read the existing Job " + name);
    }
    if (Annotation(*existing, kRunIdAnnotation) != run.id) {
      return core::FailedPrecondition("Job " + ns + "/" + name + " exists and is not run " +
                                      run.id + "'s");
    }
    const int existing_attempt = AttemptOf(*existing);
    if (existing_attempt == run.attempts) {
      core::LogInfo("adopting the existing Job of this attempt",
                    {{"run", run.id}, {"attempt", run.attempts}, {"job", name}});
      return existing;
    }
    if (existing_attempt > run.attempts) {
      return core::FailedPrecondition("Job " + ns + "/" + name + " belongs to attempt " +
                                      std::to_string(existing_attempt) + " of run " + run.id +
                                      ", newer than " + std::to_string(run.attempts));
    }
    // The Job of an earlier attempt (finished, or abandoned by a failed start): replace it.
    core::LogInfo("deleting the Job of an earlier attempt",
                  {{"run", run.id}, {"attempt", existing_attempt}, {"job", name}});
    auto deleted = client_.Delete(ref, BackgroundDelete(kube::UidOf(*existing)));
    if (!deleted.ok() && deleted.error().code != core::ErrorCode::kNotFound &&
        deleted.error().code != core::ErrorCode::kAborted) {
      return StartError(deleted.error(), "delete the earlier attempt's Job " + name);
    }
  }
  return core::Unavailable("Job " + ns + "/" + name +
                           " of an earlier attempt is still being deleted");
}

// --- Stop, Adopt ---------------------------------------------------------------------------------

core::Status KubernetesJobExecutor::Stop(const std::string& run_id, StopReason reason) {
  {
    std::lock_guard lock(mu_);
    auto it = attempts_.find(run_id);
    if (it == attempts_.end()) return core::NotFound("run " + run_id + " is not executing here");
    Attempt& a = it->second;
    if (a.stopped) return core::Ok();
    a.stopped = reason;
    if (a.delete_state == DeleteState::kNone) a.delete_state = DeleteState::kWanted;
    dirty_.insert(run_id);
  }
  cv_.notify_all();
  core::LogInfo("stopping run: deleting its Job",
                {{"run", run_id}, {"reason", StopReasonName(reason)}});
  return core::Ok();
}

core::Result<bool> KubernetesJobExecutor::Adopt(const runs::Run& run) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return core::Unavailable("Kubernetes executor is shut down");
    if (attempts_.count(run.id) != 0) return true;
  }
  const std::string& ns = options_.job.namespace_;
  const int attempt = std::max(1, run.attempts);
  const Json& handle = run.executor_handle;
  Attempt a;
  a.run_id = run.id;
  a.attempt = attempt;
  a.job_name = JobName(run.id);
  std::string handle_job;
  if (handle.is_object()) {
    const std::string handle_ns = handle.value("namespace", std::string());
    if (!handle_ns.empty() && handle_ns != ns) {
      return core::FailedPrecondition("run " + run.id + " runs in namespace " + handle_ns +
                                      ", but this executor watches " + ns);
    }
    const bool same_attempt = handle.value("attempt", attempt) == attempt;
    if (same_attempt) {
      handle_job = handle.value("job", std::string());
      a.uid = handle.value("uid", std::string());
    }
  }

  auto track = [&](Attempt attempt_state) {
    {
      std::lock_guard lock(mu_);
      const std::string id = attempt_state.run_id;
      attempts_.emplace(id, std::move(attempt_state));
      dirty_.insert(id);
    }
    cv_.notify_all();
  };
  auto transient = [&](const core::Error& error) {
    core::LogWarn("cannot read a run's Job while adopting it; the watches will tell",
                  {{"run", run.id}, {"error", error.message}});
    track(a);
    return true;
  };

  std::optional<Json> job;
  if (!handle_job.empty()) {
    a.job_name = handle_job;
    auto got = client_.Get({kr::kJobs, ns, handle_job});
    if (got.ok()) {
      job = std::move(got).value();
    } else if (got.error().code != core::ErrorCode::kNotFound) {
      return transient(got.error());
    }
  } else {
    kube::ListOptions list;
    list.label_selector = std::string(kRunLabel) + "=" + RunLabelValue(run.id);
    auto listed = client_.List(kr::kJobs, ns, list);
    if (!listed.ok()) return transient(listed.error());
    for (Json& item : listed->items) {
      if (Annotation(item, kRunIdAnnotation) == run.id && AttemptOf(item) == attempt) {
        job = std::move(item);
        break;
      }
    }
  }
  if (job && (Annotation(*job, kRunIdAnnotation) != run.id || AttemptOf(*job) != attempt ||
              (!a.uid.empty() && kube::UidOf(*job) != a.uid))) {
    job.reset();  // another attempt's (or another run's) Job
  }
  if (!job) {
    ExitInfo gone;
    gone.detail = "Job " + ns + "/" + a.job_name + " of run " + run.id + " (attempt " +
                  std::to_string(attempt) +
                  ") was not found: it was deleted, or removed by its TTL after it finished";
    a.decided = gone;
    a.report_now = true;
    track(a);
    return false;
  }
  a.job_name = kube::NameOf(*job);
  a.uid = kube::UidOf(*job);

  kube::ListOptions list;
  list.label_selector = std::string(kRunLabel) + "=" + RunLabelValue(run.id);
  auto pods = client_.List(kr::kPods, ns, list);
  if (!pods.ok()) return transient(pods.error());
  std::vector<Json> ours;
  for (Json& pod : pods->items) {
    if (Annotation(pod, kRunIdAnnotation) == run.id && AttemptOf(pod) == attempt) {
      ours.push_back(std::move(pod));
    }
  }
  AttemptStatus status = EvaluateAttempt(*job, ours, clock_.Now(), options_.grace);
  if (status.state == AttemptStatus::State::kFinished) {
    a.decided = status.exit;
    a.report_now = true;
    track(a);
    return false;
  }
  track(a);  // stuck pods are the worker's business
  core::LogInfo("adopted a run's Job",
                {{"run", run.id}, {"attempt", attempt}, {"job", a.job_name}});
  return true;
}

// --- Watch handlers ------------------------------------------------------------------------------

void KubernetesJobExecutor::OnJob(const Json& job) {
  const std::string run_id = Annotation(job, kRunIdAnnotation);
  if (run_id.empty()) return;
  Enqueue(run_id);
}

void KubernetesJobExecutor::OnPod(const Json& pod, bool deleted) {
  const std::string run_id = Annotation(pod, kRunIdAnnotation);
  if (run_id.empty()) return;
  const std::string key = kube::KeyOf(pod);
  bool tracked = false;
  {
    std::lock_guard lock(mu_);
    if (deleted) {
      auto it = pods_by_run_.find(run_id);
      if (it != pods_by_run_.end()) {
        it->second.erase(key);
        if (it->second.empty()) pods_by_run_.erase(it);
      }
    } else {
      pods_by_run_[run_id].insert(key);
    }
    tracked = attempts_.count(run_id) != 0;
    if (tracked) dirty_.insert(run_id);
  }
  if (tracked) cv_.notify_all();
}

void KubernetesJobExecutor::OnSynced() {
  {
    std::lock_guard lock(mu_);
    EnqueueAllLocked();
  }
  cv_.notify_all();
}

void KubernetesJobExecutor::Enqueue(const std::string& run_id) {
  {
    std::lock_guard lock(mu_);
    if (attempts_.count(run_id) == 0) return;
    dirty_.insert(run_id);
  }
  cv_.notify_all();
}

void KubernetesJobExecutor::EnqueueAllLocked() {
  for (const auto& [run_id, attempt] : attempts_) dirty_.insert(run_id);
}

void KubernetesJobExecutor::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void KubernetesJobExecutor::RetryLater(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto it = attempts_.find(run_id);
  if (it != attempts_.end()) it->second.recheck_at = clock_.Now() + options_.retry_delay;
}

// --- The worker ----------------------------------------------------------------------------------

void KubernetesJobExecutor::WorkLoop() {
  std::unique_lock lock(mu_);
  while (!shut_down_) {
    const core::TimePoint now = clock_.Now();
    std::optional<core::TimePoint> next;
    for (auto& [run_id, a] : attempts_) {
      if (!a.recheck_at) continue;
      if (*a.recheck_at <= now) {
        a.recheck_at.reset();
        dirty_.insert(run_id);
      } else if (!next || *a.recheck_at < *next) {
        next = a.recheck_at;
      }
    }
    if (!dirty_.empty()) {
      std::set<std::string> batch;
      batch.swap(dirty_);
      lock.unlock();
      for (const std::string& run_id : batch) Reconcile(run_id);
      lock.lock();
      continue;
    }
    woken_ = false;
    auto ready = [this] { return shut_down_ || woken_ || !dirty_.empty(); };
    if (next) {
      cv_.wait_for(lock, *next - now, ready);
    } else {
      cv_.wait(lock, ready);
    }
  }
}

void KubernetesJobExecutor::Reconcile(const std::string& run_id) {
  Attempt a;
  {
    std::lock_guard lock(mu_);
    auto it = attempts_.find(run_id);
    if (it == attempts_.end()) return;
    if (it->second.starting) return;  // Start queues the run again when it is done
    it->second.recheck_at.reset();
    a = it->second;
  }
  if (a.report_now && a.decided) {
    Report(run_id, a.attempt, *a.decided);
    return;
  }
  const std::string& ns = options_.job.namespace_;
  const kube::ObjectRef ref{kr::kJobs, ns, a.job_name};

  if (a.delete_state == DeleteState::kWanted) {
    auto deleted = client_.Delete(ref, BackgroundDelete(a.uid));
    // kAborted: the uid precondition failed, the Job there is not ours (ours is gone).
    if (!deleted.ok() && deleted.error().code != core::ErrorCode::kNotFound &&
        deleted.error().code != core::ErrorCode::kAborted) {
      core::LogWarn("cannot delete a run's Job; retrying",
                    {{"run", run_id}, {"job", a.job_name}, {"error", deleted.error().message}});
      RetryLater(run_id);
      return;
    }
    std::lock_guard lock(mu_);
    auto it = attempts_.find(run_id);
    if (it != attempts_.end() && it->second.attempt == a.attempt) {
      it->second.delete_state = DeleteState::kSent;
    }
    a.delete_state = DeleteState::kSent;
  }
  if (!jobs_->HasSynced() || !pods_->HasSynced()) return;  // OnSynced queues every run again

  auto ours = [&](const Json& job) {
    return Annotation(job, kRunIdAnnotation) == a.run_id && AttemptOf(job) == a.attempt &&
           (a.uid.empty() || kube::UidOf(job) == a.uid);
  };
  std::optional<Json> job = jobs_->cache().Get(ns + "/" + a.job_name);
  if (job && !ours(*job)) job.reset();
  if (!job) {
    // Not in the cache: gone, or not shown by the watch yet. One GET tells.
    auto got = client_.Get(ref);
    if (got.ok() && ours(*got)) return;  // the watch will bring it
    if (!got.ok() && got.error().code != core::ErrorCode::kNotFound) {
      RetryLater(run_id);
      return;
    }
    ExitInfo exit;
    if (a.decided) {
      exit = *a.decided;
    } else if (a.stopped) {
      exit.detail = "Job " + ns + "/" + a.job_name + " was deleted to stop the run (" +
                    std::string(StopReasonName(*a.stopped)) + ")";
    } else {
      exit.reason = "JobDeleted";
      exit.detail = "Job " + ns + "/" + a.job_name + " was deleted before it finished";
    }
    if (a.stopped) exit.stopped = a.stopped;
    Report(run_id, a.attempt, std::move(exit));
    return;
  }

  std::vector<Json> pods;
  {
    std::vector<std::string> keys;
    {
      std::lock_guard lock(mu_);
      auto it = pods_by_run_.find(run_id);
      if (it != pods_by_run_.end()) keys.assign(it->second.begin(), it->second.end());
    }
    for (const std::string& key : keys) {
      auto pod = pods_->cache().Get(key);
      if (pod && AttemptOf(*pod) == a.attempt) pods.push_back(std::move(*pod));
    }
  }
  AttemptStatus status = EvaluateAttempt(*job, pods, clock_.Now(), options_.grace);
  switch (status.state) {
    case AttemptStatus::State::kFinished: {
      if (status.pod_status_pending && !a.decided) {
        const core::TimePoint now = clock_.Now();
        if (!a.pod_status_until) a.pod_status_until = now + options_.pod_status_wait;
        if (now < *a.pod_status_until) {
          std::lock_guard lock(mu_);
          auto it = attempts_.find(run_id);
          if (it != attempts_.end()) {
            it->second.pod_status_until = a.pod_status_until;
            it->second.recheck_at = a.pod_status_until;  // or sooner, on the pod's update
          }
          return;
        }
      }
      ExitInfo exit = a.decided ? *a.decided : status.exit;
      if (a.stopped) exit.stopped = a.stopped;
      Report(run_id, a.attempt, std::move(exit));
      return;
    }
    case AttemptStatus::State::kStuck: {
      if (a.delete_state != DeleteState::kNone) return;  // already being deleted
      {
        std::lock_guard lock(mu_);
        auto it = attempts_.find(run_id);
        if (it == attempts_.end()) return;
        it->second.decided = status.exit;
        it->second.delete_state = DeleteState::kWanted;
        dirty_.insert(run_id);
      }
      core::LogWarn("a run's pod is stuck; deleting its Job", {{"run", run_id},
                                                               {"job", a.job_name},
                                                               {"reason", status.exit.reason},
                                                               {"detail", status.exit.detail}});
      if (recorder_) {
        kube::EventSpec event;
        event.regarding = kube::ObjectReferenceFor(*job);
        event.type = kube::EventType::kWarning;
        event.reason = status.exit.reason;
        event.action = "Delete";
        event.note = "agentd deleted the Job: " + status.exit.detail;
        (void)recorder_->Record(event);  // best effort; failures are logged by the recorder
      }
      return;
    }
    case AttemptStatus::State::kActive:
      if (status.recheck_at) {
        std::lock_guard lock(mu_);
        auto it = attempts_.find(run_id);
        if (it != attempts_.end()) it->second.recheck_at = status.recheck_at;
      }
      return;
  }
}

void KubernetesJobExecutor::Report(const std::string& run_id, int attempt, ExitInfo exit) {
  {
    std::lock_guard lock(mu_);
    auto it = attempts_.find(run_id);
    if (it == attempts_.end() || it->second.attempt != attempt) return;
    attempts_.erase(it);
  }
  core::LogInfo("run's Job ended",
                {{"run", run_id},
                 {"attempt", attempt},
                 {"exitCode", exit.exit_code},
                 {"reason", exit.reason},
                 {"stopped", std::string(exit.stopped ? StopReasonName(*exit.stopped) : "")},
                 {"detail", exit.detail}});
  listener_.OnExit(run_id, attempt, exit);
}

}  // namespace agentd::exec::kubernetes
