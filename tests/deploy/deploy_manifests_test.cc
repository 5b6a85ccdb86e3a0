// The Kubernetes manifests of agentd, checked without a cluster: every file parses, the files
// apply in order, both namespaces enforce Pod Security `restricted`, the agentd Deployment's pod
// passes the same checker the Job builder is tested with, its environment is read by the code and
// puts runs in their own namespace, and the Roles grant exactly what an explicit allow-list below
// permits (and everything the code needs). kubectl is not used: there is no cluster here.
//
// By default the plain manifests under deploy/kubernetes/ (the Kustomize base, applied with
// `kubectl apply -k`). With AGENTD_MANIFESTS_FILE set, one rendered multi-document YAML instead
// (`helm template`, `kubectl kustomize <overlay>`): tests/deploy/render_and_check.sh renders each
// overlay and the Helm chart and runs the checks that apply to a rendered set.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "deploy_test_util.h"
#include "exec/kubernetes/job_builder.h"
#include "exec/kubernetes/job_executor.h"
#include "operator/operator.h"
#include "resources/yaml_json.h"

namespace agentd::deploy {
namespace {

using core::Json;

constexpr char kSystemNs[] = "agentd-system";
constexpr char kRunsNs[] = "agentd-runs";

// --- loading -------------------------------------------------------------------------------------

struct Manifest {
  std::string file;  // file name, e.g. "10-rbac.yaml"
  Json object;
};

struct Loaded {
  std::vector<Manifest> objects;  // in apply order (files by name, or the rendered order)
  std::vector<std::string> errors;
};

// Appends the documents of the YAML file `path` (named `name` in messages) to `loaded`. Empty
// documents (a rendered set has them where a template produced nothing) are skipped.
void LoadFile(const std::filesystem::path& path, const std::string& name, Loaded* loaded) {
  if (!std::filesystem::is_regular_file(path)) {
    loaded->errors.push_back(path.string() + ": not a file");
    return;
  }
  auto docs = resources::ParseYamlDocuments(ReadFile(path), name);
  if (!docs.ok()) {
    loaded->errors.push_back(docs.error().message);
    return;
  }
  size_t count = 0;
  for (auto& doc : *docs) {
    if (doc.value.is_null()) continue;
    loaded->objects.push_back({name, std::move(doc.value)});
    ++count;
  }
  if (count == 0) loaded->errors.push_back(name + ": no documents");
}

// Every document of every *.yaml file in `dir` but kustomization.yaml (Kustomize's, not an
// object), files by name (kubectl's order), documents in file order.
Loaded LoadDir(const std::filesystem::path& dir) {
  Loaded loaded;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".yaml") continue;
      if (entry.path().filename() == "kustomization.yaml") continue;
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) loaded.errors.push_back(dir.string() + ": no .yaml files");
  for (const auto& path : files) LoadFile(path, path.filename().string(), &loaded);
  return loaded;
}

// AGENTD_MANIFESTS_FILE when set (a rendered set, in its rendering order), else the directory.
const Loaded& Manifests() {
  static const Loaded loaded = [] {
    const char* file = std::getenv("AGENTD_MANIFESTS_FILE");
    if (file != nullptr && *file != '\0') {
      Loaded rendered;
      const std::filesystem::path path(file);
      LoadFile(path, path.filename().string(), &rendered);
      return rendered;
    }
    return LoadDir(SourceDir() / "deploy" / "kubernetes");
  }();
  return loaded;
}

// --- JSON helpers --------------------------------------------------------------------------------

std::string Kind(const Json& o) { return Str(o, {"kind"}); }
std::string Name(const Json& o) { return Str(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return Str(o, {"metadata", "namespace"}); }
std::string Describe(const Json& o) { return Kind(o) + " " + Ns(o) + "/" + Name(o); }

std::vector<Json> All(const std::string& kind) {
  std::vector<Json> out;
  for (const auto& m : Manifests().objects) {
    if (Kind(m.object) == kind) out.push_back(m.object);
  }
  return out;
}

std::optional<Json> Find(const std::string& kind, const std::string& ns, const std::string& name) {
  for (const auto& m : Manifests().objects) {
    if (Kind(m.object) == kind && Ns(m.object) == ns && Name(m.object) == name) return m.object;
  }
  return std::nullopt;
}

std::vector<std::string> Strings(const Json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& item : list) out.push_back(item.is_string() ? item.get<std::string>() : "?");
  return out;
}

// The agentd Deployment, or null when it is not declared.
Json Deployment() {
  auto found = Find("Deployment", kSystemNs, "agentd");
  return found ? *found : Json();
}

