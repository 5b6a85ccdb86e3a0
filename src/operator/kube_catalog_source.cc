#include "operator/kube_catalog_source.h"

#include <algorithm>
#include <map>

#include "catalog/references.h"
#include "core/log.h"
#include "kube/resource.h"
#include "operator/run_status.h"
#include "resources/codec.h"

namespace agentd::operator_ {

using core::Json;
using std::chrono::milliseconds;

namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The objects of one kind that decoded, by name (the first of a name wins), and every name seen
// (decoded or not) with the index of its verdict, for "exists but is not ready" messages.
template <typename T>
struct Decoded {
  std::map<std::string, std::pair<T, size_t>> usable;  // name -> (object, verdict index)
  std::map<std::string, size_t> seen;                  // name -> first verdict index
};

template <typename T, typename DecodeFn>
Decoded<T> DecodeKind(const std::vector<Json>& objects, const std::string& kind, DecodeFn decode,
                      std::vector<ObjectVerdict>& verdicts) {
  Decoded<T> out;
  for (const Json& object : objects) {
    if (IsBeingDeleted(object)) continue;
    size_t index = verdicts.size();
    verdicts.push_back({.kind = kind, .object = object});
    ObjectVerdict& v = verdicts.back();
    std::string name = kube::NameOf(object);
    out.seen.emplace(name, index);
    core::Result<T> decoded = decode(object);
    if (!decoded.ok()) {
      v.accepted = false;
      v.ready = ConditionStatus::kFalse;
      v.reason = "InvalidSpec";
      v.message = decoded.error().message;
      continue;
    }
    if (auto first = out.usable.find(name); first != out.usable.end()) {
      v.accepted = false;
      v.ready = ConditionStatus::kFalse;
      v.reason = "NameConflict";
      v.message = kind + " " + Quote(name) + " is also defined in namespace " +
                  Quote(kube::NamespaceOf(verdicts[first->second.second].object)) +
                  "; names must be unique across the namespaces agentd watches";
      continue;
    }
    T value = std::move(decoded).value();
    value.metadata.resource_version.clear();  // status writes must not change the snapshot
    out.usable.emplace(name, std::make_pair(std::move(value), index));
  }
  return out;
}

void Refuse(ObjectVerdict& v, std::string reason, std::string message) {
  v.accepted = false;
  v.ready = ConditionStatus::kFalse;
  v.reason = std::move(reason);
  v.message = std::move(message);
}

void NotReady(ObjectVerdict& v, std::string reason, std::string message) {
  v.ready = ConditionStatus::kFalse;
  v.reason = std::move(reason);
  v.message = std::move(message);
}

// The reference of `field` to `kind` `name` does not resolve: UnknownX when no object of that
// name exists, XNotReady (with its reason) when one exists but is not usable.
template <typename T>
void Unresolved(ObjectVerdict& v, const Decoded<T>& target, const std::vector<ObjectVerdict>& all,
                const std::string& field, const std::string& kind, const std::string& name) {
  auto seen = target.seen.find(name);
  if (seen == target.seen.end()) {
    Refuse(v, "Unknown" + kind,
           field + " refers to " + kind + " " + Quote(name) + " which does not exist");
    return;
  }
  const ObjectVerdict& other = all[seen->second];
  NotReady(v, kind + "NotReady",
           field + " refers to " + kind + " " + Quote(name) + ", which is not ready: " +
               other.reason + (other.message.empty() ? "" : " (" + other.message + ")"));
}

}  // namespace

