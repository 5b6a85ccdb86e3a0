#include "exec/kubernetes/job_builder.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <regex>
#include <set>
#include <utility>
#include <vector>

#include "resources/validation.h"

namespace agentd::exec::kubernetes {
namespace {

using core::Json;

constexpr size_t kMaxLabelLength = 63;
constexpr char kJobNamePrefix[] = "agentd-";
constexpr char kWorkspaceVolume[] = "workspace";
constexpr char kTmpVolume[] = "tmp";
constexpr char kRunnerSecretVolume[] = "runner-secret";
constexpr char kUploadsVolume[] = "uploads";
constexpr char kModelsVolume[] = "models";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool IsDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > kMaxLabelLength) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// FNV-1a, 64 bits: a stable hash for name suffixes (not for security).
std::string HashSuffix(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 10);
}

// `prefix + id` when that is a DNS-1123 label; otherwise prefix + sanitised id, cut so that
// "-" + 10 hex digits of the id's hash fit in 63 characters.
std::string ShortLabel(std::string_view prefix, std::string_view id) {
  std::string direct = std::string(prefix) + std::string(id);
  if (IsDns1123Label(direct)) return direct;
  std::string clean;
  for (char c : id) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (IsLowerAlnum(l)) {
      clean.push_back(l);
    } else if (!clean.empty() && clean.back() != '-') {
      clean.push_back('-');
    }
  }
  const std::string hash = HashSuffix(id);
  const size_t room = kMaxLabelLength - prefix.size() - 1 - hash.size();
  if (clean.size() > room) clean.resize(room);
  while (!clean.empty() && clean.back() == '-') clean.pop_back();
  std::string out(prefix);
  out += clean;
  if (!out.empty()) out += '-';
  out += hash;
  return out;
}

// Names of Secrets, PVCs and service accounts: DNS-1123 subdomains.
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

