#include "operator/operator.h"

#include <unistd.h>

#include "core/env.h"
#include "core/log.h"

namespace agentd::operator_ {

namespace {

using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

core::Result<std::chrono::milliseconds> DurationVar(const EnvLookup& get, const char* name,
                                                    std::chrono::milliseconds fallback) {
  auto text = get(name);
  if (!text) return fallback;
  return core::ParseDuration(*text, name);
}

core::Result<bool> BoolVar(const EnvLookup& get, const char* name, bool fallback) {
  auto text = get(name);
  if (!text) return fallback;
  if (*text == "true" || *text == "1") return true;
  if (*text == "false" || *text == "0") return false;
  return core::InvalidArgument(std::string(name) + " must be true or false, got \"" + *text + "\"");
}

std::string HostName() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') return "agentd";
  return buffer;
}

}  // namespace

core::Result<OperatorConfig> OperatorConfigFromEnv() {
  return OperatorConfigFromEnv([](const char* name) { return core::GetEnv(name); });
}

core::Result<OperatorConfig> OperatorConfigFromEnv(const EnvLookup& get) {
  OperatorConfig config;
  auto ns = get("K8S_NAMESPACE");
  if (!ns) return core::InvalidArgument("K8S_NAMESPACE must be set for the operator");
  config.ns = *ns;
  // The executor runs Jobs there (exec/kubernetes JobExecutorOptionsFromEnv reads the same
  // variable) and their pods read the Models' Secrets there.
  config.secret_namespace = get("EXECUTOR_NAMESPACE").value_or("");
  config.runs_ns = config.secret_namespace.empty() ? config.ns : config.secret_namespace;
  config.identity = get("POD_NAME").value_or(HostName());
  AGENTD_ASSIGN_OR_RETURN(config.leader_election,
                          BoolVar(get, "OPERATOR_LEADER_ELECTION", config.leader_election));
  AGENTD_ASSIGN_OR_RETURN(config.reconciler.finalizer,
                          BoolVar(get, "OPERATOR_RUN_FINALIZER", config.reconciler.finalizer));
  if (auto workers = get("OPERATOR_WORKERS")) {
    AGENTD_ASSIGN_OR_RETURN(int64_t n, core::ParseInt(*workers, 1, 64, "OPERATOR_WORKERS"));
    config.reconciler.workers = static_cast<int>(n);
  }
  AGENTD_ASSIGN_OR_RETURN(config.reconciler.status_coalesce,
                          DurationVar(get, "OPERATOR_STATUS_COALESCE", std::chrono::seconds(1)));
  AGENTD_ASSIGN_OR_RETURN(config.leader.lease_duration, DurationVar(get, "OPERATOR_LEASE_DURATION",
                                                                    config.leader.lease_duration));
  AGENTD_ASSIGN_OR_RETURN(config.leader.renew_deadline, DurationVar(get, "OPERATOR_RENEW_DEADLINE",
                                                                    config.leader.renew_deadline));
  AGENTD_ASSIGN_OR_RETURN(config.leader.retry_period,
                          DurationVar(get, "OPERATOR_RETRY_PERIOD", config.leader.retry_period));
  return config;
}

std::unique_ptr<KubernetesCatalogSource> MakeKubernetesCatalogSource(
    kube::KubeClient& client, catalog::Catalog& catalog, const OperatorConfig& config,
    std::function<void(const catalog::Snapshot&)> on_change) {
  KubernetesCatalogOptions options;
  options.ns = config.ns;
  options.secret_namespace = config.secret_namespace;
  options.write_status = !config.leader_election;
  options.on_change = std::move(on_change);
  return std::make_unique<KubernetesCatalogSource>(client, catalog, std::move(options));
}

core::Result<std::unique_ptr<Operator>> Operator::Create(RunReconcilerDeps deps,
                                                         OperatorConfig config,
                                                         OperatorLeaderHooks hooks,
                                                         KubernetesCatalogSource* catalog_source) {
  if (config.ns.empty()) return core::InvalidArgument("the operator needs a namespace");
  std::unique_ptr<Operator> op(new Operator());
  if (config.runs_ns.empty()) config.runs_ns = config.ns;
  config.reconciler.ns = config.runs_ns;
  config.leader.lease_namespace = config.ns;
  config.leader.identity = config.identity;
  op->config_ = config;
  op->hooks_ = std::move(hooks);
  op->catalog_source_ = catalog_source;
  op->reconciler_ = std::make_unique<RunReconciler>(deps, config.reconciler);
  if (config.leader_election) {
    Operator* self = op.get();
    // The reconciler is started and stopped here (not by OperatorLeader) so that the catalog
    // source and the hooks follow the same order.
    AGENTD_ASSIGN_OR_RETURN(
        op->leader_,
        OperatorLeader::Create(deps.client, deps.clock, config.leader, /*reconciler=*/nullptr,
                               {.on_started_leading = [self] { self->StartedLeading(); },
                                .on_stopped_leading = [self] { self->StoppedLeading(); },
                                .on_new_leader = op->hooks_.on_new_leader}));
  }
  return op;
}

Operator::~Operator() { Stop(); }

void Operator::StartedLeading() {
  leading_.store(true);
  reconciler_->Start();
  if (catalog_source_ != nullptr) catalog_source_->SetWriteStatus(true);
  if (hooks_.on_started_leading) hooks_.on_started_leading();
}

void Operator::StoppedLeading() {
  if (hooks_.on_stopped_leading) hooks_.on_stopped_leading();
  if (catalog_source_ != nullptr) catalog_source_->SetWriteStatus(false);
  reconciler_->Stop();
  leading_.store(false);
}

void Operator::Start() {
  core::LogInfo("operator: starting", {{"namespace", config_.ns},
                                       {"runsNamespace", config_.runs_ns},
                                       {"identity", config_.identity},
                                       {"leaderElection", config_.leader_election}});
  if (leader_) {
    leader_->Start();
  } else {
    StartedLeading();
  }
}

void Operator::Stop() {
  if (leader_) {
    leader_->Stop();
  } else if (leading_.load()) {
    StoppedLeading();
  }
}

bool Operator::IsLeader() const { return leading_.load(); }

}  // namespace agentd::operator_