ClusterCatalog BuildClusterCatalog(const ClusterObjects& objects, const SecretKeysLookup& secrets,
                                   std::string origin, const std::string& secret_namespace) {
  ClusterCatalog out;
  catalog::Snapshot& snap = out.snapshot;
  snap.origin = std::move(origin);
  auto& verdicts = out.verdicts;
  verdicts.reserve(objects.models.size() + objects.instructions.size() + objects.agents.size() +
                   objects.budgets.size() + objects.tier_policies.size());

  auto models = DecodeKind<resources::Model>(
      objects.models, "Model", [](const Json& o) { return resources::ModelFromJson(o); }, verdicts);
  auto instructions = DecodeKind<resources::Instruction>(
      objects.instructions, "Instruction",
      [](const Json& o) { return resources::InstructionFromJson(o); }, verdicts);
  auto agents = DecodeKind<resources::Agent>(
      objects.agents, "Agent", [](const Json& o) { return resources::AgentFromJson(o); }, verdicts);
  auto budgets = DecodeKind<resources::Budget>(
      objects.budgets, "Budget", [](const Json& o) { return resources::BudgetFromJson(o); },
      verdicts);
  auto policies = DecodeKind<resources::TierPolicy>(
      objects.tier_policies, "TierPolicy",
      [](const Json& o) { return resources::TierPolicyFromJson(o); }, verdicts);

  auto locate = [&](const std::string& kind, const ObjectVerdict& v) {
    snap.locations[kind + "/" + kube::NameOf(v.object)] =
        kube::NamespaceOf(v.object) + "/" + kube::NameOf(v.object);
  };

  // Models: their Secret must hold the key.
  std::map<std::pair<std::string, std::string>, core::Result<std::set<std::string>>> secret_keys;
  for (auto& [name, entry] : models.usable) {
    auto& [model, index] = entry;
    ObjectVerdict& v = verdicts[index];
    if (const auto& ref = model.spec.api_key.secret_ref) {
      std::string ns = secret_namespace.empty() ? kube::NamespaceOf(v.object) : secret_namespace;
      auto key = std::make_pair(ns, ref->name);
      auto it = secret_keys.find(key);
      if (it == secret_keys.end()) it = secret_keys.emplace(key, secrets(ns, ref->name)).first;
      const auto& keys = it->second;
      if (!keys.ok()) {
        if (keys.error().code == core::ErrorCode::kNotFound) {
          NotReady(v, "SecretKeyMissing",
                   "spec.apiKey.secretRef: Secret " + Quote(ref->name) +
                       " does not exist in namespace " + Quote(ns));
          continue;
        }
        // Unknown, not missing: keep the model rather than take every agent down with it.
        v.ready = ConditionStatus::kUnknown;
        v.reason = "SecretCheckFailed";
        v.message = "spec.apiKey.secretRef: cannot read Secret " + Quote(ref->name) +
                    " in namespace " + Quote(ns) + ": " + keys.error().message;
      } else if (keys->count(ref->key) == 0) {
        NotReady(v, "SecretKeyMissing",
                 "spec.apiKey.secretRef: Secret " + Quote(ref->name) + " in namespace " +
                     Quote(ns) + " has no key " + Quote(ref->key));
        continue;
      }
    }
    snap.models.emplace(name, model);
    locate("Model", v);
  }
  for (auto& [name, entry] : instructions.usable) {
    snap.instructions.emplace(name, entry.first);
    locate("Instruction", verdicts[entry.second]);
  }
  for (auto& [name, entry] : agents.usable) {
    auto& [agent, index] = entry;
    ObjectVerdict& v = verdicts[index];
    if (snap.FindModel(agent.spec.model) == nullptr) {
      Unresolved(v, models, verdicts, "spec.model", "Model", agent.spec.model);
      continue;
    }
    bool resolved = true;
    for (const std::string& instruction : agent.spec.instructions) {
      if (snap.FindInstruction(instruction) == nullptr) {
        Unresolved(v, instructions, verdicts, "spec.instructions", "Instruction", instruction);
        resolved = false;
        break;
      }
    }
    if (!resolved) continue;
    snap.agents.emplace(name, agent);
    locate("Agent", v);
  }
  for (auto& [name, entry] : budgets.usable) {
    auto& [budget, index] = entry;
    ObjectVerdict& v = verdicts[index];
    const std::string& agent = budget.spec.scope.agent;
    if (!agent.empty() && snap.FindAgent(agent) == nullptr) {
      Unresolved(v, agents, verdicts, "spec.scope.agent", "Agent", agent);
      continue;
    }
    snap.budgets.emplace(name, budget);
    locate("Budget", v);
  }
  std::map<int, std::string> tiers;  // tier -> policy name; the first by name keeps it
  for (auto& [name, entry] : policies.usable) {
    auto& [policy, index] = entry;
    ObjectVerdict& v = verdicts[index];
    auto [it, inserted] = tiers.emplace(policy.spec.tier, name);
    if (!inserted) {
      Refuse(v, "DuplicateTier",
             "spec.tier " + std::to_string(policy.spec.tier) + " is already the tier of " +
                 "TierPolicy " + Quote(it->second));
      continue;
    }
    snap.tier_policies.emplace(name, policy);
    locate("TierPolicy", v);
  }

  if (auto valid = catalog::ValidateReferences(snap); !valid.ok()) {
    // The checks above mirror ValidateReferences; reaching this is a bug in them.
    core::LogError("kubernetes catalog: snapshot fails the reference checks",
                   {{"error", valid.error().message}});
  }
  return out;
}

