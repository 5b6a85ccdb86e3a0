// The catalog from the cluster: Models, Instructions, Agents, Budgets and TierPolicies as
// custom resources (agentd.dev/v1alpha1), followed with one Reflector each and swapped into the
// same catalog::Catalog the directory source fills.
//
// Unlike a directory, a cluster is never rejected whole: each object is judged on its own and
// the snapshot holds the ones agentd can use (BuildClusterCatalog). What is wrong with the others
// is written to their status (Accepted and Ready conditions, observedGeneration; only when it
// changes) and logged:
//   InvalidSpec            the object does not decode (resources/codec.h message) Accepted=False
//   NameConflict           the same name in two watched namespaces (the first wins) Accepted=False
//   UnknownModel           Agent spec.model names no Model Accepted=False UnknownInstruction Agent
//   spec.instructions names no Instruction                Accepted=False UnknownAgent Budget
//   spec.scope.agent names no Agent                      Accepted=False DuplicateTier          a
//   second TierPolicy for a tier (the first by name wins)      Accepted=False SecretKeyMissing
//   Model spec.apiKey.secretRef: no such Secret, or no such key Ready=False ModelNotReady Agent
//   whose Model exists but is not Ready                   Ready=False InstructionNotReady,
//   AgentNotReady   the same for the other references             Ready=False SecretCheckFailed the
//   Secret could not be read (RBAC, API error): the Model is
//                          kept in the catalog                                        Ready=Unknown
// Everything the snapshot holds is Accepted=True and Ready=True (reason InCatalog).
//
// Secrets are read by name (GET, one per referenced Secret per rebuild; only their key names are
// looked at), not watched: while a Model waits for its Secret the source looks again every
// `secret_recheck`.
//
// Rebuilds are debounced: a burst of changes gives one rebuild, and the snapshot is swapped in
// (generation + 1) only when the objects changed. Changes to an object's status alone (our own
// status writes among them) do not cause a rebuild.
//
// Lifecycle: construct, Start() (lists everything, swaps the first snapshot in, then follows
// changes on a thread), Stop(). Thread-safe. The client and the catalog must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catalog/snapshot.h"
#include "catalog/source.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"
#include "kube/client.h"
#include "kube/reflector.h"
#include "operator/conditions.h"

namespace agentd::operator_ {

// --- the pure part ---------------------------------------------------------------------------

struct ClusterObjects {
  std::vector<core::Json> models;
  std::vector<core::Json> instructions;
  std::vector<core::Json> agents;
  std::vector<core::Json> budgets;
  std::vector<core::Json> tier_policies;
};

// What agentd thinks of one object.
struct ObjectVerdict {
  std::string kind;   // "Agent"
  core::Json object;  // as read from the cluster
  bool accepted = true;
  ConditionStatus ready = ConditionStatus::kTrue;
  std::string reason;  // when not accepted or not ready
  std::string message;
  bool ok() const { return accepted && ready == ConditionStatus::kTrue; }
};

// The key names of Secret `name` in namespace `ns`; kNotFound when there is no such Secret.
using SecretKeysLookup = std::function<core::Result<std::set<std::string>>(
    const std::string& ns, const std::string& name)>;

struct ClusterCatalog {
  catalog::Snapshot snapshot;           // generation 0; passes catalog::ValidateReferences
  std::vector<ObjectVerdict> verdicts;  // one per object: models, instructions, agents, ...
};

// Judges every object (see the table above) and builds the snapshot of the usable ones.
// Objects being deleted are left out without a verdict. `secret_namespace` empty = each Model's
// own namespace. Resource versions are cleared in the snapshot, so status writes do not make it
// differ.
ClusterCatalog BuildClusterCatalog(const ClusterObjects& objects, const SecretKeysLookup& secrets,
                                   std::string origin, const std::string& secret_namespace = "");

// The status the object of `verdict` should have, from its current status: Accepted and Ready
// conditions and observedGeneration.
core::Json CatalogStatusFor(const core::Json& current_status, const ObjectVerdict& verdict,
                            core::TimePoint now);

// --- the source ------------------------------------------------------------------------------

struct KubernetesCatalogOptions {
  std::string ns;  // K8S_NAMESPACE; empty = every namespace (names must then be unique)
  // Quiet time after the last change before rebuilding; a steady stream of changes delays the
  // rebuild by at most 10 times this.
  std::chrono::milliseconds debounce{200};
  // How long Start waits for the first list of every kind.
  std::chrono::milliseconds sync_timeout{60'000};
  // Where Models' Secrets are looked up; empty = the Model's namespace. Set it to the namespace
  // runs execute in when that differs (the Job reads the Secret there).
  std::string secret_namespace;
  std::chrono::milliseconds secret_recheck{60'000};
  // After a failed status write, everything is checked again this much later.
  std::chrono::milliseconds status_retry{5'000};
  // Write conditions to the objects' status. In a replicated deployment only the leader should:
  // start with false and call SetWriteStatus from the leadership hooks.
  bool write_status = true;
  // Called with every snapshot swapped in (Start and each change), on the source's thread.
  std::function<void(const catalog::Snapshot&)> on_change;
  kube::BackoffOptions reflector_backoff;
  kube::Sleeper* sleeper = nullptr;    // the reflectors' waits; null = RealSleeper
  const core::Clock* clock = nullptr;  // condition times; null = SystemClock
};

class KubernetesCatalogSource final : public catalog::CatalogSource {
 public:
  KubernetesCatalogSource(kube::KubeClient& client, catalog::Catalog& catalog,
                          KubernetesCatalogOptions options = {});
  ~KubernetesCatalogSource() override;
  KubernetesCatalogSource(const KubernetesCatalogSource&) = delete;
  KubernetesCatalogSource& operator=(const KubernetesCatalogSource&) = delete;

  // Lists every kind (kUnavailable naming the kinds that did not list within sync_timeout: are
  // the CRDs installed, may the service account list and watch them?), swaps the first snapshot
  // in, writes statuses, then follows changes.
  core::Status Start() override;
  void Stop() override;

  // Turns status writing on (then every status is checked at once) or off.
  void SetWriteStatus(bool enabled);

  // The verdicts of the last rebuild that are not ok().
  std::vector<ObjectVerdict> Problems() const;

  struct Stats {
    int64_t rebuilds = 0;
    int64_t swaps = 0;
    int64_t status_writes = 0;
    int64_t status_write_errors = 0;
    int64_t secret_reads = 0;
  };
  Stats stats() const;

 private:
  void Run();
  void MarkDirty();
  void Rebuild(bool initial);
  void WriteStatuses(const std::vector<ObjectVerdict>& verdicts);

  kube::KubeClient& client_;
  catalog::Catalog& catalog_;
  const KubernetesCatalogOptions options_;
  const core::Clock& clock_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;  // models, instructions, agents, ...
  std::thread thread_;
  std::atomic<bool> write_status_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_change_{};
  std::optional<std::chrono::steady_clock::time_point> recheck_at_;
  std::vector<ObjectVerdict> problems_;
  std::set<std::string> logged_problems_;  // "Kind ns/name reason message" already logged
  // Our last status write per "Kind ns/name": the resourceVersion it replaced and the object the
  // API server returned. While the cache still shows the replaced version, the returned object
  // is the truth (so a rebuild does not write the same status again, or 409 on a stale one).
  struct OwnWrite {
    std::string replaced_version;
    core::Json object;
  };
  std::map<std::string, OwnWrite> own_writes_;
  Stats stats_;
};

}  // namespace agentd::operator_