const Json& PodSpec(const Json& deployment) { return At(deployment, {"spec", "template", "spec"}); }

const Json& Container(const Json& deployment, const std::string& name) {
  static const Json kNull;
  for (const auto& c : At(PodSpec(deployment), {"containers"})) {
    if (c.value("name", "") == name) return c;
  }
  return kNull;
}

// --- the environment the code reads --------------------------------------------------------------

// Every variable agentd reads, hard-coded from the functions that read them. When one of those
// functions learns a variable, add it here; a Deployment variable missing from this list is a
// typo or a setting that does nothing.
const std::set<std::string>& KnownVariables() {
  static const std::set<std::string> known = {
      // exec::kubernetes::JobExecutorOptionsFromEnv (src/exec/kubernetes/job_executor.cc)
      "K8S_NAMESPACE", "EXECUTOR_NAMESPACE", "EXECUTOR_IMAGE", "AGENTD_API_URL",
      "EXECUTOR_SERVICE_ACCOUNT", "UPLOADS_PVC_NAME", "MODELS_CACHE_PVC", "EXECUTOR_WEIGHTS_IMAGE",
      "EXECUTOR_IMAGE_PULL_POLICY", "EXECUTOR_JOB_TTL", "EXECUTOR_PENDING_GRACE",
      "EXECUTOR_UNSCHEDULABLE_GRACE", "EXECUTOR_DEADLINE_MARGIN", "POD_NAME",
      // operator_::OperatorConfigFromEnv (src/operator/operator.cc)
      "OPERATOR_LEADER_ELECTION", "OPERATOR_WORKERS", "OPERATOR_STATUS_COALESCE",
      "OPERATOR_LEASE_DURATION", "OPERATOR_RENEW_DEADLINE", "OPERATOR_RETRY_PERIOD",
      "OPERATOR_RUN_FINALIZER",
      // cmd::LoadServeConfig (cmd/agentd/config.cc)
      "AGENTD_CONFIG", "AGENTD_DATA", "PORT", "WORKSPACE_DIR", "WORKER_CONCURRENCY",
      "SUBMIT_API_KEYS", "LOG_LEVEL", "AGENTD_HTTP_THREADS", "AGENTD_SQLITE_SYNC",
      "AGENTD_RELOAD_DEBOUNCE", "AGENTD_STOP_GRACE", "AGENTD_AUDIT_KEY_FILE",
      "AGENTD_AUDIT_CHECKPOINT_INTERVAL", "AGENTD_ALLOW_SELF_APPROVAL", "TZDIR", "AGENTD_EXECUTOR",
      "AGENTD_CATALOG",
      // kube::LoadDefaultConfig (src/kube/config.cc); KUBERNETES_SERVICE_* come from kubelet
      "KUBECONFIG", "HOME"};
  return known;
}

constexpr char kPodName[] = "agentd-5d8f7c9b4-x2x7q";
constexpr char kApiKeys[] = "admin:0123456789abcdef";

// The environment the container would see: downward API fields resolved from the Deployment,
// Secret values replaced by test values.
std::map<std::string, std::string> ResolvedEnv(const Json& deployment) {
  std::map<std::string, std::string> env;
  for (const auto& var : At(Container(deployment, "agentd"), {"env"})) {
    const std::string name = var.value("name", "");
    if (var.contains("value")) {
      env[name] = var["value"].is_string() ? var["value"].get<std::string>() : "";
      continue;
    }
    const std::string field = Str(var, {"valueFrom", "fieldRef", "fieldPath"});
    if (field == "metadata.namespace") {
      env[name] = Ns(deployment);
    } else if (field == "metadata.name") {
      env[name] = kPodName;
    } else if (At(var, {"valueFrom", "secretKeyRef"}).is_object()) {
      env[name] = kApiKeys;
    } else {
      env[name] = "<unresolved>";
    }
  }
  return env;
}