bool IsValidQuantity(const std::string& q) {
  static const std::regex kQuantity(
      R"(^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  return std::regex_match(q, kQuantity);
}

bool IsValidEnvName(const std::string& name) {
  static const std::regex kEnvName(R"(^[A-Za-z_][A-Za-z0-9_]*$)");
  return std::regex_match(name, kEnvName);
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Json RestrictedContainerSecurityContext() {
  return Json{{"allowPrivilegeEscalation", false},
              {"privileged", false},
              {"readOnlyRootFilesystem", true},
              {"runAsNonRoot", true},
              {"runAsUser", kRunnerUid},
              {"runAsGroup", kRunnerUid},
              {"capabilities", Json{{"drop", Json::array({"ALL"})}}},
              {"seccompProfile", Json{{"type", "RuntimeDefault"}}}};
}

core::Result<Json> BuildLabels(const JobInputs& in) {
  const auto& agent = in.agent;
  if (!IsValidLabelValue(agent.metadata.name) || agent.metadata.name.empty()) {
    return core::InvalidArgument("agent name \"" + agent.metadata.name +
                                 "\" is not a valid Kubernetes label value");
  }
  Json labels = {{"app.kubernetes.io/name", "agentd"},
                 {"app.kubernetes.io/component", "runner"},
                 {"app.kubernetes.io/managed-by", "agentd"},
                 {kRunLabel, RunLabelValue(in.run.id)},
                 {kAgentLabel, agent.metadata.name}};
  for (const auto& [from, to] : {std::pair{kAgentTeamLabel, kTeamLabel},
                                 std::pair{kAgentCostCenterLabel, kCostCenterLabel}}) {
    auto it = agent.metadata.labels.find(from);
    if (it == agent.metadata.labels.end() || it->second.empty()) continue;
    if (!IsValidLabelValue(it->second)) {
      return core::InvalidArgument("agent " + agent.metadata.name + ": label " + from + "=\"" +
                                   it->second + "\" is not a valid Kubernetes label value");
    }
    labels[to] = it->second;
  }
  if (agent.spec.tier < 0 || agent.spec.tier > 4) {
    return core::InvalidArgument("agent " + agent.metadata.name + ": tier " +
                                 std::to_string(agent.spec.tier) + " is outside 1-4");
  }
  if (agent.spec.tier > 0) labels[kTierLabel] = std::to_string(agent.spec.tier);
  return labels;
}

core::Result<Json> BuildResources(const resources::Agent& agent) {
  const auto& r = agent.spec.resources;
  Json requests = Json::object();
  Json limits = Json::object();
  for (const auto& [name, value] : {std::pair{"cpu", &r.cpu}, std::pair{"memory", &r.memory}}) {
    if (value->empty()) continue;
    if (!IsValidQuantity(*value)) {
      return core::InvalidArgument("agent " + agent.metadata.name + ": resources." + name + " \"" +
                                   *value + "\" is not a Kubernetes quantity");
    }
    requests[name] = *value;
    limits[name] = *value;
  }
  if (r.gpu < 0) {
    return core::InvalidArgument("agent " + agent.metadata.name + ": resources.gpu " +
                                 std::to_string(r.gpu) + " is negative");
  }
  if (r.gpu > 0) {
    // Extended resources are limits; requests must equal them when given.
    requests["nvidia.com/gpu"] = std::to_string(r.gpu);
    limits["nvidia.com/gpu"] = std::to_string(r.gpu);
  }
  Json out = Json::object();
  if (!requests.empty()) out["requests"] = std::move(requests);
  if (!limits.empty()) out["limits"] = std::move(limits);
  return out;
}

// The taint GPU node pools carry (NVIDIA device plugin / GPU operator convention); a pod that
// asks for GPUs always tolerates it.
resources::Toleration GpuToleration() {
  return {.key = "nvidia.com/gpu",
          .operator_ = "Exists",
          .value = "",
          .effect = "NoSchedule",
          .toleration_seconds = std::nullopt};
}

Json TolerationToJson(const resources::Toleration& t) {
  Json out = {{"operator", t.operator_}};
  if (!t.key.empty()) out["key"] = t.key;
  if (!t.value.empty()) out["value"] = t.value;
  if (!t.effect.empty()) out["effect"] = t.effect;
  if (t.toleration_seconds) out["tolerationSeconds"] = *t.toleration_seconds;
  return out;
}

// nodeSelector, tolerations and the service account of the pod, from the agent's
// spec.kubernetes (checked again here: the Agent may not have come through the codec).
core::Status AddScheduling(const resources::Agent& agent, const JobOptions& options,
                           Json& pod_spec) {
  const resources::AgentKubernetes& k = agent.spec.kubernetes;
  const std::string where = "agent " + agent.metadata.name + ": kubernetes.";
  if (!k.node_selector.empty()) {
    Json selector = Json::object();
    for (const auto& [key, value] : k.node_selector) {
      if (!resources::IsQualifiedName(key) || !IsValidLabelValue(value)) {
        return core::InvalidArgument(where + "nodeSelector entry \"" + key + "\": \"" + value +
                                     "\" is not a valid node label");
      }
      selector[key] = value;
    }
    pod_spec["nodeSelector"] = std::move(selector);
  }

  std::vector<resources::Toleration> tolerations = k.tolerations;
  if (agent.spec.resources.gpu > 0 &&
      std::find(tolerations.begin(), tolerations.end(), GpuToleration()) == tolerations.end()) {
    tolerations.push_back(GpuToleration());
  }
  if (!tolerations.empty()) {
    static const std::set<std::string> kEffects = {"", "NoSchedule", "PreferNoSchedule",
                                                   "NoExecute"};
    Json list = Json::array();
    for (size_t i = 0; i < tolerations.size(); ++i) {
      const resources::Toleration& t = tolerations[i];
      const bool exists = t.operator_ == "Exists";
      const bool valid = (exists || t.operator_ == "Equal") && kEffects.contains(t.effect) &&
                         (t.key.empty() ? exists : resources::IsQualifiedName(t.key)) &&
                         (exists ? t.value.empty() : IsValidLabelValue(t.value)) &&
                         (!t.toleration_seconds || t.effect == "NoExecute");
      if (!valid) {
        return core::InvalidArgument(where + "tolerations[" + std::to_string(i) +
                                     "] is not a valid toleration");
      }
      list.push_back(TolerationToJson(t));
    }
    pod_spec["tolerations"] = std::move(list);
  }

  const std::string& account =
      k.service_account_name.empty() ? options.service_account : k.service_account_name;
  if (!account.empty()) {
    if (!IsDns1123Subdomain(account)) {
      return core::InvalidArgument(where + "serviceAccountName \"" + account +
                                   "\" is not a valid name");
    }
    pod_spec["serviceAccountName"] = account;
  }
  pod_spec["automountServiceAccountToken"] = k.automount_service_account_token;
  return core::Ok();
}

// metadata.ownerReferences of the Job: the Run custom resource the run was submitted for, when
// the run's labels name one in the Job's own namespace (an owner cannot be in another one).
Json OwnerReferences(const runs::Run& run, const JobOptions& options) {
  auto label = [&](const char* key) -> std::string {
    auto it = run.labels.find(key);
    return it == run.labels.end() ? std::string() : it->second;
  };
  const std::string name = label(runs::kRunObjectNameLabel);
  const std::string uid = label(runs::kRunObjectUidLabel);
  const std::string ns = label(runs::kRunObjectNamespaceLabel);
  if (name.empty() || uid.empty() || ns != options.namespace_) return Json::array();
  return Json::array({{{"apiVersion", resources::kApiVersion},
                       {"kind", "Run"},
                       {"name", name},
                       {"uid", uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

// The shell script of the weights init container. URL and digest come in as env vars, never
// spliced into the script, so nothing in a Model can inject shell.
constexpr char kFetchWeightsScript[] =
    "set -eu\n"
    "dest=\"/models/${AGENTD_WEIGHTS_SHA256}\"\n"
    "if [ -f \"$dest\" ] && echo \"${AGENTD_WEIGHTS_SHA256}  $dest\" | sha256sum -c - "
    ">/dev/null 2>&1; then exit 0; fi\n"
    "tmp=\"$dest.partial.$(hostname)\"\n"
    "trap 'rm -f \"$tmp\"' EXIT\n"
    "curl -fsSL --retry 3 -o \"$tmp\" \"$AGENTD_WEIGHTS_URL\"\n"
    "echo \"${AGENTD_WEIGHTS_SHA256}  $tmp\" | sha256sum -c -\n"
    "mv \"$tmp\" \"$dest\"\n";

}  // namespace

bool IsValidLabelValue(std::string_view value) {
  if (value.empty()) return true;
  if (value.size() > kMaxLabelLength) return false;
  if (!IsAlnum(value.front()) || !IsAlnum(value.back())) return false;
  for (char c : value) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string JobName(std::string_view run_id) { return ShortLabel(kJobNamePrefix, run_id); }

std::string RunLabelValue(std::string_view run_id) {
  if (!run_id.empty() && IsValidLabelValue(run_id)) return std::string(run_id);
  return ShortLabel("", run_id);
}

core::Result<Json> BuildJob(const JobInputs& in, const JobOptions& options) {
  const auto& run = in.run;
  const auto& agent = in.agent;
  if (run.id.empty()) return core::InvalidArgument("run id is empty");
  if (run.attempts < 1) {
    return core::InvalidArgument("run " + run.id + ": attempts is " + std::to_string(run.attempts) +
                                 ", want >= 1 (count the start first)");
  }
  if (!IsDns1123Label(options.namespace_)) {
    return core::InvalidArgument("namespace \"" + options.namespace_ +
                                 "\" is not a DNS-1123 label");
  }
  if (options.api_url.rfind("http://", 0) != 0 && options.api_url.rfind("https://", 0) != 0) {
    return core::InvalidArgument("api URL \"" + options.api_url +
                                 "\" must start with http:// or https://");
  }
  const std::string& image = agent.spec.image.empty() ? options.image : agent.spec.image;
  if (image.empty()) {
    return core::InvalidArgument("agent " + agent.metadata.name +
                                 ": no image (set the executor image or the agent's spec.image)");
  }
  static const std::set<std::string> kPullPolicies = {"Always", "IfNotPresent", "Never"};
  if (!kPullPolicies.contains(options.image_pull_policy)) {
    return core::InvalidArgument("image pull policy \"" + options.image_pull_policy +
                                 "\" is not Always, IfNotPresent or Never");
  }
  if (in.deadline.count() <= 0) {
    return core::InvalidArgument("run " + run.id + ": deadline must be positive");
  }
  if (options.ttl_seconds_after_finished < 0) {
    return core::InvalidArgument("ttlSecondsAfterFinished must not be negative");
  }
  if (!IsDns1123Subdomain(in.runner_token_secret_name)) {
    return core::InvalidArgument("run " + run.id + ": runner token Secret name \"" +
                                 in.runner_token_secret_name + "\" is not a valid name");
  }
  for (const auto& [what, value] : {std::pair{"service account", &options.service_account},
                                    std::pair{"uploads PVC", &options.uploads_pvc},
                                    std::pair{"models-cache PVC", &options.models_cache_pvc}}) {
    if (!value->empty() && !IsDns1123Subdomain(*value)) {
      return core::InvalidArgument(std::string(what) + " \"" + *value + "\" is not a valid name");
    }
  }
  if (agent.spec.runtime == resources::AgentRuntime::kLlm && in.model == nullptr) {
    return core::InvalidArgument("agent " + agent.metadata.name + ": an llm agent needs a Model");
  }

  AGENTD_ASSIGN_OR_RETURN(Json labels, BuildLabels(in));
  AGENTD_ASSIGN_OR_RETURN(Json container_resources, BuildResources(agent));

  const std::string name = JobName(run.id);
  const std::string attempt = std::to_string(run.attempts);

  // --- env -------------------------------------------------------------------------------------
  Json env = Json::array();
  for (const auto& [key, value] : agent.spec.env) {
    if (!IsValidEnvName(key) || key.rfind("AGENTD_", 0) == 0) {
      return core::InvalidArgument("agent " + agent.metadata.name + ": env name \"" + key +
                                   "\" is invalid or reserved (AGENTD_*)");
    }
    env.push_back({{"name", key}, {"value", value}});
  }
  env.push_back({{"name", "HOME"}, {"value", "/workspace"}});
  env.push_back({{"name", "TMPDIR"}, {"value", "/tmp"}});
  if (in.model != nullptr) {
    const auto& key = in.model->spec.api_key;
    if (key.secret_ref) {
      if (!IsDns1123Subdomain(key.secret_ref->name) || key.secret_ref->key.empty()) {
        return core::InvalidArgument("model " + in.model->metadata.name +
                                     ": apiKey.secretRef needs a valid Secret name and a key");
      }
      env.push_back(
          {{"name", kModelApiKeyEnv},
           {"valueFrom",
            {{"secretKeyRef", {{"name", key.secret_ref->name}, {"key", key.secret_ref->key}}}}}});
    } else if (!key.env.empty()) {
      return core::InvalidArgument(
          "model " + in.model->metadata.name + ": apiKey.env (" + key.env +
          ") names a variable of the control plane, which a Job cannot see; use apiKey.secretRef");
    }
  }

  // --- volumes ---------------------------------------------------------------------------------
  Json volumes = Json::array({
      {{"name", kWorkspaceVolume}, {"emptyDir", Json::object()}},
      {{"name", kTmpVolume}, {"emptyDir", Json::object()}},
      {{"name", kRunnerSecretVolume},
       {"secret",
        {{"secretName", in.runner_token_secret_name},
         {"defaultMode", 0440},
         {"items",
          Json::array({{{"key", kRunnerSecretTokenKey}, {"path", kRunnerSecretTokenKey}},
                       {{"key", kRunnerSecretSpecKey}, {"path", kRunnerSecretSpecKey}}})}}}},
  });
  Json mounts = Json::array({
      {{"name", kWorkspaceVolume}, {"mountPath", "/workspace"}},
      {{"name", kTmpVolume}, {"mountPath", "/tmp"}},
      {{"name", kRunnerSecretVolume}, {"mountPath", kRunnerSecretMountPath}, {"readOnly", true}},
  });
  if (!options.uploads_pvc.empty()) {
    volumes.push_back(
        {{"name", kUploadsVolume},
         {"persistentVolumeClaim", {{"claimName", options.uploads_pvc}, {"readOnly", true}}}});
    mounts.push_back({{"name", kUploadsVolume}, {"mountPath", "/uploads"}, {"readOnly", true}});
  }

  Json init_containers = Json::array();
  if (in.model != nullptr && in.model->spec.weights) {
    const auto& w = *in.model->spec.weights;
    const std::string& model_name = in.model->metadata.name;
    if (options.models_cache_pvc.empty()) {
      return core::InvalidArgument("model " + model_name +
                                   " has local weights but no models-cache PVC is configured");
    }
    if (!IsSha256Hex(w.sha256)) {
      return core::InvalidArgument("model " + model_name +
                                   ": weights.sha256 must be 64 lowercase hex digits");
    }
    if (w.url.rfind("https://", 0) != 0 && w.url.rfind("http://", 0) != 0) {
      return core::InvalidArgument("model " + model_name + ": weights.url \"" + w.url +
                                   "\" must be an http(s) URL");
    }
    volumes.push_back({{"name", kModelsVolume},
                       {"persistentVolumeClaim", {{"claimName", options.models_cache_pvc}}}});
    mounts.push_back({{"name", kModelsVolume}, {"mountPath", "/models"}, {"readOnly", true}});
    env.push_back({{"name", kModelWeightsEnv}, {"value", "/models/" + w.sha256}});
    init_containers.push_back(
        {{"name", kWeightsInitContainerName},
         {"image", options.weights_fetcher_image.empty() ? image : options.weights_fetcher_image},
         {"imagePullPolicy", options.image_pull_policy},
         {"command", Json::array({"/bin/sh", "-c", kFetchWeightsScript})},
         {"env", Json::array({{{"name", "AGENTD_WEIGHTS_URL"}, {"value", w.url}},
                              {{"name", "AGENTD_WEIGHTS_SHA256"}, {"value", w.sha256}},
                              {{"name", "HOME"}, {"value", "/tmp"}}})},
         {"volumeMounts", Json::array({{{"name", kModelsVolume}, {"mountPath", "/models"}},
                                       {{"name", kTmpVolume}, {"mountPath", "/tmp"}}})},
         {"securityContext", RestrictedContainerSecurityContext()}});
  }

  // --- runner container ------------------------------------------------------------------------
  std::string events_url = options.api_url;
  while (!events_url.empty() && events_url.back() == '/') events_url.pop_back();
  events_url += "/api/v1/runs/" + run.id + "/events";
  const std::string secret_dir = kRunnerSecretMountPath;
  Json args = Json::array({"runner", "--run-id", run.id, "--attempt", attempt, "--spec-file",
                           secret_dir + "/" + kRunnerSecretSpecKey, "--token-file",
                           secret_dir + "/" + kRunnerSecretTokenKey, "--events-url", events_url,
                           "--journal", "/workspace/.agentd/journal.jsonl"});
  Json container = {{"name", kRunnerContainerName},
                    {"image", image},
                    {"imagePullPolicy", options.image_pull_policy},
                    {"args", std::move(args)},
                    {"workingDir", "/workspace"},
                    {"env", std::move(env)},
                    {"volumeMounts", std::move(mounts)},
                    {"securityContext", RestrictedContainerSecurityContext()},
                    {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  if (!container_resources.empty()) container["resources"] = std::move(container_resources);

  // --- pod and Job -----------------------------------------------------------------------------
  Json pod_spec = {
      {"restartPolicy", "Never"},
      {"enableServiceLinks", false},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", kRunnerUid},
        {"runAsGroup", kRunnerUid},
        {"fsGroup", kRunnerUid},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", Json::array({std::move(container)})},
      {"volumes", std::move(volumes)},
  };
  if (!init_containers.empty()) pod_spec["initContainers"] = std::move(init_containers);
  AGENTD_RETURN_IF_ERROR(AddScheduling(agent, options, pod_spec));

  Json annotations = {{kRunIdAnnotation, run.id}, {kAttemptAnnotation, attempt}};
  Json metadata = {{"name", name},
                   {"namespace", options.namespace_},
                   {"labels", labels},
                   {"annotations", annotations}};
  if (Json owners = OwnerReferences(run, options); !owners.empty()) {
    metadata["ownerReferences"] = std::move(owners);
  }
  return Json{
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", std::move(metadata)},
      {"spec",
       {{"backoffLimit", 0},
        {"ttlSecondsAfterFinished", options.ttl_seconds_after_finished},
        {"activeDeadlineSeconds", static_cast<int64_t>(in.deadline.count())},
        {"template",
         {{"metadata", {{"labels", labels}, {"annotations", annotations}}},
          {"spec", std::move(pod_spec)}}}}},
  };
}

// --- Pod Security Standards: restricted ------------------------------------------------------
namespace {

core::Status Violation(const std::string& field, const std::string& what) {
  return core::InvalidArgument(field + ": " + what + " (Pod Security Standards: restricted)");
}

// A JSON value at `key` of an object, or null when absent or when `obj` is not an object.
const Json& Field(const Json& obj, std::string_view key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

bool IsTrue(const Json& v) { return v.is_boolean() && v.get<bool>(); }

core::Status CheckSeccomp(const Json& profile, const std::string& field, bool required) {
  if (profile.is_null()) {
    if (required) return Violation(field + ".type", "must be RuntimeDefault or Localhost");
    return core::Ok();
  }
  const Json& type = Field(profile, "type");
  if (!type.is_string() ||
      (type.get<std::string>() != "RuntimeDefault" && type.get<std::string>() != "Localhost")) {
    return Violation(field + ".type", "must be RuntimeDefault or Localhost");
  }
  return core::Ok();
}

core::Status CheckSeLinux(const Json& options, const std::string& field) {
  if (options.is_null()) return core::Ok();
  static const std::set<std::string> kTypes = {"", "container_t", "container_init_t",
                                               "container_kvm_t", "container_engine_t"};
  const Json& type = Field(options, "type");
  if (!type.is_null() && (!type.is_string() || !kTypes.contains(type.get<std::string>()))) {
    return Violation(field + ".type", "SELinux type not allowed");
  }
  if (!Field(options, "user").is_null()) return Violation(field + ".user", "must not be set");
  if (!Field(options, "role").is_null()) return Violation(field + ".role", "must not be set");
  return core::Ok();
}

core::Status CheckContainer(const Json& c, const std::string& where, const Json& pod_sc) {
  const Json& sc = Field(c, "securityContext");
  const std::string f = where + ".securityContext";
  if (!sc.is_null() && !sc.is_object()) return Violation(f, "must be an object");
  if (IsTrue(Field(sc, "privileged"))) return Violation(f + ".privileged", "must be false");
  const Json& ape = Field(sc, "allowPrivilegeEscalation");
  if (!ape.is_boolean() || ape.get<bool>()) {
    return Violation(f + ".allowPrivilegeEscalation", "must be false");
  }
  // runAsNonRoot: the container's value wins; otherwise the pod's must be true.
  const Json& c_non_root = Field(sc, "runAsNonRoot");
  if (c_non_root.is_boolean() ? !c_non_root.get<bool>() : !IsTrue(Field(pod_sc, "runAsNonRoot"))) {
    return Violation(f + ".runAsNonRoot", "must be true (here or in the pod securityContext)");
  }
  const Json& uid = Field(sc, "runAsUser");
  if (uid.is_number() && uid.get<int64_t>() == 0)
    return Violation(f + ".runAsUser", "must not be 0");
  AGENTD_RETURN_IF_ERROR(CheckSeccomp(Field(sc, "seccompProfile"), f + ".seccompProfile",
                                      Field(pod_sc, "seccompProfile").is_null()));
  const Json& caps = Field(sc, "capabilities");
  const Json& drop = Field(caps, "drop");
  bool drops_all = false;
  if (drop.is_array()) {
    for (const auto& d : drop) drops_all = drops_all || (d.is_string() && d == "ALL");
  }
  if (!drops_all) return Violation(f + ".capabilities.drop", "must include ALL");
  const Json& add = Field(caps, "add");
  if (!add.is_null()) {
    if (!add.is_array()) return Violation(f + ".capabilities.add", "must be a list");
    for (const auto& a : add) {
      if (!a.is_string() || a != "NET_BIND_SERVICE") {
        return Violation(f + ".capabilities.add", "may only add NET_BIND_SERVICE, not " + a.dump());
      }
    }
  }
  const Json& proc = Field(sc, "procMount");
  if (!proc.is_null() && proc != "Default") return Violation(f + ".procMount", "must be Default");
  AGENTD_RETURN_IF_ERROR(CheckSeLinux(Field(sc, "seLinuxOptions"), f + ".seLinuxOptions"));
  if (IsTrue(Field(Field(sc, "windowsOptions"), "hostProcess"))) {
    return Violation(f + ".windowsOptions.hostProcess", "must be false");
  }
  const Json& ports = Field(c, "ports");
  if (ports.is_array()) {
    for (size_t i = 0; i < ports.size(); ++i) {
      const Json& hp = Field(ports[i], "hostPort");
      if (hp.is_number() && hp.get<int64_t>() != 0) {
        return Violation(where + ".ports[" + std::to_string(i) + "].hostPort", "must be unset");
      }
    }
  }
  return core::Ok();
}

}  // namespace

core::Status CheckRestrictedPodSecurity(const Json& pod_spec) {
  if (!pod_spec.is_object()) return core::InvalidArgument("pod spec is not a JSON object");
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
    if (IsTrue(Field(pod_spec, host))) return Violation(host, "must be false");
  }
  const Json& pod_sc = Field(pod_spec, "securityContext");
  if (!pod_sc.is_null() && !pod_sc.is_object()) {
    return Violation("securityContext", "must be an object");
  }
  const Json& pod_uid = Field(pod_sc, "runAsUser");
  if (pod_uid.is_number() && pod_uid.get<int64_t>() == 0) {
    return Violation("securityContext.runAsUser", "must not be 0");
  }
  AGENTD_RETURN_IF_ERROR(
      CheckSeccomp(Field(pod_sc, "seccompProfile"), "securityContext.seccompProfile", false));
  AGENTD_RETURN_IF_ERROR(
      CheckSeLinux(Field(pod_sc, "seLinuxOptions"), "securityContext.seLinuxOptions"));
  if (IsTrue(Field(Field(pod_sc, "windowsOptions"), "hostProcess"))) {
    return Violation("securityContext.windowsOptions.hostProcess", "must be false");
  }
  static const std::set<std::string> kSafeSysctls = {"kernel.shm_rmid_forced",
                                                     "net.ipv4.ip_local_port_range",
                                                     "net.ipv4.ip_unprivileged_port_start",
                                                     "net.ipv4.tcp_syncookies",
                                                     "net.ipv4.ping_group_range",
                                                     "net.ipv4.ip_local_reserved_ports",
                                                     "net.ipv4.tcp_keepalive_time",
                                                     "net.ipv4.tcp_fin_timeout",
                                                     "net.ipv4.tcp_keepalive_intvl",
                                                     "net.ipv4.tcp_keepalive_probes"};
  const Json& sysctls = Field(pod_sc, "sysctls");
  if (sysctls.is_array()) {
    for (size_t i = 0; i < sysctls.size(); ++i) {
      const Json& n = Field(sysctls[i], "name");
      if (!n.is_string() || !kSafeSysctls.contains(n.get<std::string>())) {
        return Violation("securityContext.sysctls[" + std::to_string(i) + "]",
                         "sysctl " + n.dump() + " is not in the safe set");
      }
    }
  }

  static const std::set<std::string> kAllowedVolumeSources = {
      "configMap", "csi",   "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
      "projected", "secret"};
  const Json& volumes = Field(pod_spec, "volumes");
  if (volumes.is_array()) {
    for (size_t i = 0; i < volumes.size(); ++i) {
      const std::string f = "volumes[" + std::to_string(i) + "]";
      if (!volumes[i].is_object()) return Violation(f, "must be an object");
      for (const auto& [key, value] : volumes[i].items()) {
        if (key == "name") continue;
        if (!kAllowedVolumeSources.contains(key)) {
          return Violation(f + "." + key, "volume type not allowed");
        }
      }
    }
  }

  bool any_container = false;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const Json& containers = Field(pod_spec, list);
    if (containers.is_null()) continue;
    if (!containers.is_array()) return Violation(list, "must be a list");
    for (size_t i = 0; i < containers.size(); ++i) {
      any_container = true;
      const Json& name = Field(containers[i], "name");
      std::string where = std::string(list) + "[" + std::to_string(i) + "]";
      if (name.is_string()) where += " (" + name.get<std::string>() + ")";
      AGENTD_RETURN_IF_ERROR(CheckContainer(containers[i], where, pod_sc));
    }
  }
  if (!any_container) return core::InvalidArgument("pod spec has no containers");
  return core::Ok();
}

}  // namespace agentd::exec::kubernetes
