// The operator as the composition root builds it: configuration from the environment, the
// Kubernetes catalog source, and the Run reconciler under leader election.
//
//   auto config = operator_::OperatorConfigFromEnv();                  // K8S_NAMESPACE, ...
//   auto source = operator_::MakeKubernetesCatalogSource(kube, catalog, *config, on_change);
//   AGENTD_RETURN_IF_ERROR(source->Start());                            // --catalog kubernetes
//   auto op = operator_::Operator::Create({kube, scheduler, store, bus, clock}, *config,
//                                         {.on_started_leading = ..., .on_stopped_leading = ...},
//                                         source.get());
//   (*op)->Start();
//   ...
//   (*op)->Stop();  source->Stop();
//
// While this replica leads, the reconciler runs and the catalog source writes statuses; the
// hooks start and stop whatever else only the leader may do. Without leader election
// (OPERATOR_LEADER_ELECTION=false, one replica) Start leads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "catalog/snapshot.h"
#include "core/result.h"
#include "kube/client.h"
#include "operator/kube_catalog_source.h"
#include "operator/leadership.h"
#include "operator/run_reconciler.h"

namespace agentd::operator_ {

struct OperatorConfig {
  std::string ns;  // K8S_NAMESPACE: catalog objects and the Lease live here
  // Where Run objects are watched: EXECUTOR_NAMESPACE when set, else K8S_NAMESPACE. Runs live
  // where their Jobs run, so a Run can own its Job (ownerReferences do not cross namespaces).
  std::string runs_ns;
  std::string identity;  // POD_NAME, else the host name
  // EXECUTOR_NAMESPACE: where runs execute, so where the catalog source checks Models'
  // spec.apiKey.secretRef Secrets (the Job's pod mounts them there). Empty = each Model's own
  // namespace (runs execute in K8S_NAMESPACE).
  std::string secret_namespace;
  bool leader_election = true;
  RunReconcilerOptions reconciler;  // ns is set from `ns`
  OperatorLeaderOptions leader;     // lease_namespace and identity are set from the above
};

// Reads:
//   K8S_NAMESPACE              required
//   EXECUTOR_NAMESPACE         where runs execute, Run objects are watched and Models' Secrets
//                              are read; default: none (Runs in K8S_NAMESPACE, a Model's
//                              Secret in the Model's namespace)
//   OPERATOR_RUN_FINALIZER     true|false, default false: hold a finalizer on every Run
//                              (RunReconcilerOptions::finalizer)
//   POD_NAME                   default: the host name
//   OPERATOR_LEADER_ELECTION   true|false, default true
//   OPERATOR_WORKERS           1-64, default 2
//   OPERATOR_STATUS_COALESCE   duration ("1s", "500ms"), default 1s; 0 = write every change
//   OPERATOR_LEASE_DURATION, OPERATOR_RENEW_DEADLINE, OPERATOR_RETRY_PERIOD   15s, 10s, 2s
// kInvalidArgument naming the variable.
core::Result<OperatorConfig> OperatorConfigFromEnv();
// The same with a lookup function (tests); get(name) returns nullopt for unset or empty.
core::Result<OperatorConfig> OperatorConfigFromEnv(
    const std::function<std::optional<std::string>(const char* name)>& get);

// The catalog source of `--catalog kubernetes` in config.ns, checking Models' Secrets in
// config.secret_namespace. With leader election it starts without writing statuses (Operator
// turns that on while leading).
std::unique_ptr<KubernetesCatalogSource> MakeKubernetesCatalogSource(
    kube::KubeClient& client, catalog::Catalog& catalog, const OperatorConfig& config,
    std::function<void(const catalog::Snapshot&)> on_change = {});

class Operator {
 public:
  // `catalog_source` (may be null) writes statuses only while this replica leads; when the
  // catalog changes, Runs waiting for an agent are looked at again only if the caller also calls
  // reconciler().ResyncPending() from the source's on_change. kInvalidArgument for a bad config.
  static core::Result<std::unique_ptr<Operator>> Create(
      RunReconcilerDeps deps, OperatorConfig config, OperatorLeaderHooks hooks = {},
      KubernetesCatalogSource* catalog_source = nullptr);
  ~Operator();
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  void Start();
  // Stops leading (releasing the Lease) and the reconciler. Idempotent.
  void Stop();
  bool IsLeader() const;
  RunReconciler& reconciler() { return *reconciler_; }

 private:
  Operator() = default;
  void StartedLeading();
  void StoppedLeading();

  OperatorConfig config_;
  OperatorLeaderHooks hooks_;
  KubernetesCatalogSource* catalog_source_ = nullptr;
  std::unique_ptr<RunReconciler> reconciler_;
  std::unique_ptr<OperatorLeader> leader_;  // null without leader election
  std::atomic<bool> leading_{false};
};

}  // namespace agentd::operator_
