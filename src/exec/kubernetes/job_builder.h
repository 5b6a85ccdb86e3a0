// The pure half of the Kubernetes executor: one run -> one `batch/v1` Job, as JSON, and a checker
// of the Pod Security Standards `restricted` profile. Nothing here does I/O; the API client, the
// executor class and the status mapping are built on top (issue 3).
//
// The Job's pod runs `agentd runner` with these arguments (the runner's flag set is not final;
// the executor and the runner must agree on them, and this is the one place the pod side lives):
//   runner --run-id <id> --attempt <n>
//          --spec-file  /var/run/agentd/runner/spec.json   RunnerSpec JSON (runner_protocol.h)
//          --token-file /var/run/agentd/runner/token       run- and attempt-scoped token
//          --events-url <api_url>/api/v1/runs/<id>/events  where the runner POSTs its events
//          --journal    /workspace/.agentd/journal.jsonl   local copy of the events
// The Secret named JobInputs::runner_token_secret_name holds the keys `token` and `spec.json`
// and is mounted read-only at /var/run/agentd/runner; the executor creates it before the Job.
// The model's API key, when the Model names a Secret, is the env var kModelApiKeyEnv (the
// RunnerSpec's `api_key_env` must name it). Local weights are fetched by an init container into
// the models-cache PVC at /models/<sha256> (content addressed) and the runner finds their path
// in kModelWeightsEnv.
//
// Scheduling comes from the Agent's spec.kubernetes: its nodeSelector and tolerations (plus the
// nvidia.com/gpu NoSchedule toleration when resources.gpu > 0, once even if the agent lists it
// too), its serviceAccountName (else JobOptions::service_account, else the namespace's default)
// and automountServiceAccountToken (false unless the agent asks).
//
// When the run was submitted for a Run custom resource (the operator labels it with
// runs::kRunObjectNameLabel, kRunObjectUidLabel and kRunObjectNamespaceLabel) and that Run lives
// in JobOptions::namespace_, the Job gets metadata.ownerReferences = [{apiVersion
// agentd.dev/v1alpha1, kind Run, name, uid, controller: true, blockOwnerDeletion: true}], so
// deleting the Run deletes the Job. A Run in another namespace gets none: an ownerReference
// cannot cross namespaces (the operator's finalizer removes those Jobs instead).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"
#include "resources/types.h"
#include "runs/run.h"

namespace agentd::exec::kubernetes {

inline constexpr char kRunnerContainerName[] = "runner";
inline constexpr char kWeightsInitContainerName[] = "fetch-weights";
inline constexpr char kRunnerSecretTokenKey[] = "token";
inline constexpr char kRunnerSecretSpecKey[] = "spec.json";
inline constexpr char kRunnerSecretMountPath[] = "/var/run/agentd/runner";
inline constexpr char kModelApiKeyEnv[] = "AGENTD_MODEL_API_KEY";
inline constexpr char kModelWeightsEnv[] = "AGENTD_MODEL_WEIGHTS";
inline constexpr int64_t kRunnerUid = 1001;

// Label keys on the Job and its pod. The executor re-adopts Jobs by kRunLabel.
inline constexpr char kRunLabel[] = "agentd.dev/run";
inline constexpr char kAgentLabel[] = "agentd.dev/agent";
inline constexpr char kTeamLabel[] = "agentd.dev/team";
inline constexpr char kCostCenterLabel[] = "agentd.dev/cost-center";
inline constexpr char kTierLabel[] = "agentd.dev/tier";
// Annotation with the exact run id (the label may be shortened, see RunLabelValue).
inline constexpr char kRunIdAnnotation[] = "agentd.dev/run-id";
// Annotation with the attempt (run.attempts) the Job was built for, on the Job and its pods.
inline constexpr char kAttemptAnnotation[] = "agentd.dev/attempt";
// Agent metadata labels read for cost attribution.
inline constexpr char kAgentTeamLabel[] = "team";
inline constexpr char kAgentCostCenterLabel[] = "cost-center";

struct JobOptions {
  std::string namespace_;       // where runs execute (EXECUTOR_NAMESPACE); required
  std::string image;            // agentd image with the runner; an Agent's spec.image overrides it
  std::string service_account;  // an Agent's serviceAccountName overrides it; empty = default
  int64_t ttl_seconds_after_finished = 3600;
  std::string uploads_pvc;       // UPLOADS_PVC_NAME; mounted read-only at /uploads when set
  std::string models_cache_pvc;  // mounted at /models; required when a Model has weights
  std::string api_url;           // base URL of the agentd API as seen from the pod; required
  std::string image_pull_policy = "IfNotPresent";  // Always | IfNotPresent | Never
  // Image of the weights init container; empty = `image`. It needs sh, curl and sha256sum.
  std::string weights_fetcher_image;
};

struct JobInputs {
  const runs::Run& run;  // run.attempts >= 1 (the scheduler counts the start before this)
  const resources::Agent& agent;
  const resources::Model* model;         // null only for runtime: command agents
  std::chrono::seconds deadline;         // > 0; becomes activeDeadlineSeconds
  std::string runner_token_secret_name;  // Secret with kRunnerSecretTokenKey, kRunnerSecretSpecKey
};

// The Job object (apiVersion batch/v1, kind Job) for one attempt of a run. Deterministic: the same
// inputs give the same JSON. kInvalidArgument naming the input when something cannot be expressed
// safely: no image, no namespace or API URL, label values Kubernetes refuses, a tier outside 1-4,
// bad resource quantities, a Model API key given only as an env var of the control plane (a pod
// cannot see it; add a secretRef; when both are set the secretRef is used), weights without a
// models-cache PVC, invalid spec.kubernetes scheduling fields, ...
core::Result<core::Json> BuildJob(const JobInputs& inputs, const JobOptions& options);

// The Job name of a run: "agentd-" + the run id when that is a DNS-1123 label of at most 63
// characters, otherwise a sanitised, truncated prefix plus a hash of the whole id. Deterministic,
// never empty, always a valid DNS-1123 label.
std::string JobName(std::string_view run_id);
// The value of kRunLabel for a run: the run id when it is a valid label value, otherwise a
// shortened form with a hash (same scheme as JobName, without the prefix).
std::string RunLabelValue(std::string_view run_id);

// True for a valid Kubernetes label value: at most 63 characters, alphanumerics, '-', '_', '.',
// starting and ending with an alphanumeric (empty is valid).
bool IsValidLabelValue(std::string_view value);

// Checks a pod spec (the JSON under `spec` of a Pod or `spec.template.spec` of a Job) against the
// Pod Security Standards `restricted` profile (which includes `baseline`): no host namespaces,
// ports or hostPath; only the allowed volume types; for every container, init container and
// ephemeral container: not privileged, allowPrivilegeEscalation false, running as non-root (pod
// or container level, and no runAsUser 0), seccomp RuntimeDefault or Localhost, capabilities
// drop ALL and add nothing but NET_BIND_SERVICE, default procMount, allowed SELinux types; only
// safe sysctls. Returns kInvalidArgument naming the field of the first violation, e.g.
// "containers[0] (runner).securityContext.privileged: must be false".
core::Status CheckRestrictedPodSecurity(const core::Json& pod_spec);

}  // namespace agentd::exec::kubernetes