Json CatalogStatusFor(const Json& current_status, const ObjectVerdict& verdict,
                      core::TimePoint now) {
  Json status = current_status.is_object() ? current_status : Json::object();
  Json conditions = status.contains("conditions") && status["conditions"].is_array()
                        ? status["conditions"]
                        : Json::array();
  const int64_t generation = kube::GenerationOf(verdict.object);
  SetCondition(conditions,
               verdict.accepted ? Condition{.type = "Accepted",
                                            .status = ConditionStatus::kTrue,
                                            .reason = "Valid",
                                            .observed_generation = generation}
                                : Condition{.type = "Accepted",
                                            .status = ConditionStatus::kFalse,
                                            .reason = verdict.reason,
                                            .message = verdict.message,
                                            .observed_generation = generation},
               now);
  SetCondition(conditions,
               verdict.ready == ConditionStatus::kTrue
                   ? Condition{.type = "Ready",
                               .status = ConditionStatus::kTrue,
                               .reason = "InCatalog",
                               .observed_generation = generation}
                   : Condition{.type = "Ready",
                               .status = verdict.ready,
                               .reason = verdict.reason,
                               .message = verdict.message,
                               .observed_generation = generation},
               now);
  status["conditions"] = std::move(conditions);
  status["observedGeneration"] = generation;
  return status;
}

// --- KubernetesCatalogSource -------------------------------------------------------------------

namespace {

struct KindInfo {
  const kube::GroupVersionResource* gvr;
  const char* kind;
};
const KindInfo kKinds[] = {{&kinds::kModels, "Model"},
                           {&kinds::kInstructions, "Instruction"},
                           {&kinds::kAgents, "Agent"},
                           {&kinds::kBudgets, "Budget"},
                           {&kinds::kTierPolicies, "TierPolicy"}};

// What a rebuild depends on: everything but the status and the bookkeeping of writes.
Json RelevantPart(const Json& object) {
  Json part = object;
  part.erase("status");
  if (part.contains("metadata") && part["metadata"].is_object()) {
    part["metadata"].erase("resourceVersion");
    part["metadata"].erase("managedFields");
  }
  return part;
}

}  // namespace

KubernetesCatalogSource::KubernetesCatalogSource(kube::KubeClient& client,
                                                 catalog::Catalog& catalog,
                                                 KubernetesCatalogOptions options)
    : client_(client),
      catalog_(catalog),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : core::SystemClock::Instance()),
      write_status_(options_.write_status) {}

KubernetesCatalogSource::~KubernetesCatalogSource() { Stop(); }