auto Lookup(std::map<std::string, std::string> env) {
  return [env = std::move(env)](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

bool PinnedByDigest(const std::string& image) {
  const size_t at = image.find("@sha256:");
  if (at == std::string::npos || image.size() != at + 8 + 64) return false;
  return std::all_of(image.begin() + static_cast<long>(at) + 8, image.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// --- RBAC ----------------------------------------------------------------------------------------

// One permission: verb on group/resource in a namespace, optionally only on one object name.
struct Permission {
  std::string ns, group, resource, verb, name;  // name empty = every object
  auto Key() const { return std::tie(ns, group, resource, verb, name); }
  bool operator<(const Permission& o) const { return Key() < o.Key(); }
  std::string ToString() const {
    return verb + " " + (group.empty() ? "core" : group) + "/" + resource + " in " + ns +
           (name.empty() ? "" : " (only " + name + ")");
  }
};

struct Allowed {
  Permission permission;
  bool needed;      // the code calls it (false: read access implied by list, harmless)
  const char* why;  // who uses it
};

// The allow-list: everything agentd's Roles may grant. A Role rule outside it fails the test;
// so does a needed permission no Role grants. Keep it as narrow as the code: a broader grant
// (a "*", patch where the code updates, Secrets in agentd-system, pods/log, ...) needs a reason
// here first. docs/kubernetes.md "RBAC" explains each.
const std::vector<Allowed>& AllowList() {
  static const std::vector<Allowed> list = [] {
    std::vector<Allowed> out;
    auto add = [&](const char* ns, const char* group, const char* resource,
                   std::initializer_list<const char*> verbs, bool needed, const char* why,
                   const char* name = "") {
      for (const char* verb : verbs)
        out.push_back({{ns, group, resource, verb, name}, needed, why});
    };
    for (const char* kind : {"models", "instructions", "agents", "budgets", "tierpolicies"}) {
      add(kSystemNs, "agentd.dev", kind, {"list", "watch"}, true, "the catalog's reflectors");
      add(kSystemNs, "agentd.dev", kind, {"get"}, false, "implied by list");
      add(kSystemNs, "agentd.dev", (std::string(kind) + "/status").c_str(), {"update"}, true,
          "the catalog's Accepted/Ready conditions");
    }
    add(kRunsNs, "agentd.dev", "runs", {"list", "watch"}, true, "the Run reconciler");
    add(kRunsNs, "agentd.dev", "runs", {"get"}, false, "implied by list");
    add(kRunsNs, "agentd.dev", "runs", {"update"}, false,
        "the run-cleanup finalizer, with OPERATOR_RUN_FINALIZER=true only");
    add(kRunsNs, "agentd.dev", "runs/status", {"update"}, true, "Run status");
    add(kRunsNs, "agentd.dev", "runs/finalizers", {"update"}, true,
        "blockOwnerDeletion on the Job's ownerReference to its Run");
    add(kSystemNs, "coordination.k8s.io", "leases", {"get", "update"}, true, "leader election",
        "agentd-operator");
    add(kSystemNs, "coordination.k8s.io", "leases", {"create"}, true,
        "the first leader creates the Lease (create cannot be limited by name)");
    add(kRunsNs, "batch", "jobs", {"get", "list", "watch", "create", "delete"}, true,
        "the Job executor");
    add(kRunsNs, "", "pods", {"list", "watch"}, true, "the executor's pod reflector, Adopt");
    add(kRunsNs, "", "pods", {"get"}, false, "implied by list");
    add(kRunsNs, "", "secrets", {"create", "patch", "delete"}, true, "the runner Secret");
    add(kRunsNs, "", "secrets", {"get"}, true, "the catalog checks Models' secretRef keys");
    add(kRunsNs, "events.k8s.io", "events", {"create"}, true, "Warning Events on stuck Jobs");
    return out;
  }();
  return list;
}

// What `role` grants, one Permission per (group, resource, verb, name); problems that make a
// rule unfit for the allow-list whatever it names (wildcards, nonResourceURLs) go to `problems`.
std::vector<Permission> Grants(const Json& role, std::vector<std::string>* problems) {
  std::vector<Permission> out;
  const std::string where = Describe(role);
  int index = 0;
  for (const auto& rule : At(role, {"rules"})) {
    const std::string at = where + " rules[" + std::to_string(index++) + "]";
    if (rule.contains("nonResourceURLs")) problems->push_back(at + ": nonResourceURLs");
    auto groups = Strings(At(rule, {"apiGroups"}));
    auto resources = Strings(At(rule, {"resources"}));
    auto verbs = Strings(At(rule, {"verbs"}));
    auto names = Strings(At(rule, {"resourceNames"}));
    if (groups.empty() || resources.empty() || verbs.empty()) {
      problems->push_back(at + ": needs apiGroups, resources and verbs");
    }
    for (const auto* list : {&groups, &resources, &verbs, &names}) {
      for (const auto& item : *list) {
        if (item.find('*') != std::string::npos) problems->push_back(at + ": wildcard " + item);
      }
    }
    if (names.empty()) names.push_back("");
    for (const auto& g : groups) {
      for (const auto& r : resources) {
        for (const auto& v : verbs) {
          for (const auto& n : names) out.push_back({Ns(role), g, r, v, n});
        }
      }
    }
  }
  return out;
}

// Grants of `role` outside the allow-list (a grant limited to a name is within an entry for
// every object, not the other way round), and the problems Grants found.
std::vector<std::string> RbacViolations(const Json& role) {
  std::vector<std::string> violations;
  for (const Permission& p : Grants(role, &violations)) {
    const bool allowed = std::any_of(AllowList().begin(), AllowList().end(), [&](const Allowed& a) {
      const Permission& q = a.permission;
      return q.ns == p.ns && q.group == p.group && q.resource == p.resource && q.verb == p.verb &&
             (q.name.empty() || q.name == p.name);
    });
    if (!allowed) violations.push_back(Describe(role) + " grants " + p.ToString());
  }
  return violations;
}

Json RoleWith(const std::string& ns, const Json& rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "Role"},
          {"metadata", {{"name", "test"}, {"namespace", ns}}},
          {"rules", rules}};
}

// --- tests: files and namespaces -----------------------------------------------------------------

TEST(DeployManifestsTest, EveryFileParsesIntoNamedObjects) {
  const Loaded& loaded = Manifests();
  for (const auto& error : loaded.errors) ADD_FAILURE() << error;
  ASSERT_FALSE(loaded.objects.empty());
  std::set<std::string> seen;
  for (const auto& m : loaded.objects) {
    const Json& o = m.object;
    EXPECT_FALSE(Str(o, {"apiVersion"}).empty()) << m.file << ": an object without apiVersion";
    EXPECT_FALSE(Kind(o).empty()) << m.file << ": an object without kind";
    EXPECT_FALSE(Name(o).empty()) << m.file << ": " << Kind(o) << " without a name";
    EXPECT_TRUE(seen.insert(Describe(o)).second) << m.file << ": " << Describe(o) << " twice";
  }
}

TEST(DeployManifestsTest, OnlyNamespacesAreClusterScopedAndTheyApplyFirst) {
  // kubectl applies the base's files by name (and a rendered set in order), each top to bottom:
  // every namespaced object must come after its Namespace, and must name it (the result must not
  // depend on the kubectl context's namespace).
  std::set<std::string> declared;
  for (const auto& m : Manifests().objects) {
    const Json& o = m.object;
    if (Kind(o) == "Namespace") {
      declared.insert(Name(o));
      continue;
    }
    EXPECT_NE(Kind(o), "ClusterRole")
        << m.file << ": " << Name(o) << ": agentd needs no ClusterRole (CRDs are an admin step)";
    EXPECT_NE(Kind(o), "ClusterRoleBinding") << m.file << ": " << Name(o);
    EXPECT_NE(Kind(o), "CustomResourceDefinition")
        << m.file << ": CRDs live in deploy/crds/ (generated)";
    ASSERT_FALSE(Ns(o).empty()) << m.file << ": " << Describe(o) << " names no namespace";
    EXPECT_TRUE(declared.count(Ns(o)))
        << m.file << ": " << Describe(o) << " comes before its Namespace (or it is not declared)";
  }
  EXPECT_TRUE(declared.count(kSystemNs));
  EXPECT_TRUE(declared.count(kRunsNs));
}

TEST(DeployManifestsTest, BothNamespacesEnforcePodSecurityRestricted) {
  for (const char* ns : {kSystemNs, kRunsNs}) {
    auto object = Find("Namespace", "", ns);
    ASSERT_TRUE(object.has_value()) << "Namespace " << ns << " is not declared";
    for (const char* mode : {"enforce", "audit", "warn"}) {
      const std::string label = std::string("pod-security.kubernetes.io/") + mode;
      EXPECT_EQ(Str(*object, {"metadata", "labels", label.c_str()}), "restricted")
          << "Namespace " << ns << " label " << label;
    }
  }
}

// --- tests: the Deployment -----------------------------------------------------------------------

TEST(DeployManifestsTest, TheAgentdPodPassesPodSecurityRestricted) {
  const Json deployment = Deployment();
  ASSERT_TRUE(deployment.is_object()) << "no Deployment agentd in " << kSystemNs;
  const Json& pod = PodSpec(deployment);
  auto checked = exec::kubernetes::CheckRestrictedPodSecurity(pod);
  EXPECT_TRUE(checked.ok()) << checked.error().message;

  // Beyond `restricted`: a read-only root filesystem, writable only where agentd writes.
  const Json& agentd = Container(deployment, "agentd");
  ASSERT_TRUE(agentd.is_object()) << "no container agentd";
  EXPECT_EQ(At(agentd, {"securityContext", "readOnlyRootFilesystem"}), true);
  EXPECT_EQ(At(pod, {"securityContext", "runAsUser"}), exec::kubernetes::kRunnerUid);
  std::map<std::string, std::string> mounts;  // path -> volume
  for (const auto& m : At(agentd, {"volumeMounts"})) {
    mounts[m.value("mountPath", "")] = m.value("name", "");
  }
  std::map<std::string, Json> volumes;
  for (const auto& v : At(pod, {"volumes"})) volumes[v.value("name", "")] = v;
  ASSERT_TRUE(mounts.count("/tmp"));
  EXPECT_TRUE(volumes[mounts["/tmp"]].contains("emptyDir")) << "/tmp is not an emptyDir";
  const std::string data_dir = ResolvedEnv(deployment)["AGENTD_DATA"];
  ASSERT_FALSE(data_dir.empty()) << "AGENTD_DATA is not set";
  ASSERT_TRUE(mounts.count(data_dir)) << "AGENTD_DATA " << data_dir << " is not mounted";
  const std::string claim = Str(volumes[mounts[data_dir]], {"persistentVolumeClaim", "claimName"});
  auto pvc = Find("PersistentVolumeClaim", kSystemNs, claim);
  ASSERT_TRUE(pvc.has_value()) << "the data volume's claim \"" << claim << "\" is not declared";
  EXPECT_EQ(Strings(At(*pvc, {"spec", "accessModes"})), std::vector<std::string>{"ReadWriteOnce"});
}

TEST(DeployManifestsTest, TheCheckerRefusesAWeakenedAgentdPod) {
  // The check above means something only if the checker looks at these very fields.
  const Json pod = PodSpec(Deployment());
  ASSERT_TRUE(pod.is_object());
  auto refused = [](const Json& weakened) {
    return !exec::kubernetes::CheckRestrictedPodSecurity(weakened).ok();
  };
  Json root = pod;
  root["securityContext"].erase("runAsNonRoot");
  root["containers"][0]["securityContext"].erase("runAsNonRoot");
  EXPECT_TRUE(refused(root));
  Json escalation = pod;
  escalation["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true;
  EXPECT_TRUE(refused(escalation));
  Json caps = pod;
  caps["containers"][0]["securityContext"]["capabilities"]["add"] = Json::array({"SYS_ADMIN"});
  EXPECT_TRUE(refused(caps));
  Json seccomp = pod;
  seccomp["securityContext"]["seccompProfile"]["type"] = "Unconfined";
  seccomp["containers"][0]["securityContext"]["seccompProfile"]["type"] = "Unconfined";
  EXPECT_TRUE(refused(seccomp));
  Json host = pod;
  host["volumes"].push_back({{"name", "host"}, {"hostPath", {{"path", "/"}}}});
  EXPECT_TRUE(refused(host));
}

TEST(DeployManifestsTest, OneReplicaRecreatedWithProbesAndResources) {
  const Json deployment = Deployment();
  ASSERT_TRUE(deployment.is_object());
  // SQLite on a ReadWriteOnce volume: one writer. More replicas need the PostgreSQL store.
  EXPECT_EQ(At(deployment, {"spec", "replicas"}), 1);
  EXPECT_EQ(Str(deployment, {"spec", "strategy", "type"}), "Recreate");
  const Json& agentd = Container(deployment, "agentd");
  EXPECT_EQ(Str(agentd, {"livenessProbe", "httpGet", "path"}), "/health");
  EXPECT_EQ(Str(agentd, {"startupProbe", "httpGet", "path"}), "/health");
  EXPECT_EQ(Str(agentd, {"readinessProbe", "httpGet", "path"}), "/ready");
  EXPECT_TRUE(At(agentd, {"resources", "requests", "cpu"}).is_string());
  EXPECT_TRUE(At(agentd, {"resources", "requests", "memory"}).is_string());
  EXPECT_TRUE(At(agentd, {"resources", "limits", "memory"}).is_string());
  // agentd listens on loopback unless told otherwise; the probes and the Service need more.
  const auto args = Strings(At(agentd, {"args"}));
  auto listen = std::find(args.begin(), args.end(), "--listen");
  ASSERT_NE(listen, args.end());
  ASSERT_NE(listen + 1, args.end());
  EXPECT_EQ(*(listen + 1), "0.0.0.0:8080");
  EXPECT_EQ(Str(PodSpec(deployment), {"serviceAccountName"}), "agentd");
  EXPECT_TRUE(Find("ServiceAccount", kSystemNs, "agentd").has_value());
}

TEST(DeployManifestsTest, TheDeploymentSetsOnlyVariablesTheCodeReads) {
  const Json deployment = Deployment();
  ASSERT_TRUE(deployment.is_object());
  std::set<std::string> names;
  for (const auto& var : At(Container(deployment, "agentd"), {"env"})) {
    const std::string name = var.value("name", "");
    EXPECT_TRUE(KnownVariables().count(name)) << name << " is not read by agentd";
    EXPECT_TRUE(names.insert(name).second) << name << " is set twice";
  }
  for (const char* required : {"AGENTD_EXECUTOR", "AGENTD_CATALOG", "K8S_NAMESPACE",
                               "EXECUTOR_NAMESPACE", "EXECUTOR_IMAGE", "EXECUTOR_SERVICE_ACCOUNT",
                               "AGENTD_API_URL", "POD_NAME", "SUBMIT_API_KEYS"}) {
    EXPECT_TRUE(names.count(required)) << required << " is not set";
  }
  auto env = ResolvedEnv(deployment);
  EXPECT_EQ(env["AGENTD_EXECUTOR"], "kubernetes");
  EXPECT_EQ(env["AGENTD_CATALOG"], "kubernetes");
  for (const auto& [name, value] : env) EXPECT_NE(value, "<unresolved>") << name;
}

TEST(DeployManifestsTest, RunsExecuteInTheirOwnNamespaceAndReachTheService) {
  const Json deployment = Deployment();
  ASSERT_TRUE(deployment.is_object());
  auto env = ResolvedEnv(deployment);

  auto job = exec::kubernetes::JobExecutorOptionsFromEnv(Lookup(env));
  ASSERT_TRUE(job.ok()) << job.error().message;
  auto op = operator_::OperatorConfigFromEnv(Lookup(env));
  ASSERT_TRUE(op.ok()) << op.error().message;
  EXPECT_EQ(op->ns, kSystemNs);
  EXPECT_EQ(op->identity, kPodName);
  EXPECT_EQ(job->job.namespace_, kRunsNs);
  EXPECT_NE(job->job.namespace_, op->ns) << "runs must not share the control plane's namespace";
  EXPECT_EQ(op->secret_namespace, job->job.namespace_)
      << "Models' Secrets must be checked where the pods mount them";
  EXPECT_EQ(op->runs_ns, job->job.namespace_)
      << "Runs must live where their Jobs run, so that a Run can own its Job";
  EXPECT_EQ(job->instance, kPodName);

  // The runner's identity: exists in the runs namespace, mounts no token, is bound to nothing.
  auto runner = Find("ServiceAccount", job->job.namespace_, job->job.service_account);
  ASSERT_TRUE(runner.has_value()) << "ServiceAccount " << job->job.service_account << " in "
                                  << job->job.namespace_ << " is not declared";
  EXPECT_EQ(At(*runner, {"automountServiceAccountToken"}), false);
  for (const auto& binding : All("RoleBinding")) {
    for (const auto& subject : At(binding, {"subjects"})) {
      EXPECT_NE(subject.value("name", ""), job->job.service_account)
          << Describe(binding) << " gives the runner's ServiceAccount permissions";
    }
  }

  // One image for the control plane and the runner, pinned by digest.
  const std::string image = Str(Container(deployment, "agentd"), {"image"});
  EXPECT_TRUE(PinnedByDigest(image)) << image;
  EXPECT_EQ(job->job.image, image);

  // AGENTD_API_URL is the Service's cluster DNS name and port, and the Service reaches the pod.
  std::optional<Json> service;
  for (const auto& s : All("Service")) {
    const std::string host = Name(s) + "." + Ns(s) + ".svc";
    for (const auto& port : At(s, {"spec", "ports"})) {
      if (job->job.api_url == "http://" + host + ":" + std::to_string(port.value("port", 0))) {
        service = s;
        EXPECT_EQ(port.value("targetPort", Json()), Json("http"));
      }
    }
  }
  ASSERT_TRUE(service.has_value())
      << "AGENTD_API_URL " << job->job.api_url << " is no declared Service's DNS name and port";
  const Json& pod_labels = At(deployment, {"spec", "template", "metadata", "labels"});
  for (const auto& [key, value] : At(*service, {"spec", "selector"}).items()) {
    EXPECT_EQ(pod_labels.value(key, Json()), value) << "the Service selects " << key;
  }
  bool named_http = false;
  for (const auto& port : At(Container(deployment, "agentd"), {"ports"})) {
    named_http =
        named_http || (port.value("name", "") == "http" && port.value("containerPort", 0) == 8080);
  }
  EXPECT_TRUE(named_http) << "the agentd container has no port http: 8080";
}

// --- tests: RBAC ---------------------------------------------------------------------------------

TEST(DeployManifestsTest, RolesGrantNothingBeyondTheAllowList) {
  const auto roles = All("Role");
  ASSERT_FALSE(roles.empty());
  for (const auto& role : roles) {
    for (const auto& violation : RbacViolations(role)) ADD_FAILURE() << violation;
  }
}

TEST(DeployManifestsTest, RolesGrantEverythingTheCodeNeeds) {
  std::set<Permission> granted;
  std::vector<std::string> problems;
  for (const auto& role : All("Role")) {
    // Only what is bound to the control plane's ServiceAccount counts.
    bool bound = false;
    for (const auto& binding : All("RoleBinding")) {
      if (Ns(binding) != Ns(role) || Str(binding, {"roleRef", "name"}) != Name(role)) continue;
      for (const auto& s : At(binding, {"subjects"})) {
        bound = bound || (s.value("kind", "") == "ServiceAccount" &&
                          s.value("name", "") == "agentd" && s.value("namespace", "") == kSystemNs);
      }
    }
    EXPECT_TRUE(bound) << Describe(role) << " is bound to nothing";
    for (const auto& p : Grants(role, &problems)) granted.insert(p);
  }
  for (const Allowed& a : AllowList()) {
    if (!a.needed) continue;
    Permission any = a.permission;
    any.name.clear();
    EXPECT_TRUE(granted.count(a.permission) || granted.count(any))
        << "no Role grants " << a.permission.ToString() << " (" << a.why << ")";
  }
}

TEST(DeployManifestsTest, TheRunFinalizerComesWithUpdateOnRunsAndOnlyThen) {
  // OPERATOR_RUN_FINALIZER=true makes the reconciler add and remove its finalizer on Runs (an
  // update of the Run itself); without it the Role must not grant that update.
  const Json deployment = Deployment();
  ASSERT_TRUE(deployment.is_object());
  auto op = operator_::OperatorConfigFromEnv(Lookup(ResolvedEnv(deployment)));
  ASSERT_TRUE(op.ok()) << op.error().message;
  std::vector<std::string> problems;
  bool update_runs = false;
  for (const auto& role : All("Role")) {
    for (const auto& p : Grants(role, &problems)) {
      update_runs = update_runs || (p.ns == kRunsNs && p.group == "agentd.dev" &&
                                    p.resource == "runs" && p.verb == "update");
    }
  }
  if (op->reconciler.finalizer) {
    EXPECT_TRUE(update_runs) << "OPERATOR_RUN_FINALIZER=true but no Role grants update on runs";
  } else {
    EXPECT_FALSE(update_runs) << "update on runs is granted but the run finalizer is off";
  }
}

TEST(DeployManifestsTest, TheAllowListCheckRefusesBroadRules) {
  // The check above can fail: rules someone might add.
  auto violations = [](const std::string& ns, const Json& rule) {
    return RbacViolations(RoleWith(ns, Json::array({rule})));
  };
  EXPECT_FALSE(violations(kSystemNs, {{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}})
                   .empty());
  EXPECT_FALSE(
      violations(kSystemNs, {{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"get"}}})
          .empty());
  EXPECT_FALSE(
      violations(kRunsNs, {{"apiGroups", {""}}, {"resources", {"pods/log"}}, {"verbs", {"get"}}})
          .empty());
  EXPECT_FALSE(
      violations(kRunsNs,
                 {{"apiGroups", {""}}, {"resources", {"pods/exec"}}, {"verbs", {"create"}}})
          .empty());
  EXPECT_FALSE(
      violations(kRunsNs,
                 {{"apiGroups", {"batch"}}, {"resources", {"jobs"}}, {"verbs", {"get", "patch"}}})
          .empty());
  EXPECT_FALSE(violations(kSystemNs, {{"apiGroups", {"coordination.k8s.io"}},
                                      {"resources", {"leases"}},
                                      {"verbs", {"update"}}})  // any Lease, not just agentd's
                   .empty());
  EXPECT_FALSE(
      violations(kSystemNs,
                 {{"apiGroups", {"agentd.dev"}}, {"resources", {"runs"}}, {"verbs", {"delete"}}})
          .empty());
  // What the Roles do grant is fine.
  EXPECT_TRUE(violations(kRunsNs, {{"apiGroups", {"batch"}},
                                   {"resources", {"jobs"}},
                                   {"verbs", {"get", "list", "watch", "create", "delete"}}})
                  .empty());
  EXPECT_TRUE(violations(kSystemNs, {{"apiGroups", {"coordination.k8s.io"}},
                                     {"resources", {"leases"}},
                                     {"resourceNames", {"agentd-operator"}},
                                     {"verbs", {"get", "update"}}})
                  .empty());
}

TEST(DeployManifestsTest, BindingsGiveTheRolesToTheControlPlaneOnly) {
  const auto bindings = All("RoleBinding");
  ASSERT_FALSE(bindings.empty());
  for (const auto& binding : bindings) {
    EXPECT_EQ(Str(binding, {"roleRef", "kind"}), "Role") << Describe(binding);
    EXPECT_TRUE(Find("Role", Ns(binding), Str(binding, {"roleRef", "name"})).has_value())
        << Describe(binding) << " refers to a Role that is not declared";
    const Json& subjects = At(binding, {"subjects"});
    ASSERT_EQ(subjects.size(), 1u) << Describe(binding);
    EXPECT_EQ(subjects[0].value("kind", ""), "ServiceAccount");
    EXPECT_EQ(subjects[0].value("name", ""), "agentd");
    EXPECT_EQ(subjects[0].value("namespace", ""), kSystemNs);
  }
}

TEST(DeployManifestsTest, TheRolesNameResourcesTheCrdsDefine) {
  Loaded crds = LoadDir(SourceDir() / "deploy" / "crds");
  for (const auto& error : crds.errors) ADD_FAILURE() << error;
  // "runs", "runs/status", "runs/finalizers" (an authorization-only subresource every resource
  // has: the ownerReference permission check asks for it)
  std::set<std::string> defined;
  for (const auto& m : crds.objects) {
    const std::string plural = Str(m.object, {"spec", "names", "plural"});
    defined.insert(plural);
    defined.insert(plural + "/finalizers");
    for (const auto& version : At(m.object, {"spec", "versions"})) {
      if (At(version, {"subresources", "status"}).is_object()) defined.insert(plural + "/status");
    }
  }
  std::vector<std::string> problems;
  for (const auto& role : All("Role")) {
    for (const auto& p : Grants(role, &problems)) {
      if (p.group != "agentd.dev") continue;
      EXPECT_TRUE(defined.count(p.resource))
          << Describe(role) << " names agentd.dev/" << p.resource << ", which no CRD defines";
    }
  }
}

// --- tests: network ------------------------------------------------------------------------------

TEST(DeployManifestsTest, RunnerPodsMayReachTheAgentdApi) {
  auto policy = Find("NetworkPolicy", kRunsNs, "agentd-runners");
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(At(*policy, {"spec", "podSelector"}), Json::object()) << "every pod in agentd-runs";
  auto types = Strings(At(*policy, {"spec", "policyTypes"}));
  EXPECT_NE(std::find(types.begin(), types.end(), "Ingress"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "Egress"), types.end());
  EXPECT_EQ(At(*policy, {"spec", "ingress"}), Json::array());
  const Json deployment = Deployment();
  const Json& pod_labels = At(deployment, {"spec", "template", "metadata", "labels"});
  bool reaches_agentd = false;
  for (const auto& rule : At(*policy, {"spec", "egress"})) {
    bool to_agentd = false;
    for (const auto& peer : At(rule, {"to"})) {
      const bool ns_ok = Str(peer, {"namespaceSelector", "matchLabels",
                                    "kubernetes.io/metadata.name"}) == kSystemNs;
      bool pod_ok = At(peer, {"podSelector", "matchLabels"}).is_object();
      for (const auto& [key, value] : At(peer, {"podSelector", "matchLabels"}).items()) {
        pod_ok = pod_ok && pod_labels.value(key, Json()) == value;
      }
      to_agentd = to_agentd || (ns_ok && pod_ok);
    }
    for (const auto& port : At(rule, {"ports"})) {
      reaches_agentd = reaches_agentd || (to_agentd && port.value("port", Json()) == 8080);
    }
  }
  EXPECT_TRUE(reaches_agentd) << "no egress rule lets runner pods reach the agentd pod on 8080";
}

}  // namespace
}  // namespace agentd::deploy