core::Status KubernetesCatalogSource::Start() {
  {
    std::lock_guard lock(mu_);
    AGENTD_CHECK(!started_) << "KubernetesCatalogSource::Start called twice";
    started_ = true;
  }
  kube::ReflectorHandler handler{
      .on_add = [this](const Json&) { MarkDirty(); },
      .on_update =
          [this](const Json& old_object, const Json& new_object) {
            if (RelevantPart(old_object) != RelevantPart(new_object)) MarkDirty();
          },
      .on_delete = [this](const Json&) { MarkDirty(); },
  };
  for (const KindInfo& info : kKinds) {
    kube::ReflectorOptions reflector_options{.gvr = *info.gvr,
                                             .ns = options_.ns,
                                             .backoff = options_.reflector_backoff,
                                             .sleeper = options_.sleeper};
    reflectors_.push_back(std::make_unique<kube::Reflector>(client_, reflector_options, handler));
  }
  for (auto& reflector : reflectors_) reflector->Start();
  auto deadline = std::chrono::steady_clock::now() + options_.sync_timeout;
  std::vector<std::string> unsynced;
  for (size_t i = 0; i < reflectors_.size(); ++i) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!reflectors_[i]->WaitForSync(std::max(left, milliseconds::zero()))) {
      unsynced.push_back(kKinds[i].gvr->ToString());
    }
  }
  if (!unsynced.empty()) {
    std::string names;
    for (const auto& n : unsynced) names += (names.empty() ? "" : ", ") + n;
    for (auto& reflector : reflectors_) reflector->Stop();
    return core::Unavailable(
        "kubernetes catalog: could not list " + names + " in " +
        (options_.ns.empty() ? std::string("any namespace") : "namespace " + Quote(options_.ns)) +
        " within " + std::to_string(options_.sync_timeout.count()) +
        " ms: are the agentd CRDs installed, and may the service account "
        "list and watch them?");
  }
  {
    std::lock_guard lock(mu_);
    dirty_ = false;  // the first build sees everything listed so far
  }
  Rebuild(/*initial=*/true);
  thread_ = std::thread([this] { Run(); });
  return core::Ok();
}

void KubernetesCatalogSource::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  for (auto& reflector : reflectors_) reflector->Stop();
}

void KubernetesCatalogSource::SetWriteStatus(bool enabled) {
  bool was = write_status_.exchange(enabled);
  if (enabled && !was) MarkDirty();
}

void KubernetesCatalogSource::MarkDirty() {
  std::lock_guard lock(mu_);
  dirty_ = true;
  last_change_ = std::chrono::steady_clock::now();
  cv_.notify_all();
}

void KubernetesCatalogSource::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!dirty_) {
      if (recheck_at_) {
        if (cv_.wait_until(lock, *recheck_at_) == std::cv_status::timeout &&
            std::chrono::steady_clock::now() >= *recheck_at_) {
          dirty_ = true;  // a Model waits for its Secret: look again
          recheck_at_.reset();
        }
      } else {
        cv_.wait(lock);
      }
      continue;
    }
    // Debounce: wait for a quiet period, but not forever under a steady stream of changes.
    const auto burst_start = std::chrono::steady_clock::now();
    while (!stopping_) {
      auto quiet_until =
          std::min(last_change_ + options_.debounce, burst_start + 10 * options_.debounce);
      if (std::chrono::steady_clock::now() >= quiet_until) break;
      cv_.wait_until(lock, quiet_until);
    }
    if (stopping_) break;
    dirty_ = false;
    lock.unlock();
    Rebuild(/*initial=*/false);
    lock.lock();
  }
}

void KubernetesCatalogSource::Rebuild(bool initial) {
  ClusterObjects objects;
  std::vector<Json>* lists[] = {&objects.models, &objects.instructions, &objects.agents,
                                &objects.budgets, &objects.tier_policies};
  for (size_t i = 0; i < reflectors_.size(); ++i) *lists[i] = reflectors_[i]->cache().List();

  int64_t secret_reads = 0;
  SecretKeysLookup secrets = [&](const std::string& ns,
                                 const std::string& name) -> core::Result<std::set<std::string>> {
    ++secret_reads;
    auto secret = client_.Get({kube::resources::kSecrets, ns, name});
    if (!secret.ok()) return std::move(secret).error();
    std::set<std::string> keys;
    for (const char* field : {"data", "stringData"}) {
      if (secret->contains(field) && (*secret)[field].is_object()) {
        for (const auto& [key, value] : (*secret)[field].items()) keys.insert(key);
      }
    }
    return keys;  // the values are never looked at
  };
  std::string origin = "kubernetes:" + (options_.ns.empty() ? std::string("*") : options_.ns);
  ClusterCatalog built =
      BuildClusterCatalog(objects, secrets, std::move(origin), options_.secret_namespace);

  // Log each problem once, when it appears.
  std::vector<ObjectVerdict> problems;
  bool waiting_for_secret = false;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> current;
    for (const ObjectVerdict& v : built.verdicts) {
      if (v.ok()) continue;
      problems.push_back(v);
      if (v.reason == "SecretKeyMissing" || v.reason == "SecretCheckFailed") {
        waiting_for_secret = true;
      }
      std::string id = v.kind + " " + kube::KeyOf(v.object) + " " + v.reason + " " + v.message;
      if (logged_problems_.count(id) == 0) {
        core::LogWarn("kubernetes catalog: object not used", {{"kind", v.kind},
                                                              {"object", kube::KeyOf(v.object)},
                                                              {"reason", v.reason},
                                                              {"message", v.message}});
      }
      current.insert(std::move(id));
    }
    logged_problems_ = std::move(current);
    problems_ = problems;
    ++stats_.rebuilds;
    stats_.secret_reads += secret_reads;
    if (waiting_for_secret) {
      recheck_at_ = std::chrono::steady_clock::now() + options_.secret_recheck;
    } else {
      recheck_at_.reset();
    }
  }

  auto current = catalog_.Current();
  if (initial || !current->SameObjectsAs(built.snapshot)) {
    built.snapshot.generation = current->generation + 1;
    auto shared = std::make_shared<const catalog::Snapshot>(std::move(built.snapshot));
    catalog_.Replace(shared);
    {
      std::lock_guard lock(mu_);
      ++stats_.swaps;
    }
    core::LogInfo("catalog loaded", {{"origin", shared->origin},
                                     {"generation", shared->generation},
                                     {"models", shared->models.size()},
                                     {"instructions", shared->instructions.size()},
                                     {"agents", shared->agents.size()},
                                     {"budgets", shared->budgets.size()},
                                     {"tierPolicies", shared->tier_policies.size()},
                                     {"problems", problems.size()}});
    if (options_.on_change) options_.on_change(*shared);
  }
  if (write_status_.load()) WriteStatuses(built.verdicts);
}

void KubernetesCatalogSource::WriteStatuses(const std::vector<ObjectVerdict>& verdicts) {
  const core::TimePoint now = clock_.Now();
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const ObjectVerdict& v = verdicts[i];
    const std::string key = v.kind + " " + kube::KeyOf(v.object);
    const Json* object = &v.object;
    {
      std::lock_guard lock(mu_);
      if (auto own = own_writes_.find(key); own != own_writes_.end()) {
        if (own->second.replaced_version == kube::ResourceVersionOf(v.object)) {
          object = &own->second.object;  // the cache has not caught up with our write yet
        } else {
          own_writes_.erase(own);
        }
      }
    }
    const Json empty = Json::object();
    const Json& current = object->contains("status") ? (*object)["status"] : empty;
    Json desired = CatalogStatusFor(current, v, now);
    if (desired == current) continue;
    const kube::GroupVersionResource* gvr = nullptr;
    for (const KindInfo& info : kKinds) {
      if (v.kind == info.kind) gvr = info.gvr;
    }
    if (gvr == nullptr) continue;
    Json updated = *object;
    updated["status"] = std::move(desired);
    auto written =
        client_.UpdateStatus({*gvr, kube::NamespaceOf(v.object), kube::NameOf(v.object)}, updated);
    std::lock_guard lock(mu_);
    ++stats_.status_writes;
    if (written.ok()) {
      own_writes_[key] = {kube::ResourceVersionOf(v.object), std::move(written).value()};
    } else {
      ++stats_.status_write_errors;
      // Try again later even if no event comes (a status-only change does not rebuild).
      auto retry = std::chrono::steady_clock::now() + options_.status_retry;
      if (!recheck_at_ || retry < *recheck_at_) recheck_at_ = retry;
      // A conflict means the object changed: its watch event brings another rebuild.
      if (written.error().code != core::ErrorCode::kAborted &&
          written.error().code != core::ErrorCode::kNotFound) {
        core::LogWarn("kubernetes catalog: cannot write status",
                      {{"kind", v.kind},
                       {"object", kube::KeyOf(v.object)},
                       {"error", written.error().message}});
      }
    }
  }
}

std::vector<ObjectVerdict> KubernetesCatalogSource::Problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

KubernetesCatalogSource::Stats KubernetesCatalogSource::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace agentd::operator_
